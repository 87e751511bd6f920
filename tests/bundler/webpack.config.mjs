// Builds tests/bundler/ with webpack 5 into tests/bundler/dist-webpack/, resolving "wasm-predict"
// to the built pkg/: the worker (`new Worker(new URL(...))`) and the wasm (`new URL(...)`) must
// be emitted as webpack emits them for any app.
import { fileURLToPath } from "node:url";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

export default {
  mode: "production",
  context: here("."),
  entry: "./main.js",
  target: "web",
  devtool: false,
  output: { path: here("dist-webpack"), filename: "[name].[contenthash].js", publicPath: "auto", clean: true },
  resolve: { alias: { "wasm-predict": here("../../pkg") } },
  performance: { hints: false },
};
