// An app that imports the npm package's shell the way a bundler user does, built by Vite and
// webpack and served by Vite's dev server in tests/browser/bundler.test.mjs: the worker and the wasm
// must come along.
import { createClient } from "wasm-predict/shell";

const config = {
  schema: 1,
  id: "bundled-app",
  seed: "bundled",
  enabled: true,
  mode: "split",
  champion: "int8",
  bundles: "/models/",
  arms: [{ name: "int8", bundle: "digits-mlp-int8@1.0.0", weight: 1 }],
  telemetry: { endpoint: "/v1/events" },
};

try {
  const client = await createClient({ experiment: config });
  const result = await client.predict(new Float32Array(64));
  document.getElementById("out").textContent = `${result.label} via ${client.runtime.kind}`;
  Object.assign(document.body.dataset, { state: "ready", label: result.label ?? "", runtime: client.runtime.kind });
} catch (error) {
  document.getElementById("out").textContent = String(error);
  document.body.dataset.state = "failed";
}
