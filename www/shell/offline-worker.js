// wasm-predict's service worker for apps: it keeps the app's pages, scripts, styles, workers and the
// wasm available offline. Serve it from the folder that holds your pages (a service worker only
// controls pages at or below its own URL): copy this file there, or write a one-line sw.js that
// loads it with importScripts("<path to>/wasm-predict/shell/offline-worker.js"). Then
// `registerOfflineSupport({ url: "sw.js" })` from "wasm-predict/shell" turns it on.
//
// What it stores: the URLs the page sends it once it is active (the page, what the page and the
// prediction worker loaded before the service worker took over, and the app's own list), and from
// then on every same-origin GET of a page, script, style, worker, font, image or .wasm. What it
// serves: a stored copy first, refreshed from the network in the background for the next load
// (cache-first with background update); anything else goes to the network untouched, so API calls
// and telemetry never see a stale answer. Model bundles are not its business: the shell's loader
// keeps them in its own hash-checked cache. The stored Responses are the network's own, so
// Chromium's code cache for the wasm keeps working. A new version of this file clears the old
// versions' caches.
const OFFLINE_CACHE = "wasm-predict-offline-v1";
const CACHE_PREFIX = "wasm-predict-offline-";
const PRECACHE_MESSAGE = "wasm-predict:precache";
const STATIC_DESTINATIONS = new Set(["document", "script", "style", "worker", "sharedworker", "font", "image", "manifest"]);

self.addEventListener("install", () => {
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith(CACHE_PREFIX) && n !== OFFLINE_CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

// The page's list of URLs to store: answered on the message's port with what was stored and what failed.
self.addEventListener("message", (event) => {
  const data = event.data;
  if (!data || data.type !== PRECACHE_MESSAGE || !Array.isArray(data.urls)) return;
  const port = event.ports[0];
  event.waitUntil(
    precache(data.urls).then(
      (result) => port?.postMessage(result),
      (error) => port?.postMessage({ stored: [], failed: [{ url: "*", error: String(error) }] }),
    ),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  event.respondWith(cacheFirst(request, event));
});

/**
 * Stores every same-origin URL of `urls` that answers 200 (each on its own: one failure does not
 * lose the others).
 * @param {string[]} urls
 */
async function precache(urls) {
  const cache = await caches.open(OFFLINE_CACHE);
  const wanted = [...new Set(urls.map((u) => new URL(u, self.location.href)).filter((u) => u.origin === self.location.origin).map((u) => keyOf(u)))];
  const stored = [];
  const failed = [];
  await Promise.all(
    wanted.map(async (url) => {
      try {
        const response = await fetch(url, { cache: "no-cache" });
        if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
        await cache.put(url, response);
        stored.push(url);
      } catch (error) {
        failed.push({ url, error: String(error) });
      }
    }),
  );
  return { stored, failed };
}

/**
 * The stored copy of `request` when there is one (refreshed in the background), else the
 * network's answer, stored when it is a static file.
 * @param {Request} request
 * @param {FetchEvent} event
 */
async function cacheFirst(request, event) {
  const cache = await caches.open(OFFLINE_CACHE);
  const key = keyOf(new URL(request.url));
  const stored = await cache.match(key);
  const refresh = fetch(request).then(async (response) => {
    if (response.ok && (stored || isStatic(request))) await cache.put(key, response.clone());
    return response;
  });
  if (stored) {
    event.waitUntil(refresh.catch(() => undefined));
    return stored;
  }
  return refresh;
}

/** @param {Request} request */
function isStatic(request) {
  return STATIC_DESTINATIONS.has(request.destination) || new URL(request.url).pathname.endsWith(".wasm");
}

/**
 * The cache key of a URL: the URL without its fragment.
 * @param {URL} url
 */
function keyOf(url) {
  const key = new URL(url.href);
  key.hash = "";
  return key.href;
}
