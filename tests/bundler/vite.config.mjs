// Builds tests/bundler/ into tests/bundler/dist/, resolving "wasm-predict" to the built pkg/.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  logLevel: "warn",
  resolve: { alias: { "wasm-predict": fileURLToPath(new URL("../../pkg", import.meta.url)) } },
  worker: { format: "es" },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
});
