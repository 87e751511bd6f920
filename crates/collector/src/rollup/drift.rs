//! What a prediction adds to its model's drift counts: one observation `(series, bin)` per input
//! feature (its bin in the manifest's reference histogram, or [`MISSING`]) and per predicted
//! label, confidence and value, plus the counts of predictions and of predictions with inputs.
//! The bins are the manifest's, so they are computed at ingest with the model's manifest.

use wasm_predict_manifest::Manifest;

use crate::events::{Event, EventKind};
use crate::experiment::Bundles;
use crate::reports::stats::bin_of;

/// Series of the predicted label (bin: the label's index among the reference's labels).
pub const LABEL: i32 = -1;
/// Series of the predicted confidence.
pub const CONFIDENCE: i32 = -2;
/// Series of the predicted value.
pub const VALUE: i32 = -3;
/// Series counting the model's predictions (bin 0).
pub const PREDICTIONS: i32 = -10;
/// Series counting those that logged inputs of the model's width (bin 0).
pub const WITH_INPUTS: i32 = -11;
/// The bin of a missing feature value.
pub const MISSING: i32 = -1;

/// Whether `event` counts for the drift of `manifest`'s model: a prediction (shown or shadow)
/// by that model, without an error.
pub fn counts_for(manifest: &Manifest, event: &Event) -> bool {
    event.kind == EventKind::Prediction
        && event.fields.error.is_none()
        && event
            .fields
            .model
            .as_ref()
            .is_some_and(|m| m.name == manifest.name && m.version == manifest.version)
}

/// The drift observations of `event` against its model's `manifest` (none if it does not count).
pub fn observations(manifest: &Manifest, event: &Event) -> Vec<(i32, i32)> {
    if !counts_for(manifest, event) {
        return Vec::new();
    }
    let mut out = vec![(PREDICTIONS, 0)];
    let reference = &manifest.reference;
    let width = manifest.feature_count();
    let row = event
        .fields
        .inputs
        .as_ref()
        .and_then(|inputs| inputs.row_for(manifest))
        .filter(|row| row.len() == width);
    if let Some(row) = row {
        out.push((WITH_INPUTS, 0));
        for (i, (histogram, value)) in reference.features.iter().zip(&row).enumerate() {
            let bin = value.map_or(MISSING, |v| bin_of(&histogram.edges, v) as i32);
            out.push((i as i32, bin));
        }
    }
    let output = event.fields.output.as_ref();
    if let (Some(labels), Some(label)) = (&reference.predictions.labels, event.label()) {
        if let Some(i) = labels.keys().position(|name| name == label) {
            out.push((LABEL, i as i32));
        }
    }
    if let (Some(histogram), Some(confidence)) = (&reference.predictions.confidence, output.and_then(|o| o.confidence))
    {
        out.push((CONFIDENCE, bin_of(&histogram.edges, confidence) as i32));
    }
    if let (Some(histogram), Some(value)) = (&reference.predictions.value, output.and_then(|o| o.value)) {
        out.push((VALUE, bin_of(&histogram.edges, value) as i32));
    }
    out
}

/// The drift observations of `event` against the manifest of the model it names, found among
/// `bundles` (none when the bundle is not there).
pub fn observations_in(bundles: &Bundles, event: &Event) -> Vec<(i32, i32)> {
    if event.kind != EventKind::Prediction || event.fields.error.is_some() {
        return Vec::new();
    }
    let Some(model) = &event.fields.model else {
        return Vec::new();
    };
    bundles
        .cached(&model.name, &model.version)
        .map(|manifest| observations(&manifest, event))
        .unwrap_or_default()
}
