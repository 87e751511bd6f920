// Builds the app of tests/bundler/ (installed with the packed package into app/) with webpack 5
// into dist-webpack/: the worker (`new Worker(new URL(...))`) and the wasm (`new URL(...)`) must
// be emitted as webpack emits them for any app.
import { fileURLToPath } from "node:url";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

export default {
  mode: "production",
  context: here("app"),
  entry: "./main.js",
  target: "web",
  devtool: false,
  output: { path: here("dist-webpack"), filename: "[name].[contenthash].js", publicPath: "auto", clean: true },
  performance: { hints: false },
};
