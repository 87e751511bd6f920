// The client an app talks to: it reads the experiment, assigns this browser an arm, loads that
// arm's bundle (falling back to the champion when it misbehaves), runs predictions in a worker,
// and logs every prediction, exposure, fallback, review and outcome as telemetry, as far as the
// visitor's consent allows.
import { listCachedModels, clearCachedModels, BundleError } from "./bundle-cache.js";
import { loadInto } from "./loader.js";
import { loadExperiment, validateExperiment, chooseArm } from "./experiment.js";
import { PredictorRuntime } from "./runtime.js";
import { Telemetry, safeCall } from "./telemetry.js";
import { openOutbox } from "./outbox.js";
import { ClientIdentity, CLIENT_ID_STORAGES } from "./identity.js";
import { ConsentGate, CONSENT_STATES, globalPrivacyControl } from "./consent.js";
import { uuidv7 } from "./uuid.js";
import { asInput } from "./inputs.js";

/**
 * @typedef {import("./experiment.js").ExperimentConfig} ExperimentConfig
 * @typedef {import("./experiment.js").ArmConfig} ArmConfig
 * @typedef {import("./bundle-cache.js").LoadProgress} LoadProgress
 * @typedef {import("./bundle-cache.js").CachedModel} CachedModel
 * @typedef {import("./predictor-host.js").LoadedModel} LoadedModel
 * @typedef {import("./telemetry.js").TelemetryStats} TelemetryStats
 * @typedef {import("./consent.js").Consent} Consent
 * @typedef {import("./identity.js").ClientIdStorage} ClientIdStorage
 *
 * @typedef {"download" | "manifest" | "sha256" | "load" | "fixtures" | "memory" | "latency"} FallbackReason
 *
 * @typedef {object} Fallback
 * @property {string} fromArm the arm that failed
 * @property {string} toArm the arm that serves instead ("embedded" for the model compiled into the wasm)
 * @property {FallbackReason} reason
 * @property {string} detail the error's message
 *
 * @typedef {object} ClientOptions
 * @property {string | ExperimentConfig} experiment the config's URL, or the config itself
 * @property {string} [baseUrl] what relative URLs of a config object resolve against (default: the page)
 * @property {boolean} [worker] run predictions in a Web Worker (default true; the main thread if none can start)
 * @property {Consent} [consent] the visitor's consent to telemetry and its storage (default
 *   "granted", or "denied" when the browser sends Global Privacy Control); change it later with
 *   {@link PredictClient.setConsent}
 * @property {boolean} [respectGlobalPrivacyControl] treat `navigator.globalPrivacyControl` as a
 *   denial that no consent overrides (default true)
 * @property {ClientIdStorage} [clientIdStorage] where the anonymous client id lives once consent is
 *   granted (default "local")
 * @property {string} [clientId] the app's own id for this client, used instead of the anonymous one
 *   and never stored
 * @property {(progress: LoadProgress) => void} [onProgress] bundle download progress
 * @property {(fallback: Fallback) => void} [onFallback] an arm was replaced by the champion
 * @property {(message: string) => void} [onWarning] non-fatal problems (caching, storage)
 * @property {false | Partial<import("./telemetry.js").TelemetryOptions>} [telemetry] overrides for the
 *   telemetry queue; false: no telemetry at all
 *
 * @typedef {object} ServedModel
 * @property {string} arm
 * @property {string} name
 * @property {string} version
 * @property {string} sha256
 * @property {"cache" | "network" | "memory" | "embedded"} source where its bytes came from
 * @property {string[]} classes
 * @property {"classification" | "regression"} task
 *
 * @typedef {object} PredictionResult
 * @property {string} id the prediction's event id, for {@link PredictClient.reportOutcome}
 * @property {string | null} label the predicted class (classification)
 * @property {number | null} labelIndex
 * @property {number | null} confidence the predicted class's probability
 * @property {number[] | null} probabilities one per class, in the order of `classes`
 * @property {number | null} value the predicted value (regression)
 * @property {Array<{label: string, probability: number}>} topK the most probable classes
 * @property {string} arm the arm that served it
 * @property {string} assignedArm the arm this client is assigned (differs after a fallback)
 * @property {{name: string, version: string, sha256: string}} model
 * @property {"cache" | "network" | "memory" | "embedded"} source
 * @property {number} latencyMs from the call to the answer, as the app saw it
 * @property {number} computeMs inside the wasm predictor
 */

const LATENCY_STRIKES = 3;

/**
 * @param {FallbackReason | null} reasonHint
 * @param {unknown} error
 * @returns {FallbackReason}
 */
function fallbackReason(reasonHint, error) {
  if (reasonHint) return reasonHint;
  if (error instanceof BundleError) return error.code;
  const code = /** @type {{code?: string}} */ (error)?.code;
  return code === "FIXTURE_FAILED" ? "fixtures" : code === "MEMORY_EXCEEDED" ? "memory" : "load";
}

/** A ready client; make one with {@link createClient}. */
export class PredictClient {
  /**
   * @param {object} parts
   * @param {ExperimentConfig} parts.config
   * @param {string} parts.configUrl
   * @param {ClientIdentity} parts.identity
   * @param {ConsentGate} parts.gate
   * @param {PredictorRuntime} parts.runtime
   * @param {ClientOptions} parts.options
   */
  constructor({ config, configUrl, identity, gate, runtime, options }) {
    this.config = config;
    this.configUrl = configUrl;
    this.identity = identity;
    /** The id this client is assigned by and its events carry, for the whole page. */
    this.clientId = identity.id;
    this.gate = gate;
    this.runtime = runtime;
    this.options = options;
    // A client whose events can never be sent under this id would try a challenger unmeasured,
    // on an arm drawn anew on every load: it gets the champion, outside the experiment.
    const measurable = identity.fixed || gate.consent !== "denied";
    const choice = chooseArm(measurable ? config : { ...config, enabled: false }, identity.id);
    /** The arm this client is assigned, whether or not it could load. */
    this.assignedArm = choice.arm;
    this.championArm = choice.champion;
    this.inExperiment = choice.inExperiment;
    this.bucket = choice.bucket;
    /** @type {ServedModel | null} the model that answers predictions */
    this.served = null;
    /** @type {ServedModel | null} the model run beside it in shadow mode */
    this.shadow = null;
    /** @type {Fallback[]} */
    this.fallbacks = [];
    /** @type {ServedModel | null} */
    this.champion = null;
    this.latencyStrikes = 0;
    this.exposed = false;
    /** Recent predictions, so an outcome event can name the arm and model that made them. */
    this.recent = new Map();
  }

  /**
   * The consent in force: "pending", "granted" or "denied" (always "denied" with `telemetry: false`).
   * @returns {Consent}
   */
  get consent() {
    return this.gate.consent;
  }

  /**
   * The telemetry queue, while consent is granted; null otherwise.
   * @returns {Telemetry | null}
   */
  get telemetry() {
    return this.gate.telemetry;
  }

  /**
   * Records the visitor's decision. Granted: the client id is stored, the outbox opened, and the
   * events held while pending are sent. Denied: nothing more is sent, held events are dropped, and
   * the stored client id and the outbox are deleted (events already sent stay at the collector).
   * Resolves to the consent in force once that is done: unchanged with `telemetry: false` or an
   * honoured Global Privacy Control. Rejects only on a value other than "granted" or "denied".
   * @param {"granted" | "denied"} consent
   * @returns {Promise<Consent>}
   */
  setConsent(consent) {
    return this.gate.set(consent);
  }

  /** Loads the champion and this client's arm; called once, by {@link createClient}. */
  async start() {
    const loads = new Map();
    const load = (/** @type {ArmConfig} */ arm) => {
      if (!loads.has(arm.name)) loads.set(arm.name, this.loadArm(arm));
      return loads.get(arm.name);
    };
    const wanted = this.assignedArm;
    const [champion, assigned] = await Promise.allSettled([load(this.championArm), load(wanted)]);
    let championModel;
    if (champion.status === "fulfilled") {
      championModel = champion.value;
    } else {
      championModel = await this.loadFallback(champion.reason);
    }
    this.champion = championModel;
    const challenger = wanted.name !== this.championArm.name && assigned.status === "fulfilled" ? assigned.value : null;
    if (wanted.name !== this.championArm.name && assigned.status === "rejected") {
      this.recordFallback(wanted, championModel.arm, assigned.reason, null);
    }
    if (this.config.mode === "shadow") {
      this.served = championModel;
      this.shadow = challenger;
    } else {
      this.served = challenger ?? championModel;
    }
  }

  /**
   * Downloads (or reads from cache), loads and checks one arm's bundle: the package's fixtures
   * and verify(), the heap its load took against its manifest's memory requirement, then its
   * median latency against the budget.
   * @private
   * @param {ArmConfig} arm
   * @returns {Promise<ServedModel>}
   */
  async loadArm(arm) {
    const [name, version] = arm.bundle.split("@");
    const url = new URL(`${this.config.bundles}${name}/${version}/`, this.configUrl).href;
    const model = await loadInto(this.runtime, arm.name, { name, version, url, sha256: arm.sha256 }, this.options);
    const budget = this.budgetOf(arm);
    if (budget !== null && arm.name !== this.config.champion) {
      const median = await this.runtime.call({ op: "warmup", slot: arm.name, runs: 5 });
      if (median > budget) {
        throw Object.assign(new Error(`${arm.bundle}: median ${median.toFixed(3)} ms per prediction over the ${budget} ms budget`), { reason: "latency" });
      }
    }
    return { arm: arm.name, name: model.name, version: model.version, sha256: model.sha256, source: model.source, classes: model.classes, task: model.task };
  }

  /**
   * What serves when the champion's bundle fails: the config's `fallback` arm, else the model
   * compiled into the wasm. Each step down is a fallback event.
   * @private
   * @param {unknown} championError
   * @returns {Promise<ServedModel>}
   */
  async loadFallback(championError) {
    const fallbackArm = this.config.arms.find((arm) => arm.name === this.config.fallback);
    if (fallbackArm) {
      try {
        const model = await this.loadArm(fallbackArm);
        this.recordFallback(this.championArm, fallbackArm.name, championError, null);
        return model;
      } catch (error) {
        this.recordFallback(this.championArm, "embedded", championError, null);
        this.recordFallback(fallbackArm, "embedded", error, null);
        return this.loadEmbedded();
      }
    }
    this.recordFallback(this.championArm, "embedded", championError, null);
    return this.loadEmbedded();
  }

  /**
   * The model compiled into the wasm: the last resort when the champion's bundle fails.
   * @private
   * @returns {Promise<ServedModel>}
   */
  async loadEmbedded() {
    /** @type {LoadedModel} */
    const model = await this.runtime.call({ op: "loadDefault", slot: "embedded" });
    return { arm: "embedded", name: model.name, version: model.version, sha256: model.sha256, source: "embedded", classes: model.classes, task: model.task };
  }

  /**
   * @private
   * @param {ArmConfig} arm
   * @returns {number | null}
   */
  budgetOf(arm) {
    return arm.latencyBudgetMs ?? this.config.latencyBudgetMs ?? null;
  }

  /**
   * @private
   * @param {ArmConfig} from
   * @param {string} to
   * @param {unknown} error
   * @param {FallbackReason | null} reasonHint
   */
  recordFallback(from, to, error, reasonHint) {
    const hint = /** @type {{reason?: FallbackReason}} */ (error)?.reason ?? reasonHint;
    /** @type {Fallback} */
    const fallback = { fromArm: from.name, toArm: to, reason: fallbackReason(hint ?? null, error), detail: String(/** @type {Error} */ (error)?.message ?? error) };
    this.fallbacks.push(fallback);
    const [name, version] = from.bundle.split("@");
    this.track({ kind: "fallback", ...fallback, model: { name, version } });
    safeCall(() => this.options.onFallback?.(fallback));
  }

  /**
   * @private
   * @param {Record<string, unknown>} fields
   * @returns {string} the event's id
   */
  track(fields) {
    const id = uuidv7();
    this.gate.track({ id, time: new Date().toISOString(), clientId: this.clientId, experiment: this.config.id, inExperiment: this.inExperiment, ...fields });
    return id;
  }

  /**
   * Predicts one row with the arm this client is served, and logs it. Rejects with the package's
   * PredictError (`code` INPUT_SHAPE, INPUT_NOT_FINITE, ...) when the input is refused.
   * @param {Float32Array | number[] | import("../../pkg/wasm_predict.js").FeatureRecord} features a
   *   row, or a record of the features by name for a model that takes records
   * @returns {Promise<PredictionResult>}
   */
  async predict(features) {
    const served = /** @type {ServedModel} */ (this.served);
    const row = asInput(features);
    this.expose(served);
    const start = performance.now();
    let raw;
    try {
      raw = await this.runtime.call({ op: "predict", slot: served.arm, features: row });
    } catch (error) {
      const failure = /** @type {Error & {code?: string}} */ (error);
      this.track({ kind: "prediction", ...this.modelFields(served), latencyMs: performance.now() - start, error: { code: failure.code ?? "UNKNOWN", message: failure.message } });
      throw error;
    }
    const latencyMs = performance.now() - start;
    const result = this.describe(raw, served, latencyMs);
    this.log(result, raw, row, served, false);
    if (served.arm !== this.championArm.name) this.checkLatency(served, latencyMs);
    if (this.shadow && this.gate.consent !== "denied") this.runShadow(this.shadow, row);
    return result;
  }

  /**
   * @private
   * @param {import("./predictor-host.js").RawPrediction} raw
   * @param {ServedModel} served
   * @param {number} latencyMs
   * @returns {PredictionResult}
   */
  describe(raw, served, latencyMs) {
    const k = this.config.telemetry.topK ?? 3;
    const topK = (raw.probabilities ?? [])
      .map((probability, i) => ({ label: served.classes[i], probability }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, k);
    return {
      id: uuidv7(),
      label: raw.label,
      labelIndex: raw.labelIndex,
      confidence: raw.confidence,
      probabilities: raw.probabilities,
      value: raw.value,
      topK,
      arm: served.arm,
      assignedArm: this.assignedArm.name,
      model: { name: served.name, version: served.version, sha256: served.sha256 },
      source: served.source,
      latencyMs,
      computeMs: raw.computeMs,
    };
  }

  /**
   * @private
   * @param {ServedModel} model
   */
  modelFields(model) {
    return { arm: model.arm, assignedArm: this.assignedArm.name, model: { name: model.name, version: model.version, sha256: model.sha256 } };
  }

  /**
   * Logs a prediction event, and a review event when its confidence is under the threshold.
   * @private
   * @param {PredictionResult} result
   * @param {import("./predictor-host.js").RawPrediction} raw
   * @param {import("./predictor-host.js").Input} row
   * @param {ServedModel} model
   * @param {boolean} shadow
   */
  log(result, raw, row, model, shadow) {
    safeCall(() => {
      const telemetry = this.config.telemetry;
      const inputs = telemetry.includeInputs ? { inputs: row instanceof Float32Array ? Array.from(row) : { ...row } } : {};
      const output = raw.value !== null && raw.label === null ? { value: raw.value } : { label: raw.label, confidence: raw.confidence, topK: result.topK };
      const review = raw.confidence !== null && telemetry.reviewBelowConfidence !== undefined && raw.confidence < telemetry.reviewBelowConfidence;
      this.gate.track({
        id: result.id,
        time: new Date().toISOString(),
        clientId: this.clientId,
        experiment: this.config.id,
        inExperiment: this.inExperiment,
        kind: "prediction",
        ...this.modelFields(model),
        shadow,
        source: model.source,
        latencyMs: result.latencyMs,
        computeMs: result.computeMs,
        output,
        error: null,
        review,
        ...inputs,
      });
      if (!shadow) {
        this.recent.set(result.id, this.modelFields(model));
        if (this.recent.size > 1000) this.recent.delete(this.recent.keys().next().value);
      }
      if (review && !shadow) {
        this.track({ kind: "review", predictionId: result.id, ...this.modelFields(model), output, ...inputs });
      }
    });
  }

  /**
   * @private
   * @param {ServedModel} served
   */
  expose(served) {
    if (this.exposed || !this.inExperiment) return;
    this.exposed = true;
    const arm = this.assignedArm.name;
    if (this.identity.firstExposure(`${this.config.id}:${arm}:${this.clientId}`)) {
      this.track({ kind: "exposure", arm, servedArm: served.arm, mode: this.config.mode, bucket: this.bucket });
    }
  }

  /**
   * @private
   * @param {ServedModel} served
   * @param {number} latencyMs
   */
  checkLatency(served, latencyMs) {
    const arm = this.config.arms.find((a) => a.name === served.arm);
    const budget = arm ? this.budgetOf(arm) : null;
    if (!arm || budget === null) return;
    this.latencyStrikes = latencyMs > budget ? this.latencyStrikes + 1 : 0;
    if (this.latencyStrikes >= LATENCY_STRIKES) {
      const error = new Error(`${arm.bundle}: ${LATENCY_STRIKES} predictions in a row over the ${budget} ms budget (last ${latencyMs.toFixed(2)} ms)`);
      this.served = this.champion;
      this.recordFallback(arm, /** @type {ServedModel} */ (this.champion).arm, error, "latency");
    }
  }

  /**
   * @private
   * @param {ServedModel} shadow
   * @param {import("./predictor-host.js").Input} row
   */
  runShadow(shadow, row) {
    const start = performance.now();
    this.runtime
      .call({ op: "predict", slot: shadow.arm, features: row })
      .then((raw) => {
        const result = this.describe(raw, shadow, performance.now() - start);
        this.log(result, raw, row, shadow, true);
      })
      .catch((error) => this.track({ kind: "prediction", ...this.modelFields(shadow), shadow: true, error: { code: error.code ?? "UNKNOWN", message: error.message } }));
  }

  /**
   * Reports what really happened for a prediction (the true label, or the true value), once the
   * app learns it. Never throws.
   * @param {string} predictionId the `id` of a {@link PredictionResult}
   * @param {string | number} actual
   */
  reportOutcome(predictionId, actual) {
    safeCall(() => this.track({ kind: "outcome", predictionId, actual, ...(this.recent.get(predictionId) ?? {}) }));
  }

  /**
   * The served model's manifest (its schema, fixtures, holdout and reference statistics).
   * @returns {Promise<import("../../pkg/wasm_predict.js").Manifest>}
   */
  manifest() {
    return this.runtime.call({ op: "info", slot: /** @type {ServedModel} */ (this.served).arm });
  }

  /** The bundles in the Cache API. @returns {Promise<CachedModel[]>} */
  cachedModels() {
    return listCachedModels();
  }

  /**
   * Deletes cached bundles (all, or one model's); the models loaded now keep working.
   * @param {{name?: string}} [filter]
   */
  clearCache(filter) {
    return clearCachedModels(filter);
  }

  /** Sends queued telemetry now (nothing unless consent is granted). */
  flush() {
    return this.gate.flush();
  }

  /** Stops the worker and the telemetry timers; queued events stay in the outbox. */
  close() {
    this.gate.stop();
    this.runtime.close();
  }
}

/**
 * Reads the experiment, starts the runtime and telemetry, assigns and loads this client's arm.
 * Resolves once a model can answer; rejects only when no config can be read, not even the
 * embedded model loads, or an option has a value it does not take.
 * @param {ClientOptions} options
 * @returns {Promise<PredictClient>}
 */
export async function createClient(options) {
  const asked = options.consent ?? "granted";
  if (!CONSENT_STATES.includes(asked)) throw new RangeError(`consent must be one of ${CONSENT_STATES.join(", ")}, not ${JSON.stringify(asked)}`);
  const storage = options.clientIdStorage ?? "local";
  if (!CLIENT_ID_STORAGES.includes(storage)) throw new RangeError(`clientIdStorage must be one of ${CLIENT_ID_STORAGES.join(", ")}, not ${JSON.stringify(storage)}`);
  const off = options.telemetry === false;
  const overrides = options.telemetry === false ? undefined : options.telemetry;
  const gpc = options.respectGlobalPrivacyControl !== false && globalPrivacyControl();
  const consent = off || gpc ? "denied" : asked;

  const base = options.baseUrl ?? globalThis.location?.href;
  const { config, url } =
    typeof options.experiment === "string"
      ? await loadExperiment(options.experiment)
      : { config: validateExperiment(options.experiment), url: new URL(base ?? "http://localhost/").href };
  const identity = new ClientIdentity({ id: options.clientId, storage, stored: consent === "granted" });
  const settings = config.telemetry;
  const open = async () =>
    new Telemetry({
      endpoint: new URL(settings.endpoint, url).href,
      outbox: overrides?.outbox ?? (await openOutbox()),
      batchSize: settings.batchSize,
      flushIntervalMs: settings.flushIntervalMs,
      ...overrides,
    });
  const gate = new ConsentGate({ consent, fixed: off || gpc, identity, open: off ? null : open });
  const [runtime] = await Promise.all([PredictorRuntime.start({ worker: options.worker }), gate.start()]);
  const client = new PredictClient({ config, configUrl: url, identity, gate, runtime, options });
  await client.start();
  return client;
}
