//! Timestamps are kept as microseconds since the Unix epoch: exact, totally
//! ordered, and stored the same way in SQLite and PostgreSQL.

use std::fmt;
use time::OffsetDateTime;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }
    pub fn from_micros(us: i64) -> Self {
        Self(us)
    }
    pub fn as_micros(self) -> i64 {
        self.0
    }
    /// Now, but strictly after `prev`: a record's `updated_at` moves
    /// forward on every write even within one microsecond or across a
    /// clock step back, so it can serve as the write's compare-and-set
    /// token and ETag.
    pub fn after(prev: Timestamp) -> Self {
        Self::now().max(Self(prev.0 + 1))
    }
    pub fn from_datetime(dt: OffsetDateTime) -> Self {
        Self((dt.unix_timestamp_nanos() / 1_000) as i64)
    }
    pub fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
    /// RFC 3339 in UTC with millisecond precision, the form the Keycard API uses
    /// (`2019-12-27T18:11:19.117Z`).
    pub fn to_rfc3339(self) -> String {
        let dt = self.to_datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            dt.month() as u8,
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.millisecond()
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_keycard_api() {
        let t = Timestamp::from_micros(1_577_470_279_117_456);
        assert_eq!(t.to_rfc3339(), "2019-12-27T18:11:19.117Z");
    }
}
