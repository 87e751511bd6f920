//! The model-operation subcommands on the worked example (models/example), as a user runs them:
//! each with asserted results, the gates that must refuse, and clear errors on bad data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{cli, repo};

fn json(args: &[&str]) -> Value {
    let (code, out, err) = cli(args);
    assert!(code == 0 || code == 1, "{args:?}: exit {code}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// Bundles the example's v1 and v2 into `out` as docs/model-operations.md does.
fn bundle_example(out: &Path) {
    let out = out.to_str().unwrap();
    for (model, version, holdout, source, rows, window, parent) in [
        (
            "v1",
            "1.0.0",
            "v1",
            "2025-01..2025-06",
            "1440",
            "2025-01-01..2025-06-30",
            None,
        ),
        (
            "v2",
            "1.1.0",
            "v2",
            "2025-10..2025-12",
            "720",
            "2025-10-01..2025-12-31",
            Some("credit-risk@1.0.0"),
        ),
    ] {
        let (model, holdout) = (
            format!("models/example/credit-risk-{model}.onnx"),
            format!("models/example/holdout-{holdout}.csv"),
        );
        let source = format!("models/example/history.csv, {source}, 80% of the rows");
        let mut args = vec![
            "bundle",
            &model,
            "--name",
            "credit-risk",
            "--version",
            version,
            "--data",
            &holdout,
            "--target",
            "defaulted",
            "--training-source",
            &source,
            "--training-rows",
            rows,
            "--training-window",
            window,
            "--out",
            out,
            "--created",
            "2026-11-23T00:00:00Z",
            "--no-card",
        ];
        if let Some(parent) = parent {
            args.extend(["--parent", parent]);
        }
        let (code, _, err) = cli(&args);
        assert_eq!(code, 0, "{err}");
    }
}

/// Asserts that two manifests (or parts of one) made from the same inputs agree as machines with
/// different CPUs can: strings, booleans and structure exactly; numbers within a relative 1e-5
/// (manifests store kernel outputs to 6 significant digits, and a value within the kernels'
/// rounding of a 6-digit boundary may round either way); a histogram's counts with the same total
/// and each bin within one (a prediction that close to a bin edge may fall on either side).
fn assert_manifests_agree(made: &Value, committed: &Value, what: &str) {
    fn walk(a: &Value, b: &Value, path: &str, problems: &mut Vec<String>) {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                if (x - y).abs() > 1e-5 * x.abs().max(y.abs()).max(1e-3) {
                    problems.push(format!("{path}: {x} and {y}"));
                }
            }
            (Value::Array(x), Value::Array(y)) if path.ends_with("counts") && x.len() == y.len() => {
                let counts = |v: &Vec<Value>| v.iter().map(|c| c.as_i64().unwrap()).collect::<Vec<_>>();
                let (x, y) = (counts(x), counts(y));
                let shifted = x.iter().zip(&y).any(|(a, b)| (a - b).abs() > 1);
                if shifted || x.iter().sum::<i64>() != y.iter().sum::<i64>() {
                    problems.push(format!("{path}: {x:?} and {y:?}"));
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (a, b)) in x.iter().zip(y).enumerate() {
                    walk(a, b, &format!("{path}[{i}]"), problems);
                }
            }
            (Value::Object(x), Value::Object(y)) if x.keys().eq(y.keys()) => {
                for (key, a) in x {
                    walk(a, &y[key], &format!("{path}.{key}"), problems);
                }
            }
            _ if a == b => {}
            _ => problems.push(format!("{path}: {a} and {b}")),
        }
    }
    let mut problems = Vec::new();
    walk(made, committed, "", &mut problems);
    assert!(problems.is_empty(), "{what} differ:\n  {}", problems.join("\n  "));
}

#[test]
fn manifests_agree_at_the_stored_precision_and_no_further() {
    let committed: Value =
        serde_json::from_slice(&std::fs::read(repo().join("models/credit-risk/1.0.0/manifest.json")).unwrap()).unwrap();
    let mut other = committed.clone();
    let probability = &mut other["fixtures"]["cases"][0]["expected"]["probabilities"][0];
    *probability = (probability.as_f64().unwrap() * (1.0 + 2e-7)).into();
    let counts = &mut other["reference"]["predictions"]["confidence"]["counts"];
    let (first, second) = (counts[0].as_i64().unwrap(), counts[1].as_i64().unwrap());
    (counts[0], counts[1]) = ((first + 1).into(), (second - 1).into());
    assert_manifests_agree(&other, &committed, "a last-digit difference and an edge's row");
    for (path, changed) in [
        ("/fixtures/cases/0/expected/probabilities/0", Value::from(0.5)),
        ("/fixtures/cases/0/expected/label", Value::from("other")),
        ("/reference/predictions/confidence/counts/0", Value::from(first + 2)),
        ("/sha256", Value::from("0")),
    ] {
        let mut wrong = committed.clone();
        *wrong.pointer_mut(path).unwrap() = changed;
        let refused = std::panic::catch_unwind(|| assert_manifests_agree(&wrong, &committed, path));
        assert!(refused.is_err(), "{path}: a real difference must be reported");
    }
}

#[test]
fn inspect_reports_interface_ops_parameters_and_support() {
    let v1 = json(&["inspect", "models/example/credit-risk-v1.onnx", "--json"]);
    assert_eq!(v1["inputs"][0]["name"], "X");
    assert_eq!(v1["inputs"][0]["shape"][1], "6");
    assert_eq!(v1["ops"]["ai.onnx.ml"]["LinearClassifier"], 1);
    assert_eq!(
        v1["parameter_count"], 26,
        "6 means, 6 scales, 12 coefficients, 2 intercepts"
    );
    assert_eq!(v1["support"]["supported"], true);
    assert!(v1["int8_ops"].as_object().unwrap().is_empty());
    let qdq = json(&["inspect", "models/digits-mlp-qdq/1.0.0/model.onnx", "--json"]);
    assert_eq!(qdq["int8_ops"]["DequantizeLinear"], 4);
    assert_eq!(qdq["parameters"]["int8"]["elements"], 4810);
    let (code, text, _) = cli(&["inspect", "models/example/credit-risk-v1.onnx"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("ops (ai.onnx.ml): LinearClassifier, Scaler") && text.contains("all 2 nodes are supported"),
        "{text}"
    );
    let (code, _, err) = cli(&["inspect", "models/example/history.csv"]);
    assert_eq!(code, 2);
    assert!(err.contains("not an ONNX model"), "{err}");
}

#[test]
fn bundle_writes_a_bundle_that_loads_and_refuses_to_overwrite_a_version() {
    let dir = tempfile::tempdir().unwrap();
    bundle_example(dir.path());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("credit-risk/1.0.0/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["outputs"]["classes"], serde_json::json!(["0", "1"]));
    assert_eq!(
        manifest["performance"]["achieved"], 0.905556,
        "326 of 360 right, as scikit-learn scores it"
    );
    assert_eq!(
        manifest["performance"]["minimum"], 0.885556,
        "achieved less the 0.02 margin"
    );
    assert_eq!(
        manifest["performance"]["holdout"]["inputs"].as_array().unwrap().len(),
        360
    );
    assert_eq!(
        manifest["fixtures"]["cases"].as_array().unwrap().len(),
        12,
        "8 spread rows, one per class, 3 edge cases, less 1 overlap"
    );
    assert_eq!(manifest["reference"]["features"].as_array().unwrap().len(), 6);
    assert_eq!(manifest["provenance"]["training_data"]["window"]["end"], "2025-06-30");
    // The memory requirement: the peak measured, half as much again in whole 64 KiB pages.
    let measured = manifest["memory"]["measured_bytes"].as_u64().unwrap();
    let maximum = manifest["memory"]["maximum_bytes"].as_u64().unwrap();
    assert!(measured > 10_000 && measured < 10_000_000, "{measured}");
    assert_eq!(maximum % 65_536, 0);
    assert!(
        maximum >= measured * 3 / 2 && maximum < measured * 3 / 2 + 65_536,
        "{maximum} for {measured}"
    );
    for version in ["1.0.0", "1.1.0"] {
        let read = |path: PathBuf| -> Value { serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap() };
        let mut made = read(dir.path().join(format!("credit-risk/{version}/manifest.json")));
        let mut committed = read(repo().join(format!("models/credit-risk/{version}/manifest.json")));
        // The memory measured: the same files, but counts that other threads can move.
        for manifest in [&mut made, &mut committed] {
            assert!(manifest.as_object_mut().unwrap().remove("memory").is_some());
        }
        assert_manifests_agree(
            &made,
            &committed,
            &format!("models/credit-risk/{version} against what the documented command makes"),
        );
        assert_eq!(
            std::fs::read(dir.path().join(format!("credit-risk/{version}/model.onnx"))).unwrap(),
            std::fs::read(repo().join(format!("models/credit-risk/{version}/model.onnx"))).unwrap()
        );
    }

    let again = cli(&[
        "bundle",
        "models/example/credit-risk-v1.onnx",
        "--name",
        "credit-risk",
        "--version",
        "1.0.0",
        "--data",
        "models/example/holdout-v1.csv",
        "--target",
        "defaulted",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(again.0, 2);
    assert!(again.2.contains("versions are immutable"), "{}", again.2);
}

#[test]
fn verify_passes_every_committed_bundle_and_fails_a_tampered_one() {
    let (code, text, err) = cli(&["verify", "models"]);
    assert_eq!(code, 0, "{text}{err}");
    assert!(
        text.contains("models/credit-risk/1.1.0: PASS") && !text.contains("FAIL"),
        "{text}"
    );
    // A folder of versions is walked too; a folder with no bundle is an error, not a silent pass.
    let (code, text, _) = cli(&["verify", "models/credit-risk"]);
    assert_eq!(code, 0);
    assert_eq!(text.matches(": PASS").count(), 2, "{text}");
    let (code, _, err) = cli(&["verify", "models/example"]);
    assert_eq!(code, 2);
    assert!(err.contains("models/example: no bundle"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    bundle_example(dir.path());
    let bundle = dir.path().join("credit-risk/1.0.0");
    let path = bundle.join("manifest.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // verify measures the memory bundle measured (the files are the same; the counts can differ
    // by what the command's other threads allocate meanwhile).
    let (code, json, _) = cli(&["verify", bundle.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let check: Value = serde_json::from_str(&json).unwrap();
    let (measured, stated) = (
        check[0]["memory"]["measured_bytes"].as_u64().unwrap(),
        manifest["memory"]["measured_bytes"].as_u64().unwrap(),
    );
    assert!(
        measured.abs_diff(stated) < 4096,
        "measured {measured} at verify, {stated} at bundling"
    );
    assert_eq!(check[0]["memory"]["passed"], true);
    let probability = manifest["fixtures"]["cases"][2]["expected"]["probabilities"][0]
        .as_f64()
        .unwrap();
    manifest["fixtures"]["cases"][2]["expected"]["probabilities"][0] = (probability + 0.01).into();
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let (code, text, _) = cli(&["verify", bundle.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("FAIL") && text.contains("fixture 2 differs from its expected output"),
        "{text}"
    );

    manifest["fixtures"]["cases"][2]["expected"]["probabilities"][0] = probability.into();
    manifest["performance"]["minimum"] = 0.95.into();
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let (code, text, _) = cli(&["verify", bundle.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        text.contains("0.9056 on 360 holdout rows, minimum 0.95 -> BELOW THE MINIMUM"),
        "{text}"
    );

    // A bundle past its memory requirement fails, naming the bundle, the measured and the stated bytes.
    manifest["performance"]["minimum"] = 0.5.into();
    manifest["memory"] = serde_json::json!({"maximum_bytes": 65_536, "measured_bytes": 60_000});
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let (code, text, _) = cli(&["verify", bundle.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("memory: FAIL:")
            && text.contains("(credit-risk@1.0.0) takes")
            && text.contains("over the 65536 bytes its manifest states (memory.maximum_bytes)"),
        "{text}"
    );
    manifest.as_object_mut().unwrap().remove("memory");

    // A manifest that states a plan whose file is gone fails, naming the file.
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let plan = bundle.join("model.plan");
    let plan_bytes = std::fs::read(&plan).unwrap();
    std::fs::remove_file(&plan).unwrap();
    let (code, text, _) = cli(&["verify", bundle.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("model.plan: its manifest states a plan"), "{text}");
    std::fs::write(&plan, plan_bytes).unwrap();

    let model = bundle.join("model.onnx");
    let mut bytes = std::fs::read(&model).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&model, bytes).unwrap();
    let (code, text, _) = cli(&["verify", bundle.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(text.contains("HASH_MISMATCH") || text.contains("sha256"), "{text}");
}

#[test]
fn diff_measures_disagreement_and_gates_on_it() {
    let report = json(&[
        "diff",
        "models/credit-risk/1.0.0",
        "models/credit-risk/1.1.0",
        "--data",
        "models/example/history.csv",
        "--target",
        "defaulted",
        "--time-column",
        "applied_on",
        "--json",
    ]);
    assert_eq!(report["rows"], 7200);
    let disagreement = report["disagreement"].as_f64().unwrap();
    assert!(disagreement > 0.1 && disagreement < 0.4, "{disagreement}");
    let confusion = &report["confusion"];
    let total: u64 = ["0", "1"]
        .iter()
        .flat_map(|a| ["0", "1"].map(|b| confusion[a][b].as_u64().unwrap_or(0)))
        .sum();
    assert_eq!(total, 7200);
    assert!(
        (confusion["0"]["1"].as_u64().unwrap_or(0) + confusion["1"]["0"].as_u64().unwrap_or(0)) as f64 / 7200.0
            - disagreement
            < 1e-12
    );
    assert_eq!(report["top_rows"].as_array().unwrap().len(), 10);
    assert!(
        report["new_metric"].as_f64().unwrap() > report["old_metric"].as_f64().unwrap(),
        "on all history, 18 of 24 months after the drift"
    );
    assert!(
        !report["failures"].as_array().unwrap().is_empty(),
        "over the 1% default"
    );
    let (code, _, _) = cli(&[
        "diff",
        "models/credit-risk/1.0.0",
        "models/credit-risk/1.1.0",
        "--data",
        "models/example/history.csv",
        "--time-column",
        "applied_on",
        "--target",
        "defaulted",
    ]);
    assert_eq!(code, 1);
    let same = json(&[
        "diff",
        "models/credit-risk/1.0.0",
        "models/credit-risk/1.0.0",
        "--data",
        "models/example/holdout-v1.csv",
        "--target",
        "defaulted",
        "--json",
    ]);
    assert_eq!(same["disagreement"], 0.0);
    assert_eq!(same["max_abs_diff"], 0.0);
    assert!(same["failures"].as_array().unwrap().is_empty());
}

/// The documented backtest (docs/model-operations.md) of the committed example bundles, before its window and outputs.
const BACKTEST: [&str; 11] = [
    "backtest",
    "--champion",
    "models/credit-risk/1.0.0",
    "--challenger",
    "models/credit-risk/1.1.0",
    "--data",
    "models/example/history.csv",
    "--target",
    "defaulted",
    "--time-column",
    "applied_on",
];

#[test]
fn backtest_replays_history_by_month_and_writes_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("backtest.html");
    let summary = dir.path().join("backtest.json");
    let (code, text, err) = cli(&[
        &BACKTEST[..],
        &[
            "--window",
            "month",
            "--html",
            html.to_str().unwrap(),
            "--summary",
            summary.to_str().unwrap(),
        ],
    ]
    .concat());
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("challenger won 12 of 12"), "{text}");
    let report: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    let windows = report["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 24);
    assert_eq!(windows[0]["window"], "2025-01");
    assert!(windows[0]["baseline"].is_null(), "no history before the first window");
    assert_eq!(windows.iter().filter(|w| w["champion_in_training"] == true).count(), 6);
    assert_eq!(
        windows.iter().filter(|w| w["challenger_in_training"] == true).count(),
        3
    );
    let oot = &report["out_of_time"];
    assert_eq!(oot["windows"], 12);
    assert!((oot["difference"].as_f64().unwrap() - 0.1017).abs() < 1e-3, "{oot}");
    assert!(
        oot["champion"].as_f64().unwrap() < oot["baseline"].as_f64().unwrap() + 0.01,
        "after the drift the champion is no better than the majority class"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("2026-12") && page.contains("challenger won 12 of 12"));
    let quarter = json(&[&BACKTEST[..], &["--window", "quarter", "--json"]].concat());
    assert_eq!(quarter["windows"].as_array().unwrap().len(), 8);
}

#[test]
fn promote_refuses_a_worse_challenger_and_ratchets_a_better_one() {
    let dir = tempfile::tempdir().unwrap();
    bundle_example(dir.path());
    let (v1, v2) = (
        dir.path().join("credit-risk/1.0.0"),
        dir.path().join("credit-risk/1.1.0"),
    );
    let config = dir.path().join("experiment.json");
    std::fs::copy(repo().join("models/example/experiment.json"), &config).unwrap();
    let promote = |challenger: &Path, champion: &Path| {
        cli(&[
            "promote",
            challenger.to_str().unwrap(),
            "--over",
            champion.to_str().unwrap(),
            "--data",
            "models/example/history.csv",
            "--target",
            "defaulted",
            "--time-column",
            "applied_on",
            "--experiment",
            config.to_str().unwrap(),
        ])
    };
    let before = std::fs::read(&config).unwrap();
    let (code, text, _) = promote(&v1, &v2);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("REFUSED") && text.contains("less than the 0.01 required"),
        "{text}"
    );
    assert_eq!(std::fs::read(&config).unwrap(), before, "a refusal writes nothing");

    let (code, text, err) = promote(&v2, &v1);
    assert_eq!(code, 0, "{text}{err}");
    assert!(
        text.contains("PROMOTED. The minimum is raised from 0.735556 to 0.745556"),
        "{text}"
    );
    let written: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(written["champion"], "credit-risk-1-1-0");
    assert_eq!(written["fallback"], "credit-risk-1-0-0");
    assert_eq!(written["arms"][0]["weight"], 1.0);
    assert_eq!(written["arms"][1]["weight"], 0.0);
    assert_eq!(
        written["id"], "credit-risk-1.1.0-trial",
        "the rest of the config is kept"
    );
    let manifest: Value = serde_json::from_slice(&std::fs::read(v2.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["performance"]["minimum"], 0.745556);
    assert_eq!(manifest["performance"]["ratchet"][0]["from"], 0.735556);
    assert!(manifest["performance"]["ratchet"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("promoted over credit-risk@1.0.0"));
    let (code, text, _) = cli(&["verify", v2.to_str().unwrap()]);
    assert_eq!(code, 0, "the raised bar still holds: {text}");

    // A challenger that fails verify is refused before anything else.
    let path = v2.join("manifest.json");
    let mut broken: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    broken["performance"]["minimum"] = 0.99.into();
    std::fs::write(&path, serde_json::to_vec(&broken).unwrap()).unwrap();
    let (code, text, _) = promote(&v2, &v1);
    assert_eq!(code, 1);
    assert!(text.contains("the challenger fails verify"), "{text}");
}

#[test]
fn bad_data_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let header = "age,income,debt_ratio,credit_lines,late_payments,years_employed,defaulted\n";
    let cases = [
        (
            write(
                "no-target.csv",
                "age,income,debt_ratio,credit_lines,late_payments,years_employed\n1,2,3,4,5,6\n",
            ),
            "no target column `defaulted`",
        ),
        (
            write("text.csv", &format!("{header}41,55,0.3,4,abc,2,0\n")),
            "line 2, column `late_payments`: `abc` is not a finite number",
        ),
        (
            write("ragged.csv", &format!("{header}41,55,0.3,4,1,2,0\n41,55,0.3\n")),
            "line 3 has 3 fields, the header has 7",
        ),
        (
            write(
                "five.csv",
                "age,income,debt_ratio,credit_lines,late_payments,defaulted\n41,55,0.3,4,1,0\n",
            ),
            "the model takes 6 features, the data has 5 feature columns",
        ),
        (write("empty.csv", ""), "the header row is empty"),
        (write("header-only.csv", header), "no data rows after the header"),
        (
            write(
                "dup.csv",
                "age,age,debt_ratio,credit_lines,late_payments,years_employed,defaulted\n1,2,3,4,5,6,0\n",
            ),
            "column `age` appears twice",
        ),
        (
            write("blank-target.csv", &format!("{header}41,55,0.3,4,1,2,\n")),
            "line 2: the target `defaulted` is empty",
        ),
        (
            write("inf.csv", &format!("{header}41,inf,0.3,4,1,2,0\n")),
            "`inf` is not a finite number",
        ),
    ];
    for (path, expected) in cases {
        let (code, _, err) = cli(&[
            "bundle",
            "models/example/credit-risk-v1.onnx",
            "--name",
            "x",
            "--version",
            "1.0.0",
            "--data",
            &path,
            "--target",
            "defaulted",
            "--out",
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(code, 2, "{path}");
        assert!(err.contains(expected), "{path}: expected `{expected}` in: {err}");
    }
    let (code, _, err) = cli(&[
        "backtest",
        "--champion",
        "models/credit-risk/1.0.0",
        "--challenger",
        "models/credit-risk/1.1.0",
        "--data",
        "models/example/history.csv",
        "--target",
        "defaulted",
        "--time-column",
        "when",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no time column `when`; the columns are: applied_on, age"),
        "{err}"
    );
    let bad_time = write(
        "bad-time.csv",
        "applied_on,age,income,debt_ratio,credit_lines,late_payments,years_employed,defaulted\nsoon,1,2,3,4,5,6,0\n",
    );
    let (code, _, err) = cli(&[
        "backtest",
        "--champion",
        "models/credit-risk/1.0.0",
        "--challenger",
        "models/credit-risk/1.1.0",
        "--data",
        &bad_time,
        "--target",
        "defaulted",
        "--time-column",
        "applied_on",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("line 2: `soon` is not a time"), "{err}");
}

#[test]
fn parquet_data_bundles_like_csv() {
    use std::sync::Arc;

    use parquet::column::writer::ColumnWriter;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    let dir = tempfile::tempdir().unwrap();
    let table = wasm_predict_modelops::dataset::read_table(&repo().join("models/example/holdout-v1.csv")).unwrap();
    let schema = format!(
        "message holdout {{ {} }}",
        table
            .columns
            .iter()
            .map(|c| if c == "defaulted" {
                format!("REQUIRED INT64 {c};")
            } else {
                format!("REQUIRED DOUBLE {c};")
            })
            .collect::<String>()
    );
    let path = dir.path().join("holdout-v1.parquet");
    let mut writer = SerializedFileWriter::new(
        std::fs::File::create(&path).unwrap(),
        Arc::new(parse_message_type(&schema).unwrap()),
        Default::default(),
    )
    .unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut column = 0;
    while let Some(mut writer) = group.next_column().unwrap() {
        let cells = table.rows.iter().map(|r| r[column].clone());
        match writer.untyped() {
            ColumnWriter::DoubleColumnWriter(w) => drop(
                w.write_batch(
                    &cells.map(|c| c.parse::<f64>().unwrap()).collect::<Vec<_>>(),
                    None,
                    None,
                )
                .unwrap(),
            ),
            ColumnWriter::Int64ColumnWriter(w) => drop(
                w.write_batch(
                    &cells.map(|c| c.parse::<i64>().unwrap()).collect::<Vec<_>>(),
                    None,
                    None,
                )
                .unwrap(),
            ),
            _ => panic!("unexpected column type"),
        }
        writer.close().unwrap();
        column += 1;
    }
    group.close().unwrap();
    writer.close().unwrap();
    let (code, _, err) = cli(&[
        "bundle",
        "models/example/credit-risk-v1.onnx",
        "--name",
        "credit-risk",
        "--version",
        "1.0.0",
        "--data",
        path.to_str().unwrap(),
        "--target",
        "defaulted",
        "--training-window",
        "2025-01-01..2025-06-30",
        "--out",
        dir.path().to_str().unwrap(),
        "--created",
        "2026-11-23T00:00:00Z",
    ]);
    assert_eq!(code, 0, "{err}");
    let from_parquet: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("credit-risk/1.0.0/manifest.json")).unwrap()).unwrap();
    let committed: Value =
        serde_json::from_slice(&std::fs::read(repo().join("models/credit-risk/1.0.0/manifest.json")).unwrap()).unwrap();
    for part in ["performance", "fixtures"] {
        assert_manifests_agree(
            &from_parquet[part],
            &committed[part],
            &format!("{part} from Parquet and from the committed CSV bundle"),
        );
    }
}

/// Runs onnx's checker (with shape inference) on a model, with the onnx package `scripts/setup.sh`
/// installs for the conformance tests.
fn onnx_check(model: &Path) {
    let python = repo().join("target/onnx-venv/bin/python");
    assert!(
        python.exists(),
        "run scripts/setup.sh --for-tests (it installs onnx into target/onnx-venv)"
    );
    let status = Command::new(python)
        .args([
            "-c",
            "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)",
            model.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success(), "onnx's checker refuses {}", model.display());
}

/// `quantize MODEL` calibrated and evaluated on the example's v2 holdout, budget 0.5%, as JSON.
fn quantize_on_the_holdout(model: &Path, out: &Path) -> Value {
    json(&[
        "quantize",
        model.to_str().unwrap(),
        "--calibration",
        "models/example/holdout-v2.csv",
        "--target",
        "defaulted",
        "--max-accuracy-drop",
        "0.5%",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ])
}

#[test]
fn quantize_writes_a_smaller_int8_model_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mlp-int8.onnx");
    let report = quantize_on_the_holdout(Path::new("models/example/credit-risk-v2-mlp.onnx"), &out);
    assert_eq!(report["accepted"], true, "{report:#}");
    assert_eq!(report["written"], out.to_str().unwrap());
    assert_eq!(report["max_drop"], 0.005);
    // Three MatMuls (6→64→32→1), each weight per output channel; each data input calibrated.
    let weights = report["weights"].as_array().unwrap();
    let shapes: Vec<&Value> = weights.iter().map(|w| &w["shape"]).collect();
    assert_eq!(
        shapes,
        [
            &serde_json::json!([6, 64]),
            &serde_json::json!([64, 32]),
            &serde_json::json!([32, 1])
        ]
    );
    assert!(weights.iter().all(|w| w["per_channel"] == true && w["op"] == "MatMul"));
    assert_eq!(weights[0]["scales"], 64);
    let activations = report["activations"].as_array().unwrap();
    assert_eq!(activations.len(), 3);
    for a in activations {
        let (min, max, scale) = (
            a["min"].as_f64().unwrap(),
            a["max"].as_f64().unwrap(),
            a["scale"].as_f64().unwrap(),
        );
        assert!(min < max && scale > 0.0, "{a}");
        assert!(((max.max(0.0) - min.min(0.0)) / 255.0 - scale).abs() < 1e-6, "{a}");
    }
    assert_eq!(report["calibration_rows"], 180);
    assert_eq!(report["rows"], 180);
    let size_float = report["size"]["float"].as_u64().unwrap();
    let size_int8 = report["size"]["int8"].as_u64().unwrap();
    assert_eq!(
        size_float,
        std::fs::metadata(repo().join("models/example/credit-risk-v2-mlp.onnx"))
            .unwrap()
            .len()
    );
    assert_eq!(size_int8, std::fs::metadata(&out).unwrap().len());
    assert!(size_int8 * 3 < size_float * 2, "{size_float} → {size_int8}");
    assert!((report["score"]["float"].as_f64().unwrap() - 0.755556).abs() < 1e-5);
    assert!(report["drop"].as_f64().unwrap() <= 0.005);
    assert!(report["agreement"].as_f64().unwrap() >= 0.99);
    assert!(report["max_abs_diff"].as_f64().unwrap() < 0.05);
    assert!(report["latency_us"]["float"].as_f64().unwrap() > 0.0);
    assert!(report["latency_us"]["int8"].as_f64().unwrap() > 0.0);
    onnx_check(&out);

    // The int8 file bundles and verifies like any model; the int8 weights survive the trip.
    bundle_mlp(out.to_str().unwrap(), &dir.path().join("models"));
    let inspect = json(&["inspect", out.to_str().unwrap(), "--json"]);
    assert!(inspect.to_string().contains("DequantizeLinear"), "{inspect:#}");

    // The same file exists now: refused unless --force.
    let (code, _, err) = cli(&[
        "quantize",
        "models/example/credit-risk-v2-mlp.onnx",
        "--calibration",
        "models/example/holdout-v2.csv",
        "--target",
        "defaulted",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("exists; pass --force"), "{err}");
}

/// Runs a rewrite (`quantize`, `prune`) that a budget of 0.5% must refuse: exit 1, the verdict
/// in words, nothing written at `out`; its JSON report.
fn refused_past_half_a_point(args: &[&str], out: &Path) -> Value {
    let (code, text, _) = cli(args);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("refused: the accuracy drops by"), "{text}");
    assert!(!out.exists(), "a refused model is not written");
    let report = json(&[args, &["--json"]].concat());
    assert_eq!(report["accepted"], false);
    assert!(report["drop"].as_f64().unwrap() > 0.005, "{report:#}");
    assert_eq!(report["written"], Value::Null);
    report
}

#[test]
fn quantize_refuses_a_model_that_exceeds_its_budget() {
    // Calibration rows in the wrong unit (every feature × 0.05): the activation ranges are far
    // too narrow, real rows clip, and the int8 model loses accuracy on the real holdout.
    let dir = tempfile::tempdir().unwrap();
    let holdout = std::fs::read_to_string(repo().join("models/example/holdout-v2.csv")).unwrap();
    let mut lines = holdout.lines();
    let mut scaled = format!("{}\n", lines.next().unwrap());
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let (features, target) = cells.split_at(cells.len() - 1);
        let features: Vec<String> = features
            .iter()
            .map(|c| (c.parse::<f64>().unwrap() * 0.05).to_string())
            .collect();
        scaled += &format!("{},{}\n", features.join(","), target[0]);
    }
    let calibration = dir.path().join("wrong-unit.csv");
    std::fs::write(&calibration, scaled).unwrap();
    let out = dir.path().join("refused.onnx");
    let args = [
        "quantize",
        "models/example/credit-risk-v2-mlp.onnx",
        "--calibration",
        calibration.to_str().unwrap(),
        "--data",
        "models/example/holdout-v2.csv",
        "--target",
        "defaulted",
        "--max-accuracy-drop",
        "0.5%",
        "--out",
        out.to_str().unwrap(),
    ];
    refused_past_half_a_point(&args, &out);

    // The same model and budget with proper calibration is accepted (the budget, not the model, refused it).
    let good = [&args[..3], &["models/example/holdout-v2.csv"], &args[4..]].concat();
    let (code, text, err) = cli(&good);
    assert_eq!(code, 0, "{text}{err}");
}

#[test]
fn quantize_explains_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.onnx");
    let out = out.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["models/example/credit-risk-v2.onnx", "--calibration", "models/example/holdout-v2.csv"],
            "nothing to quantize: no MatMul, Gemm or Conv with a float weight in the file (ops: Scaler, LinearClassifier)",
        ),
        (
            &["models/digits-mlp/1.0.0/model.onnx", "--calibration", "models/example/holdout-v2.csv"],
            "the model takes 64 features, the data has 6 feature columns",
        ),
        (
            &["models/example/credit-risk-v2-mlp.onnx", "--calibration", "models/example/holdout-v2.csv", "--max-accuracy-drop", "half"],
            "`half` is not a budget",
        ),
        (
            &["models/example/credit-risk-v2-mlp.onnx", "--calibration", "models/example/missing.csv"],
            "models/example/missing.csv",
        ),
    ];
    for (args, message) in cases {
        let all = [&["quantize"], args, &["--target", "defaulted", "--out", out]].concat();
        let (code, _, err) = cli(&all);
        assert_eq!(code, 2, "{all:?}");
        assert!(err.contains(message), "{all:?}: {err}");
    }
    assert!(!Path::new(out).exists());
}

/// The example's MLP pruned on its holdout, as docs/model-operations.md does.
const PRUNE_MLP: [&str; 6] = [
    "prune",
    "models/example/credit-risk-v2-mlp.onnx",
    "--data",
    "models/example/holdout-v2.csv",
    "--target",
    "defaulted",
];

/// The values of each float or int8 initializer of an ONNX file, as f32.
fn initializers(model: &Path) -> std::collections::HashMap<String, Vec<f32>> {
    use prost::Message;
    use tract_onnx::pb::tensor_proto::DataType;
    let proto = tract_onnx::pb::ModelProto::decode(std::fs::read(model).unwrap().as_slice()).unwrap();
    proto
        .graph
        .unwrap()
        .initializer
        .into_iter()
        .filter_map(|t| {
            let values: Vec<f32> = if t.data_type == DataType::Float as i32 && !t.float_data.is_empty() {
                t.float_data.clone()
            } else if t.data_type == DataType::Float as i32 {
                t.raw_data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect()
            } else if t.data_type == DataType::Int8 as i32 {
                t.raw_data.iter().map(|&b| f32::from(b as i8)).collect()
            } else {
                return None;
            };
            Some((t.name, values))
        })
        .collect()
}

fn sparsity_of(values: &[f32]) -> f64 {
    values.iter().filter(|v| **v == 0.0).count() as f64 / values.len() as f64
}

fn gzipped(path: &Path) -> usize {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&std::fs::read(path).unwrap()).unwrap();
    encoder.finish().unwrap().len()
}

#[test]
fn prune_zeros_each_layer_to_its_sparsity_within_the_budget_and_compresses() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mlp-pruned.onnx");
    let args = [
        &PRUNE_MLP[..],
        &[
            "--sparsity",
            "20%",
            "--max-accuracy-drop",
            "0.5%",
            "--out",
            out.to_str().unwrap(),
        ],
    ]
    .concat();
    let report = json(&[&args[..], &["--json"]].concat());
    assert_eq!(report["accepted"], true, "{report:#}");
    assert_eq!(report["written"], out.to_str().unwrap());
    assert_eq!(report["scope"], "layer");
    assert_eq!(report["max_layer_sparsity"], Value::Null);
    // Two of the three MatMul weights are pruned; the 32×1 output layer is under 256 weights.
    let layers = report["layers"].as_array().unwrap();
    let summary: Vec<(&str, u64, bool)> = layers
        .iter()
        .map(|l| {
            (
                l["weight"].as_str().unwrap(),
                l["weights"].as_u64().unwrap(),
                l["pruned"] == true,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("coefficient", 384, true),
            ("coefficient1", 2048, true),
            ("coefficient2", 32, false)
        ]
    );
    let written = initializers(&out);
    for layer in layers {
        let values = &written[layer["weight"].as_str().unwrap()];
        let sparsity = sparsity_of(values);
        assert!(
            (sparsity - layer["sparsity"].as_f64().unwrap()).abs() < 1e-12,
            "{layer}"
        );
        let expected = if layer["pruned"] == true { 0.2 } else { 0.0 };
        assert!(
            (sparsity - expected).abs() <= 1.0 / values.len() as f64,
            "{layer}: {sparsity}"
        );
    }
    // Biases and the other initializers are untouched.
    let dense = initializers(&repo().join("models/example/credit-risk-v2-mlp.onnx"));
    for name in ["intercepts", "intercepts1", "intercepts2", "coefficient2"] {
        assert_eq!(dense[name], written[name], "{name}");
    }
    assert!((report["score"]["dense"].as_f64().unwrap() - 0.755556).abs() < 1e-5);
    assert!(report["drop"].as_f64().unwrap() <= 0.005, "{report:#}");
    assert!(report["agreement"].as_f64().unwrap() >= 0.98);
    assert_eq!(
        report["size"]["pruned"].as_u64().unwrap(),
        std::fs::metadata(&out).unwrap().len()
    );
    assert_eq!(report["gzip"]["pruned"].as_u64().unwrap(), gzipped(&out) as u64);
    let (gzip_dense, gzip_pruned) = (
        report["gzip"]["dense"].as_u64().unwrap(),
        report["gzip"]["pruned"].as_u64().unwrap(),
    );
    assert!(gzip_pruned * 10 < gzip_dense * 9, "{gzip_dense} → {gzip_pruned}");
    assert!(report["latency_us"]["dense"].as_f64().unwrap() > 0.0);
    onnx_check(&out);

    // The same file exists now: refused unless --force; with it, the text report.
    let (code, _, err) = cli(&args);
    assert_eq!(code, 2);
    assert!(err.contains("exists; pass --force"), "{err}");
    let (code, text, err) = cli(&[&args[..], &["--force"]].concat());
    assert_eq!(code, 0, "{err}");
    for part in [
        "2 of 3 layers pruned (layer scope): 20.00% asked",
        "coefficient1",
        "left dense: fewer than 256 weights",
        "gzipped",
        "accepted: wrote",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
}

#[test]
fn prune_refuses_a_sparsity_past_the_budget_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("refused.onnx");
    let pruning = [&PRUNE_MLP[..], &["--sparsity", "90%", "--out", out.to_str().unwrap()]].concat();
    let args = [&pruning[..], &["--max-accuracy-drop", "0.5%"]].concat();
    let report = refused_past_half_a_point(&args, &out);
    assert!(report["gzip"]["pruned"].as_u64().unwrap() * 3 < report["gzip"]["dense"].as_u64().unwrap());

    // The budget, not the pruning, refused it: with a wider one the same model is written.
    let wider = [&pruning[..], &["--max-accuracy-drop", "2%"]].concat();
    let (code, text, err) = cli(&wider);
    assert_eq!(code, 0, "{text}{err}");
    assert!((sparsity_of(&initializers(&out)["coefficient1"]) - 0.9).abs() <= 1.0 / 2048.0);
}

#[test]
fn prune_global_scope_keeps_the_largest_weights_of_the_model_within_the_layer_limit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("global.onnx");
    let prune = |scope: &str, extra: &[&str]| {
        json(
            &[
                &PRUNE_MLP[..],
                &[
                    "--sparsity",
                    "40%",
                    "--scope",
                    scope,
                    "--out",
                    out.to_str().unwrap(),
                    "--force",
                    "--json",
                ],
                extra,
            ]
            .concat(),
        )
    };
    let dense = initializers(&repo().join("models/example/credit-risk-v2-mlp.onnx"));
    let report = prune("global", &[]);
    assert_eq!(report["accepted"], true, "{report:#}");
    assert_eq!(report["scope"], "global");
    assert_eq!(report["max_layer_sparsity"], 0.9);
    let written = initializers(&out);
    let layers = ["coefficient", "coefficient1"];
    // 40% of the 2,432 weights of both layers, shared unevenly: one threshold, not one per layer.
    let zeros: usize = layers
        .iter()
        .map(|l| written[*l].iter().filter(|v| **v == 0.0).count())
        .sum();
    assert_eq!(zeros, 973);
    let (first, second) = (sparsity_of(&written[layers[0]]), sparsity_of(&written[layers[1]]));
    assert!(first < 0.2 && second > 0.4, "{first} {second}");
    let pruned_max = layers
        .iter()
        .flat_map(|l| {
            dense[*l]
                .iter()
                .zip(&written[*l])
                .filter(|(_, w)| **w == 0.0)
                .map(|(d, _)| d.abs())
        })
        .fold(0f32, f32::max);
    let kept_min = layers
        .iter()
        .flat_map(|l| written[*l].iter().filter(|w| **w != 0.0).map(|w| w.abs()))
        .fold(f32::INFINITY, f32::min);
    assert!(pruned_max <= kept_min, "{pruned_max} > {kept_min}");
    assert!((report["achieved_sparsity"].as_f64().unwrap() - 973.0 / 2432.0).abs() < 1e-12);
    // Here global scope keeps every label; each layer at 40% loses accuracy past the budget.
    assert_eq!(report["agreement"], 1.0);
    let per_layer = prune("layer", &[]);
    assert_eq!(per_layer["accepted"], false, "{per_layer:#}");

    // A limit per layer: the wide layer stops at 45%, the first makes up the rest.
    let report = prune("global", &["--max-layer-sparsity", "45%", "--max-accuracy-drop", "5%"]);
    assert_eq!(report["max_layer_sparsity"], 0.45);
    let written = initializers(&out);
    assert_eq!(written["coefficient1"].iter().filter(|v| **v == 0.0).count(), 921);
    assert_eq!(written["coefficient"].iter().filter(|v| **v == 0.0).count(), 973 - 921);
}

#[test]
fn prune_explains_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.onnx");
    let out = out.to_str().unwrap();
    let mlp = "models/example/credit-risk-v2-mlp.onnx";
    let cases: [(&[&str], &str); 7] = [
        (
            &["models/example/credit-risk-v2.onnx", "--sparsity", "50%"],
            "nothing to prune: no MatMul, Gemm or Conv with a float weight in the file (ops: Scaler, LinearClassifier)",
        ),
        (&[mlp, "--sparsity", "150%"], "`150%`: a sparsity is between 0% and 100%"),
        (&[mlp, "--sparsity", "half"], "`half` is not a sparsity (say 50% or 0.5)"),
        (
            &["models/digits-mlp-qdq/1.0.0/model.onnx", "--sparsity", "50%"],
            "the model is already quantized (it has 4 DequantizeLinear nodes): pruning works on float weights; prune the float model, then quantize the pruned one",
        ),
        (
            &[mlp, "--sparsity", "95%", "--scope", "global"],
            "--sparsity 95.00% is more than --max-layer-sparsity 90.00%",
        ),
        (
            &[mlp, "--sparsity", "50%", "--min-layer-weights", "5000"],
            "nothing to prune: every MatMul, Gemm or Conv weight has fewer than 5000 weights (--min-layer-weights): coefficient (384), coefficient1 (2048), coefficient2 (32)",
        ),
        (&[mlp, "--sparsity", "50%", "--scope", "row"], "`row` is not a scope: layer or global"),
    ];
    for (args, message) in cases {
        let all = [
            &["prune"],
            args,
            &[
                "--data",
                "models/example/holdout-v2.csv",
                "--target",
                "defaulted",
                "--out",
                out,
            ],
        ]
        .concat();
        let (code, _, err) = cli(&all);
        assert_eq!(code, 2, "{all:?}");
        assert!(err.contains(message), "{all:?}: {err}");
    }
    let (code, _, err) = cli(&[
        "prune",
        mlp,
        "--sparsity",
        "50%",
        "--data",
        "models/example/missing.csv",
        "--target",
        "defaulted",
        "--out",
        out,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("models/example/missing.csv"), "{err}");
    assert!(!Path::new(out).exists());
}

#[test]
fn prune_then_quantize_keeps_the_zeros_and_the_budget_of_the_dense_model() {
    let dir = tempfile::tempdir().unwrap();
    let pruned = dir.path().join("pruned.onnx");
    let prune = json(
        &[
            &PRUNE_MLP[..],
            &[
                "--sparsity",
                "40%",
                "--scope",
                "global",
                "--out",
                pruned.to_str().unwrap(),
                "--json",
            ],
        ]
        .concat(),
    );
    assert_eq!(prune["accepted"], true, "{prune:#}");
    let both = dir.path().join("pruned-int8.onnx");
    let report = quantize_on_the_holdout(&pruned, &both);
    assert_eq!(report["accepted"], true, "{report:#}");
    // Each gate compares with its own input; against the dense float model the two drops add up.
    assert_eq!(report["score"]["float"], prune["score"]["pruned"]);
    let total = prune["score"]["dense"].as_f64().unwrap() - report["score"]["int8"].as_f64().unwrap();
    assert!(total <= 0.005, "dense float → pruned int8: drop {total}");
    // Symmetric int8 maps zero to zero: the pruned weights stay zeros.
    let (float, int8) = (initializers(&pruned), initializers(&both));
    for layer in ["coefficient", "coefficient1"] {
        let quantized = &int8[&format!("{layer}_quantized")];
        for (f, q) in float[layer].iter().zip(quantized) {
            assert!(*f != 0.0 || *q == 0.0, "{layer}: a zero became {q}");
        }
    }
    onnx_check(&both);
    // And they still compress: smaller gzipped than the dense model quantized alone.
    let dense_int8 = dir.path().join("dense-int8.onnx");
    assert_eq!(
        quantize_on_the_holdout(Path::new(PRUNE_MLP[1]), &dense_int8)["accepted"],
        true
    );
    assert!(
        gzipped(&both) < gzipped(&dense_int8),
        "{} ≥ {}",
        gzipped(&both),
        gzipped(&dense_int8)
    );
}

/// Bundles an MLP on the example's six features (heavier than the logistic regressions) into `out`.
fn bundle_mlp(model: &str, out: &Path) -> PathBuf {
    let (code, _, err) = cli(&[
        "bundle",
        model,
        "--name",
        "credit-risk-mlp",
        "--version",
        "1.0.0",
        "--data",
        "models/example/holdout-v2.csv",
        "--target",
        "defaulted",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    out.join("credit-risk-mlp/1.0.0")
}

/// Writes a deliberately heavy classifier of the example's six features: `X[N,6] → MatMul 6×512 →
/// Relu → MatMul 512×512 → Relu → MatMul 512×2 → Softmax`, 266,000 multiply-adds a row against
/// the logistic regression's 12, so it is slower by orders of magnitude on any machine; seeded
/// weights, its accuracy is beside the point.
fn write_heavy_classifier(path: &Path) {
    use prost::Message;
    use tract_onnx::pb::{
        attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto, AttributeProto,
        GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
        ValueInfoProto,
    };
    let value = |name: &str, width: i64| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto {
                    dim: [
                        tensor_shape_proto::dimension::Value::DimParam("N".into()),
                        tensor_shape_proto::dimension::Value::DimValue(width),
                    ]
                    .into_iter()
                    .map(|v| tensor_shape_proto::Dimension {
                        value: Some(v),
                        ..Default::default()
                    })
                    .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut seed = 7u64;
    let mut weight = |name: &str, rows: i64, columns: i64| {
        let scale = (2.0 / rows as f32).sqrt();
        let values: Vec<u8> = (0..rows * columns)
            .flat_map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale).to_le_bytes()
            })
            .collect();
        TensorProto {
            name: name.into(),
            data_type: DataType::Float as i32,
            dims: vec![rows, columns],
            raw_data: values,
            ..Default::default()
        }
    };
    let node = |op: &str, input: &[&str], output: &str| NodeProto {
        name: output.into(),
        op_type: op.into(),
        input: input.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: if op == "Softmax" {
            vec![AttributeProto {
                name: "axis".into(),
                r#type: AttributeType::Int as i32,
                i: 1,
                ..Default::default()
            }]
        } else {
            Vec::new()
        },
        ..Default::default()
    };
    let graph = GraphProto {
        name: "heavy".into(),
        initializer: vec![weight("w1", 6, 512), weight("w2", 512, 512), weight("w3", 512, 2)],
        node: vec![
            node("MatMul", &["X", "w1"], "h1"),
            node("Relu", &["h1"], "r1"),
            node("MatMul", &["r1", "w2"], "h2"),
            node("Relu", &["h2"], "r2"),
            node("MatMul", &["r2", "w3"], "logits"),
            node("Softmax", &["logits"], "probabilities"),
        ],
        input: vec![value("X", 6)],
        output: vec![value("probabilities", 2)],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(graph),
        ..Default::default()
    };
    std::fs::write(path, model.encode_to_vec()).unwrap();
}

fn ratios(report: &Value, setting: &str) -> [f64; 2] {
    let side = if setting == "native" {
        &report["native"]
    } else {
        &report["browser"]["latency"]
    };
    ["row_ratio", "batch_ratio"].map(|k| side[k].as_f64().unwrap())
}

#[test]
fn bench_compares_two_versions_natively_and_in_chromium_and_fails_a_slower_one() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("heavy.onnx");
    write_heavy_classifier(&model);
    let mlp = bundle_mlp(model.to_str().unwrap(), dir.path());
    let mlp = mlp.to_str().unwrap();
    // 266,000 multiply-adds a row against the logistic regression's 12: slower everywhere by far
    // more than any machine's noise, so the gate's verdict, not a timing, is what is tested.
    let args = [
        "bench",
        "models/credit-risk/1.1.0",
        mlp,
        "--tolerance",
        "10%",
        "--blocks",
        "9",
    ];
    let (code, text, err) = cli(&args);
    assert_eq!(code, 1, "{text}{err}");
    assert!(
        text.contains("native") && text.contains("chromium") && text.contains("slower: native per row"),
        "{text}"
    );
    let report = json(&[&args[..], &["--json"]].concat());
    assert_eq!(report["passed"], false);
    assert_eq!(report["old"], "credit-risk@1.1.0 (models/credit-risk/1.1.0)");
    assert!(
        report["browser"]["browser"]
            .as_str()
            .unwrap()
            .contains("HeadlessChrome"),
        "{report:#}"
    );
    for setting in ["native", "chromium"] {
        for ratio in ratios(&report, setting) {
            assert!(ratio > 1.1, "{setting}: {report:#}");
        }
    }
    assert_eq!(report["slower"].as_array().unwrap().len(), 4, "{report:#}");
    for side in [&report["native"], &report["browser"]["latency"]] {
        for version in ["old", "new"] {
            for figure in ["row_us", "batch_us"] {
                assert!(side[version][figure].as_f64().unwrap() > 0.0, "{report:#}");
            }
        }
    }
    assert_eq!(report["batch"], 64);
    assert!(report["machine"].as_str().unwrap().contains('×'));

    // The other way round the new version is the faster one: it passes.
    let (code, text, err) = cli(&["bench", mlp, "models/credit-risk/1.1.0", "--blocks", "9"]);
    assert_eq!(code, 0, "{text}{err}");
    assert!(
        text.contains("passed: the new version is within 10% of the old everywhere"),
        "{text}"
    );

    // Native only.
    let report = json(&[
        "bench",
        mlp,
        "models/credit-risk/1.1.0",
        "--native-only",
        "--blocks",
        "3",
        "--json",
    ]);
    assert_eq!(report["browser"], Value::Null);
    assert!(ratios(&report, "native").iter().all(|r| *r < 1.0), "{report:#}");
}

#[test]
fn bench_explains_what_it_cannot_compare() {
    let (code, _, err) = cli(&["bench", "models/digits-mlp/1.0.0", "models/credit-risk/1.1.0"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("the two versions take different inputs (64 and 6 features)"),
        "{err}"
    );
    let (code, _, err) = cli(&[
        "bench",
        "models/credit-risk/1.0.0",
        "models/credit-risk/1.1.0",
        "--pkg",
        "no-such-pkg",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no-such-pkg: no wasm_predict.js; build the package first"),
        "{err}"
    );
    let (code, _, err) = cli(&["bench", "models/credit-risk/1.0.0", "models/credit-risk/9.9.9"]);
    assert_eq!(code, 2);
    assert!(err.contains("models/credit-risk/9.9.9: no manifest.json"), "{err}");
    let (code, _, err) = cli(&[
        "bench",
        "models/credit-risk/1.0.0",
        "models/credit-risk/1.1.0",
        "--tolerance",
        "fast",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("`fast` is not a share"), "{err}");
    let (code, _, err) = cli(&[
        "bench",
        "models/credit-risk/1.0.0",
        "models/credit-risk/1.1.0",
        "--batch",
        "0",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--batch, --blocks and --per-block must be positive"),
        "{err}"
    );
}

/// Writes a corpus case's rows as a CSV with a target column, missing values spelled as users
/// write them (empty, nan, NaN, NA, null in turn).
fn corpus_csv(case: &str, path: &Path) -> usize {
    let case: Value =
        serde_json::from_slice(&std::fs::read(repo().join(format!("tests/corpus/{case}/case.json"))).unwrap()).unwrap();
    let rows = case["inputs"].as_array().unwrap();
    let width = rows[0].as_array().unwrap().len();
    let spellings = ["", "nan", "NaN", "NA", "null"];
    let mut text = (0..width).map(|i| format!("f{i}")).collect::<Vec<_>>().join(",") + ",y\n";
    let mut missing = 0;
    for (r, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| match v.as_f64() {
                Some(v) => v.to_string(),
                None => {
                    missing += 1;
                    spellings[missing % spellings.len()].to_string()
                }
            })
            .collect();
        let target = case["expected"][r][0].as_f64().unwrap();
        text += &format!("{},{target}\n", cells.join(","));
    }
    std::fs::write(path, text).unwrap();
    missing
}

#[test]
fn bundle_takes_missing_values_where_the_model_can_and_refuses_them_clearly_where_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("gaps.csv");
    let missing = corpus_csv("skl-imputer-ridge", &csv);
    assert!(missing > 50, "the corpus case has {missing} missing values");
    let out = dir.path().join("models");
    let (code, _, err) = cli(&[
        "bundle",
        "tests/corpus/skl-imputer-ridge/model.onnx",
        "--name",
        "imputer",
        "--version",
        "1.0.0",
        "--data",
        csv.to_str().unwrap(),
        "--target",
        "y",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("imputer/1.0.0/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["inputs"][0]["missing"], "nan");
    let counted: u64 = manifest["reference"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["missing"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        counted, missing as u64,
        "every missing value is counted in the reference"
    );
    let holdout_nulls = manifest["performance"]["holdout"]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .filter(|v| v.is_null())
        .count();
    assert_eq!(holdout_nulls, missing, "the holdout keeps its missing values as null");
    let (code, _, err) = cli(&["verify", out.join("imputer/1.0.0").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");

    // A model without an imputer cannot take them: the error names the file, line and column.
    let (code, _, err) = cli(&[
        "bundle",
        "tests/corpus/skl-ridge/model.onnx",
        "--name",
        "ridge",
        "--version",
        "1.0.0",
        "--data",
        csv.to_str().unwrap(),
        "--target",
        "y",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("gaps.csv line") && err.contains("a missing value, but this model cannot take missing values"),
        "{err}"
    );
}

#[test]
fn plan_compiles_a_bundle_and_states_its_memory_with_the_plan() {
    // A committed bundle, copied, as it was before the memory requirement existed.
    let dir = tempfile::tempdir().unwrap();
    let source = repo().join("models/diabetes-linreg/1.0.0");
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let read = |path: &Path| serde_json::from_slice::<Value>(&std::fs::read(path).unwrap()).unwrap();
    let mut before = read(&dir.path().join("manifest.json"));
    before.as_object_mut().unwrap().remove("memory");
    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_vec_pretty(&before).unwrap(),
    )
    .unwrap();
    let written = json(&["plan", dir.path().to_str().unwrap(), "--json"]);
    let measured = written[0]["memory"]["measured_bytes"].as_u64().unwrap();
    let maximum = written[0]["memory"]["maximum_bytes"].as_u64().unwrap();
    assert!(
        measured > 0 && measured <= maximum && maximum.is_multiple_of(65_536),
        "{written}"
    );
    let mut after = read(&dir.path().join("manifest.json"));
    assert_eq!(after["memory"], written[0]["memory"]);
    assert_eq!(after["plan"]["sha256"], written[0]["sha256"]);
    // Nothing else changed, and the bundle verifies within what it now states.
    for manifest in [&mut before, &mut after] {
        let entries = manifest.as_object_mut().unwrap();
        entries.remove("memory");
        entries.remove("plan");
    }
    assert_eq!(after, before);
    let (code, text, err) = cli(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{text}{err}");
}
