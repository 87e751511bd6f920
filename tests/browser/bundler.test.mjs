// The npm package in the bundlers and frameworks apps use, each app built from the packed package
// (npm pack, installed into a copy of the app) and run in chromium, predicting in a worker: a small
// app importing "wasm-predict/shell" built by Vite, served by Vite's dev server, built by webpack
// 5; a Next.js App Router app using it in a client component, built as a static export.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import webpack from "webpack";
import { createServer as createViteServer } from "vite";
import webpackConfig from "../bundler/webpack.config.mjs";
import { serveAndLaunch, openPage } from "./chromium.mjs";
import { installPackedApp, ROOT } from "./packed-app.mjs";
import { startServer } from "../../scripts/serve.mjs";

const env = serveAndLaunch();
const BUNDLER = join(ROOT, "tests/bundler");
const NEXT = join(ROOT, "tests/frameworks/next");

before(() => {
  installPackedApp(BUNDLER, join(BUNDLER, "app"), ["index.html", "main.js"]);
  installPackedApp(NEXT, join(NEXT, "build"), ["app", "next.config.mjs"]);
});

/**
 * Waits for the app's page to be ready or failed; it must be ready, predicting in a worker, with
 * no error in the console or the page.
 * @param {string} url
 * @param {string} selector the element whose data-state the app sets
 */
async function assertPredictsInWorker(url, selector = "body") {
  const { page, errors } = await openPage(env.browser, url);
  try {
    await page.waitForSelector(`${selector}[data-state=ready], ${selector}[data-state=failed]`, { timeout: 60_000 });
    assert.equal(await page.getAttribute(selector, "data-state"), "ready", await page.locator("#out").innerText());
    assert.equal(await page.getAttribute(selector, "data-runtime"), "worker", "the worker starts");
    assert.equal(page.workers().length, 1);
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
  }
}

test("an app built by Vite from the packed package predicts in a worker", async () => {
  execFileSync("npx", ["vite", "build", "--config", "tests/bundler/vite.config.mjs"], { stdio: ["ignore", "ignore", "inherit"] });
  const assets = readdirSync("tests/bundler/dist/assets");
  assert.ok(assets.some((f) => /^predict-worker-.*\.js$/.test(f)), `the worker is emitted: ${assets}`);
  assert.ok(assets.some((f) => /^wasm_predict_bg-.*\.wasm$/.test(f)), `the wasm is emitted: ${assets}`);
  await assertPredictsInWorker(`${env.url}/tests/bundler/dist/index.html`);
});

test("the same app served by Vite's dev server predicts in a worker", async () => {
  const proxy = Object.fromEntries(["/models", "/v1", "/www"].map((path) => [path, env.url]));
  const vite = await createViteServer({
    configFile: join(BUNDLER, "vite.config.mjs"),
    server: { host: "127.0.0.1", port: 0, strictPort: false, proxy, hmr: false },
  });
  await vite.listen();
  try {
    const { port } = /** @type {import("node:net").AddressInfo} */ (vite.httpServer?.address());
    await assertPredictsInWorker(`http://127.0.0.1:${port}/index.html`);
  } finally {
    await vite.close();
  }
});

test("an app built by webpack 5 from the packed package predicts in a worker, and the build has no warning", async () => {
  const stats = await new Promise((resolve, reject) => webpack(webpackConfig, (error, result) => (error ? reject(error) : resolve(result))));
  const info = stats.toJson({ all: false, errors: true, warnings: true, entrypoints: true });
  assert.deepEqual([info.errors, info.warnings], [[], []], "webpack builds the package without an error or a warning");
  const [entry] = info.entrypoints.main.assets.map((a) => a.name);
  writeFileSync("tests/bundler/dist-webpack/index.html", readFileSync("tests/bundler/index.html", "utf8").replace("./main.js", `./${entry}`));
  const emitted = readdirSync("tests/bundler/dist-webpack");
  assert.ok(emitted.some((f) => f.endsWith(".wasm")), `the wasm is emitted: ${emitted}`);
  await assertPredictsInWorker(`${env.url}/tests/bundler/dist-webpack/index.html`);
});

test("a Next.js App Router app using the package in a client component, built as a static export, predicts in a worker", async () => {
  execFileSync("npx", ["next", "build"], {
    cwd: join(NEXT, "build"),
    // Vite's dev server, started in this process, set NODE_ENV to development: a build must not inherit it.
    env: { ...process.env, NODE_ENV: "production", NEXT_TELEMETRY_DISABLED: "1" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  // A static export expects to be served at the root, and runs inline scripts (no strict CSP).
  const app = await startServer({ csp: false, appRoot: join(NEXT, "build/out") });
  try {
    await assertPredictsInWorker(`${app.url}/`, "#out");
  } finally {
    app.server.close();
  }
});

