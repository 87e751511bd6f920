// The shell's consent paths in Debian's chromium: what each consent state stores (localStorage,
// sessionStorage, IndexedDB) and sends (requests counted at a per-test stand-in collector), and
// that predictions answer in every one of them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { serveAndLaunch } from "./chromium.mjs";

const DEMO_CONFIG = JSON.parse(readFileSync(new URL("../../www/experiment.json", import.meta.url), "utf8"));
const HOLDOUT = JSON.parse(readFileSync(new URL("../../models/digits-mlp-int8/1.0.0/manifest.json", import.meta.url), "utf8")).performance.holdout;
const OUTBOX_DATABASE = "wasm-predict-telemetry";
const GPC_ON = () => Object.defineProperty(Navigator.prototype, "globalPrivacyControl", { get: () => true, configurable: true });
// With telemetry leaking, an interval this short would send within a few of them; the waits for
// "nothing was sent" below are that many intervals.
const SHORT_INTERVAL_MS = 100;
const QUIET_MS = 1000;

const env = serveAndLaunch();

/**
 * A stand-in collector at its own path, so a test counts only its own requests: every request,
 * and how often each event id arrived.
 */
function collectorFor(name) {
  const sink = { path: `/privacy/${name}/events`, requests: 0, events: new Map(), deliveries: new Map() };
  env.overrides.set(sink.path, async (request, response) => {
    sink.requests += 1;
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const reply = { accepted: [], duplicates: [], rejected: [] };
    for (const event of JSON.parse(Buffer.concat(chunks).toString("utf8")).events) {
      (sink.events.has(event.id) ? reply.duplicates : reply.accepted).push(event.id);
      sink.events.set(event.id, event);
      sink.deliveries.set(event.id, (sink.deliveries.get(event.id) ?? 0) + 1);
    }
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(reply));
  });
  return sink;
}

/** The demo's experiment under its own id, sending to `sink`. */
function experimentFor(name, sink, flushIntervalMs = SHORT_INTERVAL_MS) {
  return { ...DEMO_CONFIG, id: `privacy-${name}`, bundles: "/models/", telemetry: { ...DEMO_CONFIG.telemetry, endpoint: sink.path, flushIntervalMs } };
}

/** Runs `work` in a new browser context (its own storage), then closes it. */
async function inFreshContext(work) {
  const context = await env.browser.newContext();
  try {
    return await work(context);
  } finally {
    await context.close();
  }
}

/** Opens a blank page of the server's origin (optionally with Global Privacy Control on). */
async function blankPage(context, { gpc = false } = {}) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  if (gpc) await page.addInitScript(GPC_ON);
  await page.goto(`${env.url}/tests/browser/blank.html`);
  return { page, errors };
}

/** Creates the page's client with `options`; resolves to what it decided. */
function startClient(page, options) {
  return page.evaluate(async (options) => {
    const { createClient } = await import("/www/shell/index.js");
    const client = await createClient(options);
    globalThis.client = client;
    return { clientId: client.clientId, consent: client.consent, telemetry: client.telemetry !== null, served: client.served.arm, inExperiment: client.inExperiment };
  }, options);
}

/** Predicts `count` holdout rows; checks the answers; resolves to the prediction ids. */
async function predict(page, count, from = 0) {
  const rows = HOLDOUT.inputs.slice(from, from + count);
  const results = await page.evaluate(async (rows) => {
    const out = [];
    for (const row of rows) out.push(await globalThis.client.predict(row));
    return out.map((r) => ({ id: r.id, label: r.label }));
  }, rows);
  const correct = results.filter((r, i) => r.label === HOLDOUT.targets[from + i]).length;
  assert.equal(results.length, count);
  assert.ok(correct >= count - 1, `predictions answer, and rightly: ${correct}/${count}`);
  return results.map((r) => r.id);
}

/** Our keys in localStorage and sessionStorage, and the page origin's IndexedDB databases. */
function stored(page) {
  return page.evaluate(async () => {
    const ours = (storage) => Object.fromEntries(Object.keys(storage).filter((k) => k.startsWith("wasm-predict")).map((k) => [k, storage.getItem(k)]));
    return { local: ours(localStorage), session: ours(sessionStorage), databases: (await indexedDB.databases()).map((d) => d.name) };
  });
}

const NOTHING_STORED = { local: {}, session: {}, databases: [] };

/**
 * Gives a leaking client every chance to send: a flush, the page seeming hidden (the keepalive
 * path), and several flush intervals.
 */
async function tempt(page) {
  await page.evaluate(() => {
    globalThis.client.flush();
    Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
    document.dispatchEvent(new Event("visibilitychange"));
    delete document.visibilityState;
  });
  await page.waitForTimeout(QUIET_MS);
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

const heldIds = (page) => page.evaluate(() => globalThis.client.gate.held.map((e) => e.id));

test("pending: predictions answer; nothing is stored and nothing sent; events wait in memory", async () => {
  const sink = collectorFor("pending");
  await inFreshContext(async (context) => {
    const { page, errors } = await blankPage(context);
    const client = await startClient(page, { experiment: experimentFor("pending", sink), consent: "pending" });
    assert.deepEqual([client.consent, client.telemetry, client.inExperiment], ["pending", false, true]);
    const ids = await predict(page, 5);
    await tempt(page);
    assert.deepEqual(await stored(page), NOTHING_STORED);
    assert.equal(sink.requests, 0, "no request to the events endpoint");
    const held = await heldIds(page);
    assert.ok(ids.every((id) => held.includes(id)), "the predictions wait in memory");
    assert.deepEqual(errors, []);
  });
});

test("pending, then granted: what waited is sent exactly once, under the same ids, and the id is stored", async () => {
  const sink = collectorFor("granted-later");
  await inFreshContext(async (context) => {
    const { page } = await blankPage(context);
    const client = await startClient(page, { experiment: experimentFor("granted-later", sink), consent: "pending" });
    const early = await predict(page, 5);
    const held = await heldIds(page);
    assert.ok(held.length >= 6, `an exposure and 5 predictions wait (${held.length})`);
    assert.equal(sink.requests, 0);
    assert.equal(await page.evaluate(() => globalThis.client.setConsent("granted")), "granted");
    const late = await predict(page, 3, 5);
    await page.evaluate(() => globalThis.client.flush());
    const all = [...held, ...late];
    await eventually(() => all.every((id) => sink.events.has(id)), 20_000, "held and later events to arrive");
    await page.waitForTimeout(QUIET_MS);
    assert.deepEqual(all.map((id) => sink.deliveries.get(id)), all.map(() => 1), "each arrived exactly once");
    assert.ok(early.every((id) => held.includes(id)));
    assert.deepEqual(new Set([...sink.events.values()].map((e) => e.clientId)), new Set([client.clientId]));
    assert.equal([...sink.events.values()].filter((e) => e.kind === "exposure").length, 1);
    const after = await stored(page);
    assert.equal(after.local["wasm-predict.client-id"], client.clientId, "the page's id is the stored one");
    assert.deepEqual(after.session, {});
    assert.ok(after.databases.includes(OUTBOX_DATABASE));
    assert.equal(await page.evaluate(() => globalThis.client.gate.held.length), 0);
  });
});

test("pending, then denied: nothing is ever sent or stored, and what waited is dropped", async () => {
  const sink = collectorFor("denied-later");
  await inFreshContext(async (context) => {
    const { page } = await blankPage(context);
    await startClient(page, { experiment: experimentFor("denied-later", sink), consent: "pending" });
    await predict(page, 4);
    assert.ok((await heldIds(page)).length > 0);
    assert.equal(await page.evaluate(() => globalThis.client.setConsent("denied")), "denied");
    assert.deepEqual(await heldIds(page), [], "the held events are dropped");
    await predict(page, 4, 4);
    assert.deepEqual(await heldIds(page), [], "and later ones are not held");
    await tempt(page);
    assert.equal(sink.requests, 0);
    assert.deepEqual(await stored(page), NOTHING_STORED);
    assert.equal(await page.evaluate(() => globalThis.client.telemetry), null);
  });
});

test("granted, then denied: sending stops, the stored id and the outbox are deleted", async () => {
  const sink = collectorFor("withdrawn");
  await inFreshContext(async (context) => {
    const { page } = await blankPage(context);
    // A long interval, so that events are still waiting in the outbox when consent is withdrawn.
    const client = await startClient(page, { experiment: experimentFor("withdrawn", sink, 600_000), consent: "granted" });
    assert.deepEqual([client.consent, client.telemetry], ["granted", true]);
    const sent = await predict(page, 3);
    await page.evaluate(() => globalThis.client.flush());
    await eventually(() => sent.every((id) => sink.events.has(id)), 20_000, "the granted events to arrive");
    const before = await stored(page);
    assert.equal(before.local["wasm-predict.client-id"], client.clientId);
    assert.ok(before.databases.includes(OUTBOX_DATABASE));

    const waiting = await predict(page, 3, 3);
    await eventually(async () => (await page.evaluate(() => globalThis.client.telemetry.outbox.count())) >= 3, 10_000, "three events in the outbox");
    const requests = sink.requests;
    assert.equal(await page.evaluate(() => globalThis.client.setConsent("denied")), "denied");
    assert.deepEqual(await stored(page), NOTHING_STORED, "no client id, no exposure log, no outbox database");
    await predict(page, 3, 6);
    await tempt(page);
    assert.equal(sink.requests, requests, "nothing is sent after the withdrawal");
    assert.ok(waiting.every((id) => !sink.events.has(id)), "the events that waited are never sent");
    assert.deepEqual(await stored(page), NOTHING_STORED);
    assert.equal(await page.evaluate(() => globalThis.client.clientId), client.clientId, "the page keeps its id in memory");
  });
});

test("telemetry: false: predictions answer with no telemetry, no storage and no request; others' storage is left alone", async () => {
  const sink = collectorFor("off");
  await inFreshContext(async (context) => {
    const { page } = await blankPage(context);
    await page.evaluate(() => localStorage.setItem("wasm-predict.client-id", "another-page-s-id"));
    const client = await startClient(page, { experiment: experimentFor("off", sink), telemetry: false });
    assert.deepEqual([client.consent, client.telemetry, client.inExperiment, client.served], ["denied", false, false, "int8"]);
    await predict(page, 5);
    assert.equal(await page.evaluate(() => globalThis.client.setConsent("granted")), "denied", "telemetry: false is for good");
    await predict(page, 2, 5);
    await tempt(page);
    assert.equal(sink.requests, 0);
    assert.deepEqual(await stored(page), { local: { "wasm-predict.client-id": "another-page-s-id" }, session: {}, databases: [] });
    assert.notEqual(client.clientId, "another-page-s-id");
  });
});

test("Global Privacy Control: denied whatever the consent, nothing sent, and an earlier grant's storage deleted", async () => {
  const sink = collectorFor("gpc");
  await inFreshContext(async (context) => {
    const { page: earlier } = await blankPage(context);
    await startClient(earlier, { experiment: experimentFor("gpc", sink) });
    await predict(earlier, 2);
    await earlier.evaluate(() => globalThis.client.flush());
    assert.notDeepEqual(await stored(earlier), NOTHING_STORED, "the earlier visit stored an id and an outbox");
    await earlier.close();
    const requests = sink.requests;

    const { page, errors } = await blankPage(context, { gpc: true });
    assert.equal(await page.evaluate(() => navigator.globalPrivacyControl), true);
    const client = await startClient(page, { experiment: experimentFor("gpc", sink), consent: "granted" });
    assert.deepEqual([client.consent, client.telemetry, client.inExperiment, client.served], ["denied", false, false, "int8"]);
    await predict(page, 5);
    assert.equal(await page.evaluate(() => globalThis.client.setConsent("granted")), "denied");
    await tempt(page);
    assert.equal(sink.requests, requests);
    assert.deepEqual(await stored(page), NOTHING_STORED);
    assert.deepEqual(errors, []);
  });
});

test("Global Privacy Control overridden by the app: the consent given applies", async () => {
  const sink = collectorFor("gpc-overridden");
  await inFreshContext(async (context) => {
    const { page } = await blankPage(context, { gpc: true });
    const client = await startClient(page, { experiment: experimentFor("gpc-overridden", sink), respectGlobalPrivacyControl: false });
    assert.deepEqual([client.consent, client.telemetry], ["granted", true]);
    const ids = await predict(page, 3);
    await page.evaluate(() => globalThis.client.flush());
    await eventually(() => ids.every((id) => sink.events.has(id)), 20_000, "events to arrive");
    assert.equal((await stored(page)).local["wasm-predict.client-id"], client.clientId);
  });
});

test("clientIdStorage: memory keeps the id out of storage (a new id per load); session keeps it per tab", async () => {
  const sink = collectorFor("id-storage");
  await inFreshContext(async (context) => {
    const { page } = await blankPage(context);
    const first = await startClient(page, { experiment: experimentFor("id-storage", sink), clientIdStorage: "memory" });
    const ids = await predict(page, 3);
    await page.evaluate(() => globalThis.client.flush());
    await eventually(() => ids.every((id) => sink.events.has(id)), 20_000, "events to arrive");
    assert.ok(ids.every((id) => sink.events.get(id).clientId === first.clientId));
    const memory = await stored(page);
    assert.deepEqual([memory.local, memory.session], [{}, {}], "no id in either storage");
    assert.ok(memory.databases.includes(OUTBOX_DATABASE), "the outbox is there: consent is granted");
    await page.evaluate(() => globalThis.client.close());
    await page.reload();
    const second = await startClient(page, { experiment: experimentFor("id-storage", sink), clientIdStorage: "memory" });
    assert.notEqual(second.clientId, first.clientId, "a new id on every load");
    await page.evaluate(() => globalThis.client.close());

    await page.reload();
    const session = await startClient(page, { experiment: experimentFor("id-storage", sink), clientIdStorage: "session" });
    await predict(page, 2);
    const inSession = await stored(page);
    assert.deepEqual(inSession.local, {});
    assert.equal(inSession.session["wasm-predict.client-id"], session.clientId);
    assert.ok(inSession.session["wasm-predict.exposures"], "exposures are logged beside the id");
    await page.evaluate(() => globalThis.client.close());
    await page.reload();
    const again = await startClient(page, { experiment: experimentFor("id-storage", sink), clientIdStorage: "session" });
    assert.equal(again.clientId, session.clientId, "the same id for the tab's session");
  });
});
