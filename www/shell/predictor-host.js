// The side of the runtime that owns the wasm predictors: in the Web Worker, or on the main thread
// where workers are unavailable. Requests are plain objects; answers carry only small arrays.
import init, { Predictor, heapStats, resetHeapPeak } from "../../pkg/wasm_predict.js";
import { loadedFiles } from "./offline.js";

/** @type {Promise<unknown> | null} */
let ready = null;
/** @type {Promise<typeof import("../../pkg/full/wasm_predict.js")> | null} */
let full = null;

/**
 * An entry's heap meter: each entry (default, full) is an instance with a memory of its own.
 * @typedef {{heapStats: () => import("../../pkg/wasm_predict.js").HeapStats, resetHeapPeak: () => void}} HeapMeter
 */
/** @type {HeapMeter} */
const DEFAULT_METER = { heapStats, resetHeapPeak };

/**
 * The full entry (with the ONNX importer), instantiated once: only a bundle without a compiled
 * plan needs it, so only such a bundle makes the page fetch it.
 */
function fullEntry() {
  full ??= import("../../pkg/full/wasm_predict.js").then(async (entry) => {
    await entry.default();
    return entry;
  });
  return full;
}

/**
 * This module and the package's, which a page needs again offline: unbundled, where they are
 * files of the site. A bundler that writes the source's file: URL here (webpack) emits them
 * itself, and its `import.meta.resolve` must not run.
 */
const MODULES = /^https?:/.test(import.meta.url)
  ? [import.meta.url, ...(typeof import.meta.resolve === "function" ? [import.meta.resolve("../../pkg/wasm_predict.js")] : [])]
  : [];

/** Instantiates the wasm module once per worker (or page). */
export function initOnce() {
  ready ??= init();
  return ready;
}

/**
 * @typedef {{op: "init"}
 *   | {op: "resources"}
 *   | {op: "load", slot: string, manifest: Uint8Array, model: Uint8Array, file: "model.plan" | "model.onnx"}
 *   | {op: "loadDefault", slot: string}
 *   | {op: "verify", slot: string}
 *   | {op: "info", slot: string}
 *   | {op: "warmup", slot: string, runs: number}
 *   | {op: "memory", slot: string}
 *   | {op: "predict", slot: string, features: Input}
 *   | {op: "predictBatch", slot: string, features: Float32Array | FeatureRecord[], rows: number}
 *   | {op: "unload", slot: string}} HostRequest
 *
 * @typedef {import("../../pkg/wasm_predict.js").FeatureRecord} FeatureRecord
 * @typedef {Float32Array | FeatureRecord} Input one row, or a record of the features by name
 *
 * @typedef {object} LoadedModel
 * @property {string} name
 * @property {string} version
 * @property {string} sha256
 * @property {"classification" | "regression"} task
 * @property {string[]} classes
 * @property {number} featureCount
 * @property {"default" | "full"} entry the package entry that runs it
 * @property {number} loadMs time to build the predictor (its fixtures run)
 * @property {import("../../pkg/wasm_predict.js").VerificationReport | null} report what the load
 *   check found (verify(): fixtures and holdout); null for the embedded model, which is not checked
 * @property {LoadMemory} memory what the load took of the instance's memory
 *
 * @typedef {object} LoadMemory
 * @property {number} peakBytes the most heap the load, its check and a batch of 256 holdout rows
 *   allocated at once, above what was allocated before: what the manifest's `memory.maximum_bytes` bounds
 * @property {number} grownBytes how much the instance's linear memory grew meanwhile (0 when the
 *   heap had room)
 * @property {import("../../pkg/wasm_predict.js").MemoryRequirement | null} requirement the manifest's
 *
 * @typedef {object} MemoryUse
 * @property {"default" | "full"} entry the instance that runs the predictor
 * @property {number} memoryBytes the size of its linear memory (it only grows, by 64 KiB pages)
 * @property {number} liveBytes heap allocated now, by every predictor of the instance
 *
 * @typedef {object} RawPrediction
 * @property {string | null} label
 * @property {number | null} labelIndex
 * @property {number | null} confidence
 * @property {number[] | null} probabilities
 * @property {number | null} value
 * @property {number} computeMs time spent in the wasm predictor
 *
 * @typedef {object} RawBatchPrediction
 * @property {number} rows
 * @property {Float32Array} outputs classification: `rows × classes` probabilities, row after row; regression: one value per row
 * @property {string[] | null} labels classification: each row's label
 * @property {Uint32Array | null} labelIndices classification: each row's class index
 * @property {Float32Array | null} confidences classification: each row's highest probability
 * @property {number} computeMs time spent in the wasm predictor
 */

/** Predictors by slot name (an experiment arm), and the requests that drive them. */
export class PredictorHost {
  constructor() {
    /** @type {Map<string, Predictor>} predictors of either entry: their interfaces are the same */
    this.predictors = new Map();
    /** @type {Map<string, {entry: "default" | "full", meter: HeapMeter}>} the entry that runs each */
    this.entries = new Map();
  }

  /**
   * Answers one request; throws the package's PredictError (with its `code`) on failure.
   * @param {HostRequest} request
   * @returns {Promise<unknown>}
   */
  async handle(request) {
    await initOnce();
    switch (request.op) {
      case "init":
        return null;
      case "resources":
        return loadedFiles(MODULES);
      case "load":
        if (request.file === "model.onnx") {
          const entry = await fullEntry();
          return this.place(request.slot, () => new entry.Predictor(request.manifest, request.model), "full", entry, true);
        }
        return this.place(request.slot, () => new Predictor(request.manifest, request.model), "default", DEFAULT_METER, true);
      case "loadDefault":
        return this.place(request.slot, () => Predictor.withDefaultModel(), "default", DEFAULT_METER, false);
      case "verify":
        return this.get(request.slot).verify();
      case "info":
        return this.get(request.slot).info();
      case "warmup":
        return this.warmup(request.slot, request.runs);
      case "memory":
        return this.memory(request.slot);
      case "predict":
        return this.predict(request.slot, request.features);
      case "predictBatch":
        return this.predictBatch(request.slot, request.features, request.rows);
      case "unload":
        this.predictors.get(request.slot)?.free();
        this.predictors.delete(request.slot);
        this.entries.delete(request.slot);
        return null;
      default:
        throw new Error(`unknown request ${JSON.stringify(request)}`);
    }
  }

  /**
   * Builds a predictor into `slot`, then (`check`) runs its load check: verify() and one batch of
   * 256 holdout rows (`loadCheck`), measuring the heap all of it took at its peak. Synchronous
   * from the first measure to the last, so no other request's allocations count.
   * @param {string} slot
   * @param {() => Predictor} build
   * @param {"default" | "full"} entry
   * @param {HeapMeter} meter the entry's
   * @param {boolean} check
   * @returns {LoadedModel}
   */
  place(slot, build, entry, meter, check) {
    meter.resetHeapPeak();
    const before = meter.heapStats();
    const start = performance.now();
    const predictor = build();
    const loadMs = performance.now() - start;
    let report = null;
    try {
      if (check) report = predictor.loadCheck();
    } catch (error) {
      predictor.free();
      throw error;
    }
    const after = meter.heapStats();
    this.predictors.get(slot)?.free();
    this.predictors.set(slot, predictor);
    this.entries.set(slot, { entry, meter });
    return {
      name: predictor.name,
      version: predictor.version,
      sha256: predictor.sha256,
      task: predictor.task,
      classes: predictor.classes,
      featureCount: predictor.featureCount,
      entry,
      loadMs,
      report,
      memory: {
        peakBytes: after.peakBytes - before.liveBytes,
        grownBytes: after.memoryBytes - before.memoryBytes,
        requirement: predictor.memoryRequirement ?? null,
      },
    };
  }

  /**
   * The memory of the instance that runs `slot`'s predictor.
   * @param {string} slot
   * @returns {MemoryUse}
   */
  memory(slot) {
    this.get(slot);
    const { entry, meter } = /** @type {{entry: "default" | "full", meter: HeapMeter}} */ (this.entries.get(slot));
    const { memoryBytes, liveBytes } = meter.heapStats();
    return { entry, memoryBytes, liveBytes };
  }

  /** @param {string} slot */
  get(slot) {
    const predictor = this.predictors.get(slot);
    if (!predictor) throw new Error(`no model loaded for ${slot}`);
    return predictor;
  }

  /**
   * @param {string} slot
   * @param {Input} features
   * @returns {RawPrediction}
   */
  predict(slot, features) {
    const predictor = this.get(slot);
    const start = performance.now();
    const prediction = predictor.predict(features);
    const computeMs = performance.now() - start;
    try {
      const probabilities = prediction.probabilities;
      return {
        label: prediction.label ?? null,
        labelIndex: prediction.labelIndex ?? null,
        confidence: prediction.confidence ?? null,
        probabilities: probabilities ? Array.from(probabilities) : null,
        value: prediction.value ?? null,
        computeMs,
      };
    } finally {
      prediction.free();
    }
  }

  /**
   * @param {string} slot
   * @param {Float32Array | FeatureRecord[]} features `rows` rows, one after the other, or records
   * @param {number} rows
   * @returns {RawBatchPrediction}
   */
  predictBatch(slot, features, rows) {
    const predictor = this.get(slot);
    const start = performance.now();
    const batch = predictor.predictBatch(features, rows);
    const computeMs = performance.now() - start;
    try {
      const classification = predictor.classes.length > 0;
      return {
        rows: batch.rows,
        outputs: batch.outputs,
        labels: classification ? batch.labels : null,
        labelIndices: classification ? batch.labelIndices : null,
        confidences: classification ? batch.confidences : null,
        computeMs,
      };
    } finally {
      batch.free();
    }
  }

  /**
   * Median time per prediction of the bundle's first fixture over `runs` timed loops, in
   * milliseconds. The page's clock may be coarsened (to 100 µs in Chromium), so each loop predicts
   * until at least a millisecond has passed (at most 100,000 times): a loop of a fixed count, sized
   * in a moment the machine was slow, could read 0.
   * @param {string} slot
   * @param {number} runs
   */
  warmup(slot, runs) {
    const predictor = this.get(slot);
    const features = predictor.firstFixture;
    if (!features) return 0;
    const loop = () => {
      const start = performance.now();
      let count = 0;
      let elapsed = 0;
      do {
        for (let i = 0; i < 10; i++) predictor.predict(features).free();
        count += 10;
        elapsed = performance.now() - start;
      } while (elapsed < 1 && count < 100_000);
      return elapsed / count;
    };
    loop();
    const times = [];
    for (let run = 0; run < runs; run++) times.push(loop());
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  }
}
