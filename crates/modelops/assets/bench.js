// `wasm-predict bench`, the browser side: times two bundles with the wasm package, interleaved,
// and posts the medians back to the command that opened this page.
import init, { Predictor } from "/pkg/wasm_predict.js";

/** The full entry (with the ONNX importer), for a bundle without a compiled plan. */
let full = null;

const post = (path, body) =>
  fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** Loads a bundle as the shell does: from its compiled plan when it has one, else from model.onnx. */
async function load(which) {
  const manifest = await fetch(`/${which}/manifest.json`).then((r) => r.text());
  const parsed = JSON.parse(manifest);
  const file = parsed.plan ? "model.plan" : "model.onnx";
  const model = new Uint8Array(await fetch(`/${which}/${file}`).then((r) => r.arrayBuffer()));
  let Entry = Predictor;
  if (file === "model.onnx") {
    full ??= import("/pkg/full/wasm_predict.js").then(async (entry) => (await entry.default(), entry));
    Entry = (await full).Predictor;
  }
  return { predictor: new Entry(manifest, model), rows: parsed.performance.holdout.inputs };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Mean microseconds per call of `calls` calls. */
function timeBlock(fn, calls) {
  const start = performance.now();
  for (let i = 0; i < calls; i++) fn(i);
  return ((performance.now() - start) * 1000) / calls;
}

try {
  const config = await (await fetch("/config")).json();
  await init();
  const [old, next] = [await load("old"), await load("new")];
  // A missing value is null in the manifest and NaN in a row.
  const rows = next.rows.map((r) => Float32Array.from(r, (v) => v ?? NaN));
  const width = rows[0].length;
  const batch = new Float32Array(config.batch * width);
  for (let r = 0; r < config.batch; r++) batch.set(rows[r % rows.length], r * width);
  const batchCalls = Math.min(20, Math.max(2, Math.floor(config.perBlock / config.batch)));
  // V8 first runs wasm with its baseline compiler and optimizes hot functions in the background:
  // time only after a second of calls, or the first figures measure the compiler.
  const warmUntil = performance.now() + config.warmUpMs;
  for (let i = 0; performance.now() < warmUntil; i++) {
    for (const { predictor } of [old, next]) {
      predictor.predict(rows[i % rows.length]).free();
      if (i % 16 === 0) predictor.predictBatch(batch, config.batch).free();
    }
  }
  const figures = [old, next].map(() => ({ row: [], batch: [] }));
  for (let block = 0; block <= config.blocks; block++) {
    for (const [k, { predictor }] of [old, next].entries()) {
      const rowUs = timeBlock((i) => predictor.predict(rows[i % rows.length]).free(), config.perBlock);
      const batchUs = timeBlock(() => predictor.predictBatch(batch, config.batch).free(), batchCalls);
      // Block 0 warms up.
      if (block > 0) {
        figures[k].row.push(rowUs);
        figures[k].batch.push(batchUs);
      }
    }
  }
  const [o, n] = figures.map((f) => ({ row_us: median(f.row), batch_us: median(f.batch) }));
  await post("/result", { browser: navigator.userAgent, crossOriginIsolated, old: o, new: n });
} catch (error) {
  await post("/error", { message: String(error?.message ?? error) });
}
