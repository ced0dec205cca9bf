// The console's shell: sign-in state, hash routing between the views, the offline banner and the
// service worker. Each view gets the <main> element, its route parameters and an AbortSignal
// that ends its requests and streams when the user leaves it.
import { session } from "./api.js";
import { announcements, h } from "./dom.js";
import { alertsView } from "./views/alerts.js";
import { bookingsView } from "./views/bookings.js";
import { fleetView } from "./views/fleet.js";
import { leaderboardView } from "./views/leaderboard.js";
import { modelsView } from "./views/models.js";
import { searchView } from "./views/search.js";
import { signInView } from "./views/signin.js";
import { vehicleView } from "./views/vehicle.js";

const ROUTES = [
  [/^#\/fleet$/, fleetView, "#/fleet"],
  [/^#\/vehicle\/([^/?]+)$/, vehicleView, null],
  [/^#\/alerts$/, alertsView, "#/alerts"],
  [/^#\/leaderboard$/, leaderboardView, "#/leaderboard"],
  [/^#\/models$/, modelsView, "#/models"],
  [/^#\/bookings$/, bookingsView, "#/bookings"],
  [/^#\/search\?(.*)$/, searchView, null],
];

let leaving = null;
let rendered = false;

// `fleetray console` links carry a short-lived token in the fragment: take it, then drop it
// from the address bar and the history.
function takeLinkedToken() {
  const match = location.hash.match(/^#token=([^&]+)/);
  if (!match) return;
  try {
    session.signIn(decodeURIComponent(match[1]));
  } catch (error) {
    session.signOut(`The sign-in link cannot be used: ${error.message}.`);
  }
  history.replaceState(null, "", `${location.pathname}#/fleet`);
}

function showAccount() {
  const claims = session.claims;
  document.getElementById("account").hidden = !claims;
  document.getElementById("search-form").hidden = !claims;
  document.querySelector(".top nav").hidden = !claims;
  document.getElementById("who").textContent = claims
    ? `Signed in as ${claims.sub} (${claims.role ?? "user"}), tenant ${claims.tenant}` : "";
}

function render() {
  leaving?.abort();
  leaving = new AbortController();
  const main = document.getElementById("main");
  showAccount();
  main.replaceChildren();
  if (!session.token) {
    signInView(main);
    return;
  }
  const hash = location.hash && location.hash !== "#" ? location.hash : "#/fleet";
  const [pattern, view, navTarget] = ROUTES.find(([pattern]) => pattern.test(hash)) ?? [];
  for (const link of document.querySelectorAll(".top nav a")) {
    if (link.getAttribute("href") === navTarget) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!view) {
    main.append(h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, h("a", { href: "#/fleet" }, "Go to the fleet")));
  } else {
    view(main, hash.match(pattern).slice(1), leaving.signal); // as in the URL: each view decodes its own
  }
  const title = main.querySelector("h1");
  document.title = `${title?.textContent ?? "fleetray"} · fleetray console`;
  // After a change of view, not on the first: a page that just loaded starts at its skip link.
  if (rendered) title?.focus();
  rendered = true;
}

function showOnline() {
  document.getElementById("offline-banner").hidden = navigator.onLine;
}

// The views live in the URL's fragment, so the skip link moves focus itself rather than
// changing the fragment to #main.
document.querySelector(".skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main").focus();
});

const quiet = document.getElementById("announce-alerts");
quiet.checked = announcements.on;
quiet.addEventListener("change", () => { announcements.on = quiet.checked; });

document.getElementById("sign-out").addEventListener("click", () => {
  session.signOut();
  history.replaceState(null, "", location.pathname);
});

document.getElementById("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = document.getElementById("search-q").value.trim();
  if (!q) return;
  const target = `#/search?${new URLSearchParams({ q })}`;
  if (location.hash === target) render(); // the same search again: ask again
  else location.hash = target;
});

takeLinkedToken();
session.watchExpiry();
session.onChange(render);
window.addEventListener("hashchange", render);
window.addEventListener("online", showOnline);
window.addEventListener("offline", showOnline);
showOnline();
render();

if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js");
