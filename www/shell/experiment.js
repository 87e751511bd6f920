// The experiment: its JSON config (fetched with a short cache, kept for offline use), the
// anonymous client id, and which arm this client gets.
import { assign, HASH_VERSIONS } from "./assignment.js";

/** The config format this shell reads. */
export const EXPERIMENT_SCHEMA = 1;
const CONFIG_CACHE = "wasm-predict-config-v1";
const CLIENT_ID_KEY = "wasm-predict.client-id";
const EXPOSURES_KEY = "wasm-predict.exposures";

/**
 * @typedef {object} ArmConfig
 * @property {string} name the arm's name, unique in the experiment
 * @property {string} bundle the model it serves, "name@version"
 * @property {number} weight its share of clients (weights sum to 1)
 * @property {string} [sha256] when set, the bundle's model must have exactly this hash
 * @property {number} [latencyBudgetMs] overrides the experiment's budget for this arm
 *
 * @typedef {object} TelemetryConfig
 * @property {string} endpoint the collector's URL, relative to the config's
 * @property {boolean} [includeInputs] send raw inputs with predictions (default false)
 * @property {number} [reviewBelowConfidence] confidence under which a prediction is marked for review
 * @property {number} [topK] how many top classes an event lists (default 3)
 * @property {number} [batchSize] events per request (default 20)
 * @property {number} [flushIntervalMs] how often queued events are sent (default 5000)
 *
 * @typedef {object} ExperimentConfig
 * @property {number} schema always 1
 * @property {string} id the experiment's id, in every event
 * @property {string} seed the hash seed; change it to reshuffle clients
 * @property {number} [hashVersion] 1 or 2 (default 2, GrowthBook's v2)
 * @property {boolean} enabled false is the kill switch: everyone gets the champion
 * @property {"split" | "shadow"} mode split serves each client its arm; shadow serves the champion and runs the client's arm beside it
 * @property {number} [coverage] share of clients in the experiment (default 1); the rest get the champion
 * @property {string} champion the name of the arm that is the fallback for every other
 * @property {string} [fallback] the arm that serves when the champion itself cannot (then the model compiled into the wasm)
 * @property {ArmConfig[]} arms
 * @property {string} bundles the folder of bundles, relative to the config: `${bundles}${name}/${version}/`
 * @property {number} [latencyBudgetMs] a challenger slower than this per prediction falls back to the champion
 * @property {number} [cacheSeconds] how long the config is used without asking the network (default 60)
 * @property {TelemetryConfig} telemetry
 */

/** A config that cannot be used, with the field at fault in the message. */
export class ExperimentError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "ExperimentError";
  }
}

/**
 * Checks a parsed config and returns it typed; throws an {@link ExperimentError} naming the field.
 * @param {any} config
 * @returns {ExperimentConfig}
 */
export function validateExperiment(config) {
  const fail = (/** @type {string} */ message) => {
    throw new ExperimentError(`experiment config: ${message}`);
  };
  if (typeof config !== "object" || config === null || Array.isArray(config)) fail("not a JSON object");
  if (config.schema !== EXPERIMENT_SCHEMA) fail(`schema must be ${EXPERIMENT_SCHEMA}, found ${JSON.stringify(config.schema)}`);
  for (const field of ["id", "seed", "champion", "bundles"]) {
    if (typeof config[field] !== "string" || (field !== "seed" && config[field] === "")) fail(`${field} must be a non-empty string`);
  }
  if (typeof config.enabled !== "boolean") fail("enabled must be true or false");
  if (!["split", "shadow"].includes(config.mode)) fail(`mode must be "split" or "shadow", found ${JSON.stringify(config.mode)}`);
  if (!HASH_VERSIONS.includes(config.hashVersion ?? 2)) fail(`hashVersion must be one of ${HASH_VERSIONS.join(", ")}`);
  const coverage = config.coverage ?? 1;
  if (typeof coverage !== "number" || !(coverage >= 0 && coverage <= 1)) fail("coverage must be a number in [0, 1]");
  if (!Array.isArray(config.arms) || config.arms.length === 0) fail("arms must be a non-empty array");
  const names = new Set();
  config.arms.forEach((/** @type {any} */ arm, /** @type {number} */ i) => {
    if (typeof arm?.name !== "string" || arm.name === "") fail(`arms[${i}].name must be a non-empty string`);
    if (names.has(arm.name)) fail(`arms[${i}].name "${arm.name}" is used twice`);
    names.add(arm.name);
    if (typeof arm.bundle !== "string" || !/^[^@/]+@[^@/]+$/.test(arm.bundle)) fail(`arms[${i}].bundle must be "name@version", found ${JSON.stringify(arm.bundle)}`);
    if (typeof arm.weight !== "number" || !(arm.weight >= 0)) fail(`arms[${i}].weight must be a number >= 0`);
    if (arm.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(arm.sha256)) fail(`arms[${i}].sha256 must be 64 hex digits`);
    if (arm.latencyBudgetMs !== undefined && !(arm.latencyBudgetMs > 0)) fail(`arms[${i}].latencyBudgetMs must be > 0`);
  });
  const total = config.arms.reduce((/** @type {number} */ sum, /** @type {any} */ arm) => sum + arm.weight, 0);
  if (Math.abs(total - 1) > 0.01) fail(`arm weights must sum to 1, they sum to ${total}`);
  if (!names.has(config.champion)) fail(`champion "${config.champion}" is not one of the arms`);
  if (config.fallback !== undefined && (!names.has(config.fallback) || config.fallback === config.champion)) {
    fail(`fallback "${config.fallback}" must be one of the arms other than the champion`);
  }
  if (config.latencyBudgetMs !== undefined && !(config.latencyBudgetMs > 0)) fail("latencyBudgetMs must be > 0");
  const telemetry = config.telemetry;
  if (typeof telemetry?.endpoint !== "string" || telemetry.endpoint === "") fail("telemetry.endpoint must be a non-empty string");
  if (telemetry.includeInputs !== undefined && typeof telemetry.includeInputs !== "boolean") fail("telemetry.includeInputs must be true or false");
  for (const field of ["reviewBelowConfidence", "topK", "batchSize", "flushIntervalMs"]) {
    if (telemetry[field] !== undefined && !(typeof telemetry[field] === "number" && telemetry[field] >= 0)) fail(`telemetry.${field} must be a number >= 0`);
  }
  return config;
}

/** @returns {Promise<Cache | null>} */
async function openConfigCache() {
  try {
    return typeof caches === "undefined" ? null : await caches.open(CONFIG_CACHE);
  } catch {
    return null;
  }
}

/**
 * @typedef {object} LoadedExperiment
 * @property {ExperimentConfig} config
 * @property {string} url the config's URL, against which its relative URLs resolve
 * @property {"network" | "cache" | "stale-cache"} source stale-cache: older than cacheSeconds, the network failed
 */

/**
 * Fetches the config, unless a cached copy younger than its `cacheSeconds` exists; when the
 * network fails, a cached copy of any age is used. Throws an {@link ExperimentError} when there
 * is neither.
 * @param {string} url
 * @param {{timeoutMs?: number}} [options]
 * @returns {Promise<LoadedExperiment>}
 */
export async function loadExperiment(url, { timeoutMs = 4000 } = {}) {
  const href = new URL(url, globalThis.location?.href).href;
  const cache = await openConfigCache();
  const cached = await cache?.match(href).catch(() => undefined);
  /** @type {ExperimentConfig | null} */
  let fallback = null;
  if (cached) {
    try {
      fallback = validateExperiment(await cached.clone().json());
      const age = (Date.now() - Number(cached.headers.get("x-fetched-at"))) / 1000;
      if (age >= 0 && age < (fallback.cacheSeconds ?? 60)) return { config: fallback, url: href, source: "cache" };
    } catch {
      fallback = null;
    }
  }
  let problem;
  try {
    const response = await fetch(href, { cache: "no-cache", signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new ExperimentError(`experiment config: ${href} answered ${response.status}`);
    const text = await response.text();
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new ExperimentError(`experiment config: ${href} is not JSON: ${error}`);
    }
    const config = validateExperiment(parsed);
    const entry = new Response(text, { headers: { "content-type": "application/json", "x-fetched-at": String(Date.now()) } });
    await cache?.put(href, entry).catch(() => undefined);
    return { config, url: href, source: "network" };
  } catch (error) {
    problem = error;
  }
  if (fallback) return { config: fallback, url: href, source: "stale-cache" };
  throw problem instanceof ExperimentError ? problem : new ExperimentError(`experiment config: cannot fetch ${href}: ${problem}`);
}

/**
 * This browser's anonymous client id: a random UUID kept in localStorage (for this page only,
 * with a warning, where storage is refused).
 * @param {Storage | null} [storage]
 */
export function clientId(storage = safeLocalStorage()) {
  let id = storage?.getItem(CLIENT_ID_KEY);
  if (!id) {
    id = crypto.randomUUID();
    try {
      storage?.setItem(CLIENT_ID_KEY, id);
    } catch {
      console.warn("wasm-predict: localStorage refused; the client id lasts this page only");
    }
  }
  return id;
}

/** @returns {Storage | null} */
export function safeLocalStorage() {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}

/**
 * @typedef {object} ArmChoice
 * @property {ArmConfig} arm the arm assigned to this client (the champion when outside the experiment)
 * @property {ArmConfig} champion
 * @property {boolean} inExperiment false when the kill switch is on or the client is outside the coverage
 * @property {number | null} bucket the client's hash in [0, 1), null when the kill switch is on
 */

/**
 * Which arm `id` gets: the champion when the experiment is disabled or `id` falls outside the
 * coverage, else the arm whose bucket range holds hash(seed, id).
 * @param {ExperimentConfig} config
 * @param {string} id
 * @returns {ArmChoice}
 */
export function chooseArm(config, id) {
  const champion = /** @type {ArmConfig} */ (config.arms.find((arm) => arm.name === config.champion));
  if (!config.enabled) return { arm: champion, champion, inExperiment: false, bucket: null };
  const { index, bucket } = assign({ seed: config.seed, weights: config.arms.map((a) => a.weight), coverage: config.coverage, hashVersion: config.hashVersion }, id);
  if (index < 0) return { arm: champion, champion, inExperiment: false, bucket };
  return { arm: config.arms[index], champion, inExperiment: true, bucket };
}

/**
 * True the first time (experiment, arm, client) is seen in this browser; remembers it.
 * @param {string} key
 * @param {Storage | null} [storage]
 */
export function firstExposure(key, storage = safeLocalStorage()) {
  /** @type {string[]} */
  let seen = [];
  try {
    seen = JSON.parse(storage?.getItem(EXPOSURES_KEY) ?? "[]");
  } catch {
    seen = [];
  }
  if (seen.includes(key)) return false;
  seen.push(key);
  try {
    storage?.setItem(EXPOSURES_KEY, JSON.stringify(seen.slice(-200)));
  } catch {
    // storage refused: the exposure may be sent again next visit; the collector counts clients, not events
  }
  return true;
}
