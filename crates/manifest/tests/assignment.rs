#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The Rust arm assignment against the cases the JS shell is tested with (GrowthBook's).

use serde_json::Value;
use wasm_predict_manifest::assignment::{assign, bucket_ranges, choose_bucket, fnv1a32, hash_to_unit};

fn cases() -> Value {
    serde_json::from_str(include_str!("../../../tests/cases/assignment.json")).unwrap()
}

fn pair(value: &Value) -> (f64, f64) {
    (value[0].as_f64().unwrap(), value[1].as_f64().unwrap())
}

#[test]
fn fnv1a32_matches_the_reference_values() {
    for case in cases()["fnv1a32"].as_array().unwrap() {
        assert_eq!(
            u64::from(fnv1a32(case[0].as_str().unwrap())),
            case[1].as_u64().unwrap(),
            "{case}"
        );
    }
}

#[test]
fn hash_matches_growthbook() {
    for case in cases()["hash"].as_array().unwrap() {
        let version = case[2].as_u64().unwrap() as u32;
        let got = hash_to_unit(case[0].as_str().unwrap(), case[1].as_str().unwrap(), version).unwrap();
        assert!((got - case[3].as_f64().unwrap()).abs() < 1e-9, "{case}: {got}");
    }
    assert_eq!(hash_to_unit("a", "b", 3), None);
}

#[test]
fn bucket_ranges_and_choice_match_growthbook() {
    let all = cases();
    for case in all["bucketRanges"].as_array().unwrap() {
        let args = &case[0];
        let weights: Option<Vec<f64>> = args[2]
            .as_array()
            .map(|w| w.iter().map(|x| x.as_f64().unwrap()).collect());
        let got = bucket_ranges(
            args[0].as_u64().unwrap() as usize,
            args[1].as_f64().unwrap(),
            weights.as_deref(),
        );
        let expected: Vec<(f64, f64)> = case[1].as_array().unwrap().iter().map(pair).collect();
        assert_eq!(got.len(), expected.len(), "{case}");
        for (g, e) in got.iter().zip(&expected) {
            assert!((g.0 - e.0).abs() < 1e-9 && (g.1 - e.1).abs() < 1e-9, "{case}: {got:?}");
        }
    }
    for case in all["chooseBucket"].as_array().unwrap() {
        let ranges: Vec<(f64, f64)> = case[1].as_array().unwrap().iter().map(pair).collect();
        let expected = case[2].as_i64().unwrap();
        let got = choose_bucket(case[0].as_f64().unwrap(), &ranges).map_or(-1, |i| i as i64);
        assert_eq!(got, expected, "{case}");
    }
}

#[test]
fn ten_thousand_ids_split_within_one_percent_of_the_weights() {
    for weights in [[0.5, 0.5], [0.1, 0.9], [0.7, 0.3]] {
        let mut counts = [0_u32; 2];
        for i in 0..10_000 {
            counts[assign("digits-2026-11", &format!("client-{i}"), &weights, 1.0, 2).unwrap()] += 1;
        }
        for (count, weight) in counts.iter().zip(weights) {
            assert!(
                (f64::from(*count) / 10_000.0 - weight).abs() < 0.01,
                "{weights:?}: {counts:?}"
            );
        }
    }
}

#[test]
fn non_ascii_ids_hash_like_javascript_strings() {
    // "é" is one UTF-16 unit, "😀" two: JS's charCodeAt sees the surrogates.
    assert_eq!(fnv1a32("é"), (0x811c_9dc5_u32 ^ 0xe9).wrapping_mul(0x0100_0193));
    let surrogates = [0xd83d_u32, 0xde00];
    let expected = surrogates
        .iter()
        .fold(0x811c_9dc5_u32, |h, u| (h ^ u).wrapping_mul(0x0100_0193));
    assert_eq!(fnv1a32("😀"), expected);
}
