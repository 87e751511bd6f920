// A small static file server for the demo, the browser tests and the benchmarks, on loopback only,
// with a stand-in telemetry receiver at POST /v1/events (in memory, de-duplicating by event id)
// until the Rust collector serves the demo.
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

const EVENT_KINDS = new Set(["prediction", "exposure", "fallback", "outcome", "review"]);

/**
 * The stand-in receiver's state: stored events by id, how often each id arrived, every request's
 * path, and switches tests use: `down` answers 503, `delayMs` holds each answer back.
 */
export function createCollector() {
  return { events: new Map(), deliveries: new Map(), received: 0, batches: 0, requests: [], down: false, delayMs: 0 };
}

/**
 * @param {ReturnType<typeof createCollector>} collector
 * @param {import("node:http").IncomingMessage} request
 * @param {import("node:http").ServerResponse} response
 */
async function receiveEvents(collector, request, response) {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  if (collector.delayMs) await new Promise((r) => setTimeout(r, collector.delayMs));
  if (collector.down) {
    response.writeHead(503, { "retry-after": "0" }).end("collector down\n");
    return;
  }
  let batch;
  try {
    batch = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    response.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: "body is not JSON" }));
    return;
  }
  const reply = { accepted: [], duplicates: [], rejected: [] };
  (Array.isArray(batch?.events) ? batch.events : []).forEach((event, index) => {
    collector.received += 1;
    if (typeof event?.id !== "string" || !EVENT_KINDS.has(event?.kind)) reply.rejected.push({ index, reason: "needs an id and a known kind" });
    else if (collector.events.has(event.id)) {
      collector.deliveries.set(event.id, collector.deliveries.get(event.id) + 1);
      reply.duplicates.push(event.id);
    }
    else {
      collector.events.set(event.id, event);
      collector.deliveries.set(event.id, 1);
      reply.accepted.push(event.id);
    }
  });
  collector.batches += 1;
  response.writeHead(reply.rejected.length ? 422 : 200, { "content-type": "application/json" }).end(JSON.stringify(reply));
}

/**
 * Starts the server on 127.0.0.1; resolves to { server, url, collector, overrides }. `overrides`
 * maps a path to a handler `(request, response) => void` that answers instead of the file. `csp`
 * sends the demo's Content-Security-Policy; `cors` lets any origin read the files, as a CDN does.
 * `appRoot` serves a built app at the root: paths outside the repository's served folders (the
 * models, the package) are read from it, `/` as its index.html.
 */
export function startServer({ port = 0, csp = true, cors = false, appRoot } = {}) {
  const collector = createCollector();
  const overrides = new Map();
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url, "http://localhost").pathname);
    collector.requests.push(path);
    if (overrides.has(path)) {
      overrides.get(path)(request, response);
      return;
    }
    if (path === "/v1/events" && request.method === "POST") {
      await receiveEvents(collector, request, response);
      return;
    }
    if (path === "/" && !appRoot) {
      response.writeHead(302, { location: "/www/index.html" }).end();
      return;
    }
    let file = normalize(join(ROOT, path));
    let allowed = SERVED.some((dir) => file.startsWith(join(ROOT, dir) + sep));
    if (!allowed && appRoot) {
      file = normalize(join(appRoot, path.endsWith("/") ? `${path}index.html` : path));
      allowed = file.startsWith(resolve(appRoot) + sep);
    }
    try {
      const info = allowed ? await stat(file) : null;
      if (!info?.isFile()) throw new Error("not served");
      // Revalidated on every use (no-cache) against a validator, as a deployment serves files:
      // an unchanged file is a 304, so the browser keeps its copy, and V8 its compiled wasm.
      const etag = `"${info.size.toString(16)}-${Math.trunc(info.mtimeMs).toString(16)}"`;
      const headers = { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-cache", etag };
      if (csp) headers["content-security-policy"] = CSP;
      if (cors) headers["access-control-allow-origin"] = "*";
      if (request.headers["if-none-match"] === etag) {
        response.writeHead(304, headers).end();
        return;
      }
      response.writeHead(200, headers).end(await readFile(file));
    } catch {
      response.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${path}\n`);
    }
  });
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      resolvePromise({ server, url: `http://127.0.0.1:${server.address().port}`, collector, overrides });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { url } = await startServer({ port: Number(process.argv[2] ?? 0) });
  console.log(`wasm-predict demo: ${url}/www/index.html  (Ctrl-C to stop)`);
}
