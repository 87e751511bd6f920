// Telemetry that loses nothing and never hurts the app: every event goes to the outbox first;
// batches leave on size, on an interval, when the page is hidden and when the browser comes back
// online; only what the collector acknowledges is deleted. Delivery is at-least-once; the
// collector keeps each event id once.
import { memoryOutbox } from "./outbox.js";

/** The version of the batch envelope and event fields (see docs/shell.md, "Telemetry"). */
export const TELEMETRY_SCHEMA = 1;

/** Browsers refuse keepalive fetches and beacons whose bodies add up to more than 64 KiB. */
const KEEPALIVE_LIMIT = 64 * 1024;

/**
 * Runs `work`, turning any exception or rejection into a warning: telemetry must never throw
 * into the app.
 * @template T
 * @param {() => T} work
 * @returns {T | undefined}
 */
export function safeCall(work) {
  try {
    const result = work();
    if (result instanceof Promise) {
      return /** @type {T} */ (result.catch((error) => console.warn("wasm-predict telemetry:", error)));
    }
    return result;
  } catch (error) {
    console.warn("wasm-predict telemetry:", error);
    return undefined;
  }
}

/**
 * @typedef {import("./outbox.js").QueuedEvent} QueuedEvent
 * @typedef {import("./outbox.js").Outbox} Outbox
 *
 * @typedef {object} TelemetryOptions
 * @property {string} endpoint the collector's URL (POST, JSON body `{schema, sentAt, events}`)
 * @property {Outbox} [outbox] where events wait (default: in memory)
 * @property {number} [batchSize] events per request, and the queue length that triggers a flush (20)
 * @property {number} [flushIntervalMs] how often waiting events are sent (5000)
 * @property {number} [maxBatchBytes] request body bound, under the 64 KiB keepalive limit (60000)
 * @property {number} [retryBaseMs] first retry delay after a failure, doubled each time (1000)
 * @property {number} [retryMaxMs] longest retry delay (60000)
 *
 * @typedef {object} TelemetryStats
 * @property {number} tracked events handed to `track` in this page
 * @property {number} acknowledged events the collector stored or already had
 * @property {number} rejected events the collector refused as invalid (dropped, with a warning)
 * @property {number} failures requests that failed and will be retried
 * @property {number} waiting events in the outbox at the last count
 * @property {string | null} lastError the last failure, if any
 */

/** Sends, queues and retries telemetry events. */
export class Telemetry {
  /** @param {TelemetryOptions} options */
  constructor(options) {
    this.endpoint = options.endpoint;
    this.outbox = options.outbox ?? memoryOutbox();
    this.batchSize = options.batchSize ?? 20;
    this.flushIntervalMs = options.flushIntervalMs ?? 5000;
    this.maxBatchBytes = Math.min(options.maxBatchBytes ?? 60_000, KEEPALIVE_LIMIT - 1024);
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.retryMaxMs = options.retryMaxMs ?? 60_000;
    /** @type {TelemetryStats} */
    this.stats = { tracked: 0, acknowledged: 0, rejected: 0, failures: 0, waiting: 0, lastError: null };
    /** Events of this page not yet acknowledged, for the synchronous send when the page hides. */
    this.unacknowledged = new Map();
    /** Ids in a request right now, so no two requests of this page carry the same event. */
    this.inFlight = new Set();
    /** @type {Promise<void> | null} */
    this.flushing = null;
    this.flushAgain = false;
    this.consecutiveFailures = 0;
    this.retryAt = 0;
    this.stopped = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {Array<() => void>} */
    this.teardown = [];
    /** @type {Set<(stats: TelemetryStats) => void>} */
    this.listeners = new Set();
  }

  /**
   * Queues an event (it must carry a unique `id`); never throws and never waits.
   * @param {QueuedEvent} event
   */
  track(event) {
    this.trackAll([event]);
  }

  /**
   * Queues events in one outbox write; resolves once they are in the outbox. Never rejects.
   * @param {QueuedEvent[]} events
   * @returns {Promise<void>}
   */
  trackAll(events) {
    if (events.length === 0) return Promise.resolve();
    return (
      safeCall(() => {
        this.stats.tracked += events.length;
        events.forEach((event) => this.unacknowledged.set(event.id, event));
        return this.outbox.put(events).then(async () => {
          const waiting = await this.outbox.count();
          this.updateStats({ waiting });
          if (waiting >= this.batchSize) await this.flush();
        });
      }) ?? Promise.resolve()
    );
  }

  /**
   * Starts the interval, and sends when the page hides or the browser comes back online; then
   * sends whatever earlier visits left in the outbox.
   */
  start() {
    safeCall(() => {
      const interval = setInterval(() => this.flush(), this.flushIntervalMs);
      this.teardown.push(() => clearInterval(interval));
      if (typeof document !== "undefined") {
        const onVisibility = () => document.visibilityState === "hidden" && this.sendBeforeHiding();
        document.addEventListener("visibilitychange", onVisibility);
        this.teardown.push(() => document.removeEventListener("visibilitychange", onVisibility));
      }
      if (typeof window !== "undefined") {
        const onOnline = () => {
          this.retryAt = 0;
          this.flush();
        };
        window.addEventListener("online", onOnline);
        this.teardown.push(() => window.removeEventListener("online", onOnline));
      }
      return this.flush();
    });
  }

  /** Stops the interval, the listeners and sending (a request under way still ends); queued events stay in the outbox. */
  stop() {
    this.stopped = true;
    this.teardown.splice(0).forEach((undo) => undo());
    clearTimeout(this.retryTimer);
  }

  /**
   * Calls `listener` with the counters whenever they change; returns the unsubscribe function.
   * @param {(stats: TelemetryStats) => void} listener
   */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Sends everything in the outbox now (unless a retry is pending and `force` is off), in batches
   * bounded by count and bytes. Resolves when done or failed; never rejects.
   * @param {{force?: boolean}} [options]
   * @returns {Promise<void>}
   */
  flush({ force = false } = {}) {
    if (force) this.retryAt = 0;
    if (this.flushing) {
      this.flushAgain = true;
      return this.flushing;
    }
    this.flushing = /** @type {Promise<void>} */ (safeCall(() => this.drain()))?.finally(() => {
      this.flushing = null;
    }) ?? Promise.resolve();
    return this.flushing;
  }

  /** @private */
  async drain() {
    do {
      this.flushAgain = false;
      if (this.stopped || Date.now() < this.retryAt) return;
      const waiting = (await this.outbox.oldest(this.batchSize * 10)).filter((e) => !this.inFlight.has(e.id));
      if (waiting.length === 0) break;
      for (const batch of this.batches(waiting)) {
        if (this.stopped || !(await this.send(batch, false))) return;
      }
      this.flushAgain = true;
    } while (this.flushAgain);
    this.updateStats({ waiting: await this.outbox.count() });
  }

  /**
   * The page is being hidden and may never run again: send this page's unacknowledged events
   * synchronously with keepalive fetches (or beacons); they stay in the outbox until acknowledged,
   * so a send that dies with the page is retried by the next visit.
   * @private
   */
  sendBeforeHiding() {
    safeCall(() => {
      const events = [...this.unacknowledged.values()].filter((e) => !this.inFlight.has(e.id));
      let budget = KEEPALIVE_LIMIT;
      for (const batch of this.batches(events)) {
        const body = this.envelope(batch);
        if (body.length > budget) break;
        budget -= body.length;
        this.send(batch, true, body);
      }
    });
  }

  /**
   * Splits events into batches of at most `batchSize` events and `maxBatchBytes` bytes; an event
   * alone over the byte bound goes alone (the collector will refuse it, and it is dropped then).
   * @private
   * @param {QueuedEvent[]} events
   */
  *batches(events) {
    /** @type {QueuedEvent[]} */
    let batch = [];
    let bytes = 64;
    for (const event of events) {
      const size = new TextEncoder().encode(JSON.stringify(event)).length + 1;
      if (batch.length > 0 && (batch.length >= this.batchSize || bytes + size > this.maxBatchBytes)) {
        yield batch;
        batch = [];
        bytes = 64;
      }
      batch.push(event);
      bytes += size;
    }
    if (batch.length > 0) yield batch;
  }

  /**
   * @private
   * @param {QueuedEvent[]} events
   */
  envelope(events) {
    return new TextEncoder().encode(JSON.stringify({ schema: TELEMETRY_SCHEMA, sentAt: new Date().toISOString(), events }));
  }

  /**
   * POSTs one batch; on an answer, deletes what the collector acknowledged or refused. Resolves
   * to false when the batch must be retried later.
   * @private
   * @param {QueuedEvent[]} batch
   * @param {boolean} keepalive
   * @param {Uint8Array} [body]
   * @returns {Promise<boolean>}
   */
  async send(batch, keepalive, body = this.envelope(batch)) {
    const ids = batch.map((e) => e.id);
    ids.forEach((id) => this.inFlight.add(id));
    try {
      let response;
      try {
        response = await fetch(this.endpoint, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: /** @type {BodyInit} */ (body),
          keepalive,
        });
      } catch (error) {
        if (keepalive && typeof navigator !== "undefined" && navigator.sendBeacon) {
          // Chromium refuses a keepalive fetch beyond its in-flight quota; a beacon has its own.
          navigator.sendBeacon(this.endpoint, new Blob([/** @type {BlobPart} */ (body)], { type: "text/plain" }));
          return false;
        }
        throw error;
      }
      if (response.ok) {
        await this.acknowledge(ids, 0);
        return true;
      }
      if (response.status === 413 && batch.length > 1) {
        const half = Math.ceil(batch.length / 2);
        ids.forEach((id) => this.inFlight.delete(id));
        return (await this.send(batch.slice(0, half), keepalive)) && this.send(batch.slice(half), keepalive);
      }
      if (response.status >= 400 && response.status < 500 && ![408, 429].includes(response.status)) {
        const reply = await response.json().catch(() => null);
        const refused = Array.isArray(reply?.rejected) ? reply.rejected.length : batch.length;
        console.warn(`wasm-predict telemetry: the collector refused ${refused} event(s):`, reply ?? response.status);
        await this.acknowledge(ids, refused);
        return true;
      }
      const retryAfter = Number(response.headers.get("retry-after"));
      throw Object.assign(new Error(`collector answered ${response.status}`), { retryAfterMs: retryAfter * 1000 });
    } catch (error) {
      this.failed(/** @type {Error & {retryAfterMs?: number}} */ (error));
      return false;
    } finally {
      ids.forEach((id) => this.inFlight.delete(id));
    }
  }

  /**
   * @private
   * @param {string[]} ids
   * @param {number} refused how many of them the collector refused as invalid
   */
  async acknowledge(ids, refused) {
    await this.outbox.remove(ids);
    ids.forEach((id) => this.unacknowledged.delete(id));
    this.consecutiveFailures = 0;
    this.updateStats({
      acknowledged: this.stats.acknowledged + ids.length - refused,
      rejected: this.stats.rejected + refused,
      waiting: Math.max(0, this.stats.waiting - ids.length),
    });
  }

  /**
   * Schedules the next attempt with exponential backoff and jitter (or the collector's Retry-After).
   * @private
   * @param {Error & {retryAfterMs?: number}} error
   */
  failed(error) {
    this.consecutiveFailures += 1;
    const backoff = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** (this.consecutiveFailures - 1));
    const delay = Math.max(error.retryAfterMs || 0, backoff * (0.5 + Math.random() / 2));
    this.retryAt = Date.now() + delay;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.flush({ force: true }), delay);
    this.updateStats({ failures: this.stats.failures + 1, lastError: String(error.message ?? error) });
  }

  /**
   * @private
   * @param {Partial<TelemetryStats>} changes
   */
  updateStats(changes) {
    Object.assign(this.stats, changes);
    for (const listener of this.listeners) safeCall(() => listener({ ...this.stats }));
  }
}
