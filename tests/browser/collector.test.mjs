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
  const args = ["--db", join(dir, "events.db"), "--experiment", join(dir, "experiment.json"), "--webhook", webhook, "--now-test-every", "1s"];
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

  await page.evaluate(() => sessionStorage.clear());
  await page.goto("about:blank");
  await page.goto(`${env.url}/www/dashboard.html#token=wrong`);
  await page.waitForSelector("body[data-state=login]");
  await context.close();
});
