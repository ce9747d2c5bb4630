// Files a message carries (docs/api.md, Files): images as thumbnails that open a preview, voice
// messages and audio as a player drawn with the server's waveform, anything else as a download.
//
// Downloads need the Authorization header, which <img src> and <audio src> cannot send: the bytes
// are fetched (api.blob) and shown through blob: URLs (the CSP allows blob: for images and media),
// each file once per page. Players live outside the DOM, so a voice message keeps playing while the
// timeline redraws around it.
import { h } from "../dom.js";
import { bytes, seconds } from "../format.js";

const SVG = "http://www.w3.org/2000/svg";
const BAR_GAP = 4;
const HEIGHT = 32;

let api = null;
let dialogs = null;
const urls = new Map(); // path -> Promise of a blob: URL
const players = new Map(); // file id -> Player

export function mountAttachments(deps) {
  ({ api, dialogs } = deps);
}

/** A blob: URL for a file (or its thumbnail), fetched once. */
export function load(path) {
  if (!urls.has(path)) {
    const url = api.blob(path).then((blob) => URL.createObjectURL(blob));
    url.catch(() => urls.delete(path)); // try again when it is shown again
    urls.set(path, url);
  }
  return urls.get(path);
}

export function attachmentsElement(attachments) {
  return h("div.attachments", {}, attachments.map((a) => {
    if (a.kind === "image" && a.thumbnail_url) return imageTile(a);
    if ((a.kind === "voice" || a.kind === "audio") && a.waveform) return player(a);
    return fileCard(a);
  }));
}

// --- images ---------------------------------------------------------------------------------
function imageTile(a) {
  const img = h("img.thumb-img", { alt: a.name, width: a.thumbnail_width, height: a.thumbnail_height, decoding: "async" });
  load(a.thumbnail_url).then((url) => { img.src = url; }, () => { img.alt = `${a.name} (could not be loaded)`; });
  return h("button.thumb", { type: "button", title: a.name, dataset: { fileId: a.id }, attrs: { "aria-label": `Open image ${a.name}` }, on: { click: () => preview(a) } }, img);
}

function preview(a) {
  const img = h("img.preview-img", { alt: a.name, width: a.width, height: a.height });
  load(a.url).then((url) => { img.src = url; }, () => { img.alt = `${a.name} (could not be loaded)`; });
  dialogs.open(a.name, h("figure.preview", {}, img, h("figcaption.muted", { text: `${a.width} × ${a.height} · ${bytes(a.size)}` })), downloadButton(a, "button.button.ghost"));
  dialogs.element.classList.add("wide");
}

// --- anything else: a download ------------------------------------------------------------------
const ICONS = { pdf: "📄", text: "📝", video: "🎬", audio: "🎵", voice: "🎤", image: "🖼" };

function fileCard(a) {
  return h("div.file-card", { dataset: { fileId: a.id } },
    h("span.file-icon", { attrs: { "aria-hidden": "true" }, text: ICONS[a.kind] ?? "📦" }),
    h("span.file-text", {}, h("span.file-name", { text: a.name }), h("span.file-meta", { text: `${bytes(a.size)} · ${a.kind === "file" ? a.content_type : a.kind}` })),
    downloadButton(a));
}

function downloadButton(a, tag = "button.button.ghost.small") {
  const button = h(tag, { type: "button", text: "Download", attrs: { "aria-label": `Download ${a.name}` }, on: { click: async () => {
    button.disabled = true;
    try {
      const link = h("a", { href: await load(a.url), download: a.name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
    } catch {
      button.textContent = "Try again";
    } finally {
      button.disabled = false;
    }
  } } });
  return button;
}

// --- voice messages and audio -------------------------------------------------------------------
class Player {
  constructor(a) {
    this.a = a;
    this.audio = null;
    this.views = new Set();
    this.loading = false;
  }

  get duration() {
    const d = this.audio?.duration;
    return Number.isFinite(d) && d > 0 ? d : this.a.duration ?? 0;
  }

  get position() { return this.audio?.currentTime ?? 0; }
  get playing() { return Boolean(this.audio && !this.audio.paused && !this.audio.ended); }

  async toggle() {
    if (this.playing) { this.audio.pause(); return; }
    for (const other of players.values()) if (other !== this && other.playing) other.audio.pause();
    if (!this.audio) {
      this.loading = true;
      this.update();
      try {
        this.audio = new Audio(await load(this.a.url));
      } finally {
        this.loading = false;
      }
      for (const ev of ["play", "pause", "ended", "timeupdate", "durationchange"]) this.audio.addEventListener(ev, () => this.update());
    }
    if (this.audio.ended) this.audio.currentTime = 0;
    await this.audio.play();
  }

  seek(fraction) {
    if (!this.audio || !this.duration) return;
    this.audio.currentTime = Math.max(0, Math.min(1, fraction)) * this.duration;
    this.update();
  }

  update() {
    for (const view of [...this.views]) {
      // A view not on the page yet is kept; one that was and is gone (redrawn) is dropped.
      if (view.isConnected) { delete view.dataset.fresh; draw(view, this); }
      else if (!view.dataset.fresh) this.views.delete(view);
    }
  }
}

function player(a) {
  if (!players.has(a.id)) players.set(a.id, new Player(a));
  const p = players.get(a.id);
  const label = a.kind === "voice" ? "voice message" : a.name;
  const button = h("button.play", { type: "button", on: { click: () => p.toggle().catch(() => { view.dataset.state = "failed"; time.textContent = "Couldn't play it"; }) } });
  const svg = document.createElementNS(SVG, "svg");
  const bars = a.waveform.length;
  svg.setAttribute("viewBox", `0 0 ${bars * BAR_GAP} ${HEIGHT}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("waveform");
  a.waveform.forEach((v, i) => {
    const height = Math.max(2, (Math.min(100, v) / 100) * HEIGHT);
    const bar = document.createElementNS(SVG, "rect");
    for (const [k, val] of Object.entries({ x: i * BAR_GAP, y: (HEIGHT - height) / 2, width: BAR_GAP - 1.5, height, rx: 1 })) bar.setAttribute(k, String(val));
    svg.append(bar);
  });
  // The waveform is the seek bar: a click picks a point, Left/Right move 5 s, Home/End the ends.
  const track = h("div.wave-track", { tabIndex: 0, attrs: { role: "slider", "aria-label": `Position in ${label}`, "aria-valuemin": "0" }, on: {
    click: (e) => { const r = track.getBoundingClientRect(); p.seek((e.clientX - r.left) / r.width); },
    keydown: (e) => {
      const step = { ArrowLeft: -5, ArrowRight: 5, Home: -Infinity, End: Infinity }[e.key];
      if (step === undefined || !p.duration) return;
      e.preventDefault();
      p.seek((p.position + step) / p.duration);
    },
  } }, svg);
  const time = h("span.voice-time");
  const view = h("div.voice" + (a.kind === "voice" ? "" : ".audio"), { dataset: { fileId: a.id, fresh: "1" }, attrs: { role: "group", "aria-label": a.kind === "voice" ? "Voice message" : `Audio: ${a.name}` } },
    button, track, time, a.kind === "voice" ? null : h("span.file-name", { text: a.name }));
  p.views.add(view);
  draw(view, p);
  return view;
}

function draw(view, p) {
  const [button, track, time] = view.children;
  const state = p.loading ? "loading" : p.playing ? "playing" : p.audio?.ended ? "ended" : p.position > 0 ? "paused" : "idle";
  view.dataset.state = state;
  button.textContent = p.playing ? "❚❚" : "▶";
  button.setAttribute("aria-label", `${p.playing ? "Pause" : "Play"} ${p.a.kind === "voice" ? "voice message" : p.a.name}`);
  const fraction = p.duration ? Math.min(1, p.position / p.duration) : 0;
  const bars = track.querySelectorAll("rect");
  const played = p.audio?.ended ? bars.length : Math.floor(fraction * bars.length);
  bars.forEach((bar, i) => bar.classList.toggle("played", i < played));
  track.setAttribute("aria-valuemax", String(Math.round(p.duration)));
  track.setAttribute("aria-valuenow", String(Math.round(p.position)));
  track.setAttribute("aria-valuetext", `${seconds(p.position)} of ${seconds(p.duration)}`);
  time.textContent = p.playing || p.position > 0 ? `${seconds(p.position)} / ${seconds(p.duration)}` : seconds(p.duration);
}
