//! The telemetry events the browser shell sends, schema version 1: validation of one batch, event
//! by event, into typed events ready to store. Every bound is checked here, so nothing invalid
//! reaches the database.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The batch envelope's `schema` this collector reads.
pub const EVENT_SCHEMA: u64 = 1;
/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 500;
/// Length of an event id (a hyphenated UUID).
const ID_LENGTH: usize = 36;
/// Longest time text.
const MAX_TIME: usize = 64;
/// Longest id-like string (names, arms, versions, codes).
pub const MAX_NAME: usize = 128;
/// Longest free-text string (error messages, fallback details).
pub const MAX_TEXT: usize = 2000;
/// Most raw inputs in one event.
pub const MAX_INPUTS: usize = 16_384;
/// Most entries in an output's top-k.
pub const MAX_TOP_K: usize = 100;

/// The five kinds of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A prediction served (or shadowed, or failed).
    Prediction,
    /// A client's first prediction in an experiment arm.
    Exposure,
    /// An arm refused and replaced by the champion.
    Fallback,
    /// The true label or value of an earlier prediction.
    Outcome,
    /// A low-confidence prediction queued for human labelling.
    Review,
}

impl EventKind {
    /// The kind's name, as in the events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prediction => "prediction",
            Self::Exposure => "exposure",
            Self::Fallback => "fallback",
            Self::Outcome => "outcome",
            Self::Review => "review",
        }
    }
}

/// The model that made a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// sha256 of the model bytes (absent in fallback events' refused bundles).
    #[serde(default)]
    pub sha256: Option<String>,
}

/// One of the top classes of a classification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopClass {
    /// Class label.
    pub label: String,
    /// Its probability.
    pub probability: f64,
}

/// What a model answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// Predicted class (classification).
    #[serde(default)]
    pub label: Option<String>,
    /// Its probability (classification).
    #[serde(default)]
    pub confidence: Option<f64>,
    /// The most probable classes (classification).
    #[serde(default, rename = "topK")]
    pub top_k: Option<Vec<TopClass>>,
    /// Predicted value (regression).
    #[serde(default)]
    pub value: Option<f64>,
}

/// A prediction's failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorInfo {
    /// The package's stable error code.
    pub code: String,
    /// Its message.
    pub message: String,
}

/// Declares [`Fields`] and the typed form of a whole event as sent ([`WireEvent`]) from one list
/// of the kind-specific fields, so the two cannot drift apart.
macro_rules! event_fields {
    ($($(#[doc = $doc:expr])* $name:ident: $ty:ty,)*) => {
        /// The kind-specific fields of an event; which are required depends on the kind.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        pub struct Fields {
            $($(#[doc = $doc])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $name: $ty,)*
        }

        /// An event as sent, every field typed: one parse straight from the request's bytes (the
        /// fast path of [`validate_batch`]; anything it refuses goes the field-by-field way).
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct WireEvent {
            id: String,
            kind: String,
            time: String,
            client_id: String,
            experiment: String,
            in_experiment: bool,
            $(#[serde(default)] $name: $ty,)*
        }

        impl WireEvent {
            /// The event, if it passes every check; `None` sends the batch the field-by-field way,
            /// which words the refusal.
            fn checked(self) -> Option<Event> {
                let fields = Fields { $($name: self.$name,)* };
                let id = id_of(bounded(self.id, "id", ID_LENGTH).ok()?).ok()?;
                let kind = kind_of(&bounded(self.kind, "kind", MAX_NAME).ok()?).ok()?;
                let time = time_of(&bounded(self.time, "time", MAX_TIME).ok()?).ok()?;
                let client_id = bounded(self.client_id, "clientId", MAX_NAME).ok()?;
                let experiment = bounded(self.experiment, "experiment", MAX_NAME).ok()?;
                check_fields(kind, &fields).ok()?;
                Some(Event { id, kind, time, client_id, experiment, in_experiment: self.in_experiment, fields })
            }
        }
    };
}

event_fields! {
    /// The arm that served (prediction, review, outcome) or the assigned arm (exposure).
    arm: Option<String>,
    /// The arm the client is assigned.
    assigned_arm: Option<String>,
    /// The arm that served an exposed client.
    served_arm: Option<String>,
    /// The model.
    model: Option<ModelRef>,
    /// A shadow prediction (not shown to the user).
    shadow: Option<bool>,
    /// Where the model's bytes came from.
    source: Option<String>,
    /// Latency as the app saw it, in milliseconds.
    latency_ms: Option<f64>,
    /// Time inside the predictor, in milliseconds.
    compute_ms: Option<f64>,
    /// The answer.
    output: Option<Output>,
    /// The failure, when the prediction failed.
    error: Option<ErrorInfo>,
    /// Marked for review (low confidence).
    review: Option<bool>,
    /// Raw inputs, only with the user's consent: the row, or the record predicted from.
    inputs: Option<Inputs>,
    /// Experiment mode (exposure).
    mode: Option<String>,
    /// The client's bucket (exposure).
    bucket: Option<f64>,
    /// The refused arm (fallback).
    from_arm: Option<String>,
    /// The arm serving instead (fallback).
    to_arm: Option<String>,
    /// Why (fallback).
    reason: Option<String>,
    /// The error's message (fallback).
    detail: Option<String>,
    /// The prediction this event is about (outcome, review).
    prediction_id: Option<String>,
    /// The true label or value (outcome).
    actual: Option<Value>,
}

/// A validated event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Unique id (a UUID; the shell makes UUIDv7).
    pub id: String,
    /// Kind.
    pub kind: EventKind,
    /// When the client made it.
    pub time: DateTime<Utc>,
    /// Anonymous client id.
    pub client_id: String,
    /// Experiment id.
    pub experiment: String,
    /// Whether the client was in the experiment (not killed, inside the coverage).
    pub in_experiment: bool,
    /// Kind-specific fields.
    pub fields: Fields,
}

impl Event {
    /// The event as JSON, in the shell's field names, absent fields left out.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.stored()).unwrap_or_default()
    }

    /// [`Event::to_json`] as text: what the stores keep.
    pub fn body(&self) -> String {
        serde_json::to_string(&self.stored()).unwrap_or_default()
    }

    fn stored(&self) -> Stored<'_> {
        Stored {
            id: &self.id,
            kind: self.kind,
            time: self.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            client_id: &self.client_id,
            experiment: &self.experiment,
            in_experiment: self.in_experiment,
            fields: &self.fields,
        }
    }

    /// The predicted label, if a classification prediction.
    pub fn label(&self) -> Option<&str> {
        self.fields.output.as_ref()?.label.as_deref()
    }
}

/// An event as the stores keep it: one flat object in the shell's field names.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Stored<'a> {
    id: &'a str,
    kind: EventKind,
    time: String,
    client_id: &'a str,
    experiment: &'a str,
    in_experiment: bool,
    #[serde(flatten)]
    fields: &'a Fields,
}

/// One refused event of a batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    /// Its index in the batch.
    pub index: usize,
    /// Its id, when it had a readable one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What is wrong, naming the field.
    pub reason: String,
}

/// Why a whole request is refused (before looking at events).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BatchError {
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// The envelope is not `{schema, sentAt?, events: [...]}`.
    #[error("{0}")]
    Envelope(String),
    /// Too many events.
    #[error("a batch holds at most {MAX_BATCH_EVENTS} events, this one {0}")]
    TooManyEvents(usize),
}

/// A batch split into valid events and rejections.
#[derive(Debug, Default)]
pub struct ValidatedBatch {
    /// The events that passed, in batch order.
    pub events: Vec<Event>,
    /// The ones that did not.
    pub rejected: Vec<Rejection>,
}

/// A request body as sent, typed (the fast path of [`validate_batch`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBatch {
    schema: u64,
    /// Read as the field-by-field path reads it (a skipped value's text is not checked).
    #[serde(rename = "sentAt", default)]
    _sent_at: Option<Value>,
    events: Vec<Object<WireEvent>>,
}

/// `T` read only from a JSON object: serde reads a struct from an array too (its fields in
/// order), which the field-by-field path refuses.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Only<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Only<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Object)
            }
        }
        deserializer.deserialize_map(Only(std::marker::PhantomData))
    }
}

/// Parses and validates a request body: the envelope first (a bad one refuses everything), then
/// each event on its own. A body whose every event is valid is parsed once, straight into typed
/// events; any other is read field by field, which words each refusal.
pub fn validate_batch(body: &[u8]) -> Result<ValidatedBatch, BatchError> {
    if let Ok(Object(wire)) = serde_json::from_slice::<Object<WireBatch>>(body) {
        if wire.schema == EVENT_SCHEMA && wire.events.len() <= MAX_BATCH_EVENTS {
            if let Some(events) = wire.events.into_iter().map(|Object(e)| e.checked()).collect() {
                return Ok(ValidatedBatch {
                    events,
                    rejected: Vec::new(),
                });
            }
        }
    }
    let envelope: Value = serde_json::from_slice(body).map_err(|e| BatchError::NotJson(e.to_string()))?;
    let Value::Object(mut envelope) = envelope else {
        return Err(BatchError::Envelope(
            "the body must be a JSON object {schema, events}".into(),
        ));
    };
    match envelope.get("schema").and_then(Value::as_u64) {
        Some(EVENT_SCHEMA) => {}
        other => {
            return Err(BatchError::Envelope(format!(
                "schema must be {EVENT_SCHEMA}, found {}",
                other.map_or_else(|| "none".to_string(), |s| s.to_string())
            )))
        }
    }
    if let Some(extra) = envelope
        .keys()
        .find(|k| !["schema", "sentAt", "events"].contains(&k.as_str()))
    {
        return Err(BatchError::Envelope(format!("unknown envelope field `{extra}`")));
    }
    let Some(Value::Array(events)) = envelope.remove("events") else {
        return Err(BatchError::Envelope("events must be an array".into()));
    };
    if events.len() > MAX_BATCH_EVENTS {
        return Err(BatchError::TooManyEvents(events.len()));
    }
    let mut batch = ValidatedBatch::default();
    for (index, value) in events.into_iter().enumerate() {
        let id = value
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| s.len() <= MAX_NAME)
            .map(str::to_string);
        match validate_event(value) {
            Ok(event) => batch.events.push(event),
            Err(reason) => batch.rejected.push(Rejection { index, id, reason }),
        }
    }
    Ok(batch)
}

/// Validates one event; the error names the field at fault.
pub fn validate_event(value: Value) -> Result<Event, String> {
    let Value::Object(mut object) = value else {
        return Err("an event must be a JSON object".into());
    };
    let id = id_of(take_string(&mut object, "id", ID_LENGTH)?)?;
    let kind_name = take_string(&mut object, "kind", MAX_NAME)?;
    let kind = kind_of(&kind_name)?;
    let time = time_of(&take_string(&mut object, "time", MAX_TIME)?)?;
    let client_id = take_string(&mut object, "clientId", MAX_NAME)?;
    let experiment = take_string(&mut object, "experiment", MAX_NAME)?;
    let in_experiment = match object.remove("inExperiment") {
        Some(Value::Bool(b)) => b,
        Some(_) => return Err("inExperiment must be true or false".into()),
        None => return Err("inExperiment is missing".into()),
    };
    let fields: Fields =
        serde_json::from_value(Value::Object(object)).map_err(|e| format!("{kind_name} event: {e}"))?;
    check_fields(kind, &fields).map_err(|e| format!("{kind_name} event: {e}"))?;
    Ok(Event {
        id,
        kind,
        time,
        client_id,
        experiment,
        in_experiment,
        fields,
    })
}

/// `id` if it is a UUID in its lowercase hyphenated form.
fn id_of(id: String) -> Result<String, String> {
    let parsed = uuid::Uuid::try_parse(&id).map_err(|_| format!("id `{id}` is not a UUID"))?;
    if *parsed.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()) != *id {
        return Err(format!("id `{id}` must be a lowercase hyphenated UUID"));
    }
    Ok(id)
}

fn kind_of(name: &str) -> Result<EventKind, String> {
    use serde::de::IntoDeserializer;
    let text: serde::de::value::StrDeserializer<'_, serde::de::value::Error> = name.into_deserializer();
    EventKind::deserialize(text)
        .map_err(|_| format!("kind `{name}` is not one of prediction, exposure, fallback, outcome, review"))
}

/// The instant `text` names, if RFC 3339 and, in UTC, within the years 0 to 9999 (what the
/// stores write back as RFC 3339).
fn time_of(text: &str) -> Result<DateTime<Utc>, String> {
    use chrono::Datelike;
    let time = DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("time `{text}` is not RFC 3339: {e}"))?
        .with_timezone(&Utc);
    if !(0..=9999).contains(&time.year()) {
        return Err(format!("time `{text}` is outside the years 0 to 9999 in UTC"));
    }
    Ok(time)
}

/// `text`, the string field `field`, if it is not empty and at most `max` characters long.
fn bounded(text: String, field: &str, max: usize) -> Result<String, String> {
    if text.is_empty() {
        Err(format!("{field} is empty"))
    } else if text.chars().count() > max {
        Err(format!("{field} is longer than {max} characters"))
    } else {
        Ok(text)
    }
}

fn take_string(object: &mut Map<String, Value>, field: &str, max: usize) -> Result<String, String> {
    match object.remove(field) {
        Some(Value::String(s)) => bounded(s, field, max),
        Some(_) => Err(format!("{field} must be a string")),
        None => Err(format!("{field} is missing")),
    }
}

fn check_fields(kind: EventKind, f: &Fields) -> Result<(), String> {
    for (name, value, max) in [
        ("arm", &f.arm, MAX_NAME),
        ("assignedArm", &f.assigned_arm, MAX_NAME),
        ("servedArm", &f.served_arm, MAX_NAME),
        ("source", &f.source, MAX_NAME),
        ("mode", &f.mode, MAX_NAME),
        ("fromArm", &f.from_arm, MAX_NAME),
        ("toArm", &f.to_arm, MAX_NAME),
        ("reason", &f.reason, MAX_NAME),
        ("predictionId", &f.prediction_id, 36),
        ("detail", &f.detail, MAX_TEXT),
    ] {
        if let Some(text) = value {
            bounded_text(name, text, max)?;
        }
    }
    if let Some(model) = &f.model {
        bounded_text("model.name", &model.name, MAX_NAME)?;
        bounded_text("model.version", &model.version, MAX_NAME)?;
        if let Some(sha) = &model.sha256 {
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
                return Err("model.sha256 must be 64 lowercase hex digits".into());
            }
        }
    }
    for (name, value, low, high) in [
        ("latencyMs", f.latency_ms, 0.0, 3_600_000.0),
        ("computeMs", f.compute_ms, 0.0, 3_600_000.0),
        ("bucket", f.bucket, 0.0, 1.0),
    ] {
        if let Some(v) = value {
            if !v.is_finite() || v < low || v > high {
                return Err(format!("{name} must be a number in [{low}, {high}], found {v}"));
            }
        }
    }
    if let Some(output) = &f.output {
        check_output(output)?;
    }
    if let Some(error) = &f.error {
        bounded_text("error.code", &error.code, MAX_NAME)?;
        bounded_text("error.message", &error.message, MAX_TEXT)?;
    }
    if let Some(inputs) = &f.inputs {
        if inputs.len() > MAX_INPUTS {
            return Err(format!(
                "inputs holds at most {MAX_INPUTS} values, found {}",
                inputs.len()
            ));
        }
        if let Inputs::Record(record) = inputs {
            for (key, value) in record {
                bounded_text("a key of inputs", key, MAX_NAME)?;
                match value {
                    Value::Null | Value::Number(_) => {}
                    Value::String(s) => bounded_text(&format!("inputs.{key}"), s, MAX_TEXT)?,
                    _ => return Err(format!("inputs.{key} must be a number, a string or null")),
                }
            }
        }
    }
    if let Some(id) = &f.prediction_id {
        uuid::Uuid::try_parse(id).map_err(|_| format!("predictionId `{id}` is not a UUID"))?;
    }
    let require = |name: &str, present: bool| {
        if present {
            Ok(())
        } else {
            Err(format!("{name} is missing"))
        }
    };
    match kind {
        EventKind::Prediction => {
            require("arm", f.arm.is_some())?;
            require("model", f.model.is_some())?;
            require("latencyMs", f.latency_ms.is_some())?;
            if f.error.is_none() {
                require("output", f.output.is_some())?;
            }
        }
        EventKind::Exposure => {
            require("arm", f.arm.is_some())?;
            if let Some(mode) = &f.mode {
                if mode != "split" && mode != "shadow" {
                    return Err(format!("mode must be split or shadow, found `{mode}`"));
                }
            }
        }
        EventKind::Fallback => {
            require("fromArm", f.from_arm.is_some())?;
            require("toArm", f.to_arm.is_some())?;
            require("reason", f.reason.is_some())?;
        }
        EventKind::Outcome => {
            require("predictionId", f.prediction_id.is_some())?;
            match &f.actual {
                Some(Value::String(s)) => bounded_text("actual", s, MAX_NAME)?,
                Some(Value::Number(n)) if n.as_f64().is_some_and(f64::is_finite) => {}
                Some(_) => return Err("actual must be a label (string) or a finite number".into()),
                None => return Err("actual is missing".into()),
            }
        }
        EventKind::Review => {
            require("predictionId", f.prediction_id.is_some())?;
            require("output", f.output.is_some())?;
        }
    }
    Ok(())
}

fn bounded_text(name: &str, text: &str, max: usize) -> Result<(), String> {
    if text.is_empty() {
        return Err(format!("{name} is empty"));
    }
    if text.chars().count() > max {
        return Err(format!("{name} is longer than {max} characters"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(format!("{name} holds control characters"));
    }
    Ok(())
}

fn check_output(output: &Output) -> Result<(), String> {
    if let Some(label) = &output.label {
        bounded_text("output.label", label, MAX_NAME)?;
    }
    if let Some(c) = output.confidence {
        if !(0.0..=1.0).contains(&c) {
            return Err(format!("output.confidence must be in [0, 1], found {c}"));
        }
    }
    if let Some(v) = output.value {
        if !v.is_finite() {
            return Err("output.value must be finite".into());
        }
    }
    if let Some(top) = &output.top_k {
        if top.len() > MAX_TOP_K {
            return Err(format!("output.topK holds at most {MAX_TOP_K} classes"));
        }
        for class in top {
            bounded_text("output.topK[].label", &class.label, MAX_NAME)?;
            if !(0.0..=1.0).contains(&class.probability) {
                return Err("output.topK[].probability must be in [0, 1]".into());
            }
        }
    }
    if output.label.is_none() && output.value.is_none() {
        return Err("output needs a label or a value".into());
    }
    Ok(())
}

/// The raw inputs of a prediction: the row of values in input order (`null` is a missing value,
/// NaN in the page), or the record of the features by name it was predicted from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Inputs {
    /// The row's values.
    Row(Vec<Option<f64>>),
    /// The features by name: numbers, strings (categories) or null.
    Record(Map<String, Value>),
}

impl<'de> Deserialize<'de> for Inputs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(deserializer)? {
            Value::Object(record) => Ok(Inputs::Record(record)),
            Value::Array(row) => row
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Null => Ok(None),
                    Value::Number(n) => Ok(n.as_f64()),
                    other => Err(D::Error::custom(format!(
                        "invalid type: inputs[{i}] is {other}, a row holds numbers and nulls"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Inputs::Row),
            other => Err(D::Error::custom(format!(
                "invalid type: inputs is {other}; it is a row (an array of numbers and nulls) or a record (an object of features by name)"
            ))),
        }
    }
}

impl Inputs {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Inputs::Row(row) => row.len(),
            Inputs::Record(record) => record.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Column names and cells as text, for a table: `input_0`... for a row, the names for a record.
    pub fn cells(&self) -> Vec<(String, String)> {
        match self {
            Inputs::Row(row) => row
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("input_{i}"), v.map(|v| v.to_string()).unwrap_or_default()))
                .collect(),
            Inputs::Record(record) => record
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect(),
        }
    }

    /// The row of the model `manifest` describes (`None` where a value is missing): a row of its
    /// width as it is, a record encoded by name; `None` when the inputs do not fit the model.
    pub fn row_for(&self, manifest: &wasm_predict_manifest::Manifest) -> Option<Vec<Option<f64>>> {
        match self {
            Inputs::Row(row) => (row.len() == manifest.feature_count()).then(|| row.clone()),
            Inputs::Record(record) => manifest
                .encode_record(record)
                .ok()
                .map(|row| row.into_iter().map(|v| (!v.is_nan()).then_some(f64::from(v))).collect()),
        }
    }
}
