// The composer's @-autocomplete: typing `@` and the start of a name lists the room's members whose
// username or name starts with it; Up/Down choose, Enter or Tab insert `@username `, Escape closes.
// The textarea stays the focus (an ARIA combobox with aria-activedescendant).
import { h, clear } from "../dom.js";
import { state, on } from "../store.js";
import { avatar } from "./avatar.js";

const MAX = 8;
const TRIGGER = /(?:^|[^\p{L}\p{N}_])@([\p{L}\p{N}_.-]{0,32})$/u; // "@name" just before the caret

export function mountMentionPicker(input, list, users) {
  let matches = [];
  let active = 0;
  let start = -1; // where the "@" is in the text

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");

  function close() {
    matches = [];
    list.hidden = true;
    clear(list);
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function update() {
    const before = input.value.slice(0, input.selectionStart);
    const found = input.selectionStart === input.selectionEnd ? before.match(TRIGGER) : null;
    if (!found) { close(); return; }
    const q = found[1].toLowerCase();
    start = before.length - found[1].length - 1;
    matches = state.members
      .map((m) => users.get(m.user_id))
      .filter((u) => u && u.id !== state.me.id)
      .filter((u) => u.username.toLowerCase().startsWith(q) || (u.display_name ?? "").toLowerCase().split(/\s+/).some((w) => w.startsWith(q)))
      .sort((a, b) => a.username.localeCompare(b.username))
      .slice(0, MAX);
    if (!matches.length) { close(); return; }
    active = Math.min(active, matches.length - 1);
    render();
  }

  function render() {
    clear(list).append(...matches.map((u, i) => h("li.mention-option" + (i === active ? ".active" : ""), {
      id: `mention-option-${i}`,
      attrs: { role: "option", "aria-selected": String(i === active) },
      on: { mousedown: (e) => { e.preventDefault(); pick(i); } },
    }, avatar(users, u.id, { size: "small" }), h("span.mention-name", { text: users.name(u.id) }), h("span.muted", { text: ` @${u.username}` }))));
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    input.setAttribute("aria-activedescendant", `mention-option-${active}`);
  }

  function pick(i) {
    const u = matches[i];
    const caret = input.selectionStart;
    const text = `@${u.username} `;
    input.value = input.value.slice(0, start) + text + input.value.slice(caret);
    const at = start + text.length;
    input.setSelectionRange(at, at);
    close();
    input.dispatchEvent(new Event("input"));
  }

  /** Handles the key when the list is open; true when it did. */
  function key(e) {
    if (list.hidden || !matches.length) return false;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      active = (active + (e.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
      render();
    } else if ((e.key === "Enter" && !e.shiftKey) || e.key === "Tab") pick(active);
    else if (e.key === "Escape") close();
    else return false;
    e.preventDefault();
    e.stopPropagation();
    return true;
  }

  input.addEventListener("input", update);
  input.addEventListener("click", update);
  input.addEventListener("blur", close);
  // The members (and their names) may arrive after the "@" was typed.
  const refresh = () => { if (document.activeElement === input) update(); };
  on("members", refresh);
  users.addEventListener("users", refresh);
  return { key, close };
}
