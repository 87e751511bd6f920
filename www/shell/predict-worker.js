// The Web Worker that runs the predictors off the main thread. Messages: {id, request} in,
// {id, result} or {id, error: {name, code, message}} out.
import { PredictorHost } from "./predictor-host.js";

const host = new PredictorHost();

self.addEventListener("message", async (event) => {
  const { id, request } = event.data;
  try {
    self.postMessage({ id, result: await host.handle(request) });
  } catch (error) {
    const { name, code, message } = /** @type {Error & {code?: string}} */ (error);
    self.postMessage({ id, error: { name, code, message } });
  }
});
