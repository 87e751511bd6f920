// The demo's service worker: the page, the shell's modules and the wasm package are stored at
// install; afterwards every request for them goes to the network first (so a deploy shows at the
// next load) and falls back to the stored copy when the network fails. Model bundles are not
// handled here: the shell's loader keeps them in its own hash-keyed cache, and the experiment
// config in its own short-lived one.
const SHELL_CACHE = "wasm-predict-shell-v1";
const SHELL = [
  "./index.html",
  "./demo.js",
  "./style.css",
  "./favicon.svg",
  "./shell/index.js",
  "./shell/client.js",
  "./shell/assignment.js",
  "./shell/bundle-cache.js",
  "./shell/experiment.js",
  "./shell/experiment-schema.js",
  "./shell/schema-check.js",
  "./shell/offline.js",
  "./shell/outbox.js",
  "./shell/predict-worker.js",
  "./shell/predictor-host.js",
  "./shell/runtime.js",
  "./shell/telemetry.js",
  "./shell/uuid.js",
  "./digit-canvas.js",
  "../pkg/wasm_predict.js",
  "../pkg/wasm_predict_bg.wasm",
];
const NETWORK_TIMEOUT_MS = 4000;
const stored = new Set(SHELL.map((path) => new URL(path, self.location.href).href));

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll([...stored]))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("wasm-predict-shell-") && n !== SHELL_CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  url.search = "";
  const key = request.mode === "navigate" && url.pathname.endsWith("/") ? `${url.href}index.html` : url.href;
  if (request.method !== "GET" || !stored.has(key)) return;
  event.respondWith(networkFirst(request, key));
});

/**
 * @param {Request} request
 * @param {string} key
 */
async function networkFirst(request, key) {
  const cache = await caches.open(SHELL_CACHE);
  try {
    // A navigation request cannot be re-issued with an AbortSignal, so the timeout is a race.
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("network timeout")), NETWORK_TIMEOUT_MS));
    const response = await Promise.race([fetch(request), timeout]);
    if (response.ok) await cache.put(key, response.clone());
    return response;
  } catch (error) {
    const copy = await cache.match(key);
    if (copy) return copy;
    throw error;
  }
}
