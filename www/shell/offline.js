// Offline use: registers the app's service worker (the package's shell/offline-worker.js, served
// from the app's own folder) and sends it the URLs to store: the page, what the page loaded, what
// the prediction worker loaded (its script and the wasm, whatever a bundler named them), and the
// app's own list.

const PRECACHE_MESSAGE = "wasm-predict:precache";
const ANSWER_TIMEOUT_MS = 30_000;

/**
 * @typedef {object} OfflineOptions
 * @property {string} [url] the service worker's script, relative to the page (default "sw.js")
 * @property {string[]} [precache] more URLs to store (relative to the page), beyond what the page has loaded
 * @property {(result: PrecacheResult) => void} [onStored] called after each batch of URLs is stored
 *
 * @typedef {object} PrecacheResult
 * @property {string[]} stored the URLs now available offline
 * @property {Array<{url: string, error: string}>} failed the URLs that could not be stored, and why
 */

/** URLs offered before the service worker was active, in order. @type {Set<string>} */
const offered = new Set();
/** @type {ServiceWorker | null} */
let active = null;
/** @type {((result: PrecacheResult) => void) | undefined} */
let onStored;

/**
 * Offers URLs for offline use: sent to the service worker now if it is active, else when
 * {@link registerOfflineSupport} has made it so. Never rejects.
 * @param {Iterable<string>} urls
 * @returns {Promise<PrecacheResult>}
 */
export function offerForOffline(urls) {
  for (const url of urls) {
    try {
      offered.add(new URL(url, globalThis.location?.href).href);
    } catch {
      // Not a URL: nothing to store.
    }
  }
  return flush();
}

/** @returns {Promise<PrecacheResult>} */
async function flush() {
  if (!active || offered.size === 0) return { stored: [], failed: [] };
  const worker = active;
  const urls = [...offered];
  offered.clear();
  const result = await new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve({ stored: [], failed: urls.map((url) => ({ url, error: "the service worker did not answer" })) }), ANSWER_TIMEOUT_MS);
    channel.port1.onmessage = (event) => {
      clearTimeout(timer);
      resolve(event.data);
    };
    worker.postMessage({ type: PRECACHE_MESSAGE, urls }, [channel.port2]);
  });
  onStored?.(result);
  return result;
}

/**
 * Registers the app's service worker and has it store the page and everything the page and the
 * prediction worker loaded, so that the next visit works without a network. Resolves to the
 * registration once those URLs are stored, or to null where service workers are unavailable
 * (insecure origin, private mode) or the script does not register; never rejects.
 * @param {string | OfflineOptions} [options] the options, or just the script's URL
 * @returns {Promise<ServiceWorkerRegistration | null>}
 */
export async function registerOfflineSupport(options = {}) {
  const { url = "sw.js", precache = [], onStored: callback } = typeof options === "string" ? { url: options } : options;
  if (typeof navigator === "undefined" || !("serviceWorker" in navigator)) return null;
  try {
    const registration = await navigator.serviceWorker.register(url);
    const ready = await navigator.serviceWorker.ready;
    active = ready.active;
    onStored = callback;
    await offerForOffline([...loadedFiles(), ...precache]);
    return registration;
  } catch (error) {
    console.warn("wasm-predict: no offline support, the service worker did not register:", error);
    return null;
  }
}

/**
 * The files this context (the worker, or the page) has loaded that a page needs again offline:
 * its own script and the scripts, styles and wasm it loaded, not the data it fetched (bundles,
 * configs, telemetry), which the shell caches by its own rules. Modules a worker imports leave no
 * trace there: the caller names them (`modules`), and this module names itself.
 * @param {string[]} [modules]
 * @returns {string[]}
 */
export function loadedFiles(modules = []) {
  const files = performance
    .getEntriesByType("resource")
    .filter((entry) => {
      const timing = /** @type {PerformanceResourceTiming} */ (entry);
      return !["fetch", "xmlhttprequest", "beacon"].includes(timing.initiatorType) || new URL(entry.name).pathname.endsWith(".wasm");
    })
    .map((entry) => entry.name);
  return [globalThis.location.href, import.meta.url, ...modules, ...files];
}
