// A plain page that loads the package from another origin, as from a CDN (the query's `cdn`: the
// package's folder there), and a bundle from its own.
async function main() {
  const query = new URLSearchParams(location.search);
  const { loadPredictor } = await import(`${query.get("cdn")}shell/index.js`);
  const predictor = await loadPredictor(query.get("bundle") ?? "");
  Object.assign(globalThis, { predictor });
  Object.assign(document.body.dataset, { state: "ready", where: predictor.where });
  document.getElementById("out").textContent = `${predictor.model.name} ready in the ${predictor.where}`;
}

main().catch((error) => {
  document.getElementById("out").textContent = `failed: ${error.message}`;
  document.body.dataset.state = "failed";
});
