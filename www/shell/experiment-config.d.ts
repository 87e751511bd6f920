// Generated from www/experiment.schema.json by scripts/gen-types.mjs: edit the schema, then run it.

/**
 * An A/B experiment the browser shell runs and the collector judges: the arms, who gets which, the fallback, and where telemetry goes. Checked by the shell (www/shell/experiment.js) and the collector (crates/collector/src/experiment.rs) against this schema, then for what a schema cannot say: arm names unique, the champion and the fallback among the arms, weights summing to 1.
 */
export interface ExperimentConfig {
  $schema?: string;
  /**
   * The config format: always 1.
   */
  schema: 1;
  /**
   * The experiment's id, in every event.
   */
  id: string;
  /**
   * The hash seed; change it to reshuffle clients.
   */
  seed: string;
  /**
   * 1 or 2 (default 2, GrowthBook's v2).
   */
  hashVersion?: 1 | 2;
  /**
   * false is the kill switch: everyone gets the champion.
   */
  enabled: boolean;
  /**
   * split serves each client its arm; shadow serves the champion and runs the client's arm beside it.
   */
  mode: "split" | "shadow";
  /**
   * Share of clients in the experiment (default 1); the rest get the champion.
   */
  coverage?: number;
  /**
   * The name of the arm that is the fallback for every other.
   */
  champion: string;
  /**
   * The arm that serves when the champion itself cannot (then the model compiled into the wasm).
   */
  fallback?: string;
  /**
   * @minItems 1
   */
  arms: ArmConfig[];
  /**
   * The folder of bundles, relative to the config: `${bundles}${name}/${version}/`.
   */
  bundles: string;
  /**
   * A challenger slower than this per prediction falls back to the champion.
   */
  latencyBudgetMs?: number;
  /**
   * How long the config is used without asking the network (default 60).
   */
  cacheSeconds?: number;
  telemetry: TelemetryConfig;
  analysis?: AnalysisConfig;
}
/**
 * One arm: a name and the bundle it serves to its share of clients.
 */
export interface ArmConfig {
  /**
   * The arm's name, unique in the experiment.
   */
  name: string;
  /**
   * The model it serves, "name@version".
   */
  bundle: string;
  /**
   * Its share of clients (weights sum to 1).
   */
  weight: number;
  /**
   * When set, the bundle's model must have exactly this hash.
   */
  sha256?: string;
  /**
   * Overrides the experiment's budget for this arm.
   */
  latencyBudgetMs?: number;
}
/**
 * Where and how the shell sends its events.
 */
export interface TelemetryConfig {
  /**
   * The collector's URL, relative to the config's.
   */
  endpoint: string;
  /**
   * Send raw inputs with predictions (default false).
   */
  includeInputs?: boolean;
  /**
   * Confidence under which a prediction is marked for review.
   */
  reviewBelowConfidence?: number;
  /**
   * How many top classes an event lists (default 3).
   */
  topK?: number;
  /**
   * Events per request (default 20).
   */
  batchSize?: number;
  /**
   * How often queued events are sent (default 5000).
   */
  flushIntervalMs?: number;
}
/**
 * How the collector judges the experiment (the shell ignores it): the significance level, the sequential test's tuning, and the smallest effect worth detecting, for the sample size still needed.
 */
export interface AnalysisConfig {
  /**
   * Significance level of every test and interval (default 0.05).
   */
  alpha?: number;
  /**
   * The chance of detecting an effect of minimumDetectableEffect, for the sample size (default 0.8).
   */
  power?: number;
  /**
   * The smallest difference worth detecting, absolute: in accuracy for classifiers (0.02 is two points), in mean absolute error for regressors (the target's unit). Without it no sample size is given.
   */
  minimumDetectableEffect?: number;
  /**
   * The number of outcomes (both arms together) at which the always-valid interval is narrowest (default 5000, GrowthBook's).
   */
  sequentialTuning?: number;
}
