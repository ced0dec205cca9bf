// The console's link to the API: the signed-in session (a bearer token kept for this tab only),
// JSON requests, and Server-Sent Event streams read with fetch (EventSource cannot send the
// Authorization header), resuming after a drop with Last-Event-ID.

const TOKEN_KEY = "fleetray.token";
const NOTICE_KEY = "fleetray.signin-notice";
// Reconnecting waits the server's `retry:` (else 1 s), doubled after each failed attempt up to
// 30 s, so that many tabs do not all come back at once to a server that is struggling.
const RECONNECT_MS = 1000;
const MAX_RECONNECT_MS = 30_000;
const DATA_CACHE_PREFIX = "fleetray-data:"; // the service worker's copies of API answers (sw.js)
const LONGEST_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once for longer delays

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// A refusal in words: the view's lead for the API's error code (`leads`), then the API's message.
export function explained(error, leads) {
  const lead = error instanceof ApiError ? leads[error.code] : null;
  return lead ? `${lead}. ${error.message}` : error.message;
}

function claimsOf(token) {
  const part = token.split(".")[1];
  if (!part) throw new Error("that is not a JSON Web Token");
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
  return JSON.parse(json);
}

// Another user may sign in next in this browser: the last data seen must not outlive a session.
async function forgetCachedData() {
  if (!("caches" in window)) return;
  const names = await caches.keys();
  await Promise.all(names.filter((name) => name.startsWith(DATA_CACHE_PREFIX)).map((name) => caches.delete(name)));
}

let expiryTimer = null;
const listeners = new Set();

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  get claims() {
    const token = this.token;
    try { return token ? claimsOf(token) : null; } catch { return null; }
  },
  onChange(listener) { listeners.add(listener); },

  // Takes a pasted or linked token; throws with a readable message when it cannot be one.
  signIn(token) {
    token = token.trim().replace(/^Bearer\s+/i, "");
    const claims = claimsOf(token);
    if (claims.exp && claims.exp * 1000 <= Date.now()) throw new Error("that token has expired");
    forgetCachedData();
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.removeItem(NOTICE_KEY);
    this.watchExpiry();
    listeners.forEach((l) => l());
  },

  // Forgets the token; `notice` is shown on the sign-in form (an expired or refused token).
  signOut(notice = "") {
    sessionStorage.removeItem(TOKEN_KEY);
    forgetCachedData();
    if (notice) sessionStorage.setItem(NOTICE_KEY, notice); else sessionStorage.removeItem(NOTICE_KEY);
    clearTimeout(expiryTimer);
    listeners.forEach((l) => l());
  },

  takeNotice() {
    const notice = sessionStorage.getItem(NOTICE_KEY) || "";
    sessionStorage.removeItem(NOTICE_KEY);
    return notice;
  },

  watchExpiry() {
    clearTimeout(expiryTimer);
    const exp = this.claims?.exp;
    if (!exp) return;
    const left = exp * 1000 - Date.now();
    expiryTimer = setTimeout(() => (left > LONGEST_TIMER_MS ? this.watchExpiry()
      : this.signOut("Your session expired. Sign in again.")), Math.max(0, Math.min(left, LONGEST_TIMER_MS)));
  },
};

const relative = (path) => path.replace(/^\//, "");

function headers(extra = {}) {
  return { Authorization: `Bearer ${session.token}`, ...extra };
}

export async function api(path, { method = "GET", body, signal, headers: extra } = {}) {
  const init = { method, signal, headers: headers(extra) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(relative(path), init);
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401) {
    session.signOut("Your session expired or the token was refused. Sign in again.");
  }
  if (!response.ok) {
    throw new ApiError(response.status, data?.error ?? "HTTP_ERROR",
      data?.message ?? `The server answered ${response.status}.`);
  }
  return data;
}

// Reads the SSE stream at `path` until `signal` aborts, calling onEvent({event, data, id}) for
// each event and onStatus("live" | "reconnecting" | "refused", detail) as the connection changes.
// A stream that starts afresh rather than resuming (the server's ": subscribed" comment: the
// events missed meanwhile are gone) is passed on as the event "subscribed", for a view to reload
// what it shows.
export function stream(path, { onEvent, onStatus = () => {}, signal }) {
  let lastEventId = null;
  let retryMs = RECONNECT_MS; // the server's `retry:` once it sent one
  let failures = 0; // attempts in a row that were refused or failed to connect
  const run = async () => {
    while (!signal.aborted) {
      try {
        const response = await fetch(relative(path), {
          signal,
          headers: headers({ Accept: "text/event-stream", ...(lastEventId ? { "Last-Event-ID": lastEventId } : {}) }),
        });
        if (response.status === 401) {
          session.signOut("Your session expired or the token was refused. Sign in again.");
          return;
        }
        if (!response.ok) {
          const data = await response.json().catch(() => null);
          onStatus("refused", data?.message ?? `The server answered ${response.status}.`);
          if (response.status < 500) return;
        } else {
          onStatus("live");
          failures = 0;
          await readEvents(response.body, (e) => {
            if (e.id) lastEventId = e.id;
            try {
              onEvent(e);
            } catch (error) { // a view that cannot show one event must not reconnect for it forever
              console.error("event not shown", e, error);
            }
          }, (ms) => { retryMs = ms; });
        }
      } catch (error) {
        if (signal.aborted) return;
      }
      onStatus("reconnecting");
      const wait = Math.min(MAX_RECONNECT_MS, retryMs * 2 ** failures) * (0.8 + 0.4 * Math.random());
      failures += 1;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  };
  run();
}

// Lines may end in CRLF, LF or a lone CR (the SSE format allows all three); a CR that ends a chunk
// is held back until the next shows whether an LF follows it, or the stream ends.
async function readEvents(body, deliver, setRetry) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += done ? "" : value;
    const held = !done && buffer.endsWith("\r") ? "\r" : "";
    buffer = (held ? buffer.slice(0, -1) : buffer).replace(/\r\n?/g, "\n") + held;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { event: "message", data: [], id: null };
      if (block.split("\n").includes(": subscribed")) deliver({ event: "subscribed", data: null, id: null });
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event.event = text;
        else if (field === "data") event.data.push(text);
        else if (field === "id") event.id = text;
        else if (field === "retry" && /^\d+$/.test(text)) setRetry(Number(text));
      }
      if (!event.data.length) continue;
      let data;
      try {
        data = JSON.parse(event.data.join("\n"));
      } catch {
        continue; // not ours to show; the id still moves on with the next event
      }
      deliver({ ...event, data });
    }
    if (done) return;
  }
}
