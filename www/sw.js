// The demo's service worker is the package's own: see shell/offline-worker.js.
importScripts("./shell/offline-worker.js");
