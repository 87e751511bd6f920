//! A binary classifier's precision and recall at its decision threshold (the manifest's
//! `decision`, else the most probable class), from its predicted labels against the outcomes'
//! ([`crate::rollup::ConfusionRow`]), beside the accuracy the reports already give.

use serde::Serialize;
use wasm_predict_manifest::Manifest;

use super::stats::{self, Proportion};
use crate::rollup::ConfusionRow;

/// Which class is positive, and the threshold the labels were made at (`None`: the most
/// probable class).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Positive {
    /// The positive class.
    pub class: String,
    /// The decision threshold, when the manifest records one.
    pub threshold: Option<f64>,
}

impl Positive {
    /// The positive class of a binary classifier's manifest: its decision's, else the second
    /// class (as scikit-learn orders them). `None` for other models.
    pub fn of(manifest: &Manifest) -> Option<Positive> {
        let classes = manifest.classes();
        if classes.len() != 2 {
            return None;
        }
        Some(match &manifest.decision {
            Some(d) => Positive {
                class: d.positive_class.clone(),
                threshold: Some(d.threshold),
            },
            None => Positive {
                class: classes[1].clone(),
                threshold: None,
            },
        })
    }
}

/// Precision and recall of the positive class, with their 95% Wilson intervals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AtThreshold {
    /// The positive class and the threshold.
    pub positive: Positive,
    /// Of the outcomes of predictions labelled positive, the share that was positive.
    pub precision: Option<Proportion>,
    /// Of the positive outcomes, the share whose prediction was labelled positive.
    pub recall: Option<Proportion>,
}

/// Sums true positives, predicted positives and actual positives of `rows`, each judged by
/// `positive_of` its model (rows of models that are not binary classifiers add nothing); the
/// result names the first model's positive class. `None` when no row counts.
pub fn at_threshold<'a>(
    rows: impl Iterator<Item = &'a ConfusionRow>,
    positive_of: &dyn Fn(&str) -> Option<Positive>,
) -> Option<AtThreshold> {
    let (mut first, mut tp, mut predicted, mut actual) = (None::<Positive>, 0u64, 0u64, 0u64);
    for row in rows {
        let Some(positive) = positive_of(&row.key.model) else {
            continue;
        };
        let (p, a) = (row.predicted == positive.class, row.actual == positive.class);
        tp += if p && a { row.n } else { 0 };
        predicted += if p { row.n } else { 0 };
        actual += if a { row.n } else { 0 };
        first.get_or_insert(positive);
    }
    Some(AtThreshold {
        positive: first?,
        precision: stats::wilson(tp, predicted),
        recall: stats::wilson(tp, actual),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::rollup::ArmKey;

    fn row(model: &str, predicted: &str, actual: &str, n: u64) -> ConfusionRow {
        ConfusionRow {
            key: ArmKey {
                experiment: "e".into(),
                arm: "a".into(),
                model: model.into(),
                in_experiment: true,
            },
            predicted: predicted.into(),
            actual: actual.into(),
            n,
        }
    }

    #[test]
    fn precision_and_recall_from_labels_against_outcomes() {
        let rows = [
            row("m@1", "yes", "yes", 30),
            row("m@1", "yes", "no", 10),
            row("m@1", "no", "yes", 20),
            row("m@1", "no", "no", 40),
            row("other@1", "yes", "yes", 1000),
        ];
        let positive_of = |model: &str| {
            (model == "m@1").then(|| Positive {
                class: "yes".into(),
                threshold: Some(0.3),
            })
        };
        let r = at_threshold(rows.iter(), &positive_of).unwrap();
        assert_eq!(r.positive.threshold, Some(0.3));
        let (precision, recall) = (r.precision.unwrap(), r.recall.unwrap());
        assert_eq!((precision.n, recall.n), (40, 50));
        assert!((precision.value - 0.75).abs() < 1e-12 && (recall.value - 0.6).abs() < 1e-12);
        assert!(precision.low < 0.75 && precision.high > 0.75);
        assert!(at_threshold(rows.iter(), &|_| None).is_none());
    }
}
