// The browser benchmark: wasm-predict and onnxruntime-web side by side in headless chromium.
// Usage: node bench/run.mjs   (after the package is built into pkg/ and target/bench-venv made:
// scripts/bench.sh does both). Prints a Markdown table and
// writes bench/results/latest.json. Figures are medians; trust the ratios more than the times.
import { execFileSync } from "node:child_process";
import { readFileSync, mkdirSync, writeFileSync, statSync } from "node:fs";
import zlib, { brotliCompressSync, gzipSync } from "node:zlib";
import os from "node:os";
import { startServer } from "../scripts/serve.mjs";
import { launchChromium } from "../tests/browser/chromium.mjs";

const COLD_RUNS = 5;
// Models users make, beside onnxruntime-web and (natively) onnxruntime's Python package: tree
// ensembles of the sizes in issue 14, float MLPs (64-256-128-10 and 64-64-10), a logistic
// regression, a LeNet-5-size CNN and a small one.
const MODELS = [
  "bench-forest-clf",
  "bench-gboost-reg",
  "lgbm-clf-binary",
  "lgbm-clf-10class",
  "lgbm-reg",
  "xgb-clf-binary",
  "xgb-clf-multi",
  "xgb-reg",
  "catboost-clf-binary",
  "catboost-reg",
  "bench-mlp",
  "mlp-float",
  "skl-standard-logreg",
  "bench-lenet",
  "cnn-float",
];

// Native figures first, while the browser is not running: wasm-predict (bench/native_bench.rs)
// and onnxruntime's Python package (bench/native_ort.py, from the venv scripts/bench.sh makes).
const native = JSON.parse(
  execFileSync("cargo", ["run", "--quiet", "--profile", "server", "--example", "native_bench", "--", ...MODELS], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }),
);
const nativeOrt = JSON.parse(
  execFileSync("target/bench-venv/bin/python", ["bench/native_ort.py", ...MODELS], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }),
);
// Each corpus model compiled into a bundle's model.plan, as `bundle` makes it: the page runs it
// on the default entry, as an app's bundle (bench/bench.js, corpusBytes).
const FORMATS = ["mlp", "cnn"].flatMap((net) => ["float", "qdq-u8", "qdq-s8", "qoperator", "dynamic"].map((f) => `${net}-${f}`));
execFileSync("cargo", ["run", "--quiet", "--profile", "server", "--example", "corpus_plans", "--", "bench/plans", ...MODELS, ...FORMATS], {
  stdio: ["ignore", "ignore", "inherit"],
});
const { server, url } = await startServer({ csp: false });
const browser = await launchChromium();

async function inFreshPage(fn, arg) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${url}/bench/index.html`);
  await page.waitForSelector("body[data-state=ready]");
  const result = await page.evaluate(([name, a]) => window[name](a), [fn, arg]);
  await context.close();
  return result;
}

function medianBy(results, key) {
  const sorted = results.map((r) => r[key]).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * A first, a second and a third visit to a page that loads a bundle through the shell, in one
 * browser context (so the second has the HTTP cache, V8's code cache and the Cache API, and the
 * third the package's service worker too, registered after the second), medians of COLD_RUNS fresh
 * contexts.
 */
async function visits(name) {
  const runs = { first: [], second: [], serviceWorker: [] };
  for (let i = 0; i < COLD_RUNS; i++) {
    const context = await browser.newContext();
    for (const visit of ["first", "second", "serviceWorker"]) {
      const page = await context.newPage();
      await page.goto(`${url}/bench/index.html`);
      await page.waitForSelector("body[data-state=ready]");
      runs[visit].push(await page.evaluate((n) => window.startWithShell(n), name));
      // After the second visit, the app's service worker: the third is served by it.
      if (visit === "second" && !(await page.evaluate(() => window.registerOffline()))) throw new Error("the service worker did not register");
      await page.close();
    }
    await context.close();
  }
  const median = (list) => ({
    ...Object.fromEntries(["init", "load", "first", "total"].map((k) => [k, medianBy(list, k)])),
    source: list[0].source,
    file: list[0].file,
  });
  return { first: median(runs.first), second: median(runs.second), serviceWorker: median(runs.serviceWorker) };
}

/** Loading a cached bundle in a page whose runtime runs, worker and main thread: medians of COLD_RUNS pages (ms). */
async function cachedLoads(name) {
  const runs = { worker: [], mainThread: [] };
  for (let i = 0; i < COLD_RUNS; i++) {
    runs.worker.push(await inFreshPage("cachedLoad", { name, worker: true }));
    runs.mainThread.push(await inFreshPage("cachedLoad", { name, worker: false }));
  }
  return { worker: medianBy(runs.worker, "median"), mainThread: medianBy(runs.mainThread, "median") };
}

async function cold(fn, arg) {
  const runs = [];
  for (let i = 0; i < COLD_RUNS; i++) runs.push(await inFreshPage(fn, arg));
  return Object.fromEntries(["init", "load", "first", "total"].map((k) => [k, medianBy(runs, k)]));
}

try {
  const wasm = readFileSync("pkg/wasm_predict_bg.wasm");
  const fullWasm = readFileSync("pkg/full/wasm_predict_bg.wasm");
  const sizeOf = (bytes) => ({
    raw: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  });
  const ortWasm = readFileSync("node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm");
  const results = {
    machine: `${os.cpus().length} × ${os.cpus()[0].model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`,
    browser: browser.version(),
    date: new Date().toISOString(),
    size: {
      wasmPredict: sizeOf(wasm),
      wasmPredictFull: sizeOf(fullWasm),
      onnxruntimeWeb: sizeOf(ortWasm),
      models: Object.fromEntries(
        ["digits-mlp", "digits-mlp-int8", "digits-mlp-qdq"].map((m) => [m, statSync(`models/${m}/1.0.0/model.onnx`).size]),
      ),
    },
    coldStart: {
      wasmPredictEmbedded: await cold("coldStartEmbedded"),
      onnxruntimeWeb: await cold("coldStartOrt", "digits-mlp-int8"),
    },
    visits: await visits("digits-mlp"),
    latency: {},
    shellOverhead: await inFreshPage("shellOverhead", "digits-mlp"),
    cachedLoad: await cachedLoads("digits-mlp"),
  };
  const models = ["digits-mlp", "digits-mlp-int8", "digits-mlp-qdq"];
  results.latency = await inFreshPage("latencyBoth", models);
  const cases = MODELS.map((m) => `corpus:${m}`);
  const both = await inFreshPage("latencyBoth", cases);
  results.models = Object.fromEntries(
    MODELS.map((m) => [
      m,
      {
        ...both[`corpus:${m}`],
        native: native[m] ?? null,
        nativeOnnxruntime: nativeOrt[m] ?? null,
      },
    ]),
  );
  results.nativeOnnxruntimeVersion = nativeOrt.onnxruntime ?? null;
  results.formats = {};
  for (const net of ["mlp", "cnn"]) {
    const cases = ["float", "qdq-u8", "qdq-s8", "qoperator", "dynamic"].map((f) => `corpus:${net}-${f}`);
    results.formats[net] = await inFreshPage("latencyWasmPredict", cases);
  }
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/latest.json", JSON.stringify(results, null, 2) + "\n");

  const f = (v, d = 1) => v.toFixed(d);
  const mb = (b) => `${(b / 1e6).toFixed(2)} MB`;
  const lines = [
    `Machine: ${results.machine}; ${results.browser}; ${results.date.slice(0, 10)}.`,
    "",
    "| measure | wasm-predict | onnxruntime-web 1.30 | ratio (ort / ours) |",
    "|---|---|---|---|",
    `| .wasm size, raw | ${mb(results.size.wasmPredict.raw)} | ${mb(results.size.onnxruntimeWeb.raw)} | ${f(results.size.onnxruntimeWeb.raw / results.size.wasmPredict.raw, 2)} |`,
    `| .wasm size, gzip -9 | ${mb(results.size.wasmPredict.gzip)} | ${mb(results.size.onnxruntimeWeb.gzip)} | ${f(results.size.onnxruntimeWeb.gzip / results.size.wasmPredict.gzip, 2)} |`,
    `| .wasm size, brotli 11 | ${mb(results.size.wasmPredict.brotli)} | ${mb(results.size.onnxruntimeWeb.brotli)} | ${f(results.size.onnxruntimeWeb.brotli / results.size.wasmPredict.brotli, 2)} |`,
    `| full entry (wasm-predict/full, with the ONNX importer) .wasm, gzip -9 / brotli 11 | ${mb(results.size.wasmPredictFull.gzip)} / ${mb(results.size.wasmPredictFull.brotli)} | – | – |`,
  ];
  const c = results.coldStart;
  lines.push(
    `| cold start, int8 digits: init + load + first prediction (ms) | ${f(c.wasmPredictEmbedded.init)} + ${f(c.wasmPredictEmbedded.load)} + ${f(c.wasmPredictEmbedded.first)} = ${f(c.wasmPredictEmbedded.total)} | ${f(c.onnxruntimeWeb.init)} + ${f(c.onnxruntimeWeb.load)} + ${f(c.onnxruntimeWeb.first)} = ${f(c.onnxruntimeWeb.total)} | ${f(c.onnxruntimeWeb.total / c.wasmPredictEmbedded.total, 2)} |`,
  );
  for (const [visit, v] of Object.entries(results.visits)) {
    lines.push(
      `| digits-mlp through the shell, ${{ first: "first visit", second: "second visit", serviceWorker: "third visit, with the service worker" }[visit]} (bundle from ${v.source}, ${v.file}): init + loadPredictor + first prediction (ms) | ${f(v.init)} + ${f(v.load)} + ${f(v.first)} = ${f(v.total)} | – | – |`,
    );
  }
  const o = results.shellOverhead;
  lines.push(
    `| digits-mlp from the Cache API through loadPredictor, in a page whose runtime runs: worker / main thread (ms) | ${f(results.cachedLoad.worker)} / ${f(results.cachedLoad.mainThread)} | – | – |`,
  );
  lines.push(
    `| digits-mlp through the shell's loadPredictor: overhead per prediction over the wasm's ${f(o.wasm)} µs, worker / main thread (µs) | ${f(o.workerOverhead)} / ${f(o.mainThreadOverhead)} | – | – |`,
  );
  for (const [model, r] of Object.entries(results.latency)) {
    lines.push(
      `| ${model}: one row (µs per prediction) | ${f(r.wasmPredict.row)} | ${f(r.onnxruntimeWeb.row)} | ${f(r.onnxruntimeWeb.row / r.wasmPredict.row, 2)} |`,
      `| ${model}: batch of 256 (µs per batch) | ${f(r.wasmPredict.batch256, 0)} | ${f(r.onnxruntimeWeb.batch256, 0)} | ${f(r.onnxruntimeWeb.batch256 / r.wasmPredict.batch256, 2)} |`,
    );
  }
  const l = results.latency;
  const ratio = (model, key) => f(l[model].wasmPredict[key] / l["digits-mlp"].wasmPredict[key], 2);
  lines.push(
    "",
    `On wasm-predict, against the float model: int8 weight-only (the embedded default) one row ${ratio("digits-mlp-int8", "row")}, batch of 256 ${ratio("digits-mlp-int8", "batch256")}; onnxruntime's static QDQ one row ${ratio("digits-mlp-qdq", "row")}, batch of 256 ${ratio("digits-mlp-qdq", "batch256")}.`,
  );
  lines.push(
    "",
    "Quantization formats on wasm-predict (corpus models, µs; ratio to the float model, below 1 is faster):",
    "",
    "| model | format | one row | ratio | batch of 256 | ratio |",
    "|---|---|---|---|---|---|",
  );
  for (const [net, byCase] of Object.entries(results.formats)) {
    const float = byCase[`corpus:${net}-float`];
    for (const [name, r] of Object.entries(byCase)) {
      const format = name.slice(`corpus:${net}-`.length);
      lines.push(
        `| ${net} | ${format} | ${f(r.row)} | ${f(r.row / float.row, 2)} | ${f(r.batch256, 0)} | ${f(r.batch256 / float.batch256, 2)} |`,
      );
    }
  }
  lines.push(
    "",
    "Models users make (tests/corpus), µs; ratio = theirs / ours (above 1: wasm-predict is faster). In chromium against onnxruntime-web (wasm, one thread); natively (the `server` profile) against onnxruntime's Python package (default threads):",
    "",
    "| model | chromium row: ours / ort-web | ratio | chromium batch 256: ours / ort-web | ratio | native row: ours / ort | ratio | native batch 256: ours / ort | ratio | native ns per node visit (row): median, fastest block |",
    "|---|---|---|---|---|---|---|---|---|---|",
  );
  for (const [model, r] of Object.entries(results.models)) {
    const n = r.native;
    const o = r.nativeOnnxruntime?.default;
    const nativeCells = n && o
      ? `${f(n.row_us)} / ${f(o.row_us)} | ${f(o.row_us / n.row_us, 2)} | ${f(n.batch256_us, 0)} / ${f(o.batch256_us, 0)} | ${f(o.batch256_us / n.batch256_us, 2)}`
      : "– | – | – | –";
    const visit = n?.kernel_ns_per_visit_row
      ? `${f(n.kernel_ns_per_visit_row, 2)}, fastest block ${f(n.kernel_ns_per_visit_row_fastest, 2)} (${f(n.visits_per_row, 0)} visits)`
      : "–";
    lines.push(
      `| ${model} | ${f(r.wasmPredict.row)} / ${f(r.onnxruntimeWeb.row)} | ${f(r.onnxruntimeWeb.row / r.wasmPredict.row, 2)} | ${f(r.wasmPredict.batch256, 0)} / ${f(r.onnxruntimeWeb.batch256, 0)} | ${f(r.onnxruntimeWeb.batch256 / r.wasmPredict.batch256, 2)} | ${nativeCells} | ${visit} |`,
    );
  }
  console.log(lines.join("\n"));
} finally {
  await browser.close();
  server.close();
}
