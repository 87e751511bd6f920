// The telemetry outbox: every event is written here before it is sent and deleted only once the
// collector has acknowledged it, so a reload, a crash or a lost connection loses nothing.
// IndexedDB where the browser has it; memory otherwise (then a reload does lose the queue).

const DATABASE = "wasm-predict-telemetry";
const STORE = "outbox";

/**
 * @typedef {{id: string} & Record<string, unknown>} QueuedEvent
 * @typedef {object} Outbox
 * @property {(events: QueuedEvent[]) => Promise<void>} put stores events (an id seen before is overwritten)
 * @property {(limit: number) => Promise<QueuedEvent[]>} oldest up to `limit` events, oldest id first
 * @property {(ids: string[]) => Promise<void>} remove deletes the events with these ids
 * @property {() => Promise<number>} count how many events wait
 * @property {() => Promise<void>} [clear] deletes every waiting event
 * @property {() => void} [close] releases the outbox; later calls store nothing and find nothing
 * @property {"indexeddb" | "memory"} kind where the events live
 */

/**
 * Wraps one IndexedDB request in a promise.
 * @template T
 * @param {IDBRequest<T>} request
 * @returns {Promise<T>}
 */
function settled(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/**
 * Runs `work` in one transaction and resolves when the transaction has committed, so a caller
 * that awaits it knows the write is durable.
 * @template T
 * @param {IDBDatabase} db
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => T} work
 * @returns {Promise<T>}
 */
function transact(db, mode, work) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const result = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("outbox transaction aborted"));
  });
}

/** @returns {Promise<IDBDatabase>} */
function openDatabase() {
  const request = indexedDB.open(DATABASE, 1);
  request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "id" });
  return settled(request);
}

/**
 * An outbox in IndexedDB, shared by every tab of the origin.
 * @returns {Promise<Outbox>}
 */
export async function openIndexedDbOutbox() {
  /** @type {Promise<IDBDatabase> | null} */
  let connection = null;
  let closed = false;
  const database = () => {
    if (!connection) {
      connection = openDatabase().then((db) => {
        // A tab deleting the outbox (a withdrawn consent) waits for every open connection to
        // close: let it go, and open the database again if this tab still writes.
        db.onversionchange = () => {
          db.close();
          connection = null;
        };
        return db;
      });
      connection.catch(() => (connection = null));
    }
    return connection;
  };
  await database();
  /**
   * @template T
   * @param {IDBTransactionMode} mode
   * @param {(store: IDBObjectStore) => T} work
   * @returns {Promise<T | null>} null once the outbox is closed
   */
  const run = async (mode, work) => (closed ? null : transact(await database(), mode, work));
  return {
    kind: "indexeddb",
    put: async (events) => {
      await run("readwrite", (store) => events.forEach((event) => store.put(event)));
    },
    oldest: async (limit) => (await run("readonly", (store) => store.getAll(null, limit)))?.result ?? [],
    remove: async (ids) => {
      await run("readwrite", (store) => ids.forEach((id) => store.delete(id)));
    },
    count: async () => (await run("readonly", (store) => store.count()))?.result ?? 0,
    clear: async () => {
      await run("readwrite", (store) => store.clear());
    },
    close: () => {
      closed = true;
      connection?.then((db) => db.close(), () => {});
      connection = null;
    },
  };
}

/**
 * Deletes the IndexedDB outbox's database. Resolves once it is gone, or once the deletion is
 * queued when a connection stays open (a tab running an older shell: the browser deletes it when
 * that tab lets go); never rejects.
 * @returns {Promise<void>}
 */
export function deleteOutboxDatabase() {
  return new Promise((resolve) => {
    if (typeof indexedDB === "undefined") return resolve();
    try {
      const request = indexedDB.deleteDatabase(DATABASE);
      request.onsuccess = request.onerror = request.onblocked = () => resolve();
    } catch {
      resolve();
    }
  });
}

/**
 * Deletes every event waiting in `outbox` and closes it.
 * @param {Outbox} outbox
 */
export async function discardOutbox(outbox) {
  if (outbox.clear) await outbox.clear();
  else await outbox.remove((await outbox.oldest(2 ** 31)).map((event) => event.id));
  outbox.close?.();
}

/**
 * An outbox in this page's memory.
 * @returns {Outbox}
 */
export function memoryOutbox() {
  /** @type {Map<string, QueuedEvent>} */
  const events = new Map();
  return {
    kind: "memory",
    put: async (batch) => batch.forEach((event) => events.set(event.id, event)),
    oldest: async (limit) => [...events.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).slice(0, limit),
    remove: async (ids) => ids.forEach((id) => events.delete(id)),
    count: async () => events.size,
    clear: async () => events.clear(),
  };
}

/**
 * The IndexedDB outbox, or the memory one (with a warning) where IndexedDB is missing or refuses.
 * @returns {Promise<Outbox>}
 */
export async function openOutbox() {
  if (typeof indexedDB !== "undefined") {
    try {
      return await openIndexedDbOutbox();
    } catch (error) {
      console.warn("wasm-predict: IndexedDB unavailable, telemetry queued in memory only:", error);
    }
  }
  return memoryOutbox();
}
