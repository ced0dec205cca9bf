// Alerts: the tenant's open alerts, then every alert raised or cleared as the fleet stream
// publishes it; filterable by severity and vehicle.
import { api } from "../api.js";
import { errorMessage, h, heading, keepingFocus, severityBadge, when } from "../dom.js";
import { followAlertFeed } from "./alert_feed.js";

export function alertsView(main, _params, signal) {
  const state = { alerts: [], severity: "", vehicle: "" };
  const body = h("tbody");
  const status = h("p", { class: "live-status", role: "status" }, "Connecting to the live alert feed…");
  const draw = () => keepingFocus(body, () => body.replaceChildren(...state.alerts
    .filter((a) => !state.severity || a.severity === state.severity)
    .filter((a) => !state.vehicle || a.vehicle_id.toLowerCase().includes(state.vehicle))
    .map((a) => h("tr", {}, h("td", {}, when(a.at)), h("td", {}, severityBadge(a.severity)),
      h("th", { scope: "row" }, h("a", { href: `#/vehicle/${encodeURIComponent(a.vehicle_id)}`,
        dataset: { key: `${a.vehicle_id} ${a.key ?? a.alert_key} ${a.at}` } }, a.vehicle_id)),
      h("td", {}, a.message), h("td", {}, a.state)))));
  main.append(heading("Alerts"),
    h("div", { class: "toolbar" },
      h("div", {}, h("label", { for: "alert-severity" }, "Severity"),
        h("select", { id: "alert-severity", onchange: (e) => { state.severity = e.target.value; draw(); } },
          [["", "any"], ["critical", "critical"], ["warning", "warning"]].map(([v, t]) => h("option", { value: v }, t)))),
      h("div", {}, h("label", { for: "alert-vehicle" }, "Vehicle"),
        h("input", { id: "alert-vehicle", type: "search", oninput: (e) => { state.vehicle = e.target.value.toLowerCase(); draw(); } }))),
    status,
    h("table", {}, h("caption", {}, "Open alerts, then alerts as they are raised or cleared (newest first)"),
      h("thead", {}, h("tr", {}, ["Time", "Severity", "Vehicle", "Alert", "State"].map((c) => h("th", { scope: "col" }, c)))), body));

  // The open alerts, after those the stream brought meanwhile; again when the stream starts
  // afresh (alerts were missed while it was away).
  const load = () => api("/v1/vehicles", { signal }).then((vehicles) => {
    const open = vehicles.flatMap((v) => (v.alerts ?? []).map((a) => ({ ...a, vehicle_id: v.vehicle_id, at: a.raised_at, state: "open" })));
    state.alerts = [...state.alerts.filter((a) => a.state !== "open"), ...open.sort((a, b) => (a.at < b.at ? 1 : -1))];
    draw();
  }).catch((error) => { if (!signal.aborted) main.append(errorMessage(error)); });
  load();
  followAlertFeed({ signal, status, reload: load, onAlert: (alert, raised) => {
    state.alerts.unshift({ ...alert, at: alert.occurred_at, state: raised ? "raised" : "cleared" });
    state.alerts.length = Math.min(state.alerts.length, 500);
    draw();
  } });
}
