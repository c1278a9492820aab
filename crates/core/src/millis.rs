//! How every timing of the workspace's records is written (a variation's
//! here, a manifest's and a results line's in the store and batch crates):
//! serde helpers for `#[serde(with = "variegate_core::millis")]`, a
//! [`Duration`] as milliseconds (`f64`, to the microsecond).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Writes `duration` as milliseconds, rounded to the microsecond.
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((duration.as_secs_f64() * 1e6).round() / 1e3)
}

/// Reads milliseconds back; negative or non-finite values read as zero.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let millis = f64::deserialize(deserializer)?;
    Ok(Duration::try_from_secs_f64(millis / 1e3).unwrap_or_default())
}
