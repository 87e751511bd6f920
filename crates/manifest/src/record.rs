//! Records: a row of a model's features keyed by name, with numbers, integers and string
//! categories, and the flat row of `f32` values the engine, the bundle and telemetry share.
//!
//! A model may take several named inputs (`float32`, `int64`, `string`, each `[N, k]`); its row is
//! their features one after the other, in the manifest's order. A number is itself, an integer is
//! itself (exact up to 2^24), a string category is its index in the input's `categories`, or
//! [`UNKNOWN_CATEGORY`] for one the model was not trained with: the model's encoder then does
//! what it was exported to do with unknown categories (a row of zeros for a one-hot encoder
//! with `handle_unknown="ignore"`, the default value of a label encoder).

use serde_json::{Map, Value};

use crate::{Dtype, InputSpec, Manifest, Missing};

/// The row value of a string category the model does not know, or of a missing one.
pub const UNKNOWN_CATEGORY: f32 = -1.0;

/// The largest integer an `int64` feature may hold: every integer up to it is exact in `f32`.
pub const LARGEST_INTEGER: f32 = 16_777_216.0;

/// What one value of a row is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureKind<'a> {
    /// A real number; NaN (a missing value) only when `missing`.
    Number {
        /// Whether NaN is passed to the model as a missing value.
        missing: bool,
    },
    /// An integer of an `int64` input.
    Integer,
    /// A string category: its index in these categories, or [`UNKNOWN_CATEGORY`].
    Category(&'a [String]),
}

/// A record or a row value the model cannot take; the message names the feature.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    /// The record lacks a feature, or a row has the wrong number of values.
    #[error("{0}")]
    Shape(String),
    /// A value is not of the feature's kind.
    #[error("{0}")]
    Value(String),
}

impl FeatureKind<'_> {
    /// Why `value` cannot stand in a row for a feature of this kind, if it cannot.
    pub fn refuse(&self, value: f32) -> Option<String> {
        match self {
            FeatureKind::Number { missing } if value.is_nan() && !missing => Some(
                "is missing (NaN), and this model does not take missing values (its manifest's \"missing\" is not \"nan\")"
                    .into(),
            ),
            FeatureKind::Number { .. } if value.is_infinite() => Some(format!("is {value}, not a finite number")),
            FeatureKind::Number { .. } => None,
            FeatureKind::Integer if value.fract() != 0.0 || value.abs() > LARGEST_INTEGER => Some(format!(
                "is {value}, not an integer between -{LARGEST_INTEGER} and {LARGEST_INTEGER}"
            )),
            FeatureKind::Integer => None,
            FeatureKind::Category(categories) => {
                let ok = value == UNKNOWN_CATEGORY
                    || value.fract() == 0.0 && value >= 0.0 && (value as usize) < categories.len();
                (!ok).then(|| {
                    format!(
                        "is {value}, not a category's index (0 to {}, or -1 for an unknown category)",
                        categories.len().saturating_sub(1)
                    )
                })
            }
        }
    }
}

impl Manifest {
    /// Every feature's name, across the inputs, in row order.
    pub fn feature_names(&self) -> Vec<&str> {
        self.inputs
            .iter()
            .flat_map(|i| i.features.iter().map(String::as_str))
            .collect()
    }

    /// Every feature's kind, in row order.
    pub fn feature_kinds(&self) -> Vec<FeatureKind<'_>> {
        kinds_of(&self.inputs)
    }

    /// Whether the model takes records with several inputs or non-float values, rather than one
    /// tensor of floats.
    pub fn takes_records(&self) -> bool {
        self.inputs.len() > 1 || self.inputs.iter().any(|i| i.dtype != Dtype::Float32)
    }

    /// The row of a record keyed by feature name: numbers for `float32` features (`null` is a
    /// missing value), integers for `int64` ones, strings for `string` ones (a category the model
    /// does not know, or `null`, is [`UNKNOWN_CATEGORY`]). Keys the model does not take are
    /// ignored; a feature the record lacks is an error.
    pub fn encode_record(&self, record: &Map<String, Value>) -> Result<Vec<f32>, RecordError> {
        let names = self.feature_names();
        let kinds = self.feature_kinds();
        let mut row = Vec::with_capacity(names.len());
        for (name, kind) in names.iter().zip(&kinds) {
            let Some(value) = record.get(*name) else {
                return Err(RecordError::Shape(format!(
                    "the record has no `{name}`; the model takes {}",
                    names.join(", ")
                )));
            };
            let wrong = |wants: &str| {
                RecordError::Value(format!(
                    "`{name}` is {}, the model takes {wants} there",
                    describe(value)
                ))
            };
            let encoded = match (kind, value) {
                (FeatureKind::Number { .. }, Value::Null) => f32::NAN,
                (FeatureKind::Number { .. }, Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN) as f32,
                (FeatureKind::Number { .. }, _) => return Err(wrong("a number")),
                (FeatureKind::Integer, Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN) as f32,
                (FeatureKind::Integer, _) => return Err(wrong("an integer")),
                (FeatureKind::Category(_), Value::Null) => UNKNOWN_CATEGORY,
                (FeatureKind::Category(categories), Value::String(s)) => categories
                    .iter()
                    .position(|c| c == s)
                    .map_or(UNKNOWN_CATEGORY, |i| i as f32),
                (FeatureKind::Category(_), _) => return Err(wrong("a string (a category)")),
            };
            if let Some(why) = kind.refuse(encoded) {
                return Err(RecordError::Value(format!("`{name}` {why}")));
            }
            row.push(encoded);
        }
        Ok(row)
    }

    /// The record of a row: the inverse of [`Manifest::encode_record`], except that an unknown
    /// category comes back as `null`. Values that cannot stand in the row are errors.
    pub fn decode_row(&self, row: &[f32]) -> Result<Map<String, Value>, RecordError> {
        let names = self.feature_names();
        if row.len() != names.len() {
            return Err(RecordError::Shape(format!(
                "a row of {} values for {} features",
                row.len(),
                names.len()
            )));
        }
        let mut record = Map::new();
        for ((name, kind), &value) in names.iter().zip(self.feature_kinds()).zip(row) {
            if let Some(why) = kind.refuse(value) {
                return Err(RecordError::Value(format!("`{name}` {why}")));
            }
            let decoded = match kind {
                FeatureKind::Number { .. } if value.is_nan() => Value::Null,
                FeatureKind::Number { .. } => {
                    serde_json::Number::from_f64(f64::from(value)).map_or(Value::Null, Value::Number)
                }
                FeatureKind::Integer => Value::from(value as i64),
                FeatureKind::Category(categories) => categories
                    .get(value as usize)
                    .filter(|_| value >= 0.0)
                    .map_or(Value::Null, |c| Value::String(c.clone())),
            };
            record.insert((*name).to_string(), decoded);
        }
        Ok(record)
    }

    /// The first value of `row` that cannot stand for its feature: its index, the feature's name
    /// and why.
    pub fn refused_value(&self, row: &[f32]) -> Option<(usize, String, String)> {
        let numbers = |missing: bool| {
            self.inputs
                .iter()
                .all(|i| i.feature_kind() == FeatureKind::Number { missing })
        };
        // The usual rows, checked without a call or a branch per value (an integer reduction,
        // which the compiler vectorizes).
        let any = |test: fn(u32) -> bool| row.iter().fold(0u32, |a, v| a | u32::from(test(v.to_bits()))) != 0;
        let not_finite = |bits: u32| bits & 0x7f80_0000 == 0x7f80_0000;
        let infinite = |bits: u32| bits & 0x7fff_ffff == 0x7f80_0000;
        if numbers(false) && !any(not_finite) || numbers(true) && !any(infinite) {
            return None;
        }
        let kinds = self.feature_kinds();
        let width = kinds.len().max(1);
        let (r, f, why) = row.chunks(width).enumerate().find_map(|(r, values)| {
            values
                .iter()
                .zip(&kinds)
                .enumerate()
                .find_map(|(f, (&v, kind))| kind.refuse(v).map(|why| (r, f, why)))
        })?;
        let name = self.feature_names().get(f).map_or(String::new(), |n| (*n).to_string());
        Some((r * width + f, name, why))
    }
}

impl InputSpec {
    /// The kind of each of this input's features.
    pub fn feature_kind(&self) -> FeatureKind<'_> {
        match self.dtype {
            Dtype::Float32 => FeatureKind::Number {
                missing: self.missing == Missing::Nan,
            },
            Dtype::Int64 => FeatureKind::Integer,
            Dtype::String => FeatureKind::Category(self.categories.as_deref().unwrap_or(&[])),
        }
    }
}

/// Every feature's kind of `inputs`, in row order.
pub fn kinds_of(inputs: &[InputSpec]) -> Vec<FeatureKind<'_>> {
    inputs
        .iter()
        .flat_map(|input| std::iter::repeat_n(input.feature_kind(), input.features.len()))
        .collect()
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::UNKNOWN_CATEGORY;
    use crate::Manifest;

    fn manifest() -> Manifest {
        let mut m: serde_json::Value = serde_json::from_str(include_str!("../tests/records-manifest.json")).unwrap();
        m["$schema"] = json!(null);
        serde_json::from_value(m).unwrap()
    }

    #[test]
    fn records_become_rows_and_back() {
        let m = manifest();
        m.check().unwrap();
        let record = json!({"age": 41.5, "visits": 3, "city": "Lyon", "plan": "pro", "ignored": true});
        let row = m.encode_record(record.as_object().unwrap()).unwrap();
        assert_eq!(row, [41.5, 3.0, 1.0, 0.0]);
        let back = m.decode_row(&row).unwrap();
        assert_eq!(back["city"], "Lyon");
        assert_eq!(back["visits"], 3);
        // An unknown or missing category is -1, a missing number NaN.
        let row = m
            .encode_record(
                json!({"age": null, "visits": 0, "city": "Atlantis", "plan": null})
                    .as_object()
                    .unwrap(),
            )
            .unwrap();
        assert!(row[0].is_nan());
        assert_eq!(&row[1..], [0.0, UNKNOWN_CATEGORY, UNKNOWN_CATEGORY]);
    }

    #[test]
    fn bad_records_are_refused_naming_the_feature() {
        let m = manifest();
        let refused = |record: serde_json::Value| m.encode_record(record.as_object().unwrap()).unwrap_err().to_string();
        assert!(refused(json!({"age": 1, "visits": 3, "city": "Lyon"})).contains("no `plan`"));
        assert!(
            refused(json!({"age": "41", "visits": 3, "city": "Lyon", "plan": "pro"})).contains("`age` is the string")
        );
        assert!(refused(json!({"age": 1, "visits": 2.5, "city": "Lyon", "plan": "pro"})).contains("`visits` is 2.5"));
        assert!(refused(json!({"age": 1, "visits": 2, "city": 75001, "plan": "pro"})).contains("a string (a category)"));
        assert!(refused(json!({"age": 1, "visits": 1e12, "city": "Lyon", "plan": "pro"})).contains("not an integer"));
        // Rows given directly are held to the same kinds.
        assert_eq!(m.refused_value(&[1.0, 2.0, 7.0, 0.0]).unwrap().1, "city");
        assert!(m.refused_value(&[1.0, 2.0, -1.0, 0.0]).is_none());
    }

    #[test]
    fn a_memory_requirement_is_optional_and_checked_naming_its_field() {
        let with = |memory: serde_json::Value| {
            let mut m = serde_json::to_value(manifest()).unwrap();
            m["memory"] = memory;
            Manifest::from_json(&serde_json::to_vec(&m).unwrap())
        };
        assert!(Manifest::from_json(&serde_json::to_vec(&manifest()).unwrap()).is_ok());
        let stated = with(json!({"maximum_bytes": 327680, "measured_bytes": 200000})).unwrap();
        assert_eq!(stated.memory.unwrap().maximum_bytes, 327_680);
        assert!(with(json!({"maximum_bytes": 65536})).is_ok());
        for (memory, message) in [
            (json!({"maximum_bytes": 0}), "memory.maximum_bytes 0 must be between 1"),
            (
                json!({"maximum_bytes": 5_000_000_000u64}),
                "memory.maximum_bytes 5000000000",
            ),
            (
                json!({"maximum_bytes": 1000, "measured_bytes": 2000}),
                "memory.measured_bytes 2000 is over",
            ),
            (json!({"maximum_bytes": -1}), "invalid value"),
            (
                json!({"maximum_bytes": 1000, "batch_rows": 64}),
                "unknown field `batch_rows`",
            ),
            (json!({"measured_bytes": 1000}), "missing field `maximum_bytes`"),
        ] {
            let error = with(memory.clone()).unwrap_err().to_string();
            assert!(error.contains(message), "{memory}: {error}");
        }
    }
}
