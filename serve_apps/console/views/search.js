// Search: vehicles (id, name, VIN) and trouble codes (code, description) of the tenant,
// typo-tolerant, with facets to narrow the vehicles found.
import { api } from "../api.js";
import { errorMessage, h, heading, number, plural } from "../dom.js";

export function searchView(main, [query], signal) {
  const params = new URLSearchParams(query);
  const q = params.get("q") ?? "";
  const facets = params.getAll("facet");
  document.getElementById("search-q").value = q;
  const results = h("div", {}, h("p", { role: "status" }, "Searching…"));
  main.append(heading(`Search: ${q}`), results);
  const link = (facetList) => `#/search?${new URLSearchParams([["q", q], ...facetList.map((f) => ["facet", f])])}`;

  api(`/v1/search?${params}`, { signal }).then((found) => {
    const facetGroups = [["codes", "code", "Trouble codes"], ["health", "health", "Health"], ["connection", "connection", "Connection"]]
      .filter(([group]) => Object.keys(found.facets[group]).length)
      .map(([group, name, title]) => h("section", { "aria-labelledby": `facet-${group}` },
        h("h3", { id: `facet-${group}` }, title),
        h("ul", {}, Object.entries(found.facets[group]).map(([value, count]) => {
          const facet = `${name}:${value}`;
          const on = facets.includes(facet);
          return h("li", {}, h("a", { href: link(on ? facets.filter((f) => f !== facet) : [...facets, facet]), "aria-current": on ? "true" : null },
            `${on ? "Remove filter " : ""}${value}: ${plural(count, "vehicle")}`));
        }))));
    results.replaceChildren(
      h("p", { role: "status" }, `Found ${plural(found.vehicles_found, "vehicle")} and ${plural(found.trouble_codes.length, "trouble code")}.`),
      ...(facetGroups.length ? [h("h2", {}, "Filters"), h("div", { class: "facets" }, facetGroups)] : []),
      h("h2", {}, "Vehicles"),
      found.vehicles.length ? h("ul", {}, found.vehicles.map((v) => h("li", {},
        h("a", { href: `#/vehicle/${encodeURIComponent(v.vehicle_id)}` }, `${v.vehicle_id}${v.name ? ` (${v.name})` : ""}`),
        ` – ${v.connection}, health ${number(v.health_score, 0)} (${v.health})${v.vin ? `, VIN ${v.vin}` : ""}`))) : h("p", {}, "No vehicles match."),
      h("h2", {}, "Trouble codes"),
      found.trouble_codes.length ? h("ul", {}, found.trouble_codes.map((c) => h("li", {}, h("strong", {}, c.code),
        `: ${c.description} (open on ${plural(c.vehicles, "vehicle")})`))) : h("p", {}, "No trouble codes match."));
  }).catch((error) => { if (!signal.aborted) results.replaceChildren(errorMessage(error)); });
}
