// The sidebar: the signed-in user, connection state, and the room list with unread badges and
// each room's newest message.
import { $, h, clear } from "../dom.js";
import { ago, plural } from "../format.js";
import { state, on } from "../store.js";
import { avatar } from "./avatar.js";

const CONNECTION_TEXT = { online: "Connected", connecting: "Connecting…", reconnecting: "Reconnecting…", offline: "Offline" };

export function mountSidebar({ users, navigate, onLogout }) {
  const list = $("#room-list");

  function renderRooms() {
    const rooms = [...state.rooms.values()].sort((a, b) => (b.last_message_id ?? 0) - (a.last_message_id ?? 0) || a.name.localeCompare(b.name));
    clear(list);
    $("#no-rooms").hidden = rooms.length > 0;
    list.hidden = rooms.length === 0;
    for (const room of rooms) list.append(roomItem(room));
    const unread = rooms.reduce((n, r) => n + (r.unread_count || 0), 0);
    document.title = unread ? `(${unread}) gochat` : "gochat";
  }

  function roomItem(room) {
    const last = room.last_message;
    const active = room.id === state.current;
    const unread = room.unread_count || 0;
    let preview = room.topic || "No messages yet";
    if (last) {
      const who = last.user_id === state.me?.id ? "You" : users.name(last.user_id);
      preview = last.deleted ? `${who}: message deleted` : room.encrypted ? `${who}: encrypted message` : `${who}: ${last.content}`;
    }
    return h("li", {},
      h("button.room" + (active ? ".active" : "") + (unread ? ".unread" : ""), {
        type: "button",
        dataset: { roomId: room.id },
        attrs: { "aria-current": active ? "page" : null },
        on: { click: () => navigate(room.id) },
      },
        h("span.room-icon", { attrs: { "aria-hidden": "true" }, text: room.encrypted ? "🛡" : room.type === "private" ? "🔒" : "#" }),
        h("span.room-text", {},
          h("span.room-line", {}, h("span.room-name", { text: room.name }), last ? h("span.room-time", { text: ago(last.timestamp) }) : null),
          h("span.room-preview", { text: preview })),
        unread ? h("span.badge", { text: unread > 99 ? "99+" : String(unread), attrs: { "aria-hidden": "true" } }) : null,
        unread ? h("span.visually-hidden", { text: `, ${plural(unread, "unread message")}` }) : null));
  }

  function renderMe() {
    if (!state.me) return;
    const slot = $("#me-avatar");
    slot.replaceWith(avatar(users, state.me.id, { id: "me-avatar", presence: state.connection === "online" ? "online" : "offline" }));
    $("#me-name").textContent = state.me.display_name;
    $("#me-handle").textContent = `@${state.me.username}`;
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
  users.addEventListener("users", () => { renderRooms(); renderMe(); });
  setInterval(renderRooms, 60000); // "5m" labels age

  $("#logout").addEventListener("click", onLogout);
  return { render() { renderRooms(); renderConnection(); } };
}
