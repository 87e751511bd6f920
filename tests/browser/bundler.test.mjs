// The npm package's shell from a bundler: a small app importing "wasm-predict/shell" is built by
// Vite and by webpack 5, and each built app must predict in chromium, in a worker, under the
// demo's CSP.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import webpack from "webpack";
import webpackConfig from "../bundler/webpack.config.mjs";
import { serveAndLaunch, openPage } from "./chromium.mjs";

const env = serveAndLaunch();

test("an app built by Vite from the package's shell predicts in a worker", async () => {
  execFileSync("npx", ["vite", "build", "--config", "tests/bundler/vite.config.mjs"], { stdio: ["ignore", "ignore", "inherit"] });
  const assets = readdirSync("tests/bundler/dist/assets");
  assert.ok(assets.some((f) => /^predict-worker-.*\.js$/.test(f)), `the worker is emitted: ${assets}`);
  assert.ok(assets.some((f) => /^wasm_predict_bg-.*\.wasm$/.test(f)), `the wasm is emitted: ${assets}`);
  const { page, errors } = await openPage(env.browser, `${env.url}/tests/bundler/dist/index.html`);
  await page.waitForSelector("body[data-state=ready], body[data-state=failed]", { timeout: 30_000 });
  assert.equal(await page.getAttribute("body", "data-state"), "ready", await page.locator("#out").innerText());
  assert.equal(await page.getAttribute("body", "data-runtime"), "worker");
  assert.deepEqual(errors, []);
});

test("an app built by webpack 5 from the package's shell predicts in a worker, and the build has no warning", async () => {
  const stats = await new Promise((resolve, reject) => webpack(webpackConfig, (error, result) => (error ? reject(error) : resolve(result))));
  const info = stats.toJson({ all: false, errors: true, warnings: true, entrypoints: true });
  assert.deepEqual([info.errors, info.warnings], [[], []], "webpack builds the package without an error or a warning");
  const [entry] = info.entrypoints.main.assets.map((a) => a.name);
  writeFileSync("tests/bundler/dist-webpack/index.html", readFileSync("tests/bundler/index.html", "utf8").replace("./main.js", `./${entry}`));
  const emitted = readdirSync("tests/bundler/dist-webpack");
  assert.ok(emitted.some((f) => f.endsWith(".wasm")), `the wasm is emitted: ${emitted}`);
  const { page, errors } = await openPage(env.browser, `${env.url}/tests/bundler/dist-webpack/index.html`);
  await page.waitForSelector("body[data-state=ready], body[data-state=failed]", { timeout: 30_000 });
  assert.equal(await page.getAttribute("body", "data-state"), "ready", await page.locator("#out").innerText());
  assert.equal(await page.getAttribute("body", "data-runtime"), "worker", "the worker chunk starts");
  assert.deepEqual(errors, []);
});
