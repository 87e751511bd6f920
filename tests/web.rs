//! The same bundles, fixtures and onnxruntime outputs as the native tests, inside a real browser.
//!
//! Run with `wasm-pack test --headless --chrome`.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use js_sys::{Float32Array, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;
use wasm_predict::fixtures::max_abs_diff;
use wasm_predict::{verify, Prediction, Predictor};

wasm_bindgen_test_configure!(run_in_browser);

macro_rules! bundle {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!("../models/", $name, "/1.0.0/manifest.json")).as_slice(),
            include_bytes!(concat!("../models/", $name, "/1.0.0/model.onnx")).as_slice(),
            include_bytes!(concat!("golden/", $name, "-1.0.0.json")).as_slice(),
            include_bytes!(concat!("../models/", $name, "/1.0.0/model.plan")).as_slice(),
        )
    };
}

/// Name, manifest, model, onnxruntime's outputs and compiled plan (made natively by
/// `wasm-predict plan`) of a committed bundle.
type Bundle = (&'static str, &'static [u8], &'static [u8], &'static [u8], &'static [u8]);

const BUNDLES: [Bundle; 5] = [
    bundle!("digits-mlp"),
    bundle!("digits-mlp-int8"),
    bundle!("digits-mlp-qdq"),
    bundle!("breast-cancer-logreg"),
    bundle!("diabetes-linreg"),
];

#[path = "support/golden.rs"]
mod golden;
use golden::Golden;

#[wasm_bindgen_test]
fn every_bundle_verifies_in_the_browser() {
    for (name, manifest, model, _, plan) in BUNDLES {
        let mut predictor = Predictor::load(manifest, model).unwrap_or_else(|e| panic!("{name}: {e}"));
        let report = verify(&mut predictor).unwrap();
        assert!(report.passed, "{name}: {report:?}");
        let mut compiled = Predictor::load_compiled(manifest, plan).unwrap_or_else(|e| panic!("{name}: {e}"));
        let report = verify(&mut compiled).unwrap();
        assert!(report.passed, "{name}, from its plan: {report:?}");
    }
}

#[wasm_bindgen_test]
fn every_bundle_matches_onnxruntime_in_the_browser() {
    let loaded = BUNDLES.iter().flat_map(|(name, manifest, model, golden, plan)| {
        [
            (*name, Predictor::load(manifest, model).unwrap(), golden),
            (*name, Predictor::load_compiled(manifest, plan).unwrap(), golden),
        ]
    });
    for (name, mut predictor, golden) in loaded {
        let golden: Golden = serde_json::from_slice(golden).unwrap();
        let m = predictor.manifest().clone();
        let mut worst = 0f32;
        let mut same = 0usize;
        for (r, row) in m.performance.holdout.inputs.iter().enumerate() {
            match predictor.predict(row).unwrap() {
                Prediction::Classification {
                    probabilities, label, ..
                } => {
                    worst = worst.max(max_abs_diff(&probabilities, &golden.probabilities[r]));
                    same += usize::from(label == golden.labels[r]);
                }
                Prediction::Regression { value } => {
                    worst = worst.max((value - golden.values[r]).abs());
                    same += 1;
                }
            }
        }
        let rows = m.performance.holdout.inputs.len();
        web_sys::console::log_1(
            &format!("{name}: max |wasm - onnxruntime| = {worst:e}, same label {same}/{rows}").into(),
        );
        assert!(worst <= m.fixtures.tolerance, "{name}: {worst}");
        assert!(same as f64 >= 0.995 * rows as f64, "{name}: {same}/{rows}");
    }
}

#[path = "support/corpus.rs"]
mod corpus;

#[wasm_bindgen_test]
fn the_corpus_matches_onnxruntime_in_the_browser_or_is_refused_clearly() {
    let (mut matched, mut on_tract_names, mut reasons) = (0, vec![], vec![]);
    for (name, case, model) in corpus::CORPUS {
        match corpus::run_case(case, model) {
            corpus::Outcome::Match {
                worst,
                agreement,
                on_tract,
            } => {
                matched += 1;
                assert!(worst.is_finite() && agreement >= 0.995, "{name}");
                if let Some(why) = on_tract {
                    on_tract_names.push(*name);
                    reasons.push(format!("{name}: {why}"));
                }
            }
            corpus::Outcome::Mismatch(why) => panic!("{name}: a wrong answer in the browser: {why}"),
            corpus::Outcome::Refused(why) => {
                assert!(
                    !corpus::SUPPORTED.contains(name),
                    "{name} is supported natively but refused in wasm: {why}"
                );
                assert!(
                    why.starts_with("MODEL_UNSUPPORTED") || why.starts_with("GRAPH_MISMATCH"),
                    "{name}: {why}"
                );
            }
        }
    }
    assert!(matched >= corpus::SUPPORTED.len(), "{matched} matched");
    // Our runtime runs every graph but those with double-precision values.
    assert_eq!(
        on_tract_names,
        ["tree-v3-double-thresholds"],
        "run on tract's plans: {reasons:#?}"
    );
}

/// The plan file a bundle of each case would carry, compiled, written and read back in wasm,
/// gives onnxruntime's answers too.
#[wasm_bindgen_test]
fn the_corpus_matches_onnxruntime_in_the_browser_from_plan_files() {
    let mut without = vec![];
    for (name, case, model) in corpus::CORPUS {
        match corpus::run_case_from_plan(case, model) {
            corpus::Outcome::Match { worst, agreement, .. } => {
                assert!(worst.is_finite() && agreement >= 0.995, "{name}")
            }
            corpus::Outcome::Mismatch(why) => panic!("{name}: a wrong answer from its plan file: {why}"),
            corpus::Outcome::Refused(why) => {
                assert!(why.starts_with("MODEL_UNSUPPORTED"), "{name}: {why}");
                if corpus::SUPPORTED.contains(name) {
                    without.push(*name);
                }
            }
        }
    }
    assert_eq!(without, ["tree-v3-double-thresholds"]);
}

fn code_of(error: JsValue) -> String {
    Reflect::get(&error, &"code".into()).unwrap().as_string().unwrap()
}

#[wasm_bindgen_test]
fn the_js_api_predicts_and_throws_coded_errors() {
    use wasm_predict::wasm::Predictor as JsPredictor;
    let mut predictor = JsPredictor::with_default_model().unwrap();
    assert_eq!(predictor.model(), "digits-mlp-int8@1.0.0");
    assert_eq!(predictor.feature_count(), 64);
    let row = Float32Array::new_with_length(64);
    let prediction = predictor.predict(row.clone().into()).unwrap();
    assert_eq!(prediction.probabilities().unwrap().len(), 10);
    assert!(prediction.confidence().unwrap() > 0.0);
    let batch = predictor
        .predict_batch(Float32Array::new_with_length(128).into(), Some(2))
        .unwrap();
    assert_eq!(batch.rows(), 2);
    assert_eq!(batch.labels().len(), 2);

    assert_eq!(
        code_of(
            predictor
                .predict(Float32Array::new_with_length(3).into())
                .err()
                .unwrap()
        ),
        "INPUT_SHAPE"
    );
    let nan = Float32Array::new_with_length(64);
    nan.set_index(5, f32::NAN);
    assert_eq!(
        code_of(predictor.predict(nan.into()).err().unwrap()),
        "INPUT_NOT_FINITE"
    );
    assert_eq!(
        code_of(predictor.predict(js_sys::Array::new().into()).err().unwrap()),
        "INPUT_DTYPE"
    );
    assert_eq!(
        code_of(predictor.predict_batch(row.into(), Some(0)).err().unwrap()),
        "INPUT_SHAPE"
    );

    let (_, manifest, model, _, _) = BUNDLES[1];
    let manifest = String::from_utf8(manifest.to_vec()).unwrap();
    assert!(JsPredictor::new(manifest.clone().into(), model).is_ok());
    assert_eq!(
        code_of(JsPredictor::new(manifest.clone().into(), &model[..100]).err().unwrap()),
        "HASH_MISMATCH"
    );
    assert_eq!(
        code_of(JsPredictor::new("{".into(), model).err().unwrap()),
        "MANIFEST_INVALID"
    );
    assert_eq!(
        code_of(JsPredictor::new(JsValue::from(5), model).err().unwrap()),
        "MANIFEST_INVALID"
    );
    let report = predictor.verify().unwrap();
    assert_eq!(Reflect::get(&report, &"passed".into()).unwrap(), JsValue::TRUE);

    let support = JsPredictor::check(model).unwrap();
    assert_eq!(Reflect::get(&support, &"supported".into()).unwrap(), JsValue::TRUE);
    assert_eq!(code_of(JsPredictor::check(b"garbage").err().unwrap()), "MODEL_INVALID");
}

/// The SIMD paths of the kernels give what their scalar formulas give: the rounding bit for bit,
/// the integer products exactly (outputs within f32 rounding of the epilogue).
#[wasm_bindgen_test]
fn the_simd_kernels_equal_their_scalar_formulas_in_the_browser() {
    use wasm_predict::kernels::{fake_quantize, round_each, IntRows, PackedWeight, Rounding};
    let mut inputs: Vec<f32> = (-3000..=3000).map(|i| i as f32 * 0.0137).collect();
    inputs.extend([
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        f32::MIN,
        1e30,
        -1e-30,
        0.0,
        -0.0,
        0.5,
        -0.5,
        1.5,
        2.5,
    ]);
    for (scale, low, high) in [
        (0.5, -10.0, 245.0),
        (0.0123, -128.0, 127.0),
        (0.25, -128.0, 127.0),
        (3.0 / 255.0, -85.0, 170.0),
    ] {
        let rounding = Rounding { scale, low, high };
        let reference = |x: f32| {
            let q = (x / scale).round_ties_even();
            let q = if q < low {
                low
            } else if q > high {
                high
            } else {
                q
            };
            q * scale + 0.0
        };
        let mut values = inputs.clone();
        fake_quantize(&mut values, rounding);
        for (x, got) in inputs.iter().zip(&values) {
            assert_eq!(got.to_bits(), reference(*x).to_bits(), "x {x}, scale {scale}: {got}");
        }
        let mut ints = vec![];
        round_each(&inputs, rounding, &mut ints);
        for (x, q) in inputs.iter().zip(&ints) {
            assert_eq!(*q as f32 * scale + 0.0, reference(*x), "x {x}, scale {scale}: {q}");
        }
        let mut nan = [1.0, f32::NAN, 2.0, 3.0, 4.0];
        fake_quantize(&mut nan, rounding);
        assert!(nan[1].is_nan() && nan[0].is_finite());
        assert!(round_each(&[1.0, 2.0, f32::NAN, 0.0, 1.0], rounding, &mut vec![]));
    }
    let rounding = Rounding {
        scale: 0.02,
        low: -45.0,
        high: 210.0,
    };
    for (rows, k, m) in [(5, 9, 17), (7, 130, 33), (1, 64, 10), (256, 64, 64), (4, 1, 1)] {
        let w: Vec<i16> = (0..k * m).map(|i| ((i * 37 + 11) % 255) as i16 - 127).collect();
        let mut x: Vec<f32> = (0..rows * k).map(|i| ((i * 7919) % 301) as f32 * 0.013 - 0.9).collect();
        if rows > 2 {
            x[k + k / 2] = f32::NAN;
        }
        let scale: Vec<f32> = (0..m).map(|c| 0.001 + c as f32 * 1e-5).collect();
        let bias: Vec<f32> = (0..m).map(|c| c as f32 * 0.01 - 0.1).collect();
        for relu in [false, true] {
            let mut out = vec![0f32; rows * m];
            // An input scale of 1: the column scales are the whole scale.
            PackedWeight::new(&w, k, m, &scale, &bias, relu).apply(&IntRows::round(&x, k, rounding), 1.0, &mut out);
            for (r, c) in (0..rows).flat_map(|r| (0..m).map(move |c| (r, c))) {
                let row = &x[r * k..(r + 1) * k];
                let got = out[r * m + c];
                if row.iter().any(|v| v.is_nan()) {
                    assert!(got.is_nan(), "{rows}x{k}x{m} row {r}");
                    continue;
                }
                let acc: i64 = row
                    .iter()
                    .enumerate()
                    .map(|(d, v)| (v / 0.02).clamp(-45.0, 210.0).round_ties_even() as i64 * i64::from(w[d * m + c]))
                    .sum();
                let want = acc as f32 * scale[c] + bias[c];
                let want = if relu { want.max(0.0) } else { want };
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "{rows}x{k}x{m} ({r}, {c}): {got} vs {want}"
                );
            }
        }
    }
}

/// Batches of trees of up to 32 leaves go by leaf masks, 4 rows a SIMD vector in wasm; single
/// rows walk the trees. Both give the same scores, for every comparison, thresholds at the edges
/// (NaN, infinities, zeros) and missing values sent either way.
#[wasm_bindgen_test]
fn leaf_masks_score_batches_as_walks_score_rows_in_the_browser() {
    use wasm_predict::kernels::trees::{Aggregate, Child, Ensemble, Forest, Mode, Output, PostTransform, Split};
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut below = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let values = [
        f32::NAN,
        f32::NEG_INFINITY,
        -1.0,
        -0.0,
        0.0,
        0.25,
        0.5,
        1.0,
        f32::INFINITY,
    ];
    let mut masked = 0;
    for case in 0..24 {
        let mode = [Mode::Leq, Mode::Lt, Mode::Gte, Mode::Gt][case % 4];
        let mut e = Ensemble {
            splits: vec![],
            leaves: vec![],
            roots: vec![],
            targets: 1 + case % 3,
            aggregate: Aggregate::Sum,
            post_transform: PostTransform::None,
            base_values: vec![],
            output: Output::Regressor,
        };
        for _ in 0..20 {
            // A tree of up to 15 leaves, grown by splitting a random leaf.
            let mut open = vec![None::<(usize, bool)>];
            let mut tree_leaves = vec![];
            while open.len() + tree_leaves.len() < 15 && !open.is_empty() {
                let at = open.swap_remove(below(open.len()));
                let split = e.splits.len();
                e.splits.push(Split {
                    feature: below(5),
                    mode,
                    threshold: f64::from(values[below(values.len())]),
                    members: vec![],
                    missing_goes_true: below(2) == 0,
                    if_true: Child::Leaf(0),
                    if_false: Child::Leaf(0),
                });
                match at {
                    None => e.roots.push(Child::Split(split)),
                    Some((parent, true)) => e.splits[parent].if_true = Child::Split(split),
                    Some((parent, false)) => e.splits[parent].if_false = Child::Split(split),
                }
                open.extend([Some((split, true)), Some((split, false))]);
                if below(3) == 0 {
                    tree_leaves.push(open.pop().unwrap());
                }
            }
            for at in open.into_iter().chain(tree_leaves).flatten() {
                let leaf = Child::Leaf(e.leaves.len());
                e.leaves.push(vec![(below(e.targets), below(100) as f32 / 8.0 - 6.0)]);
                match at {
                    (parent, true) => e.splits[parent].if_true = leaf,
                    (parent, false) => e.splits[parent].if_false = leaf,
                }
            }
        }
        let forest = Forest::compile(&e).unwrap();
        let rows = 1 + below(300);
        let x: Vec<f32> = (0..rows * 5).map(|_| values[below(values.len())]).collect();
        let (batch, _) = forest.evaluate(&x, 5, rows).unwrap();
        for (r, row) in x.chunks(5).enumerate() {
            let (one, _) = forest.evaluate(row, 5, 1).unwrap();
            let t = e.targets;
            assert_eq!(
                &batch[r * t..(r + 1) * t],
                &one[..],
                "case {case} ({mode:?}) row {r}: {row:?}"
            );
        }
        masked += usize::from(rows > 1 && forest.batches_by_leaf_masks());
    }
    assert!(masked >= 20, "{masked} batches by leaf masks");
}

/// The float product's SIMD tiles (4 rows × 8 columns, and 1 row × 16 for the rows left over)
/// give the product computed in f64, within f32 rounding; a NaN stays in its row.
#[wasm_bindgen_test]
fn the_float_product_equals_the_product_in_the_browser() {
    use wasm_predict::kernels::dense_f32::PackedF32;
    for (rows, k, m) in [
        (1, 64, 256),
        (5, 9, 17),
        (7, 130, 33),
        (4, 1, 1),
        (256, 64, 10),
        (3, 400, 120),
    ] {
        let w: Vec<f32> = (0..k * m).map(|i| ((i * 37 + 11) % 255) as f32 / 127.0 - 1.0).collect();
        let mut x: Vec<f32> = (0..rows * k).map(|i| ((i * 7919) % 301) as f32 * 0.013 - 0.9).collect();
        if rows > 2 {
            x[k + k / 2] = f32::NAN;
        }
        let bias: Vec<f32> = (0..m).map(|c| c as f32 * 0.01 - 0.1).collect();
        for relu in [false, true] {
            let out = PackedF32::new(&w, k, m, &bias, relu).apply(&x, rows);
            for (r, c) in (0..rows).flat_map(|r| (0..m).map(move |c| (r, c))) {
                let row = &x[r * k..(r + 1) * k];
                let got = out[r * m + c];
                if row.iter().any(|v| v.is_nan()) {
                    assert!(got.is_nan(), "{rows}x{k}x{m} row {r}");
                    continue;
                }
                let sum: f64 = row
                    .iter()
                    .enumerate()
                    .map(|(d, v)| f64::from(*v) * f64::from(w[d * m + c]))
                    .sum();
                let want = (sum + f64::from(bias[c])) as f32;
                let want = if relu { want.max(0.0) } else { want };
                assert!(
                    (got - want).abs() <= 1e-5 * k as f32,
                    "{rows}x{k}x{m} ({r}, {c}): {got} vs {want}"
                );
            }
        }
    }
}

/// The convolution's SIMD tile (4 channels × 8 pixels, over im2col rows or, at stride 1, a padded
/// copy of the image) and the max pooling
/// give their definitions, computed in f64, for strides, dilations, padding and channel and pixel
/// counts that are not multiples of the tile.
#[wasm_bindgen_test]
fn the_convolution_and_the_pooling_equal_their_definitions_in_the_browser() {
    use wasm_predict::kernels::conv_f32::{Geometry, PackedConv, Padding};
    use wasm_predict::kernels::pool_f32::max_pool;
    let value = |i: usize| ((i * 7919 + 13) % 301) as f32 * 0.013 - 1.9;
    for (n, c, h, w, oc, kernel, strides, dilations, padding) in [
        (2, 1, 28, 28, 6, [5, 5], [1, 1], [1, 1], Padding::Explicit([2; 4])),
        (1, 6, 14, 14, 16, [5, 5], [1, 1], [1, 1], Padding::Explicit([0; 4])),
        (3, 3, 9, 11, 5, [3, 2], [2, 3], [1, 2], Padding::Explicit([1, 0, 2, 1])),
        (1, 2, 10, 7, 9, [3, 3], [1, 2], [2, 1], Padding::SameUpper),
        (1, 4, 5, 5, 3, [2, 2], [2, 2], [1, 1], Padding::SameLower),
        (2, 3, 9, 8, 5, [3, 3], [1, 1], [2, 1], Padding::SameLower),
        (1, 2, 7, 9, 6, [2, 3], [1, 1], [1, 2], Padding::Explicit([0, 3, 1, 0])),
        (2, 3, 12, 21, 4, [2, 2], [2, 2], [1, 1], Padding::Explicit([1, 1, 0, 1])),
        (1, 2, 28, 28, 3, [2, 2], [2, 2], [1, 1], Padding::Explicit([0; 4])),
    ] {
        let geometry = Geometry {
            kernel,
            strides,
            dilations,
            padding,
        };
        let [kh, kw] = kernel;
        let weight: Vec<f32> = (0..oc * c * kh * kw).map(|i| value(i + 5)).collect();
        let bias: Vec<f32> = (0..oc).map(value).collect();
        let x: Vec<f32> = (0..n * c * h * w).map(|i| value(i + 17)).collect();
        let (oh, top) = geometry.along(0, h).unwrap();
        let (ow, left) = geometry.along(1, w).unwrap();
        // The value tap (ky, kx) of output (y, xx) reads in image i, channel ch; none in the padding.
        let read = |x: &[f32], i: usize, ch: usize, y: usize, xx: usize, ky: usize, kx: usize| {
            let iy = (y * strides[0] + ky * dilations[0])
                .checked_sub(top)
                .filter(|&v| v < h)?;
            let ix = (xx * strides[1] + kx * dilations[1])
                .checked_sub(left)
                .filter(|&v| v < w)?;
            Some(x[((i * c + ch) * h + iy) * w + ix])
        };
        let at = |i, ch, y, xx, ky, kx| read(&x, i, ch, y, xx, ky, kx);
        for relu in [false, true] {
            let conv = PackedConv::new(&weight, [oc, c, kh, kw], &bias, relu, geometry).unwrap();
            let got = conv.apply(&x, n, h, w).unwrap();
            assert_eq!(got.len(), n * oc * oh * ow);
            let mut k = 0;
            for i in 0..n {
                for o in 0..oc {
                    for y in 0..oh {
                        for xx in 0..ow {
                            let mut sum = f64::from(bias[o]);
                            for ch in 0..c {
                                for ky in 0..kh {
                                    for kx in 0..kw {
                                        if let Some(v) = at(i, ch, y, xx, ky, kx) {
                                            sum += f64::from(v) * f64::from(weight[((o * c + ch) * kh + ky) * kw + kx]);
                                        }
                                    }
                                }
                            }
                            let want = if relu { (sum as f32).max(0.0) } else { sum as f32 };
                            let tolerance = 1e-5 * (c * kh * kw) as f32 * (1.0 + want.abs());
                            assert!(
                                (got[k] - want).abs() <= tolerance,
                                "{geometry:?} [{k}]: {} vs {want}",
                                got[k]
                            );
                            k += 1;
                        }
                    }
                }
            }
        }
        // Pooled twice: as is, and with every seventh value NaN (passed over, as f32::max does).
        let with_nan: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 7 == 3 { f32::NAN } else { v })
            .collect();
        for x in [&x, &with_nan] {
            let pooled = max_pool(x, n * c, h, w, &geometry).unwrap();
            let at = |i, ch, y, xx, ky, kx| read(x, i, ch, y, xx, ky, kx);
            let mut k = 0;
            for i in 0..n {
                for ch in 0..c {
                    for y in 0..oh {
                        for xx in 0..ow {
                            let want = (0..kh)
                                .flat_map(|ky| (0..kw).filter_map(move |kx| at(i, ch, y, xx, ky, kx)))
                                .fold(f32::NEG_INFINITY, f32::max);
                            assert_eq!(pooled[k], want, "{geometry:?} pooled [{k}]");
                            k += 1;
                        }
                    }
                }
            }
        }
    }
}

/// A model that takes records (tests/records/churn, made by `bundle` from a CSV): features by
/// name from JS objects, one at a time and as an array, with the same answers as its fixtures'
/// rows, and coded errors that name the feature.
#[wasm_bindgen_test]
fn the_js_api_takes_records_by_feature_name() {
    use wasm_predict::wasm::Predictor as JsPredictor;
    let manifest = include_str!("records/churn/1.0.0/manifest.json");
    let model = include_bytes!("records/churn/1.0.0/model.onnx");
    let mut predictor = JsPredictor::new(manifest.into(), model).unwrap();
    assert_eq!(predictor.feature_names(), ["age", "income", "city", "plan"]);
    let record = |text: &str| js_sys::JSON::parse(text).unwrap();
    let lille = record(r#"{"age": 76.7, "income": 71399.37, "city": "Lille", "plan": "basic", "id": 7}"#);
    let by_name = predictor.predict(lille.clone()).unwrap();
    // The same row as numbers: Lille and basic are categories 1 and 0 (their index in the manifest).
    let row = Float32Array::from([76.7f32, 71399.37, 1.0, 0.0].as_slice());
    let by_row = predictor.predict(row.into()).unwrap();
    assert_eq!(by_name.probabilities(), by_row.probabilities());
    assert_eq!(by_name.label().as_deref(), Some("yes"));
    let unknown = record(r#"{"age": 30, "income": 20000, "city": "Atlantis", "plan": null}"#);
    let records = js_sys::Array::of2(&lille, &unknown);
    let batch = predictor.predict_batch(records.into(), None).unwrap();
    assert_eq!(batch.rows(), 2);
    assert_eq!(batch.labels()[0], "yes");
    let missing = predictor
        .predict(record(r#"{"age": 30, "income": 20000, "city": "Lyon"}"#))
        .err()
        .unwrap();
    assert_eq!(code_of(missing.clone()), "INPUT_SHAPE");
    let message = Reflect::get(&missing, &"message".into()).unwrap().as_string().unwrap();
    assert!(message.contains("`plan`"), "{message}");
    let wrong = predictor
        .predict(record(
            r#"{"age": "thirty", "income": 20000, "city": "Lyon", "plan": "pro"}"#,
        ))
        .err()
        .unwrap();
    assert_eq!(code_of(wrong), "INPUT_DTYPE");
}
