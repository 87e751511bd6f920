// The shell's config check on the cases the collector's test uses too (tests/cases/experiment-configs.json).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { validateExperiment, ExperimentError } from "../../www/shell/experiment.js";

const CASES = JSON.parse(readFileSync(new URL("../cases/experiment-configs.json", import.meta.url), "utf8"));

/** The base config with `set` applied: dotted paths, a null value deletes. */
function patched(set) {
  const config = structuredClone(CASES.base);
  for (const [path, value] of Object.entries(set)) {
    const keys = path.split(".");
    const last = keys.pop();
    const parent = keys.reduce((node, key) => node[key], config);
    if (value === null) delete parent[last];
    else parent[last] = value;
  }
  return config;
}

test("valid experiment configs are accepted", () => {
  for (const set of CASES.valid) assert.doesNotThrow(() => validateExperiment(patched(set)), JSON.stringify(set));
  assert.doesNotThrow(() => validateExperiment(JSON.parse(readFileSync(new URL("../../www/experiment.json", import.meta.url), "utf8"))));
});

test("invalid experiment configs are refused naming the field", () => {
  for (const { set, error } of CASES.invalid) {
    assert.throws(
      () => validateExperiment(patched(set)),
      (e) => e instanceof ExperimentError && e.message.includes(error),
      `${JSON.stringify(set)} should fail mentioning ${error}`,
    );
  }
});
