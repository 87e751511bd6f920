// The Web Worker that runs the predictors off the main thread. Messages: {id, request} in,
// {id, result} or {id, error: {name, code, message}} out.
import { PredictorHost } from "./predictor-host.js";

const host = new PredictorHost();

self.addEventListener("message", async (event) => {
  const { id, request } = event.data;
  try {
    const result = await host.handle(request);
    // Typed arrays of an answer (a batch's outputs) are moved, not copied.
    const buffers = new Set(Object.values(result ?? {}).filter((v) => ArrayBuffer.isView(v)).map((v) => v.buffer));
    self.postMessage({ id, result }, [...buffers]);
  } catch (error) {
    const { name, code, message } = /** @type {Error & {code?: string}} */ (error);
    self.postMessage({ id, error: { name, code, message } });
  }
});
