// A small static file server for the demo, the browser tests and the benchmarks, on loopback only.
// Usage: node scripts/serve.mjs [port]   (0 or nothing: any free port). Prints the demo's URL.
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(import.meta.url), "../..");
const SERVED = ["www", "pkg", "models", "bench", "tests", "node_modules/onnxruntime-web/dist"];
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".ts": "text/plain; charset=utf-8",
};
/** The policy the demo must work under: no inline scripts, wasm compiled from same-origin bytes. */
export const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'";

/** Starts the server on 127.0.0.1; resolves to { server, url }. */
export function startServer({ port = 0, csp = true } = {}) {
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url, "http://localhost").pathname);
    if (path === "/") {
      response.writeHead(302, { location: "/www/index.html" }).end();
      return;
    }
    const file = normalize(join(ROOT, path));
    const allowed = SERVED.some((dir) => file.startsWith(join(ROOT, dir) + sep));
    try {
      if (!allowed || !(await stat(file)).isFile()) throw new Error("not served");
      const body = await readFile(file);
      const headers = { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-cache" };
      if (csp) headers["content-security-policy"] = CSP;
      response.writeHead(200, headers).end(body);
    } catch {
      response.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${path}\n`);
    }
  });
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      resolvePromise({ server, url: `http://127.0.0.1:${server.address().port}` });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { url } = await startServer({ port: Number(process.argv[2] ?? 0) });
  console.log(`wasm-predict demo: ${url}/www/index.html  (Ctrl-C to stop)`);
}
