// The console's service worker: the shell comes from the network when it can (so a deploy
// reaches open consoles) and from the cache when offline; the API's GET answers are kept as the
// last data seen, shown when offline, in a cache of the user the token names (tabs signed in as
// different users never see each other's). Streams and changes always go to the network. The
// page deletes the data caches when anyone signs in or out, so data never outlives a session.
const SHELL_CACHE = "fleetray-shell-v1";
const DATA_CACHE_PREFIX = "fleetray-data:"; // + tenant/user: one cache per signed-in user
const SHELL = [
  "./", "console/app.js", "console/api.js", "console/dom.js", "console/charts.js", "console/console.css",
  "console/manifest.webmanifest", "console/icons/icon.svg", "console/icons/icon-192.png", "console/icons/icon-512.png",
  "console/vendor/uPlot.iife.min.js", "console/vendor/uPlot.min.css",
  ...["alert_feed", "alerts", "bookings", "fleet", "leaderboard", "models", "search", "signin", "vehicle"].map((v) => `console/views/${v}.js`),
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== SHELL_CACHE && !k.startsWith(DATA_CACHE_PREFIX)).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

// The data cache of the token's user ("tenant/subject", read from the token's claims: the API
// verifies the token, this only files the answers), or null without a readable token.
function dataCacheOf(request) {
  const token = (request.headers.get("Authorization") || "").replace(/^Bearer /, "");
  try {
    const part = token.split(".")[1];
    const claims = JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=")));
    return `${DATA_CACHE_PREFIX}${claims.tenant}/${claims.sub}`;
  } catch {
    return null;
  }
}

const SHELL_PATHS = new Set(SHELL.map((path) => new URL(path, self.registration.scope).pathname));

// The network's answer (kept for later), else the one kept last time, else `fallback`'s.
async function networkFirst(request, cacheName, fallback = null) {
  const cache = await caches.open(cacheName);
  try {
    const response = await fetch(request, { cache: "no-cache" });
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = (await cache.match(request, { ignoreVary: true })) ?? (fallback && (await cache.match(fallback)));
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.headers.get("Accept") === "text/event-stream" || url.pathname.endsWith("/stream")) return;
  if (url.pathname.includes("/v1/")) {
    // Only the console's own requests (not /docs' "Try it out"), in the cache of their user.
    const fromConsole = request.referrer && new URL(request.referrer).pathname === new URL(self.registration.scope).pathname;
    const cacheName = fromConsole && dataCacheOf(request);
    if (cacheName) event.respondWith(networkFirst(request, cacheName));
  } else if (request.mode === "navigate") {
    event.respondWith(networkFirst(request, SHELL_CACHE, new URL("./", self.registration.scope).href));
  } else if (SHELL_PATHS.has(url.pathname)) {
    event.respondWith(networkFirst(request, SHELL_CACHE));
  }
});
