//! IANA time zones: an account's and a profile's, and the local days an analytics report
//! groups its hours into. The zone database is built into the binary (jiff's bundled tzdb), so
//! every host reads the same days.
//! Must not: read the clock, or take a zone name that is not in the database.

use crate::error::FieldError;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// The longest zone name taken (the database's longest is some 30 characters).
const NAME_MAX: usize = 64;

/// A zone of the IANA database, by its name.
#[derive(Clone, Debug)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl Default for Zone {
    fn default() -> Self {
        Self::utc()
    }
}

impl Zone {
    pub fn utc() -> Self {
        Self {
            name: "UTC".into(),
            tz: TimeZone::UTC,
        }
    }

    /// A zone by its IANA name (`Europe/Paris`), `field` naming it in the error.
    pub fn parse(name: &str, field: &str) -> Result<Self, FieldError> {
        let unknown = || {
            FieldError::new(
                field,
                "must be an IANA time zone name, such as Europe/Paris or America/New_York",
            )
        };
        if name.is_empty() || name.len() > NAME_MAX {
            return Err(unknown());
        }
        let tz = TimeZone::get(name).map_err(|_| unknown())?;
        let name = tz.iana_name().unwrap_or(name).to_owned();
        Ok(Self { name, tz })
    }

    /// A name stored before (checked when it came in); UTC if it no longer reads.
    pub fn from_stored(name: &str) -> Self {
        Self::parse(name, "timeZone").unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_utc(&self) -> bool {
        self.name == "UTC"
    }

    /// `ms` as a `datetime-local` field shows it in this zone: `2026-12-06T18:30`.
    pub fn local_input(&self, ms: i64) -> String {
        Timestamp::from_millisecond(ms)
            .map(|t| {
                t.to_zoned(self.tz.clone())
                    .strftime("%Y-%m-%dT%H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    }

    /// `ms` as a person reads it in this zone: `6 Dec 2026, 18:30`.
    pub fn local_words(&self, ms: i64) -> String {
        Timestamp::from_millisecond(ms)
            .map(|t| {
                t.to_zoned(self.tz.clone())
                    .strftime("%-d %b %Y, %H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    }

    /// A `datetime-local` field's value (`2026-12-06T18:30`, seconds optional) read in this
    /// zone, as RFC 3339 with its offset; `None` when it is not such a value. A wall time the
    /// clocks skip or repeat takes the earlier reading.
    pub fn from_local_input(&self, value: &str) -> Option<String> {
        let civil: jiff::civil::DateTime = value.trim().parse().ok()?;
        let zoned = civil.to_zoned(self.tz.clone()).ok()?;
        Some(zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
    }

    /// The start of the local date `ms` is on (floored to the hour, as `day_start_ms`), even in
    /// the hour before an off-the-hour midnight, which `day_start_ms` counts for the next day:
    /// "today" as the person whose zone it is reads their clock.
    pub fn local_date_start_ms(&self, ms: i64) -> i64 {
        let hour = 3_600_000;
        let start = Timestamp::from_millisecond(ms)
            .ok()
            .and_then(|t| t.to_zoned(self.tz.clone()).start_of_day().ok())
            .map_or(ms, |z| z.timestamp().as_millisecond());
        start.div_euclid(hour) * hour
    }

    /// The start of the local day holding `ms` (ms since the epoch), floored to the whole
    /// hour: hours are the finest rollups kept for months, so a zone whose midnight is not on
    /// the hour (India's, at :30 UTC) has its days begin at the hour that midnight falls in.
    /// The hour that holds midnight counts for the day it opens, so an instant in that hour but
    /// before midnight is in the new day, and a day's start is its own start (idempotent).
    pub fn day_start_ms(&self, ms: i64) -> i64 {
        let hour = 3_600_000;
        // within an hour of the next local midnight: the next day, if its start is reached
        let next = self.local_date_start_ms(ms + hour);
        if next <= ms {
            next
        } else {
            self.local_date_start_ms(ms)
        }
    }

    /// The local day an hour rollup (starting at `hour_ms`) counts for: the day of its last
    /// millisecond, so that with midnight not on the hour the hour that holds midnight counts
    /// for the day it opens (as `day_start_ms` says days begin).
    pub fn day_of_hour_ms(&self, hour_ms: i64) -> i64 {
        self.day_start_ms(hour_ms + 3_599_999)
    }

    /// The start of the local day after the one holding `ms` (`day_start_ms` of the next day:
    /// 23 or 25 hours on when the clocks change).
    pub fn next_day_start_ms(&self, ms: i64) -> i64 {
        let start = self.day_start_ms(ms);
        // a day is 23 to 25 hours long: 26 hours on is within the next one
        let next = Timestamp::from_millisecond(start)
            .ok()
            .and_then(|t| t.checked_add(26.hours()).ok())
            .map_or(start + 86_400_000, Timestamp::as_millisecond);
        self.day_start_ms(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc: &str) -> i64 {
        rfc.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn names_are_those_of_the_database() {
        assert_eq!(
            Zone::parse("Europe/Paris", "tz").unwrap().name(),
            "Europe/Paris"
        );
        for bad in ["", "Mars/Olympus", "+01:00", &"A/".repeat(40)] {
            assert_eq!(
                Zone::parse(bad, "timeZone").unwrap_err().field,
                "timeZone",
                "{bad}"
            );
        }
        assert!(Zone::utc().is_utc());
        assert_eq!(Zone::from_stored("Nowhere/Else"), Zone::utc());
    }

    #[test]
    fn local_days_begin_at_local_midnight_and_last_as_long_as_the_clocks_say() {
        let paris = Zone::parse("Europe/Paris", "tz").unwrap();
        // 23:30 in Paris on 24 December is 22:30 UTC: that day began at 23:00 UTC the day before
        assert_eq!(
            paris.day_start_ms(ms("2026-12-24T22:30:00Z")),
            ms("2026-12-23T23:00:00Z")
        );
        // half an hour later it is the 25th there
        assert_eq!(
            paris.day_start_ms(ms("2026-12-24T23:00:00Z")),
            ms("2026-12-24T23:00:00Z")
        );
        // the day the clocks go forward is 23 hours long
        let spring = ms("2026-03-28T23:00:00Z");
        assert_eq!(paris.next_day_start_ms(spring) - spring, 23 * 3_600_000);
        let ny = Zone::parse("America/New_York", "tz").unwrap();
        assert_eq!(
            ny.day_start_ms(ms("2026-12-25T04:59:00Z")),
            ms("2026-12-24T05:00:00Z")
        );
        // India's midnight is at 18:30 UTC: its days begin at 18:00
        let india = Zone::parse("Asia/Kolkata", "tz").unwrap();
        assert_eq!(
            india.day_start_ms(ms("2026-12-24T19:00:00Z")),
            ms("2026-12-24T18:00:00Z")
        );
        // the hour from 18:00 UTC (23:30 to 00:30 there) counts for the day it opens; the
        // hour before for the day before
        assert_eq!(
            india.day_of_hour_ms(ms("2026-12-24T18:00:00Z")),
            ms("2026-12-24T18:00:00Z")
        );
        assert_eq!(
            india.day_of_hour_ms(ms("2026-12-24T17:00:00Z")),
            ms("2026-12-23T18:00:00Z")
        );
        assert_eq!(
            paris.day_of_hour_ms(ms("2026-12-24T22:00:00Z")),
            ms("2026-12-23T23:00:00Z")
        );
        assert_eq!(
            paris.day_of_hour_ms(ms("2026-12-24T23:00:00Z")),
            ms("2026-12-24T23:00:00Z")
        );
    }
    #[test]
    fn local_inputs_read_and_write_in_the_zone() {
        let paris = Zone::parse("Europe/Paris", "z").unwrap();
        let at = paris.from_local_input("2026-07-01T09:30").unwrap();
        assert_eq!(at, "2026-07-01T09:30:00+02:00");
        assert_eq!(
            paris.local_input(ms("2026-07-01T07:30:00Z")),
            "2026-07-01T09:30"
        );
        assert_eq!(
            paris.local_words(ms("2026-12-06T17:05:00Z")),
            "6 Dec 2026, 18:05"
        );
        assert_eq!(paris.from_local_input("soon"), None);
        assert_eq!(
            Zone::utc().from_local_input("2026-01-02T03:04:05").unwrap(),
            "2026-01-02T03:04:05+00:00"
        );
    }
    #[test]
    fn a_days_start_is_its_own_start_even_off_the_hour() {
        for name in [
            "Asia/Kolkata",
            "America/St_Johns",
            "Asia/Kathmandu",
            "Europe/Paris",
            "UTC",
        ] {
            let z = Zone::parse(name, "z").unwrap();
            let mut t = ms("2026-11-20T12:00:00Z");
            for _ in 0..40 {
                let start = z.day_start_ms(t);
                assert!(start <= t, "{name}");
                assert_eq!(z.day_start_ms(start), start, "{name}: idempotent");
                assert_eq!(
                    z.day_of_hour_ms(start),
                    start,
                    "{name}: the day's first hour is its own"
                );
                t += 3 * 3_600_000 + 7 * 60_000;
            }
        }
        // India: 23:45 on the 1st is in the hour that opens the 2nd
        let india = Zone::parse("Asia/Kolkata", "z").unwrap();
        assert_eq!(
            india.day_start_ms(ms("2026-12-01T18:15:00Z")),
            ms("2026-12-01T18:00:00Z")
        );
        assert_eq!(
            india.day_start_ms(ms("2026-12-01T17:59:00Z")),
            ms("2026-11-30T18:00:00Z")
        );
        // while a person there still reads the 1st on their clock
        assert_eq!(
            india.local_date_start_ms(ms("2026-12-01T18:15:00Z")),
            ms("2026-11-30T18:00:00Z")
        );
    }
}
