// One vehicle: live values and 10-minute charts of its main PIDs (appending as readings arrive on
// its stream), its trouble codes with freeze frames, open alerts, every model's prediction, and
// its stored telemetry over a chosen time range. Each chart has a text alternative: the current
// value, the trend over the last minute and a table of the latest readings.
import { api, stream } from "../api.js";
import { announce, errorMessage, h, heading, number, severityBadge, when } from "../dom.js";
import { loadChartLibrary, lineChart } from "../charts.js";

export const CHARTED = [
  ["RPM", "Engine speed", "rpm"], ["SPEED", "Speed", "km/h"], ["COOLANT_TEMP", "Coolant temperature", "°C"],
  ["CONTROL_MODULE_VOLTAGE", "Control-module voltage", "V"], ["ENGINE_LOAD", "Engine load", "%"],
];
const WINDOW_MS = 10 * 60 * 1000;
const TREND_MS = 60 * 1000;

// "rising", "falling" or "steady" over the last minute of `points` ([ms, value] pairs).
export function trendOf(points, now = Date.now()) {
  const recent = points.filter(([at]) => at >= now - TREND_MS);
  if (recent.length < 2) return "steady";
  const first = recent[0][1], last = recent[recent.length - 1][1];
  const scale = Math.max(Math.abs(first), Math.abs(last), 1);
  return Math.abs(last - first) / scale < 0.05 ? "steady" : last > first ? "rising" : "falling";
}

function pidCard(pid, label, unit) {
  const value = h("p", { class: "value" }, "–");
  const trend = h("p", { class: "trend" }, "No readings yet");
  const chart = h("div", { class: "chart", role: "img", "aria-label": `${label} over the last 10 minutes: no readings yet` });
  const rows = h("tbody");
  const card = h("section", { class: "card", "aria-labelledby": `pid-${pid}` },
    h("h3", { id: `pid-${pid}` }, `${label} (${unit})`), value, trend, chart,
    h("details", {}, h("summary", {}, `${label}: latest readings as a table`),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, `Value (${unit})`))), rows)));
  const points = [];
  let plot = null;
  return {
    card,
    add(at, reading) { // history arrives newest first, beside live readings: keep time order
      points.push([at, reading]);
      if (points.length > 1 && points[points.length - 2][0] > at) points.sort((a, b) => a[0] - b[0]);
      const horizon = Date.now() - WINDOW_MS;
      while (points.length && points[0][0] < horizon) points.shift();
    },
    destroy() { plot?.destroy(); },
    draw() {
      if (!points.length) return;
      const [, latest] = points[points.length - 1];
      const direction = trendOf(points);
      value.textContent = `${number(latest)} ${unit}`;
      trend.textContent = `Trend over the last minute: ${direction}`;
      chart.setAttribute("aria-label", `${label} over the last 10 minutes: now ${number(latest)} ${unit}, ${direction}; ` +
        `lowest ${number(Math.min(...points.map((p) => p[1])))}, highest ${number(Math.max(...points.map((p) => p[1])))}`);
      rows.replaceChildren(...points.slice(-10).reverse().map(([at, v]) =>
        h("tr", {}, h("td", {}, new Date(at).toLocaleTimeString()), h("td", {}, number(v)))));
      if (window.uPlot) {
        plot ??= lineChart(chart, label);
        plot.setData([points.map((p) => p[0] / 1000), points.map((p) => p[1])]);
      }
    },
  };
}

function alertList(alerts) {
  if (!alerts.length) return h("p", {}, "No open alerts.");
  return h("ul", {}, alerts.map((a) => h("li", {}, severityBadge(a.severity), ` ${a.message} (since ${when(a.raised_at)})`)));
}

function troubleCodes(dtcs) {
  const row = (d) => h("tr", {},
    h("th", { scope: "row" }, d.code), h("td", {}, d.description), h("td", {}, when(d.first_seen)),
    h("td", {}, d.cleared_at ? `cleared ${when(d.cleared_at)}` : "active"),
    h("td", {}, d.freeze_frame ? h("details", {}, h("summary", {}, `Freeze frame of ${d.code}`),
      h("dl", { class: "pairs" }, Object.entries(d.freeze_frame).flatMap(([pid, f]) =>
        [h("dt", {}, pid), h("dd", {}, `${number(f.value)} ${f.unit ?? ""}`)]))) : "none"));
  if (!dtcs.history.length) return h("p", {}, "No trouble codes reported.");
  return h("table", {}, h("caption", {}, "Trouble codes, active and past"),
    h("thead", {}, h("tr", {}, ["Code", "Description", "First seen", "State", "Freeze frame"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, dtcs.history.map(row)));
}

function predictionTable(result) {
  const entries = Object.entries(result.predictions ?? {});
  if (!entries.length) return h("p", {}, "No model serves predictions for this vehicle yet.");
  const outputs = (p) => Object.entries(p.outputs).map(([k, v]) => `${k.replace(/_/g, " ")}: ${number(v, 3)}`).join(", ");
  return h("table", {}, h("caption", {}, "Predictions of every served model"),
    h("thead", {}, h("tr", {}, ["Model", "Version", "Prediction"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, entries.map(([model, p]) => h("tr", {}, h("th", { scope: "row" }, model),
      h("td", {}, p.unavailable ? "–" : `v${p.version} (${p.role})`),
      h("td", {}, p.unavailable ? `unavailable: ${p.unavailable}` : outputs(p))))));
}

function historyForm(vehicleId, signal) {
  const now = new Date();
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const pid = h("select", { id: "history-pid" }, CHARTED.map(([p, label]) => h("option", { value: p }, label)));
  const from = h("input", { id: "history-from", type: "datetime-local", value: local(new Date(now - 3600 * 1000)) });
  const to = h("input", { id: "history-to", type: "datetime-local", value: local(now) });
  const out = h("div");
  let asking = null;
  const form = h("form", { onsubmit: async (event) => {
    event.preventDefault();
    if (!from.value || !to.value || new Date(from.value) >= new Date(to.value)) {
      out.replaceChildren(h("p", { class: "message error", role: "alert" }, "Choose a start before the end of the range."));
      return;
    }
    asking?.abort(); // a slower earlier answer must not replace this one
    asking = new AbortController();
    signal.addEventListener("abort", () => asking.abort());
    const query = new URLSearchParams({ pid: pid.value, from: new Date(from.value).toISOString(),
      to: new Date(to.value).toISOString(), limit: "500" });
    try {
      const points = await api(`/v1/vehicles/${encodeURIComponent(vehicleId)}/telemetry?${query}`, { signal: asking.signal });
      out.replaceChildren(points.length ? h("table", {}, h("caption", {}, `${points.length} stored readings of ${pid.value}`),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Captured at"), h("th", { scope: "col" }, "Value"))),
        h("tbody", {}, points.map((p) => h("tr", {}, h("td", {}, when(p.captured_at)), h("td", {}, `${number(p.value)} ${p.unit ?? ""}`)))))
        : h("p", {}, "No readings in that range."));
    } catch (error) {
      if (error.name !== "AbortError") out.replaceChildren(errorMessage(error));
    }
  } },
  h("div", { class: "toolbar" },
    h("div", {}, h("label", { for: "history-pid" }, "Reading"), pid),
    h("div", {}, h("label", { for: "history-from" }, "From"), from),
    h("div", {}, h("label", { for: "history-to" }, "To"), to),
    h("div", {}, h("button", { type: "submit" }, "Show history"))));
  return [form, out];
}

export function vehicleView(main, [encodedId], signal) {
  let vehicleId;
  try {
    vehicleId = decodeURIComponent(encodedId);
  } catch {
    main.append(heading("Vehicle not found"), h("p", { class: "message error", role: "alert" }, "That address names no vehicle."));
    return;
  }
  const path = `/v1/vehicles/${encodeURIComponent(vehicleId)}`;
  const cards = Object.fromEntries(CHARTED.map(([pid, label, unit]) => [pid, pidCard(pid, label, unit)]));
  const summary = h("dl", { class: "pairs" });
  const alerts = h("div");
  const codes = h("div");
  const predictions = h("div");
  const status = h("p", { class: "live-status", role: "status" }, "Connecting to the vehicle's live stream…");
  let view = null;

  function drawSummary() {
    summary.replaceChildren(...[["Name", view.name], ["VIN", view.vin ?? "not read yet"], ["Connection", view.connection],
      ["Last seen", when(view.last_seen), view.last_seen], ["Health", number(view.health_score, 0)],
      ["Driver score", number(view.driver_score, 0)]]
      .flatMap(([k, v, at]) => [h("dt", {}, k), h("dd", { dataset: at ? { at } : null }, v ?? "–")]));
    alerts.replaceChildren(alertList(view.alerts));
  }
  const drawCharts = () => Object.values(cards).forEach((c) => c.draw());

  main.append(heading(`Vehicle ${vehicleId}`), status, summary,
    h("h2", {}, "Live values"), h("div", { class: "cards" }, Object.values(cards).map((c) => c.card)),
    h("h2", {}, "Open alerts"), alerts,
    h("h2", {}, "Trouble codes"), codes,
    h("h2", {}, "Failure predictions"), predictions,
    h("h2", {}, "Telemetry history"), ...historyForm(vehicleId, signal));

  const since = new Date(Date.now() - WINDOW_MS).toISOString();
  const history = Promise.all(CHARTED.map(([pid]) =>
    api(`${path}/telemetry?${new URLSearchParams({ pid, from: since, limit: "2000" })}`, { signal })
      .then((points) => points.forEach((p) => cards[pid].add(Date.parse(p.captured_at), p.value)))
      .catch(() => {})));
  Promise.all([loadChartLibrary().catch(() => {}), history]).then(drawCharts); // values and tables without charts
  signal.addEventListener("abort", () => Object.values(cards).forEach((c) => c.destroy()));
  api(`${path}/dtcs`, { signal }).then((d) => codes.replaceChildren(troubleCodes(d)))
    .catch((error) => codes.replaceChildren(errorMessage(error)));
  api(`${path}/predictions`, { signal }).then((p) => predictions.replaceChildren(predictionTable(p)))
    .catch((error) => predictions.replaceChildren(errorMessage(error)));

  let pending = null; // readings arrive faster than the screen needs redrawing: one draw a frame
  stream(`${path}/stream`, {
    signal,
    onStatus: (s, detail) => { status.textContent = s === "live" ? "Live: values update as readings arrive."
      : s === "refused" ? detail : "Reconnecting to the vehicle's live stream…"; },
    onEvent: ({ data }) => {
      if (!data) return;
      if (data.type === "state") {
        view = data.vehicle;
        drawSummary();
      } else if (data.type === "readings") {
        for (const r of data.readings) cards[r.pid]?.add(Date.parse(r.captured_at), r.value);
        if (view && data.readings.length) view.last_seen = data.readings[data.readings.length - 1].captured_at;
        pending ??= requestAnimationFrame(() => { pending = null; drawCharts(); if (view) drawSummary(); });
      } else if (data.type === "connection" && view) {
        view.connection = data.connection;
        drawSummary();
      } else if (data.type === "alert" && view) {
        const { change, type, ...alert } = data;
        view.alerts = view.alerts.filter((a) => a.key !== alert.key);
        if (change === "raised") {
          view.alerts.push(alert);
          announce(`${alert.severity} alert on ${vehicleId}: ${alert.message}`, alert.severity === "critical");
        }
        drawSummary();
      } else if (data.type === "gap") {
        status.textContent = `Live: ${data.missed} updates were skipped to keep up.`;
      }
    },
  });
}
