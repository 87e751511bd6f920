// Drops the custom sections (function names, producers, target features) from a .wasm file,
// in place, after wasm-bindgen has read them: they are not needed to run and are ~20% of the size.
// Usage: node scripts/strip-wasm.mjs pkg/wasm_predict_bg.wasm
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

/** An unsigned LEB128 at `offset`: [value, offset after it]. */
export function readLeb128(bytes, offset) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[offset++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return [value, offset];
  }
}

export function stripCustomSections(bytes) {
  const magic = [0x00, 0x61, 0x73, 0x6d];
  if (bytes.length < 8 || !magic.every((b, i) => bytes[i] === b)) throw new Error("not a wasm module");
  const kept = [bytes.subarray(0, 8)];
  const dropped = [];
  let offset = 8;
  while (offset < bytes.length) {
    const start = offset;
    const id = bytes[offset++];
    const [size, payload] = readLeb128(bytes, offset);
    const end = payload + size;
    if (end > bytes.length) throw new Error(`section at ${start} runs past the end`);
    if (id === 0) {
      const [nameLength, nameStart] = readLeb128(bytes, payload);
      dropped.push(`${new TextDecoder().decode(bytes.subarray(nameStart, nameStart + nameLength))} (${size} B)`);
    } else {
      kept.push(bytes.subarray(start, end));
    }
    offset = end;
  }
  return { bytes: Buffer.concat(kept), dropped };
}

const file = process.argv[2];
// Only when run as a script: scripts/size-budget.mjs imports readLeb128 from here.
if (file && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const before = readFileSync(file);
  const { bytes, dropped } = stripCustomSections(before);
  writeFileSync(file, bytes);
  console.log(`strip-wasm: ${file} ${before.length} -> ${bytes.length} bytes; dropped ${dropped.join(", ") || "nothing"}`);
}
