// The npm package in apps of their own. Offline: pkg/ is packed (`npm pack`), the tarball
// installed into a fresh app (tests/package-app, copied to dist/), whose page loads a bundle with
// loadPredictor and turns offline support on with registerOfflineSupport and a one-line sw.js;
// with its server gone, the app reloads and predicts. From a CDN: a page on one origin loads the
// package from another (the same app, given a `cdn`), and its worker still starts. In Node: a script predicts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";
import { installPackedApp, ROOT } from "./packed-app.mjs";
import { startServer } from "../../scripts/serve.mjs";

const APP = join(ROOT, "tests/package-app");
const DIST = join(APP, "dist");
const BUNDLE = "/models/digits-mlp/1.0.0/";
const HOLDOUT = JSON.parse(readFileSync(join(ROOT, "models/digits-mlp/1.0.0/manifest.json"), "utf8")).performance.holdout;

/** @type {import("playwright-core").Browser} */
let browser;
before(async () => {
  installPackedApp(APP, DIST, ["index.html", "main.js", "sw.js"]);
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

/**
 * Opens the app in `context` and waits until it is ready or failed.
 * @param {import("playwright-core").BrowserContext} context
 * @param {string} url
 */
async function visit(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${url}/tests/package-app/dist/index.html?bundle=${encodeURIComponent(BUNDLE)}`);
  await page.waitForSelector("body[data-state=ready], body[data-state=failed]", { timeout: 30_000 });
  return { page, errors };
}

/**
 * The holdout's first rows through predict() and predictBatch(): how many labels are right.
 * @param {import("playwright-core").Page} page
 */
async function correctLabels(page) {
  const rows = HOLDOUT.inputs.slice(0, 40);
  const { single, batch } = await page.evaluate(async (rows) => {
    const predictor = /** @type {any} */ (globalThis).predictor;
    const single = await Promise.all(rows.map(async (row) => (await predictor.predict(row)).label));
    const batch = (await predictor.predictBatch(rows)).labels;
    return { single, batch };
  }, rows);
  assert.deepEqual(batch, single, "predictBatch agrees with predict");
  return single.filter((label, i) => label === HOLDOUT.targets[i]).length;
}

/**
 * The app is ready, with no page error, predicting in a worker from a bundle read from `source`,
 * and its labels are right.
 * @param {{page: import("playwright-core").Page, errors: string[]}} visited
 * @param {"network" | "cache"} source
 */
async function assertPredicts({ page, errors }, source) {
  assert.equal(await page.getAttribute("body", "data-state"), "ready", await page.locator("#out").innerText());
  assert.deepEqual(errors, []);
  assert.equal(await page.getAttribute("body", "data-where"), "worker");
  assert.equal(await page.getAttribute("body", "data-source"), source);
  assert.ok((await correctLabels(page)) >= 38, `predictions with the bundle from the ${source} are right`);
}

test("an app built on the packed package loads a bundle by URL, then returns without waiting on the network, then works with its server gone", async () => {
  const own = await startServer();
  const context = await browser.newContext();
  try {
    const first = await visit(context, own.url);
    await assertPredicts(first, "network");
    const fetched = (file) => own.collector.requests.filter((path) => path === `${BUNDLE}${file}`).length;
    assert.deepEqual([fetched("manifest.json"), fetched("model.plan")], [1, 1], "each file of the bundle is fetched once");
    assert.equal(fetched("model.onnx"), 0, "a bundle with a compiled plan is loaded from it, without model.onnx");
    assert.ok(!own.collector.requests.some((path) => path.includes("/full/")), "nor the full entry, which only model.onnx needs");
    // The worker's files (its modules, the wasm) are offered once it has started: wait until stored.
    await first.page.waitForFunction(
      async () => {
        const keys = await (await caches.open("wasm-predict-offline-v1")).keys();
        const names = ["/wasm_predict_bg.wasm", "/wasm_predict.js", "/predict-worker.js", "/predictor-host.js"];
        return names.every((name) => keys.some((k) => k.url.endsWith(name)));
      },
      null,
      { timeout: 20_000, polling: 200 },
    );
    await first.page.close();

    // A returning page waits for no request: with the server holding back the bundle's manifest,
    // the bundle still loads, from the cache (the manifest is read again in the background).
    own.overrides.set(`${BUNDLE}manifest.json`, () => {});
    const returning = await visit(context, own.url);
    await assertPredicts(returning, "cache");
    await returning.page.close();
    own.overrides.clear();

    own.server.closeAllConnections();
    await new Promise((resolve) => own.server.close(resolve));
    await assertPredicts(await visit(context, own.url), "cache");
  } finally {
    await context.close();
    own.server.close();
  }
});

test("predictors loaded in one page share one worker, and each closes alone", async () => {
  const own = await startServer();
  const context = await browser.newContext();
  try {
    const { page } = await visit(context, own.url);
    assert.equal(page.workers().length, 1, "the app's predictor runs in a worker");
    const outcome = await page.evaluate(async (bundle) => {
      const { loadPredictor } = await import("./node_modules/wasm-predict/shell/index.js");
      const app = /** @type {any} */ (globalThis).predictor;
      const row = Array(64).fill(3);
      const [second, third] = [await loadPredictor(bundle), await loadPredictor(bundle)];
      const labels = [app, second, third].map((p) => p.predict(row).then((/** @type {any} */ r) => r.label));
      const before = await Promise.all(labels);
      second.close();
      const afterOneClosed = await Promise.all([app.predict(row), third.predict(row)]);
      const closed = await second.predict(row).then(() => "answered", (/** @type {any} */ e) => e.code);
      third.close();
      const afterBoth = (await app.predict(row)).label;
      return { where: [second.where, third.where], before, afterOneClosed: afterOneClosed.map((r) => r.label), closed, afterBoth };
    }, BUNDLE);
    assert.equal(page.workers().length, 1, "two more predictors started no other worker");
    assert.deepEqual(outcome.where, ["worker", "worker"]);
    assert.equal(new Set(outcome.before).size, 1, "the three predictors of one bundle agree");
    assert.deepEqual(outcome.afterOneClosed, outcome.before.slice(0, 2), "closing one predictor leaves the others working");
    assert.equal(outcome.closed, "CLOSED");
    assert.equal(outcome.afterBoth, outcome.before[0], "the app's predictor outlives the others");
  } finally {
    await context.close();
    own.server.close();
  }
});

test("loadPredictor on the main thread predicts batches, and names what failed: a bad row, a closed predictor, a folder without a bundle, an aborted load, a pinned hash that differs", async () => {
  const own = await startServer();
  const context = await browser.newContext();
  try {
    const { page } = await visit(context, own.url);
    const outcomes = await page.evaluate(async (bundle) => {
      const { loadPredictor } = await import("./node_modules/wasm-predict/shell/index.js");
      const failure = (/** @type {Promise<unknown>} */ p) => p.then(() => "loaded", (e) => `${e.name}/${e.code ?? ""}: ${e.message}`);
      const aborted = new AbortController();
      aborted.abort();
      const onMainThread = await loadPredictor(bundle, { worker: false });
      const rows = [Array(64).fill(0), Array(64).fill(16)];
      const flat = new Float32Array(128).fill(16, 64);
      const [byRows, byFlat] = [await onMainThread.predictBatch(rows), await onMainThread.predictBatch(flat)];
      const badRow = await failure(onMainThread.predictBatch([Array(63).fill(0)]));
      onMainThread.close();
      return {
        where: onMainThread.where,
        batches: [Array.from(byRows.outputs), Array.from(byFlat.outputs), byRows.labels],
        badRow,
        closed: await failure(onMainThread.predict(rows[0])),
        missing: await failure(loadPredictor("/models/no-such-model/1.0.0/")),
        aborted: await failure(loadPredictor(bundle, { signal: aborted.signal })),
        pinned: await failure(loadPredictor(bundle, { sha256: "0".repeat(64) })),
      };
    }, BUNDLE);
    assert.equal(outcomes.where, "main-thread");
    const [byRows, byFlat, labels] = outcomes.batches;
    assert.deepEqual(byRows, byFlat, "rows as arrays and as one flat Float32Array give the same outputs");
    assert.equal(byRows.length, 2 * 10);
    assert.equal(labels.length, 2);
    assert.match(outcomes.badRow, /\/INPUT_SHAPE: row 0 has 63 values, the model takes 64/);
    assert.match(outcomes.closed, /\/CLOSED: /);
    assert.match(outcomes.missing, /\/download: .*no-such-model\/1\.0\.0\/manifest\.json answered 404/);
    assert.match(outcomes.aborted, /^AbortError/);
    assert.match(outcomes.pinned, /\/sha256: .*but 0{64} is required/);
  } finally {
    await context.close();
    own.server.close();
  }
});

test("a model that takes records predicts from objects of features by name, in the worker, one by one and in a batch", async () => {
  const own = await startServer();
  const context = await browser.newContext();
  try {
    const { page } = await visit(context, own.url);
    const csv = readFileSync(join(ROOT, "tests/records/churn-holdout.csv"), "utf8").trim().split("\n");
    const header = csv[0].split(",");
    const rows = csv.slice(1, 41).map((line) => Object.fromEntries(line.split(",").map((cell, i) => [header[i], i < 2 ? Number(cell) : cell])));
    const outcome = await page.evaluate(async (rows) => {
      const { loadPredictor } = await import("./node_modules/wasm-predict/shell/index.js");
      const predictor = await loadPredictor("/tests/records/churn/1.0.0/");
      const records = rows.map(({ churned, ...features }) => features);
      const single = await Promise.all(records.map(async (r) => (await predictor.predict(r)).label));
      const batch = (await predictor.predictBatch(records)).labels;
      const failure = (/** @type {Promise<unknown>} */ p) => p.then(() => "predicted", (e) => `${e.code}: ${e.message}`);
      const unknownCity = (await predictor.predict({ ...records[0], city: "Atlantis" })).label;
      const missing = await failure(predictor.predict({ age: 30, income: 1000, city: "Lyon" }));
      const info = await predictor.info();
      predictor.close();
      const { where, model } = predictor;
      return { where, file: model.file, entry: model.entry, single, batch, truth: rows.map((r) => r.churned), unknownCity, missing, inputs: info.inputs.map((i) => `${i.name}:${i.dtype}`) };
    }, rows);
    assert.equal(outcome.where, "worker");
    // This bundle has no compiled plan: the worker imports the full entry for its model.onnx.
    assert.deepEqual([outcome.file, outcome.entry], ["model.onnx", "full"]);
    assert.deepEqual(outcome.inputs, ["age:float32", "income:float32", "city:string", "plan:string"]);
    assert.deepEqual(outcome.batch, outcome.single, "predictBatch of records agrees with predict");
    assert.deepEqual(outcome.single, outcome.truth, "the labels onnxruntime gives");
    assert.ok(["yes", "no"].includes(outcome.unknownCity), "an unknown category is predicted, as the encoder's handle_unknown says");
    assert.match(outcome.missing, /^INPUT_SHAPE: .*`plan`/);
  } finally {
    await context.close();
    own.server.close();
  }
});

test("a page loading the package from another origin, as from a CDN, predicts in a worker", async () => {
  const app = await startServer({ csp: false });
  const cdn = await startServer({ csp: false, cors: true });
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  try {
    const query = new URLSearchParams({ cdn: `${cdn.url}/pkg/`, bundle: `${app.url}${BUNDLE}` });
    await page.goto(`${app.url}/tests/package-app/dist/index.html?${query}`);
    await page.waitForSelector("body[data-state=ready], body[data-state=failed]", { timeout: 30_000 });
    assert.equal(await page.getAttribute("body", "data-state"), "ready", await page.locator("#out").innerText());
    assert.deepEqual(errors, []);
    assert.equal(await page.getAttribute("body", "data-where"), "worker", "the worker starts though its script is on another origin");
    assert.ok(cdn.collector.requests.includes("/pkg/wasm_predict_bg.wasm"), "the wasm came from the CDN");
    assert.ok((await correctLabels(page)) >= 38, "predictions are right");
  } finally {
    await page.close();
    app.server.close();
    cdn.server.close();
  }
});

test("a Node script predicts with the package, given the wasm's bytes: the default entry from model.plan, the full one from model.onnx", () => {
  const script = `
    import { readFileSync } from "node:fs";
    import { initSync, Predictor } from "./pkg/wasm_predict.js";
    import * as full from "./pkg/full/wasm_predict.js";
    initSync({ module: readFileSync("./pkg/wasm_predict_bg.wasm") });
    full.initSync({ module: readFileSync("./pkg/full/wasm_predict_bg.wasm") });
    const manifest = readFileSync("./models/digits-mlp/1.0.0/manifest.json");
    const predictor = new Predictor(manifest, readFileSync("./models/digits-mlp/1.0.0/model.plan"));
    const fromOnnx = new full.Predictor(manifest, readFileSync("./models/digits-mlp/1.0.0/model.onnx"));
    const { inputs } = JSON.parse(manifest).performance.holdout;
    const labels = inputs.slice(0, 40).map((row) => predictor.predict(Float32Array.from(row)).label);
    const fullLabels = inputs.slice(0, 40).map((row) => fromOnnx.predict(Float32Array.from(row)).label);
    let onnxInDefault = null;
    try {
      new Predictor(manifest, readFileSync("./models/digits-mlp/1.0.0/model.onnx"));
    } catch (error) {
      onnxInDefault = { code: error.code, message: error.message };
    }
    console.log(JSON.stringify({ labels, fullLabels, onnxInDefault, embedded: Predictor.withDefaultModel().predict(new Float32Array(64)).label }));
  `;
  const out = JSON.parse(execFileSync("node", ["--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8" }));
  const correct = out.labels.filter((label, i) => label === HOLDOUT.targets[i]).length;
  assert.ok(correct >= 38, `Node's predictions are right: ${correct}/40`);
  assert.deepEqual(out.fullLabels, out.labels, "the full entry, from model.onnx, predicts the same labels");
  assert.equal(out.onnxInDefault?.code, "MODEL_UNSUPPORTED", "the default entry refuses model.onnx");
  assert.match(out.onnxInDefault.message, /wasm-predict\/full/);
  assert.equal(typeof out.embedded, "string");
});
