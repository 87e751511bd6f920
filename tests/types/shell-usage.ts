// Compiled by `tsc --strict` in the test command: the shell's public API as an app would use it,
// typed from the JSDoc of www/shell/ (itself checked against pkg/wasm_predict.d.ts).
import { createClient, hashToUnit, listCachedModels, loadPredictor, registerOfflineSupport, forgetClientId, deleteOutboxDatabase, globalPrivacyControl, PENDING_EVENTS_LIMIT, type PredictClient, type LoadedPredictor, type Prediction, type BatchPrediction, type PrecacheResult, type Consent, type ClientIdStorage, type TelemetryStats } from "../../www/shell/index.js";
import type { ExperimentConfig } from "../../www/shell/experiment.js";
import type { PredictionResult, Fallback } from "../../www/shell/client.js";

const config: ExperimentConfig = {
  schema: 1,
  id: "homepage-model",
  seed: "2026-11",
  enabled: true,
  mode: "split",
  champion: "current",
  bundles: "/models/",
  arms: [
    { name: "current", bundle: "digits-mlp-int8@1.0.0", weight: 0.9 },
    { name: "next", bundle: "digits-mlp-qdq@1.0.0", weight: 0.1, latencyBudgetMs: 5 },
  ],
  telemetry: { endpoint: "/v1/events", includeInputs: false, reviewBelowConfidence: 0.6 },
};

export async function app(): Promise<string | null> {
  const fallbacks: Fallback[] = [];
  const client: PredictClient = await createClient({ experiment: config, onFallback: (f) => fallbacks.push(f) });
  const result: PredictionResult = await client.predict(new Float32Array(64));
  const byName: PredictionResult = await client.predict({ age: 41, city: "Lyon" });
  const arm: string = result.arm;
  const latency: number = result.latencyMs;
  const top: string | undefined = result.topK[0]?.label ?? byName.label ?? undefined;
  client.reportOutcome(result.id, "7");
  const cached = await listCachedModels();
  const bytes: number = cached.reduce((sum, m) => sum + m.bytes, 0);
  const bucket: number = hashToUnit(config.seed, client.clientId);
  console.log(arm, latency, top, bytes, bucket, fallbacks.length);
  client.close();
  return result.label;
}

export async function withConsent(banner: Promise<boolean>): Promise<Consent> {
  const storage: ClientIdStorage = "session";
  const client = await createClient({ experiment: "experiment.json", consent: "pending", clientIdStorage: storage, respectGlobalPrivacyControl: true });
  const waiting: Consent = client.consent;
  await client.predict(new Float32Array(64));
  const stats: TelemetryStats | undefined = client.telemetry?.stats;
  const now: Consent = await client.setConsent((await banner) ? "granted" : "denied");
  console.log(waiting, stats?.acknowledged, client.clientId, PENDING_EVENTS_LIMIT, globalPrivacyControl());
  // @ts-expect-error consent goes back to pending only with a new client
  await client.setConsent("pending");
  // @ts-expect-error not a storage
  await createClient({ experiment: config, clientIdStorage: "cookie" });
  return now;
}

export async function withoutTelemetry(): Promise<string | null> {
  const client = await createClient({ experiment: config, telemetry: false, clientId: "user-42" });
  const overridden = await createClient({ experiment: config, telemetry: { batchSize: 5, flushIntervalMs: 1000 } });
  const result = await client.predict([0, 1, 2]);
  await overridden.flush();
  forgetClientId();
  await deleteOutboxDatabase();
  return result.label;
}

export async function oneCall(): Promise<number> {
  await registerOfflineSupport({ url: "sw.js", precache: ["/models/digits-mlp/1.0.0/manifest.json"], onStored: (r: PrecacheResult) => console.log(r.stored.length) });
  const abort = new AbortController();
  const predictor: LoadedPredictor = await loadPredictor("/models/digits-mlp/1.0.0/", { worker: true, signal: abort.signal, onProgress: (p) => console.log(p.loaded) });
  const one: Prediction = await predictor.predict(new Float32Array(predictor.model.featureCount));
  const many: BatchPrediction = await predictor.predictBatch([Array(64).fill(0), Array(64).fill(1)]);
  const probabilities: Float32Array = many.outputs;
  const label: string | null = one.label;
  const byName: Prediction = await predictor.predict({ age: 41, city: "Lyon", plan: null });
  const records: BatchPrediction = await predictor.predictBatch([{ age: 41, city: "Lyon" }]);
  console.log(byName.label, records.rows);
  const info = await predictor.info();
  const { peakBytes, grownBytes, requirement } = predictor.model.memory;
  const maximum: number | undefined = requirement?.maximum_bytes;
  const { memoryBytes, liveBytes, entry } = await predictor.memory();
  const runsIn: "default" | "full" = entry;
  console.log(peakBytes, grownBytes, maximum, memoryBytes, liveBytes, runsIn, predictor.model.report?.passed);
  console.log(label, probabilities.length, many.labels?.[0], info.name, predictor.where);
  predictor.close();
  return many.rows;
}
