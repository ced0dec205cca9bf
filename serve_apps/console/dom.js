// Small DOM helpers: element building (text is always set as text, never parsed as HTML),
// screen-reader announcements, and formatting shared by the views.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value); // the ISO time behind a shown date, say
    else el.setAttribute(name, value === true ? "" : value);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

const QUIET_KEY = "fleetray.quiet";

// Whether new alerts are announced: users can silence them (WCAG 2.2.4), for this tab.
export const announcements = {
  get on() { return sessionStorage.getItem(QUIET_KEY) !== "yes"; },
  set on(value) { if (value) sessionStorage.removeItem(QUIET_KEY); else sessionStorage.setItem(QUIET_KEY, "yes"); },
};

// A polite announcement, or an assertive one for what needs attention now (critical alerts).
export function announce(text, assertive = false) {
  if (!announcements.on) return;
  const region = document.getElementById(assertive ? "announce-assertive" : "announce-polite");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

export function when(iso) {
  if (!iso) return "never";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function number(value, digits = 1) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

export function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

export function severityBadge(severity) {
  return h("span", { class: `badge severity-${severity}` }, severity === "critical" ? "Critical" : "Warning");
}

export function errorMessage(error) {
  return h("p", { class: "message error", role: "alert" }, error.message);
}

// A view's heading, focused when the view opens so keyboard and screen-reader users land on it.
export function heading(text) {
  return h("h1", { tabindex: "-1" }, text);
}

// Rebuilds `container`'s content with `rebuild()`, giving the focus back to the element with the
// same data-key when it had it (a redrawn table must not drop a keyboard user to the page start).
export function keepingFocus(container, rebuild) {
  const focused = document.activeElement;
  const key = container.contains(focused) ? focused.dataset.key : undefined;
  rebuild();
  if (key !== undefined) container.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
}
