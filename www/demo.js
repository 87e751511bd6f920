// The demo page: the shell's client serves a digit classifier from an A/B experiment; the visitor
// draws or picks a digit and sees the prediction, which arm and model answered, and whether it
// all came from cache. Query parameters: experiment=URL of a config, worker=0 for the main thread,
// client=ID to act as another visitor. The page's state goes to data-* attributes on <body>, and
// the client to `window.wasmPredictClient`, for the browser tests.
import { createClient, registerOfflineSupport } from "./shell/index.js";
import { drawingPad, digitFeatures, paintFeatures } from "./digit-canvas.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const params = new URLSearchParams(location.search);

/**
 * @param {HTMLElement} list
 * @param {Array<[string, string, string?]>} rows term, detail, class
 */
function fillList(list, rows) {
  list.replaceChildren(
    ...rows.flatMap(([term, detail, className]) => {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = detail;
      if (className) dd.className = className;
      return [dt, dd];
    }),
  );
}

function showNetwork() {
  const chip = $("chip-network");
  chip.textContent = navigator.onLine ? "online" : "offline";
  chip.className = `chip ${navigator.onLine ? "good" : "warn"}`;
  document.body.dataset.online = String(navigator.onLine);
}

/** @param {import("./shell/index.js").PredictClient} client */
async function showCache(client) {
  const served = /** @type {import("./shell/client.js").ServedModel} */ (client.served);
  fillList($("cache"), [
    ["Model from", served.source === "cache" ? "cache (no download)" : served.source],
    ["Page", navigator.serviceWorker?.controller ? "served by the service worker" : "from the network"],
  ]);
  const models = await client.cachedModels();
  $("cached-models").replaceChildren(
    ...models.map((m) => {
      const item = document.createElement("li");
      item.textContent = `${m.name}@${m.version} · ${(m.bytes / 1024).toFixed(1)} KB · ${m.sha256.slice(0, 10)}…`;
      return item;
    }),
  );
  if (models.length === 0) $("cached-models").textContent = "nothing cached";
}

/**
 * @param {import("./shell/telemetry.js").TelemetryStats} stats
 * @param {string} outbox where queued events wait
 */
function showTelemetry(stats, outbox) {
  fillList($("telemetry"), [
    ["Queued", String(stats.waiting)],
    ["Delivered", String(stats.acknowledged)],
    ["Retries", stats.failures ? `${stats.failures} (${stats.lastError})` : "0"],
    ["Outbox", outbox],
  ]);
  document.body.dataset.delivered = String(stats.acknowledged);
}

/** @param {import("./shell/index.js").PredictClient} client */
function showExperiment(client) {
  const served = /** @type {import("./shell/client.js").ServedModel} */ (client.served);
  const rows = /** @type {Array<[string, string, string?]>} */ ([
    ["Experiment", `${client.config.id} (${client.config.enabled ? client.config.mode : "switched off"})`],
    ["Your arm", client.inExperiment ? `${client.assignedArm.name} · bucket ${client.bucket?.toFixed(4)}` : `${client.assignedArm.name} (not in experiment)`],
    ["Served by", `${served.arm} · ${served.name}@${served.version}`],
  ]);
  if (client.shadow) rows.push(["Shadow", `${client.shadow.arm} · ${client.shadow.name}@${client.shadow.version}`]);
  for (const f of client.fallbacks) rows.push(["Fallback", `${f.fromArm} → ${f.toArm}: ${f.reason}`, "fail"]);
  fillList($("experiment"), rows);
  $("chip-source").textContent = `model: ${served.source}`;
  $("chip-source").className = `chip ${served.source === "network" ? "" : "good"}`;
  $("chip-runtime").textContent = `runtime: ${client.runtime.kind}`;
  document.body.dataset.arm = served.arm;
  document.body.dataset.assignedArm = client.assignedArm.name;
  document.body.dataset.source = served.source;
  document.body.dataset.fallbacks = client.fallbacks.map((f) => `${f.fromArm}:${f.reason}`).join(",");
}

/** @param {import("./shell/index.js").PredictionResult} result */
function showPrediction(result, /** @type {ArrayLike<number>} */ features, /** @type {string[]} */ classes) {
  paintFeatures(/** @type {HTMLCanvasElement} */ ($("seen")), features);
  $("label").textContent = result.label ?? "–";
  $("confidence").textContent = result.confidence === null ? "" : `${(result.confidence * 100).toFixed(1)}%`;
  $("served-by").textContent = `arm ${result.arm} · ${result.model.name}@${result.model.version}`;
  // Browsers coarsen performance.now() to 100 µs outside cross-origin isolation.
  const compute = result.computeMs < 0.1 ? "under 0.1 ms" : `${result.computeMs.toFixed(2)} ms`;
  $("latency").textContent = `${result.latencyMs.toFixed(2)} ms round trip · ${compute} in wasm`;
  $("bars").replaceChildren(
    ...(result.probabilities ?? []).map((/** @type {number} */ p, /** @type {number} */ i) => {
      const item = document.createElement("li");
      if (i === result.labelIndex) item.className = "top";
      const name = document.createElement("span");
      name.textContent = classes[i];
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = `${(p * 100).toFixed(1)}%`;
      track.append(fill);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = p.toFixed(3);
      item.append(name, track, value);
      return item;
    }),
  );
  $("feedback").hidden = false;
  $("correct-digits").hidden = true;
  $("thanks").hidden = true;
  document.body.dataset.label = result.label ?? "";
  document.body.dataset.predictionId = result.id;
}

async function main() {
  showNetwork();
  addEventListener("online", showNetwork);
  addEventListener("offline", showNetwork);
  const offline = registerOfflineSupport("sw.js");
  const progress = $("progress");
  const client = await createClient({
    experiment: params.get("experiment") ?? "experiment.json",
    worker: params.get("worker") !== "0",
    clientId: params.get("client") ?? undefined,
    onProgress: ({ file, loaded, total }) => {
      if (file !== "model" || !total) return;
      progress.hidden = loaded >= total;
      $("progress-fill").style.width = `${((loaded / total) * 100).toFixed(0)}%`;
    },
  });
  progress.hidden = true;
  const served = /** @type {import("./shell/client.js").ServedModel} */ (client.served);
  showExperiment(client);
  const telemetry = client.telemetry;
  if (telemetry) {
    telemetry.subscribe((stats) => showTelemetry(stats, telemetry.outbox.kind));
    showTelemetry(telemetry.stats, telemetry.outbox.kind);
  } else {
    fillList($("telemetry"), [["Telemetry", `off (consent ${client.consent})`]]);
  }

  /** @type {import("./shell/index.js").PredictionResult | null} */
  let last = null;
  const predict = async (/** @type {Float32Array} */ features) => {
    last = await client.predict(features);
    showPrediction(last, features, served.classes);
    showExperiment(client);
  };
  const pad = /** @type {HTMLCanvasElement} */ ($("pad"));
  const wipePad = drawingPad(pad, () => {
    const features = digitFeatures(pad);
    if (features) predict(features);
  });
  pad.addEventListener("pointerdown", () => ($("pad-hint").hidden = true));
  const clearPad = () => {
    wipePad();
    $("pad-hint").hidden = false;
  };
  $("clear").addEventListener("click", clearPad);

  const manifest = await client.manifest();
  const { targets } = manifest.performance.holdout;
  // A missing value is null in the manifest (JSON has no NaN) and NaN in a row.
  const inputs = manifest.performance.holdout.inputs.map((row) => Float32Array.from(row, (v) => v ?? NaN));
  const picks = served.classes.map((cls) => targets.findIndex((t) => t === cls)).filter((i) => i >= 0);
  $("samples").replaceChildren(
    ...picks.map((index) => {
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = 40;
      canvas.title = `holdout row ${index}, labelled ${targets[index]}`;
      paintFeatures(canvas, inputs[index]);
      canvas.addEventListener("click", () => {
        clearPad();
        predict(new Float32Array(inputs[index]));
      });
      return canvas;
    }),
  );

  $("right").addEventListener("click", () => {
    if (!last?.label) return;
    client.reportOutcome(last.id, last.label);
    $("thanks").textContent = "Thanks: sent as confirmed.";
    $("thanks").hidden = false;
  });
  $("wrong").addEventListener("click", () => {
    const digits = $("correct-digits");
    digits.replaceChildren(
      ...served.classes.map((cls) => {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = cls;
        button.addEventListener("click", () => {
          if (!last) return;
          client.reportOutcome(last.id, cls);
          digits.hidden = true;
          $("thanks").textContent = `Thanks: sent as a ${cls}.`;
          $("thanks").hidden = false;
        });
        return button;
      }),
    );
    digits.hidden = false;
  });
  $("clear-cache").addEventListener("click", async () => {
    await client.clearCache();
    showCache(client);
  });

  await predict(new Float32Array(inputs[picks[3] ?? 0]));
  await offline;
  await showCache(client);
  Object.assign(globalThis, { wasmPredictClient: client });
  document.body.dataset.state = "ready";
}

main().catch((error) => {
  console.error(error);
  $("error").textContent = `Could not start: ${error.message}`;
  $("error").hidden = false;
  document.body.dataset.state = "failed";
});
