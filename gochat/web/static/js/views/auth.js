// The sign-up / log-in screen.
import { $ } from "../dom.js";

export function mountAuth({ api, session, onSignedIn }) {
  const form = $("#auth-form");
  const error = $("#auth-error");
  const submit = $("#auth-submit");
  let mode = "login";

  function setMode(next) {
    mode = next;
    const signup = mode === "signup";
    $("#auth-title").textContent = signup ? "Create your account" : "Welcome back";
    $("#auth-lead").textContent = signup ? "Pick a username and a password of at least 8 characters." : "Log in to pick up where you left off.";
    $("#auth-display-field").hidden = !signup;
    $("#auth-password").autocomplete = signup ? "new-password" : "current-password";
    submit.textContent = signup ? "Sign up" : "Log in";
    $("#auth-switch-text").textContent = signup ? "Already have an account?" : "New here?";
    $("#auth-switch").textContent = signup ? "Log in" : "Create an account";
    error.textContent = "";
  }

  $("#auth-switch").addEventListener("click", () => {
    setMode(mode === "login" ? "signup" : "login");
    $("#auth-username").focus();
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const username = $("#auth-username").value.trim();
    const password = $("#auth-password").value;
    if (!username || !password) {
      error.textContent = "Enter a username and a password.";
      return;
    }
    const body = { username, password };
    const display = $("#auth-display").value.trim();
    if (mode === "signup" && display) body.display_name = display;
    submit.disabled = true;
    error.textContent = "";
    try {
      const answer = await api.publicPost(mode === "signup" ? "/auth/signup" : "/auth/login", body);
      session.accept(answer);
      $("#auth-password").value = "";
      await onSignedIn();
    } catch (err) {
      error.textContent = explain(err, mode);
    } finally {
      submit.disabled = false;
    }
  });

  return {
    show(initialMode = "login") {
      setMode(initialMode);
      $("#auth").hidden = false;
      $("#auth-username").focus();
    },
    hide() { $("#auth").hidden = true; },
  };
}

function explain(err, mode) {
  if (err.code === "invalid_credentials") return "That username and password don't match.";
  if (err.code === "username_taken") return "That username is taken. Try another one.";
  if (err.code === "rate_limited") return "Too many attempts. Wait a minute and try again.";
  if (err.status === 422 && err.details) {
    const [field, msgs] = Object.entries(err.details)[0];
    return `${field.replace("_", " ")}: ${[].concat(msgs)[0]}`;
  }
  if (!err.status) return "Can't reach the server. Check your connection.";
  return err.message || (mode === "signup" ? "Sign up failed." : "Log in failed.");
}
