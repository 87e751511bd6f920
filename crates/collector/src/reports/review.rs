//! The review queue: predictions the shell marked as low-confidence, with their inputs where the
//! user consented, newest first, and as CSV for a labelling tool.

use serde::Serialize;

use crate::store::ReviewRow;

/// One prediction to label.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewItem {
    /// The prediction's id (send the label back as an outcome with it).
    pub prediction_id: String,
    /// When.
    pub time: String,
    /// Which experiment and arm.
    pub experiment: String,
    /// The arm.
    pub arm: Option<String>,
    /// `name@version`.
    pub model: Option<String>,
    /// What the model said.
    pub label: Option<String>,
    /// How sure it was.
    pub confidence: Option<f64>,
    /// The inputs, when logged: a row or a record.
    pub inputs: Option<crate::events::Inputs>,
    /// Whether an outcome has come back for it.
    pub labelled: bool,
}

/// The review items of the store's review rows ([`crate::store::EventStore::review_rows`]),
/// in their order (newest first).
pub fn review_queue(rows: &[ReviewRow]) -> Vec<ReviewItem> {
    rows.iter()
        .filter_map(|ReviewRow { event: e, labelled }| {
            Some(ReviewItem {
                labelled: *labelled,
                prediction_id: e.fields.prediction_id.clone()?,
                time: e.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                experiment: e.experiment.clone(),
                arm: e.fields.arm.clone(),
                model: e.fields.model.as_ref().map(|m| format!("{}@{}", m.name, m.version)),
                label: e.label().map(str::to_string),
                confidence: e.fields.output.as_ref().and_then(|o| o.confidence),
                inputs: e.fields.inputs.clone(),
            })
        })
        .collect()
}

/// The queue as CSV: one row per item, then a column per input: `input_0..input_{n-1}` for rows,
/// the feature names for records.
pub fn review_csv(items: &[ReviewItem]) -> anyhow::Result<String> {
    let mut columns: Vec<String> = Vec::new();
    for inputs in items.iter().filter_map(|i| i.inputs.as_ref()) {
        for (name, _) in inputs.cells() {
            if !columns.contains(&name) {
                columns.push(name);
            }
        }
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "prediction_id",
        "time",
        "experiment",
        "arm",
        "model",
        "label",
        "confidence",
        "labelled",
    ]
    .map(String::from)
    .to_vec();
    header.extend(columns.iter().cloned());
    writer.write_record(&header)?;
    for item in items {
        let mut row = vec![
            item.prediction_id.clone(),
            item.time.clone(),
            item.experiment.clone(),
            item.arm.clone().unwrap_or_default(),
            item.model.clone().unwrap_or_default(),
            item.label.clone().unwrap_or_default(),
            item.confidence.map(|c| c.to_string()).unwrap_or_default(),
            item.labelled.to_string(),
        ];
        let cells = item.inputs.as_ref().map(|i| i.cells()).unwrap_or_default();
        row.extend(columns.iter().map(|c| {
            cells
                .iter()
                .find(|(name, _)| name == c)
                .map(|(_, text)| text.clone())
                .unwrap_or_default()
        }));
        writer.write_record(&row)?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::{review_csv, ReviewItem};
    use crate::events::Inputs;

    #[test]
    fn rows_take_numbered_columns_and_records_their_feature_names() {
        let item = |id: &str, inputs: Inputs| ReviewItem {
            prediction_id: id.into(),
            time: "2026-12-02T00:00:00.000Z".into(),
            experiment: "e".into(),
            arm: Some("a".into()),
            model: Some("m@1.0.0".into()),
            label: Some("yes".into()),
            confidence: Some(0.4),
            inputs: Some(inputs),
            labelled: false,
        };
        let record = serde_json::from_value(json!({"age": 41, "city": "Lyon, France", "plan": null})).unwrap();
        let csv = review_csv(&[
            item("p1", Inputs::Record(record)),
            item("p2", Inputs::Row(vec![Some(1.5), None])),
        ])
        .unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert!(
            lines[0].ends_with(",labelled,age,city,plan,input_0,input_1"),
            "{}",
            lines[0]
        );
        assert!(lines[1].ends_with(",false,41,\"Lyon, France\",,,"), "{}", lines[1]);
        assert!(lines[2].ends_with(",false,,,,1.5,"), "{}", lines[2]);
    }
}
