// An app of a package user: plain ES modules, the package from the installed node_modules (or,
// with the query's `cdn`, from that folder on another origin), one bundle loaded by URL (the
// query's `bundle`), offline support turned on with one call (where the package is its own).
async function main() {
  const query = new URLSearchParams(location.search);
  const cdn = query.get("cdn");
  const { loadPredictor, registerOfflineSupport } = await import(cdn ? `${cdn}shell/index.js` : "./node_modules/wasm-predict/shell/index.js");
  const offline = cdn ? null : registerOfflineSupport({ url: "sw.js" });
  const predictor = await loadPredictor(query.get("bundle") ?? "");
  await offline;
  Object.assign(globalThis, { predictor });
  Object.assign(document.body.dataset, { state: "ready", where: predictor.where, source: predictor.model.source });
  document.getElementById("out").textContent = `${predictor.model.name}@${predictor.model.version} ready in the ${predictor.where}`;
}

main().catch((error) => {
  document.getElementById("out").textContent = `failed: ${error.message}`;
  document.body.dataset.state = "failed";
});
