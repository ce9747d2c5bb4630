// A person's profile (pressing a name on a message or in the member list): who they are, a
// direct message, blocking (private: they are not told; their messages disappear from this
// client), and for a room's admins and owner, muting them in the open room.
import { h } from "../dom.js";
import { fullTime } from "../format.js";
import { state } from "../store.js";
import { avatar } from "./avatar.js";
import { statusBadge } from "./message.js";

const RANK = { owner: 3, admin: 2, member: 1 };
const MUTE_FOR = [[10, "10 minutes"], [60, "1 hour"], [1440, "1 day"]];

export function mountProfile({ chat, users, dialogs, navigate, notify }) {
  async function open(userId) {
    const me = userId === state.me.id;
    const p = users.get(userId);
    const presence = state.presence.get(userId) ?? "offline";
    const member = state.members.find((m) => m.user_id === userId);
    const status = users.status(userId);
    const error = h("p.form-error", { attrs: { role: "alert" } });
    const buttons = h("div.form-buttons");
    const body = [
      h("div.profile", { dataset: { userId } },
        avatar(users, userId, { presence }),
        h("div.profile-text", {},
          h("span.profile-name", {}, users.name(userId), statusBadge(users, userId)),
          h("span.muted", { text: p ? `@${p.username}` : "" }),
          h("span.muted", { text: [presence === "online" ? "Online" : "Offline", member && member.role !== "member" ? member.role : null].filter(Boolean).join(" · ") }))),
      status?.text ? h("p.profile-status", { text: [status.emoji, status.text].filter(Boolean).join(" ") }) : null,
      buttons,
      error,
    ];
    if (!me) {
      const blocked = state.blocked.has(userId);
      if (!blocked) {
        buttons.append(h("button.button.primary", { type: "button", text: "Message", on: { click: async () => {
          try {
            const roomId = await chat.openDm(userId);
            dialogs.close();
            navigate(roomId);
          } catch (err) {
            error.textContent = err.explanation ?? "Couldn't open the conversation.";
          }
        } } }));
      }
      buttons.append(h("button.button.ghost" + (blocked ? "" : ".danger"), { type: "button", text: blocked ? "Unblock" : "Block", on: { click: async (e) => {
        const button = e.currentTarget;
        button.disabled = true;
        try {
          await chat.setBlocked(userId, !blocked);
          notify(blocked ? `${users.name(userId)} is unblocked.` : `${users.name(userId)} is blocked: their messages are hidden.`);
          open(userId); // redrawn with the other button
        } catch (err) {
          error.textContent = err.explanation ?? "Couldn't change the block.";
          button.disabled = false;
        }
      } } }));
      body.splice(2, 0, h("p.muted.profile-note", { text: blocked
        ? "You blocked this person: their messages are hidden from you."
        : "Blocking hides their messages from you and stops their notifications. They are not told." }));
    }
    dialogs.open(me ? "You" : "Profile", ...body.filter(Boolean));
    const room = chat.room;
    if (!me && member && chat.canModerate && RANK[room.role] > RANK[member.role]) {
      const section = h("fieldset.moderation", {}, h("legend", { text: `In ${room.name}` }));
      dialogs.element.querySelector("#dialog-body").append(section);
      renderMute(section, room.id, userId, error);
    }
  }

  async function renderMute(section, roomId, userId, error) {
    let mute = null;
    try {
      mute = (await chat.loadMutes(roomId)).find((m) => m.user_id === userId) ?? null;
    } catch { /* not an admin any more */ return; }
    const act = (promise) => promise.then(() => renderMute(section, roomId, userId, error), (err) => { error.textContent = err.explanation ?? "Couldn't do that."; });
    const length = h("select#mute-length", {}, MUTE_FOR.map(([minutes, label]) => h("option", { value: String(minutes), text: label })));
    section.replaceChildren(section.firstChild,
      mute
        ? h("p.muted", {}, `Muted until ${fullTime(mute.until)} `, h("button.button.ghost.small", { type: "button", text: "Unmute", on: { click: () => act(chat.unmute(roomId, userId)) } }))
        : h("div.mute-row", {}, h("label", { htmlFor: "mute-length", text: "Mute for" }), length,
            h("button.button.ghost.small", { type: "button", text: "Mute", on: { click: () => act(chat.mute(roomId, userId, Number(length.value))) } })));
  }

  return { open };
}
