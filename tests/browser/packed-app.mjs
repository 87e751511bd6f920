// An app of its own using the npm package as users get it: pkg/ packed with `npm pack` and the
// tarball installed into a copy of the app's sources.
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Copies `files` (files or folders) from `source` into a fresh `dist` and installs the packed
 * package there, as `node_modules/wasm-predict`.
 * @param {string} source
 * @param {string} dist
 * @param {string[]} files
 */
export function installPackedApp(source, dist, files) {
  rmSync(dist, { recursive: true, force: true });
  for (const file of files) cpSync(join(source, file), join(dist, file), { recursive: true });
  // Its own package.json: npm installs into the nearest project, which must be the app.
  writeFileSync(join(dist, "package.json"), `${JSON.stringify({ name: "app", private: true }, null, 2)}\n`);
  const packDir = mkdtempSync(join(tmpdir(), "wasm-predict-pack-"));
  try {
    const [pack] = JSON.parse(execFileSync("npm", ["pack", "--json", "--loglevel=error", "--pack-destination", packDir], { cwd: join(ROOT, "pkg"), encoding: "utf8" }));
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error", join(packDir, pack.filename)], { cwd: dist, stdio: ["ignore", "ignore", "inherit"] });
  } finally {
    rmSync(packDir, { recursive: true, force: true });
  }
}
