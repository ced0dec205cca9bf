// Leaderboard: the tenant's drivers ranked by driver score.
import { api } from "../api.js";
import { errorMessage, h, heading, number } from "../dom.js";

export function leaderboardView(main, _params, signal) {
  const body = h("tbody");
  main.append(heading("Leaderboard"),
    h("table", {}, h("caption", {}, "Vehicles ranked by driver score (higher is smoother driving)"),
      h("thead", {}, h("tr", {}, ["Rank", "Vehicle", "Driver score", "Harsh events"].map((c) => h("th", { scope: "col" }, c)))), body));
  api("/v1/fleet/leaderboard", { signal }).then((entries) => {
    body.replaceChildren(...entries.map((e, i) => h("tr", {}, h("td", {}, String(e.rank ?? i + 1)),
      h("th", { scope: "row" }, h("a", { href: `#/vehicle/${encodeURIComponent(e.vehicle_id)}` }, e.vehicle_id)),
      h("td", {}, number(e.driver_score, 0)),
      h("td", {}, Object.entries(e.harsh_events ?? {}).map(([k, v]) => `${k.replace(/_/g, " ")}: ${v}`).join(", ") || "none"))));
  }).catch((error) => { if (!signal.aborted) main.append(errorMessage(error)); });
}
