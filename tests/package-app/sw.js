importScripts("./node_modules/wasm-predict/shell/offline-worker.js");
