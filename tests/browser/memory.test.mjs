// Wasm memory in use, in Debian's chromium through the shell (loadPredictor, its worker): a
// committed MLP bundle and a LightGBM forest (a corpus case compiled to a plan by
// `cargo run --example corpus_plans`), each warmed up, then 100,000 single predictions and 1,000
// batches of 256 rows; the instance's linear memory and live heap are sampled before and after,
// and must not grow by a megabyte. And the load-time check: a bundle whose manifest states less
// memory than its load takes is refused (MEMORY_EXCEEDED). No timing is asserted.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { openPage, serveAndLaunch } from "./chromium.mjs";

const MB = 1024 * 1024;
const PLANS = "tests/memory-plans";
const FOREST = "lgbm-clf-10class";
const DIGITS = "models/digits-mlp-int8/1.0.0";

const env = serveAndLaunch();
before(() => {
  execFileSync("cargo", ["run", "--quiet", "--example", "corpus_plans", "--", PLANS, FOREST], { stdio: ["ignore", "ignore", "inherit"] });
});

/**
 * Loads `folder` through the shell, warms it up, then predicts `predictions` rows one at a time
 * and `batches` batches of 256 rows, sampling the instance's memory after each phase.
 */
async function exercise(folder, rows, { predictions, batches }) {
  const { page, errors } = await openPage(env.browser, `${env.url}/tests/browser/blank.html`);
  try {
    const figures = await page.evaluate(
      async ({ folder, rows, predictions, batches }) => {
        const { loadPredictor } = await import("/www/shell/index.js");
        const predictor = await loadPredictor(`/${folder}/`);
        const width = predictor.model.featureCount;
        const batch = new Float32Array(256 * width);
        for (let r = 0; r < 256; r++) batch.set(rows[r % rows.length].map((v) => v ?? NaN), r * width);
        const row = (i) => Float32Array.from(rows[i % rows.length], (v) => v ?? NaN);
        for (let i = 0; i < 2000; i++) await predictor.predict(row(i));
        for (let i = 0; i < 20; i++) await predictor.predictBatch(batch);
        const warm = await predictor.memory();
        for (let i = 0; i < predictions; i++) await predictor.predict(row(i));
        const afterPredictions = await predictor.memory();
        for (let i = 0; i < batches; i++) await predictor.predictBatch(batch);
        const afterBatches = await predictor.memory();
        predictor.close();
        return { load: predictor.model.memory, warm, afterPredictions, afterBatches };
      },
      { folder, rows, predictions, batches },
    );
    assert.deepEqual(errors, []);
    return figures;
  } finally {
    await page.close();
  }
}

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

for (const [name, folder, rows] of [
  ["digits-mlp-int8", DIGITS, () => JSON.parse(readFileSync(`${DIGITS}/manifest.json`, "utf8")).performance.holdout.inputs],
  [`${FOREST} (60 rounds × 10 classes)`, `${PLANS}/${FOREST}`, () => JSON.parse(readFileSync(`${PLANS}/${FOREST}/case.json`, "utf8")).inputs],
]) {
  test(`${name}: wasm memory stays flat over 100,000 predictions and 1,000 batches of 256 rows`, async () => {
    const { load, warm, afterPredictions, afterBatches } = await exercise(folder, rows(), { predictions: 100_000, batches: 1000 });
    console.log(
      `${name}: load took ${kib(load.peakBytes)} of heap at its peak (grew the memory ${kib(load.grownBytes)}); ` +
        `after warm-up memory ${kib(warm.memoryBytes)}, live heap ${kib(warm.liveBytes)}; ` +
        `after 100,000 predictions ${kib(afterPredictions.memoryBytes)} / ${kib(afterPredictions.liveBytes)}; ` +
        `after 1,000 batches ${kib(afterBatches.memoryBytes)} / ${kib(afterBatches.liveBytes)}`,
    );
    for (const [phase, sample] of [["100,000 predictions", afterPredictions], ["1,000 batches", afterBatches]]) {
      assert.ok(sample.memoryBytes - warm.memoryBytes < MB, `memory grew by ${sample.memoryBytes - warm.memoryBytes} bytes after ${phase}`);
      assert.ok(sample.liveBytes - warm.liveBytes < MB, `the live heap grew by ${sample.liveBytes - warm.liveBytes} bytes after ${phase}`);
    }
  });
}

test("a bundle that takes more memory than its manifest states is refused (MEMORY_EXCEEDED); within it, it loads", async () => {
  const manifest = JSON.parse(readFileSync(`${DIGITS}/manifest.json`, "utf8"));
  const serve = (path, memory) =>
    env.overrides.set(`/${path}/manifest.json`, (_request, response) =>
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ...manifest, memory })),
    );
  // Each case in a page of its own: a page's bundle cache would answer the second with the first manifest.
  const load = async (memory) => {
    serve(DIGITS, memory);
    const { page, errors } = await openPage(env.browser, `${env.url}/tests/browser/blank.html`);
    try {
      const outcome = await page.evaluate(async (folder) => {
        const { loadPredictor } = await import("/www/shell/index.js");
        try {
          const predictor = await loadPredictor(`/${folder}/`);
          const { memory } = predictor.model;
          predictor.close();
          return { memory };
        } catch (error) {
          return { code: error.code, message: error.message };
        }
      }, DIGITS);
      assert.deepEqual(errors, []);
      return outcome;
    } finally {
      await page.close();
    }
  };
  try {
    const refused = await load({ maximum_bytes: 65536, measured_bytes: 60000 });
    assert.equal(refused.code, "MEMORY_EXCEEDED", JSON.stringify(refused));
    assert.match(refused.message, /^digits-mlp-int8@1\.0\.0 took \d+ bytes of heap .* over the 65536 bytes its manifest allows \(memory\.maximum_bytes\)$/);
    const { memory } = await load({ maximum_bytes: 16 * MB });
    assert.equal(memory.requirement.maximum_bytes, 16 * MB);
    assert.ok(memory.peakBytes > 65536 && memory.peakBytes < 16 * MB, JSON.stringify(memory));
  } finally {
    env.overrides.clear();
  }
});
