// Generated from models/manifest.schema.json by scripts/gen-types.mjs: edit the schema, then run it.

/**
 * Describes model.onnx beside it: identity, interface, performance requirement, regression fixtures, reference statistics and provenance. The Rust loader (crates/manifest/src/lib.rs) enforces the same contract plus cross-field checks (feature and class counts).
 */
export type Manifest = {
  $schema?: string;
  format: 1;
  name: string;
  version: string;
  sha256: string;
  /**
   * The model compiled for the runtime, model.plan beside the manifest: what the browser loads without the ONNX importer. Absent in bundles made before it existed.
   */
  plan?: {
    /**
     * The plan file's format: the loader refuses one it does not know.
     */
    format: number;
    /**
     * Lowercase hex sha256 of model.plan.
     */
    sha256: string;
  };
  task: "classification" | "regression";
  /**
   * One float32 tensor (a table [N, features] or an image), or several named [N, k] tables of float32, int64 or string values whose features make one row, in order
   *
   * @minItems 1
   */
  inputs: {
    name: string;
    /**
     * int64 values are exact up to 2^24; a string value is a category, held in a row as its index in categories
     */
    dtype: "float32" | "int64" | "string";
    /**
     * @minItems 2
     */
    shape: [string, ...number[]];
    /**
     * @minItems 1
     */
    features: string[];
    /**
     * NaN inputs: refused (default) or passed to the model as missing values
     */
    missing?: "refuse" | "nan";
    /**
     * A string input: the categories its encoders know; a row holds a category as its index here, -1 for an unknown one
     *
     * @minItems 1
     */
    categories?: string[];
  }[];
  outputs: {
    probabilities?: string;
    label?: string;
    score?: string;
    /**
     * @minItems 2
     */
    classes?: string[];
  };
  /**
   * A binary classifier's decision threshold, chosen at launch (bundle --threshold or --threshold-for): the label is the positive class when its probability is at least the threshold, the other class otherwise; probabilities are unchanged. Absent: the most probable class.
   */
  decision?: {
    /**
     * The class the threshold is about (one of outputs.classes; by default the second, as scikit-learn orders them).
     */
    positive_class: string;
    /**
     * The least probability of the positive class for it to be the label.
     */
    threshold: number;
    /**
     * How the threshold was chosen, e.g. "recall >= 0.9 on the holdout".
     */
    chosen_for?: string;
  };
  performance: {
    metric: "accuracy" | "r2";
    minimum: number;
    achieved?: number;
    holdout: {
      /**
       * @minItems 1
       */
      inputs: Row[];
      /**
       * @minItems 1
       */
      targets: (string | number)[];
    };
    ratchet?: {
      from: number;
      to: number;
      at: string;
      reason: string;
    }[];
  };
  memory?: MemoryRequirement;
  fixtures: {
    tolerance: number;
    /**
     * @minItems 1
     */
    cases: {
      input: Row;
      expected: {
        probabilities?: number[];
        label?: string;
        value?: number;
      };
    }[];
  };
  reference: {
    features: {
      name: string;
      edges: number[];
      counts: number[];
      /**
       * Values that were missing (NaN) at bundling, in no bin
       */
      missing?: number;
    }[];
    predictions: {
      labels?: {
        [k: string]: number;
      };
      confidence?: Histogram;
      value?: Histogram;
    };
  };
  provenance: {
    training_data: {
      source: string;
      rows: number;
      window: null | {
        start: string;
        end: string;
      };
    };
    parent_version: string | null;
    created: string;
    producer?: string;
  };
  /**
   * The model card beside the manifest (wasm-predict card): what the model gets wrong, its calibration, thresholds, slices, size and latency.
   */
  card?: {
    markdown: File;
    html: File;
  };
};
/**
 * @minItems 1
 *
 * Items: A feature value; null is a missing value (allowed where the input's missing is nan)
 */
export type Row = (number | null)[];

/**
 * How much heap the bundle takes: the peak of the bytes it allocates, above those allocated before, while it is loaded from its files (their bytes included), verified (fixtures and holdout) and runs one batch of 256 holdout rows. bundle measures it natively and states it with a margin; verify measures again and fails a bundle past maximum_bytes, the browser shell refuses one. Absent in bundles made before it existed: nothing is enforced for them.
 */
export interface MemoryRequirement {
  /**
   * The most that peak may be, in bytes.
   */
  maximum_bytes: number;
  /**
   * The peak measured when the bundle was made (natively, by the wasm-predict binary's counting allocator), for the record; at most maximum_bytes.
   */
  measured_bytes?: number;
}
export interface Histogram {
  edges: number[];
  counts: number[];
}
/**
 * A file of the bundle and its hash.
 */
export interface File {
  /**
   * Its name, relative to the manifest.
   */
  path: string;
  /**
   * Lowercase hex sha256 of the file.
   */
  sha256: string;
}
