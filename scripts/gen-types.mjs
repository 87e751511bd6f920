// One source per contract: the TypeScript types of the bundle manifest and of the experiment
// config, and the schema module the shell validates configs with, are generated from their JSON
// Schemas (models/manifest.schema.json, www/experiment.schema.json). The outputs are committed;
// `--check` (run by scripts/test.sh) fails when one differs from what its schema gives.
// Usage: node scripts/gen-types.mjs [--check]
import { readFileSync, writeFileSync } from "node:fs";
import { compile } from "json-schema-to-typescript";

const BANNER = (source) => `// Generated from ${source} by scripts/gen-types.mjs: edit the schema, then run it.`;
const OPTIONS = { additionalProperties: false, ignoreMinAndMaxItems: true, format: true, unreachableDefinitions: false };

/** The schema in the draft-07 form the compiler reads: 2020-12's `prefixItems` as tuple `items`. */
function toDraft07(node) {
  if (Array.isArray(node)) return node.map(toDraft07);
  if (node === null || typeof node !== "object") return node;
  const out = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, toDraft07(v)]));
  if (out.prefixItems) {
    out.additionalItems = out.items ?? true;
    out.items = out.prefixItems;
    delete out.prefixItems;
  }
  return out;
}

/** The TypeScript of a schema, its root type named `name`. */
async function typesOf(path, name) {
  const schema = JSON.parse(readFileSync(path, "utf8"));
  return compile(toDraft07({ ...schema, title: name }), name, { ...OPTIONS, bannerComment: BANNER(path) });
}

const outputs = {
  "src/types/manifest.d.ts": await typesOf("models/manifest.schema.json", "Manifest"),
  "www/shell/experiment-config.d.ts": await typesOf("www/experiment.schema.json", "ExperimentConfig"),
  "www/shell/experiment-schema.js": `${BANNER("www/experiment.schema.json")}\n/** The experiment config's JSON Schema. */\nexport const EXPERIMENT_CONFIG_SCHEMA = ${JSON.stringify(
    JSON.parse(readFileSync("www/experiment.schema.json", "utf8")),
    null,
    2,
  )};\n`,
};

const check = process.argv.includes("--check");
let stale = 0;
for (const [path, text] of Object.entries(outputs)) {
  let current = null;
  try {
    current = readFileSync(path, "utf8");
  } catch {}
  if (current === text) continue;
  if (check) {
    console.error(`${path} is not what its schema gives: run node scripts/gen-types.mjs`);
    stale += 1;
  } else {
    writeFileSync(path, text);
    console.log(`wrote ${path}`);
  }
}
process.exit(stale ? 1 : 0);
