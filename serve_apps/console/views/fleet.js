// Fleet: every vehicle of the tenant, sortable and filterable; alerts published on the tenant's
// fleet stream update the open-alert counts and are announced as they arrive.
import { api } from "../api.js";
import { errorMessage, h, heading, keepingFocus, number, severityBadge, when } from "../dom.js";
import { followAlertFeed } from "./alert_feed.js";

const COLUMNS = [
  ["vehicle_id", "Vehicle"], ["connection", "Connection"], ["last_seen", "Last seen"],
  ["health_score", "Health"], ["open_alerts", "Open alerts"], ["driver_score", "Driver score"],
  ["failure_risk", "Engine failure risk"],
];
export function fleetView(main, _params, signal) {
  const state = { vehicles: [], sort: "vehicle_id", descending: false, filter: "", connection: "" };
  const status = h("p", { class: "live-status", role: "status" }, "Connecting to the live alert feed…");
  const body = h("tbody");
  const headRow = h("tr");
  const latest = h("ol", { "aria-label": "Alerts received since this page opened" });
  const table = h("table", {}, h("caption", {}, "Vehicles of the fleet"), h("thead", {}, headRow), body);

  const rows = () => state.vehicles
    .filter((v) => !state.filter || `${v.vehicle_id} ${v.name ?? ""}`.toLowerCase().includes(state.filter))
    .filter((v) => !state.connection || v.connection === state.connection)
    .sort((a, b) => {
      const x = a[state.sort] ?? -Infinity, y = b[state.sort] ?? -Infinity;
      return (x < y ? -1 : x > y ? 1 : 0) * (state.descending ? -1 : 1);
    });

  const draw = () => keepingFocus(table, () => {
    headRow.replaceChildren(...COLUMNS.map(([key, label]) => h("th", {
      scope: "col", "aria-sort": state.sort === key ? (state.descending ? "descending" : "ascending") : null,
    }, h("button", { type: "button", dataset: { key: `sort-${key}` }, onclick: () => {
      state.descending = state.sort === key ? !state.descending : false;
      state.sort = key;
      draw();
    } }, label, state.sort === key ? (state.descending ? " ▼" : " ▲") : ""))));
    body.replaceChildren(...rows().map((v) => h("tr", {},
      h("th", { scope: "row" }, h("a", { href: `#/vehicle/${encodeURIComponent(v.vehicle_id)}`, dataset: { key: v.vehicle_id } },
        v.name && v.name !== v.vehicle_id ? `${v.vehicle_id} (${v.name})` : v.vehicle_id)),
      h("td", {}, v.connection),
      h("td", {}, when(v.last_seen)),
      h("td", {}, number(v.health_score, 0)),
      h("td", {}, String(v.open_alerts)),
      h("td", {}, number(v.driver_score, 0)),
      h("td", {}, v.failure_risk === null || v.failure_risk === undefined ? "–" : `${Math.round(v.failure_risk * 100)} %`))));
  });

  const filter = h("input", { id: "fleet-filter", type: "search", oninput: (e) => { state.filter = e.target.value.toLowerCase(); draw(); } });
  const connection = h("select", { id: "fleet-connection", onchange: (e) => { state.connection = e.target.value; draw(); } },
    ["", "connected", "connecting", "disconnected", "unknown"].map((c) => h("option", { value: c }, c || "any")));
  main.append(heading("Fleet"),
    h("div", { class: "toolbar" },
      h("div", {}, h("label", { for: "fleet-filter" }, "Filter by id or name"), filter),
      h("div", {}, h("label", { for: "fleet-connection" }, "Connection"), connection)),
    status, table,
    h("h2", {}, "Latest alerts"), latest);

  // The vehicles as they are now; again when the alert stream starts afresh (alerts were missed).
  const load = () => api("/v1/vehicles", { signal }).then((vehicles) => {
    state.vehicles = vehicles.map((v) => ({ ...v, open_alerts: v.open_alerts ?? 0 }));
    draw();
  }).catch((error) => { if (!signal.aborted) main.append(errorMessage(error)); });
  load();
  followAlertFeed({ signal, status, reload: load, onAlert: (alert, raised) => {
    const vehicle = state.vehicles.find((v) => v.vehicle_id === alert.vehicle_id);
    if (vehicle) vehicle.open_alerts = Math.max(0, vehicle.open_alerts + (raised ? 1 : -1));
    draw();
    latest.prepend(h("li", {}, severityBadge(alert.severity), " ",
      `${alert.vehicle_id}: ${alert.message} (${raised ? "raised" : "cleared"} ${when(alert.occurred_at)})`));
    while (latest.children.length > 20) latest.lastChild.remove();
  } });
}
