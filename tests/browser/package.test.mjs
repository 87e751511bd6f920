// The npm package as it would be published: `npm pack --dry-run` in pkg/ lists exactly the
// intended files (the predictor, its types, the wasm, the same three of the full entry in full/, the
// shell and its types, README, licenses)
// and the tarball stays within its budget (scripts/size-budget.json, packedBytes).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const BUDGET = JSON.parse(readFileSync(new URL("../../scripts/size-budget.json", import.meta.url), "utf8"));

test("the packed package holds exactly the intended files, within its size budget", () => {
  const [pack] = JSON.parse(
    execFileSync("npm", ["pack", "--dry-run", "--json", "--loglevel=error"], { cwd: new URL("../../pkg/", import.meta.url), encoding: "utf8" }),
  );
  const files = pack.files.map((f) => f.path).sort();
  const intended = /^(package\.json|README\.md|LICENSE-MIT|LICENSE-APACHE|(full\/)?(wasm_predict\.js|wasm_predict\.d\.ts|wasm_predict_bg\.wasm)|shell\/[a-z-]+\.(js|d\.ts))$/;
  const unexpected = files.filter((f) => !intended.test(f));
  assert.deepEqual(unexpected, [], `files that should not be published: ${unexpected.join(", ")}`);
  for (const needed of ["package.json", "LICENSE-MIT", "LICENSE-APACHE", "wasm_predict_bg.wasm", "wasm_predict.js", "wasm_predict.d.ts", "shell/index.js", "shell/index.d.ts", "shell/predict-worker.js", "full/wasm_predict.js", "full/wasm_predict.d.ts", "full/wasm_predict_bg.wasm"]) {
    assert.ok(files.includes(needed), `${needed} is missing from the package (it has ${files.join(", ")})`);
  }
  const manifest = JSON.parse(readFileSync(new URL("../../pkg/package.json", import.meta.url), "utf8"));
  assert.equal(manifest.license, "MIT OR Apache-2.0");
  assert.ok(!JSON.stringify(manifest.repository ?? "").includes("example.invalid"), "a placeholder repository");
  assert.ok(pack.size <= BUDGET.packedBytes, `the tarball is ${pack.size} bytes, over the budget of ${BUDGET.packedBytes}`);
});
