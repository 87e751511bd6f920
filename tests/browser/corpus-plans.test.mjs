// The corpus through the package's default entry (no ONNX importer), as users get it: every
// supported case compiled natively into a bundle's model.plan (`cargo run --example corpus_plans`),
// loaded in chromium by `new Predictor(manifest, plan)` from pkg/, and its outputs compared with
// onnxruntime's (case.json) under the tolerance the native corpus test uses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { openPage, serveAndLaunch } from "./chromium.mjs";

const env = serveAndLaunch();
const OUT = "tests/corpus-plans";

test("every corpus case with a plan matches onnxruntime in the default entry", async () => {
  rmSync(OUT, { recursive: true, force: true });
  const { written, withoutPlan } = JSON.parse(
    execFileSync("cargo", ["run", "--quiet", "--example", "corpus_plans", "--", OUT], { encoding: "utf8", maxBuffer: 1 << 26 }),
  );
  console.log(`${written.length} cases with a plan; without: ${JSON.stringify(withoutPlan)}`);
  assert.ok(written.length >= 79, `only ${written.length} corpus cases compiled to plans`);
  const { page, errors } = await openPage(env.browser, `${env.url}/tests/browser/blank.html`);
  const results = await page.evaluate(
    async ({ names, out }) => {
      const { default: init, Predictor } = await import("/pkg/wasm_predict.js");
      await init();
      const results = {};
      for (const name of names) {
        const [manifest, plan, c] = await Promise.all([
          fetch(`/${out}/${name}/manifest.json`).then((r) => r.text()),
          fetch(`/${out}/${name}/model.plan`).then((r) => r.arrayBuffer()),
          fetch(`/${out}/${name}/case.json`).then((r) => r.json()),
        ]);
        try {
          const predictor = new Predictor(manifest, new Uint8Array(plan));
          const batch = c.records
            ? predictor.predictBatch(c.records)
            : predictor.predictBatch(Float32Array.from(c.inputs.flat(), (v) => v ?? NaN), c.inputs.length);
          const outputs = Array.from(batch.outputs);
          const width = outputs.length / c.expected.length;
          let worst = 0;
          c.expected.forEach((want, r) => want.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - outputs[r * width + k])))));
          const scale = c.task === "regression" ? Math.max(1, ...c.expected.flat().map(Math.abs)) : 1;
          results[name] = { worst, tolerance: c.tolerance * scale, width, expectedWidth: c.expected[0].length };
        } catch (error) {
          results[name] = { error: `${error.code}: ${error.message}` };
        }
      }
      return results;
    },
    { names: written, out: OUT },
  );
  assert.deepEqual(errors, []);
  const failures = Object.entries(results)
    .filter(([, r]) => r.error || r.width !== r.expectedWidth || !(r.worst <= r.tolerance))
    .map(([name, r]) => `${name}: ${r.error ?? `max |diff| ${r.worst} over tolerance ${r.tolerance} (${r.width} outputs per row, onnxruntime ${r.expectedWidth})`}`);
  assert.deepEqual(failures, [], failures.join("\n"));
});
