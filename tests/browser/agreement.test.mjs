// Native and wasm builds of the predictor give the same outputs on every committed bundle's
// whole holdout (the native side is `cargo run --example holdout_outputs`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, existsSync } from "node:fs";
import { openPage, serveAndLaunch } from "./chromium.mjs";

const env = serveAndLaunch();

function bundles() {
  return readdirSync("models", { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(`models/${d.name}`).map((v) => `models/${d.name}/${v}`))
    .filter((dir) => existsSync(`${dir}/manifest.json`));
}

test("native and wasm outputs agree on every bundle", async () => {
  const native = JSON.parse(
    execFileSync("cargo", ["run", "--quiet", "--example", "holdout_outputs"], { encoding: "utf8", maxBuffer: 1 << 26 }),
  );
  const { page, errors } = await openPage(env.browser, `${env.url}/tests/browser/blank.html`);
  // Each bundle through both entries: the default one from its compiled plan (what the shell
  // loads), the full one from model.onnx.
  const wasm = await page.evaluate(async (dirs) => {
    const entries = { default: await import("/pkg/wasm_predict.js"), full: await import("/pkg/full/wasm_predict.js") };
    await entries.default.default();
    await entries.full.default();
    const out = { default: {}, full: {} };
    for (const dir of dirs) {
      const manifest = await (await fetch(`/${dir}/manifest.json`)).text();
      const rows = JSON.parse(manifest).performance.holdout.inputs;
      for (const [entry, file] of [["default", "model.plan"], ["full", "model.onnx"]]) {
        const model = new Uint8Array(await (await fetch(`/${dir}/${file}`)).arrayBuffer());
        const predictor = new entries[entry].Predictor(manifest, model);
        out[entry][predictor.model] = Array.from(predictor.predictBatch(new Float32Array(rows.flat()), rows.length).outputs);
      }
    }
    return out;
  }, bundles());
  assert.deepEqual(errors, []);
  assert.ok(Object.keys(native).length >= 4);
  for (const entry of ["default", "full"]) {
    assert.deepEqual(Object.keys(wasm[entry]).sort(), Object.keys(native).sort());
    for (const [model, values] of Object.entries(native)) {
      assert.equal(wasm[entry][model].length, values.length, model);
      let worst = 0;
      values.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - wasm[entry][model][i]) / Math.max(1, Math.abs(v)))));
      console.log(`${model} (${entry} entry): max relative |native - wasm| = ${worst.toExponential(2)} over ${values.length} outputs`);
      assert.ok(worst <= 1e-5, `${model}: native and wasm (${entry} entry) differ by ${worst}`);
    }
  }
});
