// The controller: loads over HTTP, applies live frames to the state, and runs the user's actions.
// Views call these methods and redraw on the bus's events; nothing here touches the DOM.
import { Live } from "./live.js";
import { state, emit, Timeline, receiptsOf, typingOf } from "./store.js";
import { randomId } from "./format.js";

const PAGE = 50;
const TYPING_SHOWN = 5000;
const TYPING_EVERY = 3000;
const READ_EVERY = 1000;
const INVITATIONS_EVERY = 15000;

export class Chat {
  constructor(api, session, users) {
    this.api = api;
    this.session = session;
    this.users = users;
    this.live = new Live(session, (frame) => this.apply(frame), () => api.get("/me"));
    this.live.addEventListener("status", () => {
      state.connection = this.live.status;
      emit("connection");
    });
    this.lastTyping = 0;
    this.refreshing = new Map(); // "room/message" -> timer: debounced re-reads of one message
    this.atBottom = true; // set by the timeline view: the newest message is on screen
    this.threadRoot = null; // the open thread's root id
    this.unsentReads = new Map(); // room_id -> newest message read, not sent yet
    this.readTimer = null;
    this.invitationsTimer = null;
    this.live.addEventListener("status", () => { if (this.live.status === "online") this.loadInvitations().catch(() => {}); });
  }

  async start() {
    state.me = await this.api.get("/me");
    this.session.setUser(state.me);
    this.users.remember(state.me);
    state.presence.set(state.me.id, "online");
    await Promise.all([this.loadRooms(), this.loadDms(), this.loadNotifications(), this.loadDnd(), this.#loadOwnProfile(), this.loadBlocks(), this.loadInvitations()]);
    // Nobody is told of an invitation over the socket (they are not in the room yet): look again
    // now and then, and whenever the window comes back.
    this.invitationsTimer = setInterval(() => this.loadInvitations().catch(() => {}), INVITATIONS_EVERY);
    this.live.start();
    for (const room of state.rooms.values()) this.live.watch(room.id, room.last_message_id);
  }

  stop() {
    this.live.stop();
    clearInterval(this.invitationsTimer);
    clearTimeout(this.readTimer);
    this.readTimer = null;
    this.unsentReads.clear();
    Object.assign(state, { me: null, current: null, timeline: null, members: [], connection: "offline" });
    state.rooms.clear();
    state.receipts.clear();
    state.typing.clear();
    state.presence.clear();
    state.dms.clear();
    Object.assign(state, { notifications: [], dnd: { enabled: false, until: null }, level: null, invitations: [] });
    state.blocked.clear();
    state.uploads.clear();
  }

  get room() {
    return state.rooms.get(state.current) ?? null;
  }

  async loadRooms() {
    const { rooms, users } = await this.api.get("/rooms");
    this.users.rememberAll(users);
    state.rooms = new Map(rooms.map((r) => [r.id, r]));
    emit("rooms");
  }

  // --- people: direct messages, notifications, statuses, do-not-disturb ------------------------

  async loadDms() {
    const { dms } = await this.api.get("/dms");
    state.dms = new Map(dms.map((d) => [d.id, d.user.id]));
    this.users.rememberAll(dms.map((d) => d.user));
    this.#loadPresence([...state.dms.values()]);
    emit("rooms");
  }

  /** GET /me answers the account; the profile (display, status) is GET /users/<own id>. */
  async #loadOwnProfile() {
    this.users.rememberOne(await this.api.get(`/users/${state.me.id}`));
  }

  searchUsers(q) {
    return this.api.get("/users/search", { q, limit: 20 });
  }

  /** Open (or create) the direct-message room with a user; its id. */
  async openDm(userId) {
    const dm = await this.api.post("/dms", { user_id: userId });
    this.users.rememberOne(dm.user);
    state.dms.set(dm.id, dm.user.id);
    if (!state.rooms.has(dm.id)) await this.#joined(dm);
    this.#loadPresence([dm.user.id]);
    emit("rooms");
    return dm.id;
  }

  async loadNotifications() {
    const page = await this.api.get("/notifications", { limit: 50 });
    this.users.rememberAll(page.users);
    state.notifications = page.notifications;
    emit("notifications");
  }

  async markNotificationRead(n) {
    if (n.read) return;
    await this.api.post(`/notifications/${n.id}/read`, {});
    n.read = true;
    await this.loadRooms(); // the room's mention count went down
    emit("notifications");
  }

  async markAllNotificationsRead() {
    await this.api.post("/notifications/read", {});
    for (const n of state.notifications) n.read = true;
    await this.loadRooms();
    emit("notifications");
  }

  async notificationLevel(roomId) {
    return (await this.api.get(`/rooms/${roomId}/notifications`)).level;
  }

  async setNotificationLevel(roomId, level) {
    await this.api.put(`/rooms/${roomId}/notifications`, { level });
    await this.loadRooms();
  }

  async loadDnd() {
    state.dnd = await this.api.get("/me/dnd");
    emit("dnd");
  }

  async setDnd(enabled) {
    state.dnd = await this.api.put("/me/dnd", { enabled });
    emit("dnd");
  }

  async setStatus(status) {
    const me = status ? await this.api.put("/me/status", status) : await this.api.delete("/me/status");
    this.users.rememberOne(me);
  }

  // --- invitations ---------------------------------------------------------------------------

  async loadInvitations() {
    const { invitations } = await this.api.get("/invitations");
    const before = JSON.stringify(state.invitations.map((i) => i.room.id));
    state.invitations = invitations;
    if (JSON.stringify(invitations.map((i) => i.room.id)) !== before) emit("invitations");
  }

  async acceptInvitation(roomId) {
    const room = await this.api.post(`/invitations/${roomId}/accept`, {});
    state.invitations = state.invitations.filter((i) => i.room.id !== roomId);
    emit("invitations");
    await this.#joined(room);
    return room;
  }

  async declineInvitation(roomId) {
    await this.api.post(`/invitations/${roomId}/decline`, {});
    state.invitations = state.invitations.filter((i) => i.room.id !== roomId);
    emit("invitations");
  }

  /** Invite someone to a room; "invited", or "joined" when they are a member already. */
  async invite(roomId, userId) {
    return (await this.api.post(`/rooms/${roomId}/members`, { user_id: userId })).state;
  }

  // --- blocking --------------------------------------------------------------------------------

  async loadBlocks() {
    const { blocks } = await this.api.get("/me/blocks");
    state.blocked = new Set(blocks.map((b) => b.user_id));
    this.users.rememberAll(Object.fromEntries(blocks.filter((b) => b.user).map((b) => [b.user_id, b.user])));
    emit("blocked");
  }

  /** Block or unblock someone. Their messages are hidden here at once; the socket opens again so
   * the server leaves their frames out too (it reads the blocks when a socket connects), and the
   * open room is read again so what was hidden comes back after an unblock. */
  async setBlocked(userId, blocked) {
    if (blocked) await this.api.put(`/users/${userId}/block`, {});
    else await this.api.delete(`/users/${userId}/block`);
    if (blocked) state.blocked.add(userId);
    else state.blocked.delete(userId);
    emit("blocked");
    this.live.reconnect();
    await Promise.all([this.loadRooms(), this.loadNotifications()]);
    if (state.current && !blocked) await this.openRoom(state.current, null, { backfill: false });
    else emit("timeline", { appended: true });
  }

  // --- moderation (room admins and owners) -----------------------------------------------------

  get canModerate() {
    return ["owner", "admin"].includes(this.room?.role) && !state.dms.has(state.current);
  }

  async loadMutes(roomId) {
    return (await this.api.get(`/rooms/${roomId}/mutes`)).mutes;
  }

  mute(roomId, userId, minutes) { return this.api.put(`/rooms/${roomId}/mutes/${userId}`, { minutes }); }
  unmute(roomId, userId) { return this.api.delete(`/rooms/${roomId}/mutes/${userId}`); }
  report(message, reason) { return this.api.post(`/rooms/${message.room_id}/messages/${message.id}/reports`, { reason }); }
  reports(roomId) { return this.api.get(`/rooms/${roomId}/reports`, { state: "open" }); }
  resolveReport(roomId, reportId, action) { return this.api.post(`/rooms/${roomId}/reports/${reportId}/resolve`, { action }); }
  pins(roomId) { return this.api.get(`/rooms/${roomId}/pins`); }
  pin(message) { return this.api.put(`/rooms/${message.room_id}/pins/${message.id}`); }
  unpin(message) { return this.api.delete(`/rooms/${message.room_id}/pins/${message.id}`); }

  // --- files and voice messages ----------------------------------------------------------------

  /** Share files (with a caption): each is uploaded on its own (`send=false`), then one message
   * carries them all through the outbox, like any message. Each upload has its client_msg_id, so a
   * retry after a failure stores nothing twice. */
  sendFiles(content, files) {
    const roomId = state.current;
    if (!roomId || !files.length) return;
    const job = { id: randomId(), roomId, content, voice: false, files: files.map((file) => ({ file, cid: randomId(), id: null })), failed: null };
    this.#runUpload(job);
  }

  /** A recorded voice message: uploaded as `kind=voice` and sent in one step (`send=true`). */
  sendVoice(blob) {
    const roomId = state.current;
    if (!roomId) return;
    const type = blob.type.split(";")[0];
    const ext = { "audio/ogg": "ogg", "audio/mp4": "m4a", "audio/mpeg": "mp3" }[type] ?? "webm";
    const file = new File([blob], `voice-message.${ext}`, { type });
    this.#runUpload({ id: randomId(), roomId, content: "", voice: true, files: [{ file, cid: randomId(), id: null }], failed: null });
  }

  retryUpload(id) {
    const job = state.uploads.get(id);
    if (job) { job.failed = null; this.#runUpload(job); }
  }

  discardUpload(id) {
    state.uploads.delete(id);
    emit("pending");
  }

  async #runUpload(job) {
    state.uploads.set(job.id, job);
    emit("pending", { sent: true });
    const total = job.files.reduce((n, p) => n + p.file.size, 0) || 1;
    let done = job.files.filter((p) => p.id).reduce((n, p) => n + p.file.size, 0);
    let shown = 0;
    const progress = (sent) => {
      job.progress = (done + sent) / total;
      if (job.progress - shown >= 0.05 || job.progress === 1) { shown = job.progress; emit("upload-progress", job); }
    };
    try {
      for (const part of job.files) {
        if (part.id) continue;
        const form = new FormData();
        form.append("client_msg_id", part.cid);
        form.append("kind", job.voice ? "voice" : "file");
        form.append("send", job.voice ? "true" : "false");
        form.append("file", part.file, part.file.name);
        part.id = (await this.api.form(`/rooms/${job.roomId}/files`, form, (f) => progress(f * part.file.size))).file.id;
        done += part.file.size;
      }
      state.uploads.delete(job.id);
      if (!job.voice) this.live.sendMessage(job.roomId, job.content, job.files.map((p) => p.id), job.id);
      emit("pending", { sent: true });
    } catch (err) {
      if (!state.uploads.has(job.id)) return; // discarded meanwhile
      job.failed = uploadRefusal(err);
      emit("pending");
    }
  }

  // --- opening a room and paging its history ----------------------------------------------------

  async openRoom(roomId, aroundId = null, { backfill = true } = {}) {
    state.current = roomId;
    const timeline = new Timeline(roomId);
    timeline.loading = true;
    const entry = state.rooms.get(roomId);
    if (entry?.unread_count) timeline.readMarker = entry.last_read_id ?? 0;
    state.timeline = timeline;
    state.members = [];
    state.level = null;
    this.atBottom = true;
    emit("room");
    const base = `/rooms/${roomId}`;
    const [detail, page, level] = await Promise.all([
      this.api.get(base),
      aroundId ? this.api.get(`${base}/messages/${aroundId}/context`, { limit: PAGE }) : this.api.get(`${base}/messages`, { limit: PAGE, hide_blocked: true }),
      this.notificationLevel(roomId).catch(() => null),
    ]);
    if (state.timeline !== timeline) return; // another room was opened meanwhile
    this.users.rememberAll({ ...detail.users, ...page.users });
    state.level = level;
    state.members = detail.members;
    if (entry) Object.assign(entry, { name: detail.name, topic: detail.topic, member_count: detail.member_count });
    for (const m of page.messages) timeline.put(m);
    timeline.hasMoreBefore = aroundId ? page.has_more_before : page.has_more;
    timeline.hasMoreAfter = aroundId ? page.has_more_after : false;
    timeline.loading = false;
    emit("timeline", { reset: true, focus: aroundId });
    emit("members");
    this.#loadPresence(detail.members.map((m) => m.user_id));
    if (backfill && timeline.first) this.live.backfillReceipts(roomId, timeline.first - 1);
  }

  closeRoom() {
    state.current = null;
    state.timeline = null;
    emit("room");
  }

  loadOlder() {
    return this.#page("before");
  }

  loadNewer() {
    return this.#page("after");
  }

  /** One more page of history: older ones ("before" the first) or newer ("after" the last). */
  async #page(direction) {
    const t = state.timeline;
    const older = direction === "before";
    if (!t || t.loading || !(older ? t.hasMoreBefore : t.hasMoreAfter)) return;
    t.loading = true;
    try {
      const page = await this.api.get(`/rooms/${t.roomId}/messages`, { [direction]: older ? t.first : t.last, limit: PAGE, hide_blocked: true });
      if (state.timeline !== t) return;
      this.users.rememberAll(page.users);
      for (const m of page.messages) t.put(m);
      if (older) t.hasMoreBefore = page.has_more;
      else t.hasMoreAfter = page.has_more;
    } finally {
      t.loading = false;
    }
    emit("timeline", older ? { prepended: true } : { appended: true });
  }

  async #loadPresence(userIds) {
    const unknown = userIds.filter((id) => !state.presence.has(id)).slice(0, 50);
    await Promise.all(unknown.map(async (id) => {
      try {
        const p = await this.api.get(`/users/${id}/presence`);
        if (!state.presence.has(id)) state.presence.set(id, p.status);
      } catch { /* not visible any more */ }
    }));
    if (unknown.length) emit("presence");
  }

  // --- the user's actions --------------------------------------------------------------------

  send(content) {
    const roomId = state.current;
    if (!roomId) return;
    this.live.sendMessage(roomId, content);
    emit("pending", { sent: true });
  }

  retry(clientMsgId) { this.live.retry(clientMsgId); emit("pending"); }
  discard(clientMsgId) { this.live.discard(clientMsgId); emit("pending"); }

  typing() {
    const now = Date.now();
    if (!state.current || now - this.lastTyping < TYPING_EVERY) return;
    this.lastTyping = now;
    this.live.send({ type: "typing", room_id: state.current });
  }

  /** Move the read marker to the newest message on screen, when the user can see it. */
  markRead() {
    const room = this.room;
    const t = state.timeline;
    if (!room || !t || t.hasMoreAfter || !this.atBottom || document.visibilityState !== "visible" || !document.hasFocus()) return;
    const newest = t.last;
    if (!newest || newest <= (room.last_read_id ?? 0)) {
      if (room.unread_count || room.mention_count) { room.unread_count = 0; room.mention_count = 0; emit("rooms"); }
      return;
    }
    room.last_read_id = newest;
    room.unread_count = 0;
    // The server reads the room's notifications with the marker.
    room.mention_count = 0;
    this.#readNotifications(room.id, newest);
    receiptsOf(room.id).set(state.me.id, newest);
    emit("rooms");
    // Each marker move is an event in the log: in a busy room, send the newest once a second.
    this.unsentReads.set(room.id, newest);
    this.readTimer ??= setTimeout(() => this.#sendReads(), READ_EVERY);
  }

  #sendReads() {
    this.readTimer = null;
    for (const [roomId, messageId] of this.unsentReads) {
      if (!this.live.send({ type: "read", room_id: roomId, message_id: messageId })) {
        this.api.post(`/rooms/${roomId}/read`, { message_id: messageId }).catch(() => {});
      }
    }
    this.unsentReads.clear();
  }

  async edit(message, content) {
    const updated = await this.api.patch(`/rooms/${message.room_id}/messages/${message.id}`, { content });
    this.#put(updated);
  }

  async remove(message) {
    await this.api.delete(`/rooms/${message.room_id}/messages/${message.id}`);
    this.#put({ ...message, deleted: true, content: "", reactions: [] });
  }

  async toggleReaction(message, emoji) {
    const mine = message.reactions?.find((r) => r.emoji === emoji)?.me;
    const path = `/rooms/${message.room_id}/messages/${message.id}/reactions/${encodeURIComponent(emoji)}`;
    this.#put(mine ? await this.api.delete(path) : await this.api.put(path));
  }

  async openThread(rootId) {
    this.threadRoot = rootId;
    const data = await this.api.get(`/rooms/${state.current}/messages/${rootId}/thread`, { limit: 100 });
    this.threadRoot = data.root.id;
    emit("thread", data);
  }

  closeThread() {
    this.threadRoot = null;
  }

  /** A thread reply goes over HTTP (the WebSocket's message frame has no thread_root); a failed
   * attempt is retried with the same client_msg_id, so it is stored once. */
  async reply(rootId, content) {
    const body = { content, client_msg_id: randomId(), thread_root: rootId };
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.api.post(`/rooms/${state.current}/messages`, body);
      } catch (err) {
        if (err.status || attempt >= 4) throw err; // refused by the server, or still offline
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      }
    }
  }

  search(q, roomId) {
    return this.api.get("/search", { q, room_id: roomId, limit: 30 });
  }

  directory(q, after) {
    return this.api.get("/rooms/directory", { q, after, limit: 50 });
  }

  async createRoom(body) {
    const room = await this.api.post("/rooms", body);
    await this.#joined(room);
    return room;
  }

  async joinRoom(roomId) {
    const room = await this.api.post(`/rooms/${roomId}/join`, {});
    await this.#joined(room);
    return room;
  }

  async leaveRoom(roomId) {
    await this.api.post(`/rooms/${roomId}/leave`, {});
    this.live.unwatch(roomId);
    state.rooms.delete(roomId);
    if (state.current === roomId) this.closeRoom();
    emit("rooms");
  }

  async #joined(room) {
    await this.loadRooms();
    this.live.watch(room.id, room.last_message_id);
  }

  // --- live frames -----------------------------------------------------------------------------

  apply(f) {
    const room = f.room_id ? state.rooms.get(f.room_id) : null;
    const open = state.timeline && state.timeline.roomId === f.room_id ? state.timeline : null;
    switch (f.type) {
      case "message": {
        const message = frameMessage(f);
        if (room) {
          room.last_message = message;
          room.last_message_id = f.id;
          if (f.user_id === state.me.id) {
            room.unread_count = 0;
            room.mention_count = 0; // posting reads the room's earlier notifications
            room.last_read_id = f.id;
            this.#readNotifications(room.id, f.id);
          } else room.unread_count = (room.unread_count ?? 0) + 1;
        }
        const receipts = receiptsOf(f.room_id);
        receipts.set(f.user_id, Math.max(receipts.get(f.user_id) ?? 0, f.id));
        typingOf(f.room_id).delete(f.user_id);
        if (open && !open.hasMoreAfter && !open.byId.has(f.id)) {
          open.put(message);
          emit("timeline", { appended: true, id: f.id });
        }
        if (f.thread_root) {
          this.#refresh(f.room_id, f.thread_root);
          emit("reply", message);
        }
        emit("rooms");
        emit("typing");
        this.markRead();
        break;
      }
      case "message_edited":
        this.#patch(f.room_id, f.message_id, { content: f.content, edited_at: f.edited_at, mentions: f.mentions ?? [] });
        break;
      case "link_preview": // all of the message's previews: fetched, or what an edit kept (docs/api.md)
        if (!f.deleted) this.#patch(f.room_id, f.message_id, { previews: f.previews });
        break;
      case "message_deleted":
        this.#patch(f.room_id, f.message_id, { content: "", deleted: true, reactions: [], previews: [] });
        if (room && f.message_id > (room.last_read_id ?? 0)) this.#debouncedRooms();
        break;
      case "reaction":
        this.#refresh(f.room_id, f.message_id);
        break;
      case "read": {
        const receipts = receiptsOf(f.room_id);
        if (f.message_id <= (receipts.get(f.user_id) ?? 0)) break;
        receipts.set(f.user_id, f.message_id);
        if (f.user_id === state.me.id && room && f.message_id > (room.last_read_id ?? 0)) {
          room.last_read_id = f.message_id; // read in another tab or device
          if (f.message_id >= (room.last_message_id ?? 0)) room.unread_count = 0;
          else this.#debouncedRooms();
          emit("rooms");
        }
        emit("receipts", f.room_id);
        break;
      }
      case "typing":
        if (f.user_id === state.me.id || this.live.isReplay(f)) break;
        typingOf(f.room_id).set(f.user_id, Date.now() + TYPING_SHOWN);
        emit("typing");
        setTimeout(() => emit("typing"), TYPING_SHOWN + 50);
        break;
      case "join":
      case "leave":
      case "invite":
      case "role":
      case "unban":
        if (f.user_id === state.me.id && f.type === "leave") {
          this.live.unwatch(f.room_id);
          state.rooms.delete(f.room_id);
          if (state.current === f.room_id) this.closeRoom();
          emit("rooms");
        } else if (f.room_id === state.current) this.#reloadMembers();
        if (room && (f.type === "join" || f.type === "leave")) this.#debouncedRooms();
        break;
      case "room_updated":
        if (room) Object.assign(room, pick(f, ["name", "topic"]));
        emit("rooms");
        if (f.room_id === state.current) emit("room-meta");
        break;
      case "user_updated":
        this.users.rememberOne(f.user);
        break;
      case "user_erased":
        this.#erased(f);
        break;
      case "notification":
        this.#notified(f.notification);
        break;
      case "presence":
        state.presence.set(f.user_id, f.status);
        emit("presence");
        break;
      case "ack":
      case "error":
        emit("pending");
        if (f.type === "error" && !f.client_msg_id) emit("notice", f.message);
        break;
      case "resync_required":
        // Too much was missed to replay: reload over HTTP (without replaying receipts again, which
        // is what may have asked for this).
        this.loadRooms().then(() => state.current && this.openRoom(state.current, null, { backfill: false }));
        break;
      default:
        break;
    }
  }

  #readNotifications(roomId, upTo) {
    const read = state.notifications.filter((n) => n.room_id === roomId && n.message_id <= upTo && !n.read);
    for (const n of read) n.read = true;
    if (read.length) emit("notifications");
  }

  /** A `notification` frame: listed first, counted on its room (a room not known yet is a new DM
   * or a room joined elsewhere: the lists are read again). */
  #notified(n) {
    this.users.rememberOne(n.actor);
    state.notifications = [n, ...state.notifications.filter((x) => x.id !== n.id)];
    const room = state.rooms.get(n.room_id);
    if (room && n.message_id <= (room.last_read_id ?? 0)) n.read = true; // read here already
    if (!room) {
      Promise.all([this.loadRooms(), this.loadDms()])
        .then(() => state.rooms.has(n.room_id) && this.live.watch(n.room_id, n.message_id - 1))
        .catch(() => {});
    } else if (!n.read && n.reason !== "message" && !(n.room_id === state.current && this.atBottom && document.hasFocus())) {
      room.mention_count = (room.mention_count ?? 0) + 1;
      emit("rooms");
    }
    emit("notifications", n);
  }

  /** `user_erased` (docs/api.md, "Erasure frames"): every message of the user in the room is a
   * tombstone now, as after `message_deleted`, and their reactions went: the room's other reactions
   * and its members are read again, their notifications, receipts, typing and presence go, and they
   * are "deleted user" from now on. */
  #erased(f) {
    this.users.forget(f.user_id);
    const gone = { content: "", deleted: true, reactions: [] };
    const t = state.timeline; // thread replies too: the open thread redraws on their `message` event
    for (const m of t?.roomId === f.room_id ? t.messages : []) {
      if (m.user_id === f.user_id) { if (!m.deleted) this.#patch(f.room_id, m.id, gone); }
      else if (m.reactions?.length) this.#refresh(f.room_id, m.id);
    }
    const room = state.rooms.get(f.room_id);
    if (room?.last_message?.user_id === f.user_id) {
      room.last_message = { ...room.last_message, ...gone };
      emit("rooms");
    }
    receiptsOf(f.room_id).delete(f.user_id); // their read markers, typing and presence went too
    typingOf(f.room_id).delete(f.user_id);
    state.presence.delete(f.user_id);
    emit("receipts", f.room_id);
    emit("typing");
    emit("presence");
    const notes = state.notifications.filter((n) => n.actor_id !== f.user_id);
    if (notes.length !== state.notifications.length) {
      state.notifications = notes;
      emit("notifications");
    }
    if (f.room_id === state.current) this.#reloadMembers();
  }

  #patch(roomId, messageId, changes) {
    const room = state.rooms.get(roomId);
    if (room?.last_message?.id === messageId) {
      room.last_message = { ...room.last_message, ...changes };
      emit("rooms");
    }
    const t = state.timeline;
    if (t?.roomId === roomId && t.byId.has(messageId)) this.#put({ ...t.byId.get(messageId), ...changes });
    else if (roomId === state.current) emit("thread-message", { id: messageId, ...changes });
  }

  #put(message) {
    const t = state.timeline;
    if (t?.roomId === message.room_id && (t.byId.has(message.id) || !t.hasMoreAfter)) {
      emit("message", t.put(message));
    } else emit("thread-message", message);
  }

  /** Read one message again (reactions, thread counters): exact whatever frames raced the load. */
  #refresh(roomId, messageId) {
    const key = `${roomId}/${messageId}`;
    clearTimeout(this.refreshing.get(key));
    this.refreshing.set(key, setTimeout(async () => {
      this.refreshing.delete(key);
      try {
        const m = await this.api.get(`/rooms/${roomId}/messages/${messageId}`);
        if (state.timeline?.roomId === roomId && state.timeline.byId.has(m.id)) emit("message", state.timeline.put(m));
        emit("thread-message", m);
      } catch { /* gone or no longer visible */ }
    }, 150));
  }

  #debouncedRooms() {
    clearTimeout(this.roomsTimer);
    this.roomsTimer = setTimeout(() => this.loadRooms().catch(() => {}), 300);
  }

  #reloadMembers() {
    clearTimeout(this.membersTimer);
    const roomId = state.current;
    this.membersTimer = setTimeout(async () => {
      try {
        const detail = await this.api.get(`/rooms/${roomId}`);
        if (state.current !== roomId) return;
        this.users.rememberAll(detail.users);
        state.members = detail.members;
        emit("members");
        this.#loadPresence(detail.members.map((m) => m.user_id));
      } catch { /* left meanwhile */ }
    }, 200);
  }
}

function frameMessage(f) {
  const m = { id: f.id, message_id: f.id, room_id: f.room_id, user_id: f.user_id, content: f.content, timestamp: f.timestamp, reactions: [] };
  if (f.client_msg_id) m.client_msg_id = f.client_msg_id;
  if (f.mentions) m.mentions = f.mentions;
  if (f.attachments) m.attachments = f.attachments;
  if (f.thread_root) m.thread_root = f.thread_root;
  else Object.assign(m, { reply_count: 0, last_reply_id: null });
  return m;
}

/** What to tell the user when an upload is refused. */
function uploadRefusal(err) {
  if (!err.status) return "Not sent: no connection.";
  if (err.code === "file_too_large") return `Too large${err.details?.max_bytes ? ` (at most ${Math.floor(err.details.max_bytes / 1048576)} MB)` : ""}.`;
  if (err.code === "quota_exceeded") return "You have used up your storage.";
  if (err.code === "rate_limited") return "Too many uploads: wait a moment.";
  if (err.code === "not_audio" || err.code === "invalid_media") return "The recording could not be read.";
  return err.explanation ?? "Upload failed.";
}

function pick(obj, keys) {
  return Object.fromEntries(keys.filter((k) => k in obj).map((k) => [k, obj[k]]));
}
