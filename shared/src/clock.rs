//! Conversions between the two time types in use: chrono (database rows) and time (rcgen, DER).
//! Both truncate to whole seconds, the precision certificates, CRLs and OCSP carry.

use chrono::{DateTime, Utc};

pub fn to_time(t: DateTime<Utc>) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp()).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

pub fn from_time(t: time::OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.unix_timestamp(), 0).unwrap_or_default()
}
