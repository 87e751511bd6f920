// Compiled with `tsc --noEmit` against the generated pkg/wasm_predict.d.ts: the public API as a
// TypeScript user writes it must type-check, and misuse must not (see the @ts-expect-error lines).
import init, {
  Predictor,
  heapStats,
  resetHeapPeak,
  type HeapStats,
  type MemoryRequirement,
  type Manifest,
  type VerificationReport,
  type PredictError,
  type SupportReport,
  type RuntimeInfo,
} from "../../pkg/wasm_predict.js";
import { Predictor as FullPredictor } from "../../pkg/full/wasm_predict.js";

export async function usage(manifestText: string, model: Uint8Array): Promise<string> {
  await init();
  const predictor: Predictor = new Predictor(manifestText, model);
  const fallback = Predictor.withDefaultModel();
  const manifest: Manifest = predictor.info();
  const task: "classification" | "regression" = manifest.task;
  const runtime: RuntimeInfo = predictor.info().runtime;
  const rowsPerCall: number | "any" = runtime.batch === "fixed" ? runtime.rows : runtime.batch;
  const report: VerificationReport = fallback.verify();
  // What a load takes of the heap, against the manifest's memory requirement.
  resetHeapPeak();
  const before: HeapStats = heapStats();
  const checked: VerificationReport = predictor.loadCheck();
  const peak: number = heapStats().peakBytes - before.liveBytes;
  const requirement: MemoryRequirement | undefined = predictor.memoryRequirement;
  const within: boolean = checked.passed && peak <= (requirement?.maximum_bytes ?? Infinity) && heapStats().memoryBytes > 0;
  // @ts-expect-error the requirement may be absent
  predictor.memoryRequirement.maximum_bytes;
  // The check is in the full entry only (it reads ONNX).
  const support: SupportReport = FullPredictor.check(model);
  // @ts-expect-error the default entry has no ONNX importer, so no check
  Predictor.check(model);
  const fromOnnx: FullPredictor = new FullPredictor(manifestText, model);
  const unsupportedOps: string[] = support.unsupported.map((n) => `${n.domain}:${n.op}`);
  const passed: boolean = report.passed && report.performance.achieved >= report.performance.minimum;
  const prediction = predictor.predict(new Float32Array(predictor.featureCount));
  const probabilities: Float32Array | undefined = prediction.probabilities;
  const confidence: number | undefined = prediction.confidence;
  const batch = predictor.predictBatch(new Float32Array(predictor.featureCount * 2), 2);
  const labels: string[] = batch.labels;
  const indices: Uint32Array = batch.labelIndices;
  // A model that takes records: features by name, one record or an array of them.
  const names: string[] = predictor.featureNames;
  const byName = predictor.predict({ age: 41, city: "Lyon", plan: null });
  const records = predictor.predictBatch([{ age: 41, city: "Lyon" }, { age: 30, city: "Nice" }]);
  // @ts-expect-error a record's values are numbers, strings or null
  predictor.predict({ age: [41] });
  // @ts-expect-error info() is a Manifest, not a string
  const wrong: string = predictor.info();
  try {
    predictor.predict(new Float32Array(1));
  } catch (error) {
    const code = (error as PredictError).code;
    if (code === "INPUT_SHAPE") return "shape";
  }
  return `${names} ${byName.label} ${records.rows} ${unsupportedOps} ${task} ${rowsPerCall} ${passed} ${probabilities?.length} ${confidence} ${labels} ${indices} ${wrong} ${within}`;
}
