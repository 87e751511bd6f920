// Registers the service worker that keeps the page, its scripts and the wasm available offline.

/**
 * Registers `url` (default: the shell's sw.js next to the page) as this page's service worker.
 * Resolves to the registration, or null where service workers are unavailable (insecure origin,
 * private mode); never rejects.
 * @param {string} [url]
 * @returns {Promise<ServiceWorkerRegistration | null>}
 */
export async function registerOfflineSupport(url = "sw.js") {
  if (typeof navigator === "undefined" || !("serviceWorker" in navigator)) return null;
  try {
    const registration = await navigator.serviceWorker.register(url);
    await navigator.serviceWorker.ready;
    return registration;
  } catch (error) {
    console.warn("wasm-predict: no offline support, the service worker did not register:", error);
    return null;
  }
}
