//! What analytics count and report: the classes an event falls into, the rollups a window of
//! events adds up to, and the report `GET /api/profiles/{profile}/analytics` answers. Pure data
//! and arithmetic; counting, storing and querying live elsewhere (linkleaf-events, the stores).
//!
//! Rollups are kept at three granularities. Clicks per link and views are kept per minute, hour
//! and day; referrers, countries, device classes and bot classes per hour and day. A report's
//! range is rounded out to its bucket (`from` down, `to` up).
//! Must not: read a clock, a store or the network.

use serde::{Deserialize, Serialize};
/// A hash map for counting: foldhash (fast, seeded per process, so keys a client chooses, such
/// as referring hosts, cannot be made to collide on purpose).
pub type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Who made a request, as far as its user agent tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BotClass {
    /// A browser, as far as can be told: counted as a person.
    Human,
    /// A search engine or other crawler.
    Crawler,
    /// A link preview fetcher (Slackbot, Twitterbot, facebookexternalhit, Discordbot...).
    LinkPreview,
    /// An uptime monitor, or a `HEAD` request (which no person's click makes).
    Monitor,
    /// No user agent, or one that names no browser (scripts, libraries).
    Unknown,
}

impl BotClass {
    pub const ALL: [Self; 5] = [
        Self::Human,
        Self::Crawler,
        Self::LinkPreview,
        Self::Monitor,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Human => "human",
            Self::Crawler => "crawler",
            Self::LinkPreview => "link_preview",
            Self::Monitor => "monitor",
            Self::Unknown => "unknown",
        }
    }

    pub fn is_human(self) -> bool {
        self == Self::Human
    }
}

/// What kind of device a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    Desktop,
    Mobile,
    Tablet,
    Bot,
    Other,
}

impl DeviceClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Desktop => "desktop",
            Self::Mobile => "mobile",
            Self::Tablet => "tablet",
            Self::Bot => "bot",
            Self::Other => "other",
        }
    }
}

/// How long a rollup bucket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Minute,
    Hour,
    Day,
}

impl Bucket {
    pub fn millis(self) -> i64 {
        match self {
            Self::Minute => 60_000,
            Self::Hour => 3_600_000,
            Self::Day => 86_400_000,
        }
    }

    /// The stored code of the granularity.
    pub fn code(self) -> i16 {
        match self {
            Self::Minute => 1,
            Self::Hour => 2,
            Self::Day => 3,
        }
    }

    /// The start of the bucket holding `at_ms`.
    pub fn floor(self, at_ms: i64) -> i64 {
        at_ms.div_euclid(self.millis()) * self.millis()
    }
}

/// What a rollup row counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Clicks on one link (value: the link id).
    Link,
    /// Clicks on all the profile's links (value: empty): the report's series reads one row per
    /// bucket instead of one per link.
    Clicks,
    /// Page views (value: empty).
    Views,
    /// Clicks by referring host (value: the host, or `(direct)`).
    Referrer,
    /// Clicks by country (value: ISO 3166-1 alpha-2, or `--`).
    Country,
    /// Clicks by device class.
    Device,
    /// Clicks by browser family (as uap-core names it, `Other` when none).
    Browser,
    /// Clicks by operating system (as uap-core names it, `Other` when none).
    Os,
    /// Clicks by bot class.
    Bot,
    /// Page views by source (value: `qr`, a `utm_source`, `(other)` or `(direct)`; see
    /// `view_source`).
    Source,
}

impl Dimension {
    /// A breakdown of clicks by a value the request brought (referrer, country, device,
    /// browser, system, bot class), as against the link, the series' clicks and views.
    pub fn is_breakdown(self) -> bool {
        !matches!(self, Self::Link | Self::Clicks | Self::Views)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::Clicks => "clicks",
            Self::Views => "views",
            Self::Referrer => "referrer",
            Self::Country => "country",
            Self::Device => "device",
            Self::Browser => "browser",
            Self::Os => "os",
            Self::Bot => "bot",
            Self::Source => "source",
        }
    }

    /// The granularities this dimension is kept at.
    pub fn buckets(self) -> &'static [Bucket] {
        match self {
            Self::Link | Self::Clicks | Self::Views => &[Bucket::Minute, Bucket::Hour, Bucket::Day],
            _ => &[Bucket::Hour, Bucket::Day],
        }
    }
}

/// One rollup row's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RollupKey {
    pub profile: Uuid,
    pub bucket: Bucket,
    pub start_ms: i64,
    pub dimension: Dimension,
    pub value: String,
}

/// What a rollup row adds up: events by people and by bots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub human: i64,
    pub bot: i64,
}

/// What one spool frame's events add up to (a frame is one queue message, identified by the
/// spool it comes from and its sequence number there).
#[derive(Debug, Clone, Default)]
pub struct FrameRollup {
    pub source: Uuid,
    pub seq: u64,
    pub events: u64,
    pub counts: Map<RollupKey, Counts>,
    /// Human clicks per link (for `clickCount`).
    pub link_clicks: Map<Uuid, i64>,
    /// Visitor hashes seen, per profile and day (day = days since the epoch).
    pub visitors: Map<(Uuid, i64), Vec<u64>>,
}

/// What committing a window did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowOutcome {
    /// Frames counted now.
    pub committed_frames: u64,
    pub committed_events: u64,
    /// Frames already counted by an earlier commit (redelivered): skipped.
    pub duplicate_frames: u64,
    pub duplicate_events: u64,
}

/// The query of `GET /api/profiles/{profile}/analytics`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsParams {
    /// Start of the range (RFC 3339); default: 7 days before `to`. Rounded down to the bucket.
    /// A range longer than its bucket's rollups are kept is shortened to the part that is kept,
    /// counted back from now (or from `to` when it is in the past), never to a range wholly in
    /// the future: the answer's `from` says where it starts, and `shortened` that it was.
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub from: Option<OffsetDateTime>,
    /// End of the range, exclusive (RFC 3339); default: now. Rounded up to the bucket.
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub to: Option<OffsetDateTime>,
    /// The time series' bucket (default `day`). Minute buckets cover at most the last 2 days
    /// of the range, hour buckets 90, day buckets 10 years.
    #[serde(default)]
    pub bucket: Option<Bucket>,
    /// The IANA time zone whose days the `day` buckets are (default: the profile's zone). Local
    /// days are regrouped from hour rollups, which are kept 90 days: a range beginning before
    /// that is in UTC days, and the answer's `timeZone` says which. Hour and minute buckets are
    /// instants whatever the zone.
    #[serde(default, rename = "timeZone")]
    #[param(rename = "timeZone", example = "Europe/Paris")]
    pub time_zone: Option<String>,
}

/// A resolved analytics query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsQuery {
    pub from_ms: i64,
    pub to_ms: i64,
    pub bucket: Bucket,
    /// The range asked for began before what this granularity's rollups keep, and was
    /// shortened (see `resolve`).
    pub shortened: bool,
    /// Day buckets that are the local days of this zone (from hours; `None`: UTC days).
    pub zone: Option<crate::zone::Zone>,
}

/// Totals over the range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub clicks: i64,
    pub human_clicks: i64,
    pub bot_clicks: i64,
    pub views: i64,
    /// Page views by people (not robots): what a click-through rate is taken over.
    pub human_views: i64,
    /// Distinct visitors per day, added over the days (a visitor on two days counts twice:
    /// visitors are told apart only within a day, by a salt each UTC day has). The days are
    /// the UTC days the range touches, whatever `timeZone` says. Exact up to 256 a day, then estimated
    /// within about 2%.
    pub unique_visitors: i64,
}

/// One link's clicks over the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkClicks {
    pub link_id: Uuid,
    pub clicks: i64,
    pub human_clicks: i64,
    pub bot_clicks: i64,
}

/// One bucket of the time series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeriesPoint {
    /// The bucket's start.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub start: OffsetDateTime,
    pub clicks: i64,
    pub human_clicks: i64,
    pub views: i64,
}

/// One value of a breakdown (a referring host, a country, a device class, a bot class).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Share {
    pub value: String,
    pub clicks: i64,
    pub human_clicks: i64,
}

/// One source of page views.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceShare {
    /// `qr` (the page's QR code), a `utm_source` the page's address carried, `(other)` for a
    /// `utm_source` that is not a plain word, `(direct)` for neither.
    pub value: String,
    pub views: i64,
    pub human_views: i64,
}

/// The longest `utm_source` kept as a source (longer ones count as `(other)`).
pub const SOURCE_MAX: usize = 32;

/// Where a page view came from, by its address's query string: `qr` for `src=qr` (the page's
/// QR code, whatever else is there); else its `utm_source`, lowercased, when it is a plain word
/// (letters, digits, `.`, `_`, `-`, at most `SOURCE_MAX`), `(other)` when it is not; `None`
/// without either. The values are few and short by construction, and each profile keeps its
/// most counted ones only (`BREAKDOWN_VALUES_MAX` in the store), so made-up sources cannot grow
/// the rollups.
pub fn view_source(query: &str) -> Option<std::borrow::Cow<'static, str>> {
    let mut utm = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "src" && v == "qr" {
            return Some("qr".into());
        }
        if k == "utm_source" && utm.is_none() {
            let plain = !v.is_empty()
                && v.len() <= SOURCE_MAX
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            utm = Some(if plain {
                v.to_ascii_lowercase().into()
            } else {
                "(other)".into()
            });
        }
    }
    utm
}

/// What `GET /api/profiles/{profile}/analytics` answers: counted from rollups, never from raw
/// events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsReport {
    pub profile_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub to: OffsetDateTime,
    pub bucket: Bucket,
    /// `true` when the range asked for reached further back than this granularity's rollups
    /// are kept (by minute 2 days, by hour 90, by day 3,660 counted back from now, or from `to`
    /// when it is in the past): `from` says where the answer starts.
    pub shortened: bool,
    pub totals: Totals,
    pub links: Vec<LinkClicks>,
    pub series: Vec<SeriesPoint>,
    /// Top referring hosts (`(direct)`: none sent), most clicks first.
    pub referrers: Vec<Share>,
    /// Top countries (`--`: unknown), most clicks first.
    pub countries: Vec<Share>,
    pub devices: Vec<Share>,
    /// Top browser families, most clicks first.
    pub browsers: Vec<Share>,
    /// Top operating systems, most clicks first.
    pub operating_systems: Vec<Share>,
    pub bot_classes: Vec<Share>,
    /// Where page views came from (`qr`, `utm_source` values, `(direct)`), most views first.
    pub sources: Vec<SourceShare>,
    /// The zone whose local days the `day` buckets (and the range's ends) are: the one asked
    /// for, or the profile's; `UTC` when the range begins before the hours local days are
    /// made of are kept (90 days), or for hour and minute buckets.
    #[schema(example = "Europe/Paris")]
    pub time_zone: String,
}

/// How many values a breakdown lists at most.
pub const TOP: usize = 10;

impl AnalyticsQuery {
    /// The query for `params` at `now`: defaults filled, rounded out to the bucket, and checked
    /// against what the rollups keep. Errors name the parameter.
    ///
    /// Day buckets in a zone other than UTC are its local days, from the local midnight at or
    /// before `from` to the one at or after `to`, when the hours they are made of are kept
    /// (from 90 days back); else, and for hours and minutes, UTC as below.
    pub fn resolve(
        params: &AnalyticsParams,
        now: OffsetDateTime,
        default_zone: &crate::zone::Zone,
    ) -> Result<Self, crate::ValidationErrors> {
        let zone = match &params.time_zone {
            Some(name) => {
                crate::zone::Zone::parse(name, "timeZone").map_err(crate::ValidationErrors::from)?
            }
            None => default_zone.clone(),
        };
        let mut utc = Self::resolve_utc(params, now)?;
        if utc.bucket != Bucket::Day || zone.is_utc() {
            return Ok(utc);
        }
        let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
        let to = params.to.map_or(ms(now), ms);
        let from = params.from.map_or(to - 7 * Bucket::Day.millis(), ms);
        let from_ms = zone.day_start_ms(from);
        let to_ms = if from == to {
            // an empty range here too
            from_ms
        } else {
            let d = zone.day_start_ms(to);
            if d == to {
                d
            } else {
                zone.next_day_start_ms(to)
            }
        };
        // the hours a local day is made of are kept for 90 days back from now
        let hours_from = Bucket::Hour.floor(ms(now)) - 90 * Bucket::Day.millis();
        if from_ms >= hours_from {
            utc.from_ms = from_ms;
            utc.to_ms = to_ms;
            utc.shortened = false;
            utc.zone = Some(zone);
        }
        Ok(utc)
    }

    /// `resolve` in UTC.
    fn resolve_utc(
        params: &AnalyticsParams,
        now: OffsetDateTime,
    ) -> Result<Self, crate::ValidationErrors> {
        let bucket = params.bucket.unwrap_or(Bucket::Day);
        let to = params.to.unwrap_or(now);
        let from = params.from.unwrap_or(to - time::Duration::days(7));
        // from == to is an empty range: an answer of zeros
        if to < from {
            return Err(crate::ValidationErrors::single(
                "to",
                "must not be earlier than from",
            ));
        }
        let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
        let (from_ms, to_ms) = (bucket.floor(ms(from)), {
            let t = ms(to);
            let f = bucket.floor(t);
            if f == t { t } else { f + bucket.millis() }
        });
        // empty wherever it falls, not the bucket around it
        let to_ms = if from == to { from_ms } else { to_ms };
        // what the rollups keep at this granularity, counted back from now (or from `to` when
        // it is in the past): a range reaching further back is shortened at its start (the
        // answer's `from` says where it starts, `shortened` that it was), never to a range
        // wholly in the future
        let most = match bucket {
            Bucket::Minute => 2 * Bucket::Day.millis(),
            Bucket::Hour => 90 * Bucket::Day.millis(),
            Bucket::Day => 3660 * Bucket::Day.millis(),
        };
        let anchor = {
            let n = ms(now);
            let f = bucket.floor(n);
            to_ms.min(if f == n { n } else { f + bucket.millis() })
        };
        let earliest = anchor - most;
        Ok(Self {
            from_ms: from_ms.max(earliest),
            to_ms,
            bucket,
            shortened: from_ms < earliest,
            zone: None,
        })
    }

    /// The granularity the series is read at: hours for local days (regrouped), else its own.
    pub fn series_bucket(&self) -> Bucket {
        if self.zone.is_some() {
            Bucket::Hour
        } else {
            self.bucket
        }
    }

    /// The granularity the breakdowns (referrers, countries...) are read at: days when the
    /// series is by UTC day, else hours.
    pub fn breakdown_bucket(&self) -> Bucket {
        if self.bucket == Bucket::Day && self.zone.is_none() {
            Bucket::Day
        } else {
            Bucket::Hour
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::Zone;

    #[test]
    fn a_views_source_is_qr_a_plain_utm_source_or_other() {
        let src = |q: &str| view_source(q).map(|s| s.into_owned());
        assert_eq!(src("src=qr").as_deref(), Some("qr"));
        assert_eq!(src("utm_source=IG&src=qr").as_deref(), Some("qr"));
        assert_eq!(src("utm_source=Instagram").as_deref(), Some("instagram"));
        assert_eq!(
            src("a=1&utm_source=news-letter_2.0").as_deref(),
            Some("news-letter_2.0")
        );
        for other in [
            "utm_source=%3Cscript%3E",
            "utm_source=a+b",
            &format!("utm_source={}", "x".repeat(33)),
        ] {
            assert_eq!(src(other).as_deref(), Some("(other)"), "{other}");
        }
        for none in ["", "src=email", "utm_medium=social", "utm_source=", "src"] {
            assert_eq!(
                src(none),
                if none == "utm_source=" {
                    Some("(other)".into())
                } else {
                    None
                },
                "{none}"
            );
        }
    }
    use time::macros::datetime;

    fn params(
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
        b: Option<Bucket>,
    ) -> AnalyticsParams {
        AnalyticsParams {
            from,
            to,
            bucket: b,
            time_zone: None,
        }
    }

    #[test]
    fn day_buckets_in_a_zone_are_its_local_days_while_their_hours_are_kept() {
        let now = datetime!(2026-12-06 12:00 UTC);
        let paris = Zone::parse("Europe/Paris", "tz").unwrap();
        let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
        let mut p = params(
            Some(datetime!(2026-12-01 10:00 UTC)),
            Some(datetime!(2026-12-03 10:00 UTC)),
            None,
        );
        // the profile's zone, by default
        let q = AnalyticsQuery::resolve(&p, now, &paris).unwrap();
        assert_eq!(q.from_ms, ms(datetime!(2026-11-30 23:00 UTC)));
        assert_eq!(q.to_ms, ms(datetime!(2026-12-03 23:00 UTC)));
        assert_eq!(q.zone.as_ref().map(Zone::name), Some("Europe/Paris"));
        assert_eq!(q.series_bucket(), Bucket::Hour);
        // named in the query, over the default
        p.time_zone = Some("America/New_York".into());
        let q = AnalyticsQuery::resolve(&p, now, &paris).unwrap();
        assert_eq!(q.from_ms, ms(datetime!(2026-12-01 05:00 UTC)));
        // UTC: UTC days, as before
        p.time_zone = Some("UTC".into());
        let q = AnalyticsQuery::resolve(&p, now, &paris).unwrap();
        assert_eq!(
            (q.from_ms, q.zone),
            (ms(datetime!(2026-12-01 0:00 UTC)), None)
        );
        // a range beginning before the hours are kept: UTC days, and the answer says so
        p.time_zone = None;
        p.from = Some(datetime!(2026-08-01 10:00 UTC));
        let q = AnalyticsQuery::resolve(&p, now, &paris).unwrap();
        assert_eq!(
            (q.from_ms, q.zone),
            (ms(datetime!(2026-08-01 0:00 UTC)), None)
        );
        // hours are instants whatever the zone
        p.from = Some(datetime!(2026-12-01 10:30 UTC));
        p.bucket = Some(Bucket::Hour);
        let q = AnalyticsQuery::resolve(&p, now, &paris).unwrap();
        assert_eq!(
            (q.from_ms, q.zone),
            (ms(datetime!(2026-12-01 10:00 UTC)), None)
        );
        p.time_zone = Some("Paris".into());
        let e = AnalyticsQuery::resolve(&p, now, &paris).unwrap_err();
        assert_eq!(e.0[0].field, "timeZone");
        // from = to is empty wherever it falls, in a zone or not
        for zone in [&paris, &Zone::utc()] {
            let t = Some(datetime!(2026-12-01 12:00 UTC));
            let q = AnalyticsQuery::resolve(&params(t, t, None), now, zone).unwrap();
            assert_eq!(q.from_ms, q.to_ms, "{}", zone.name());
        }
    }

    #[test]
    fn ranges_are_rounded_out_to_the_bucket_and_bounded() {
        let now = datetime!(2026-11-25 14:37:10 UTC);
        let q = AnalyticsQuery::resolve(&params(None, None, None), now, &Zone::utc()).unwrap();
        assert_eq!(q.bucket, Bucket::Day);
        assert_eq!(q.to_ms % Bucket::Day.millis(), 0, "rounded up to a day");
        assert_eq!((q.to_ms - q.from_ms) / Bucket::Day.millis(), 8);
        let q = AnalyticsQuery::resolve(
            &params(
                Some(datetime!(2026-11-25 10:00:30 UTC)),
                Some(datetime!(2026-11-25 10:05:00 UTC)),
                Some(Bucket::Minute),
            ),
            now,
            &Zone::utc(),
        )
        .unwrap();
        assert_eq!((q.to_ms - q.from_ms) / 60_000, 5);
        assert_eq!(q.breakdown_bucket(), Bucket::Hour);
        // a month by the minute: its last 2 days
        let q = AnalyticsQuery::resolve(
            &params(
                Some(datetime!(2026-11-01 0:00 UTC)),
                None,
                Some(Bucket::Minute),
            ),
            now,
            &Zone::utc(),
        )
        .unwrap();
        assert_eq!(q.to_ms - q.from_ms, 2 * Bucket::Day.millis());
        assert!(q.shortened);
        let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
        // a century by day: shortened from now, never to a range wholly in the future
        let q = AnalyticsQuery::resolve(
            &params(
                Some(datetime!(2000-01-01 0:00 UTC)),
                Some(datetime!(2100-01-01 0:00 UTC)),
                None,
            ),
            now,
            &Zone::utc(),
        )
        .unwrap();
        assert!(q.shortened);
        assert_eq!(q.to_ms, ms(datetime!(2100-01-01 0:00 UTC)));
        assert_eq!(
            q.from_ms,
            ms(datetime!(2026-11-26 0:00 UTC)) - 3660 * Bucket::Day.millis()
        );
        assert!(q.from_ms < ms(now), "the range holds the past");
        // a range wholly in the past is shortened from its own end
        let q = AnalyticsQuery::resolve(
            &params(
                Some(datetime!(2010-01-01 0:00 UTC)),
                Some(datetime!(2020-06-01 0:00 UTC)),
                Some(Bucket::Hour),
            ),
            now,
            &Zone::utc(),
        )
        .unwrap();
        assert_eq!(q.to_ms - q.from_ms, 90 * Bucket::Day.millis());
        // one that fits is left alone
        let q = AnalyticsQuery::resolve(
            &params(
                Some(datetime!(2026-11-01 0:00 UTC)),
                None,
                Some(Bucket::Hour),
            ),
            now,
            &Zone::utc(),
        )
        .unwrap();
        assert!(!q.shortened);
        // from == to: an empty range, not an error
        let q = AnalyticsQuery::resolve(
            &params(
                Some(datetime!(2026-11-01 0:00 UTC)),
                Some(datetime!(2026-11-01 0:00 UTC)),
                None,
            ),
            now,
            &Zone::utc(),
        )
        .unwrap();
        assert_eq!(q.from_ms, q.to_ms);
        let e = AnalyticsQuery::resolve(
            &params(Some(now), Some(now - time::Duration::hours(1)), None),
            now,
            &Zone::utc(),
        )
        .unwrap_err();
        assert_eq!(e.0[0].field, "to");
    }

    #[test]
    fn buckets_floor_before_the_epoch_too() {
        assert_eq!(Bucket::Minute.floor(-1), -60_000);
        assert_eq!(Bucket::Hour.floor(3_600_001), 3_600_000);
    }
}
