// An app of a package user: plain ES modules from the installed package (node_modules), one bundle
// loaded by URL, offline support turned on with one call. The bundle's URL is the query's `bundle`.
import { loadPredictor, registerOfflineSupport } from "./node_modules/wasm-predict/shell/index.js";

async function main() {
  const bundle = new URLSearchParams(location.search).get("bundle") ?? "";
  const offline = registerOfflineSupport({ url: "sw.js" });
  const predictor = await loadPredictor(bundle);
  await offline;
  Object.assign(globalThis, { predictor });
  Object.assign(document.body.dataset, { state: "ready", where: predictor.where, source: predictor.model.source });
  document.getElementById("out").textContent = `${predictor.model.name}@${predictor.model.version} ready`;
}

main().catch((error) => {
  document.getElementById("out").textContent = `failed: ${error.message}`;
  document.body.dataset.state = "failed";
});
