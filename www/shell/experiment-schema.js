// Generated from www/experiment.schema.json by scripts/gen-types.mjs: edit the schema, then run it.
/** The experiment config's JSON Schema. */
export const EXPERIMENT_CONFIG_SCHEMA = {
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://wasm-predict.invalid/experiment.schema.json",
  "title": "ExperimentConfig",
  "description": "An A/B experiment the browser shell runs and the collector judges: the arms, who gets which, the fallback, and where telemetry goes. Checked by the shell (www/shell/experiment.js) and the collector (crates/collector/src/experiment.rs) against this schema, then for what a schema cannot say: arm names unique, the champion and the fallback among the arms, weights summing to 1.",
  "type": "object",
  "required": [
    "schema",
    "id",
    "seed",
    "enabled",
    "mode",
    "champion",
    "arms",
    "bundles",
    "telemetry"
  ],
  "properties": {
    "$schema": {
      "type": "string"
    },
    "schema": {
      "description": "The config format: always 1.",
      "const": 1
    },
    "id": {
      "description": "The experiment's id, in every event.",
      "type": "string",
      "minLength": 1
    },
    "seed": {
      "description": "The hash seed; change it to reshuffle clients.",
      "type": "string"
    },
    "hashVersion": {
      "description": "1 or 2 (default 2, GrowthBook's v2).",
      "enum": [
        1,
        2
      ]
    },
    "enabled": {
      "description": "false is the kill switch: everyone gets the champion.",
      "type": "boolean"
    },
    "mode": {
      "description": "split serves each client its arm; shadow serves the champion and runs the client's arm beside it.",
      "enum": [
        "split",
        "shadow"
      ]
    },
    "coverage": {
      "description": "Share of clients in the experiment (default 1); the rest get the champion.",
      "type": "number",
      "minimum": 0,
      "maximum": 1
    },
    "champion": {
      "description": "The name of the arm that is the fallback for every other.",
      "type": "string",
      "minLength": 1
    },
    "fallback": {
      "description": "The arm that serves when the champion itself cannot (then the model compiled into the wasm).",
      "type": "string",
      "minLength": 1
    },
    "arms": {
      "type": "array",
      "minItems": 1,
      "items": {
        "$ref": "#/$defs/arm"
      }
    },
    "bundles": {
      "description": "The folder of bundles, relative to the config: `${bundles}${name}/${version}/`.",
      "type": "string",
      "minLength": 1
    },
    "latencyBudgetMs": {
      "description": "A challenger slower than this per prediction falls back to the champion.",
      "type": "number",
      "exclusiveMinimum": 0
    },
    "cacheSeconds": {
      "description": "How long the config is used without asking the network (default 60).",
      "type": "number",
      "minimum": 0
    },
    "telemetry": {
      "$ref": "#/$defs/telemetry"
    },
    "analysis": {
      "$ref": "#/$defs/analysis"
    }
  },
  "$defs": {
    "analysis": {
      "title": "AnalysisConfig",
      "description": "How the collector judges the experiment (the shell ignores it): the significance level, the sequential test's tuning, and the smallest effect worth detecting, for the sample size still needed.",
      "type": "object",
      "properties": {
        "alpha": {
          "description": "Significance level of every test and interval (default 0.05).",
          "type": "number",
          "exclusiveMinimum": 0,
          "maximum": 0.5
        },
        "power": {
          "description": "The chance of detecting an effect of minimumDetectableEffect, for the sample size (default 0.8).",
          "type": "number",
          "exclusiveMinimum": 0,
          "exclusiveMaximum": 1
        },
        "minimumDetectableEffect": {
          "description": "The smallest difference worth detecting, absolute: in accuracy for classifiers (0.02 is two points), in mean absolute error for regressors (the target's unit). Without it no sample size is given.",
          "type": "number",
          "exclusiveMinimum": 0
        },
        "sequentialTuning": {
          "description": "The number of outcomes (both arms together) at which the always-valid interval is narrowest (default 5000, GrowthBook's).",
          "type": "number",
          "exclusiveMinimum": 0
        }
      }
    },
    "arm": {
      "title": "ArmConfig",
      "description": "One arm: a name and the bundle it serves to its share of clients.",
      "type": "object",
      "required": [
        "name",
        "bundle",
        "weight"
      ],
      "properties": {
        "name": {
          "description": "The arm's name, unique in the experiment.",
          "type": "string",
          "minLength": 1
        },
        "bundle": {
          "description": "The model it serves, \"name@version\".",
          "type": "string",
          "pattern": "^[^@/]+@[^@/]+$"
        },
        "weight": {
          "description": "Its share of clients (weights sum to 1).",
          "type": "number",
          "minimum": 0
        },
        "sha256": {
          "description": "When set, the bundle's model must have exactly this hash.",
          "type": "string",
          "pattern": "^[0-9a-f]{64}$"
        },
        "latencyBudgetMs": {
          "description": "Overrides the experiment's budget for this arm.",
          "type": "number",
          "exclusiveMinimum": 0
        }
      }
    },
    "telemetry": {
      "title": "TelemetryConfig",
      "description": "Where and how the shell sends its events.",
      "type": "object",
      "required": [
        "endpoint"
      ],
      "properties": {
        "endpoint": {
          "description": "The collector's URL, relative to the config's.",
          "type": "string",
          "minLength": 1
        },
        "includeInputs": {
          "description": "Send raw inputs with predictions (default false).",
          "type": "boolean"
        },
        "reviewBelowConfidence": {
          "description": "Confidence under which a prediction is marked for review.",
          "type": "number",
          "minimum": 0
        },
        "topK": {
          "description": "How many top classes an event lists (default 3).",
          "type": "number",
          "minimum": 0
        },
        "batchSize": {
          "description": "Events per request (default 20).",
          "type": "number",
          "minimum": 0
        },
        "flushIntervalMs": {
          "description": "How often queued events are sent (default 5000).",
          "type": "number",
          "minimum": 0
        }
      }
    }
  }
};
