//! The rollups' SQL, one text for both backends where they agree: written with PostgreSQL's `$N`
//! placeholders, [`sqlite`] turns them into SQLite's `?N`. Sums are cast to BIGINT because
//! PostgreSQL sums BIGINTs into NUMERIC. SQLite adds rows one statement each (in process, a
//! statement costs little); PostgreSQL adds a table's rows in one statement over arrays (`_MANY`),
//! since there a round trip is what costs. A purge subtracts, so a count can come back to 0: the
//! reads leave out groups that sum to 0 (`HAVING`).

use std::borrow::Cow;

/// `sql` for SQLite.
pub fn sqlite(sql: &str) -> Cow<'_, str> {
    if sql.contains('$') {
        Cow::Owned(sql.replace('$', "?"))
    } else {
        Cow::Borrowed(sql)
    }
}

/// What an arm's row does when it exists: every count and sum adds.
macro_rules! arms_conflict {
    () => {
        "
    ON CONFLICT (experiment, minute, arm, model, in_experiment, shard) DO UPDATE SET
        exposures = rollup_arms.exposures + excluded.exposures,
        predictions = rollup_arms.predictions + excluded.predictions,
        errors = rollup_arms.errors + excluded.errors,
        fallbacks = rollup_arms.fallbacks + excluded.fallbacks,
        confidence_n = rollup_arms.confidence_n + excluded.confidence_n,
        confidence_sum = rollup_arms.confidence_sum + excluded.confidence_sum,
        labelled = rollup_arms.labelled + excluded.labelled,
        correct = rollup_arms.correct + excluded.correct,
        numeric_n = rollup_arms.numeric_n + excluded.numeric_n,
        abs_sum = rollup_arms.abs_sum + excluded.abs_sum,
        sq_sum = rollup_arms.sq_sum + excluded.sq_sum,
        truth_sum = rollup_arms.truth_sum + excluded.truth_sum,
        truth_sq = rollup_arms.truth_sq + excluded.truth_sq"
    };
}

/// Adds one [`crate::rollup::Counts`] to a minute of an arm and model.
pub const UPSERT_ARMS: &str = concat!(
    "
    INSERT INTO rollup_arms (experiment, minute, arm, model, in_experiment, shard, exposures, predictions,
        errors, fallbacks, confidence_n, confidence_sum, labelled, correct, numeric_n, abs_sum, sq_sum,
        truth_sum, truth_sq)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
    arms_conflict!()
);

/// Adds to a latency bucket of a minute of an arm.
pub const UPSERT_LATENCY: &str = "
    INSERT INTO rollup_latency (experiment, minute, arm, in_experiment, bucket, shard, n)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (experiment, minute, arm, in_experiment, bucket, shard) DO UPDATE SET
        n = rollup_latency.n + excluded.n";

/// Adds to a latency bucket of an hour of an arm.
pub const UPSERT_LATENCY_HOURS: &str = "
    INSERT INTO rollup_latency_hours (experiment, hour, arm, in_experiment, bucket, shard, n)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (experiment, hour, arm, in_experiment, bucket, shard) DO UPDATE SET
        n = rollup_latency_hours.n + excluded.n";

/// Adds to a drift bin of an hour of a model.
pub const UPSERT_DRIFT: &str = "
    INSERT INTO rollup_drift (experiment, model, hour, series, bin, shard, n)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (experiment, model, hour, series, bin, shard) DO UPDATE SET
        n = rollup_drift.n + excluded.n";

/// Adds to the count of a predicted label against an outcome's label, in an hour of an arm and model.
pub const UPSERT_CONFUSION: &str = "
    INSERT INTO rollup_confusion (experiment, hour, arm, model, in_experiment, predicted, actual, shard, n)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (experiment, hour, arm, model, in_experiment, predicted, actual, shard) DO UPDATE SET
        n = rollup_confusion.n + excluded.n";

/// [`UPSERT_CONFUSION`] for arrays of rows (PostgreSQL).
pub const UPSERT_CONFUSION_MANY: &str = "
    INSERT INTO rollup_confusion (experiment, hour, arm, model, in_experiment, predicted, actual, shard, n)
    SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bool[], $6::text[], $7::text[],
        $8::smallint[], $9::bigint[])
    ON CONFLICT (experiment, hour, arm, model, in_experiment, predicted, actual, shard) DO UPDATE SET
        n = rollup_confusion.n + excluded.n";

/// Per arm, model and in-experiment flag, predicted label against actual label, of an experiment
/// from the hour `$2`.
pub const AB_CONFUSION: &str = "
    SELECT arm, model, in_experiment, predicted, actual, CAST(SUM(n) AS BIGINT)
    FROM rollup_confusion WHERE experiment = $1 AND hour >= $2
    GROUP BY arm, model, in_experiment, predicted, actual HAVING SUM(n) <> 0";

/// One [`AB_CONFUSION`] row of `experiment`, read by the backend's text, flag and integer
/// column getters.
pub fn confusion_of<E>(
    experiment: &str,
    text: impl Fn(usize) -> Result<String, E>,
    flag: impl Fn(usize) -> Result<bool, E>,
    int: impl Fn(usize) -> Result<i64, E>,
) -> Result<crate::rollup::ConfusionRow, E> {
    Ok(crate::rollup::ConfusionRow {
        key: crate::rollup::ArmKey {
            experiment: experiment.to_string(),
            arm: text(0)?,
            model: text(1)?,
            in_experiment: flag(2)?,
        },
        predicted: text(3)?,
        actual: text(4)?,
        n: int(5)? as u64,
    })
}

/// Records a client seen in an arm (SQLite: its two-argument `MAX` is PostgreSQL's `GREATEST`).
pub const UPSERT_CLIENT: &str = "
    INSERT INTO rollup_clients (experiment, arm, client_id, last_minute) VALUES ($1, $2, $3, $4)
    ON CONFLICT (experiment, arm, client_id) DO UPDATE SET
        last_minute = MAX(rollup_clients.last_minute, excluded.last_minute)";

/// [`UPSERT_ARMS`] for arrays of rows (PostgreSQL).
pub const UPSERT_ARMS_MANY: &str = concat!(
    "
    INSERT INTO rollup_arms (experiment, minute, arm, model, in_experiment, shard, exposures, predictions,
        errors, fallbacks, confidence_n, confidence_sum, labelled, correct, numeric_n, abs_sum, sq_sum,
        truth_sum, truth_sq)
    SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bool[], $6::smallint[],
        $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::float8[], $13::bigint[],
        $14::bigint[], $15::bigint[], $16::float8[], $17::float8[], $18::float8[], $19::float8[])",
    arms_conflict!()
);

/// [`UPSERT_LATENCY`] for arrays of rows (PostgreSQL).
pub const UPSERT_LATENCY_MANY: &str = "
    INSERT INTO rollup_latency (experiment, minute, arm, in_experiment, bucket, shard, n)
    SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bool[], $5::int[], $6::smallint[], $7::bigint[])
    ON CONFLICT (experiment, minute, arm, in_experiment, bucket, shard) DO UPDATE SET
        n = rollup_latency.n + excluded.n";

/// [`UPSERT_LATENCY_HOURS`] for arrays of rows (PostgreSQL).
pub const UPSERT_LATENCY_HOURS_MANY: &str = "
    INSERT INTO rollup_latency_hours (experiment, hour, arm, in_experiment, bucket, shard, n)
    SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bool[], $5::int[], $6::smallint[], $7::bigint[])
    ON CONFLICT (experiment, hour, arm, in_experiment, bucket, shard) DO UPDATE SET
        n = rollup_latency_hours.n + excluded.n";

/// [`UPSERT_CLIENT`] for arrays of rows (PostgreSQL).
pub const UPSERT_CLIENTS_MANY: &str = "
    INSERT INTO rollup_clients (experiment, arm, client_id, last_minute)
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[])
    ON CONFLICT (experiment, arm, client_id) DO UPDATE SET
        last_minute = GREATEST(rollup_clients.last_minute, excluded.last_minute)";

/// [`UPSERT_DRIFT`] for arrays of rows (PostgreSQL).
pub const UPSERT_DRIFT_MANY: &str = "
    INSERT INTO rollup_drift (experiment, model, hour, series, bin, shard, n)
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::int[], $5::int[], $6::smallint[], $7::bigint[])
    ON CONFLICT (experiment, model, hour, series, bin, shard) DO UPDATE SET
        n = rollup_drift.n + excluded.n";

/// The `_MANY` upserts of every rollup as one statement (PostgreSQL), each a data-modifying
/// `WITH` part with its placeholders shifted after the previous part's, in this order: arms,
/// latency, latency per hour, clients, labels, drift. A table with no rows gets empty arrays. One
/// round trip per transaction instead of one per table, and every transaction touches the tables
/// in the same order.
pub fn upsert_all_many() -> String {
    let parts = [
        UPSERT_ARMS_MANY,
        UPSERT_LATENCY_MANY,
        UPSERT_LATENCY_HOURS_MANY,
        UPSERT_CLIENTS_MANY,
        UPSERT_CONFUSION_MANY,
        UPSERT_DRIFT_MANY,
    ];
    let mut offset = 0;
    let mut with = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let (text, most) = shift_placeholders(part, offset);
        with.push(format!("part{i} AS ({text})"));
        offset = most;
    }
    format!("WITH {} SELECT 1", with.join(", "))
}

/// `sql` with every `$N` made `$(N + offset)`, and the highest placeholder it then has.
fn shift_placeholders(sql: &str, offset: usize) -> (String, usize) {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut most = offset;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        if let Ok(n) = digits.parse::<usize>() {
            most = most.max(n + offset);
            out.push_str(&(n + offset).to_string());
        } else {
            out.push_str(&digits);
        }
    }
    (out, most)
}

/// Per arm, model and in-experiment flag, the sums of an experiment's minutes from `$2`.
pub const AB_ARMS: &str = "
    SELECT arm, model, in_experiment, CAST(SUM(exposures) AS BIGINT), CAST(SUM(predictions) AS BIGINT),
        CAST(SUM(errors) AS BIGINT), CAST(SUM(fallbacks) AS BIGINT), CAST(SUM(confidence_n) AS BIGINT),
        SUM(confidence_sum), CAST(SUM(labelled) AS BIGINT), CAST(SUM(correct) AS BIGINT),
        CAST(SUM(numeric_n) AS BIGINT), SUM(abs_sum), SUM(sq_sum), SUM(truth_sum), SUM(truth_sq)
    FROM rollup_arms WHERE experiment = $1 AND minute >= $2
    GROUP BY arm, model, in_experiment";

/// The counts of one [`AB_ARMS`] row (its columns from the fourth on), read by the backend's
/// `int` and `real` column getters.
pub fn counts_of<E>(
    int: impl Fn(usize) -> Result<i64, E>,
    real: impl Fn(usize) -> Result<f64, E>,
) -> Result<crate::rollup::Counts, E> {
    let n = |i| int(i).map(|v| v as u64);
    Ok(crate::rollup::Counts {
        exposures: n(3)?,
        predictions: n(4)?,
        errors: n(5)?,
        fallbacks: n(6)?,
        confidence_n: n(7)?,
        confidence_sum: real(8)?,
        labelled: n(9)?,
        correct: n(10)?,
        numeric_n: n(11)?,
        abs_sum: real(12)?,
        sq_sum: real(13)?,
        truth_sum: real(14)?,
        truth_sq: real(15)?,
    })
}

/// Per arm, in-experiment flag and bucket, the latency counts of an experiment from the hour `$2`.
pub const AB_LATENCY: &str = "
    SELECT arm, in_experiment, bucket, CAST(SUM(n) AS BIGINT)
    FROM rollup_latency_hours WHERE experiment = $1 AND hour >= $2
    GROUP BY arm, in_experiment, bucket HAVING SUM(n) <> 0";

/// Distinct clients per arm seen from `$2`.
pub const AB_CLIENTS: &str = "
    SELECT arm, COUNT(*) FROM rollup_clients WHERE experiment = $1 AND last_minute >= $2 GROUP BY arm";

/// A model's drift counts from the hour `$3`.
pub const DRIFT: &str = "
    SELECT series, bin, CAST(SUM(n) AS BIGINT)
    FROM rollup_drift WHERE experiment = $1 AND model = $2 AND hour >= $3
    GROUP BY series, bin HAVING SUM(n) <> 0";

/// Every experiment and model with counts, and the minutes they span (`""` is the model of
/// exposures and fallbacks).
pub const EXPERIMENTS: &str = "
    SELECT experiment, model, MIN(minute), MAX(minute) FROM rollup_arms
    GROUP BY experiment, model ORDER BY experiment, model";

/// The first minute an experiment has counts for.
pub const FIRST_MINUTE: &str = "SELECT MIN(minute) FROM rollup_arms WHERE experiment = $1";

/// Shown predictions per bucket of `$3` minutes and arm, from `$2`.
pub const TIMELINE_COUNTS: &str = "
    SELECT (minute / $3) * $3 AS start, arm, CAST(SUM(predictions) AS BIGINT)
    FROM rollup_arms WHERE experiment = $1 AND minute >= $2
    GROUP BY start, arm HAVING SUM(predictions) > 0";

/// Latency counts per minute, arm, in-experiment flag and latency bucket from `$2`, each with
/// the start of its bucket of `$3` minutes: grouped in the primary key's order, so PostgreSQL
/// streams the groups off the index instead of hashing a day's ~650,000 rows (the rows of one
/// bucket and latency bucket are added up by [`crate::rollup::timeline_of`]). Summed as doubles
/// (exact to 2^53): a sum of BIGINTs is a NUMERIC, slower to add.
pub const TIMELINE_LATENCY: &str = "
    SELECT (minute / $3) * $3 AS start, arm, bucket, CAST(SUM(CAST(n AS DOUBLE PRECISION)) AS BIGINT)
    FROM rollup_latency WHERE experiment = $1 AND minute >= $2
    GROUP BY minute, arm, in_experiment, bucket HAVING SUM(CAST(n AS DOUBLE PRECISION)) <> 0";

/// [`TIMELINE_LATENCY`] from the hourly rows, for buckets of whole hours (`$3` a multiple of 60).
pub const TIMELINE_LATENCY_HOURS: &str = "
    SELECT (hour / $3) * $3 AS start, arm, bucket, CAST(SUM(n) AS BIGINT)
    FROM rollup_latency_hours WHERE experiment = $1 AND hour >= $2
    GROUP BY start, arm, bucket HAVING SUM(n) <> 0";

/// Deletes the rollup rows before the minute `$1` (an hour's first minute).
pub const PURGE_ROLLUPS: [&str; 6] = [
    "DELETE FROM rollup_arms WHERE minute < $1",
    "DELETE FROM rollup_confusion WHERE hour < $1",
    "DELETE FROM rollup_latency WHERE minute < $1",
    "DELETE FROM rollup_latency_hours WHERE hour < $1",
    "DELETE FROM rollup_drift WHERE hour < $1",
    "DELETE FROM rollup_clients WHERE last_minute < $1",
];

/// The joined outcomes made from `$1` on whose prediction was made before `$1` (a purge keeps
/// them and takes their joins away): outcome id, outcome body, prediction body.
pub const JOINS_ACROSS: &str = "
    SELECT CAST(o.id AS TEXT), o.body, p.body FROM events p
    JOIN events o ON o.prediction_id = p.id AND o.kind = 'outcome' AND o.pending = $2 AND o.time >= $1
    WHERE p.kind = 'prediction' AND p.time < $1";

/// The joined outcomes sent by others than the client `$1` for its predictions (a purge of the
/// client takes their joins away): outcome id, outcome body. `$2` is false.
pub const OTHERS_JOINED: &str = "
    SELECT CAST(o.id AS TEXT), o.body FROM events p
    JOIN events o ON o.prediction_id = p.id AND o.kind = 'outcome' AND o.pending = $2 AND o.client_id <> $1
    WHERE p.client_id = $1 AND p.kind = 'prediction'";

/// Empties every rollup (before a rebuild).
pub const CLEAR: &str = "
    DELETE FROM rollup_arms; DELETE FROM rollup_latency; DELETE FROM rollup_clients;
    DELETE FROM rollup_drift; DELETE FROM rollup_latency_hours; DELETE FROM rollup_confusion;";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_shift_by_the_offset_and_report_the_highest() {
        assert_eq!(
            shift_placeholders("SELECT $1, $10::int[], $2 WHERE x = '$'", 5),
            ("SELECT $6, $15::int[], $7 WHERE x = '$'".to_string(), 15)
        );
        assert_eq!(shift_placeholders("SELECT 1", 3), ("SELECT 1".to_string(), 3));
    }

    #[test]
    fn the_combined_upsert_numbers_every_table_s_parameters_in_turn() {
        let sql = upsert_all_many();
        let numbers: std::collections::BTreeSet<usize> = sql
            .split('$')
            .skip(1)
            .filter_map(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect();
        // arms 19, latency 7, latency per hour 7, clients 4, labels 9, drift 7
        assert_eq!(numbers, (1..=53).collect());
        for table in [
            "rollup_arms",
            "rollup_latency ",
            "rollup_latency_hours",
            "rollup_clients",
            "rollup_confusion",
            "rollup_drift",
        ] {
            assert!(sql.contains(&format!("INSERT INTO {table}")), "{table}");
        }
    }
}
