// Deterministic, sticky arm assignment, compatible with GrowthBook's bucketing: the same seed,
// client id and weights give the same arm here, in GrowthBook's SDKs and in our Rust core
// (tests/cases/assignment.json drives both test suites).

/** The hash versions this module implements; 2 is the default and the one to use. */
export const HASH_VERSIONS = Object.freeze([1, 2]);

/**
 * 32-bit FNV-1a over the UTF-16 code units of `text` (as GrowthBook hashes JS strings).
 * @param {string} text
 * @returns {number} an unsigned 32-bit integer
 */
export function fnv1a32(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Maps (seed, value) to [0, 1). Version 1: fnv1a32(value + seed) % 1000 / 1000. Version 2 (the
 * default): fnv1a32(String(fnv1a32(seed + value))) % 10000 / 10000, which decorrelates experiments
 * that share a client id.
 * @param {string} seed
 * @param {string} value
 * @param {number} [version]
 * @returns {number}
 */
export function hashToUnit(seed, value, version = 2) {
  if (version === 2) return (fnv1a32(String(fnv1a32(seed + value))) % 10000) / 10000;
  if (version === 1) return (fnv1a32(value + seed) % 1000) / 1000;
  throw new RangeError(`unknown hash version ${version}; this shell implements ${HASH_VERSIONS.join(", ")}`);
}

/**
 * The half-open bucket range of each arm: weights that do not sum to 1 (within 0.01) or do not
 * match `count` fall back to equal weights; `coverage` (clamped to [0, 1]) shrinks every range
 * from its start, leaving the rest of each slice out of the experiment.
 * @param {number} count
 * @param {number} [coverage]
 * @param {readonly number[]} [weights]
 * @returns {Array<[number, number]>}
 */
export function bucketRanges(count, coverage = 1, weights) {
  const share = Math.min(1, Math.max(0, coverage));
  const equal = Array.from({ length: count }, () => 1 / count);
  let chosen = weights && weights.length === count ? weights : equal;
  const total = chosen.reduce((sum, w) => sum + w, 0);
  if (total < 0.99 || total > 1.01) chosen = equal;
  let start = 0;
  return chosen.map((weight) => {
    const range = /** @type {[number, number]} */ ([start, start + share * weight]);
    start += weight;
    return range;
  });
}

/**
 * The index of the range holding `n`, or -1 when `n` falls outside every range.
 * @param {number} n
 * @param {ReadonlyArray<readonly [number, number]>} ranges
 */
export function chooseBucket(n, ranges) {
  return ranges.findIndex(([low, high]) => n >= low && n < high);
}

/**
 * @typedef {object} Assignment
 * @property {number} index the arm's index in `weights`, or -1 when outside the coverage
 * @property {number} bucket the client's point in [0, 1)
 */

/**
 * Assigns `clientId` to an arm: bucket = hash(seed, clientId), then the arm whose range holds it.
 * @param {{seed: string, weights: readonly number[], coverage?: number, hashVersion?: number}} experiment
 * @param {string} clientId
 * @returns {Assignment}
 */
export function assign({ seed, weights, coverage = 1, hashVersion = 2 }, clientId) {
  const bucket = hashToUnit(seed, clientId, hashVersion);
  return { index: chooseBucket(bucket, bucketRanges(weights.length, coverage, weights)), bucket };
}
