// The anonymous client id the experiment assigns arms by, and the exposures already logged for it:
// kept in memory, sessionStorage or localStorage, and in storage only with the visitor's consent.

const CLIENT_ID_KEY = "wasm-predict.client-id";
const EXPOSURES_KEY = "wasm-predict.exposures";

/** @typedef {"memory" | "session" | "local"} ClientIdStorage */

/** Where a client id may live. */
export const CLIENT_ID_STORAGES = Object.freeze(/** @type {ClientIdStorage[]} */ (["memory", "session", "local"]));

/**
 * This browser's anonymous client id: a random UUID kept in `storage` (for this page only, with a
 * warning, where storage is refused).
 * @param {Storage | null} [storage] localStorage unless given
 */
export function clientId(storage = safeLocalStorage()) {
  let id = storage?.getItem(CLIENT_ID_KEY);
  if (!id) {
    id = crypto.randomUUID();
    try {
      storage?.setItem(CLIENT_ID_KEY, id);
    } catch {
      console.warn("wasm-predict: storage refused; the client id lasts this page only");
    }
  }
  return id;
}

/**
 * True the first time (experiment, arm, client) is seen in `storage`; remembers it.
 * @param {string} key
 * @param {Storage | null} [storage] localStorage unless given
 */
export function firstExposure(key, storage = safeLocalStorage()) {
  /** @type {string[]} */
  let seen = [];
  try {
    seen = JSON.parse(storage?.getItem(EXPOSURES_KEY) ?? "[]");
  } catch {
    seen = [];
  }
  if (seen.includes(key)) return false;
  seen.push(key);
  try {
    storage?.setItem(EXPOSURES_KEY, JSON.stringify(seen.slice(-200)));
  } catch {
    // storage refused: the exposure may be sent again next visit; the collector counts clients, not events
  }
  return true;
}

/** @returns {Storage | null} */
export function safeLocalStorage() {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}

/** @returns {Storage | null} */
function safeSessionStorage() {
  try {
    return typeof sessionStorage === "undefined" ? null : sessionStorage;
  } catch {
    return null;
  }
}

/**
 * @param {ClientIdStorage} kind
 * @returns {Storage | null}
 */
function storageOf(kind) {
  if (kind === "local") return safeLocalStorage();
  if (kind === "session") return safeSessionStorage();
  return null;
}

/**
 * Removes the client id and the exposure log from localStorage and sessionStorage.
 */
export function forgetClientId() {
  for (const storage of [safeLocalStorage(), safeSessionStorage()]) {
    try {
      storage?.removeItem(CLIENT_ID_KEY);
      storage?.removeItem(EXPOSURES_KEY);
    } catch {
      // A storage that refuses access holds nothing of ours.
    }
  }
}

/** This client's id and the exposures logged for it, in storage only while that is allowed. */
export class ClientIdentity {
  /**
   * @param {object} options
   * @param {string} [options.id] the app's own id: used as is and never stored
   * @param {ClientIdStorage} options.storage where the id lives once stored
   * @param {boolean} options.stored read (or make) the id in `storage` now; otherwise a random id in memory
   */
  constructor({ id, storage, stored }) {
    this.storage = storage;
    /** True when the id was given by the app. */
    this.fixed = id !== undefined;
    /** True while the id (unless fixed) and the exposure log live in `storage`. */
    this.stored = stored && storage !== "memory";
    this.id = id ?? (this.stored ? clientId(storageOf(storage)) : crypto.randomUUID());
    /** Exposure keys logged in this page. @type {Set<string>} */
    this.seen = new Set();
  }

  /**
   * True the first time (experiment, arm, client) is seen: in this page, and in storage while stored.
   * @param {string} key
   */
  firstExposure(key) {
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return this.stored ? firstExposure(key, storageOf(this.storage)) : true;
  }

  /** Writes the id (unless the app's) and this page's exposures to `storage`; from now on they live there. */
  persist() {
    if (this.stored || this.storage === "memory") return;
    const storage = storageOf(this.storage);
    if (!this.fixed) {
      try {
        storage?.setItem(CLIENT_ID_KEY, this.id);
      } catch {
        console.warn("wasm-predict: storage refused; the client id lasts this page only");
      }
    }
    this.seen.forEach((key) => firstExposure(key, storage));
    this.stored = true;
  }

  /** Deletes the stored id and exposure log (from both storages); this page keeps its id in memory. */
  forget() {
    forgetClientId();
    this.stored = false;
  }
}
