// In-page benchmark functions, called by bench/run.mjs through playwright.
// performance.now() is coarsened in pages that are not cross-origin isolated, so calls are timed
// in blocks and divided.
import init, { Predictor } from "../pkg/wasm_predict.js";

const BUNDLES = "../models";

/** The full entry (with the ONNX importer), instantiated on first use. */
let fullEntry = null;
function full() {
  fullEntry ??= import("../pkg/full/wasm_predict.js").then(async (entry) => (await entry.default(), entry));
  return fullEntry;
}

/**
 * A predictor as the shell makes one: the default entry from the compiled plan when there is one,
 * else the full entry from the ONNX model.
 */
async function predictorOf({ manifest, model, plan }) {
  if (plan) return new Predictor(manifest, plan);
  return new (await full()).Predictor(manifest, model);
}

async function bundleOf(name) {
  const folder = `${BUNDLES}/${name}/1.0.0`;
  const [manifest, model] = await Promise.all([
    fetch(`${folder}/manifest.json`).then((r) => r.text()),
    fetch(`${folder}/model.onnx`).then((r) => r.arrayBuffer()),
  ]);
  const parsed = JSON.parse(manifest);
  const plan = parsed.plan ? new Uint8Array(await fetch(`${folder}/model.plan`).then((r) => r.arrayBuffer())) : null;
  // A missing value is null in the manifest and NaN in a row.
  const features = parsed.performance.holdout.inputs.map((row) => row.map((v) => v ?? NaN));
  return { manifest, model: new Uint8Array(model), plan, features, shape: [features[0].length], input: "X", output: "probabilities" };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * Per-call times of several contenders, measured in interleaved blocks so that a slow moment of
 * the machine hits them all alike: for each contender, the median over `blocks` of the mean time
 * of `perBlock` calls, in microseconds.
 */
async function timeInterleaved(contenders, perBlock, blocks) {
  const means = contenders.map(() => []);
  for (let b = -1; b < blocks; b++) {
    for (const [c, fn] of contenders.entries()) {
      const start = performance.now();
      // Each engine as its API is called: ours returns at once, onnxruntime-web's is awaited.
      for (let i = 0; i < perBlock; i++) {
        const result = fn(i);
        if (result instanceof Promise) await result;
      }
      if (b >= 0) means[c].push(((performance.now() - start) * 1000) / perBlock);
    }
  }
  return means.map(median);
}

function rowsOf(features, count) {
  const width = features[0].length;
  const flat = new Float32Array(count * width);
  for (let r = 0; r < count; r++) flat.set(features[r % features.length], r * width);
  return flat;
}

/** Cold start of the embedded default: wasm init, model load, first prediction (ms). */
window.coldStartEmbedded = async () => {
  const t0 = performance.now();
  await init();
  const t1 = performance.now();
  const predictor = Predictor.withDefaultModel();
  const t2 = performance.now();
  predictor.predict(new Float32Array(predictor.featureCount));
  const t3 = performance.now();
  return { init: t1 - t0, load: t2 - t1, first: t3 - t2, total: t3 - t0 };
};

/**
 * A page's start through the shell, on the main thread: the wasm module's init, then
 * `loadPredictor` (bundle from the Cache API on a second visit, else the network; hash, plan,
 * fixtures and verify()), then the first prediction (ms), and where the bundle came from.
 */
window.startWithShell = async (name) => {
  const t0 = performance.now();
  const [{ loadPredictor }] = await Promise.all([import("../pkg/shell/index.js"), init()]);
  const t1 = performance.now();
  const predictor = await loadPredictor(new URL(`${BUNDLES}/${name}/1.0.0/`, location.href).href, { worker: false });
  const t2 = performance.now();
  const input = (await predictor.info()).fixtures.cases[0].input;
  const row = Float32Array.from(input, (v) => v ?? NaN);
  const t3 = performance.now();
  await predictor.predict(row);
  const t4 = performance.now();
  predictor.close();
  return { init: t1 - t0, load: t2 - t1, first: t4 - t3, total: t2 - t0 + (t4 - t3), source: predictor.model.source, file: predictor.model.file };
};

/**
 * Loading a cached bundle in a page that already runs a predictor (an app's second model, or a
 * new version of its model): `loadPredictor` of a bundle the Cache API holds, with the runtime
 * (worker or main thread) already started, median of `runs` loads (ms).
 */
window.cachedLoad = async ({ name, worker, runs = 9 }) => {
  const { loadPredictor } = await import("../pkg/shell/index.js");
  const url = new URL(`${BUNDLES}/${name}/1.0.0/`, location.href).href;
  const open = await loadPredictor(url, { worker });
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const predictor = await loadPredictor(url, { worker });
    times.push(performance.now() - t0);
    if (predictor.model.source === "network") throw new Error(`${name} was not served from the cache`);
    predictor.close();
  }
  open.close();
  return { median: median(times), where: open.where };
};

/** Turns on the package's offline support as an app does (bench/sw.js); whether it registered. */
window.registerOffline = async () => {
  const { registerOfflineSupport } = await import("../pkg/shell/index.js");
  return (await registerOfflineSupport({ url: "sw.js" })) !== null;
};

async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A corpus case (tests/corpus) as bundle bytes: the bundle bench/run.mjs compiled from it
 * (bench/plans, a manifest and model.plan: what the default entry loads, as an app's
 * bundle), else a manifest made from its case.json for the full entry; the rows from case.json.
 */
async function corpusBytes(name) {
  const made = await madeCorpusBytes(name);
  const folder = `./plans/${name}`;
  const [manifest, plan] = await Promise.all([fetch(`${folder}/manifest.json`), fetch(`${folder}/model.plan`)]);
  if (!manifest.ok || !plan.ok) return made;
  return { ...made, manifest: await manifest.text(), plan: new Uint8Array(await plan.arrayBuffer()) };
}

/** A corpus case as bundle bytes for the full entry: a manifest made from its case.json. */
async function madeCorpusBytes(name) {
  const [text, buffer] = await Promise.all([
    fetch(`../tests/corpus/${name}/case.json`).then((r) => r.text()),
    fetch(`../tests/corpus/${name}/model.onnx`).then((r) => r.arrayBuffer()),
  ]);
  const c = JSON.parse(text);
  const model = new Uint8Array(buffer);
  const row = Array.isArray(c.features) ? c.features : [c.features];
  const count = row.reduce((a, b) => a * b, 1);
  const names = Array.from({ length: count }, (_, i) => `f${i}`);
  const features = c.inputs.map((r) => r.map((v) => (v === null ? NaN : v)));
  const classification = c.task === "classification";
  const argmax = (v) => v.indexOf(Math.max(...v));
  const complete = c.inputs.findIndex((r) => r.every((v) => v !== null));
  const expected = classification
    ? { probabilities: c.expected[complete], label: c.classes[argmax(c.expected[complete])] }
    : { value: c.expected[complete][0] };
  const manifest = {
    format: 1, name: "corpus", version: "0.0.0", sha256: await sha256Hex(model), task: c.task,
    inputs: [{ name: c.input, dtype: "float32", shape: ["N", ...row], features: names, missing: "nan" }],
    outputs: classification ? { probabilities: c.output, classes: c.classes } : { score: c.output },
    performance: {
      metric: classification ? "accuracy" : "r2",
      minimum: classification ? 0 : -1e9,
      holdout: {
        inputs: [c.inputs[complete]],
        targets: [classification ? expected.label : expected.value],
      },
    },
    fixtures: { tolerance: c.tolerance * (classification ? 1 : Math.max(1, Math.abs(expected.value))), cases: [{ input: c.inputs[complete], expected }] },
    reference: { features: names.map((name) => ({ name, edges: [], counts: [0] })), predictions: {} },
    provenance: { training_data: { source: "corpus", rows: 0, window: null }, parent_version: null, created: "2026-11-23T00:00:00Z" },
  };
  return { manifest: JSON.stringify(manifest), model, features, shape: row, input: c.input, output: c.output };
}

/** Per-row and per-batch latency of wasm-predict on bundles, interleaved (µs). */
window.latencyWasmPredict = async (names) => {
  await init();
  const bundleBytes = (name) => (name.startsWith("corpus:") ? corpusBytes(name.slice(7)) : bundleOf(name));
  const rowFns = [];
  const batchFns = [];
  for (const name of names) {
    const bundle = await bundleBytes(name);
    const { features } = bundle;
    const predictor = await predictorOf(bundle);
    const rows = features.map((f) => new Float32Array(f));
    const batch = rowsOf(features, 256);
    rowFns.push((i) => predictor.predict(rows[i % rows.length]).free());
    batchFns.push(() => predictor.predictBatch(batch, 256).free());
  }
  const row = await timeInterleaved(rowFns, 2000, 21);
  const batch256 = await timeInterleaved(batchFns, 30, 21);
  return Object.fromEntries(names.map((n, i) => [n, { row: row[i], batch256: batch256[i] }]));
};

async function ortModule() {
  const ort = await import("../node_modules/onnxruntime-web/dist/ort.wasm.min.mjs");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = new URL("../node_modules/onnxruntime-web/dist/", import.meta.url).href;
  return ort;
}

/** Cold start of onnxruntime-web on a bundle's model: module, session, first prediction (ms). */
window.coldStartOrt = async (name) => {
  const t0 = performance.now();
  const ort = await ortModule();
  const { model, features } = await bundleOf(name);
  const t1 = performance.now();
  const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
  const t2 = performance.now();
  await session.run({ X: new ort.Tensor("float32", new Float32Array(features[0]), [1, features[0].length]) });
  const t3 = performance.now();
  return { init: t1 - t0, load: t2 - t1, first: t3 - t2, total: t3 - t0 };
};

/**
 * Per-row and per-batch latency of wasm-predict and onnxruntime-web (wasm backend, one thread) on
 * the same models, in one page, each model's two contenders timed in interleaved blocks, so that a
 * slow moment of the machine hits both alike (µs).
 */
window.latencyBoth = async (names) => {
  await init();
  const ort = await ortModule();
  const bundleBytes = (name) => (name.startsWith("corpus:") ? corpusBytes(name.slice(7)) : bundleOf(name));
  const contenders = [];
  for (const name of names) {
    const bundle = await bundleBytes(name);
    const { model, features, shape, input, output } = bundle;
    const predictor = await predictorOf(bundle);
    const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
    const rows = features.map((f) => new Float32Array(f));
    const ortRows = features.map((f) => new ort.Tensor("float32", new Float32Array(f), [1, ...shape]));
    const batch = rowsOf(features, 256);
    const ortBatch = new ort.Tensor("float32", batch, [256, ...shape]);
    contenders.push({
      name,
      entry: bundle.plan ? "default (model.plan)" : "full (model.onnx)",
      row: [(i) => predictor.predict(rows[i % rows.length]).free(), (i) => session.run({ [input]: ortRows[i % ortRows.length] }, [output])],
      batch: [() => predictor.predictBatch(batch, 256).free(), () => session.run({ [input]: ortBatch }, [output])],
      release: async () => {
        predictor.free();
        await session.release();
      },
    });
  }
  // Every model before any is timed: the engines' code is shared between models, and the first
  // timed would otherwise pay for V8 tiering its functions up. V8 compiles hot functions on a
  // background thread and runs the baseline code meanwhile, so the pass runs twice with a pause
  // between: on a busy machine the first model timed still ran baseline code after one pass.
  for (const pass of [0, 1]) {
    for (const c of contenders) {
      for (const fn of [...c.row, ...c.row]) for (let i = 0; i < 200; i++) await fn(i);
      for (const fn of c.batch) for (let i = 0; i < 5; i++) await fn(i);
    }
    if (pass === 0) await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const results = {};
  for (const c of contenders) {
    // Enough calls per block that our fastest rows span tens of the timer's 100 µs steps.
    const [ours, theirs] = await timeInterleaved(c.row, 2000, 21);
    const [oursBatch, theirsBatch] = await timeInterleaved(c.batch, 30, 21);
    results[c.name] = { entry: c.entry, wasmPredict: { row: ours, batch256: oursBatch }, onnxruntimeWeb: { row: theirs, batch256: theirsBatch } };
  }
  for (const c of contenders) await c.release();
  return results;
};

/**
 * What the shell adds to a prediction: the latency of `loadPredictor(...).predict` through the
 * worker and on the main thread, against the wasm predictor called directly, interleaved (µs).
 */
window.shellOverhead = async (name) => {
  const { loadPredictor } = await import("../pkg/shell/index.js");
  await init();
  const bundle = await bundleOf(name);
  const { features } = bundle;
  const direct = await predictorOf(bundle);
  const url = new URL(`${BUNDLES}/${name}/1.0.0/`, location.href).href;
  const [worker, mainThread] = await Promise.all([loadPredictor(url, { worker: true }), loadPredictor(url, { worker: false })]);
  const rows = features.map((f) => new Float32Array(f));
  const [wasm, throughWorker, onMainThread] = await timeInterleaved(
    [
      async (i) => direct.predict(rows[i % rows.length]).free(),
      (i) => worker.predict(rows[i % rows.length]),
      (i) => mainThread.predict(rows[i % rows.length]),
    ],
    200,
    21,
  );
  worker.close();
  mainThread.close();
  return { wasm, worker: throughWorker, mainThread: onMainThread, workerOverhead: throughWorker - wasm, mainThreadOverhead: onMainThread - wasm };
};

document.body.dataset.state = "ready";
