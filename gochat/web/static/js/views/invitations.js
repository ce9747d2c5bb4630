// Invitations: the ones waiting for the signed-in user (a sidebar section, only when there are
// some: accept opens the room, decline drops it), and inviting people to the open room (from the
// member list: a people search, then POST /rooms/:id/members).
import { $, h, clear } from "../dom.js";
import { state, on } from "../store.js";
import { personSearch } from "./people.js";

export function mountInvitations({ chat, users, navigate, dialogs, notify }) {
  const list = $("#invite-list");

  function render() {
    const invitations = state.invitations;
    list.hidden = $("#invite-title").hidden = invitations.length === 0;
    clear(list).append(...invitations.map(({ room, invited_by: by }) => {
      const name = room.name;
      const act = (button, run) => async () => {
        for (const b of button.parentElement.querySelectorAll("button")) b.disabled = true;
        try {
          await run();
        } catch (err) {
          notify(err.explanation ?? "Couldn't answer the invitation.");
          for (const b of button.parentElement.querySelectorAll("button")) b.disabled = false;
        }
      };
      const accept = h("button.button.primary.small", { type: "button", text: "Join", attrs: { "aria-label": `Join ${name}` } });
      const decline = h("button.button.ghost.small", { type: "button", text: "Decline", attrs: { "aria-label": `Decline ${name}` } });
      accept.addEventListener("click", act(accept, async () => navigate((await chat.acceptInvitation(room.id)).id)));
      decline.addEventListener("click", act(decline, () => chat.declineInvitation(room.id)));
      return h("li.invitation", { dataset: { roomId: room.id } },
        h("span.room-icon", { attrs: { "aria-hidden": "true" }, text: room.encrypted ? "🛡" : room.type === "private" ? "🔒" : "#" }),
        h("span.room-text", {}, h("span.room-name", { text: name }), h("span.room-preview", { text: `from ${users.name(by)}` })),
        h("span.invitation-actions", {}, accept, decline));
    }));
  }

  /** Whether the caller may invite to the open room: admins of a private room, any member of a
   * public one; nobody to a direct message or group (fixed membership). */
  function canInvite() {
    const room = chat.room;
    if (!room || state.dms.has(room.id) || room.type === "group") return false;
    return room.type === "public" || ["owner", "admin"].includes(room.role);
  }

  function invite() {
    const room = chat.room;
    if (!room) return;
    const members = new Set(state.members.map((m) => m.user_id));
    const inviteButton = (user, name) => {
      const already = members.has(user.id);
      // The accessible name always starts with what the button shows (axe: label-content-name-mismatch).
      const show = (text, label) => { button.textContent = text; button.setAttribute("aria-label", label); };
      const button = h("button.button" + (already ? ".ghost" : ".primary"), { type: "button", disabled: already, on: { click: async () => {
        button.disabled = true;
        try {
          const result = await chat.invite(room.id, user.id);
          if (result === "joined") show("Member", `Member: ${name}`);
          else show("Invited", `Invited ${name}`);
          button.classList.replace("primary", "ghost");
        } catch (err) {
          button.disabled = false;
          if (err.code === "blocked") show("Unavailable", `Unavailable: ${name}`);
          else show("Try again", `Try again: invite ${name}`);
        }
      } } });
      if (already) show("Member", `Member: ${name}`);
      else show("Invite", `Invite ${name}`);
      return button;
    };
    dialogs.open(`Invite to ${room.name}`, ...personSearch({ chat, users, id: "invite-q", action: inviteButton }),
      h("p.muted.panel-note", { text: "They see the invitation in their sidebar and join when they accept it." }));
  }

  on("invitations", render);
  users.addEventListener("users", render);
  window.addEventListener("focus", () => { if (state.me) chat.loadInvitations().catch(() => {}); });
  return { render, invite, canInvite };
}
