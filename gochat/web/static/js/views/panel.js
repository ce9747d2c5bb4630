// The side panel: a thread, search results, the room's members, the pinned messages, or the
// notifications (one at a time).
import { $, h, clear } from "../dom.js";
import { fullTime, plural } from "../format.js";
import { highlighted } from "../highlight.js";
import { withMentions } from "../mentions.js";
import { state, on, hiddenAuthor } from "../store.js";
import { avatar } from "./avatar.js";
import { ENCRYPTED_TEXT, isEncrypted, messageElement, statusBadge } from "./message.js";

export function mountPanel({ chat, users, actions, navigate, notify, invitations }) {
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

  // The reply box is made once per opened thread and kept while the list above it is redrawn:
  // a live update (a reaction, an edit, a reply) must not replace the box someone is typing in
  // (its text, caret and IME composition would go with it).
  let composer = null; // {root, list, form, input}

  function makeComposer(root) {
    const input = h("textarea#thread-input", { rows: 2, maxLength: 4000, placeholder: "Reply…" });
    const form = h("form.thread-composer", { on: { submit: async (e) => {
      e.preventDefault();
      const content = input.value.trim();
      if (!content) return;
      input.value = "";
      try {
        addReply(await chat.reply(root, content));
      } catch (err) {
        input.value = content;
        notify(err.explanation ?? "Couldn't send the reply.");
      }
    } } },
      h("label.visually-hidden", { htmlFor: "thread-input", text: "Reply in thread" }),
      input,
      h("button.button.primary", { type: "submit", text: "Reply" }));
    input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); } });
    return { root, list: h("div.thread-list"), form, input };
  }

  /** Draw the thread; focus its reply box when it opens. */
  function renderThread({ opening = false } = {}) {
    if (kind !== "thread" || !thread) return;
    const items = [
      messageElement(thread.root, users, actions, { inThread: true }),
      h("div.thread-count", { text: plural(thread.messages.filter((m) => !m.deleted).length, "reply", "replies") }),
      ...thread.messages.filter((m) => !hiddenAuthor(m)).map((m) => messageElement(m, users, actions, { inThread: true })),
    ];
    for (const item of items) {
      for (const el of [item, ...item.querySelectorAll("*")]) if (el.matches(".message, button")) el.tabIndex = 0;
    }
    if (composer?.root !== thread.root.id || !body.contains(composer.list)) {
      composer = makeComposer(thread.root.id);
      clear(body).append(composer.list, isEncrypted(state.current) ? null : composer.form);
    }
    composer.list.replaceChildren(...items);
    if (opening) composer.input.focus();
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
    else if (thread.messages.some((r) => r.id === m.id)) thread.messages = thread.messages.map((r) => (r.id === m.id ? { ...r, ...m } : r));
    else return; // not in this thread: nothing to redraw
    renderThread();
  }
  on("thread-message", updateThreadMessage);
  on("message", updateThreadMessage);

  // --- search -----------------------------------------------------------------------------
  async function search(q) {
    open("search", "Search");
    clear(body).append(h("p.muted.panel-note", { text: `Searching for “${q}”…` }));
    try {
      const results = (await chat.search(q)).results.filter((r) => !hiddenAuthor(r));
      clear(body);
      if (!results.length) { body.append(h("p.muted.panel-note", { text: `Nothing found for “${q}”.` })); return; }
      body.append(h("p.muted.panel-note", { text: `${plural(results.length, "result")} for “${q}”` }),
        h("ul.results", {}, results.map((r) => h("li", {}, h("button.result", {
          type: "button",
          on: { click: () => navigate(r.room_id, r.id) },
        },
          h("span.result-meta", {}, h("span.result-room", { text: state.dms.has(r.room_id) ? `@ ${users.name(state.dms.get(r.room_id))}` : `#${state.rooms.get(r.room_id)?.name ?? "room"}` }), " · ", h("span", { text: users.name(r.user_id) }), " · ", h("time", { text: fullTime(r.timestamp), dateTime: r.timestamp })),
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
    const hadFocus = body.contains(document.activeElement) ? document.activeElement.dataset.userId : null;
    clear(body).append(
      invitations.canInvite() ? h("div.panel-toolbar", {}, h("span.muted", { text: chat.room?.type === "private" ? "Private: people join by invitation" : "Public room" }),
        h("button.button.ghost.small", { type: "button", text: "Invite people", on: { click: () => invitations.invite() } })) : null,
      h("ul.members", {}, members.map((m) => {
        const status = state.presence.get(m.user_id) ?? "offline";
        const blocked = state.blocked.has(m.user_id);
        return h("li", {}, h("button.member", { type: "button", title: "Profile", dataset: { userId: m.user_id }, on: { click: () => actions.profile(m.user_id) } },
          avatar(users, m.user_id, { presence: status }),
          h("span.member-text", {}, h("span.member-name", {}, users.name(m.user_id) + (m.user_id === state.me.id ? " (you)" : ""), statusBadge(users, m.user_id)), h("span.member-meta", { text: [status === "online" ? "Online" : "Offline", m.role !== "member" ? m.role : null, blocked ? "blocked" : null].filter(Boolean).join(" · ") }))));
      })));
    if (hadFocus) body.querySelector(`.member[data-user-id="${hadFocus}"]`)?.focus();
  }

  function openMembers() {
    open("members", "Members");
    renderMembers();
    $("#panel-close").focus();
  }

  // --- pinned messages ----------------------------------------------------------------------
  /** Open a panel drawn from one request about the open room (a second press closes it). */
  function toggle(newKind, title, render) {
    if (kind === newKind) { close(); return; }
    open(newKind, title);
    $("#panel-close").focus();
    render();
  }

  /** The open room's answer to `load`, or null when it failed (said in the panel) or the panel or
   * the room changed meanwhile. */
  async function fetchFor(expected, load, failure) {
    if (kind !== expected || !state.current) return null;
    const roomId = state.current;
    try {
      const data = await load(roomId);
      return kind === expected && state.current === roomId ? { roomId, data } : null;
    } catch (err) {
      clear(body).append(h("p.form-error", { text: err.explanation ?? failure }));
      return null;
    }
  }

  const openPins = () => toggle("pins", "Pinned messages", renderPins);

  async function renderPins() {
    const got = await fetchFor("pins", (roomId) => chat.pins(roomId), "Couldn't load the pinned messages.");
    if (!got) return;
    const { roomId, data: page } = got;
    const pinned = page.messages.filter((m) => !hiddenAuthor(m));
    const sealed = isEncrypted(roomId);
    clear(body).append(pinned.length ? h("ul.results.pins", {}, pinned.map((m) => h("li.pin", { dataset: { id: m.id } },
      h("button.result", { type: "button", on: { click: () => navigate(roomId, m.id) } },
        h("span.result-meta", {}, h("strong", { text: users.name(m.user_id) }), " · ", h("time", { text: fullTime(m.timestamp), dateTime: m.timestamp })),
        h("span.result-text", {}, sealed ? ENCRYPTED_TEXT : m.content || (m.attachments?.length ? `📎 ${m.attachments.map((a) => a.name).join(", ")}` : ""))),
      chat.canModerate ? h("button.button.ghost.small", { type: "button", text: "Unpin", attrs: { "aria-label": "Unpin this message" }, on: { click: () => chat.unpin(m).then(renderPins, (err) => notify(err.explanation ?? "Couldn't unpin it.")) } }) : null)))
      : h("p.muted.panel-note", { text: chat.canModerate ? "Nothing pinned yet. Pin a message from its actions (📌)." : "Nothing pinned yet. The room's admins pin messages here." }));
  }

  // --- reports (the room's admins) --------------------------------------------------------
  const openReports = () => toggle("reports", "Reports", renderReports);

  async function renderReports() {
    const got = await fetchFor("reports", (roomId) => chat.reports(roomId), "Couldn't load the reports.");
    if (!got) return;
    const { roomId } = got;
    const { reports } = got.data;
    const resolve = (r, action) => chat.resolveReport(roomId, r.id, action).then(renderReports, (err) => notify(err.explanation ?? "Couldn't resolve it."));
    clear(body).append(reports.length ? h("ul.results.reports", {}, reports.map((r) => h("li.report", { dataset: { id: r.id } },
      h("span.result-meta", {}, h("strong", { text: users.name(r.reporter) }), " · ", h("time", { text: fullTime(r.created_at), dateTime: r.created_at })),
      h("span.result-text", { text: r.reason }),
      h("div.report-actions", {},
        h("button.button.ghost.small", { type: "button", text: "Show message", on: { click: () => navigate(roomId, r.message_id) } }),
        h("button.button.ghost.small", { type: "button", text: "Dismiss", on: { click: () => resolve(r, "dismiss") } }),
        h("button.button.ghost.small.danger", { type: "button", text: "Delete message", on: { click: () => resolve(r, "delete") } })))))
      : h("p.muted.panel-note", { text: "No open reports. Members report a message from its actions (⚑)." }));
  }

  // --- notifications ----------------------------------------------------------------------
  const REASONS = { mention: "mentioned you", here: "notified @here", room: "notified @room", dm: "sent you a message", message: "posted" };

  function renderNotifications() {
    if (kind !== "notifications") return;
    const list = state.notifications;
    const unread = list.filter((n) => !n.read).length;
    const markAll = h("button.button.ghost.small", { type: "button", text: "Mark all read", disabled: unread === 0, on: { click: () => chat.markAllNotificationsRead().catch((err) => notify(err.explanation ?? "Couldn't mark them read.")) } });
    const hadFocus = body.contains(document.activeElement) ? document.activeElement.dataset.id : null;
    clear(body).append(
      h("div.panel-toolbar", {}, h("span.muted", { text: unread ? `${unread} unread` : "All read" }), markAll),
      list.length ? h("ul.notifications", {}, list.map((n) => {
        const where = state.dms.has(n.room_id) ? "a direct message" : `#${n.room?.name ?? state.rooms.get(n.room_id)?.name ?? "room"}`;
        const text = isEncrypted(n.room_id) || n.room?.encrypted ? ENCRYPTED_TEXT : n.message?.content ?? "";
        return h("li", {}, h("button.notification" + (n.read ? "" : ".unread"), {
          type: "button",
          dataset: { id: n.id },
          on: { click: () => {
            chat.markNotificationRead(n).catch(() => {});
            if (state.rooms.has(n.room_id)) navigate(n.room_id, n.message_id);
          } },
        },
          avatar(users, n.actor_id, { size: "small" }),
          h("span.notification-text", {},
            h("span.result-meta", {}, h("strong", { text: users.name(n.actor_id) }), ` ${REASONS[n.reason] ?? "posted"} in ${where} · `, h("time", { text: fullTime(n.created_at), dateTime: n.created_at })),
            h("span.result-text", {}, text === ENCRYPTED_TEXT ? text : withMentions(text, n.message?.mentions, users, state.me.id))),
          n.read ? null : h("span.visually-hidden", { text: " (unread)" })));
      })) : h("p.muted.panel-note", { text: "Nothing yet. Mentions, direct messages and the rooms you follow show up here." }));
    if (hadFocus) body.querySelector(`[data-id="${hadFocus}"]`)?.focus();
  }

  function openNotifications() {
    if (kind === "notifications") { close(); return; }
    open("notifications", "Notifications");
    renderNotifications();
    chat.loadNotifications().catch(() => {});
    $("#panel-close").focus();
  }

  on("notifications", renderNotifications);
  on("members", renderMembers);
  on("presence", renderMembers);
  // Another room: what belonged to the last one goes (opening a message of the same one keeps it).
  let roomShown = null;
  on("room", () => {
    if (state.current === roomShown) return;
    roomShown = state.current;
    if (["thread", "members", "pins", "reports"].includes(kind)) close();
  });
  on("blocked", () => { renderMembers(); renderThread(); });
  on("pins", renderPins);
  $("#panel-close").addEventListener("click", close);
  panel.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.stopPropagation(); close(); } });
  users.addEventListener("users", () => { renderMembers(); renderThread(); renderNotifications(); });

  return { openThread, search, openMembers, openPins, openReports, openNotifications, close, get kind() { return kind; } };
}
