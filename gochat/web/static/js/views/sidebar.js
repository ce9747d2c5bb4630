// The sidebar: the signed-in user (status, do-not-disturb), connection state, the notifications
// button, the room list with unread and mention badges and each room's newest message, and the
// direct messages with the other person's name and presence.
import { $, h, clear } from "../dom.js";
import { ago, plural } from "../format.js";
import { state, on } from "../store.js";
import { avatar } from "./avatar.js";
import { statusBadge } from "./message.js";

const CONNECTION_TEXT = { online: "Connected", connecting: "Connecting…", reconnecting: "Reconnecting…", offline: "Offline" };

export function mountSidebar({ users, navigate, onLogout }) {
  const list = $("#room-list");

  function renderRooms() {
    const all = [...state.rooms.values()].sort((a, b) => (b.last_message_id ?? 0) - (a.last_message_id ?? 0) || a.name.localeCompare(b.name));
    const rooms = all.filter((r) => !state.dms.has(r.id));
    const dms = all.filter((r) => state.dms.has(r.id));
    clear(list);
    $("#no-rooms").hidden = rooms.length > 0;
    list.hidden = rooms.length === 0;
    for (const room of rooms) list.append(roomItem(room));
    const dmList = clear($("#dm-list"));
    dmList.hidden = $("#dm-title").hidden = dms.length === 0;
    for (const room of dms) dmList.append(roomItem(room));
    const unread = all.reduce((n, r) => n + (r.unread_count || 0), 0);
    document.title = unread ? `(${unread}) gochat` : "gochat";
  }

  function roomItem(room) {
    const last = room.last_message;
    const active = room.id === state.current;
    const unread = room.unread_count || 0;
    const mentions = room.mention_count || 0;
    const other = state.dms.get(room.id);
    let preview = room.topic || "No messages yet";
    if (last) {
      const who = last.user_id === state.me?.id ? "You" : other ? "" : users.name(last.user_id);
      const prefix = who ? `${who}: ` : "";
      const files = last.attachments?.length ? (last.attachments[0].kind === "voice" ? "🎤 voice message" : `📎 ${last.attachments.map((a) => a.name).join(", ")}`) : "";
      preview = last.deleted ? `${prefix}message deleted` : state.blocked.has(last.user_id) ? "message from someone you blocked"
        : room.encrypted ? `${prefix}encrypted message` : `${prefix}${last.content || files}`;
    }
    return h("li", {},
      h("button.room" + (active ? ".active" : "") + (unread ? ".unread" : ""), {
        type: "button",
        dataset: { roomId: room.id },
        attrs: { "aria-current": active ? "page" : null },
        on: { click: () => navigate(room.id) },
      },
        other
          ? avatar(users, other, { size: "small", presence: state.presence.get(other) ?? "offline" })
          : h("span.room-icon", { attrs: { "aria-hidden": "true" }, text: room.encrypted ? "🛡" : room.type === "private" ? "🔒" : "#" }),
        h("span.room-text", {},
          h("span.room-line", {}, h("span.room-name", { text: other ? users.name(other) : room.name }), other ? statusBadge(users, other) : null,
            last ? h("span.room-time", { text: ago(last.timestamp) }) : null),
          h("span.room-preview", { text: preview })),
        mentions ? h("span.badge.mention-badge", { text: `@${mentions > 99 ? "99+" : mentions}`, attrs: { "aria-hidden": "true" } }) : null,
        mentions ? h("span.visually-hidden", { text: `, ${plural(mentions, "mention")}` }) : null,
        unread ? h("span.badge", { text: unread > 99 ? "99+" : String(unread), attrs: { "aria-hidden": "true" } }) : null,
        unread ? h("span.visually-hidden", { text: `, ${plural(unread, "unread message")}` }) : null));
  }

  function renderMe() {
    if (!state.me) return;
    const slot = $("#me-avatar");
    slot.replaceWith(avatar(users, state.me.id, { id: "me-avatar", presence: state.connection === "online" ? "online" : "offline" }));
    const status = users.status(state.me.id);
    $("#me-name").textContent = users.name(state.me.id);
    $("#me-handle").textContent = status ? [status.emoji, status.text].filter(Boolean).join(" ") : `@${state.me.username}`;
  }

  function renderConnection() {
    const el = $("#connection");
    el.textContent = CONNECTION_TEXT[state.connection] ?? state.connection;
    el.dataset.state = state.connection;
    renderMe();
  }

  on("rooms", renderRooms);
  on("room", renderRooms);
  on("connection", renderConnection);
  on("presence", renderRooms);
  on("blocked", renderRooms);

  function renderNotifications() {
    const unread = state.notifications.filter((n) => !n.read).length;
    const badge = $("#notifications-badge");
    badge.hidden = unread === 0;
    badge.textContent = unread > 99 ? "99+" : String(unread);
    $("#notifications-button").setAttribute("aria-label", unread ? `Notifications, ${unread} unread` : "Notifications");
  }

  function renderDnd() {
    const dnd = $("#dnd");
    dnd.setAttribute("aria-pressed", String(Boolean(state.dnd.enabled)));
    dnd.title = state.dnd.enabled ? "Do not disturb is on" : "Do not disturb";
  }
  on("notifications", renderNotifications);
  on("dnd", renderDnd);
  users.addEventListener("users", () => { renderRooms(); renderMe(); });
  setInterval(renderRooms, 60000); // "5m" labels age

  $("#logout").addEventListener("click", onLogout);
  return { render() { renderRooms(); renderConnection(); renderNotifications(); renderDnd(); } };
}
