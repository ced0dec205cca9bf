// Models: which version serves each failure model, and the canary's share of traffic.
// Administrators also see each model's registered versions with their quality on unseen data,
// and promote a version (to all traffic or as a canary) or roll back from here.
import { api, explained, session } from "../api.js";
import { announce, errorMessage, h, heading, when } from "../dom.js";

const LEADS = {
  CONFLICT: "The registry refused the change",
  NOT_FOUND: "That version is not registered",
  FORBIDDEN: "Only administrators can change what serves a model",
};

function servingText(m) {
  if (m.stable_version === null) return "nothing promoted yet";
  return m.canary_version === null ? `v${m.stable_version} takes all traffic`
    : `v${m.stable_version} stable, v${m.canary_version} canary taking ${m.canary_traffic_pct} %`;
}

// The headline figure of each target on the test split, the data no model saw while training.
function quality(metrics) {
  return Object.entries(metrics).map(([target, splits]) => {
    const test = splits.test ?? {};
    const figure = "f1" in test ? `F1 ${test.f1.toFixed(2)}` : "mae" in test ? `MAE ${test.mae.toFixed(2)}` : "–";
    return `${target}: ${figure}`;
  }).join("; ");
}

function versionsTable(name, versions) {
  return h("table", {},
    h("caption", {}, `Registered versions of ${name}`),
    h("thead", {}, h("tr", {}, ["Version", "Status", "Registered", "Quality on unseen data"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, versions.map((v) => h("tr", {}, h("th", { scope: "row" }, `v${v.version}`), h("td", {}, v.status),
      h("td", {}, when(v.created_at)), h("td", {}, quality(v.metrics))))));
}

// Promote and roll back one model; `changed` redraws the view once the registry answered.
function changeForm(model, versions, changed) {
  const id = `model-${model.model}`;
  const version = h("select", { id: `${id}-version` }, versions.slice().reverse()
    .map((v) => h("option", { value: String(v.version) }, `v${v.version} (${v.status})`)));
  const share = h("input", { id: `${id}-share`, type: "number", min: "1", max: "100", value: "100", required: true,
    "aria-describedby": `${id}-share-help` });
  const outcome = h("div");

  async function act(button, path, body, done) {
    button.disabled = true;
    try {
      const serving = await api(path, { method: "POST", body });
      const message = done(serving);
      announce(message);
      changed(message);
    } catch (error) {
      outcome.replaceChildren(h("p", { class: "message error", role: "alert" }, explained(error, LEADS)));
      button.disabled = false;
    }
  }

  const promote = h("button", { type: "submit", "aria-label": `Promote the chosen version of ${model.model}` }, "Promote");
  const rollback = h("button", { type: "button", class: "secondary", "aria-label": `Roll back ${model.model}`,
    disabled: model.stable_version === null,
    onclick: () => act(rollback, `/v1/models/${model.model}/rollback`, undefined,
      (s) => `${model.model} rolled back: ${servingText(s)}.`) }, "Roll back");
  return h("form", { onsubmit: (event) => {
    event.preventDefault();
    act(promote, `/v1/models/${model.model}/promote`, { version: Number(version.value), traffic_pct: Number(share.value) },
      (s) => `${model.model}: ${servingText(s)}.`);
  } },
  h("div", { class: "toolbar" },
    h("div", {}, h("label", { for: version.id }, "Version"), version),
    h("div", {}, h("label", { for: share.id }, "Traffic share (%)"), share,
      h("p", { id: `${id}-share-help`, class: "hint" }, "100 makes it the stable version; 1 to 99 a canary beside it.")),
    promote, rollback),
  outcome);
}

async function adminSections(models, signal, redraw) {
  const all = await Promise.all(models.map((m) => api(`/v1/models/${m.model}/versions`, { signal })));
  return models.map((m, i) => h("section", { "aria-labelledby": `model-${m.model}-heading` },
    h("h2", { id: `model-${m.model}-heading` }, m.model),
    h("p", {}, `Serving: ${servingText(m)}.`),
    versionsTable(m.model, all[i]),
    all[i].length ? changeForm(m, all[i], redraw) : h("p", {}, "No version registered yet.")));
}

export function modelsView(main, _params, signal) {
  const body = h("tbody");
  const admin = session.claims?.role === "admin";
  const status = h("p", { class: "message", role: "status", tabindex: "-1", hidden: true });
  const sections = h("div");
  main.append(heading("Models"),
    h("table", {}, h("caption", {}, "Failure-prediction models served now"),
      h("thead", {}, h("tr", {}, ["Model", "Stable version", "Canary version", "Canary share"].map((c) => h("th", { scope: "col" }, c)))), body),
    admin ? status : h("p", {}, "Administrators promote and roll back versions here; operators with ", h("code", {}, "fleetray model"), "."),
    sections);

  async function load(message) {
    try {
      const models = await api("/v1/models", { signal });
      body.replaceChildren(...models.map((m) => h("tr", {}, h("th", { scope: "row" }, m.model),
        h("td", {}, m.stable_version === null ? "none promoted" : `v${m.stable_version}`),
        h("td", {}, m.canary_version === null ? "none" : `v${m.canary_version}`),
        h("td", {}, `${m.canary_traffic_pct} %`))));
      if (admin) sections.replaceChildren(...await adminSections(models, signal, load));
      if (message) { // after a change: say what serves now, and keep the keyboard user's place
        status.textContent = message;
        status.hidden = false;
        status.focus();
      }
    } catch (error) {
      if (!signal.aborted) sections.replaceChildren(errorMessage(error));
    }
  }
  load();
}
