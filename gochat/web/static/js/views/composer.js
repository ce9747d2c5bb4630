// The message box: Enter sends (Shift+Enter for a new line), typing is announced, Up in an empty
// box edits your last message, Escape cancels an edit; `@` offers the room's members. Files come
// from the 📎 button, a drop on the conversation or a paste, wait in a tray (removable) and go with
// the next message; 🎤 records a voice message (voice.js).
import { $, h, clear } from "../dom.js";
import { bytes } from "../format.js";
import { state, on, roomName } from "../store.js";
import { mountMentionPicker } from "./mention-picker.js";
import { mountRecorder } from "./voice.js";

const MAX_FILES = 10; // a message carries at most 10 attachments (docs/api.md)

export function mountComposer({ chat, users, notify }) {
  const form = $("#composer");
  const input = $("#composer-input");
  const mode = $("#composer-mode");
  let editing = null;
  const picker = mountMentionPicker(input, $("#mention-list"), users);
  const tray = $("#tray");
  const fileInput = $("#attach-input");
  let files = []; // [{file, preview: blob URL of an image, or null}]

  function addFiles(list) {
    const room = state.rooms.get(state.current);
    if (!room || room.encrypted || editing) return;
    const space = MAX_FILES - files.length;
    const chosen = [...list].slice(0, Math.max(0, space));
    if (list.length > chosen.length) notify(`A message carries at most ${MAX_FILES} files.`);
    for (const file of chosen) files.push({ file, preview: file.type.startsWith("image/") ? URL.createObjectURL(file) : null });
    renderTray();
    input.focus();
  }

  function removeFile(entry) {
    files = files.filter((f) => f !== entry);
    if (entry.preview) URL.revokeObjectURL(entry.preview);
    renderTray();
    input.focus();
  }

  function clearFiles() {
    for (const f of files) if (f.preview) URL.revokeObjectURL(f.preview);
    files = [];
    renderTray();
  }

  function renderTray() {
    tray.hidden = files.length === 0;
    clear(tray).append(...files.map((entry) => h("li.tray-item", {},
      entry.preview ? h("img.tray-thumb", { src: entry.preview, alt: "" }) : h("span.tray-icon", { attrs: { "aria-hidden": "true" }, text: "📄" }),
      h("span.tray-text", {}, h("span.tray-name", { text: entry.file.name || "pasted file" }), h("span.tray-size", { text: bytes(entry.file.size) })),
      h("button.icon-button", { type: "button", title: "Remove", attrs: { "aria-label": `Remove ${entry.file.name || "pasted file"}` }, on: { click: () => removeFile(entry) } }, "×"))));
    const send = $("#composer-send");
    if (files.length) send.setAttribute("aria-label", `Send with ${files.length === 1 ? "1 file" : `${files.length} files`}`);
    else send.removeAttribute("aria-label");
  }

  $("#attach").addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => { addFiles(fileInput.files); fileInput.value = ""; });
  input.addEventListener("paste", (e) => {
    const pasted = [...(e.clipboardData?.files ?? [])];
    if (!pasted.length) return;
    e.preventDefault();
    addFiles(pasted);
  });
  // Dropping files anywhere on the conversation: a frame says where they will go.
  const conversation = $("#conversation");
  const zone = $("#drop-zone");
  const carriesFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes("Files");
  const accepting = () => !form.hidden && !editing; // a room where one may write (not sealed)
  let depth = 0;
  conversation.addEventListener("dragenter", (e) => { if (!carriesFiles(e) || !accepting()) return; depth++; zone.hidden = false; });
  conversation.addEventListener("dragleave", () => { if (depth && --depth === 0) zone.hidden = true; });
  conversation.addEventListener("dragover", (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault(); // never let the browser open a dropped file in place of the app
    e.dataTransfer.dropEffect = accepting() ? "copy" : "none";
  });
  conversation.addEventListener("drop", (e) => {
    depth = 0;
    zone.hidden = true;
    if (!carriesFiles(e)) return;
    e.preventDefault();
    if (accepting()) addFiles(e.dataTransfer.files);
  });
  const recorder = mountRecorder({ chat, notify, composer: $("#composer-row") });

  function grow() {
    input.style.height = "";
    input.classList.remove("tall");
    if (!input.value) return; // one line: a long placeholder must not make it taller
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
    input.classList.toggle("tall", input.scrollHeight > 200);
  }

  function startEdit(m) {
    editing = m;
    mode.hidden = false;
    $("#composer-mode-text").textContent = "Editing your message";
    input.value = m.content;
    $("#composer-send").textContent = "Save";
    grow();
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  function stopEdit() {
    editing = null;
    mode.hidden = true;
    $("#composer-send").textContent = "Send";
    input.value = "";
    grow();
  }

  async function submit() {
    const content = input.value.trim();
    if (editing) {
      const m = editing;
      if (!content) return notify("A message can't be empty: delete it instead.");
      stopEdit();
      if (content !== m.content) await chat.edit(m, content).catch((err) => notify(err.explanation ?? "Couldn't save the edit."));
      return;
    }
    if (files.length) {
      const chosen = files.map((f) => f.file);
      clearFiles();
      input.value = "";
      grow();
      chat.sendFiles(content, chosen);
      return;
    }
    if (!content) return;
    input.value = "";
    grow();
    chat.send(content);
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  input.addEventListener("keydown", (e) => {
    if (picker.key(e)) return;
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    else if (e.key === "Escape" && editing) { e.preventDefault(); stopEdit(); }
    else if (e.key === "ArrowUp" && !input.value && !editing) {
      const mine = (state.timeline?.messages ?? []).filter((m) => m.user_id === state.me.id && !m.deleted && !m.thread_root).at(-1);
      if (mine) { e.preventDefault(); startEdit(mine); }
    }
  });
  input.addEventListener("input", () => { grow(); if (input.value.trim() && !editing) chat.typing(); });
  $("#composer-cancel").addEventListener("click", () => { stopEdit(); input.focus(); });
  on("room", () => {
    stopEdit();
    clearFiles();
    recorder.cancel();
    picker.close();
    const room = state.rooms.get(state.current);
    input.placeholder = !room ? "Write a message" : `Message ${room.type === "public" ? "#" : ""}${roomName(room, users)}`;
  });

  return { startEdit, focus: () => input.focus() };
}
