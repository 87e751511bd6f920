// The experiment: its JSON config (fetched with a short cache, kept for offline use) and which
// arm a client id gets.
import { assign } from "./assignment.js";
import { EXPERIMENT_CONFIG_SCHEMA } from "./experiment-schema.js";
import { schemaProblem } from "./schema-check.js";

/** The config format this shell reads. */
export const EXPERIMENT_SCHEMA = 1;
const CONFIG_CACHE = "wasm-predict-config-v1";

/**
 * The config's types, generated from its JSON Schema (www/experiment.schema.json).
 * @typedef {import("./experiment-config.js").ExperimentConfig} ExperimentConfig
 * @typedef {import("./experiment-config.js").ArmConfig} ArmConfig
 * @typedef {import("./experiment-config.js").TelemetryConfig} TelemetryConfig
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
  const problem = schemaProblem(config, EXPERIMENT_CONFIG_SCHEMA);
  if (problem) fail(problem);
  // What the schema cannot say; the collector checks the same (crates/collector/src/experiment.rs).
  const names = new Set();
  config.arms.forEach((/** @type {any} */ arm, /** @type {number} */ i) => {
    if (names.has(arm.name)) fail(`arms[${i}].name "${arm.name}" is used twice`);
    names.add(arm.name);
  });
  const total = config.arms.reduce((/** @type {number} */ sum, /** @type {any} */ arm) => sum + arm.weight, 0);
  if (Math.abs(total - 1) > 0.01) fail(`arm weights must sum to 1, they sum to ${total}`);
  if (!names.has(config.champion)) fail(`champion "${config.champion}" is not one of the arms`);
  if (config.fallback !== undefined && (!names.has(config.fallback) || config.fallback === config.champion)) {
    fail(`fallback "${config.fallback}" must be one of the arms other than the champion`);
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
