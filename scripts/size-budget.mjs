// The size budget of the package's .wasm: its size over the wire (gzip -9 and brotli of the module
// as shipped, custom sections stripped) against scripts/size-budget.json, with where the code
// bytes go by crate (function bodies, named by the name section of the unstripped build). Run by
// scripts/build.sh before the custom sections are stripped; exits 1 when the gzipped size is over
// the budget, so that growth is always a decision (raise the budget in the same commit, saying why).
// Usage: node scripts/size-budget.mjs ENTRY FILE, ENTRY being a key of `entries` in the budget file
// ("default": pkg/wasm_predict_bg.wasm, the build without the ONNX importer; "full": pkg/full/).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

import { readLeb128 as leb128 } from "./strip-wasm.mjs";

/** The module's sections: {id, name (custom sections), start, payload, end}. */
function sections(bytes) {
  const out = [];
  let offset = 8;
  while (offset < bytes.length) {
    const start = offset;
    const id = bytes[offset++];
    const [size, payload] = leb128(bytes, offset);
    const end = payload + size;
    let name = null;
    let body = payload;
    if (id === 0) {
      const [length, at] = leb128(bytes, payload);
      name = new TextDecoder().decode(bytes.subarray(at, at + length));
      body = at + length;
    }
    out.push({ id, name, start, payload: body, end });
    offset = end;
  }
  return out;
}

/** Sizes of the function bodies, in code-section order. */
function bodySizes(bytes, code) {
  let [count, offset] = leb128(bytes, code.payload);
  const sizes = [];
  for (let i = 0; i < count; i++) {
    const [size, at] = leb128(bytes, offset);
    sizes.push(size);
    offset = at + size;
  }
  return sizes;
}

/**
 * `module` (a shipped module: no custom sections) with the function bodies of the code-section
 * indices in `emptied` replaced by `unreachable`: not a valid program, a measure of what those
 * bodies cost compressed.
 */
function withBodiesEmptied(module, emptied) {
  const code = sections(module).find((s) => s.id === 10);
  if (!code || emptied.size === 0) return module;
  const uleb = (n) => {
    const out = [];
    do {
      let byte = n & 0x7f;
      n >>>= 7;
      if (n) byte |= 0x80;
      out.push(byte);
    } while (n);
    return Buffer.from(out);
  };
  let [count, offset] = leb128(module, code.payload);
  const bodies = [uleb(count)];
  for (let i = 0; i < count; i++) {
    const [size, at] = leb128(module, offset);
    // No locals, `unreachable`, `end`.
    const body = emptied.has(i) ? Buffer.from([0x00, 0x00, 0x0b]) : module.subarray(at, at + size);
    bodies.push(uleb(body.length), body);
    offset = at + size;
  }
  const payload = Buffer.concat(bodies);
  return Buffer.concat([module.subarray(0, code.start), Buffer.from([10]), uleb(payload.length), payload, module.subarray(code.end)]);
}

/** How many functions are imported (they come first in the function index space). */
function importedFunctions(bytes, imports) {
  if (!imports) return 0;
  let [count, offset] = leb128(bytes, imports.payload);
  let functions = 0;
  const skipName = (at) => {
    const [length, next] = leb128(bytes, at);
    return next + length;
  };
  for (let i = 0; i < count; i++) {
    offset = skipName(skipName(offset));
    const kind = bytes[offset++];
    if (kind === 0) {
      functions++;
      [, offset] = leb128(bytes, offset);
    } else if (kind === 1) {
      offset += 1; // reftype
      const flags = bytes[offset++];
      [, offset] = leb128(bytes, offset);
      if (flags & 1) [, offset] = leb128(bytes, offset);
    } else if (kind === 2) {
      const flags = bytes[offset++];
      [, offset] = leb128(bytes, offset);
      if (flags & 1) [, offset] = leb128(bytes, offset);
    } else {
      offset += 2; // global: valtype, mutability
    }
  }
  return functions;
}

/** Function index -> name, from the name section's function-names subsection. */
function functionNames(bytes, nameSection) {
  const names = new Map();
  if (!nameSection) return names;
  let offset = nameSection.payload;
  while (offset < nameSection.end) {
    const kind = bytes[offset++];
    const [size, at] = leb128(bytes, offset);
    if (kind === 1) {
      let [count, next] = leb128(bytes, at);
      for (let i = 0; i < count; i++) {
        const [index, nameAt] = leb128(bytes, next);
        const [length, text] = leb128(bytes, nameAt);
        names.set(index, new TextDecoder().decode(bytes.subarray(text, text + length)));
        next = text + length;
      }
    }
    offset = at + size;
  }
  return names;
}

/** The crate a (mangled or demangled) Rust function name belongs to. */
function crateOf(name) {
  if (!name) return "(unnamed)";
  const legacy = /^_ZN(\d+)/.exec(name);
  if (legacy) {
    // `_$LT$smallvec..SmallVec$LT$A$GT$ as ...`: the crate of the type an impl is for.
    const segment = name.substr(legacy[0].length, Number(legacy[1]));
    return segment.replace(/^_?\$LT\$/, "").split("..")[0];
  }
  const path = name.replace(/^[<&\s]+/, "").replace(/^(dyn |impl )/, "");
  const first = path.split("::")[0];
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(first) && path.includes("::") ? first : "(other)";
}

const [entry, file] = process.argv.slice(2);
const bytes = readFileSync(file);
const all = sections(bytes);
const code = all.find((s) => s.id === 10);
const sizes = code ? bodySizes(bytes, code) : [];
const imported = importedFunctions(bytes, all.find((s) => s.id === 2));
const names = functionNames(bytes, all.find((s) => s.id === 0 && s.name === "name"));
const byCrate = new Map();
sizes.forEach((size, i) => {
  const crate = crateOf(names.get(imported + i));
  byCrate.set(crate, (byCrate.get(crate) ?? 0) + size);
});
const codeBytes = sizes.reduce((a, b) => a + b, 0);
const shipped = Buffer.concat([bytes.subarray(0, 8), ...all.filter((s) => s.id !== 0).map((s) => bytes.subarray(s.start, s.end))]);
const gzip = gzipSync(shipped, { level: 9 }).length;
const brotli = brotliCompressSync(shipped, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
const budget = JSON.parse(readFileSync(new URL("./size-budget.json", import.meta.url), "utf8")).entries[entry];
if (!budget) {
  console.error(`size: no budget for entry ${JSON.stringify(entry)} in scripts/size-budget.json`);
  process.exit(2);
}
const crates = [...byCrate.entries()].sort((a, b) => b[1] - a[1]);
// What each of our kernels' modules adds over the wire: the shipped module's gzipped size less
// that of the same module with the module's function bodies (generic instances included) emptied.
const KERNELS = ["trees", "dense_f32", "conv_f32", "pool_f32", "quantized"];
const inModule = (name, module) =>
  !!name && (name.includes(`wasm_predict_kernels::${module}`) || name.includes(`wasm_predict_kernels${module.length}${module}`));
const kernels = Object.fromEntries(
  KERNELS.map((module) => {
    const emptied = new Set(sizes.flatMap((_, i) => (inModule(names.get(imported + i), module) ? [i] : [])));
    const codeOf = [...emptied].reduce((sum, i) => sum + sizes[i], 0);
    const without = gzipSync(withBodiesEmptied(shipped, emptied), { level: 9 }).length;
    return [module, { functions: emptied.size, codeBytes: codeOf, gzipBytesAdded: gzip - without }];
  }),
);
const report = {
  entry,
  file,
  shippedBytes: shipped.length,
  gzipBytes: gzip,
  brotliBytes: brotli,
  budgetGzipBytes: budget.gzipBytes,
  codeBytes,
  byCrate: Object.fromEntries(crates),
  kernels,
};
mkdirSync("target", { recursive: true });
writeFileSync(`target/wasm-size-${entry}.json`, `${JSON.stringify(report, null, 2)}\n`);
const mb = (n) => `${(n / 1e6).toFixed(3)} MB`;
console.log(
  `size (${entry}): ${file} ships ${mb(shipped.length)}, ${mb(gzip)} gzip -9, ${mb(brotli)} brotli; budget ${mb(budget.gzipBytes)} gzip`,
);
const top = crates
  .slice(0, 12)
  .map(([crate, size]) => `${crate} ${((100 * size) / codeBytes).toFixed(1)}%`)
  .join(", ");
if (gzip > budget.gzipBytes) {
  console.error(`size: OVER BUDGET by ${gzip - budget.gzipBytes} bytes gzipped. Code by crate: ${top}`);
  console.error(`size: make it smaller, or raise entries.${entry}.gzipBytes in scripts/size-budget.json in the same commit, saying why`);
  process.exit(1);
}
console.log(`size: code by crate: ${top} (target/wasm-size-${entry}.json)`);
const kb = (n) => `${(n / 1000).toFixed(1)} KB`;
console.log(
  `size: gzipped bytes each kernel module adds: ${KERNELS.map((m) => `${m} ${kb(kernels[m].gzipBytesAdded)}`).join(", ")}`,
);
