// Sign-in: paste a bearer token. On the local stack `fleetray console` prints a link that signs
// in by itself. The token is kept in this tab's sessionStorage only.
import { session } from "../api.js";
import { h } from "../dom.js";

export function signInView(main) {
  const notice = session.takeNotice();
  const problem = h("p", { id: "token-problem", class: "message error", role: "alert", hidden: true });
  const input = h("textarea", { id: "token", name: "token", rows: "4", cols: "60", required: true,
    autocomplete: "off", spellcheck: "false", "aria-describedby": "token-help token-problem" });
  const form = h("form", {
    onsubmit: (event) => {
      event.preventDefault();
      try {
        session.signIn(input.value);
      } catch (error) {
        problem.textContent = `This token cannot be used: ${error.message}.`;
        problem.hidden = false;
        input.focus();
      }
    },
  },
  h("label", { for: "token" }, "Bearer token"),
  h("p", { id: "token-help" }, "Paste the token your identity provider issued, or run ",
    h("code", {}, "fleetray console"), " on the local stack for a sign-in link."),
  input, problem,
  h("p", {}, h("button", { type: "submit" }, "Sign in")));
  main.append(
    h("h1", { tabindex: "-1" }, "Sign in to the fleet console"),
    notice ? h("p", { class: "message error", role: "alert" }, notice) : null,
    form);
}
