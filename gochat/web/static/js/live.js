// The WebSocket: one connection for every room the user is in, kept alive across network drops
// and server restarts.
//
// - Resume: the highest event id seen per room is its cursor; on reconnect each room is joined
//   again with `since` = its cursor, and the server replays what was missed, in order.
// - Dedupe: a room event whose id is not above its room's cursor was seen already and is dropped,
//   so a replay overlapping live delivery never doubles anything.
// - Sending: each message has a client_msg_id and stays in the outbox until its `ack`; every
//   reconnect sends the outbox again, and the server stores a retried message once.
import { randomId } from "./format.js";

const ACK_TIMEOUT = 8000;
const MAX_BACKOFF = 5000;
// The server takes 30 frames at once, then 10 a second, per socket (docs/api.md): stay under it,
// so joining many rooms after a reconnect queues instead of being refused.
const BURST = 25;
const PER_SECOND = 8;

export class Live extends EventTarget {
  /** `checkAuth()` is an authenticated request that refreshes the token if the server says so. */
  constructor(session, onFrame, checkAuth) {
    super();
    this.session = session;
    this.checkAuth = checkAuth;
    this.onFrame = onFrame;
    this.ws = null;
    this.rooms = new Set();
    this.cursors = new Map(); // room_id -> highest event id applied
    this.heads = new Map(); // room_id -> the log head when the room was (re)subscribed
    this.outbox = new Map(); // client_msg_id -> {frame, sentAt, failed}
    this.status = "offline";
    this.attempt = 0;
    this.stopped = true;
    this.reconnectTimer = null;
    this.queue = [];
    this.tokens = BURST;
    this.refilled = 0;
    this.drainTimer = null;
    this.ackTimer = setInterval(() => this.#resendStale(), 2000);
    window.addEventListener("online", () => this.#reconnectNow());
  }

  start() {
    this.stopped = false;
    this.#connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.ws?.close(1000);
    this.ws = null;
    this.rooms.clear();
    this.cursors.clear();
    this.outbox.clear();
    this.#setStatus("offline");
  }

  /** Subscribe to a room (also after a reconnect). `since` seeds its cursor when it has none. */
  watch(roomId, since) {
    if (since && !this.cursors.has(roomId)) this.cursors.set(roomId, since);
    this.rooms.add(roomId);
    this.#join(roomId);
  }

  /** Replay a room's read receipts from `since` on (older than its cursor): leave and join again
   * with that `since`. Only `read` frames of the replay are passed on (a receipt only moves forward,
   * so applying one twice changes nothing); everything else at or below the cursor was seen. */
  backfillReceipts(roomId, since) {
    if (!this.rooms.has(roomId) || this.ws?.readyState !== WebSocket.OPEN) return;
    this.send({ type: "leave", room_id: roomId });
    this.send({ type: "join", room_id: roomId, since: Math.max(0, since) });
  }

  unwatch(roomId) {
    this.rooms.delete(roomId);
    this.cursors.delete(roomId);
    this.send({ type: "leave", room_id: roomId });
  }

  /** Whether an event of this room was replayed history (not something happening now). */
  isReplay(frame) {
    return frame.id !== undefined && frame.id <= (this.heads.get(frame.room_id) ?? 0);
  }

  /** Queue a frame for this connection (paced under the server's rate limit); false if offline. */
  send(frame) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.queue.push(frame);
    this.#drain();
    return true;
  }

  #drain() {
    const now = performance.now();
    this.tokens = Math.min(BURST, this.tokens + ((now - this.refilled) / 1000) * PER_SECOND);
    this.refilled = now;
    while (this.queue.length && this.tokens >= 1 && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(this.queue.shift()));
      this.tokens -= 1;
    }
    if (this.queue.length && !this.drainTimer) {
      this.drainTimer = setTimeout(() => { this.drainTimer = null; this.#drain(); }, 1000 / PER_SECOND);
    }
  }

  /** Post a message (with the ids of files uploaded for it); it is sent now if connected, else on
   * the next connection. */
  sendMessage(roomId, content, attachments = [], clientMsgId = randomId()) {
    const frame = { type: "message", room_id: roomId, content, client_msg_id: clientMsgId };
    if (attachments.length) frame.attachments = attachments;
    this.outbox.set(clientMsgId, { frame, sentAt: 0, failed: false });
    this.#transmit(clientMsgId);
    return clientMsgId;
  }

  retry(clientMsgId) {
    const entry = this.outbox.get(clientMsgId);
    if (!entry) return;
    entry.failed = false;
    this.#transmit(clientMsgId);
  }

  discard(clientMsgId) {
    this.outbox.delete(clientMsgId);
  }

  pending(roomId) {
    return [...this.outbox.entries()].filter(([, e]) => e.frame.room_id === roomId).map(([id, e]) => ({ clientMsgId: id, content: e.frame.content, files: e.frame.attachments?.length ?? 0, failed: e.failed, reason: e.reason }));
  }

  #transmit(clientMsgId) {
    const entry = this.outbox.get(clientMsgId);
    if (entry && !entry.failed && this.send(entry.frame)) entry.sentAt = Date.now();
  }

  #resendStale() {
    const now = Date.now();
    for (const [id, entry] of this.outbox) if (!entry.failed && entry.sentAt && now - entry.sentAt > ACK_TIMEOUT) this.#transmit(id);
  }

  #join(roomId) {
    const since = this.cursors.get(roomId);
    this.send(since ? { type: "join", room_id: roomId, since } : { type: "join", room_id: roomId });
  }

  #connect() {
    if (this.stopped || !this.session.accessToken) return;
    if (Date.now() > this.session.data.expires_at - 5000) { // asleep past the refresh timer
      this.session.refresh().then(() => this.#connect(), () => this.#scheduleReconnect());
      return;
    }
    this.#setStatus(this.attempt ? "reconnecting" : "connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(this.session.accessToken)}&hide_blocked=true`);
    this.ws = ws;
    let opened = false;
    ws.addEventListener("open", () => {
      opened = true;
      this.attempt = 0;
      for (const room of this.rooms) this.#join(room);
      for (const id of this.outbox.keys()) this.#transmit(id);
      this.#setStatus("online");
    });
    ws.addEventListener("message", (ev) => { if (this.ws === ws) this.#receive(JSON.parse(ev.data)); }); // not a socket being replaced
    ws.addEventListener("close", (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.queue = []; // joins and the outbox are sent again on the next connection
      this.#setStatus("offline");
      if (this.stopped) return;
      if (ev.code === 4401) {
        // The token expired (or the session was revoked): refresh, then resume at once.
        this.session.refresh().then(() => this.#reconnectNow(), () => this.#scheduleReconnect());
        return;
      }
      if (!opened) {
        // Refused before the upgrade (a browser is not told why): a stale token is one reason, so
        // ask over HTTP, which refreshes it if so; a server that is down just fails this too.
        this.checkAuth().catch(() => {}).finally(() => this.#scheduleReconnect());
        return;
      }
      this.#scheduleReconnect();
    });
  }

  #scheduleReconnect() {
    clearTimeout(this.reconnectTimer);
    const delay = Math.min(MAX_BACKOFF, 250 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  /** Close and open the socket again at once (what it asks the server for changed: blocks),
   * resuming every room from its cursor. */
  reconnect() {
    const ws = this.ws;
    if (!ws) { this.#reconnectNow(); return; }
    this.ws = null;
    this.queue = [];
    ws.close(1000);
    this.#connect();
  }

  #reconnectNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.reconnectTimer);
    this.#connect();
  }

  #receive(frame) {
    switch (frame.type) {
      case "unsubscribed":
        return; // our own leave before a backfill, or after leaving the room
      case "subscribed":
        this.heads.set(frame.room_id, frame.head);
        if (!this.cursors.has(frame.room_id)) this.cursors.set(frame.room_id, frame.head);
        break;
      case "ack":
        this.outbox.delete(frame.client_msg_id);
        break;
      case "error":
        if (frame.client_msg_id && this.outbox.has(frame.client_msg_id)) {
          const entry = this.outbox.get(frame.client_msg_id);
          if (frame.code === "rate_limited") setTimeout(() => this.#transmit(frame.client_msg_id), (frame.retry_after || 1) * 1000);
          else Object.assign(entry, { failed: true, reason: frame.message });
        }
        break;
      case "resync_required":
        for (const room of frame.room_ids) this.cursors.set(room, frame.id);
        break;
      default:
        if (frame.id !== undefined && frame.room_id) {
          if (frame.id <= (this.cursors.get(frame.room_id) ?? 0)) {
            if (frame.type === "read") this.onFrame(frame); // receipts are idempotent (backfillReceipts)
            return; // seen already
          }
          this.cursors.set(frame.room_id, frame.id);
        }
    }
    this.onFrame(frame);
  }

  #setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.dispatchEvent(new Event("status"));
  }
}
