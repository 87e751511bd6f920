// Puts the browser shell into the npm package: www/shell/*.js (and *.d.ts) copied to pkg/shell/ with the
// package import made relative to the package, declarations generated from the JSDoc by tsc,
// and package.json given an exports map: `wasm-predict` (the predictor, compiled plans only),
// `wasm-predict/full` (with the ONNX importer) and `wasm-predict/shell`.
// Usage: node scripts/package-shell.mjs   (after wasm-pack has written pkg/)
import { copyFileSync, readFileSync, writeFileSync, readdirSync, mkdirSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";

const FROM = "www/shell";
const TO = "pkg/shell";
rmSync(TO, { recursive: true, force: true });
mkdirSync(TO, { recursive: true });
// The .d.ts files are types generated from JSON Schemas (scripts/gen-types.mjs) that the JSDoc imports.
for (const file of readdirSync(FROM).filter((f) => f.endsWith(".js") || f.endsWith(".d.ts"))) {
  const source = readFileSync(`${FROM}/${file}`, "utf8");
  const packaged = source
    .replaceAll('"../../pkg/wasm_predict.js"', '"../wasm_predict.js"')
    .replaceAll('"../../pkg/full/wasm_predict.js"', '"../full/wasm_predict.js"');
  writeFileSync(`${TO}/${file}`, packaged);
}
execFileSync(
  "npx",
  ["tsc", "--allowJs", "--declaration", "--emitDeclarationOnly", "--skipLibCheck", "--target", "es2022", "--module", "es2022",
    "--moduleResolution", "bundler", "--lib", "es2022,dom,dom.iterable", "--outDir", TO, `${TO}/index.js`],
  { stdio: "inherit" },
);

// The licenses the package declares travel with it.
for (const license of ["LICENSE-MIT", "LICENSE-APACHE"]) copyFileSync(license, `pkg/${license}`);

const manifest = JSON.parse(readFileSync("pkg/package.json", "utf8"));
manifest.files = [...new Set([...manifest.files, "shell/", "full/", "LICENSE-MIT", "LICENSE-APACHE"])];
manifest.exports = {
  ".": { types: "./wasm_predict.d.ts", default: "./wasm_predict.js" },
  "./full": { types: "./full/wasm_predict.d.ts", default: "./full/wasm_predict.js" },
  "./shell": { types: "./shell/index.d.ts", default: "./shell/index.js" },
  "./wasm_predict_bg.wasm": "./wasm_predict_bg.wasm",
  "./full/wasm_predict_bg.wasm": "./full/wasm_predict_bg.wasm",
};
// The workers' scripts are nothing but side effects: a bundler that trusts wasm-pack's list
// (snippets only) drops their bodies in production builds, and the worker never answers.
manifest.sideEffects = [...new Set([...(manifest.sideEffects ?? []), "./shell/predict-worker.js", "./shell/offline-worker.js"])];
writeFileSync("pkg/package.json", `${JSON.stringify(manifest, null, 2)}\n`);
