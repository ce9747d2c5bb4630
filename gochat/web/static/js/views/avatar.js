// A user's avatar: initials on a colour of their own, with a presence dot.
import { h } from "../dom.js";

export function avatar(users, userId, { id, presence, size = "" } = {}) {
  const hue = users.hue(userId);
  return h("span.avatar" + (size ? `.${size}` : ""), { id, dataset: { hue }, attrs: { "aria-hidden": "true" } },
    h("span.avatar-face.hue-" + (Math.floor(hue / 30) % 12), { text: users.initials(userId) }),
    presence ? h("span.presence." + presence) : null);
}
