// The one-call loader: a bundle's URL in, a checked predictor out, with the shell's cache,
// integrity checks and worker, and no experiment or telemetry. `createClient` loads its arms
// through the same `loadInto`.
import { loadBundle, bundleAt } from "./bundle-cache.js";
import { PredictorRuntime } from "./runtime.js";
import { asInput } from "./inputs.js";

/**
 * @typedef {import("./bundle-cache.js").BundleRef} BundleRef
 * @typedef {import("./bundle-cache.js").LoadProgress} LoadProgress
 * @typedef {import("./predictor-host.js").LoadedModel} LoadedModel
 * @typedef {import("./predictor-host.js").RawPrediction} Prediction
 * @typedef {import("./predictor-host.js").RawBatchPrediction} BatchPrediction
 *
 * @typedef {object} LoadPredictorOptions
 * @property {boolean} [worker] predict in a Web Worker (default true; the main thread if none can start)
 * @property {(progress: LoadProgress) => void} [onProgress] bundle download progress
 * @property {string} [sha256] the model's hash must be exactly this
 * @property {boolean} [fresh] wait for the network to say which bundle the URL holds (by default a
 *   URL read before is answered from the cache at once and read again in the background)
 * @property {AbortSignal} [signal] abandons the load (the promise rejects with the signal's reason)
 * @property {(message: string) => void} [onWarning] non-fatal problems (caching, storage)
 *
 * @typedef {object} LoadedBundle
 * @property {string} name
 * @property {string} version
 * @property {string} sha256
 * @property {"classification" | "regression"} task
 * @property {string[]} classes
 * @property {number} featureCount
 * @property {"cache" | "network" | "memory"} source where its bytes came from
 * @property {"model.plan" | "model.onnx"} file the file it was loaded from
 * @property {"default" | "full"} entry the package entry that runs it: the default, or the full
 *   build (with the ONNX importer, fetched only for a bundle without a compiled plan)
 * @property {number} loadMs time to build the predictor
 * @property {import("./predictor-host.js").LoadMemory} memory the heap its load took at the peak
 *   (load, check and a batch of 256 rows), how much the instance's memory grew, and the manifest's
 *   requirement
 * @property {import("../../pkg/wasm_predict.js").VerificationReport | null} report its load check
 */

/**
 * Reads `ref`'s bundle (memory, then the Cache API, then the network; hash-checked), loads it into
 * `slot` of `runtime` and checks it: its regression fixtures and holdout (verify(), code
 * FIXTURE_FAILED when they fail), then the heap that loading, checking and a batch of 256 holdout
 * rows took against the manifest's memory requirement (code MEMORY_EXCEEDED when over it). A
 * refused bundle is unloaded again.
 * @param {PredictorRuntime} runtime
 * @param {string} slot
 * @param {BundleRef} ref
 * @param {{onProgress?: (progress: LoadProgress) => void, onWarning?: (message: string) => void, signal?: AbortSignal}} [options]
 * @returns {Promise<LoadedBundle>}
 */
export async function loadInto(runtime, slot, ref, { onProgress, onWarning, signal } = {}) {
  const bundle = await loadBundle(ref, { onProgress, onWarning, signal });
  signal?.throwIfAborted();
  /** @type {LoadedModel} */
  const model = await runtime.call({ op: "load", slot, manifest: bundle.manifest, model: bundle.model, file: bundle.file });
  const refusal = loadRefusal(`${ref.name}@${ref.version}`, model);
  if (refusal) {
    runtime.call({ op: "unload", slot }).catch(() => undefined);
    throw refusal;
  }
  const { peakBytes, requirement } = model.memory;
  if (requirement?.measured_bytes !== undefined && peakBytes > requirement.measured_bytes) {
    onWarning?.(`${ref.name}@${ref.version} took ${peakBytes} bytes of heap to load, more than the ${requirement.measured_bytes} measured when it was bundled (within its maximum of ${requirement.maximum_bytes})`);
  }
  return { ...model, source: bundle.source, file: bundle.file };
}

/**
 * Why a loaded bundle is refused, if it is: its load check failed, or it took more heap than its
 * manifest allows.
 * @param {string} id name@version
 * @param {LoadedModel} model
 * @returns {Error | null}
 */
function loadRefusal(id, { report, memory }) {
  if (report && !report.passed) {
    const failed = report.fixtures.filter((f) => !f.passed).length;
    return Object.assign(new Error(`${id} failed verify(): ${failed} fixture(s), performance ${report.performance.achieved} < ${report.performance.minimum}`), { code: "FIXTURE_FAILED" });
  }
  const maximum = memory.requirement?.maximum_bytes;
  if (maximum !== undefined && memory.peakBytes > maximum) {
    return Object.assign(
      new Error(`${id} took ${memory.peakBytes} bytes of heap to load, check and predict a batch of 256 rows, over the ${maximum} bytes its manifest allows (memory.maximum_bytes)`),
      { code: "MEMORY_EXCEEDED" },
    );
  }
  return null;
}

/** A bundle loaded by {@link loadPredictor}: predictions, its manifest, its checks. */
export class LoadedPredictor {
  /**
   * @param {import("./runtime.js").RuntimeLease} lease the page's runtime, shared with other predictors
   * @param {string} slot this predictor's slot in it
   * @param {LoadedBundle} model
   */
  constructor(lease, slot, model) {
    /** @private */
    this.lease = lease;
    /** @private */
    this.slot = slot;
    const { runtime } = lease;
    this.runtime = runtime;
    /** The bundle's identity and shape. */
    this.model = model;
    /** Where predictions run. */
    this.where = runtime.kind;
    this.closed = false;
  }

  /**
   * Predicts one row, or one record of the features by name (`{age: 41, city: "Lyon"}`) for a
   * model that takes records. Rejects with the package's PredictError (`code` INPUT_SHAPE,
   * INPUT_DTYPE, INPUT_NOT_FINITE, ...) when the input is refused.
   * @param {Float32Array | number[] | import("../../pkg/wasm_predict.js").FeatureRecord} features
   * @returns {Promise<Prediction>}
   */
  predict(features) {
    return this.call({ op: "predict", slot: this.slot, features: asInput(features) });
  }

  /**
   * Predicts a batch: rows given one after the other in one Float32Array (`featureCount` values
   * each), or as an array of rows, or an array of records. Rows are copied and the copy is
   * moved, not cloned, to the worker.
   * @param {Float32Array | ArrayLike<number>[] | import("../../pkg/wasm_predict.js").FeatureRecord[]} rows
   * @returns {Promise<BatchPrediction>}
   */
  async predictBatch(rows) {
    if (Array.isArray(rows) && rows.length > 0 && rows.every((r) => r !== null && typeof r === "object" && !Array.isArray(r) && !ArrayBuffer.isView(r))) {
      const records = /** @type {import("../../pkg/wasm_predict.js").FeatureRecord[]} */ (rows);
      return this.call({ op: "predictBatch", slot: this.slot, features: records, rows: records.length });
    }
    const width = this.model.featureCount;
    /** @type {Float32Array} */
    let flat;
    if (rows instanceof Float32Array) {
      flat = rows.slice();
    } else {
      flat = new Float32Array(rows.length * width);
      rows.forEach((row, i) => {
        if (row.length !== width) throw Object.assign(new Error(`row ${i} has ${row.length} values, the model takes ${width}`), { code: "INPUT_SHAPE" });
        flat.set(/** @type {ArrayLike<number>} */ (row), i * width);
      });
    }
    const count = width > 0 ? Math.floor(flat.length / width) : 0;
    return this.call({ op: "predictBatch", slot: this.slot, features: flat, rows: count }, [flat.buffer]);
  }

  /**
   * The bundle's manifest (schema, fixtures, holdout, reference statistics) and how the engine runs it.
   * @returns {Promise<import("../../pkg/wasm_predict.js").Manifest & {runtime: import("../../pkg/wasm_predict.js").RuntimeInfo}>}
   */
  info() {
    return this.call({ op: "info", slot: this.slot });
  }

  /**
   * The memory of the wasm instance that runs this predictor (shared by every predictor of the
   * page's runtime): the size of its linear memory, and the heap allocated now, in bytes.
   * @returns {Promise<import("./predictor-host.js").MemoryUse>}
   */
  memory() {
    return this.call({ op: "memory", slot: this.slot });
  }

  /**
   * Runs the bundle's regression fixtures and checks its performance requirement again.
   * @returns {Promise<any>}
   */
  verify() {
    return this.call({ op: "verify", slot: this.slot });
  }

  /** Frees the predictor (and stops the worker when no other predictor of the page uses it); later calls reject. */
  close() {
    if (this.closed) return;
    this.closed = true;
    freeSlot(this.lease, this.slot);
  }

  /**
   * @private
   * @param {import("./predictor-host.js").HostRequest} request
   * @param {Transferable[]} [transfer]
   */
  call(request, transfer) {
    if (this.closed) return Promise.reject(Object.assign(new Error("this predictor is closed"), { code: "CLOSED" }));
    return this.runtime.call(request, transfer);
  }
}

let loaded = 0;

/**
 * Unloads `slot`'s predictor and gives the runtime back.
 * @param {import("./runtime.js").RuntimeLease} lease
 * @param {string} slot
 */
function freeSlot(lease, slot) {
  lease.runtime.call({ op: "unload", slot }).catch(() => undefined);
  lease.release();
}

/**
 * Loads the bundle at `bundleUrl` (its folder, holding manifest.json and model.plan or model.onnx) into a
 * predictor: from the shell's cache when it holds it (offline too), else from the network, the
 * model's sha256 checked against its manifest (and `options.sha256`), its fixtures run. Rejects
 * with `code` FIXTURE_FAILED when its fixtures or holdout fail, MEMORY_EXCEEDED when it takes more
 * heap than its manifest's `memory.maximum_bytes`.
 * @param {string | URL} bundleUrl
 * @param {LoadPredictorOptions} [options]
 * @returns {Promise<LoadedPredictor>}
 */
export async function loadPredictor(bundleUrl, options = {}) {
  const { signal } = options;
  signal?.throwIfAborted();
  const href = new URL(String(bundleUrl), globalThis.location?.href).href;
  const folder = href.endsWith("/manifest.json") ? href.slice(0, -"manifest.json".length) : href.endsWith("/") ? href : `${href}/`;
  const [found, started] = await Promise.allSettled([bundleAt(folder, { sha256: options.sha256, signal, fresh: options.fresh }), PredictorRuntime.lease({ worker: options.worker })]);
  if (started.status === "rejected") throw started.reason;
  const lease = started.value;
  const slot = `model-${++loaded}`;
  try {
    if (found.status === "rejected") throw found.reason;
    const ref = found.value;
    const model = await loadInto(lease.runtime, slot, ref, options);
    signal?.throwIfAborted();
    return new LoadedPredictor(lease, slot, model);
  } catch (error) {
    freeSlot(lease, slot);
    throw error;
  }
}
