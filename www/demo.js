// The demo page: loads the package, builds the embedded default predictor, and predicts the
// holdout digit the visitor picks. Status goes to data-state on <body> for the browser tests.
import init, { Predictor } from "../pkg/wasm_predict.js";

const $ = (id) => document.getElementById(id);

function drawDigit(canvas, pixels) {
  const context = canvas.getContext("2d");
  const image = context.createImageData(8, 8);
  pixels.forEach((value, i) => {
    const level = Math.round((value / 16) * 255);
    image.data.set([level, level, level, 255], i * 4);
  });
  const scratch = new OffscreenCanvas(8, 8);
  scratch.getContext("2d").putImageData(image, 0, 0);
  context.imageSmoothingEnabled = false;
  context.drawImage(scratch, 0, 0, canvas.width, canvas.height);
}

function showInfo(predictor, manifest, report, timings) {
  const rows = [
    ["Model", predictor.model],
    ["Task", `${manifest.task}, ${predictor.classes.length} classes`],
    ["sha256", `${predictor.sha256.slice(0, 16)}…`],
    ["Started in", `${timings.init.toFixed(0)} ms wasm + ${timings.load.toFixed(0)} ms model`],
    ["Fixtures", `${report.fixtures.filter((f) => f.passed).length}/${report.fixtures.length} match onnxruntime`],
    ["Accuracy", `${(report.performance.achieved * 100).toFixed(1)}% (requires ≥ ${(report.performance.minimum * 100).toFixed(0)}%)`],
  ];
  const list = $("model-info");
  list.replaceChildren();
  for (const [term, detail] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = detail;
    if (term === "Accuracy" || term === "Fixtures") dd.className = report.passed ? "ok" : "fail";
    if (term === "sha256") dd.className = "hash";
    list.append(dt, dd);
  }
}

function showPrediction(predictor, pixels, prediction, micros) {
  drawDigit($("chosen"), pixels);
  $("label").textContent = prediction.label;
  $("confidence").textContent = `${(prediction.confidence * 100).toFixed(1)}%`;
  $("meta").textContent = `${predictor.model} · ${micros.toFixed(0)} µs per prediction in wasm`;
  const bars = $("bars");
  bars.replaceChildren();
  prediction.probabilities.forEach((p, i) => {
    const item = document.createElement("li");
    if (i === prediction.labelIndex) item.className = "top";
    const name = document.createElement("span");
    name.textContent = predictor.classes[i];
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.width = `${(p * 100).toFixed(1)}%`;
    fill.style.display = "block";
    track.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = p.toFixed(3);
    item.append(name, track, value);
    bars.append(item);
  });
  document.body.dataset.label = prediction.label;
}

async function main() {
  const t0 = performance.now();
  await init();
  const t1 = performance.now();
  const predictor = Predictor.withDefaultModel();
  const t2 = performance.now();
  const manifest = predictor.info();
  const report = predictor.verify();
  showInfo(predictor, manifest, report, { init: t1 - t0, load: t2 - t1 });

  const { inputs, targets } = manifest.performance.holdout;
  const picks = [];
  for (const cls of predictor.classes) {
    for (let i = 0, seen = 0; i < targets.length; i++) {
      if (targets[i] === cls && seen++ < 2) picks.push(i);
    }
  }
  picks.sort((a, b) => targets[a].localeCompare(targets[b]) || a - b);
  const samples = $("samples");
  const choose = (index, canvas) => {
    samples.querySelectorAll(".selected").forEach((c) => c.classList.remove("selected"));
    canvas.classList.add("selected");
    const features = new Float32Array(inputs[index]);
    const prediction = predictor.predict(features);
    // The page's timer is coarsened to 100 µs: time a few runs of the same row and divide.
    const repeats = 50;
    const start = performance.now();
    for (let i = 0; i < repeats; i++) predictor.predict(features).free();
    showPrediction(predictor, inputs[index], prediction, ((performance.now() - start) * 1000) / repeats);
  };
  for (const index of picks.slice(0, 24)) {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 48;
    canvas.title = `holdout row ${index}, labelled ${targets[index]}`;
    drawDigit(canvas, inputs[index]);
    canvas.addEventListener("click", () => choose(index, canvas));
    samples.append(canvas);
  }
  choose(picks[7], samples.children[7]);
  document.body.dataset.state = "ready";
}

main().catch((error) => {
  $("status").textContent = `${error.code ?? "ERROR"}: ${error.message}`;
  $("status").className = "fail";
  document.body.dataset.state = "error";
  console.error(error);
});
