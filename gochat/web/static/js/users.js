// Who is who: names and avatar colours for user ids.
//
// Messages and member lists carry only user ids. PROTOCOL.md's `GET /users/:id` turns one into a
// profile; until the server has that route (it answers 404 for every id), people other than the
// signed-in user are shown by a short form of their id. Nothing else in the client changes when
// the route lands: names appear as profiles arrive ("users" event).

export class Users extends EventTarget {
  constructor(api) {
    super();
    this.api = api;
    this.profiles = new Map();
    this.asked = new Set();
    this.routeMissing = false;
  }

  remember(user) {
    if (!user?.id) return;
    this.profiles.set(user.id, user);
  }

  name(userId) {
    const p = this.profiles.get(userId);
    if (p) return p.display_name || p.username;
    this.#fetch(userId);
    return `user ${String(userId).slice(0, 6)}`;
  }

  /** The username when it differs from the display name (so a copied display name cannot pass). */
  handle(userId) {
    const p = this.profiles.get(userId);
    return p && p.username !== p.display_name ? `@${p.username}` : "";
  }

  initials(userId) {
    const words = this.name(userId).replace(/^user /, "").split(/\s+/).filter(Boolean);
    return [...words.slice(0, 2).map((w) => [...w][0])].join("").toUpperCase() || "?";
  }

  /** A stable hue per user, for avatars. */
  hue(userId) {
    let n = 0;
    for (const ch of String(userId)) n = (n * 31 + ch.charCodeAt(0)) % 360;
    return n;
  }

  async #fetch(userId) {
    if (this.routeMissing || this.asked.has(userId)) return;
    this.asked.add(userId);
    try {
      this.remember(await this.api.get(`/users/${encodeURIComponent(userId)}`));
      this.dispatchEvent(new Event("users"));
    } catch (err) {
      if (err.status === 404 || err.status === 405) this.routeMissing = true;
    }
  }
}
