// Builds the app of tests/bundler/ (installed with the packed package into app/ by
// tests/browser/bundler.test.mjs) into dist/, as an app's own Vite config would. Vite's dev
// server must not pre-bundle the package: its files find the worker and the wasm beside them.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL("./app", import.meta.url)),
  base: "./",
  logLevel: "warn",
  optimizeDeps: { exclude: ["wasm-predict"] },
  worker: { format: "es" },
  build: { outDir: "../dist", emptyOutDir: true, target: "es2022" },
});
