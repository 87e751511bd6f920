// The side of the runtime that owns the wasm predictors: in the Web Worker, or on the main thread
// where workers are unavailable. Requests are plain objects; answers carry only small arrays.
import init, { Predictor } from "../../pkg/wasm_predict.js";

/** @type {Promise<unknown> | null} */
let ready = null;

/** Instantiates the wasm module once per worker (or page). */
export function initOnce() {
  ready ??= init();
  return ready;
}

/**
 * @typedef {{op: "init"}
 *   | {op: "load", slot: string, manifest: Uint8Array, model: Uint8Array}
 *   | {op: "loadDefault", slot: string}
 *   | {op: "verify", slot: string}
 *   | {op: "info", slot: string}
 *   | {op: "warmup", slot: string, runs: number}
 *   | {op: "predict", slot: string, features: Float32Array}
 *   | {op: "unload", slot: string}} HostRequest
 *
 * @typedef {object} LoadedModel
 * @property {string} name
 * @property {string} version
 * @property {string} sha256
 * @property {"classification" | "regression"} task
 * @property {string[]} classes
 * @property {number} featureCount
 * @property {number} loadMs time to build and check the predictor
 *
 * @typedef {object} RawPrediction
 * @property {string | null} label
 * @property {number | null} labelIndex
 * @property {number | null} confidence
 * @property {number[] | null} probabilities
 * @property {number | null} value
 * @property {number} computeMs time spent in the wasm predictor
 */

/** Predictors by slot name (an experiment arm), and the requests that drive them. */
export class PredictorHost {
  constructor() {
    /** @type {Map<string, Predictor>} */
    this.predictors = new Map();
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
      case "load":
        return this.place(request.slot, () => new Predictor(request.manifest, request.model));
      case "loadDefault":
        return this.place(request.slot, () => Predictor.withDefaultModel());
      case "verify":
        return this.get(request.slot).verify();
      case "info":
        return this.get(request.slot).info();
      case "warmup":
        return this.warmup(request.slot, request.runs);
      case "predict":
        return this.predict(request.slot, request.features);
      case "unload":
        this.predictors.get(request.slot)?.free();
        this.predictors.delete(request.slot);
        return null;
      default:
        throw new Error(`unknown request ${JSON.stringify(request)}`);
    }
  }

  /**
   * @param {string} slot
   * @param {() => Predictor} build
   * @returns {LoadedModel}
   */
  place(slot, build) {
    const start = performance.now();
    const predictor = build();
    const loadMs = performance.now() - start;
    this.predictors.get(slot)?.free();
    this.predictors.set(slot, predictor);
    const manifest = predictor.info();
    return {
      name: manifest.name,
      version: manifest.version,
      sha256: predictor.sha256,
      task: manifest.task,
      classes: predictor.classes,
      featureCount: predictor.featureCount,
      loadMs,
    };
  }

  /** @param {string} slot */
  get(slot) {
    const predictor = this.predictors.get(slot);
    if (!predictor) throw new Error(`no model loaded for ${slot}`);
    return predictor;
  }

  /**
   * @param {string} slot
   * @param {Float32Array} features
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
   * Median time of `runs` predictions of the bundle's first fixture, in milliseconds. The page's
   * clock may be coarsened (to 100 µs in Chromium), so each run times a loop of ten predictions.
   * @param {string} slot
   * @param {number} runs
   */
  warmup(slot, runs) {
    const predictor = this.get(slot);
    const input = predictor.info().fixtures.cases[0]?.input;
    if (!input) return 0;
    // A missing value is null in the manifest and NaN in a row.
    const features = Float32Array.from(input, (v) => v ?? NaN);
    const times = [];
    for (let run = 0; run < runs; run++) {
      const start = performance.now();
      for (let i = 0; i < 10; i++) predictor.predict(features).free();
      times.push((performance.now() - start) / 10);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  }
}
