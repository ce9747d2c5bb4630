// Who is who: names, statuses and avatar colours for user ids.
//
// Answers that list messages or members carry a `users` map (docs/api.md, People): those fill the
// cache. An id nobody described yet is asked for with the others of the same moment in one
// `GET /users?ids=` (at most 100 a request); an id the server leaves out is an erased user.
// `user_updated` frames replace a profile; a `user_erased` frame forgets one. Names are always the
// server's `display`, which carries the real username beside a display name that copies someone
// else's.

const BATCH = 100;

export class Users extends EventTarget {
  constructor(api) {
    super();
    this.api = api;
    this.profiles = new Map();
    this.gone = new Set(); // ids the server did not describe: erased users
    this.wanted = new Set(); // ids to ask for in the next batch
    this.asked = new Set();
    this.flushing = null;
    // No frame says a status expired (docs/api.md): look once a minute and redraw when one did.
    setInterval(() => { if (this.#expiredSince(Date.now() - 60000)) this.changed(); }, 60000);
  }

  #expiredSince(since) {
    for (const p of this.profiles.values()) {
      const at = Date.parse(p.status?.expires_at ?? "");
      if (at > since && at <= Date.now()) return true;
    }
    return false;
  }

  /** Keep a profile; true when it is new or differs from the one kept. */
  remember(user) {
    if (!user?.id) return false;
    const old = this.profiles.get(user.id);
    this.profiles.set(user.id, user);
    return !old || JSON.stringify(old) !== JSON.stringify(user);
  }

  /** Fill the cache from an answer's `users` map (or one user) and tell the views when something
   * changed: they redraw every name, which must not happen for nothing. */
  rememberAll(map) {
    let changed = false;
    for (const user of Object.values(map ?? {})) changed = this.remember(user) || changed;
    if (changed) this.changed();
  }

  rememberOne(user) {
    if (this.remember(user)) this.changed();
  }

  /** An erased user (a `user_erased` frame): named "deleted user" from now on, never asked for. */
  forget(userId) {
    if (this.gone.has(userId)) return;
    this.profiles.delete(userId);
    this.gone.add(userId);
    this.asked.add(userId);
    this.changed();
  }

  changed() {
    this.dispatchEvent(new Event("users"));
  }

  get(userId) {
    const p = this.profiles.get(userId);
    if (!p) this.#want(userId);
    return p ?? null;
  }

  name(userId) {
    const p = this.get(userId);
    if (p) return p.display || p.display_name || p.username;
    return this.gone.has(userId) ? "deleted user" : `user ${String(userId).slice(0, 6)}`;
  }

  /** The username when the name shown does not already carry it. */
  handle(userId) {
    const p = this.profiles.get(userId);
    return p && !p.name_collision && p.username !== p.display_name ? `@${p.username}` : "";
  }

  /** The user's status, or null when none is set or it has expired. */
  status(userId) {
    const s = this.profiles.get(userId)?.status;
    if (!s || (!s.text && !s.emoji)) return null;
    if (s.expires_at && Date.parse(s.expires_at) <= Date.now()) return null;
    return s;
  }

  initials(userId) {
    const p = this.profiles.get(userId);
    const base = p ? p.display_name || p.username : this.name(userId).replace(/^user /, "");
    const words = base.split(/\s+/).filter(Boolean);
    return [...words.slice(0, 2).map((w) => [...w][0])].join("").toUpperCase() || "?";
  }

  /** A stable hue per user, for avatars. */
  hue(userId) {
    let n = 0;
    for (const ch of String(userId)) n = (n * 31 + ch.charCodeAt(0)) % 360;
    return n;
  }

  #want(userId) {
    if (!userId || this.asked.has(userId)) return;
    this.asked.add(userId);
    this.wanted.add(userId);
    // Everything rendered in this turn of the event loop goes in one request.
    this.flushing ??= setTimeout(() => this.#flush(), 0);
  }

  async #flush() {
    this.flushing = null;
    const ids = [...this.wanted];
    this.wanted.clear();
    for (let i = 0; i < ids.length; i += BATCH) {
      const chunk = ids.slice(i, i + BATCH);
      try {
        const { users } = await this.api.get("/users", { ids: chunk.join(",") });
        for (const id of chunk) if (!users[id]) this.gone.add(id);
        this.rememberAll(users);
      } catch {
        for (const id of chunk) this.asked.delete(id); // ask again next time it is shown
        continue;
      }
      if (chunk.some((id) => this.gone.has(id))) this.changed();
    }
  }
}
