// The npm package's shell from a bundler: a small app importing "wasm-predict/shell" is built by
// Vite, and the built app must predict in chromium, in a worker, under the demo's CSP.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
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
