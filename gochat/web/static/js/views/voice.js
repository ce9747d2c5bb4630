// Recording a voice message in the browser (MediaRecorder): 🎤 starts, "Send voice message" stops
// and sends it (chat.sendVoice: uploaded as kind=voice, the server adds its duration and waveform),
// "Cancel" or Escape throws it away. Where the browser cannot record, the button is not there.
import { $ } from "../dom.js";
import { seconds } from "../format.js";

const MAX_SECONDS = 300;
// Opus in WebM (Chromium, Firefox) or Ogg, else whatever the browser records by default.
const TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4"];

export function mountRecorder({ chat, notify, composer }) {
  const button = $("#record");
  const bar = $("#recorder");
  const time = $("#recorder-time");
  const supported = Boolean(navigator.mediaDevices?.getUserMedia && window.MediaRecorder);
  button.hidden = !supported;
  let current = null; // {recorder, stream, chunks, started, timer, send}

  async function start() {
    if (current) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      notify("The microphone is not available: allow it for this site to record voice messages.");
      return;
    }
    const mimeType = TYPES.find((t) => MediaRecorder.isTypeSupported(t));
    const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : {});
    const rec = { recorder, stream, chunks: [], started: Date.now(), timer: null, send: false };
    current = rec;
    recorder.addEventListener("dataavailable", (e) => { if (e.data.size) rec.chunks.push(e.data); });
    recorder.addEventListener("stop", () => {
      for (const track of stream.getTracks()) track.stop();
      if (rec.send && rec.chunks.length) chat.sendVoice(new Blob(rec.chunks, { type: recorder.mimeType || mimeType || "audio/webm" }));
    });
    recorder.start(250);
    bar.hidden = false;
    composer.hidden = true;
    time.textContent = "0:00";
    rec.timer = setInterval(() => {
      const elapsed = (Date.now() - rec.started) / 1000;
      time.textContent = seconds(Math.floor(elapsed)); // a clock: whole seconds gone by
      if (elapsed >= MAX_SECONDS) stop(true);
    }, 250);
    $("#recorder-send").focus();
  }

  function stop(send) {
    const rec = current;
    if (!rec) return;
    current = null;
    clearInterval(rec.timer);
    rec.send = send;
    if (rec.recorder.state !== "inactive") rec.recorder.stop();
    else for (const track of rec.stream.getTracks()) track.stop();
    bar.hidden = true;
    composer.hidden = false;
    $("#composer-input").focus();
  }

  button.addEventListener("click", start);
  $("#recorder-send").addEventListener("click", () => stop(true));
  $("#recorder-cancel").addEventListener("click", () => stop(false));
  bar.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); stop(false); } });

  return { cancel: () => stop(false), get recording() { return Boolean(current); } };
}
