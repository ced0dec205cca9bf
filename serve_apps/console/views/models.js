// Models: which version serves each failure model, and the canary's share of traffic.
import { api } from "../api.js";
import { errorMessage, h, heading } from "../dom.js";

export function modelsView(main, _params, signal) {
  const body = h("tbody");
  main.append(heading("Models"),
    h("table", {}, h("caption", {}, "Failure-prediction models served now"),
      h("thead", {}, h("tr", {}, ["Model", "Stable version", "Canary version", "Canary share"].map((c) => h("th", { scope: "col" }, c)))), body),
    h("p", {}, "Operators register, promote and roll back versions with ", h("code", {}, "fleetray model"), "."));
  api("/v1/models", { signal }).then((models) => {
    body.replaceChildren(...models.map((m) => h("tr", {}, h("th", { scope: "row" }, m.model),
      h("td", {}, m.stable_version === null ? "none registered" : `v${m.stable_version}`),
      h("td", {}, m.canary_version === null ? "none" : `v${m.canary_version}`),
      h("td", {}, `${m.canary_traffic_pct} %`))));
  }).catch((error) => { if (!signal.aborted) main.append(errorMessage(error)); });
}
