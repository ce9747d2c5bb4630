// The open room's messages: day dividers, grouped authors, infinite scroll both ways, jump to a
// message, unsent messages with retry, "seen by" receipts and who is typing.
//
// Keyboard: the list is one tab stop; Up/Down (and Home/End) move between messages, Tab reaches
// the focused message's buttons, Escape goes back to the composer.
import { $, h, clear } from "../dom.js";
import { dayLabel, sameDay } from "../format.js";
import { state, on, hiddenAuthor, receiptsOf, roomName, typingOf } from "../store.js";
import { messageElement, setButtonsTabbable } from "./message.js";

const GROUP_GAP = 5 * 60 * 1000;

export function mountTimeline({ chat, users, actions }) {
  const scroller = $("#timeline");
  const jump = $("#jump-latest");
  let focusedId = null; // the message the user last focused: it keeps the list's tab stop

  // Thread replies live in their thread; blocked people's messages are not shown at all.
  const visible = () => (state.timeline?.messages ?? []).filter((m) => !m.thread_root && !hiddenAuthor(m));

  function render({ keep = "bottom" } = {}) {
    const t = state.timeline;
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    const top = scroller.scrollTop;
    const active = document.activeElement;
    const refocus = active && scroller.contains(active) ? active.closest(".message")?.dataset.id : null;
    clear(scroller);
    if (!t) return;
    const room = state.rooms.get(t.roomId);
    scroller.append(h("div.timeline-edge", { text: t.loading ? "Loading…" : t.hasMoreBefore ? "Loading older messages…" : `This is the beginning of ${!room ? "the room" : state.dms.has(room.id) ? `your conversation with ${roomName(room, users)}` : room.name}.` }));
    let prev = null;
    let unreadMarked = false;
    for (const m of visible()) {
      if (!prev || !sameDay(prev.timestamp, m.timestamp)) scroller.append(h("div.day", { attrs: { role: "separator" } }, h("span", { text: dayLabel(m.timestamp) })));
      if (!unreadMarked && t.readMarker !== null && m.id > t.readMarker && m.user_id !== state.me.id) {
        unreadMarked = true;
        scroller.append(h("div.new-divider", { attrs: { role: "separator" } }, h("span", { text: "New" })));
      }
      const continued = prev && sameDay(prev.timestamp, m.timestamp) && prev.user_id === m.user_id && !prev.deleted && Date.parse(m.timestamp) - Date.parse(prev.timestamp) < GROUP_GAP;
      scroller.append(messageElement(m, users, actions, { continued }));
      prev = m;
    }
    scroller.append(h("div.pending-list"));
    renderPending();
    renderReceipts();
    setTabStop(refocus ?? (visible().some((m) => String(m.id) === String(focusedId)) ? focusedId : visible().at(-1)?.id));
    if (refocus) byId(refocus)?.focus({ preventScroll: true });
    if (keep === "bottom") scroller.scrollTop = scroller.scrollHeight;
    else if (keep === "anchor-bottom") scroller.scrollTop = scroller.scrollHeight - fromBottom;
    else scroller.scrollTop = top;
    updateJump();
  }

  const byId = (id) => scroller.querySelector(`.message[data-id="${CSS.escape(String(id))}"]`);

  function setTabStop(id) {
    for (const el of scroller.querySelectorAll('.message[tabindex="0"]')) el.tabIndex = -1;
    const el = id !== undefined && id !== null ? byId(id) : null;
    if (el) el.tabIndex = 0;
  }

  function renderPending() {
    const box = scroller.querySelector(".pending-list");
    if (!box || !state.current) return;
    clear(box);
    const stored = new Set(visible().map((m) => m.client_msg_id).filter(Boolean));
    for (const job of state.uploads.values()) {
      if (job.roomId !== state.current) continue;
      const what = job.voice ? "Voice message" : `📎 ${job.files.map((f) => f.file.name).join(", ")}`;
      box.append(h("div.message.mine.pending.upload" + (job.failed ? ".failed" : ""), { dataset: { uploadId: job.id } },
        h("span.gutter"),
        h("div.message-body", {},
          job.content ? h("p.content", { text: job.content }) : null,
          h("p.pending-files", { text: what }),
          job.failed
            ? h("p.pending-state", {}, `Not sent: ${job.failed} `,
                h("button.link", { type: "button", on: { click: () => chat.retryUpload(job.id) } }, "Retry"), " · ",
                h("button.link", { type: "button", on: { click: () => chat.discardUpload(job.id) } }, "Discard"))
            : h("p.pending-state", {}, job.files.length === 1 ? "Uploading… " : `Uploading ${job.files.length} files… `,
                h("progress.upload-progress", { max: 1, value: job.progress ?? 0, attrs: { "aria-label": "Upload progress" } })))));
    }
    for (const p of chat.live.pending(state.current)) {
      if (stored.has(p.clientMsgId)) continue;
      box.append(h("div.message.mine.pending" + (p.failed ? ".failed" : ""), { dataset: { clientMsgId: p.clientMsgId } },
        h("span.gutter"),
        h("div.message-body", {},
          p.content ? h("p.content", { text: p.content }) : null,
          p.files ? h("p.pending-files", { text: `📎 ${p.files === 1 ? "1 file" : `${p.files} files`}` }) : null,
          p.failed
            ? h("p.pending-state", {}, p.reason ? `Not sent: ${p.reason}. ` : "Not sent. ",
                h("button.link", { type: "button", on: { click: () => chat.retry(p.clientMsgId) } }, "Retry"), " · ",
                h("button.link", { type: "button", on: { click: () => chat.discard(p.clientMsgId) } }, "Discard"))
            : h("p.pending-state", { text: state.connection === "online" ? "Sending…" : "Waiting for the connection…" }))));
    }
  }

  /** "Seen by" under the newest message each other member has read up to. */
  function renderReceipts() {
    for (const el of scroller.querySelectorAll(".seen-by")) el.remove();
    const t = state.timeline;
    if (!t) return;
    const ids = visible().map((m) => m.id);
    if (!ids.length) return;
    const at = new Map();
    for (const [userId, lastRead] of receiptsOf(t.roomId)) {
      if (userId === state.me.id || lastRead < ids[0]) continue;
      let spot = null;
      for (const id of ids) if (id <= lastRead) spot = id; else break;
      if (spot === null || (t.hasMoreAfter && spot === ids.at(-1))) continue;
      if (t.byId.get(spot).user_id === userId) continue; // their own message: seen, needless to say
      if (!at.has(spot)) at.set(spot, []);
      at.get(spot).push(userId);
    }
    for (const [id, readers] of at) {
      const names = readers.map((u) => users.name(u));
      byId(id)?.after(h("div.seen-by", { dataset: { readers: readers.join(" ") } }, h("span", { text: `Seen by ${names.join(", ")}` })));
    }
  }

  function renderTyping() {
    const box = $("#typing");
    const now = Date.now();
    const who = state.current ? [...typingOf(state.current)].filter(([, until]) => until > now).map(([u]) => users.name(u)) : [];
    box.textContent = who.length === 0 ? "" : who.length === 1 ? `${who[0]} is typing…` : who.length === 2 ? `${who[0]} and ${who[1]} are typing…` : "Several people are typing…";
    box.classList.toggle("active", who.length > 0);
  }

  function atBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
  }

  function updateJump() {
    const t = state.timeline;
    jump.hidden = !t || (!t.hasMoreAfter && scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 400);
  }

  scroller.addEventListener("scroll", () => {
    chat.atBottom = atBottom();
    if (scroller.scrollTop < 300) chat.loadOlder();
    if (chat.atBottom) { chat.loadNewer(); chat.markRead(); }
    updateJump();
  }, { passive: true });

  jump.addEventListener("click", () => {
    if (state.timeline?.hasMoreAfter) chat.openRoom(state.current);
    else { scroller.scrollTop = scroller.scrollHeight; chat.atBottom = true; chat.markRead(); }
    $("#composer-input").focus();
  });

  scroller.addEventListener("focusin", (e) => {
    const el = e.target.closest(".message[data-id]");
    if (!el) return;
    for (const other of scroller.querySelectorAll(".message.focus-within")) if (other !== el) { other.classList.remove("focus-within"); setButtonsTabbable(other, false); }
    el.classList.add("focus-within");
    setButtonsTabbable(el, true);
    focusedId = el.dataset.id;
    setTabStop(focusedId);
  });

  scroller.addEventListener("keydown", (e) => {
    const el = e.target.closest(".message[data-id]");
    if (!el) return;
    const all = [...scroller.querySelectorAll(".message[data-id]")];
    const i = all.indexOf(el);
    let next = null;
    if (e.key === "ArrowUp") next = all[i - 1];
    else if (e.key === "ArrowDown") next = all[i + 1];
    else if (e.key === "Home") next = all[0];
    else if (e.key === "End") next = all.at(-1);
    else if (e.key === "Escape") { $("#composer-input").focus(); e.preventDefault(); return; }
    else return;
    e.preventDefault();
    if (next) { next.focus(); next.scrollIntoView({ block: "nearest" }); }
    else if (e.key === "ArrowUp") chat.loadOlder();
  });

  on("room", () => { render(); renderTyping(); });
  on("timeline", (d) => {
    const wasBottom = atBottom();
    if (d?.reset) {
      render({ keep: d.focus ? "none" : "bottom" });
      // Unread messages taller than the screen: start at the first of them, not at the bottom.
      const divider = scroller.querySelector(".new-divider");
      if (!d.focus && divider && scroller.scrollHeight - divider.offsetTop > scroller.clientHeight) {
        scroller.scrollTop = divider.offsetTop - 8;
      }
      if (d.focus) {
        // A thread reply is not in the timeline: show its root, and the thread beside it.
        const target = state.timeline?.byId.get(d.focus);
        if (target?.thread_root) actions.thread(target);
        const focus = target?.thread_root ?? d.focus;
        const el = byId(focus);
        if (el) {
          el.scrollIntoView({ block: "center" });
          el.classList.add("flash");
          setTimeout(() => el.classList.remove("flash"), 2500);
          setTabStop(focus);
          if (!target?.thread_root) el.focus({ preventScroll: true });
        }
      }
      chat.atBottom = atBottom() && !state.timeline?.hasMoreAfter;
      chat.markRead();
      return;
    }
    render({ keep: d?.prepended ? "anchor-bottom" : wasBottom ? "bottom" : "none" });
    chat.atBottom = atBottom();
    chat.markRead();
  });
  on("message", (m) => {
    const el = byId(m.id);
    if (!el) return;
    const fresh = messageElement(m, users, actions, { continued: el.classList.contains("continued") });
    const hadFocus = el.contains(document.activeElement);
    fresh.tabIndex = el.tabIndex;
    el.replaceWith(fresh);
    if (hadFocus) fresh.focus({ preventScroll: true });
  });
  on("receipts", (roomId) => { if (roomId === state.current) renderReceipts(); });
  on("pending", (d) => {
    renderPending();
    if (!d?.sent) return;
    // What you send shows at the bottom: go there (loading the newest page if not in view).
    if (state.timeline?.hasMoreAfter) chat.openRoom(state.current);
    else scroller.scrollTop = scroller.scrollHeight;
  });
  on("connection", renderPending);
  on("upload-progress", (job) => {
    const bar = scroller.querySelector(`.pending.upload[data-upload-id="${CSS.escape(job.id)}"] progress`);
    if (bar) bar.value = job.progress;
  });
  on("typing", renderTyping);
  on("blocked", () => render({ keep: "none" }));
  on("presence", () => {
    for (const dot of scroller.querySelectorAll(".message[data-user-id] .presence")) {
      const userId = dot.closest(".message").dataset.userId;
      dot.className = `presence ${state.presence.get(userId) ?? "offline"}`;
    }
  });
  users.addEventListener("users", () => render({ keep: "none" }));
  window.addEventListener("focus", () => chat.markRead());
  document.addEventListener("visibilitychange", () => chat.markRead());
  return { render };
}
