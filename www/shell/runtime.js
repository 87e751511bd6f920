// Where predictions run: a module Web Worker when the browser allows one, else the main thread.
// Either way the same PredictorHost answers the same requests.
import { offerForOffline } from "./offline.js";

/**
 * @typedef {import("./predictor-host.js").HostRequest} HostRequest
 * @typedef {Error & {code?: string}} PredictError
 */

/** Rebuilds an error that crossed postMessage, keeping its name and code. */
function revive(/** @type {{name?: string, code?: string, message: string}} */ error) {
  return Object.assign(new Error(error.message), { name: error.name ?? "Error", code: error.code });
}

/** Sends requests to the predictors, wherever they run. */
export class PredictorRuntime {
  /**
   * @param {"worker" | "main-thread"} kind
   * @param {(request: HostRequest, transfer?: Transferable[]) => Promise<any>} call
   * @param {() => void} close
   */
  constructor(kind, call, close) {
    this.kind = kind;
    this.call = call;
    this.close = close;
  }

  /**
   * Starts a runtime: a worker unless `worker` is false or no worker can start (no Worker, or a
   * Content-Security-Policy without worker-src 'self'); the wasm is instantiated before this
   * resolves.
   * @param {{worker?: boolean, onBroken?: () => void}} [options] `onBroken` is called if the worker fails
   * @returns {Promise<PredictorRuntime>}
   */
  static async start({ worker = true, onBroken } = {}) {
    if (worker && typeof Worker !== "undefined") {
      try {
        const runtime = startWorker(onBroken);
        await runtime.call({ op: "init" });
        offerLoadedFiles(runtime);
        return runtime;
      } catch (error) {
        console.warn("wasm-predict: no Web Worker, predicting on the main thread:", error);
      }
    }
    const { PredictorHost } = await import("./predictor-host.js");
    const host = new PredictorHost();
    await host.handle({ op: "init" });
    const runtime = new PredictorRuntime("main-thread", (request) => host.handle(request), () => {});
    offerLoadedFiles(runtime);
    return runtime;
  }

  /**
   * The page's runtime of this kind, started on first use and shared by every predictor that
   * leases it (one worker and one wasm instance however many models the page loads), stopped
   * when the last lease is released. A worker that fails is not handed out again.
   * @param {{worker?: boolean}} [options]
   * @returns {Promise<RuntimeLease>}
   */
  static async lease({ worker = true } = {}) {
    const key = worker ? "worker" : "main-thread";
    let entry = shared.get(key);
    if (!entry) {
      const drop = () => {
        if (shared.get(key) === created) shared.delete(key);
      };
      const created = { runtime: PredictorRuntime.start({ worker, onBroken: drop }), users: 0 };
      created.runtime.catch(drop);
      shared.set(key, created);
      entry = created;
    }
    const held = entry;
    held.users++;
    let runtime;
    try {
      runtime = await held.runtime;
    } catch (error) {
      held.users--;
      throw error;
    }
    let released = false;
    return {
      runtime,
      release() {
        if (released) return;
        released = true;
        held.users--;
        if (held.users > 0) return;
        if (shared.get(key) === held) shared.delete(key);
        runtime.close();
      },
    };
  }
}

/**
 * @typedef {object} RuntimeLease
 * @property {PredictorRuntime} runtime
 * @property {() => void} release gives the runtime back (stopped when nobody else holds it)
 */

/** @type {Map<string, {runtime: Promise<PredictorRuntime>, users: number}>} */
const shared = new Map();

/**
 * Offers what the runtime loaded (the worker's script, the wasm) to the offline service worker,
 * if the app registers one; in the background, never failing the runtime.
 * @param {PredictorRuntime} runtime
 */
function offerLoadedFiles(runtime) {
  runtime
    .call({ op: "resources" })
    .then((urls) => offerForOffline(urls))
    .catch(() => undefined);
}

/** The worker's script beside this module, named so that bundlers leave it alone (see below). */
const WORKER_SCRIPT = "./predict-worker.js";

/** @param {() => void} [onBroken] */
function startWorker(onBroken) {
  // Bundlers emit the worker for the literal form. Loaded from another origin (a CDN), the package
  // cannot start its worker from its own URL: a page only starts same-origin workers. A module
  // worker made from a blob, importing the script by its full URL, can (the CDN answering CORS).
  // A bundler that writes the source's file: URL for import.meta.url (webpack) rewrites the
  // literal form to its own chunk, on the page's origin.
  const here = new URL(import.meta.url);
  const sameOrigin = !globalThis.location || here.protocol === "file:" || here.origin === globalThis.location.origin;
  const worker = sameOrigin
    ? new Worker(new URL("./predict-worker.js", import.meta.url), { type: "module" })
    : new Worker(URL.createObjectURL(new Blob([`import ${JSON.stringify(new URL(/* webpackIgnore: true */ WORKER_SCRIPT, import.meta.url).href)};`], { type: "text/javascript" })), { type: "module" });
  /** @type {Map<number, {resolve: (value: any) => void, reject: (error: Error) => void}>} */
  const pending = new Map();
  let nextId = 0;
  /** @type {Error | null} */
  let broken = null;
  worker.addEventListener("message", (event) => {
    const { id, result, error } = event.data;
    const call = pending.get(id);
    pending.delete(id);
    if (error) call?.reject(revive(error));
    else call?.resolve(result);
  });
  worker.addEventListener("error", (event) => {
    event.preventDefault();
    broken = Object.assign(new Error(`the prediction worker failed: ${event.message || "it could not start"}`), { code: "WORKER_FAILED" });
    for (const call of pending.values()) call.reject(broken);
    pending.clear();
    onBroken?.();
  });
  return new PredictorRuntime(
    "worker",
    (request, transfer = []) =>
      new Promise((resolve, reject) => {
        if (broken) return reject(broken);
        const id = nextId++;
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, request }, transfer);
      }),
    () => worker.terminate(),
  );
}
