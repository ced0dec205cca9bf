// The console's service worker: the shell comes from the network when it can (so a deploy
// reaches open consoles) and from the cache when offline; the API's GET answers are kept as the
// last data seen, shown when offline. Streams and changes always go to the network. The page
// empties the data cache when the user signs in or out, so one tenant's data never outlives
// its session.
const SHELL_CACHE = "fleetray-shell-v1";
const DATA_CACHE = "fleetray-data";
const SHELL = [
  "./", "console/app.js", "console/api.js", "console/dom.js", "console/charts.js", "console/console.css",
  "console/manifest.webmanifest", "console/icons/icon.svg", "console/icons/icon-192.png", "console/icons/icon-512.png",
  "console/vendor/uPlot.iife.min.js", "console/vendor/uPlot.min.css",
  ...["alerts", "bookings", "fleet", "leaderboard", "models", "search", "signin", "vehicle"].map((v) => `console/views/${v}.js`),
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== SHELL_CACHE && k !== DATA_CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

// The network's answer (kept for later), else the one kept last time, else `fallback`'s.
async function networkFirst(request, cacheName, fallback = null) {
  const cache = await caches.open(cacheName);
  try {
    const response = await fetch(request);
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
    // Only the console's own requests (not /docs' "Try it out"): the console empties this cache
    // at each sign-in and sign-out, nothing else does.
    const fromConsole = request.referrer && new URL(request.referrer).pathname === new URL(self.registration.scope).pathname;
    if (fromConsole) event.respondWith(networkFirst(request, DATA_CACHE));
  } else if (request.mode === "navigate") {
    event.respondWith(networkFirst(request, SHELL_CACHE, new URL("./", self.registration.scope).href));
  } else {
    event.respondWith(networkFirst(request, SHELL_CACHE));
  }
});
