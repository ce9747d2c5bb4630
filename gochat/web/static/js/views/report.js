// Reporting a message to the room's admins (POST .../reports): a reason, then a thank-you.
import { h } from "../dom.js";

export function mountReport({ chat, dialogs, notify }) {
  function open(m) {
    const error = h("p.form-error", { attrs: { role: "alert" } });
    const reason = h("textarea#report-reason", { rows: 3, maxLength: 500, required: true, placeholder: "Spam, abuse, off topic…" });
    const submit = h("button.button.primary", { type: "submit", text: "Report" });
    const form = h("form.form", { noValidate: true, on: { submit: async (e) => {
      e.preventDefault();
      const text = reason.value.trim();
      if (!text) { error.textContent = "Say what is wrong with it."; reason.focus(); return; }
      submit.disabled = true;
      try {
        await chat.report(m, text);
        dialogs.close();
        notify("Reported: the room's admins will look at it.");
      } catch (err) {
        error.textContent = err.explanation ?? "Couldn't send the report.";
      } finally {
        submit.disabled = false;
      }
    } } },
      h("p.muted", { text: "Only the room's admins see reports." }),
      h("label", { htmlFor: "report-reason", text: "What is wrong with this message?" }), reason, error,
      h("div.form-buttons", {}, submit));
    dialogs.open("Report a message", form);
    reason.focus();
  }
  return { open };
}
