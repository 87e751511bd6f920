// The visitor's consent decides what telemetry does: while it is pending, events wait in this
// page's memory and nothing is stored or sent; granted, they go to the outbox and the collector;
// denied, they are dropped, and what an earlier grant stored (the client id, the outbox) is deleted.
import { safeCall } from "./telemetry.js";
import { discardOutbox, deleteOutboxDatabase } from "./outbox.js";

/**
 * @typedef {"pending" | "granted" | "denied"} Consent
 * @typedef {import("./telemetry.js").Telemetry} Telemetry
 * @typedef {import("./outbox.js").QueuedEvent} QueuedEvent
 * @typedef {import("./identity.js").ClientIdentity} ClientIdentity
 */

/** The consent states `createClient` takes. */
export const CONSENT_STATES = Object.freeze(/** @type {Consent[]} */ (["pending", "granted", "denied"]));

/** Events held in memory while consent is pending; later ones are dropped (with one warning). */
export const PENDING_EVENTS_LIMIT = 500;

/**
 * True when the browser sends the Global Privacy Control signal (`navigator.globalPrivacyControl`).
 * @returns {boolean}
 */
export function globalPrivacyControl() {
  return typeof navigator !== "undefined" && /** @type {{globalPrivacyControl?: unknown}} */ (navigator).globalPrivacyControl === true;
}

/** Holds, sends or drops telemetry events as the visitor's consent says. */
export class ConsentGate {
  /**
   * @param {object} parts
   * @param {Consent} parts.consent the consent to start with
   * @param {boolean} parts.fixed true when consent cannot change (Global Privacy Control honoured, or telemetry off)
   * @param {ClientIdentity} parts.identity
   * @param {(() => Promise<Telemetry>) | null} parts.open makes the queue (not started), opening the outbox; null: no telemetry at all
   */
  constructor({ consent, fixed, identity, open }) {
    /** @type {Consent} the consent in force */
    this.consent = consent;
    this.fixed = fixed;
    this.identity = identity;
    this.open = open;
    /** @type {Telemetry | null} the queue, once consent is granted */
    this.telemetry = null;
    /** Events made while consent is pending. @type {QueuedEvent[]} */
    this.held = [];
    /** Events not held because {@link PENDING_EVENTS_LIMIT} were already. */
    this.dropped = 0;
    /** The storage work of the last consent change. @type {Promise<unknown>} */
    this.settled = Promise.resolve();
  }

  /**
   * Does the storage work of the consent it starts with: granted opens the outbox and starts
   * sending; denied deletes what an earlier grant stored. Resolves when done; never rejects.
   * @returns {Promise<Consent>}
   */
  start() {
    return this.open ? this.apply(this.consent) : Promise.resolve(this.consent);
  }

  /**
   * Sends, holds or drops one event; never throws.
   * @param {QueuedEvent} event
   */
  track(event) {
    if (this.consent === "denied" || !this.open) return;
    if (this.consent === "granted" && this.telemetry) {
      this.telemetry.track(event);
    } else if (this.held.length < PENDING_EVENTS_LIMIT) {
      this.held.push(event);
    } else {
      if (this.dropped === 0) console.warn(`wasm-predict: consent pending: ${PENDING_EVENTS_LIMIT} events held in memory, later ones dropped`);
      this.dropped += 1;
    }
  }

  /**
   * Records the visitor's decision. Resolves to the consent in force once its storage work is
   * done (unchanged where consent is fixed); never rejects.
   * @param {"granted" | "denied"} consent
   * @returns {Promise<Consent>}
   */
  set(consent) {
    if (consent !== "granted" && consent !== "denied") {
      return Promise.reject(new RangeError(`consent must be "granted" or "denied", not ${JSON.stringify(consent)}`));
    }
    if (this.fixed || !this.open || consent === this.consent) return this.settled.then(() => this.consent);
    this.consent = consent;
    if (consent === "denied") this.held = [];
    return this.apply(consent);
  }

  /**
   * Queues the storage work of `consent` after the previous change's.
   * @private
   * @param {Consent} consent
   * @returns {Promise<Consent>}
   */
  apply(consent) {
    const work = consent === "granted" ? () => this.grant() : consent === "denied" ? () => this.erase() : () => undefined;
    const done = this.settled.then(() => safeCall(work)).then(() => this.consent);
    this.settled = done;
    return done;
  }

  /**
   * Stores the client id, opens the outbox and sends what was held.
   * @private
   */
  async grant() {
    if (this.consent !== "granted" || this.telemetry || !this.open) return;
    this.identity.persist();
    const telemetry = await this.open();
    this.telemetry = telemetry;
    // Denied while the outbox opened: the erase queued behind this deletes it.
    if (this.consent !== "granted") return;
    await telemetry.trackAll(this.held.splice(0));
    telemetry.start();
  }

  /**
   * Stops sending, drops what was held, and deletes the stored client id and the outbox.
   * @private
   */
  async erase() {
    this.held = [];
    const telemetry = this.telemetry;
    this.telemetry = null;
    telemetry?.stop();
    this.identity.forget();
    if (telemetry) await discardOutbox(telemetry.outbox);
    await deleteOutboxDatabase();
  }

  /** Sends queued events now (nothing while consent is not granted). */
  flush() {
    return this.telemetry?.flush({ force: true }) ?? Promise.resolve();
  }

  /** Stops the queue's timers; queued events stay in the outbox. */
  stop() {
    this.telemetry?.stop();
  }
}
