//! Labelled data for the model operations: CSV or Parquet with a header, a target column, and
//! optionally a time column. Every problem is reported with the file, the line and the column.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use wasm_predict_manifest::record::{kinds_of, FeatureKind, UNKNOWN_CATEGORY};
use wasm_predict_manifest::{InputSpec, Manifest, Target, Task};

/// A table of text cells, as read from the file.
#[derive(Debug, Clone)]
pub struct Table {
    /// Column names, from the header.
    pub columns: Vec<String>,
    /// Rows of cells, each as long as `columns`.
    pub rows: Vec<Vec<String>>,
    /// The file, for messages.
    pub source: String,
}

/// Which columns mean what.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    /// The target column; none for unlabelled data.
    pub target: Option<String>,
    /// The time column, if any.
    pub time: Option<String>,
    /// The feature columns in model input order; default: every other column, in file order.
    pub features: Option<Vec<String>>,
}

/// Rows ready for a model.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Feature names, in input order.
    pub features: Vec<String>,
    /// One row of values per example.
    pub inputs: Vec<Vec<f32>>,
    /// True answers, when the data has a target column.
    pub targets: Option<Vec<Target>>,
    /// Time stamps, when the data has a time column.
    pub times: Option<Vec<DateTime<Utc>>>,
    /// The file, for messages.
    pub source: String,
}

/// Reads a CSV (any extension but `.parquet`) or Parquet file into text cells.
pub fn read_table(path: &Path) -> Result<Table> {
    let source = path.display().to_string();
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")) {
        return read_parquet(path);
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .with_context(|| format!("opening {source}"))?;
    let columns: Vec<String> = reader
        .headers()
        .with_context(|| format!("{source}: no header row"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    check_header(&columns, &source)?;
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| anyhow!("{source}: {}", csv_error(&e, i + 2)))?;
        rows.push(record.iter().map(|c| c.trim().to_string()).collect());
    }
    if rows.is_empty() {
        bail!("{source}: no data rows after the header");
    }
    Ok(Table { columns, rows, source })
}

fn csv_error(error: &csv::Error, line: usize) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("line {line} has {len} fields, the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => format!("line {line} is not UTF-8"),
        _ => format!("line {line}: {error}"),
    }
}

fn check_header(columns: &[String], source: &str) -> Result<()> {
    if columns.is_empty() || columns.iter().all(String::is_empty) {
        bail!("{source}: the header row is empty");
    }
    for (i, name) in columns.iter().enumerate() {
        if name.is_empty() {
            bail!("{source}: column {} has no name in the header", i + 1);
        }
        if columns[..i].contains(name) {
            bail!("{source}: column `{name}` appears twice in the header");
        }
    }
    Ok(())
}

fn read_parquet(path: &Path) -> Result<Table> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let source = path.display().to_string();
    let file = std::fs::File::open(path).with_context(|| format!("opening {source}"))?;
    let reader = SerializedFileReader::new(file).with_context(|| format!("{source}: not a Parquet file"))?;
    let schema = reader.metadata().file_metadata().schema_descr();
    let columns: Vec<String> = schema.columns().iter().map(|c| c.name().to_string()).collect();
    check_header(&columns, &source)?;
    let mut rows = Vec::new();
    for (i, row) in reader
        .get_row_iter(None)
        .with_context(|| format!("{source}: unreadable rows"))?
        .enumerate()
    {
        let row = row.with_context(|| format!("{source}: row {}", i + 1))?;
        rows.push(row.get_column_iter().map(|(_, field)| parquet_cell(field)).collect());
    }
    if rows.is_empty() {
        bail!("{source}: no rows");
    }
    Ok(Table { columns, rows, source })
}

fn parquet_cell(field: &parquet::record::Field) -> String {
    use parquet::record::Field;
    match field {
        Field::Null => String::new(),
        Field::Str(s) => s.clone(),
        Field::Bool(b) => u8::from(*b).to_string(),
        Field::Float(f) => f.to_string(),
        Field::Double(d) => d.to_string(),
        Field::TimestampMillis(ms) => DateTime::from_timestamp_millis(*ms).map_or_else(String::new, |t| t.to_rfc3339()),
        Field::TimestampMicros(us) => DateTime::from_timestamp_micros(*us).map_or_else(String::new, |t| t.to_rfc3339()),
        Field::Date(days) => {
            NaiveDate::from_num_days_from_ce_opt(*days + 719_163).map_or_else(String::new, |d| d.to_string())
        }
        other => other.to_string().trim_matches('"').to_string(),
    }
}

/// Whether a cell stands for a missing value: empty (pandas' default, Parquet's null), `nan`
/// (numpy, any case), `NA` or `N/A` (R, spreadsheets), `null` or `None`.
pub fn is_missing(cell: &str) -> bool {
    let cell = cell.trim();
    cell.is_empty() || cell.eq_ignore_ascii_case("nan") || ["NA", "N/A", "null", "NULL", "None"].contains(&cell)
}

/// Parses a time cell: RFC 3339, `YYYY-MM-DD HH:MM:SS`, or `YYYY-MM-DD` (UTC).
pub fn parse_time(cell: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(cell) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(cell, "%Y-%m-%d %H:%M:%S") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(cell, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// A class label as written in a manifest: integers without a fractional part (`1.0` is `1`).
pub fn label_of(cell: &str) -> String {
    match cell.parse::<f64>() {
        Ok(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        _ => cell.to_string(),
    }
}

impl Table {
    fn index(&self, name: &str, role: &str) -> Result<usize> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| {
            anyhow!(
                "{}: no {role} column `{name}`; the columns are: {}",
                self.source,
                self.columns.join(", ")
            )
        })
    }

    /// The rows as model inputs, with targets for `task` and times, per `columns`; every feature
    /// a number.
    pub fn dataset(&self, columns: &Columns, task: Task) -> Result<Dataset> {
        self.dataset_with(columns, task, None)
    }

    /// The rows as inputs of the model `manifest` describes: for a model that takes records, the
    /// feature columns by name (unless `columns` names them), integers and string categories
    /// read as the row holds them.
    pub fn dataset_for(&self, columns: &Columns, manifest: &Manifest) -> Result<Dataset> {
        let schema = manifest.takes_records().then(|| RowSchema::of(&manifest.inputs));
        self.dataset_with(columns, manifest.task, schema.as_ref())
    }

    /// [`Table::dataset`] with the features' names and kinds, when they are not all numbers.
    pub fn dataset_with(&self, columns: &Columns, task: Task, schema: Option<&RowSchema<'_>>) -> Result<Dataset> {
        let target = columns.target.as_deref().map(|t| self.index(t, "target")).transpose()?;
        let time = columns.time.as_deref().map(|t| self.index(t, "time")).transpose()?;
        let features: Vec<String> = match (&columns.features, schema) {
            (Some(names), _) => names.clone(),
            (None, Some(schema)) => schema.names.clone(),
            (None, None) => self
                .columns
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != target && Some(*i) != time)
                .map(|(_, c)| c.clone())
                .collect(),
        };
        if features.is_empty() {
            bail!("{}: no feature columns", self.source);
        }
        let feature_index = features
            .iter()
            .map(|f| self.index(f, "feature"))
            .collect::<Result<Vec<_>>>()?;
        let mut inputs = Vec::with_capacity(self.rows.len());
        let mut targets = Vec::new();
        let mut times = Vec::new();
        for (r, row) in self.rows.iter().enumerate() {
            let line = r + 2;
            let values = feature_index
                .iter()
                .enumerate()
                .map(|(f, &c)| {
                    let cell = &row[c];
                    let kind = schema.and_then(|s| s.kinds.get(f));
                    if let Some(FeatureKind::Category(categories)) = kind {
                        return Ok(categories
                            .iter()
                            .position(|k| k == cell)
                            .map_or(UNKNOWN_CATEGORY, |i| i as f32));
                    }
                    if let (Some(kind @ FeatureKind::Integer), Ok(v)) = (kind, cell.parse::<f32>()) {
                        return match kind.refuse(v) {
                            None => Ok(v),
                            Some(why) => Err(anyhow!(
                                "{} line {line}, column `{}`: `{cell}` {why}",
                                self.source,
                                self.columns[c]
                            )),
                        };
                    }
                    match cell.parse::<f32>() {
                        Ok(v) if v.is_finite() => Ok(v),
                        _ if is_missing(cell) => Ok(f32::NAN),
                        _ => Err(anyhow!(
                            "{} line {line}, column `{}`: `{cell}` is not a finite number (nor a missing value: \
                             an empty cell, NaN, NA or null)",
                            self.source,
                            self.columns[c]
                        )),
                    }
                })
                .collect::<Result<Vec<f32>>>()?;
            inputs.push(values);
            if let Some(t) = target {
                let cell = &row[t];
                if cell.is_empty() {
                    bail!("{} line {line}: the target `{}` is empty", self.source, self.columns[t]);
                }
                targets.push(match task {
                    Task::Classification => Target::Label(label_of(cell)),
                    Task::Regression => {
                        Target::Value(cell.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                            anyhow!("{} line {line}: the target `{cell}` is not a number", self.source)
                        })?)
                    }
                });
            }
            if let Some(t) = time {
                times.push(parse_time(&row[t]).ok_or_else(|| {
                    anyhow!(
                        "{} line {line}: `{}` is not a time (RFC 3339, YYYY-MM-DD HH:MM:SS or YYYY-MM-DD)",
                        self.source,
                        row[t]
                    )
                })?);
            }
        }
        Ok(Dataset {
            features,
            inputs,
            targets: target.map(|_| targets),
            times: time.map(|_| times),
            source: self.source.clone(),
        })
    }
}

/// The names and kinds of a model's features, for reading their cells.
#[derive(Debug, Clone)]
pub struct RowSchema<'a> {
    /// Feature names, in row order.
    pub names: Vec<String>,
    /// Their kinds.
    pub kinds: Vec<FeatureKind<'a>>,
}

impl<'a> RowSchema<'a> {
    /// The features of `inputs`, in row order.
    pub fn of(inputs: &'a [InputSpec]) -> RowSchema<'a> {
        RowSchema {
            names: inputs.iter().flat_map(|i| i.features.iter().cloned()).collect(),
            kinds: kinds_of(inputs),
        }
    }
}

impl Dataset {
    /// The first missing value (row, feature name), if any.
    pub fn first_missing(&self) -> Option<(usize, &str)> {
        self.inputs.iter().enumerate().find_map(|(r, row)| {
            row.iter()
                .position(|v| v.is_nan())
                .map(|f| (r, self.features.get(f).map_or("", String::as_str)))
        })
    }

    /// Checks that the data has `count` feature columns, the number a model takes.
    pub fn check_width(&self, count: usize) -> Result<()> {
        if self.features.len() != count {
            bail!(
                "{}: the model takes {count} features, the data has {} feature columns ({})",
                self.source,
                self.features.len(),
                self.features.join(", ")
            );
        }
        Ok(())
    }

    /// The targets, or an error naming what is missing.
    pub fn require_targets(&self) -> Result<&[Target]> {
        self.targets
            .as_deref()
            .ok_or_else(|| anyhow!("{}: this needs a target column (--target)", self.source))
    }

    /// The rows flattened, for a batch prediction.
    pub fn flat(&self) -> Vec<f32> {
        self.inputs.concat()
    }
}
