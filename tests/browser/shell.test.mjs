// The browser shell end to end in Debian's chromium: caching and offline use, A/B assignment,
// fallback to the champion, and telemetry that loses nothing, against the stand-in receiver of
// scripts/serve.mjs.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { serveAndLaunch, visitDemo } from "./chromium.mjs";
import { startServer } from "../../scripts/serve.mjs";

const DEMO_CONFIG = JSON.parse(readFileSync(new URL("../../www/experiment.json", import.meta.url), "utf8"));
const HOLDOUT = JSON.parse(readFileSync(new URL("../../models/digits-mlp-int8/1.0.0/manifest.json", import.meta.url), "utf8")).performance.holdout;

const env = serveAndLaunch();

/** Runs `work` in a new browser context (its own storage, caches and service worker), then closes it. */
async function inFreshContext(work) {
  const context = await env.browser.newContext();
  try {
    return await work(context);
  } finally {
    await context.close();
  }
}

/** Serves a variant of the demo's experiment at /www/<name>.json; returns the page query. */
function serveExperiment(name, change) {
  const config = structuredClone(DEMO_CONFIG);
  change(config);
  env.overrides.set(`/www/${name}.json`, (_request, response) => {
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(config));
  });
  return `?experiment=${name}.json`;
}

/** Every arm but the challenger weighs 0: each client is assigned "qdq". */
function challengerOnly(config) {
  config.arms[0].weight = 0;
  config.arms[1].weight = 1;
}

/** Polls `check` until it returns a truthy value or `ms` pass. */
async function eventually(check, ms = 20_000, what = "condition") {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Makes `count` predictions in the page through the shell's client; resolves to their ids. */
function predictRows(page, count) {
  return page.evaluate(
    async ({ rows, count }) => {
      const ids = [];
      for (let i = 0; i < count; i++) ids.push((await globalThis.wasmPredictClient.predict(rows[i % rows.length])).id);
      return ids;
    },
    { rows: HOLDOUT.inputs.slice(0, 50), count },
  );
}

const events = (kind, filter = () => true) => [...env.collector.events.values()].filter((e) => e.kind === kind && filter(e));
const flush = (page) => page.evaluate(() => globalThis.wasmPredictClient.flush());

describe("loader, cache and offline use", () => {
  test("the first visit caches the bundles; the second needs no network; with the server gone it still predicts", async () => {
    const own = await startServer();
    const context = await env.browser.newContext();
    try {
      const first = await visitDemo(context, own.url);
      assert.deepEqual(first.errors, []);
      const state = await first.page.evaluate(() => ({ ...document.body.dataset }));
      assert.equal(state.source, "network");
      const cached = await first.page.evaluate(() => globalThis.wasmPredictClient.cachedModels());
      const servedName = state.arm === "int8" ? "digits-mlp-int8" : "digits-mlp-qdq";
      const servedEntry = cached.find((m) => m.name === servedName);
      assert.ok(servedEntry, `the served bundle is cached: ${JSON.stringify(cached)}`);
      const arm = DEMO_CONFIG.arms.find((a) => a.name === state.arm);
      assert.equal(servedEntry.sha256, arm.sha256);
      const clientId = await first.page.evaluate(() => globalThis.wasmPredictClient.clientId);
      await first.page.close();

      const mark = own.collector.requests.length;
      const second = await visitDemo(context, own.url);
      assert.deepEqual(second.errors, []);
      assert.equal(await second.page.getAttribute("body", "data-source"), "cache");
      assert.equal(await second.page.getAttribute("body", "data-assigned-arm"), state.assignedArm, "sticky arm");
      assert.equal(await second.page.evaluate(() => globalThis.wasmPredictClient.clientId), clientId);
      const fetched = own.collector.requests.slice(mark).filter((p) => p.startsWith("/models/") || p.endsWith("experiment.json"));
      assert.deepEqual(fetched, [], "no bundle or config request on the second visit");
      await second.page.close();

      own.server.closeAllConnections();
      await new Promise((resolve) => own.server.close(resolve));
      const third = await visitDemo(context, own.url);
      assert.equal(await third.page.getAttribute("body", "data-state"), "ready");
      assert.equal(await third.page.getAttribute("body", "data-source"), "cache");
      const labels = await third.page.evaluate(
        async (rows) => Promise.all(rows.map(async (row) => (await globalThis.wasmPredictClient.predict(row)).label)),
        HOLDOUT.inputs.slice(0, 40),
      );
      const correct = labels.filter((label, i) => label === HOLDOUT.targets[i]).length;
      assert.ok(correct >= 38, `offline predictions are right: ${correct}/40`);
    } finally {
      await context.close();
      own.server.close();
    }
  });

  test("a storage quota error keeps the model in memory, with a warning", async () => {
    await inFreshContext(async (context) => {
      await context.addInitScript(() => {
        const put = Cache.prototype.put;
        Cache.prototype.put = function (request, response) {
          const url = typeof request === "string" ? request : request.url;
          if (url.includes("/__wasm-predict__/")) return Promise.reject(new DOMException("quota", "QuotaExceededError"));
          return put.call(this, request, response);
        };
      });
      const page = await context.newPage();
      const warnings = [];
      page.on("console", (m) => m.type() === "warning" && warnings.push(m.text()));
      await page.goto(`${env.url}/www/index.html`);
      await page.waitForSelector("body[data-state=ready]", { timeout: 30_000 });
      assert.ok(await page.getAttribute("body", "data-label"));
      assert.deepEqual(await page.evaluate(() => globalThis.wasmPredictClient.cachedModels()), []);
      assert.ok(warnings.some((w) => /storage quota exceeded; the model stays in memory/.test(w)), warnings.join("\n"));
    });
  });

  test("without a worker, predictions run on the main thread", async () => {
    await inFreshContext(async (context) => {
      const { page, errors } = await visitDemo(context, env.url, "?worker=0");
      assert.deepEqual(errors, []);
      assert.equal(await page.locator("#chip-runtime").innerText(), "runtime: main-thread");
      assert.equal(await page.getAttribute("body", "data-label"), "3", "the page's first pick, a holdout 3");
    });
  });
});

describe("experiment assignment", () => {
  test("assignment matches GrowthBook's published cases and splits 10,000 ids within 1% of the weights", async () => {
    await inFreshContext(async (context) => {
      const { page } = await visitDemo(context, env.url);
      const result = await page.evaluate(async (config) => {
        const { fnv1a32, hashToUnit, bucketRanges, chooseBucket } = await import("/www/shell/assignment.js");
        const { chooseArm } = await import("/www/shell/experiment.js");
        const cases = await (await fetch("/tests/cases/assignment.json")).json();
        const mismatches = [];
        for (const [text, expected] of cases.fnv1a32) if (fnv1a32(text) !== expected) mismatches.push(["fnv1a32", text]);
        for (const [seed, value, version, expected] of cases.hash) {
          if (Math.abs(hashToUnit(seed, value, version) - expected) > 1e-9) mismatches.push(["hash", seed, value]);
        }
        for (const [[count, coverage, weights], expected] of cases.bucketRanges) {
          const got = bucketRanges(count, coverage, weights ?? undefined);
          if (got.some(([a, b], i) => Math.abs(a - expected[i][0]) > 1e-9 || Math.abs(b - expected[i][1]) > 1e-9)) mismatches.push(["ranges", count, coverage]);
        }
        for (const [n, ranges, expected] of cases.chooseBucket) if (chooseBucket(n, ranges) !== expected) mismatches.push(["choose", n]);
        // Ids as random as crypto.randomUUID()'s, from a seeded generator (mulberry32), so that
        // the split is the same on every run instead of missing the 1% bound now and then.
        let state = 20261123;
        const random32 = () => {
          state = (state + 0x6d2b79f5) | 0;
          let t = Math.imul(state ^ (state >>> 15), 1 | state);
          t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
          return (t ^ (t >>> 14)) >>> 0;
        };
        const hex = (n) => n.toString(16).padStart(8, "0");
        const seededUuid = () => {
          const [a, b, c, d] = [random32(), random32(), random32(), random32()];
          return `${hex(a)}-${hex(b).slice(0, 4)}-4${hex(b).slice(5)}-${((c >>> 28) & 3 | 8).toString(16)}${hex(c).slice(1, 4)}-${hex(c).slice(4)}${hex(d)}`;
        };
        const shares = {};
        for (const weights of [[0.5, 0.5], [0.1, 0.9], [0.7, 0.3]]) {
          const variant = { ...config, arms: config.arms.map((arm, i) => ({ ...arm, weight: weights[i] })) };
          const counts = [0, 0];
          for (let i = 0; i < 10_000; i++) {
            const name = chooseArm(variant, seededUuid()).arm.name;
            counts[variant.arms.findIndex((a) => a.name === name)] += 1;
          }
          shares[weights.join("/")] = counts.map((c) => c / 10_000);
        }
        const id = crypto.randomUUID();
        const sticky = Array.from({ length: 5 }, () => chooseArm(config, id).arm.name);
        return { mismatches, shares, sticky };
      }, DEMO_CONFIG);
      assert.deepEqual(result.mismatches, []);
      for (const [weights, shares] of Object.entries(result.shares)) {
        weights.split("/").map(Number).forEach((weight, i) => {
          assert.ok(Math.abs(shares[i] - weight) < 0.01, `weights ${weights}: arm ${i} got ${shares[i]}`);
        });
      }
      assert.equal(new Set(result.sticky).size, 1, "the same id always gets the same arm");
    });
  });

  test("the kill switch sends everyone to the champion and exposes no one", async () => {
    const query = serveExperiment("killed", (config) => {
      challengerOnly(config);
      config.id = "killed-experiment";
      config.enabled = false;
    });
    await inFreshContext(async (context) => {
      for (const client of ["alice", "bob", "carol", "dave"]) {
        const { page, errors } = await visitDemo(context, env.url, `${query}&client=${client}`);
        assert.deepEqual(errors, []);
        assert.equal(await page.getAttribute("body", "data-arm"), "int8");
        assert.equal(await page.getAttribute("body", "data-assigned-arm"), "int8");
        await flush(page);
        await page.close();
      }
      const mine = (e) => e.experiment === "killed-experiment";
      assert.equal(events("exposure", mine).length, 0);
      const predictions = events("prediction", mine);
      assert.equal(predictions.length, 4);
      assert.ok(predictions.every((e) => e.arm === "int8" && e.inExperiment === false));
    });
  });

  test("one exposure per (experiment, arm, client), however many predictions and visits", async () => {
    const query = serveExperiment("exposures", (config) => (config.id = "exposure-experiment"));
    await inFreshContext(async (context) => {
      for (let visit = 0; visit < 2; visit++) {
        const { page } = await visitDemo(context, env.url, query);
        await predictRows(page, 5);
        await flush(page);
        await page.close();
      }
      const exposures = events("exposure", (e) => e.experiment === "exposure-experiment");
      assert.equal(exposures.length, 1, JSON.stringify(exposures));
      assert.equal(events("prediction", (e) => e.experiment === "exposure-experiment" && e.clientId === exposures[0].clientId).length, 12);
    });
  });

  test("shadow mode shows the champion and logs the challenger beside it", async () => {
    const query = serveExperiment("shadow", (config) => {
      challengerOnly(config);
      config.id = "shadow-experiment";
      config.mode = "shadow";
    });
    await inFreshContext(async (context) => {
      const { page, errors } = await visitDemo(context, env.url, query);
      assert.deepEqual(errors, []);
      assert.equal(await page.getAttribute("body", "data-arm"), "int8");
      const [id] = await predictRows(page, 1);
      await eventually(() => events("prediction", (e) => e.experiment === "shadow-experiment" && e.shadow).length >= 2 || flush(page).then(() => false), 10_000, "shadow events");
      const mine = events("prediction", (e) => e.experiment === "shadow-experiment");
      const shown = mine.find((e) => e.id === id);
      assert.equal(shown.arm, "int8");
      assert.equal(shown.shadow, false);
      const shadows = mine.filter((e) => e.shadow);
      assert.ok(shadows.every((e) => e.arm === "qdq" && e.model.name === "digits-mlp-qdq"));
      assert.equal(shadows.length, mine.length - shadows.length, "one shadow prediction per shown prediction");
    });
  });
});

describe("fallback to the champion", () => {
  const QDQ = "/models/digits-mlp-qdq/1.0.0";
  // The shell loads a bundle's compiled plan (model.plan): that is the file these cases break.
  const model = readFileSync(new URL(`../..${QDQ}/model.plan`, import.meta.url));
  const manifest = JSON.parse(readFileSync(new URL(`../..${QDQ}/manifest.json`, import.meta.url), "utf8"));
  const send = (body, type = "application/octet-stream") => (_request, response) => response.writeHead(200, { "content-type": type }).end(body);
  const cases = [
    {
      reason: "sha256",
      what: "a tampered model",
      setup: () => {
        const tampered = Buffer.from(model);
        tampered[tampered.length - 3] ^= 0xff;
        env.overrides.set(`${QDQ}/model.plan`, send(tampered));
      },
      cached: false,
    },
    {
      reason: "download",
      what: "a bundle the server cannot find",
      setup: () => env.overrides.set(`${QDQ}/model.plan`, (_q, response) => response.writeHead(404).end("gone")),
      cached: false,
    },
    {
      reason: "fixtures",
      what: "a bundle whose regression fixtures fail",
      setup: () => {
        const changed = structuredClone(manifest);
        changed.fixtures.cases[0].expected.probabilities = changed.fixtures.cases[0].expected.probabilities.map((p) => 1 - p);
        env.overrides.set(`${QDQ}/manifest.json`, send(JSON.stringify(changed), "application/json"));
      },
      cached: true,
    },
    {
      reason: "memory",
      what: "a bundle that takes more memory than its manifest states",
      setup: () => {
        // digits-mlp-qdq takes about 0.7 MB of heap to load and check; its manifest says 64 KiB.
        const changed = { ...structuredClone(manifest), memory: { maximum_bytes: 65536 } };
        env.overrides.set(`${QDQ}/manifest.json`, send(JSON.stringify(changed), "application/json"));
      },
      cached: true,
    },
    {
      reason: "load",
      what: "a model the predictor cannot load",
      unpinned: true,
      setup: async () => {
        // A plan's magic and format, then bytes that are no plan (its hash stated, so it gets past the download).
        const garbage = Buffer.concat([model.subarray(0, 12), Buffer.from("this is not a compiled plan at all")]);
        const { createHash } = await import("node:crypto");
        const changed = { ...manifest, plan: { ...manifest.plan, sha256: createHash("sha256").update(garbage).digest("hex") } };
        env.overrides.set(`${QDQ}/manifest.json`, send(JSON.stringify(changed), "application/json"));
        env.overrides.set(`${QDQ}/model.plan`, send(garbage));
      },
      cached: true,
    },
    { reason: "latency", what: "a challenger over the latency budget", budget: 0.000001, setup: () => {}, cached: true },
  ];
  for (const item of cases) {
    test(`${item.what} is refused: the champion serves, and a fallback event says "${item.reason}"`, async () => {
      await item.setup();
      const experiment = `fallback-${item.reason}`;
      const query = serveExperiment(experiment, (config) => {
        challengerOnly(config);
        config.id = experiment;
        if (item.unpinned) delete config.arms[1].sha256;
        if (item.budget) config.arms[1].latencyBudgetMs = item.budget;
      });
      const context = await env.browser.newContext();
      try {
        const { page } = await visitDemo(context, env.url, query);
        assert.equal(await page.getAttribute("body", "data-state"), "ready");
        assert.equal(await page.getAttribute("body", "data-assigned-arm"), "qdq");
        assert.equal(await page.getAttribute("body", "data-arm"), "int8");
        assert.equal(await page.getAttribute("body", "data-fallbacks"), `qdq:${item.reason}`);
        assert.match(await page.locator("#experiment").innerText(), new RegExp(`qdq → int8: ${item.reason}`));
        const [id] = await predictRows(page, 1);
        await flush(page);
        const [fallback] = events("fallback", (e) => e.experiment === experiment);
        assert.ok(fallback, "a fallback event arrived");
        assert.deepEqual([fallback.fromArm, fallback.toArm, fallback.reason], ["qdq", "int8", item.reason]);
        assert.equal(fallback.model.name, "digits-mlp-qdq");
        const prediction = env.collector.events.get(id);
        assert.deepEqual([prediction.arm, prediction.assignedArm, prediction.model.name], ["int8", "qdq", "digits-mlp-int8"]);
        const cached = (await page.evaluate(() => globalThis.wasmPredictClient.cachedModels())).map((m) => m.name);
        assert.equal(cached.includes("digits-mlp-qdq"), item.cached, `cached: ${cached}`);
      } finally {
        env.overrides.clear();
        await context.close();
      }
    });
  }

  test("when the champion itself fails, the configured fallback arm serves; without one, the embedded model", async () => {
    const INT8 = "/models/digits-mlp-int8/1.0.0";
    env.overrides.set(`${INT8}/model.plan`, (_q, response) => response.writeHead(503).end("down"));
    try {
      const withFallback = serveExperiment("champion-down", (config) => {
        config.id = "champion-down";
        config.arms[0].weight = 1;
        config.arms[1].weight = 0;
        config.fallback = "qdq";
      });
      await inFreshContext(async (context) => {
        const { page } = await visitDemo(context, env.url, withFallback);
        assert.equal(await page.getAttribute("body", "data-arm"), "qdq");
        assert.equal(await page.getAttribute("body", "data-fallbacks"), "int8:download");
        assert.equal(await page.getAttribute("body", "data-label"), "3");
      });
      const withoutFallback = serveExperiment("champion-down-alone", (config) => {
        config.id = "champion-down-alone";
        config.arms[0].weight = 1;
        config.arms[1].weight = 0;
      });
      await inFreshContext(async (context) => {
        const { page } = await visitDemo(context, env.url, withoutFallback);
        assert.equal(await page.getAttribute("body", "data-arm"), "embedded");
        assert.equal(await page.getAttribute("body", "data-source"), "embedded");
        assert.equal(await page.getAttribute("body", "data-label"), "3");
      });
    } finally {
      env.overrides.clear();
    }
  });

  test("a challenger that becomes slow in use falls back after three predictions over budget", async () => {
    const query = serveExperiment("slow-in-use", (config) => {
      challengerOnly(config);
      config.id = "slow-in-use";
      config.arms[1].latencyBudgetMs = 0.5;
    });
    await inFreshContext(async (context) => {
      const { page } = await visitDemo(context, env.url, query);
      assert.equal(await page.getAttribute("body", "data-arm"), "qdq");
      // Hold each answer up on the main thread, as a heavy page would: the round trip exceeds the budget.
      const arms = await page.evaluate(async (row) => {
        const client = globalThis.wasmPredictClient;
        const call = client.runtime.call;
        client.runtime.call = async (...args) => {
          const answer = await call(...args);
          const until = performance.now() + 2;
          while (performance.now() < until);
          return answer;
        };
        const served = [];
        for (let i = 0; i < 5; i++) served.push((await client.predict(row)).arm);
        return served;
      }, HOLDOUT.inputs[0]);
      // The page's own first prediction may already have counted as one strike.
      const switched = arms.indexOf("int8");
      assert.ok(switched >= 1 && switched <= 3, `served: ${arms}`);
      assert.ok(arms.slice(switched).every((arm) => arm === "int8"), `served: ${arms}`);
      await flush(page);
      const [fallback] = events("fallback", (e) => e.experiment === "slow-in-use");
      assert.equal(fallback.reason, "latency");
    });
  });

  test("a malformed experiment config fails with a message naming the field", async () => {
    const query = serveExperiment("bad-weights", (config) => (config.arms[1].weight = 0.9));
    await inFreshContext(async (context) => {
      const { page } = await visitDemo(context, env.url, query);
      assert.equal(await page.getAttribute("body", "data-state"), "failed");
      assert.match(await page.locator("#error").innerText(), /arm weights must sum to 1, they sum to 1\.4/);
    });
  });
});

describe("telemetry", () => {
  test("predictions made offline arrive exactly once when the browser is back online", async () => {
    await inFreshContext(async (context) => {
      const { page } = await visitDemo(context, env.url);
      await flush(page);
      await context.setOffline(true);
      const ids = await predictRows(page, 25);
      await page.waitForTimeout(1500);
      assert.ok(ids.every((id) => !env.collector.events.has(id)), "nothing arrives while offline");
      const waiting = await page.evaluate(() => globalThis.wasmPredictClient.telemetry.outbox.count());
      assert.ok(waiting >= 25, `the outbox holds them (${waiting})`);
      await context.setOffline(false);
      await eventually(() => ids.every((id) => env.collector.events.has(id)), 20_000, "offline events to arrive");
      assert.deepEqual(ids.map((id) => env.collector.deliveries.get(id)), ids.map(() => 1), "each arrived exactly once");
      await eventually(async () => (await page.evaluate(() => globalThis.wasmPredictClient.telemetry.outbox.count())) === 0, 10_000, "an empty outbox");
    });
  });

  test("closing the tab sends what is queued, by keepalive, without waiting for the interval", async () => {
    await inFreshContext(async (context) => {
      const { page } = await visitDemo(context, env.url);
      await flush(page);
      const ids = await predictRows(page, 7);
      assert.ok(ids.every((id) => !env.collector.events.has(id)), "under the batch size, nothing is sent yet");
      await page.close({ runBeforeUnload: true });
      await eventually(() => ids.every((id) => env.collector.events.has(id)), 4000, "the keepalive send on visibilitychange");
    });
  });

  test("a reload, or a crash, in the middle of a batch loses nothing", async () => {
    const context = await env.browser.newContext();
    try {
      const { page } = await visitDemo(context, env.url);
      await flush(page);
      env.collector.delayMs = 1500;
      const ids = await predictRows(page, 12);
      page.evaluate(() => globalThis.wasmPredictClient.flush()).catch(() => {});
      await page.waitForTimeout(300);
      await page.reload();
      await page.waitForSelector("body[data-state=ready]");
      const more = await predictRows(page, 8);
      env.collector.down = true;
      env.collector.delayMs = 0;
      page.evaluate(() => globalThis.wasmPredictClient.flush()).catch(() => {});
      await page.waitForTimeout(300);
      await page.close({ runBeforeUnload: false });
      env.collector.down = false;
      const { page: next } = await visitDemo(context, env.url);
      await flush(next);
      const all = [...ids, ...more];
      await eventually(() => all.every((id) => env.collector.events.has(id)), 20_000, "every event to arrive");
      assert.equal(all.filter((id) => env.collector.events.has(id)).length, 20);
    } finally {
      env.collector.delayMs = 0;
      env.collector.down = false;
      await context.close();
    }
  });

  test("events carry the model, arm, latency and output; inputs only with consent; low confidence goes to review; outcomes come back", async () => {
    await inFreshContext(async (context) => {
      const { page } = await visitDemo(context, env.url);
      await page.locator("#wrong").click();
      await page.locator("#correct-digits button", { hasText: "8" }).click();
      const predictionId = await page.getAttribute("body", "data-prediction-id");
      await flush(page);
      const prediction = env.collector.events.get(predictionId);
      assert.match(prediction.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(prediction.experiment, DEMO_CONFIG.id);
      const arm = DEMO_CONFIG.arms.find((a) => a.name === prediction.arm);
      assert.equal(prediction.model.sha256, arm.sha256);
      assert.ok(prediction.latencyMs >= 0 && prediction.latencyMs < 60000, `latency ${prediction.latencyMs}`);
      assert.equal(prediction.output.topK.length, 3);
      assert.equal(prediction.output.label, prediction.output.topK[0].label);
      assert.equal(prediction.error, null);
      assert.ok(!("inputs" in prediction), "no inputs without consent");
      assert.ok(!Number.isNaN(Date.parse(prediction.time)));
      const [outcome] = events("outcome", (e) => e.predictionId === predictionId);
      assert.equal(outcome.actual, "8");
      assert.equal(outcome.arm, prediction.arm);
      await page.close();

      const query = serveExperiment("review", (config) => {
        config.id = "review-experiment";
        config.telemetry.includeInputs = true;
        config.telemetry.reviewBelowConfidence = 1.01;
      });
      const { page: consenting } = await visitDemo(context, env.url, query);
      const [id] = await predictRows(consenting, 1);
      await flush(consenting);
      const marked = env.collector.events.get(id);
      assert.equal(marked.review, true);
      assert.equal(marked.inputs.length, 64);
      const [review] = events("review", (e) => e.predictionId === id);
      assert.deepEqual(review.inputs, marked.inputs);
    });
  });

  test("a refused input rejects predict() with its code, and the error is logged", async () => {
    await inFreshContext(async (context) => {
      const { page } = await visitDemo(context, env.url);
      const code = await page.evaluate(() => globalThis.wasmPredictClient.predict(new Float32Array(3)).catch((e) => e.code));
      assert.equal(code, "INPUT_SHAPE");
      await flush(page);
      const failed = events("prediction", (e) => e.error?.code === "INPUT_SHAPE");
      assert.ok(failed.length >= 1);
      assert.match(failed[0].error.message, /64/);
    });
  });
});
