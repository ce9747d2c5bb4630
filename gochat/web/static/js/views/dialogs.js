// Modal dialogs (native <dialog>: focus is trapped and Escape closes): create a room, and the
// directory of public rooms.
import { $, h, clear } from "../dom.js";
import { plural } from "../format.js";
import { state } from "../store.js";

export function mountDialogs({ chat, navigate }) {
  const dialog = $("#dialog");
  const body = $("#dialog-body");

  function open(title, ...content) {
    $("#dialog-title").textContent = title;
    dialog.classList.remove("wide");
    clear(body).append(...content);
    if (!dialog.open) dialog.showModal();
    body.querySelector("input, button")?.focus();
  }

  const close = () => dialog.close();
  $("#dialog-close").addEventListener("click", close);

  function newRoom() {
    const error = h("p.form-error", { attrs: { role: "alert" } });
    const name = h("input#room-name", { required: true, maxLength: 100, autocomplete: "off" });
    const topic = h("input#room-topic-input", { maxLength: 500, autocomplete: "off" });
    const type = (value, label, hint, checked) => h("label.choice", {},
      h("input", { type: "radio", name: "room-type", value, checked }),
      h("span", {}, h("strong", { text: label }), h("span.muted", { text: hint })));
    const submit = h("button.button.primary.wide", { type: "submit", text: "Create room" });
    const form = h("form.form", { noValidate: true, on: { submit: async (e) => {
      e.preventDefault();
      if (!name.value.trim()) { error.textContent = "Give the room a name."; name.focus(); return; }
      submit.disabled = true;
      try {
        const room = await chat.createRoom({ name: name.value.trim(), topic: topic.value.trim(), type: form.querySelector("input[name=room-type]:checked").value });
        close();
        navigate(room.id);
      } catch (err) {
        error.textContent = err.explanation ?? "Couldn't create the room.";
      } finally {
        submit.disabled = false;
      }
    } } },
      h("label", { htmlFor: "room-name", text: "Name" }), name,
      h("label", { htmlFor: "room-topic-input" }, "Topic ", h("span.muted", { text: "(optional)" })), topic,
      h("fieldset.choices", {}, h("legend", { text: "Who can join" }),
        type("public", "Public", "Anyone can find it and join.", true),
        type("private", "Private", "Only people who are invited.", false)),
      error, submit);
    open("New room", form);
  }

  function directory() {
    const input = h("input#directory-q", { type: "search", placeholder: "Filter by name", autocomplete: "off" });
    const list = h("ul.directory");
    const more = h("button.button.ghost.wide", { type: "button", hidden: true, text: "More rooms" });
    let next = null;
    let seq = 0;

    async function load(reset) {
      const mine = ++seq;
      try {
        const page = await chat.directory(input.value.trim(), reset ? null : next);
        if (mine !== seq) return;
        if (reset) clear(list);
        next = page.next;
        more.hidden = !next;
        if (reset && !page.rooms.length) list.append(h("li.muted.panel-note", { text: "No public rooms match." }));
        for (const room of page.rooms) list.append(entry(room));
      } catch (err) {
        clear(list).append(h("li.form-error", { text: err.explanation ?? "Couldn't load the rooms." }));
      }
    }

    function entry(room) {
      const joined = state.rooms.has(room.id);
      const button = h("button.button" + (joined ? ".ghost" : ".primary"), { type: "button", text: joined ? "Open" : "Join", attrs: { "aria-label": `${joined ? "Open" : "Join"} ${room.name}` }, on: { click: async () => {
        button.disabled = true;
        try {
          if (!joined) await chat.joinRoom(room.id);
          close();
          navigate(room.id);
        } catch (err) {
          button.disabled = false;
          button.textContent = err.code === "banned" ? "Banned" : "Try again";
        }
      } } });
      return h("li.directory-room", {},
        h("span.room-icon", { attrs: { "aria-hidden": "true" }, text: "#" }),
        h("span.directory-text", {}, h("span.directory-name", { text: room.name }), h("span.muted", { text: [plural(room.member_count, "member"), room.topic].filter(Boolean).join(" · ") })),
        button);
    }

    let timer = null;
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => load(true), 200); });
    more.addEventListener("click", () => load(false));
    open("Public rooms", h("label.visually-hidden", { htmlFor: "directory-q", text: "Filter rooms by name" }), input, list, more);
    load(true);
  }

  return { newRoom, directory, open, close, element: dialog };
}
