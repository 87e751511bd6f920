//! A binary classifier's decision threshold: the precision, recall and false-positive rate each
//! threshold gives on labelled rows, the ROC and precision-recall curves, and the choice of a
//! threshold for a stated goal (`recall=0.9`).

use anyhow::{bail, Context, Result};
use serde::Serialize;
use wasm_predict_manifest::{Decision, Manifest, Target};

use crate::evaluate::Outputs;

/// One threshold's confusion counts and rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Operating {
    /// The label is the positive class when its probability is at least this.
    pub threshold: f64,
    /// Positive rows labelled positive.
    pub true_positives: u64,
    /// Negative rows labelled positive.
    pub false_positives: u64,
    /// Positive rows labelled negative.
    pub false_negatives: u64,
    /// Negative rows labelled negative.
    pub true_negatives: u64,
}

impl Operating {
    /// Of the rows labelled positive, the share that is (1 when none is).
    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_positives).unwrap_or(1.0)
    }

    /// Of the positive rows, the share labelled positive.
    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_negatives).unwrap_or(0.0)
    }

    /// Of the negative rows, the share labelled positive.
    pub fn false_positive_rate(&self) -> f64 {
        ratio(self.false_positives, self.false_positives + self.true_negatives).unwrap_or(0.0)
    }

    /// Share of rows labelled right.
    pub fn accuracy(&self) -> f64 {
        let all = self.true_positives + self.false_positives + self.false_negatives + self.true_negatives;
        ratio(self.true_positives + self.true_negatives, all).unwrap_or(0.0)
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// The positive-class probabilities of labelled rows, and whether each row is positive.
#[derive(Debug, Clone)]
pub struct Scored {
    /// The positive class.
    pub positive_class: String,
    /// Each row's probability of the positive class.
    pub scores: Vec<f64>,
    /// Whether each row's true label is the positive class.
    pub positives: Vec<bool>,
}

impl Scored {
    /// The rows of a binary classifier's `outputs` against `targets`, about `positive_class`
    /// (default: the manifest's decision's, else the second class, as scikit-learn orders them).
    pub fn of(
        manifest: &Manifest,
        outputs: &Outputs,
        targets: &[Target],
        positive_class: Option<&str>,
    ) -> Result<Self> {
        let classes = manifest.classes();
        if classes.len() != 2 {
            bail!(
                "a decision threshold is for binary classifiers; {} has {} classes",
                manifest.id(),
                classes.len()
            );
        }
        let positive_class = positive_class
            .or(manifest.decision.as_ref().map(|d| d.positive_class.as_str()))
            .unwrap_or(&classes[1]);
        let p = classes.iter().position(|c| c == positive_class).with_context(|| {
            format!("the positive class {positive_class:?} is not one of the model's classes {classes:?}")
        })?;
        let mut scored = Scored {
            positive_class: positive_class.to_string(),
            scores: Vec::new(),
            positives: Vec::new(),
        };
        for (r, target) in targets.iter().enumerate().take(outputs.rows()) {
            if let Target::Label(label) = target {
                scored.scores.push(f64::from(outputs.row(r)[p]));
                scored.positives.push(label == positive_class);
            }
        }
        Ok(scored)
    }

    /// The counts at `threshold`.
    pub fn at(&self, threshold: f64) -> Operating {
        let mut o = Operating {
            threshold,
            true_positives: 0,
            false_positives: 0,
            false_negatives: 0,
            true_negatives: 0,
        };
        for (&score, &positive) in self.scores.iter().zip(&self.positives) {
            match (score >= threshold, positive) {
                (true, true) => o.true_positives += 1,
                (true, false) => o.false_positives += 1,
                (false, true) => o.false_negatives += 1,
                (false, false) => o.true_negatives += 1,
            }
        }
        o
    }

    /// Every distinct operating point, from the highest threshold (fewest positives) down: one
    /// per distinct score, each threshold being that score. Empty when there are no rows.
    pub fn curve(&self) -> Vec<Operating> {
        let mut order: Vec<usize> = (0..self.scores.len()).collect();
        order.sort_by(|&a, &b| self.scores[b].total_cmp(&self.scores[a]));
        let negatives = self.positives.iter().filter(|p| !**p).count() as u64;
        let positives = self.positives.len() as u64 - negatives;
        let mut points = Vec::new();
        let (mut tp, mut fp) = (0u64, 0u64);
        let mut i = 0;
        while i < order.len() {
            let threshold = self.scores[order[i]];
            while i < order.len() && self.scores[order[i]] == threshold {
                if self.positives[order[i]] {
                    tp += 1;
                } else {
                    fp += 1;
                }
                i += 1;
            }
            points.push(Operating {
                threshold,
                true_positives: tp,
                false_positives: fp,
                false_negatives: positives - tp,
                true_negatives: negatives - fp,
            });
        }
        points
    }

    /// Area under the ROC curve (trapezoids from (0,0) to (1,1)); `None` without both classes.
    pub fn roc_auc(&self) -> Option<f64> {
        let negatives = self.positives.iter().filter(|p| !**p).count();
        if negatives == 0 || negatives == self.positives.len() {
            return None;
        }
        let (mut area, mut last) = (0.0, (0.0, 0.0));
        for o in self.curve() {
            let point = (o.false_positive_rate(), o.recall());
            area += (point.0 - last.0) * (point.1 + last.1) / 2.0;
            last = point;
        }
        Some(area + (1.0 - last.0) * (1.0 + last.1) / 2.0)
    }
}

/// `x` rounded down to 6 significant digits: a readable threshold that still labels positive
/// every row at or above the score it was chosen at.
fn floor6(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(5 - x.log10().floor() as i32);
    let floored = (x * scale).floor() / scale;
    if floored > x {
        x
    } else {
        floored
    }
}

/// What a threshold is chosen for.
#[derive(Debug, Clone, PartialEq)]
pub enum Goal {
    /// This threshold, as is.
    Threshold(f64),
    /// The highest threshold whose recall is at least this.
    Recall(f64),
    /// The lowest threshold whose precision is at least this.
    Precision(f64),
    /// The lowest threshold whose false-positive rate is at most this.
    FalsePositiveRate(f64),
}

impl Goal {
    /// Reads `recall=0.9`, `precision=0.95` or `fpr=0.05`.
    pub fn parse_target(text: &str) -> Result<Self, String> {
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}`: give recall=0.9, precision=0.95 or fpr=0.05"))?;
        let value: f64 = value
            .trim()
            .trim_end_matches('%')
            .parse()
            .map_err(|_| format!("`{text}`: {value:?} is not a number"))?;
        let value = if text.ends_with('%') { value / 100.0 } else { value };
        if !(0.0..=1.0).contains(&value) {
            return Err(format!("`{text}`: the rate must be between 0 and 1"));
        }
        match name.trim() {
            "recall" | "tpr" => Ok(Goal::Recall(value)),
            "precision" => Ok(Goal::Precision(value)),
            "fpr" | "false-positive-rate" => Ok(Goal::FalsePositiveRate(value)),
            other => Err(format!("`{other}`: choose the threshold for recall, precision or fpr")),
        }
    }

    /// Reads a threshold, between 0 and 1.
    pub fn parse_threshold(text: &str) -> Result<Self, String> {
        match text.parse::<f64>() {
            Ok(t) if (0.0..=1.0).contains(&t) => Ok(Goal::Threshold(t)),
            _ => Err(format!("`{text}`: a threshold is a probability between 0 and 1")),
        }
    }

    /// The threshold that meets the goal on `scored`, recorded as a [`Decision`].
    pub fn decide(&self, scored: &Scored) -> Result<Decision> {
        let curve = scored.curve();
        let (point, said) = match *self {
            Goal::Threshold(t) => {
                return Ok(Decision {
                    positive_class: scored.positive_class.clone(),
                    threshold: t,
                    chosen_for: None,
                })
            }
            Goal::Recall(r) => (curve.iter().find(|o| o.recall() >= r), format!("recall >= {r}")),
            Goal::Precision(p) => (
                curve.iter().rev().find(|o| o.precision() >= p && o.true_positives > 0),
                format!("precision >= {p}"),
            ),
            Goal::FalsePositiveRate(f) => (
                curve.iter().rev().find(|o| o.false_positive_rate() <= f),
                format!("false-positive rate <= {f}"),
            ),
        };
        let point = point.with_context(|| {
            format!(
                "no threshold gives {said} on the {} labelled holdout rows",
                scored.scores.len()
            )
        })?;
        Ok(Decision {
            positive_class: scored.positive_class.clone(),
            threshold: floor6(point.threshold),
            chosen_for: Some(format!(
                "{said} on the holdout ({} rows): precision {:.3}, recall {:.3}, false-positive rate {:.3}",
                scored.scores.len(),
                point.precision(),
                point.recall(),
                point.false_positive_rate()
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scored() -> Scored {
        // Scores and truths: three positives (0.9, 0.8, 0.35), three negatives (0.7, 0.3, 0.1).
        Scored {
            positive_class: "yes".into(),
            scores: vec![0.9, 0.8, 0.7, 0.35, 0.3, 0.1],
            positives: vec![true, true, false, true, false, false],
        }
    }

    #[test]
    fn counts_and_rates_at_a_threshold() {
        let o = scored().at(0.5);
        assert_eq!(
            (o.true_positives, o.false_positives, o.false_negatives, o.true_negatives),
            (2, 1, 1, 2)
        );
        assert!((o.precision() - 2.0 / 3.0).abs() < 1e-12);
        assert!((o.recall() - 2.0 / 3.0).abs() < 1e-12);
        assert!((o.false_positive_rate() - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn the_curve_and_its_area() {
        let curve = scored().curve();
        assert_eq!(curve.len(), 6);
        assert_eq!(curve[0].threshold, 0.9);
        assert_eq!(curve[5].true_positives + curve[5].false_positives, 6);
        // Of the 9 positive-negative pairs, 8 are ordered right (0.35 < 0.7 is the one wrong).
        assert!((scored().roc_auc().unwrap() - 8.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn a_threshold_is_chosen_for_a_goal() {
        let s = scored();
        assert_eq!(Goal::Recall(1.0).decide(&s).unwrap().threshold, 0.35);
        assert_eq!(Goal::Recall(0.6).decide(&s).unwrap().threshold, 0.8);
        assert_eq!(Goal::Precision(1.0).decide(&s).unwrap().threshold, 0.8);
        assert_eq!(Goal::FalsePositiveRate(0.0).decide(&s).unwrap().threshold, 0.8);
        assert_eq!(Goal::parse_target("recall=90%"), Ok(Goal::Recall(0.9)));
        assert!(Goal::parse_target("f1=0.5").is_err());
        assert!(Goal::parse_threshold("1.5").is_err());
        assert_eq!(floor6(0.09209129214286804), 0.0920912);
        assert!(floor6(0.35) <= 0.35);
    }
}
