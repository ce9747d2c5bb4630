// The client's state, and a bus views listen to. Only the controller (chat.js) changes state.

export const bus = new EventTarget();
export const emit = (name, detail) => bus.dispatchEvent(new CustomEvent(name, { detail }));
export const on = (name, fn) => bus.addEventListener(name, (e) => fn(e.detail));

export const state = {
  me: null,
  rooms: new Map(), // room_id -> GET /rooms entry (unread_count, last_message, role...)
  current: null, // the open room's id
  timeline: null, // the open room's loaded window of messages (Timeline)
  members: [], // the open room's members [{user_id, role, joined_at}]
  receipts: new Map(), // room_id -> Map(user_id -> last read message id)
  typing: new Map(), // room_id -> Map(user_id -> expiry time)
  presence: new Map(), // user_id -> "online" | "offline"
  connection: "offline",
  dms: new Map(), // room_id of a direct message -> the other person's user_id
  notifications: [], // GET /notifications, newest first, then `notification` frames
  dnd: { enabled: false, until: null },
  level: null, // the open room's notification level
  invitations: [], // GET /invitations: [{room, invited_by, invited_at}]
  blocked: new Set(), // ids of the users the signed-in user blocked (GET /me/blocks)
  uploads: new Map(), // client id -> an upload being sent (chat.js: sendFiles, sendVoice)
};

/** Whether a message is hidden: its author is blocked (docs/api.md, Blocking). */
export const hiddenAuthor = (m) => state.blocked.has(m.user_id);

/** A contiguous window of a room's history, ascending by id. */
export class Timeline {
  constructor(roomId) {
    this.roomId = roomId;
    this.byId = new Map();
    this.hasMoreBefore = false;
    this.hasMoreAfter = false; // true when the window does not reach the newest message
    this.loading = false;
    this.readMarker = null; // the read marker when the room was opened with unread messages: "New" goes after it
  }

  get ids() {
    return [...this.byId.keys()].sort((a, b) => a - b);
  }

  get messages() {
    return this.ids.map((id) => this.byId.get(id));
  }

  get first() { return this.ids[0]; }
  get last() { const ids = this.ids; return ids[ids.length - 1]; }

  /** Merge a message from any source: a tombstone stays one, a later edit wins over an older copy. */
  put(m) {
    const old = this.byId.get(m.id);
    const newer = (a, b) => Date.parse(a || 0) > Date.parse(b || 0);
    if (old && !m.deleted && (old.deleted || newer(old.edited_at, m.edited_at))) {
      // the previews follow the text (docs/api.md, Link previews): an older copy's are older too
      this.byId.set(m.id, { ...m, content: old.content, edited_at: old.edited_at, deleted: old.deleted, previews: old.previews });
    } else {
      this.byId.set(m.id, old ? { ...old, ...m } : m);
    }
    return this.byId.get(m.id);
  }
}

export function receiptsOf(roomId) {
  if (!state.receipts.has(roomId)) state.receipts.set(roomId, new Map());
  return state.receipts.get(roomId);
}

export function typingOf(roomId) {
  if (!state.typing.has(roomId)) state.typing.set(roomId, new Map());
  return state.typing.get(roomId);
}

/** A room's name as shown: a direct message is named after the other person. */
export function roomName(room, users) {
  const other = state.dms.get(room.id);
  return other ? users.name(other) : room.name;
}
