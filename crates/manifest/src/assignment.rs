//! Arm assignment, the same as the browser shell's (`www/shell/assignment.js`) and compatible
//! with GrowthBook's bucketing: `tests/cases/assignment.json` drives the tests of both. For a
//! server that assigns arms itself (a server-rendered page, an email) and must agree with the page.

/// 32-bit FNV-1a over the UTF-16 code units of `text`, as JavaScript strings are hashed.
pub fn fnv1a32(text: &str) -> u32 {
    text.encode_utf16().fold(0x811c_9dc5_u32, |hash, unit| {
        (hash ^ u32::from(unit)).wrapping_mul(0x0100_0193)
    })
}

/// Maps (seed, value) to [0, 1) with hash version 1 or 2 (GrowthBook's), or `None` for another.
pub fn hash_to_unit(seed: &str, value: &str, version: u32) -> Option<f64> {
    match version {
        2 => Some(f64::from(fnv1a32(&fnv1a32(&format!("{seed}{value}")).to_string()) % 10_000) / 10_000.0),
        1 => Some(f64::from(fnv1a32(&format!("{value}{seed}")) % 1_000) / 1_000.0),
        _ => None,
    }
}

/// The half-open bucket range of each of `count` arms. Weights that do not sum to 1 (within
/// 0.01) or whose number is not `count` fall back to equal weights; `coverage`, clamped to
/// [0, 1], shrinks each range from its start.
pub fn bucket_ranges(count: usize, coverage: f64, weights: Option<&[f64]>) -> Vec<(f64, f64)> {
    let share = coverage.clamp(0.0, 1.0);
    let equal = vec![1.0 / count as f64; count];
    let chosen = match weights {
        Some(w) if w.len() == count && (0.99..=1.01).contains(&w.iter().sum::<f64>()) => w.to_vec(),
        _ => equal,
    };
    let mut start = 0.0;
    chosen
        .iter()
        .map(|weight| {
            let range = (start, start + share * weight);
            start += weight;
            range
        })
        .collect()
}

/// The index of the range holding `n`, or `None` when `n` is outside every range.
pub fn choose_bucket(n: f64, ranges: &[(f64, f64)]) -> Option<usize> {
    ranges.iter().position(|&(low, high)| n >= low && n < high)
}

/// The arm index of `client_id` in an experiment (`None` outside the coverage or for an unknown
/// hash version): hash(seed, client id), then the arm whose range holds it.
pub fn assign(seed: &str, client_id: &str, weights: &[f64], coverage: f64, hash_version: u32) -> Option<usize> {
    let bucket = hash_to_unit(seed, client_id, hash_version)?;
    choose_bucket(bucket, &bucket_ranges(weights.len(), coverage, Some(weights)))
}
