// What a prediction takes: a row of numbers, or a record of the features by name.
/**
 * A row as a Float32Array, or a record as it is (a plain object of features by name).
 * @param {Float32Array | ArrayLike<number> | import("../../pkg/wasm_predict.js").FeatureRecord} features
 * @returns {import("./predictor-host.js").Input}
 */
export function asInput(features) {
  if (features instanceof Float32Array) return features;
  if (Array.isArray(features) || ArrayBuffer.isView(features)) return Float32Array.from(/** @type {ArrayLike<number>} */ (features));
  return /** @type {import("../../pkg/wasm_predict.js").FeatureRecord} */ (features);
}
