// The HTTP API: JSON in and out, errors as ApiError with PROTOCOL.md's code, and the access
// token refreshed once (then the request retried) when the server says it expired.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** The first field message of a 422, or the message itself: what a form shows. */
  get explanation() {
    const fields = this.details && typeof this.details === "object" ? Object.values(this.details).flat() : [];
    return fields.length ? String(fields[0]) : this.message;
  }
}

export class Api {
  constructor(session) {
    this.session = session;
  }

  get(path, query) {
    return this.request("GET", withQuery(path, query));
  }
  post(path, body = {}) { return this.request("POST", path, body); }
  patch(path, body) { return this.request("PATCH", path, body); }
  put(path, body) { return this.request("PUT", path, body); }
  delete(path) { return this.request("DELETE", path); }

  /** Unauthenticated calls (/auth/*). */
  async publicPost(path, body) {
    return parse(await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }));
  }

  /** A multipart upload (FormData; the browser sets the boundary). XMLHttpRequest rather than
   * fetch: it tells how much was sent, `onProgress(fraction)`. */
  async form(path, formData, onProgress = () => {}, retried = false) {
    const xhr = await new Promise((resolve, reject) => {
      const req = new XMLHttpRequest();
      req.open("POST", path);
      req.setRequestHeader("Authorization", `Bearer ${this.session.accessToken}`);
      req.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
      req.addEventListener("load", () => resolve(req));
      req.addEventListener("error", () => reject(new TypeError("network error")));
      req.addEventListener("abort", () => reject(new TypeError("aborted")));
      req.send(formData);
    });
    if (xhr.status === 401 && !retried) {
      await this.session.refresh();
      return this.form(path, formData, onProgress, true);
    }
    let data = null;
    try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status < 200 || xhr.status >= 300) {
      const err = data?.error ?? {};
      throw new ApiError(xhr.status, err.code, err.message, err.details);
    }
    return data;
  }

  /** A file's bytes (downloads need the Authorization header, which an <img src> cannot send). */
  async blob(path, retried = false) {
    const res = await fetch(path, { headers: { Authorization: `Bearer ${this.session.accessToken}` } });
    if (res.status === 401 && !retried) {
      await this.session.refresh();
      return this.blob(path, true);
    }
    if (!res.ok) await parse(res); // throws the ApiError
    return res.blob();
  }

  async request(method, path, body, retried = false) {
    const headers = { Authorization: `Bearer ${this.session.accessToken}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 401 && !retried) {
      await this.session.refresh(); // throws AuthError when the session is over
      return this.request(method, path, body, true);
    }
    return parse(res);
  }
}

async function parse(res) {
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = data?.error ?? {};
    throw new ApiError(res.status, err.code, err.message, err.details);
  }
  return data;
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}
