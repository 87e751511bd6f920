//! Every bad model, manifest and input gets a typed error with a clear message, never a panic.

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};
use wasm_predict::hash::sha256_hex;
use wasm_predict::{Manifest, PredictError, Predictor};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn bundle(name: &str) -> (Value, Vec<u8>) {
    let dir = format!("{ROOT}/models/{name}/1.0.0");
    let manifest = serde_json::from_slice(&std::fs::read(format!("{dir}/manifest.json")).unwrap()).unwrap();
    (manifest, std::fs::read(format!("{dir}/model.onnx")).unwrap())
}

/// Loads `model` with `manifest`, after setting the manifest's sha256 to the model's, so the
/// check under test is reached.
fn load_rehashed(mut manifest: Value, model: &[u8]) -> Result<Predictor, PredictError> {
    manifest["sha256"] = json!(sha256_hex(model));
    Predictor::load(&serde_json::to_vec(&manifest).unwrap(), model)
}

fn expect_error(result: Result<Predictor, PredictError>, code: &str, words: &str) -> PredictError {
    let error = result.expect_err("loading should fail");
    assert_eq!(error.code(), code, "{error}");
    assert!(error.to_string().contains(words), "{error:?} should mention {words:?}");
    error
}

#[test]
fn empty_truncated_and_garbage_model_bytes_are_refused() {
    let (manifest, model) = bundle("digits-mlp-int8");
    expect_error(load_rehashed(manifest.clone(), &[]), "MODEL_INVALID", "empty");
    for cut in [1, 10, model.len() / 3, model.len() / 2, model.len() - 1] {
        let error = load_rehashed(manifest.clone(), &model[..cut]).expect_err("truncated model");
        assert!(
            ["MODEL_INVALID", "MODEL_UNSUPPORTED", "GRAPH_MISMATCH"].contains(&error.code()),
            "{error}"
        );
    }
    let mut state = 0x2545_f491_u32;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    expect_error(
        load_rehashed(manifest.clone(), &garbage),
        "MODEL_INVALID",
        "not a readable ONNX",
    );
    expect_error(load_rehashed(manifest, br#"{"not": "onnx"}"#), "MODEL_INVALID", "ONNX");
}

#[test]
fn mutated_models_give_errors_or_predictions_and_never_panic() {
    let (manifest, model) = bundle("digits-mlp-int8");
    let manifest: Manifest = serde_json::from_value(manifest).unwrap();
    let mut outcomes = [0usize; 2];
    for i in 0..200 {
        let mut bytes = model.clone();
        let at = (i * 7919) % bytes.len();
        bytes[at] ^= 1 << (i % 8);
        if i % 5 == 0 {
            bytes.truncate(bytes.len() - (i * 31) % bytes.len().min(512));
        }
        match Predictor::from_model(manifest.clone(), &bytes) {
            Ok(mut p) => {
                outcomes[0] += 1;
                let _ = p.predict(&[1.0; 64]);
            }
            Err(_) => outcomes[1] += 1,
        }
    }
    assert_eq!(outcomes.iter().sum::<usize>(), 200);
    assert!(outcomes[1] > 0, "some mutations must be refused: {outcomes:?}");
}

#[test]
fn a_wrong_sha256_is_refused_with_both_hashes() {
    let (mut manifest, model) = bundle("digits-mlp-int8");
    manifest["sha256"] = json!("0".repeat(64));
    let error = Predictor::load(&serde_json::to_vec(&manifest).unwrap(), &model).unwrap_err();
    assert_eq!(error.code(), "HASH_MISMATCH");
    assert!(error.to_string().contains(&"0".repeat(64)) && error.to_string().contains(&sha256_hex(&model)));
}

type ManifestChange = dyn Fn(&mut Value);

#[test]
fn invalid_manifests_name_the_field() {
    let (base, model) = bundle("breast-cancer-logreg");
    expect_error(Predictor::load(b"", &model), "MANIFEST_INVALID", "EOF");
    expect_error(Predictor::load(b"{\"name\": ", &model), "MANIFEST_INVALID", "EOF");
    expect_error(Predictor::load(b"[1, 2]", &model), "MANIFEST_INVALID", "invalid type");
    let cases: Vec<(&str, Box<ManifestChange>, &str)> = vec![
        (
            "missing sha256",
            Box::new(|m| drop(m.as_object_mut().unwrap().remove("sha256"))),
            "sha256",
        ),
        ("unknown field", Box::new(|m| m["colour"] = json!("blue")), "colour"),
        ("format 2", Box::new(|m| m["format"] = json!(2)), "format"),
        ("bad name", Box::new(|m| m["name"] = json!("Breast Cancer")), "name"),
        (
            "bad version",
            Box::new(|m| m["version"] = json!("1.0")),
            "semantic version",
        ),
        ("bad sha", Box::new(|m| m["sha256"] = json!("abc")), "64 lowercase hex"),
        (
            "bad task",
            Box::new(|m| m["task"] = json!("ranking")),
            "unknown variant",
        ),
        (
            "bad dtype",
            Box::new(|m| m["inputs"][0]["dtype"] = json!("float64")),
            "unknown variant",
        ),
        (
            "integers that are not",
            Box::new(|m| m["inputs"][0]["dtype"] = json!("int64")),
            "not an integer",
        ),
        (
            "a string input without categories",
            Box::new(|m| m["inputs"][0]["dtype"] = json!("string")),
            "without categories",
        ),
        (
            "the same features in two inputs",
            Box::new(|m| m["inputs"] = json!([m["inputs"][0], m["inputs"][0]])),
            "appears twice",
        ),
        (
            "shape vs features",
            Box::new(|m| m["inputs"][0]["shape"] = json!(["N", 31])),
            "inputs[0].shape",
        ),
        (
            "string in input",
            Box::new(|m| m["fixtures"]["cases"][0]["input"][0] = json!("x")),
            "invalid type",
        ),
        (
            "one class",
            Box::new(|m| m["outputs"]["classes"] = json!(["0"])),
            "at least 2",
        ),
        (
            "duplicate classes",
            Box::new(|m| m["outputs"]["classes"] = json!(["0", "0"])),
            "duplicate",
        ),
        (
            "regression outputs",
            Box::new(|m| m["outputs"] = json!({"score": "variable"})),
            "outputs.probabilities",
        ),
        (
            "metric for task",
            Box::new(|m| m["performance"]["metric"] = json!("r2")),
            "does not apply",
        ),
        (
            "minimum above 1",
            Box::new(|m| m["performance"]["minimum"] = json!(1.5)),
            "out of range",
        ),
        (
            "target count",
            Box::new(|m| drop(m["performance"]["holdout"]["targets"].as_array_mut().unwrap().pop())),
            "as many targets",
        ),
        (
            "unknown target",
            Box::new(|m| m["performance"]["holdout"]["targets"][0] = json!("7")),
            "targets[0]",
        ),
        (
            "short holdout row",
            Box::new(|m| drop(m["performance"]["holdout"]["inputs"][3].as_array_mut().unwrap().pop())),
            "holdout.inputs[3] has 29 values",
        ),
        (
            "zero tolerance",
            Box::new(|m| m["fixtures"]["tolerance"] = json!(0)),
            "tolerance",
        ),
        (
            "no fixtures",
            Box::new(|m| m["fixtures"]["cases"] = json!([])),
            "at least one",
        ),
        (
            "fixture label",
            Box::new(|m| m["fixtures"]["cases"][0]["expected"]["label"] = json!("9")),
            "fixtures.cases[0].expected",
        ),
        (
            "fixture width",
            Box::new(|m| m["fixtures"]["cases"][1]["expected"]["probabilities"] = json!([1.0])),
            "fixtures.cases[1].expected",
        ),
        (
            "histogram counts",
            Box::new(|m| m["reference"]["features"][2]["counts"] = json!([1, 2])),
            "reference.features[2]",
        ),
        (
            "histogram order",
            Box::new(|m| {
                m["reference"]["features"][0] = json!({"name": "mean_radius", "edges": [3.0, 1.0], "counts": [1, 2, 3]})
            }),
            "strictly increasing",
        ),
        (
            "feature name",
            Box::new(|m| m["reference"]["features"][0]["name"] = json!("other")),
            "reference.features[0]",
        ),
        (
            "reference count",
            Box::new(|m| drop(m["reference"]["features"].as_array_mut().unwrap().pop())),
            "29 histograms",
        ),
        (
            "provenance",
            Box::new(|m| drop(m["provenance"].as_object_mut().unwrap().remove("created"))),
            "created",
        ),
    ];
    for (what, change, words) in cases {
        let mut manifest = base.clone();
        change(&mut manifest);
        let error = Predictor::load(&serde_json::to_vec(&manifest).unwrap(), &model).expect_err(what);
        assert_eq!(error.code(), "MANIFEST_INVALID", "{what}: {error}");
        assert!(
            error.to_string().contains(words),
            "{what}: {error} should mention {words:?}"
        );
    }
}

#[test]
fn a_manifest_that_disagrees_with_the_graph_is_refused() {
    let (cancer, _) = bundle("breast-cancer-logreg");
    let (_, digits_model) = bundle("digits-mlp");
    expect_error(
        load_rehashed(cancer.clone(), &digits_model),
        "GRAPH_MISMATCH",
        "[N, 30]",
    );

    let (mut renamed, model) = bundle("breast-cancer-logreg");
    renamed["inputs"][0]["name"] = json!("features");
    expect_error(load_rehashed(renamed, &model), "GRAPH_MISMATCH", "\"X\"");

    let (mut output, model) = bundle("breast-cancer-logreg");
    output["outputs"]["probabilities"] = json!("probs");
    expect_error(load_rehashed(output, &model), "GRAPH_MISMATCH", "probs");

    let (mut three, model) = bundle("breast-cancer-logreg");
    three["outputs"]["classes"] = json!(["0", "1", "2"]);
    for case in three["fixtures"]["cases"].as_array_mut().unwrap() {
        case["expected"]["probabilities"]
            .as_array_mut()
            .unwrap()
            .push(json!(0.0));
    }
    expect_error(load_rehashed(three, &model), "GRAPH_MISMATCH", "2 values per row");
}

#[test]
fn a_tampered_fixture_fails_the_load() {
    let (mut manifest, model) = bundle("digits-mlp-int8");
    manifest["fixtures"]["cases"][2]["expected"]["probabilities"][0] = json!(0.5);
    expect_error(load_rehashed(manifest, &model), "FIXTURE_FAILED", "fixture 2");
}

#[test]
fn bad_rows_are_refused_with_the_feature_named() {
    let mut predictor = wasm_predict::default_bundle::load().unwrap();
    let ok = vec![0.0f32; 64];
    assert!(predictor.predict(&ok).is_ok());
    let error = predictor.predict(&ok[..63]).unwrap_err();
    assert_eq!(error.code(), "INPUT_SHAPE");
    assert!(error.to_string().contains("expected 64 values"), "{error}");
    assert_eq!(predictor.predict(&[]).unwrap_err().code(), "INPUT_SHAPE");
    let mut nan = ok.clone();
    nan[10] = f32::NAN;
    let error = predictor.predict(&nan).unwrap_err();
    assert_eq!(error.code(), "INPUT_NOT_FINITE");
    assert!(
        error.to_string().contains("pixel_1_2") && error.to_string().contains("NaN"),
        "{error}"
    );
    let mut inf = ok.clone();
    inf[63] = f32::NEG_INFINITY;
    assert!(predictor.predict(&inf).unwrap_err().to_string().contains("-inf"));

    assert_eq!(predictor.predict_batch(&[], 0).unwrap_err().code(), "INPUT_SHAPE");
    assert_eq!(predictor.predict_batch(&ok, 2).unwrap_err().code(), "INPUT_SHAPE");
    assert_eq!(
        predictor.predict_batch(&ok, usize::MAX).unwrap_err().code(),
        "INPUT_SHAPE"
    );
    let mut rows = vec![0.0f32; 64 * 3];
    rows[64 * 2 + 5] = f32::NAN;
    let error = predictor.predict_batch(&rows, 3).unwrap_err();
    assert!(
        error.to_string().contains("value 133") && error.to_string().contains("pixel_0_5"),
        "{error}"
    );
    // The predictor is still usable after every refusal.
    assert!(predictor.predict(&ok).is_ok() && predictor.predict_batch(&[ok.clone(), ok].concat(), 2).is_ok());
}

#[test]
fn every_committed_manifest_meets_the_json_schema_and_bad_ones_do_not() {
    let schema: Value =
        serde_json::from_slice(&std::fs::read(format!("{ROOT}/models/manifest.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for name in [
        "digits-mlp",
        "digits-mlp-int8",
        "breast-cancer-logreg",
        "diabetes-linreg",
    ] {
        let (manifest, _) = bundle(name);
        let errors: Vec<String> = validator.iter_errors(&manifest).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
    let (mut bad, _) = bundle("breast-cancer-logreg");
    bad["sha256"] = json!("XYZ");
    assert!(!validator.is_valid(&bad));
    let (mut bad, _) = bundle("breast-cancer-logreg");
    bad["outputs"] = json!({"score": "variable"});
    assert!(!validator.is_valid(&bad));
}

#[test]
fn graphs_with_cycles_are_lowered_without_looping_forever() {
    use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto};
    let node = |op: &str, inputs: &[&str], output: &str| NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    };
    let float = |name: &str, value: f32| TensorProto {
        name: name.into(),
        data_type: 1,
        float_data: vec![value],
        ..Default::default()
    };
    // Two Identities reading each other, and a QuantizeLinear and a Reshape reading each other.
    let graph = GraphProto {
        node: vec![
            node("Identity", &["a"], "b"),
            node("Identity", &["b"], "a"),
            node("QuantizeLinear", &["y", "scale"], "q"),
            node("Reshape", &["q", "shape"], "y"),
            node("Add", &["a", "y"], "out"),
        ],
        initializer: vec![
            float("scale", 0.5),
            TensorProto {
                name: "shape".into(),
                data_type: 7,
                dims: vec![1],
                int64_data: vec![-1],
                ..Default::default()
            },
        ],
        output: vec![tract_onnx::pb::ValueInfoProto {
            name: "out".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut model = ModelProto {
        graph: Some(graph),
        ..Default::default()
    };
    wasm_predict::lowering::lower(&mut model).unwrap();
    let nodes = &model.graph.as_ref().unwrap().node;
    assert!(nodes.iter().any(|n| n.output == ["out"]), "{nodes:?}");
}

/// Loads `plan` with `manifest`, its `plan` entry set to the plan's hash.
fn load_plan_rehashed(mut manifest: Value, plan: &[u8]) -> Result<Predictor, PredictError> {
    manifest["plan"] = json!({ "format": wasm_predict::plan_file::PLAN_FORMAT, "sha256": sha256_hex(plan) });
    Predictor::load_compiled(&serde_json::to_vec(&manifest).unwrap(), plan)
}

#[test]
fn damaged_plan_files_are_refused_and_never_panic() {
    use wasm_predict::plan_file::{encode, MAGIC};
    for name in ["digits-mlp-int8", "credit-risk"] {
        let dir = format!("{ROOT}/models/{name}");
        let version = std::fs::read_dir(&dir).unwrap().flatten().next().unwrap().file_name();
        let read = |file: &str| std::fs::read(format!("{dir}/{}/{file}", version.to_string_lossy())).unwrap();
        let manifest: Value = serde_json::from_slice(&read("manifest.json")).unwrap();
        let parsed = Manifest::from_json(&read("manifest.json")).unwrap();
        let plan = encode(&wasm_predict::predictor::compile_model(&parsed, &read("model.onnx")).unwrap()).unwrap();
        load_plan_rehashed(manifest.clone(), &plan).expect("the plan loads and passes its fixtures");

        let mut without = manifest.clone();
        without.as_object_mut().unwrap().remove("plan");
        let error = Predictor::load_compiled(&serde_json::to_vec(&without).unwrap(), &plan).unwrap_err();
        assert!(error.to_string().contains("wasm-predict plan"), "{error}");
        let mut wrong = manifest.clone();
        wrong["plan"] = json!({ "format": 1, "sha256": "0".repeat(64) });
        let error = Predictor::load_compiled(&serde_json::to_vec(&wrong).unwrap(), &plan).unwrap_err();
        assert_eq!(error.code(), "HASH_MISMATCH");

        expect_error(load_plan_rehashed(manifest.clone(), &[]), "MODEL_INVALID", "model.plan");
        expect_error(
            load_plan_rehashed(manifest.clone(), b"{\"not\": \"a plan\"}"),
            "MODEL_INVALID",
            "not a compiled plan",
        );
        let mut other_format = plan.clone();
        other_format[MAGIC.len()] = 9;
        expect_error(
            load_plan_rehashed(manifest.clone(), &other_format),
            "MODEL_INVALID",
            "format 9",
        );
        for cut in [
            MAGIC.len() + 2,
            MAGIC.len() + 4,
            plan.len() / 3,
            plan.len() / 2,
            plan.len() - 1,
        ] {
            let error = load_plan_rehashed(manifest.clone(), &plan[..cut]).expect_err("a truncated plan");
            assert_eq!(error.code(), "MODEL_INVALID", "{error}");
        }
        let mut longer = plan.clone();
        longer.push(0);
        expect_error(load_plan_rehashed(manifest.clone(), &longer), "MODEL_INVALID", "follow");

        // Flipped bits anywhere: an error, or a predictor that predicts or refuses, never a panic.
        let features = parsed.feature_count();
        let mut outcomes = [0usize; 2];
        for i in 0..300 {
            let mut bytes = plan.clone();
            let at = MAGIC.len() + 4 + (i * 7919) % (bytes.len() - MAGIC.len() - 4);
            bytes[at] ^= 1 << (i % 8);
            match load_plan_rehashed(manifest.clone(), &bytes) {
                Ok(mut p) => {
                    outcomes[0] += 1;
                    let _ = p.predict(&vec![0.5; features]);
                    let _ = p.predict_batch(&vec![0.5; 3 * features], 3);
                }
                Err(_) => outcomes[1] += 1,
            }
        }
        assert!(outcomes[1] > 0, "{name}: some damage must be refused: {outcomes:?}");
    }
}

#[test]
fn a_decision_threshold_moves_the_label_and_a_wrong_one_is_named() {
    let dir = format!("{ROOT}/models/credit-risk/1.0.0");
    let read = |file: &str| std::fs::read(format!("{dir}/{file}")).unwrap();
    let manifest: Value = serde_json::from_slice(&read("manifest.json")).unwrap();
    let with = |decision: Value| {
        let mut m = manifest.clone();
        // The fixtures' labels as the threshold gives them (they hold the most probable class).
        let threshold = decision["threshold"].as_f64().unwrap_or(0.5);
        for case in m["fixtures"]["cases"].as_array_mut().unwrap() {
            let p = case["expected"]["probabilities"][1].as_f64().unwrap();
            case["expected"]["label"] = json!(if p >= threshold { "1" } else { "0" });
        }
        m["decision"] = decision;
        Predictor::load_compiled(&serde_json::to_vec(&m).unwrap(), &read("model.plan"))
    };
    let mut low = with(json!({ "positive_class": "1", "threshold": 0.05 })).unwrap();
    let mut high = with(json!({ "positive_class": "1", "threshold": 0.99 })).unwrap();
    for row in &Manifest::from_json(&read("manifest.json"))
        .unwrap()
        .performance
        .holdout
        .inputs
    {
        let (
            wasm_predict::Prediction::Classification {
                label: l,
                probabilities: p,
                ..
            },
            wasm_predict::Prediction::Classification { label: h, .. },
        ) = (low.predict(row).unwrap(), high.predict(row).unwrap())
        else {
            panic!("a classifier");
        };
        assert_eq!(l, if p[1] >= 0.05 { "1" } else { "0" });
        assert_eq!(h, if p[1] >= 0.99 { "1" } else { "0" });
    }
    for (decision, words) in [
        (
            json!({ "positive_class": "yes", "threshold": 0.5 }),
            "decision.positive_class",
        ),
        (json!({ "positive_class": "1", "threshold": 1.5 }), "decision.threshold"),
        (json!({ "positive_class": "1" }), "threshold"),
    ] {
        expect_error(with(decision), "MANIFEST_INVALID", words);
    }
}
