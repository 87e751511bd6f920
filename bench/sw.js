// The benchmark page's service worker: the package's offline worker, as an app registers it, so
// that the second visit bench/run.mjs measures is served as an app's would be.
importScripts("../pkg/shell/offline-worker.js");
