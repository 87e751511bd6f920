// The bundle loader: fetches a model bundle's manifest.json and its model file with progress (the
// compiled plan, model.plan, when the manifest states one in a format this package reads: the
// default entry runs nothing else; else model.onnx), checks the file's sha256 against the manifest
// before anything uses or stores it, and keeps it in the Cache API under a key naming the bundle's
// name, version and model hash, so a later visit needs no network.

/** The Cache API cache holding bundles; its suffix changes if the key layout ever does. */
export const BUNDLE_CACHE = "wasm-predict-bundles-v1";
const KEY_PATH = "/__wasm-predict__/bundles/";
/** The plan format the package reads: PLAN_FORMAT of src/plan_file.rs (a Rust test holds them equal). */
export const PLAN_FORMAT = 1;
/** The model files a bundle may be loaded from, preferred first. */
const MODEL_FILES = /** @type {const} */ (["model.plan", "model.onnx"]);

/**
 * Why a bundle could not be loaded: `download` (network error or non-2xx answer), `manifest`
 * (not JSON, or not the bundle asked for), `sha256` (the model's bytes do not match).
 */
export class BundleError extends Error {
  /**
   * @param {"download" | "manifest" | "sha256"} code
   * @param {string} message
   * @param {unknown} [cause]
   */
  constructor(code, message, cause) {
    super(message, { cause });
    this.name = "BundleError";
    this.code = code;
  }
}

/**
 * @typedef {object} BundleRef which bundle to load
 * @property {string} name the model's name, as in its manifest
 * @property {string} version the model's version, as in its manifest
 * @property {string} url the bundle's folder URL (ending in "/"), holding manifest.json and model.plan or model.onnx
 * @property {string} [sha256] when set, the model's hash must be exactly this
 * @property {Uint8Array} [manifest] its manifest.json's bytes, when already read (by {@link bundleAt})
 *
 * @typedef {object} Bundle a loaded, hash-checked bundle
 * @property {string} name
 * @property {string} version
 * @property {string} sha256
 * @property {Uint8Array} manifest the manifest's bytes (UTF-8 JSON)
 * @property {Uint8Array} model the model file's bytes
 * @property {ModelFile} file which file `model` holds: the compiled plan or the ONNX model
 * @property {"cache" | "network" | "memory"} source where the bytes came from in this call
 * @property {boolean} cached whether the bundle is now in the Cache API
 *
 * @typedef {object} LoadProgress
 * @property {string} name
 * @property {string} version
 * @property {"manifest" | "model"} file
 * @property {number} loaded bytes received so far
 * @property {number | null} total bytes expected, when the server said
 *
 * @typedef {object} LoadOptions
 * @property {(progress: LoadProgress) => void} [onProgress] called as bytes arrive
 * @property {(message: string) => void} [onWarning] called when caching fails (default console.warn)
 * @property {AbortSignal} [signal] aborts the download (the promise rejects with the signal's reason)
 *
 * @typedef {"model.plan" | "model.onnx"} ModelFile
 *
 * @typedef {object} CachedModel
 * @property {string} name
 * @property {string} version
 * @property {string} sha256
 * @property {number} bytes the model file's size
 * @property {ModelFile} file which file of the bundle is cached
 * @property {string | null} cachedAt when it was stored (ISO 8601)
 */

/** Bundles this page holds in memory: all it has when the Cache API is missing or full. */
const inMemory = new Map();
let persistenceAsked = false;

/**
 * Hex sha256 of `bytes`, or null where SubtleCrypto is missing (outside a secure context).
 * @param {Uint8Array} bytes
 */
export async function sha256Hex(bytes) {
  if (!globalThis.crypto?.subtle) return null;
  const digest = await crypto.subtle.digest("SHA-256", /** @type {BufferSource} */ (bytes));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * @param {string} name
 * @param {string} version
 * @param {string} sha256
 * @param {"manifest.json" | ModelFile} file
 */
function cacheKey(name, version, sha256, file) {
  const path = [name, version, sha256].map(encodeURIComponent).join("/");
  return new URL(`${KEY_PATH}${path}/${file}`, globalThis.location?.origin ?? "http://localhost").href;
}

/** @returns {Promise<Cache | null>} */
/** @type {Promise<Cache | null> | undefined} */
let opened;

/** The shell's bundle cache, opened once per page; null where the Cache API is refused. */
function openCache() {
  opened ??= (async () => {
    try {
      return typeof caches === "undefined" ? null : await caches.open(BUNDLE_CACHE);
    } catch {
      return null; // opaque origins and some private modes refuse the Cache API
    }
  })();
  return opened;
}

/**
 * @param {string} url
 * @param {(loaded: number, total: number | null) => void} onChunk
 * @param {AbortSignal} [signal]
 */
async function download(url, onChunk, signal) {
  let response;
  try {
    response = await fetch(url, { cache: "no-cache", signal });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw new BundleError("download", `cannot fetch ${url}: ${error}`, error);
  }
  if (!response.ok) throw new BundleError("download", `${url} answered ${response.status} ${response.statusText}`);
  const header = Number(response.headers.get("content-length"));
  const total = Number.isFinite(header) && header > 0 ? header : null;
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  /** @type {Uint8Array[]} */
  const chunks = [];
  let loaded = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.length;
      onChunk(loaded, total);
    }
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw new BundleError("download", `download of ${url} broke off after ${loaded} bytes: ${error}`, error);
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/**
 * A manifest's JSON, or a {@link BundleError} (`manifest`) naming `where` it came from.
 * @param {Uint8Array} bytes
 * @param {string} where
 * @returns {any}
 */
function parseManifest(bytes, where) {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new BundleError("manifest", `${where}: manifest.json is not JSON: ${error}`, error);
  }
}

/**
 * The file of a bundle to load, and the sha256 it must have: the plan when the manifest states one
 * this package reads, else the ONNX model.
 * @param {any} manifest
 * @returns {{file: ModelFile, sha256: string}}
 */
export function modelFileOf(manifest) {
  const plan = manifest?.plan;
  if (plan && plan.format === PLAN_FORMAT && typeof plan.sha256 === "string") return { file: "model.plan", sha256: plan.sha256 };
  return { file: "model.onnx", sha256: String(manifest?.sha256 ?? "") };
}

/**
 * The cached copy of `ref`, hash-checked, or null. A copy whose bytes no longer match its hash is
 * deleted.
 * @param {Cache} cache
 * @param {BundleRef} ref
 * @returns {Promise<Bundle | null>}
 */
async function fromCache(cache, ref) {
  const prefix = cacheKey(ref.name, ref.version, "", "manifest.json").replace(/\/manifest\.json$/, "");
  const keys = (await cache.keys()).filter((k) => k.url.startsWith(prefix) && k.url.endsWith("/manifest.json"));
  for (const key of keys) {
    const sha256 = decodeURIComponent(key.url.slice(prefix.length).split("/")[0]);
    if (ref.sha256 && sha256 !== ref.sha256) continue;
    const manifest = await cache.match(key).then((r) => r?.arrayBuffer());
    if (!manifest) continue;
    // A manifest that is not JSON throws: the caller then loads the bundle from the network.
    const wanted = modelFileOf(parseManifest(new Uint8Array(manifest), `${ref.name}@${ref.version}`));
    const modelKey = cacheKey(ref.name, ref.version, sha256, wanted.file);
    const model = await cache.match(modelKey).then((r) => r?.arrayBuffer());
    if (!model) continue;
    const bytes = new Uint8Array(model);
    const actual = await sha256Hex(bytes);
    if (actual !== null && actual !== wanted.sha256) {
      await cache.delete(modelKey);
      continue;
    }
    return { name: ref.name, version: ref.version, sha256, manifest: new Uint8Array(manifest), model: bytes, file: wanted.file, source: "cache", cached: true };
  }
  return null;
}

/**
 * Loads a bundle: from this page's memory, else from the Cache API (no network), else from the
 * network, checking the model's sha256 against its manifest (and `ref.sha256` when set) and then
 * caching it. Throws a {@link BundleError}; nothing that failed a check is ever cached.
 * @param {BundleRef} ref
 * @param {LoadOptions} [options]
 * @returns {Promise<Bundle>}
 */
export async function loadBundle(ref, { onProgress, onWarning = (m) => console.warn(m), signal } = {}) {
  signal?.throwIfAborted();
  const id = `${ref.name}@${ref.version}`;
  const held = inMemory.get(id);
  if (held && (!ref.sha256 || held.sha256 === ref.sha256)) return { ...held, source: "memory" };
  const cache = await openCache();
  const cached = cache && (await fromCache(cache, ref).catch(() => null));
  if (cached) {
    inMemory.set(id, cached);
    return cached;
  }

  const progress = (/** @type {"manifest" | "model"} */ file) => (/** @type {number} */ loaded, /** @type {number | null} */ total) =>
    onProgress?.({ name: ref.name, version: ref.version, file, loaded, total });
  const manifestBytes = ref.manifest ?? (await download(new URL("manifest.json", ref.url).href, progress("manifest"), signal));
  const manifest = parseManifest(manifestBytes, id);
  if (manifest?.name !== ref.name || manifest?.version !== ref.version) {
    throw new BundleError("manifest", `${id}: the manifest at ${ref.url} is ${manifest?.name}@${manifest?.version}`);
  }
  const expected = String(manifest.sha256 ?? "");
  if (ref.sha256 && expected !== ref.sha256) {
    throw new BundleError("sha256", `${id}: the manifest names sha256 ${expected}, but ${ref.sha256} is required`);
  }
  const wanted = modelFileOf(manifest);
  const model = await download(new URL(wanted.file, ref.url).href, progress("model"), signal);
  const actual = await sha256Hex(model);
  if (actual !== null && actual !== wanted.sha256) {
    throw new BundleError("sha256", `${id}: ${wanted.file} has sha256 ${actual}, its manifest says ${wanted.sha256}`);
  }
  /** @type {Bundle} */
  const bundle = { name: ref.name, version: ref.version, sha256: expected, manifest: manifestBytes, model, file: wanted.file, source: "network", cached: false };
  if (actual === null) {
    onWarning(`${id}: no SubtleCrypto here (not a secure context); not caching a bundle whose hash was not checked`);
  } else if (cache) {
    bundle.cached = await store(cache, bundle, onWarning);
  }
  inMemory.set(id, bundle);
  return bundle;
}

/**
 * @param {Cache} cache
 * @param {Bundle} bundle
 * @param {(message: string) => void} onWarning
 */
async function store(cache, bundle, onWarning) {
  const cachedAt = new Date().toISOString();
  const entry = (/** @type {Uint8Array} */ bytes, /** @type {string} */ type) =>
    new Response(/** @type {BodyInit} */ (bytes), { headers: { "content-type": type, "x-cached-at": cachedAt } });
  try {
    await cache.put(cacheKey(bundle.name, bundle.version, bundle.sha256, "manifest.json"), entry(bundle.manifest, "application/json"));
    await cache.put(cacheKey(bundle.name, bundle.version, bundle.sha256, bundle.file), entry(bundle.model, "application/octet-stream"));
  } catch (error) {
    await cache.delete(cacheKey(bundle.name, bundle.version, bundle.sha256, "manifest.json")).catch(() => false);
    const quota = error instanceof DOMException && error.name === "QuotaExceededError";
    onWarning(`${bundle.name}@${bundle.version}: ${quota ? "storage quota exceeded" : `caching failed (${error})`}; the model stays in memory for this visit`);
    return false;
  }
  if (!persistenceAsked && typeof navigator !== "undefined" && navigator.storage?.persist) {
    persistenceAsked = true;
    navigator.storage.persist().catch(() => false);
  }
  return true;
}

/**
 * The bundles in the Cache API.
 * @returns {Promise<CachedModel[]>}
 */
export async function listCachedModels() {
  const cache = await openCache();
  if (!cache) return [];
  const prefix = new URL(KEY_PATH, globalThis.location?.origin ?? "http://localhost").href;
  /** @type {CachedModel[]} */
  const models = [];
  for (const key of await cache.keys()) {
    const file = MODEL_FILES.find((f) => key.url.endsWith(`/${f}`));
    if (!key.url.startsWith(prefix) || !file) continue;
    const [name, version, sha256] = key.url.slice(prefix.length).split("/").map(decodeURIComponent);
    const response = await cache.match(key);
    const bytes = response ? (await response.arrayBuffer()).byteLength : 0;
    models.push({ name, version, sha256, bytes, file, cachedAt: response?.headers.get("x-cached-at") ?? null });
  }
  return models.sort((a, b) => `${a.name}@${a.version}`.localeCompare(`${b.name}@${b.version}`));
}

/**
 * Deletes cached bundles (all of them, or those of one model name) and forgets them in memory.
 * @param {{name?: string}} [filter]
 * @returns {Promise<number>} how many bundles were deleted
 */
export async function clearCachedModels({ name } = {}) {
  for (const id of [...inMemory.keys()]) if (!name || id.startsWith(`${name}@`)) inMemory.delete(id);
  const cache = await openCache();
  if (!cache) return 0;
  const doomed = (await listCachedModels()).filter((m) => !name || m.name === name);
  for (const m of doomed) {
    await cache.delete(cacheKey(m.name, m.version, m.sha256, m.file));
    await cache.delete(cacheKey(m.name, m.version, m.sha256, "manifest.json"));
  }
  return new Set(doomed.map((m) => `${m.name}@${m.version}@${m.sha256}`)).size;
}

/**
 * Which bundle a folder URL names, read from its manifest.json. Once a URL has been read, the
 * answer remembered then is used at once and the manifest is read again in the background, for
 * the next load (a bundle's folder is versioned, so its answer does not change; a folder that
 * moves to a new version serves it from the load after): a returning page, online or not, waits
 * for no request. `fresh` waits for the network's answer (the remembered one only when that fails).
 * Throws a {@link BundleError} (`download` or `manifest`).
 * @param {string} url the bundle's folder URL (ending in "/")
 * @param {{sha256?: string, signal?: AbortSignal, fresh?: boolean}} [options]
 * @returns {Promise<BundleRef>}
 */
export async function bundleAt(url, { sha256, signal, fresh = false } = {}) {
  const cache = await openCache();
  const memo = new URL(`${KEY_PATH}by-url/${encodeURIComponent(url)}`, globalThis.location?.origin ?? "http://localhost").href;
  const remembered = async () => {
    const seen = seenInPage.get(url);
    if (seen) return { ...seen, url, sha256 };
    const response = cache && (await cache.match(memo).catch(() => undefined));
    if (!response) return null;
    const { name, version } = await response.json();
    seenInPage.set(url, { name, version });
    return { name, version, url, sha256 };
  };
  if (!fresh) {
    const known = await remembered().catch(() => null);
    if (known) {
      readManifestAt(url, cache, memo).catch(() => undefined);
      return known;
    }
  }
  try {
    return await readManifestAt(url, cache, memo, sha256, signal);
  } catch (error) {
    const known = error instanceof BundleError && error.code === "download" ? await remembered().catch(() => null) : null;
    if (!known) throw error;
    return known;
  }
}

/**
 * Reads the manifest at a folder URL and remembers which bundle it names.
 * @param {string} url
 * @param {Cache | null} cache
 * @param {string} memo
 * @param {string} [sha256]
 * @param {AbortSignal} [signal]
 * @returns {Promise<BundleRef>}
 */
async function readManifestAt(url, cache, memo, sha256, signal) {
  const bytes = await download(new URL("manifest.json", url).href, () => {}, signal);
  const manifest = parseManifest(bytes, url);
  if (typeof manifest?.name !== "string" || typeof manifest?.version !== "string") {
    throw new BundleError("manifest", `${url}manifest.json names no model: it needs "name" and "version"`);
  }
  // The bytes travel with the ref, so that loadBundle does not fetch them again.
  const ref = { name: manifest.name, version: manifest.version, url, sha256, manifest: bytes };
  seenInPage.set(url, { name: ref.name, version: ref.version });
  await cache?.put(memo, Response.json({ name: ref.name, version: ref.version })).catch(() => undefined);
  return ref;
}

/**
 * The bundle each folder URL named when this page last read its manifest, so that a page loading
 * a URL again does not ask the Cache API.
 * @type {Map<string, {name: string, version: string}>}
 */
const seenInPage = new Map();
