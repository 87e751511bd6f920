// wasm-predict's browser shell: the public API. Plain ES modules, no build step.
export { createClient, PredictClient } from "./client.js";
export { loadPredictor, LoadedPredictor } from "./loader.js";
export { loadBundle, bundleAt, listCachedModels, clearCachedModels, sha256Hex, BundleError, BUNDLE_CACHE } from "./bundle-cache.js";
export { loadExperiment, validateExperiment, chooseArm, ExperimentError, EXPERIMENT_SCHEMA } from "./experiment.js";
export { clientId, forgetClientId, CLIENT_ID_STORAGES } from "./identity.js";
export { CONSENT_STATES, PENDING_EVENTS_LIMIT, globalPrivacyControl } from "./consent.js";
export { fnv1a32, hashToUnit, bucketRanges, chooseBucket, assign, HASH_VERSIONS } from "./assignment.js";
export { Telemetry, safeCall, TELEMETRY_SCHEMA } from "./telemetry.js";
export { openOutbox, memoryOutbox, deleteOutboxDatabase } from "./outbox.js";
export { PredictorRuntime } from "./runtime.js";
export { uuidv7, UUIDV7 } from "./uuid.js";
export { registerOfflineSupport, offerForOffline } from "./offline.js";

/**
 * @typedef {import("./client.js").ClientOptions} ClientOptions
 * @typedef {import("./client.js").PredictionResult} PredictionResult
 * @typedef {import("./client.js").ServedModel} ServedModel
 * @typedef {import("./client.js").Fallback} Fallback
 * @typedef {import("./client.js").FallbackReason} FallbackReason
 * @typedef {import("./experiment.js").ExperimentConfig} ExperimentConfig
 * @typedef {import("./experiment.js").ArmConfig} ArmConfig
 * @typedef {import("./experiment.js").TelemetryConfig} TelemetryConfig
 * @typedef {import("./bundle-cache.js").Bundle} Bundle
 * @typedef {import("./bundle-cache.js").BundleRef} BundleRef
 * @typedef {import("./bundle-cache.js").CachedModel} CachedModel
 * @typedef {import("./bundle-cache.js").LoadProgress} LoadProgress
 * @typedef {import("./telemetry.js").TelemetryStats} TelemetryStats
 * @typedef {import("./consent.js").Consent} Consent
 * @typedef {import("./identity.js").ClientIdStorage} ClientIdStorage
 * @typedef {import("./loader.js").LoadPredictorOptions} LoadPredictorOptions
 * @typedef {import("./loader.js").LoadedBundle} LoadedBundle
 * @typedef {import("./predictor-host.js").RawPrediction} Prediction
 * @typedef {import("./predictor-host.js").RawBatchPrediction} BatchPrediction
 * @typedef {import("./offline.js").OfflineOptions} OfflineOptions
 * @typedef {import("./offline.js").PrecacheResult} PrecacheResult
 */
