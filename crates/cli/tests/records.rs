//! Models that take records (several named inputs, integers, string categories), as a user
//! bundles and checks them: CSV columns by name, categories from the graph, clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{cli, repo};

fn scratch(name: &str) -> PathBuf {
    let dir = repo().join("target/test-records").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A CSV of a records corpus case: `columns` in this order (not the graph's), and a `target`
/// column holding onnxruntime's label (classification) or value (regression).
fn holdout_csv(case: &str, columns: &[&str], path: &Path) {
    let case: Value =
        serde_json::from_slice(&std::fs::read(repo().join(format!("tests/corpus/{case}/case.json"))).unwrap()).unwrap();
    let mut text = format!("{},target\n", columns.join(","));
    for (record, expected) in case["records"]
        .as_array()
        .unwrap()
        .iter()
        .zip(case["expected"].as_array().unwrap())
    {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match &record[*c] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        let expected: Vec<f64> = expected
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let target = match case["classes"].as_array() {
            Some(classes) => {
                let best = (0..expected.len()).fold(0, |b, i| if expected[i] > expected[b] { i } else { b });
                classes[best].as_str().unwrap().to_string()
            }
            None => expected[0].to_string(),
        };
        text.push_str(&format!("{},{target}\n", cells.join(",")));
    }
    std::fs::write(path, text).unwrap();
}

fn bundle(case: &str, csv: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let model = format!("tests/corpus/{case}/model.onnx");
    let mut args = vec![
        "bundle",
        &model,
        "--name",
        "records",
        "--version",
        "1.0.0",
        "--data",
        csv.to_str().unwrap(),
        "--target",
        "target",
        "--out",
        out.to_str().unwrap(),
        "--created",
        "2026-12-02T00:00:00Z",
    ];
    args.extend_from_slice(extra);
    cli(&args)
}

#[test]
fn a_pipeline_of_named_columns_is_bundled_from_a_csv_by_column_name() {
    let dir = scratch("onehot");
    let csv = dir.join("holdout.csv");
    // Columns in another order than the graph's inputs: they are read by name.
    holdout_csv("records-onehot-logreg", &["plan", "city", "income", "age"], &csv);
    let (code, out, err) = bundle("records-onehot-logreg", &csv, &dir, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let bundle_dir = dir.join("records/1.0.0");
    let manifest: Value = serde_json::from_slice(&std::fs::read(bundle_dir.join("manifest.json")).unwrap()).unwrap();
    let inputs = manifest["inputs"].as_array().unwrap();
    let described: Vec<(&str, &str)> = inputs
        .iter()
        .map(|i| (i["name"].as_str().unwrap(), i["dtype"].as_str().unwrap()))
        .collect();
    assert_eq!(
        described,
        [
            ("age", "float32"),
            ("income", "float32"),
            ("city", "string"),
            ("plan", "string")
        ]
    );
    let cities = inputs[2]["categories"].as_array().unwrap();
    assert!(
        cities.len() >= 6 && !cities.iter().any(|c| c == "Atlantis"),
        "{cities:?}"
    );
    // A category's histogram has a bin for unknown categories and one per category; the holdout
    // has some cities the model never saw.
    let city = &manifest["reference"]["features"][2];
    assert_eq!(city["counts"].as_array().unwrap().len(), cities.len() + 1);
    assert!(city["counts"][0].as_u64().unwrap() > 0, "{city}");
    // Same labels as onnxruntime on every row.
    assert_eq!(manifest["performance"]["achieved"], 1.0, "{}", manifest["performance"]);
    let (code, out, err) = cli(&["verify", bundle_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    // The differential test reads the same CSV by name.
    let b = bundle_dir.to_str().unwrap();
    let (code, out, err) = cli(&[
        "diff",
        b,
        b,
        "--data",
        csv.to_str().unwrap(),
        "--target",
        "target",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["disagreement"].as_f64().unwrap_or(0.0), 0.0, "{report}");
}

#[test]
fn a_table_input_of_several_columns_takes_its_names_from_features() {
    let dir = scratch("multicolumn");
    let csv = dir.join("holdout.csv");
    let columns = ["x0", "x1", "x2", "region", "channel"];
    holdout_csv("records-multicolumn-ridge", &columns, &csv);
    let (code, out, err) = bundle(
        "records-multicolumn-ridge",
        &csv,
        &dir,
        &["--features", &columns.join(",")],
    );
    assert_eq!(code, 0, "{out}{err}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("records/1.0.0/manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["inputs"][1]["features"],
        serde_json::json!(["region", "channel"])
    );
    // Without --features, a two-column input's features are `cat_0`, `cat_1`: the error says which.
    let (code, _, err) = bundle("records-multicolumn-ridge", &csv, &scratch("multicolumn-unnamed"), &[]);
    assert_ne!(code, 0);
    assert!(err.contains("num_0") || err.contains("cat_0"), "{err}");
}

#[test]
fn integers_and_missing_columns_are_checked_naming_line_and_column() {
    let dir = scratch("ordinal");
    let csv = dir.join("holdout.csv");
    holdout_csv("records-ordinal-forest", &["size", "visits", "colour", "shape"], &csv);
    let (code, out, err) = bundle("records-ordinal-forest", &csv, &dir, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&csv).unwrap();
    // A fractional count where the model takes an int64.
    let broken = dir.join("fractional.csv");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut cells: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    cells[1] = "2.5".into();
    lines[1] = cells.join(",");
    std::fs::write(&broken, lines.join("\n")).unwrap();
    let (code, _, err) = bundle("records-ordinal-forest", &broken, &scratch("ordinal-broken"), &[]);
    assert_ne!(code, 0);
    assert!(
        err.contains("line 2") && err.contains("`visits`") && err.contains("not an integer"),
        "{err}"
    );
    // A column the model takes is missing from the file.
    let without = dir.join("without.csv");
    let dropped: Vec<String> = text
        .lines()
        .map(|l| {
            l.split(',')
                .filter(|_| true)
                .enumerate()
                .filter(|(i, _)| *i != 2)
                .map(|(_, c)| c)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    std::fs::write(&without, dropped.join("\n")).unwrap();
    let (code, _, err) = bundle("records-ordinal-forest", &without, &scratch("ordinal-without"), &[]);
    assert_ne!(code, 0);
    assert!(err.contains("`colour`"), "{err}");
}

#[test]
fn the_committed_records_bundle_verifies() {
    // tests/records/churn: what `bundle` made from tests/records/churn-holdout.csv; the browser
    // tests load it.
    let (code, out, err) = cli(&["verify", "tests/records/churn/1.0.0"]);
    assert_eq!(code, 0, "{out}{err}");
}
