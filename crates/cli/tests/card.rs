//! The model card and the decision threshold, through the real binary: `bundle` chooses and
//! records a threshold and writes the card; `card` makes one for any bundle; the predictor's
//! labels follow the threshold; `verify` checks the card's hashes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::*;
use wasm_predict::{Prediction, Predictor};

fn manifest_of(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

/// A copy of the committed bundle `bundle` (`models/<name>/<version>`) in `into`.
fn copy_bundle(bundle: &str, into: &Path) -> PathBuf {
    let to = into.join(bundle.replace('/', "-"));
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(repo().join("models").join(bundle)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    to
}

/// `bundle` of the worked example's champion as `version` into `out`, then `extra`.
fn bundle_args<'a>(out: &'a str, version: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "bundle",
        "models/example/credit-risk-v1.onnx",
        "--name",
        "credit-risk",
        "--version",
        version,
        "--data",
        "models/example/holdout-v1.csv",
        "--target",
        "defaulted",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    args
}

/// The card's files hash as the manifest says, and the HTML asks for nothing from elsewhere.
fn assert_card_linked(dir: &Path) -> (String, String) {
    let manifest = manifest_of(dir);
    let mut texts = Vec::new();
    for kind in ["markdown", "html"] {
        let file = &manifest["card"][kind];
        let bytes = std::fs::read(dir.join(file["path"].as_str().unwrap())).unwrap();
        assert_eq!(file["sha256"], wasm_predict::hash::sha256_hex(&bytes), "{kind}");
        texts.push(String::from_utf8(bytes).unwrap());
    }
    let html = texts.pop().unwrap();
    for outside in ["<script", "src=\"http", "href=\"http", "@import", "url("] {
        assert!(!html.contains(outside), "card.html is self-contained: found {outside}");
    }
    assert!(html.contains("<svg"), "card.html draws its charts");
    let markdown = texts.pop().unwrap();
    assert!(
        markdown.contains("is public"),
        "the card says a shipped model is public"
    );
    (markdown, html)
}

#[test]
fn bundle_chooses_a_threshold_the_predictor_follows_and_writes_the_card() {
    let out = tempfile::tempdir().unwrap();
    let out_path = out.path().to_str().unwrap();
    let (code, stdout, err) = cli(&bundle_args(
        out_path,
        "1.0.0",
        &[
            "--threshold-for",
            "recall=0.8",
            "--slice",
            "late_payments",
            "--slice",
            "age",
        ],
    ));
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("decision: 1 when its probability is at least"),
        "{stdout}"
    );
    let dir = out.path().join("credit-risk/1.0.0");
    let manifest = manifest_of(&dir);
    let decision = &manifest["decision"];
    assert_eq!(decision["positive_class"], "1");
    let threshold = decision["threshold"].as_f64().unwrap();
    assert!(
        threshold > 0.0 && threshold < 0.5,
        "recall 0.8 needs a low threshold here: {threshold}"
    );
    assert!(decision["chosen_for"].as_str().unwrap().starts_with("recall >= 0.8"));

    let (markdown, _) = assert_card_linked(&dir);
    for part in [
        "in 100 wrong",
        "Errors by class",
        "Confusion matrix",
        "Brier score",
        "Area under the ROC curve",
        "| threshold | precision | recall | false-positive rate | accuracy |",
        "The rows it gets most wrong",
        "## By late_payments",
        "## By age",
        "Latency:",
    ] {
        assert!(markdown.contains(part), "card.md lacks {part:?}:\n{markdown}");
    }

    // The label follows the threshold: "1" exactly when its probability reaches it.
    let bytes = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let mut predictor = Predictor::load_compiled(&bytes("manifest.json"), &bytes("model.plan")).unwrap();
    let holdout = predictor.manifest().performance.holdout.inputs.clone();
    let mut positives = 0;
    for row in &holdout {
        let Prediction::Classification {
            label, probabilities, ..
        } = predictor.predict(row).unwrap()
        else {
            panic!("a classifier");
        };
        let expected = if f64::from(probabilities[1]) >= threshold {
            "1"
        } else {
            "0"
        };
        assert_eq!(label, expected, "{probabilities:?} at threshold {threshold}");
        positives += usize::from(label == "1");
    }
    // At 0.5 the model labels 12 of these rows 1; at recall 0.8, over a hundred.
    assert!(positives > 60, "{positives} rows labelled 1");

    let (code, _, err) = cli(&["verify", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let card_md = dir.join("card.md");
    std::fs::write(&card_md, "edited\n").unwrap();
    let (code, stdout, err) = cli(&["verify", dir.to_str().unwrap()]);
    assert_ne!(code, 0, "a card that does not match its hash fails verify");
    assert!(format!("{stdout}{err}").contains("card.md"), "{stdout}{err}");
}

#[test]
fn cards_of_a_multiclass_classifier_and_a_regressor() {
    let tmp = tempfile::tempdir().unwrap();
    let digits = copy_bundle("digits-mlp/1.0.0", tmp.path());
    let (code, _, err) = cli(&["card", digits.to_str().unwrap(), "--examples", "3"]);
    assert_eq!(code, 0, "{err}");
    let (markdown, _) = assert_card_linked(&digits);
    assert!(markdown.contains("the predicted label's probability"), "{markdown}");
    assert!(
        !markdown.contains("Decision threshold"),
        "no threshold table for 10 classes"
    );
    let matrix_rows = markdown.lines().filter(|l| l.starts_with("| **")).count();
    assert_eq!(matrix_rows, 10, "a 10 x 10 confusion matrix");

    let diabetes = copy_bundle("diabetes-linreg/1.0.0", tmp.path());
    let (code, stdout, err) = cli(&["card", diabetes.to_str().unwrap(), "--json", "--slice", "age"]);
    assert_eq!(code, 0, "{err}");
    let card: Value = serde_json::from_str(&stdout).unwrap();
    let residuals = &card["residuals"];
    assert!(residuals["mae"].as_f64().unwrap() > 0.0);
    let quantiles: Vec<f64> = residuals["quantiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q[1].as_f64().unwrap())
        .collect();
    assert!(
        quantiles.windows(2).all(|w| w[0] <= w[1]),
        "error quantiles rise: {quantiles:?}"
    );
    assert_eq!(card["slices"][0]["column"], "age");
    let (markdown, html) = assert_card_linked(&diabetes);
    assert!(markdown.contains("off by"), "{markdown}");
    assert!(html.contains("Residuals"));
    let (code, _, err) = cli(&["verify", diabetes.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn thresholds_and_cards_refuse_what_makes_no_sense() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let digits = copy_bundle("digits-mlp/1.0.0", tmp.path());
    for (args, says) in [
        (
            vec!["card", digits.to_str().unwrap(), "--slice", "no-such-feature"],
            "--slice no-such-feature",
        ),
        (
            bundle_args(out, "1.0.0", &["--threshold-for", "recall=1.5"]),
            "between 0 and 1",
        ),
        (
            bundle_args(out, "1.0.1", &["--threshold", "0.3", "--positive-class", "maybe"]),
            "\"maybe\" is not one of the model's classes",
        ),
    ] {
        let (code, stdout, err) = cli(&args);
        assert_ne!(code, 0, "{args:?}");
        assert!(format!("{stdout}{err}").contains(says), "{args:?}: {stdout}{err}");
    }
}
