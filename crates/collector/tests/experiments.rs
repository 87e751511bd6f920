//! Several experiments in one store: the served config, a folder of more configs, and
//! experiments only the stored events know. The dashboard's pickers read `/v1/experiments`; every
//! report takes `?experiment=`.

#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use support::{backends, batch, in_process, outcome, prediction, repo, Setup};

const SERVED: &str = "digits-int8-vs-qdq";
const SECOND: &str = "second-experiment";
const ORPHAN: &str = "no-config-experiment";

/// `n` predictions of `arm` in `experiment`, the first `correct` of them right.
fn predictions(experiment: &str, arm: &str, n: usize, correct: usize) -> Vec<Value> {
    (0..n)
        .flat_map(|i| {
            let p = prediction(experiment, &format!("{experiment}-{arm}-{i}"), arm, "3", 0.9);
            let actual = if i < correct { "3" } else { "5" };
            let o = outcome(&p, actual);
            [p, o]
        })
        .collect()
}

#[tokio::test]
async fn reports_and_pickers_cover_every_experiment_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let configs = dir.path().join("experiments");
    std::fs::create_dir(&configs).unwrap();
    let mut second: Value =
        serde_json::from_slice(&std::fs::read(repo().join("www/experiment.json")).unwrap()).unwrap();
    second["id"] = json!(SECOND);
    second["arms"][0]["weight"] = json!(0.3);
    second["arms"][1]["weight"] = json!(0.7);
    second["analysis"] = json!({ "alpha": 0.1, "minimumDetectableEffect": 0.05 });
    std::fs::write(configs.join("second.json"), serde_json::to_vec(&second).unwrap()).unwrap();
    std::fs::write(configs.join("broken.json"), br#"{"id": "x"}"#).unwrap();

    for (backend, db) in backends(dir.path()).await {
        let collector = in_process(
            &db,
            Setup {
                experiments: Some(configs.clone()),
                ..Setup::default()
            },
        )
        .await;
        let mut events = predictions(SERVED, "int8", 20, 15);
        events.extend(predictions(SECOND, "int8", 30, 24));
        events.extend(predictions(SECOND, "qdq", 70, 63));
        events.extend(predictions(ORPHAN, "qdq", 5, 5));
        for chunk in events.chunks(100) {
            let (status, answer) = collector
                .post(serde_json::to_vec(&batch(chunk.to_vec())).unwrap())
                .await;
            assert_eq!(status, 200, "{backend}: {answer}");
        }

        let (status, listing) = collector.admin_json("/v1/experiments").await;
        assert_eq!(status, 200, "{backend}: {listing}");
        let entries = listing["experiments"].as_array().unwrap();
        let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [SERVED, SECOND, ORPHAN],
            "{backend}: served first, then the folder, then the store's"
        );
        assert_eq!(entries[0]["served"], true);
        assert_eq!(
            (entries[1]["configured"].as_bool(), entries[2]["configured"].as_bool()),
            (Some(true), Some(false))
        );
        assert_eq!(entries[2]["models"], json!(["digits-mlp-qdq@1.0.0"]), "{backend}");
        assert!(
            entries[1]["first"].is_string() && entries[1]["last"].is_string(),
            "{backend}: {listing}"
        );
        let broken = &listing["broken_configs"][0];
        assert!(broken["path"].as_str().unwrap().ends_with("broken.json"), "{listing}");
        assert!(!broken["error"].as_str().unwrap().is_empty());

        let (status, ab) = collector
            .admin_json(&format!("/v1/reports/ab?experiment={SECOND}"))
            .await;
        assert_eq!(status, 200, "{backend}: {ab}");
        assert_eq!(ab["experiment"], SECOND);
        assert_eq!(
            (ab["arms"][0]["weight"].as_f64(), ab["arms"][1]["weight"].as_f64()),
            (Some(0.3), Some(0.7))
        );
        assert_eq!(
            (ab["arms"][0]["outcomes"].as_u64(), ab["arms"][1]["outcomes"].as_u64()),
            (Some(30), Some(70))
        );
        assert_eq!(ab["analysis"]["alpha"].as_f64(), Some(0.1), "{ab}");
        let comparison = &ab["comparisons"][0];
        let decision = &comparison["decision"];
        assert_eq!(decision["metric"], "accuracy", "{comparison}");
        assert!(
            (decision["difference"].as_f64().unwrap() - 0.1).abs() < 1e-9,
            "{comparison}"
        );
        let sequence = &decision["sequential"];
        assert!(sequence["low"].as_f64().unwrap() < 0.1 && sequence["high"].as_f64().unwrap() > 0.1);
        assert!(
            decision["sequential_adjusted_p_value"].as_f64().unwrap()
                >= comparison["accuracy"]["p_value"].as_f64().unwrap()
        );
        assert_eq!(decision["verdict"], "undecided", "{comparison}");
        let size = &comparison["sample_size"];
        assert_eq!(size["minimum_detectable_effect"].as_f64(), Some(0.05), "{comparison}");
        assert!(size["challenger_needed"].as_u64().unwrap() > size["champion_needed"].as_u64().unwrap());
        assert!(size["remaining"].as_u64().unwrap() > 0);

        let (status, served) = collector.admin_json("/v1/reports/ab").await;
        assert_eq!(
            (status, served["experiment"].as_str()),
            (200, Some(SERVED)),
            "{backend}"
        );
        assert!(
            served["comparisons"][0]["sample_size"].is_null(),
            "no effect configured: {served}"
        );

        let (status, drift) = collector
            .admin_json(&format!(
                "/v1/reports/drift?experiment={SECOND}&model=digits-mlp-qdq@1.0.0"
            ))
            .await;
        assert_eq!(status, 200, "{backend}: {drift}");
        let (status, timeline) = collector
            .admin_json(&format!("/v1/reports/timeline?experiment={SECOND}&hours=1"))
            .await;
        assert_eq!(status, 200, "{backend}: {timeline}");
        let predictions: u64 = timeline
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["predictions"].as_u64().unwrap())
            .sum();
        assert_eq!(predictions, 100, "{backend}: {timeline}");

        let (status, refused) = collector
            .admin_json(&format!("/v1/reports/ab?experiment={ORPHAN}"))
            .await;
        assert_eq!(status, 400, "{backend}: {refused}");
        let error = refused["error"].as_str().unwrap();
        assert!(error.contains(ORPHAN) && error.contains("--experiments"), "{error}");
    }
}
