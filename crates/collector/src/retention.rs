//! Retention and forgetting, one way for the admin endpoint and the CLI: what a purge deletes and
//! what it answers.

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::experiment::Bundles;
use crate::rollup::{self, drift::observations_in};
use crate::serve::{parse_duration, window};
use crate::store::EventStore;

/// The instant `age` (`90d`, `12h`) ago.
pub fn cutoff(age: &str) -> Result<DateTime<Utc>> {
    Ok(Utc::now() - window(parse_duration(age)?))
}

/// Deletes the events made before the hour holding `before`: how many, and the first instant kept.
pub async fn purge_older<S: EventStore>(store: &S, before: DateTime<Utc>) -> Result<(u64, DateTime<Utc>)> {
    let deleted = store.purge_before(before).await?;
    Ok((deleted, rollup::start_of_minute(rollup::purge_cut(&before))))
}

/// Deletes every event of `client`, subtracting the drift bins the manifests under `bundles` give
/// them: how many.
pub async fn purge_client<S: EventStore>(store: &S, bundles: &Bundles, client: &str) -> Result<u64> {
    let bundles = bundles.clone();
    store
        .purge_client(client, Box::new(move |e| observations_in(&bundles, e)))
        .await
}
