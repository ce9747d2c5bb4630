// The side panel: a thread, search results, or the room's members (one at a time).
import { $, h, clear } from "../dom.js";
import { fullTime, plural } from "../format.js";
import { highlighted } from "../highlight.js";
import { state, on } from "../store.js";
import { avatar } from "./avatar.js";
import { isEncrypted, messageElement } from "./message.js";

export function mountPanel({ chat, users, actions, navigate, notify }) {
  const panel = $("#panel");
  const body = $("#panel-body");
  let kind = null;
  let thread = null; // {root, messages}
  let returnFocus = null;

  function open(newKind, title) {
    if (panel.hidden) returnFocus = document.activeElement;
    kind = newKind;
    $("#panel-title").textContent = title;
    panel.hidden = false;
    panel.dataset.kind = newKind;
    document.body.classList.add("panel-open");
  }

  function close() {
    panel.hidden = true;
    kind = null;
    thread = null;
    chat.closeThread();
    document.body.classList.remove("panel-open");
    returnFocus?.focus?.();
  }

  // --- thread -----------------------------------------------------------------------------
  async function openThread(m) {
    open("thread", "Thread");
    clear(body).append(h("p.muted.panel-note", { text: "Loading…" }));
    try {
      await chat.openThread(m.thread_root ?? m.id);
    } catch (err) {
      clear(body).append(h("p.form-error", { text: err.explanation ?? "Couldn't open the thread." }));
    }
  }

  /** Draw the thread; focus its reply box when it opens, or keep focus there if it was. */
  function renderThread({ opening = false } = {}) {
    if (kind !== "thread" || !thread) return;
    const list = h("div.thread-list", {},
      messageElement(thread.root, users, actions, { inThread: true }),
      h("div.thread-count", { text: plural(thread.messages.filter((m) => !m.deleted).length, "reply", "replies") }),
      thread.messages.map((m) => messageElement(m, users, actions, { inThread: true })));
    for (const el of list.querySelectorAll(".message")) el.tabIndex = 0;
    for (const b of list.querySelectorAll("button")) b.tabIndex = 0;
    const input = h("textarea#thread-input", { rows: 2, maxLength: 4000, placeholder: "Reply…" });
    const form = h("form.thread-composer", { on: { submit: async (e) => {
      e.preventDefault();
      const content = input.value.trim();
      if (!content) return;
      input.value = "";
      try {
        const reply = await chat.reply(thread.root.id, content);
        addReply(reply);
      } catch (err) {
        input.value = content;
        notify(err.explanation ?? "Couldn't send the reply.");
      }
    } } },
      h("label.visually-hidden", { htmlFor: "thread-input", text: "Reply in thread" }),
      input,
      h("button.button.primary", { type: "submit", text: "Reply" }));
    input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); } });
    const typed = document.getElementById("thread-input");
    const hadFocus = document.activeElement === typed;
    if (typed) input.value = typed.value; // a live update must not eat a half-written reply
    clear(body).append(list, isEncrypted(state.current) ? null : form);
    if (hadFocus || opening) input.focus();
  }

  function addReply(m) {
    if (!thread || m.thread_root !== thread.root.id || thread.messages.some((r) => r.id === m.id)) return;
    thread.messages.push(m);
    thread.messages.sort((a, b) => a.id - b.id);
    renderThread();
  }

  on("thread", (data) => { thread = { root: data.root, messages: data.messages }; renderThread({ opening: true }); });
  on("reply", addReply);
  function updateThreadMessage(m) {
    if (!thread) return;
    if (m.id === thread.root.id) thread.root = { ...thread.root, ...m };
    else thread.messages = thread.messages.map((r) => (r.id === m.id ? { ...r, ...m } : r));
    renderThread();
  }
  on("thread-message", updateThreadMessage);
  on("message", updateThreadMessage);

  // --- search -----------------------------------------------------------------------------
  async function search(q) {
    open("search", "Search");
    clear(body).append(h("p.muted.panel-note", { text: `Searching for “${q}”…` }));
    try {
      const { results } = await chat.search(q);
      clear(body);
      if (!results.length) { body.append(h("p.muted.panel-note", { text: `Nothing found for “${q}”.` })); return; }
      body.append(h("p.muted.panel-note", { text: `${plural(results.length, "result")} for “${q}”` }),
        h("ul.results", {}, results.map((r) => h("li", {}, h("button.result", {
          type: "button",
          on: { click: () => navigate(r.room_id, r.id) },
        },
          h("span.result-meta", {}, h("span.result-room", { text: `#${state.rooms.get(r.room_id)?.name ?? "room"}` }), " · ", h("span", { text: users.name(r.user_id) }), " · ", h("time", { text: fullTime(r.timestamp), dateTime: r.timestamp })),
          h("span.result-text", {}, highlighted(r.highlight)))))));
    } catch (err) {
      clear(body).append(h("p.form-error", { text: err.code === "rate_limited" ? "Searching too fast: wait a few seconds." : err.explanation ?? "Search failed." }));
    }
  }

  // --- members ----------------------------------------------------------------------------
  function renderMembers() {
    if (kind !== "members") return;
    const order = { online: 0, offline: 1 };
    const members = [...state.members].sort((a, b) => (order[state.presence.get(a.user_id)] ?? 1) - (order[state.presence.get(b.user_id)] ?? 1));
    clear(body).append(h("ul.members", {}, members.map((m) => {
      const status = state.presence.get(m.user_id) ?? "offline";
      return h("li.member", {},
        avatar(users, m.user_id, { presence: status }),
        h("span.member-text", {}, h("span.member-name", { text: users.name(m.user_id) + (m.user_id === state.me.id ? " (you)" : "") }), h("span.member-meta", { text: `${status === "online" ? "Online" : "Offline"}${m.role !== "member" ? ` · ${m.role}` : ""}` })));
    })));
  }

  function openMembers() {
    open("members", "Members");
    renderMembers();
    $("#panel-close").focus();
  }

  on("members", renderMembers);
  on("presence", renderMembers);
  on("room", () => { if (kind === "thread" || kind === "members") close(); });
  $("#panel-close").addEventListener("click", close);
  panel.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.stopPropagation(); close(); } });
  users.addEventListener("users", () => { renderMembers(); renderThread(); });

  return { openThread, search, openMembers, close, get kind() { return kind; } };
}
