// People: the user search that starts a direct message, and the signed-in user's status. Both are
// dialogs in the shared <dialog> (see dialogs.js's `open`).
import { h, clear } from "../dom.js";
import { state } from "../store.js";
import { avatar } from "./avatar.js";
import { statusBadge } from "./message.js";

/**
 * A people search for a dialog (GET /users/search, as you type): the label, the box and the
 * results, each person with the button `action(user, name)` makes (Message, Invite...).
 */
export function personSearch({ chat, users, id, action }) {
  const input = h(`input#${id}`, { type: "search", placeholder: "Name or @username", autocomplete: "off", spellcheck: false });
  const list = h("ul.directory.people");
  let seq = 0;
  let timer = null;

  async function load() {
    const q = input.value.trim();
    const mine = ++seq;
    if (!q) { clear(list); return; }
    try {
      const { results } = await chat.searchUsers(q);
      if (mine !== seq) return;
      clear(list);
      const others = results.filter((u) => u.id !== state.me.id);
      if (!others.length) list.append(h("li.muted.panel-note", { text: "Nobody found. You can find people who share a room with you or are in a public room." }));
      for (const user of others) {
        users.remember(user);
        const name = users.name(user.id);
        list.append(h("li.directory-room.person", { dataset: { userId: user.id } },
          avatar(users, user.id, { presence: state.presence.get(user.id) }),
          h("span.directory-text", {}, h("span.directory-name", {}, name, statusBadge(users, user.id)), h("span.muted", { text: `@${user.username}` })),
          action(user, name)));
      }
    } catch (err) {
      clear(list).append(h("li.form-error", { text: err.explanation ?? "Couldn't search." }));
    }
  }

  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(load, 200); });
  return [h("label", { htmlFor: id, text: "Find someone" }), input, list];
}

export function mountPeople({ chat, users, navigate, dialogs }) {
  function newDm() {
    const message = (user, name) => {
      const button = h("button.button.primary", { type: "button", text: "Message", attrs: { "aria-label": `Message ${name}` }, on: { click: async () => {
        button.disabled = true;
        try {
          const roomId = await chat.openDm(user.id);
          dialogs.close();
          navigate(roomId);
        } catch (err) {
          button.disabled = false;
          button.textContent = err.code === "blocked" ? "Unavailable" : "Try again";
          button.setAttribute("aria-label", `${button.textContent}: message ${name}`); // starts with what it shows
        }
      } } });
      return button;
    };
    dialogs.open("New message", ...personSearch({ chat, users, id: "people-q", action: message }));
  }

  function status() {
    const current = users.status(state.me.id);
    const error = h("p.form-error", { attrs: { role: "alert" } });
    const emoji = h("input#status-emoji", { maxLength: 16, autocomplete: "off", value: current?.emoji ?? "", placeholder: "💬" });
    const text = h("input#status-text", { maxLength: 100, autocomplete: "off", value: current?.text ?? "", placeholder: "What are you up to?" });
    const save = h("button.button.primary", { type: "submit", text: "Save status" });
    const clearButton = h("button.button.ghost", { type: "button", text: "Clear status", hidden: !current, on: { click: () => run(null) } });

    async function run(body) {
      try {
        await chat.setStatus(body);
        dialogs.close();
      } catch (err) {
        error.textContent = err.explanation ?? "Couldn't set the status.";
      }
    }

    const form = h("form.form", { noValidate: true, on: { submit: (e) => {
      e.preventDefault();
      const body = { text: text.value.trim(), emoji: emoji.value.trim() || null };
      run(body.text || body.emoji ? body : null);
    } } },
      h("label", { htmlFor: "status-emoji", text: "Emoji" }), emoji,
      h("label", { htmlFor: "status-text", text: "Status" }), text,
      error, h("div.form-buttons", {}, save, clearButton));
    dialogs.open("Your status", form);
  }

  return { newDm, status };
}
