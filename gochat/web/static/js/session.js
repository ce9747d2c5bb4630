// The login session: the token pair, kept in localStorage so a reload stays signed in.
//
// A refresh token works once, and presenting a used one revokes the whole session (docs/api.md),
// so refreshes are serialized across this browser's tabs with the Web Locks API and, inside the
// lock, the stored pair is read again: a tab that lost the race uses the pair the winner stored.

const KEY = "gochat.session";
const LOCK = "gochat.refresh";
const EARLY = 60; // seconds before expiry to refresh in the background (a fifth of short lifetimes)

export class AuthError extends Error {}

export class Session extends EventTarget {
  constructor() {
    super();
    this.data = load();
    this.inflight = null;
    this.timer = null;
    window.addEventListener("storage", (e) => {
      if (e.key !== KEY) return;
      const before = this.data;
      this.data = load();
      if (before && !this.data) this.dispatchEvent(new Event("ended")); // logged out in another tab
      else this.schedule();
    });
  }

  get user() { return this.data?.user ?? null; }
  get accessToken() { return this.data?.access_token ?? null; }
  get signedIn() { return Boolean(this.data); }

  /** Store a token answer (signup, login, refresh) and plan the next refresh. */
  accept(answer) {
    const expiresAt = Date.now() + answer.expires_in * 1000;
    const refreshAt = expiresAt - Math.min(EARLY, answer.expires_in / 5) * 1000;
    this.data = { user: answer.user ?? this.data?.user, access_token: answer.access_token, refresh_token: answer.refresh_token, expires_at: expiresAt, refresh_at: refreshAt };
    localStorage.setItem(KEY, JSON.stringify(this.data));
    this.schedule();
    this.dispatchEvent(new Event("tokens"));
  }

  setUser(user) {
    if (!this.data) return;
    this.data = { ...this.data, user };
    localStorage.setItem(KEY, JSON.stringify(this.data));
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.data) return;
    const wait = Math.max(1000, (this.data.refresh_at ?? this.data.expires_at - EARLY * 1000) - Date.now());
    this.timer = setTimeout(() => this.refresh().catch(() => {}), wait);
  }

  /** One refresh at a time, in this tab and across tabs. Throws AuthError when the session is over. */
  refresh() {
    if (!this.inflight) {
      const used = this.data?.refresh_token;
      const run = () => this.#refreshLocked(used);
      this.inflight = (navigator.locks ? navigator.locks.request(LOCK, run) : run()).finally(() => { this.inflight = null; });
    }
    return this.inflight;
  }

  async #refreshLocked(used) {
    const stored = load();
    if (!stored) return this.end();
    if (stored.refresh_token !== used) { // another tab refreshed meanwhile: take its pair
      this.data = stored;
      this.schedule();
      this.dispatchEvent(new Event("tokens"));
      return;
    }
    let res;
    try {
      res = await fetch("/auth/refresh", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: used }) });
    } catch (err) {
      this.timer = setTimeout(() => this.refresh().catch(() => {}), 5000); // offline: try again soon
      throw err;
    }
    if (res.status === 401 || res.status === 422) return this.end();
    if (!res.ok) throw new Error(`refresh failed: ${res.status}`);
    this.accept(await res.json());
  }

  /** Log out: revoke the session on the server (best effort) and forget it here. */
  async logout() {
    const token = this.data?.refresh_token;
    this.forget();
    if (token) {
      await fetch("/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: token }) }).catch(() => {});
    }
  }

  forget() {
    clearTimeout(this.timer);
    this.data = null;
    localStorage.removeItem(KEY);
  }

  end() {
    this.forget();
    this.dispatchEvent(new Event("ended"));
    throw new AuthError("signed out");
  }
}

function load() {
  try {
    const data = JSON.parse(localStorage.getItem(KEY) || "null");
    return data && data.access_token && data.refresh_token ? data : null;
  } catch {
    return null;
  }
}
