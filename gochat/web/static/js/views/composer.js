// The message box: Enter sends (Shift+Enter for a new line), typing is announced, Up in an empty
// box edits your last message, Escape cancels an edit.
import { $ } from "../dom.js";
import { state, on } from "../store.js";

export function mountComposer({ chat, notify }) {
  const form = $("#composer");
  const input = $("#composer-input");
  const mode = $("#composer-mode");
  let editing = null;

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
    if (!content) return;
    input.value = "";
    grow();
    chat.send(content);
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  input.addEventListener("keydown", (e) => {
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
    const room = state.rooms.get(state.current);
    input.placeholder = room ? `Message ${room.type === "private" ? "" : "#"}${room.name}` : "Write a message";
  });

  return { startEdit, focus: () => input.focus() };
}
