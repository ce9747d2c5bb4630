// Mentions in message text: the server's `mentions` entities (code-point offsets into the stored
// content) become highlighted spans, built as text like everything else; the rest is linkified.
import { h } from "./dom.js";
import { linkified } from "./linkify.js";

/** `content` as nodes, with each mention a `span.mention` (`.to-me` when it names the reader). */
export function withMentions(content, mentions, users, meId) {
  if (!mentions?.length) return linkified(content);
  const points = Array.from(content); // offsets count code points, not UTF-16 units
  const nodes = [];
  let at = 0;
  for (const m of [...mentions].sort((a, b) => a.offset - b.offset)) {
    if (m.offset < at || m.offset + m.length > points.length) continue; // overlapping or stale: leave as text
    if (m.offset > at) nodes.push(...linkified(points.slice(at, m.offset).join("")));
    const text = points.slice(m.offset, m.offset + m.length).join("");
    const me = m.kind !== "user" || m.user_id === meId;
    nodes.push(h("span.mention" + (me ? ".to-me" : ""), {
      text,
      title: m.kind === "user" ? users.name(m.user_id) : m.kind === "room" ? "Everyone in the room" : "Everyone online",
    }));
    at = m.offset + m.length;
  }
  if (at < points.length) nodes.push(...linkified(points.slice(at).join("")));
  return nodes;
}
