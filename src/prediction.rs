//! What a prediction returns: one row's answer, or a batch's in flat arrays.

/// One prediction.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "task", rename_all = "lowercase")]
pub enum Prediction {
    /// A classifier's answer.
    Classification {
        /// One probability per class, in the manifest's class order.
        probabilities: Vec<f32>,
        /// The label of the most probable class.
        label: String,
        /// Its index in the manifest's classes.
        #[serde(rename = "labelIndex")]
        label_index: usize,
        /// Its probability.
        confidence: f32,
    },
    /// A regressor's answer.
    Regression {
        /// The predicted value.
        value: f32,
    },
}

/// The predictions for a batch of rows, in flat arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchPrediction {
    /// Number of rows.
    pub rows: usize,
    /// Classification: `rows * classes` probabilities, row after row; regression: one value per row.
    pub outputs: Vec<f32>,
    /// Classification: the index of each row's most probable class; empty for regression.
    pub label_indices: Vec<u32>,
    /// Classification: each row's highest probability; empty for regression.
    pub confidences: Vec<f32>,
}
