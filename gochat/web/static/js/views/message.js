// One message as an element: author, time, text (always as text), edits, files, link previews,
// reactions, the thread summary, and its actions (react, reply in thread, edit, delete).
import { h } from "../dom.js";
import { clock, fullTime, plural } from "../format.js";
import { state } from "../store.js";
import { withMentions } from "../mentions.js";
import { avatar } from "./avatar.js";
import { attachmentsElement } from "./attachments.js";
import { linkPreviewsElement } from "./link-previews.js";

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "🙏"];

// End-to-end encrypted rooms carry Megolm envelopes the server cannot read, and neither can this
// client yet (it has no Olm/Megolm implementation): it says so instead of showing ciphertext, and
// offers nothing that would have to write plaintext there (posting, editing, thread replies).
export const ENCRYPTED_TEXT = "🔒 Encrypted message: open it in a client with end-to-end encryption.";
export const isEncrypted = (roomId) => Boolean(state.rooms.get(roomId)?.encrypted);

/**
 * actions: {react(m, emoji), thread(m), edit(m), remove(m), profile(userId), report(m), pin(m)};
 * options: {continued, inThread}.
 */
export function messageElement(m, users, actions, { continued = false, inThread = false } = {}) {
  const mine = m.user_id === state.me?.id;
  const sealed = isEncrypted(m.room_id);
  const canDelete = mine || ["owner", "admin"].includes(state.rooms.get(m.room_id)?.role);
  const name = users.name(m.user_id);
  const el = h("article.message" + (continued ? ".continued" : "") + (mine ? ".mine" : "") + (m.deleted ? ".deleted" : ""), {
    tabIndex: -1,
    dataset: { id: m.id, userId: m.user_id },
    attrs: { "aria-label": `${name}, ${fullTime(m.timestamp)}` },
  });
  const gutter = continued
    ? h("span.gutter", {}, h("time.hover-time", { text: clock(m.timestamp), dateTime: m.timestamp, title: fullTime(m.timestamp) }))
    : h("span.gutter", {}, avatar(users, m.user_id, { presence: state.presence.get(m.user_id) ?? "offline" }));
  const body = h("div.message-body", {},
    continued ? null : h("header.message-head", {},
      h("button.author", { type: "button", text: name, title: "Profile", on: { click: () => actions.profile(m.user_id) } }),
      users.handle(m.user_id) ? h("span.handle", { text: users.handle(m.user_id) }) : null,
      statusBadge(users, m.user_id),
      h("time", { text: clock(m.timestamp), dateTime: m.timestamp, title: fullTime(m.timestamp) })),
    m.deleted
      ? h("p.content.tombstone", { text: "This message was deleted." })
      : sealed
        ? h("p.content.sealed", { text: ENCRYPTED_TEXT })
        : m.content || !m.attachments?.length
          ? h("p.content", {}, withMentions(m.content, m.mentions, users, state.me?.id), m.edited_at ? h("span.edited", { text: " (edited)", title: `Edited ${fullTime(m.edited_at)}` }) : null)
          : null,
    !m.deleted && m.attachments?.length ? attachmentsElement(m.attachments) : null,
    !m.deleted && !sealed && m.previews?.length ? linkPreviewsElement(m.previews) : null,
    m.deleted ? null : reactionsRow(m, actions),
    !inThread && !m.thread_root && m.reply_count ? h("button.thread-link", { type: "button", on: { click: () => actions.thread(m) } }, plural(m.reply_count, "reply", "replies"), " →") : null);
  el.append(gutter, body);
  if (!m.deleted) el.append(toolbar(m, actions, { mine, canDelete, inThread, sealed }));
  setButtonsTabbable(el, false);
  return el;
}

/** A user's status as a small emoji (its text in the tooltip and for screen readers), or null. */
export function statusBadge(users, userId) {
  const s = users.status(userId);
  if (!s) return null;
  const label = [s.emoji, s.text].filter(Boolean).join(" ");
  return h("span.status-badge", { title: label, attrs: { "aria-label": `Status: ${label}`, role: "img" }, text: s.emoji || "💬" });
}

function reactionsRow(m, actions) {
  const reactions = m.reactions ?? [];
  if (!reactions.length) return null;
  return h("div.reactions", {}, reactions.map((r) => h("button.reaction" + (r.me ? ".mine" : ""), {
    type: "button",
    attrs: { "aria-pressed": r.me ? "true" : "false", "aria-label": `${r.emoji} ${plural(r.count, "reaction")}${r.me ? ", including yours" : ""}` },
    on: { click: () => actions.react(m, r.emoji) },
  }, h("span.emoji", { text: r.emoji }), h("span.count", { text: String(r.count) }))));
}

function toolbar(m, actions, { mine, canDelete, inThread, sealed }) {
  const bar = h("div.message-actions", { attrs: { role: "group", "aria-label": "Message actions" } });
  const picker = h("div.picker", { hidden: true, attrs: { role: "group", "aria-label": "Pick a reaction" } },
    QUICK_REACTIONS.map((emoji) => h("button.icon-button", { type: "button", attrs: { "aria-label": `React with ${emoji}` }, on: { click: () => { picker.hidden = true; react.focus(); actions.react(m, emoji); } } }, emoji)));
  const react = h("button.icon-button", { type: "button", title: "Add a reaction", attrs: { "aria-label": "Add a reaction", "aria-expanded": "false" }, on: { click: () => {
    picker.hidden = !picker.hidden;
    react.setAttribute("aria-expanded", String(!picker.hidden));
    if (!picker.hidden) picker.querySelector("button").focus();
  } } }, "☺");
  bar.append(picker, react);
  if (!inThread && !m.thread_root && !sealed) bar.append(h("button.icon-button", { type: "button", title: "Reply in thread", attrs: { "aria-label": "Reply in thread" }, on: { click: () => actions.thread(m) } }, "↩"));
  if (mine && !sealed) bar.append(h("button.icon-button", { type: "button", title: "Edit", attrs: { "aria-label": "Edit message" }, on: { click: () => actions.edit(m) } }, "✎"));
  const admin = ["owner", "admin"].includes(state.rooms.get(m.room_id)?.role) && !state.dms.has(m.room_id);
  if (admin && !inThread) bar.append(h("button.icon-button", { type: "button", title: "Pin", attrs: { "aria-label": "Pin message" }, on: { click: () => actions.pin(m) } }, "📌"));
  if (!mine && !state.dms.has(m.room_id)) bar.append(h("button.icon-button", { type: "button", title: "Report", attrs: { "aria-label": "Report message" }, on: { click: () => actions.report(m) } }, "⚑"));
  if (canDelete) {
    const del = h("button.icon-button.danger", { type: "button", title: "Delete", attrs: { "aria-label": "Delete message" }, on: { click: () => {
      if (del.dataset.armed) { actions.remove(m); return; }
      del.dataset.armed = "1";
      del.textContent = "Delete?";
      del.setAttribute("aria-label", "Confirm: delete this message");
      setTimeout(() => { delete del.dataset.armed; del.textContent = "🗑"; del.setAttribute("aria-label", "Delete message"); }, 4000);
    } } }, "🗑");
    bar.append(del);
  }
  return bar;
}

/** Only the message that holds focus has its controls in the tab order (see timeline.js). The
 * author's name opens their profile on a click; from the keyboard, the member list does. */
export function setButtonsTabbable(el, tabbable) {
  for (const b of el.querySelectorAll("button:not(.author), .wave-track")) b.tabIndex = tabbable ? 0 : -1;
  for (const b of el.querySelectorAll("button.author")) b.tabIndex = -1;
}
