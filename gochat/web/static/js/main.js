// Boot and wiring: session, API, controller and views, and the URL (#/r/<room>[/m/<message>]).
import { $, h } from "./dom.js";
import { plural } from "./format.js";
import { Api } from "./api.js";
import { Chat } from "./chat.js";
import { Session, AuthError } from "./session.js";
import { state, on, emit, roomName } from "./store.js";
import { Users } from "./users.js";
import { mountAttachments } from "./views/attachments.js";
import { mountAuth } from "./views/auth.js";
import { mountComposer } from "./views/composer.js";
import { mountDialogs } from "./views/dialogs.js";
import { mountInvitations } from "./views/invitations.js";
import { mountPanel } from "./views/panel.js";
import { mountPeople } from "./views/people.js";
import { mountProfile } from "./views/profile.js";
import { mountReport } from "./views/report.js";
import { mountSidebar } from "./views/sidebar.js";
import { mountTimeline } from "./views/timeline.js";

const session = new Session();
const api = new Api(session);
const users = new Users(api);
const chat = new Chat(api, session, users);

let noticeTimer = null;
function notify(text) {
  const el = $("#notice");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, 5000);
}

function navigate(roomId, messageId = null) {
  const hash = roomId ? `#/r/${roomId}${messageId ? `/m/${messageId}` : ""}` : "#/";
  if (location.hash === hash) route();
  else location.hash = hash;
}

function route() {
  if (!state.me) return;
  const [, roomId, messageId] = location.hash.match(/^#\/r\/([0-9a-f-]{36})(?:\/m\/(\d+))?$/) ?? [];
  document.body.classList.toggle("in-room", Boolean(roomId));
  if (!roomId) { chat.closeRoom(); return; }
  if (!state.rooms.has(roomId)) { navigate(null); return; }
  chat.openRoom(roomId, messageId ? Number(messageId) : null).catch(failed);
}

function failed(err) {
  if (err instanceof AuthError) return;
  notify(err.explanation ?? err.message ?? "Something went wrong.");
}

const actions = {
  react: (m, emoji) => chat.toggleReaction(m, emoji).catch(failed),
  thread: (m) => panel.openThread(m),
  edit: (m) => composer.startEdit(m),
  remove: (m) => chat.remove(m).catch(failed),
  profile: (userId) => profile.open(userId),
  report: (m) => report.open(m),
  pin: (m) => chat.pin(m).then(() => { notify("Pinned: it is listed under 📌."); emit("pins"); }, failed),
};

const dialogs = mountDialogs({ chat, navigate });
mountAttachments({ api, dialogs });
const auth = mountAuth({ api, session, onSignedIn: enter });
const sidebar = mountSidebar({ users, navigate, onLogout: logout });
mountTimeline({ chat, users, actions });
const composer = mountComposer({ chat, users, notify });
const invitations = mountInvitations({ chat, users, navigate, dialogs, notify });
const panel = mountPanel({ chat, users, actions, navigate, notify, invitations });
const people = mountPeople({ chat, users, navigate, dialogs });
const profile = mountProfile({ chat, users, dialogs, navigate, notify });
const report = mountReport({ chat, dialogs, notify });

function renderRoomHead() {
  const room = chat.room;
  $("#room-head").hidden = !room;
  $("#composer").hidden = !room || room.encrypted;
  $("#sealed-note").hidden = !room?.encrypted;
  $("#timeline").hidden = !room;
  $("#welcome").hidden = Boolean(room);
  if (!room) return;
  const dm = state.dms.get(room.id);
  $("#room-title").textContent = dm ? `@ ${roomName(room, users)}` : `${room.type === "private" ? "🔒 " : "# "}${room.name}`;
  $("#leave-room").hidden = Boolean(dm); // a direct message's membership is fixed
  $("#reports-button").hidden = !chat.canModerate;
  $("#pins-button").hidden = Boolean(dm); // nobody administers a direct message: nothing is pinned there
  const level = $("#room-level");
  level.hidden = !state.level;
  if (state.level) level.value = state.level;
  $("#room-topic").textContent = room.topic || plural(room.member_count ?? state.members.length, "member");
  const online = state.members.filter((m) => state.presence.get(m.user_id) === "online").length;
  const count = state.members.length || room.member_count || 0;
  $("#members-button").replaceChildren(
    h("span", { attrs: { "aria-hidden": "true" }, text: "👥 " }),
    String(count),
    h("span.wide-only", { text: ` ${count === 1 ? "member" : "members"}${online ? ` · ${online} online` : ""}` }));
}

on("room", renderRoomHead);
on("room-meta", renderRoomHead);
on("members", renderRoomHead);
on("presence", renderRoomHead);
on("rooms", renderRoomHead);
users.addEventListener("users", renderRoomHead);
on("notice", notify);

$("#back").addEventListener("click", () => navigate(null));
$("#members-button").addEventListener("click", () => panel.openMembers());
$("#pins-button").addEventListener("click", () => panel.openPins());
$("#reports-button").addEventListener("click", () => panel.openReports());
$("#leave-room").addEventListener("click", async (e) => {
  const room = chat.room;
  const button = e.currentTarget;
  if (!room) return;
  if (!button.dataset.armed) { // a second press leaves: a private room takes an invitation to come back
    button.dataset.armed = "1";
    button.textContent = "Leave? Press again";
    setTimeout(() => { delete button.dataset.armed; button.textContent = "Leave"; }, 4000);
    return;
  }
  try {
    await chat.leaveRoom(room.id);
    navigate(null);
  } catch (err) {
    failed(err);
  }
});
$("#new-room").addEventListener("click", () => dialogs.newRoom());
$("#new-dm").addEventListener("click", () => people.newDm());
$("#me-button").addEventListener("click", () => people.status());
$("#notifications-button").addEventListener("click", () => panel.openNotifications());
$("#dnd").addEventListener("click", () => chat.setDnd(!state.dnd.enabled).catch(failed));
$("#room-level").addEventListener("change", (e) => {
  const room = chat.room;
  if (!room) return;
  state.level = e.target.value;
  chat.setNotificationLevel(room.id, state.level).then(() => notify(`Notifications for this room: ${e.target.selectedOptions[0].text.toLowerCase()}.`)).catch(failed);
});
$("#browse-rooms").addEventListener("click", () => dialogs.directory());
$("#search-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = $("#search-input").value.trim();
  if (q) panel.search(q);
});
window.addEventListener("hashchange", route);
session.addEventListener("ended", () => showAuth());

async function enter() {
  auth.hide();
  $("#boot").hidden = true;
  $("#app").hidden = false;
  for (let attempt = 0; ; attempt++) {
    try {
      await chat.start();
      break;
    } catch (err) {
      if (err instanceof AuthError) return;
      if (err.status) throw err;
      notify("Can't reach the server. Trying again…"); // not answering: it may be restarting
      await new Promise((resolve) => setTimeout(resolve, Math.min(10000, 1000 * 2 ** attempt)));
    }
  }
  sidebar.render();
  invitations.render();
  if (location.hash.startsWith("#/r/")) route();
  else {
    const first = [...state.rooms.values()].sort((a, b) => (b.last_message_id ?? 0) - (a.last_message_id ?? 0))[0];
    // On a phone the room list is the first screen; on a wider screen open the latest room.
    if (first && window.matchMedia("(min-width: 720px)").matches) navigate(first.id);
    else route();
  }
}

async function logout() {
  chat.stop();
  await session.logout();
  showAuth();
}

function showAuth() {
  chat.stop();
  $("#app").hidden = true;
  $("#boot").hidden = true;
  history.replaceState(null, "", location.pathname);
  auth.show("login");
}

if (session.signedIn) enter().catch(failed);
else {
  $("#boot").hidden = true;
  auth.show("signup");
}
