// The main job end to end: the Rust collector serves the demo; visitors in chromium predict and
// say what was right; their telemetry lands in the collector's SQLite; the reports see it; the
// dashboard shows it (screenshot). The binary is the debug build `cargo test` leaves behind.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium, visitDemo } from "./chromium.mjs";

const TARGET = process.env.CARGO_TARGET_DIR ?? "target";
const BINARY = join(TARGET, "debug", "wasm-predict");
const TOKEN = "dashboard-test-token";
const HOLDOUT = JSON.parse(readFileSync("models/digits-mlp-int8/1.0.0/manifest.json", "utf8")).performance.holdout;
const env = {};
const SECOND = "second-experiment";
/** A binary classifier's experiment (credit-risk 1.0.0 against 1.1.0): precision and recall. */
const CREDIT = "credit-experiment";

/** Starts `wasm-predict serve` on a free loopback port; resolves to { process, url }. */
export function startCollector(args) {
  const child = spawn(BINARY, ["serve", "--addr", "127.0.0.1:0", "--admin-token", TOKEN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  child.stderr.on("data", (chunk) => process.env.COLLECTOR_LOG && process.stderr.write(chunk));
  let output = "";
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const match = output.match(/demo:\s+(http:\/\/[\d.:]+)\//);
      if (match) resolve({ process: child, url: match[1] });
    });
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("exit", (code) => reject(new Error(`the collector exited (${code}):\n${output}`)));
  });
}

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasm-predict-collector-"));
  const config = JSON.parse(readFileSync("www/experiment.json", "utf8"));
  config.telemetry.includeInputs = true;
  config.telemetry.reviewBelowConfidence = 0.9;
  writeFileSync(join(dir, "experiment.json"), JSON.stringify(config));
  mkdirSync(join(dir, "experiments"));
  const second = { ...config, id: SECOND, analysis: { minimumDetectableEffect: 0.05 } };
  writeFileSync(join(dir, "experiments", "second.json"), JSON.stringify(second));
  const arm = (name, version) => ({ name, bundle: `credit-risk@${version}`, weight: 0.5, sha256: JSON.parse(readFileSync(`models/credit-risk/${version}/manifest.json`, "utf8")).sha256 });
  const credit = { ...config, id: CREDIT, champion: "v1", arms: [arm("v1", "1.0.0"), arm("v2", "1.1.0")] };
  writeFileSync(join(dir, "experiments", "credit.json"), JSON.stringify(credit));
  env.alerts = [];
  env.webhook = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      env.alerts.push(JSON.parse(body));
      response.end("ok");
    });
  });
  await new Promise((resolve) => env.webhook.listen(0, "127.0.0.1", resolve));
  const webhook = `http://127.0.0.1:${env.webhook.address().port}/alerts`;
  const args = ["--db", join(dir, "events.db"), "--experiment", join(dir, "experiment.json"), "--webhook", webhook, "--now-test-every", "1s", "--experiments", join(dir, "experiments")];
  Object.assign(env, await startCollector(args));
  env.browser = await launchChromium();
});
after(async () => {
  await env.browser?.close();
  env.process?.kill();
  env.webhook?.close();
});

const report = async (name) => {
  const response = await fetch(`${env.url}/v1/reports/${name}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(response.status, 200, `${name}: ${response.status}`);
  return response.json();
};

/**
 * `n` predictions of `arm` (bundle `name@version`) in `experiment`, each with its outcome: the
 * `i`th predicts `predicted(i)` and was `actual(i)`.
 */
function experimentEvents({ experiment, arm, name, version, n, predicted, actual }) {
  const { sha256 } = JSON.parse(readFileSync(`models/${name}/${version}/manifest.json`, "utf8"));
  const time = new Date().toISOString();
  return Array.from({ length: n }, (_, i) => {
    const id = crypto.randomUUID();
    const common = { time, clientId: `${experiment}-${arm}-${i}`, experiment, inExperiment: true, arm };
    const label = predicted(i);
    return [
      { ...common, id, kind: "prediction", assignedArm: arm, model: { name, version, sha256 }, shadow: false, source: "cache", latencyMs: 0.5, computeMs: 0.01, output: { label, confidence: 0.9, topK: [{ label, probability: 0.9 }] }, error: null, review: false },
      { ...common, id: crypto.randomUUID(), kind: "outcome", predictionId: id, actual: actual(i) },
    ];
  }).flat();
}

/** `n` predictions of `arm` in the second experiment with their outcomes, `correct` of them right. */
function secondExperimentEvents(arm, n, correct) {
  const name = arm === "int8" ? "digits-mlp-int8" : "digits-mlp-qdq";
  return experimentEvents({ experiment: SECOND, arm, name, version: "1.0.0", n, predicted: () => "3", actual: (i) => (i < correct ? "3" : "5") });
}

/** The same digit moved one column right: what a camera mounted differently would send. */
const shifted = (row) => row.map((_, i) => (i % 8 === 0 ? 0 : row[i - 1]));

test("visitors' telemetry reaches the collector, the reports and the dashboard", async () => {
  const clients = 8;
  const rows = 44; // 8 × 44 = 352 of the 360 holdout rows
  for (let c = 0; c < clients; c++) {
    const context = await env.browser.newContext();
    const { page, errors } = await visitDemo(context, env.url, `?client=visitor-${c}`);
    assert.deepEqual(errors, [], `visitor ${c}`);
    const inputs = HOLDOUT.inputs.slice(c * rows, (c + 1) * rows).map((row) => (c >= 5 ? shifted(row) : row));
    const targets = HOLDOUT.targets.slice(c * rows, (c + 1) * rows);
    await page.evaluate(
      async ({ inputs, targets }) => {
        const client = globalThis.wasmPredictClient;
        for (let i = 0; i < inputs.length; i++) {
          const result = await client.predict(inputs[i]);
          client.reportOutcome(result.id, targets[i]);
        }
        await client.flush();
      },
      { inputs, targets },
    );
    assert.equal(await page.evaluate(() => globalThis.wasmPredictClient.telemetry.outbox.count()), 0, "all delivered");
    await context.close();
  }

  const unauthorized = await fetch(`${env.url}/v1/reports/ab`);
  assert.equal(unauthorized.status, 401);
  const ab = await report("ab");
  assert.equal(ab.arms.reduce((n, a) => n + a.exposures, 0), clients, "one exposure per visitor");
  assert.equal(ab.arms.reduce((n, a) => n + a.predictions, 0), clients * (rows + 1), "every prediction, the page's own first one too");
  assert.equal(ab.arms.reduce((n, a) => n + a.outcomes, 0), clients * rows);
  for (const arm of ab.arms.filter((a) => a.predictions > 0)) {
    assert.ok(arm.accuracy.value > 0.6 && arm.accuracy.low < arm.accuracy.value, JSON.stringify(arm));
    assert.ok(arm.latency_ms.p50 >= 0 && arm.latency_ms.p99 >= arm.latency_ms.p50);
  }
  assert.equal(ab.sample_ratio.mismatch, false);
  const drift = await report("drift?model=digits-mlp-int8@1.0.0");
  assert.ok(drift.with_inputs > 0);
  assert.ok(drift.drifted.length > 0, `the shifted digits drift: ${JSON.stringify(drift.features.map((f) => f.psi))}`);
  const review = await report("review");
  assert.ok(review.length > 0 && review.every((item) => item.inputs?.length === 64 && item.labelled));

  // The shifted digits pull accuracy under the manifests' 0.94: the watchdog posts an alert.
  const deadline = Date.now() + 10_000;
  while (env.alerts.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  const [alert] = env.alerts;
  assert.equal(alert?.kind, "now-test", JSON.stringify(env.alerts));
  assert.match(alert.message, /below its minimum/);
  assert.equal(alert.details.verdict, "fail");
  assert.ok(alert.details.achieved < 0.94);
  const stored = await report("../alerts");
  assert.ok(stored.some((a) => a.subject === alert.subject), "the alert is stored");

  const context = await env.browser.newContext({ viewport: { width: 1280, height: 1250 } });
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${env.url}/www/dashboard.html#token=${TOKEN}`);
  await page.waitForSelector("body[data-state=ready]", { timeout: 20_000 });
  assert.deepEqual(errors, []);
  assert.equal(await page.locator("#arms tbody tr").count(), 2);
  assert.match(await page.locator("#srm").innerText(), /sample ratio ok/);
  assert.match(await page.locator("#alerts").innerText(), /now-test: digits-mlp-(int8|qdq)@1\.0\.0 is below its minimum/);
  assert.doesNotMatch(page.url(), /token=/, "the token leaves the address bar");
  mkdirSync("target/screenshots", { recursive: true });
  const png = await page.screenshot({ path: "target/screenshots/dashboard.png", fullPage: true });
  assert.ok(png.length > 50_000);

  // A second experiment in the same store, picked on the dashboard; the view is in the address.
  const posted = await fetch(`${env.url}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ schema: 1, sentAt: new Date().toISOString(), events: [...secondExperimentEvents("int8", 40, 30), ...secondExperimentEvents("qdq", 40, 36)] }),
  });
  assert.equal(posted.status, 200, await posted.text());
  await page.reload();
  await page.waitForSelector("body[data-state=ready]", { timeout: 20_000 });
  assert.deepEqual((await page.locator("#pick-experiment option").allInnerTexts()).sort(), [JSON.parse(readFileSync("www/experiment.json", "utf8")).id, CREDIT, SECOND].sort());
  await page.selectOption("#pick-experiment", SECOND);
  await page.waitForFunction((id) => document.body.dataset.state === "ready" && document.getElementById("experiment-id")?.textContent?.startsWith(id), SECOND, { timeout: 20_000 });
  assert.match(await page.locator("#comparison").innerText(), /qdq − int8: accuracy \+0\.1500, always-valid 95% interval .* · to detect 0\.05: \d+ more outcomes/);
  await page.selectOption("#pick-window", "1");
  await page.selectOption("#pick-model", "digits-mlp-qdq@1.0.0");
  await page.waitForFunction(() => document.body.dataset.state === "ready" && document.getElementById("drift-model")?.textContent === "digits-mlp-qdq@1.0.0", null, { timeout: 20_000 });
  assert.match(page.url(), /\?experiment=second-experiment&model=digits-mlp-qdq%401\.0\.0&hours=1$/);
  assert.equal(await page.locator("#arms tbody tr").count(), 2);
  await page.screenshot({ path: "target/screenshots/dashboard-second-experiment.png", fullPage: true });
  assert.deepEqual(errors, []);

  // A binary classifier's experiment: precision and recall of class "1" beside accuracy, in the
  // arms and in the now-test. Rows 0, 4, 8, ... were 1; v1 predicts 1 for every third row:
  // precision 0.286 (4 of 14), recall 0.400 (4 of 10); v2 for every second: 0.500, 1.000.
  const creditEvents = [
    ...experimentEvents({ experiment: CREDIT, arm: "v1", name: "credit-risk", version: "1.0.0", n: 40, predicted: (i) => (i % 3 === 0 ? "1" : "0"), actual: (i) => (i % 4 === 0 ? "1" : "0") }),
    ...experimentEvents({ experiment: CREDIT, arm: "v2", name: "credit-risk", version: "1.1.0", n: 40, predicted: (i) => (i % 2 === 0 ? "1" : "0"), actual: (i) => (i % 4 === 0 ? "1" : "0") }),
  ];
  const sent = await fetch(`${env.url}/v1/events`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ schema: 1, sentAt: new Date().toISOString(), events: creditEvents }) });
  assert.equal(sent.status, 200, await sent.text());
  await page.goto(`${env.url}/www/dashboard.html?experiment=${CREDIT}&model=credit-risk%401.0.0#token=${TOKEN}`);
  await page.waitForFunction((id) => document.body.dataset.state === "ready" && document.getElementById("experiment-id")?.textContent?.startsWith(id), CREDIT, { timeout: 20_000 });
  const cells = await page.locator("#arms tbody tr").evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  const v1 = cells.find((row) => row[0] === "v1");
  assert.equal(v1?.at(-1), "0.286 / 0.400 (1 most probable)", JSON.stringify(cells));
  assert.equal(cells.find((row) => row[0] === "v2")?.at(-1), "0.500 / 1.000 (1 most probable)", JSON.stringify(cells));
  assert.match(await page.locator("#now-test").innerText(), /Precision \/ recall\s+0\.286 \/ 0\.400 \(1 most probable\)/);
  await page.screenshot({ path: "target/screenshots/dashboard-binary-experiment.png", fullPage: true });
  assert.deepEqual(errors, []);

  await page.evaluate(() => sessionStorage.clear());
  await page.goto("about:blank");
  await page.goto(`${env.url}/www/dashboard.html#token=wrong`);
  await page.waitForSelector("body[data-state=login]");
  await context.close();
});
