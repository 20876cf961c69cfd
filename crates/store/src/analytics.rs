//! The analytics store: rollups only (raw events live in the spool and the queue, never here),
//! in their own tables of the same database as the profiles.
//!
//! A window of frames is committed in one transaction together with the identities of the
//! frames it counted (ranges of sequence numbers per spool), so a frame delivered again is
//! recognised and adds nothing: counted exactly once, whatever the queue does. Each backend
//! writes the rows; what is counted and how ranges are kept is decided here, once.

use crate::error::Result;
use async_trait::async_trait;
use linkleaf_domain::analytics::Map;
use linkleaf_domain::analytics::{
    AnalyticsQuery, AnalyticsReport, Bucket, Counts, FrameRollup, LinkClicks, RollupKey,
    SeriesPoint, Share, SourceShare, TOP, Totals, WindowOutcome,
};
use linkleaf_domain::sketch::Sketch;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// How long rollups of each granularity are kept, and how long counted frames are remembered
/// (longer than any redelivery can come late).
pub const KEEP_MINUTES_MS: i64 = 2 * 86_400_000;
pub const KEEP_HOURS_MS: i64 = 92 * 86_400_000;
pub const KEEP_FRAMES_MS: i64 = 7 * 86_400_000;

/// The values a breakdown (referrer, country, device, browser, system, bot class) keeps per
/// profile, granularity and bucket: the ones counted most. The rest are added up under
/// `OTHER`, so made-up referrers (anyone can send any) cannot grow the rollups without end.
pub const BREAKDOWN_VALUES_MAX: i64 = 50;
/// Where a breakdown's values past `BREAKDOWN_VALUES_MAX` are counted.
pub const OTHER: &str = "(other)";
/// The breakdowns' dimensions, as stored.
pub(crate) const BREAKDOWNS: &str =
    "'referrer', 'country', 'device', 'browser', 'os', 'bot', 'source'";

#[async_trait]
pub trait AnalyticsStore: Send + Sync + 'static {
    /// Brings the schema up to date (the same migrations as the profile store's).
    async fn ping_analytics(&self) -> Result<()>;
    /// Adds up the frames not counted before, with their identities, in one transaction; a
    /// frame counted before adds nothing. Each link's human clicks go to its `clickCount`.
    /// The frames are owned, so adding them up can leave the runtime's thread.
    async fn commit_window(&self, frames: Arc<Vec<FrameRollup>>) -> Result<WindowOutcome>;
    /// The report for a profile over a resolved range.
    async fn report(&self, profile: Uuid, q: &AnalyticsQuery) -> Result<AnalyticsReport>;
    /// The salt of visitor hashes for `day` (days since the epoch), made now if there is none.
    async fn salt(&self, day: i64) -> Result<[u8; 16]>;
    /// Drops the salts of days before `day` (a salt is never kept past its day).
    async fn forget_salts_before(&self, day: i64) -> Result<u64>;
    /// Drops rollups and frame records older than they are kept.
    async fn prune(&self, now_ms: i64) -> Result<u64>;
}

/// Frames counted before, by source: ranges of sequence numbers.
pub(crate) type Counted = HashMap<Uuid, Vec<(u64, u64)>>;

/// What the fresh frames of a window add up to.
#[derive(Default)]
pub(crate) struct Merged {
    pub counts: Map<RollupKey, Counts>,
    pub link_clicks: Map<Uuid, i64>,
    pub visitors: Map<(Uuid, i64), Sketch>,
    /// The fresh frames' sequence numbers, by source, as ranges.
    pub ranges: HashMap<Uuid, Vec<(u64, u64)>>,
    pub outcome: WindowOutcome,
}

/// The range of sequence numbers of each source in `frames` (to look up what was counted).
pub(crate) fn spans(frames: &[FrameRollup]) -> HashMap<Uuid, (u64, u64)> {
    let mut s: HashMap<Uuid, (u64, u64)> = HashMap::new();
    for f in frames {
        let e = s.entry(f.source).or_insert((f.seq, f.seq));
        e.0 = e.0.min(f.seq);
        e.1 = e.1.max(f.seq);
    }
    s
}

/// `merge`, on a blocking thread: a window can hold a hundred thousand frames, and adding them
/// up on the runtime's thread held every request on it for tens of milliseconds
/// (BENCHMARKS.md).
pub(crate) async fn merge_aside(frames: Arc<Vec<FrameRollup>>, counted: Counted) -> Result<Merged> {
    tokio::task::spawn_blocking(move || merge(&frames, &counted))
        .await
        .map_err(|e| crate::error::StoreError::Other(format!("adding up a window: {e}")))
}

/// Adds up the frames of `frames` that `counted` does not cover (and each only once, should a
/// window hold a frame twice).
pub(crate) fn merge(frames: &[FrameRollup], counted: &Counted) -> Merged {
    let mut m = Merged::default();
    let mut seen: Map<Uuid, Vec<u64>> = Map::default();
    let mut taken: std::collections::HashSet<(Uuid, u64), foldhash::fast::RandomState> =
        Default::default();
    for f in frames {
        let covered = counted
            .get(&f.source)
            .is_some_and(|r| r.iter().any(|(a, b)| (*a..=*b).contains(&f.seq)));
        if covered || !taken.insert((f.source, f.seq)) {
            m.outcome.duplicate_frames += 1;
            m.outcome.duplicate_events += f.events;
            continue;
        }
        seen.entry(f.source).or_default().push(f.seq);
        m.outcome.committed_frames += 1;
        m.outcome.committed_events += f.events;
        for (k, c) in &f.counts {
            // most keys recur from frame to frame: look up before cloning one
            match m.counts.get_mut(k) {
                Some(e) => {
                    e.human += c.human;
                    e.bot += c.bot;
                }
                None => {
                    m.counts.insert(k.clone(), *c);
                }
            }
        }
        for (l, n) in &f.link_clicks {
            *m.link_clicks.entry(*l).or_default() += n;
        }
        for (k, hashes) in &f.visitors {
            let s = m.visitors.entry(*k).or_default();
            hashes.iter().for_each(|h| s.insert(*h));
        }
    }
    for (source, mut seqs) in seen {
        seqs.sort_unstable();
        m.ranges.insert(source, runs(&seqs));
    }
    m
}

/// Sorted numbers as runs of consecutive ones.
pub(crate) fn runs(sorted: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &n in sorted {
        match out.last_mut() {
            Some((_, b)) if *b + 1 == n => *b = n,
            _ => out.push((n, n)),
        }
    }
    out
}

/// A rollup row as read back.
pub(crate) struct RollupRow {
    pub bucket: i64,
    pub dimension: String,
    pub value: String,
    pub human: i64,
    pub bot: i64,
}

fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn top(mut shares: Vec<Share>) -> Vec<Share> {
    shares.sort_by(|a, b| b.clicks.cmp(&a.clicks).then_with(|| a.value.cmp(&b.value)));
    shares.truncate(TOP);
    shares
}

/// The report's reads, summed by the database and taken from the coarsest rollups that fit: a
/// month by hour for a busy profile is some 50,000 hour rows of links and breakdowns, which took
/// 160 ms to read (BENCHMARKS.md); its whole days' day rows and the edges' hour rows are a few
/// thousand, and the sums a few hundred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReportPart {
    /// Clicks (all links) and views per bucket of the query's granularity.
    Series,
    /// Each link's clicks over the range.
    Links,
    /// Referrers, countries, devices, browsers, systems and bot classes over the range (kept by the hour at the
    /// finest: a range by the minute is read at its hours).
    Breakdowns,
}

/// A range of buckets of one granularity: rows with `from <= bucket < to`.
pub(crate) type Piece = (Bucket, i64, i64);

/// `[from, to)` covered by whole buckets of the coarsest granularity that fits, then the finer
/// ones at the edges, down to `finest` (whose piece takes rows whose start is in the range).
pub(crate) fn cover(from: i64, to: i64, levels: &[Bucket], out: &mut Vec<Piece>) {
    let Some((&b, finer)) = levels.split_first() else {
        return;
    };
    if from >= to {
        return;
    }
    if finer.is_empty() {
        out.push((b, from, to));
        return;
    }
    let lo = {
        let f = b.floor(from);
        if f == from { f } else { f + b.millis() }
    };
    let hi = b.floor(to);
    if lo >= hi {
        cover(from, to, finer, out);
        return;
    }
    cover(from, lo, finer, out);
    out.push((b, lo, hi));
    cover(hi, to, finer, out);
}

impl ReportPart {
    pub(crate) const ALL: [Self; 3] = [Self::Series, Self::Links, Self::Breakdowns];

    /// The pieces this part reads for `q`.
    pub(crate) fn pieces(self, q: &AnalyticsQuery) -> Vec<Piece> {
        let mut out = Vec::new();
        match self {
            Self::Series => out.push((q.series_bucket(), q.from_ms, q.to_ms)),
            Self::Links | Self::Breakdowns => {
                let finest = if self == Self::Links {
                    q.series_bucket()
                } else {
                    q.breakdown_bucket()
                };
                let levels: Vec<Bucket> = [Bucket::Day, Bucket::Hour, Bucket::Minute]
                    .into_iter()
                    .filter(|b| b.millis() >= finest.millis())
                    .collect();
                cover(q.from_ms, q.to_ms, &levels, &mut out);
            }
        }
        out
    }

    /// The statement for `pieces`, with `$1` the profile and then granularity, from and to of
    /// each piece (SQLite reads `$n` as `?n`: see `sqlite_params`). Only constants and numbers
    /// go into it. `CAST` because PostgreSQL's `sum(bigint)` is `numeric`.
    pub(crate) fn sql(self, pieces: usize) -> String {
        let (select, dims, group) = match self {
            Self::Series => (
                "bucket, dimension, '' AS value",
                "'clicks', 'views'",
                "bucket, dimension",
            ),
            Self::Links => (
                "CAST(0 AS BIGINT) AS bucket, dimension, value",
                "'link'",
                "dimension, value",
            ),
            Self::Breakdowns => (
                "CAST(0 AS BIGINT) AS bucket, dimension, value",
                BREAKDOWNS,
                "dimension, value",
            ),
        };
        let ranges: Vec<String> = (0..pieces)
            .map(|i| {
                let n = 2 + 3 * i;
                format!(
                    "(granularity = ${n} AND bucket >= ${} AND bucket < ${})",
                    n + 1,
                    n + 2
                )
            })
            .collect();
        let ranges = if ranges.is_empty() {
            "FALSE".to_owned()
        } else {
            ranges.join(" OR ")
        };
        format!(
            "SELECT {select}, CAST(sum(human) AS BIGINT) AS human, CAST(sum(bot) AS BIGINT) AS bot
             FROM analytics_rollups
             WHERE profile_id = $1 AND dimension IN ({dims}) AND ({ranges})
             GROUP BY {group}"
        )
    }
}

/// The report from the clicks and views summed per bucket of the series' granularity, each
/// link's sums, the breakdowns' sums, and the days' visitor sketches.
pub(crate) fn assemble(
    profile: Uuid,
    q: &AnalyticsQuery,
    series_rows: Vec<RollupRow>,
    link_rows: Vec<RollupRow>,
    breakdown_rows: Vec<RollupRow>,
    sketches: Vec<Vec<u8>>,
) -> AnalyticsReport {
    let mut totals = Totals::default();
    let mut links: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut series: BTreeMap<i64, SeriesPoint> = BTreeMap::new();
    for r in &series_rows {
        // local days are their hours regrouped
        let start = q
            .zone
            .as_ref()
            .map_or(r.bucket, |z| z.day_of_hour_ms(r.bucket));
        let p = series.entry(start).or_insert_with(|| SeriesPoint {
            start: at(start),
            clicks: 0,
            human_clicks: 0,
            views: 0,
        });
        match r.dimension.as_str() {
            "clicks" => {
                totals.clicks += r.human + r.bot;
                totals.human_clicks += r.human;
                totals.bot_clicks += r.bot;
                p.clicks += r.human + r.bot;
                p.human_clicks += r.human;
            }
            "views" => {
                totals.views += r.human + r.bot;
                totals.human_views += r.human;
                p.views += r.human + r.bot;
            }
            _ => {}
        }
    }
    for r in &link_rows {
        let l = links.entry(r.value.clone()).or_default();
        l.0 += r.human;
        l.1 += r.bot;
    }
    let mut breakdowns: HashMap<String, BTreeMap<String, (i64, i64)>> = HashMap::new();
    for r in &breakdown_rows {
        let e = breakdowns
            .entry(r.dimension.clone())
            .or_default()
            .entry(r.value.clone())
            .or_default();
        e.0 += r.human;
        e.1 += r.bot;
    }
    let shares = |dim: &str| {
        top(breakdowns
            .get(dim)
            .map(|m| {
                m.iter()
                    .map(|(v, (h, b))| Share {
                        value: v.clone(),
                        clicks: h + b,
                        human_clicks: *h,
                    })
                    .collect()
            })
            .unwrap_or_default())
    };
    totals.unique_visitors = sketches
        .iter()
        .filter_map(|b| Sketch::from_bytes(b).ok())
        .map(|s| s.count() as i64)
        .sum();
    let mut links: Vec<LinkClicks> = links
        .into_iter()
        .filter_map(|(id, (h, b))| {
            Some(LinkClicks {
                link_id: Uuid::try_parse(&id).ok()?,
                clicks: h + b,
                human_clicks: h,
                bot_clicks: b,
            })
        })
        .collect();
    links.sort_by(|a, b| b.clicks.cmp(&a.clicks).then(a.link_id.cmp(&b.link_id)));
    AnalyticsReport {
        profile_id: profile,
        from: at(q.from_ms),
        to: at(q.to_ms),
        bucket: q.bucket,
        shortened: q.shortened,
        totals,
        links,
        series: series.into_values().collect(),
        referrers: shares("referrer"),
        countries: shares("country"),
        devices: shares("device"),
        browsers: shares("browser"),
        operating_systems: shares("os"),
        bot_classes: shares("bot"),
        time_zone: q
            .zone
            .as_ref()
            .map_or("UTC", linkleaf_domain::zone::Zone::name)
            .to_owned(),
        sources: shares("source")
            .into_iter()
            .map(|s| SourceShare {
                value: s.value,
                views: s.clicks,
                human_views: s.human_clicks,
            })
            .collect(),
    }
}

/// The day (since the epoch) of a bucket start, for the visitor sketches.
pub(crate) fn day_of(ms: i64) -> i64 {
    Bucket::Day.floor(ms) / Bucket::Day.millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_covered_by_the_coarsest_buckets_that_fit() {
        const M: i64 = 60_000;
        const H: i64 = 60 * M;
        const D: i64 = 24 * H;
        let d = 20_000 * D;
        let cover_of = |from, to, levels: &[Bucket]| {
            let mut out = Vec::new();
            cover(from, to, levels, &mut out);
            out
        };
        let day_hour = [Bucket::Day, Bucket::Hour];
        assert_eq!(
            cover_of(d + 5 * H, d + 3 * D + 2 * H, &day_hour),
            vec![
                (Bucket::Hour, d + 5 * H, d + D),
                (Bucket::Day, d + D, d + 3 * D),
                (Bucket::Hour, d + 3 * D, d + 3 * D + 2 * H),
            ]
        );
        assert_eq!(
            cover_of(d, d + 2 * D, &day_hour),
            vec![(Bucket::Day, d, d + 2 * D)]
        );
        assert_eq!(
            cover_of(d + H, d + 5 * H, &day_hour),
            vec![(Bucket::Hour, d + H, d + 5 * H)]
        );
        assert_eq!(
            cover_of(
                d + 10 * H + 30 * M,
                d + D + H + 15 * M,
                &[Bucket::Day, Bucket::Hour, Bucket::Minute]
            ),
            vec![
                (Bucket::Minute, d + 10 * H + 30 * M, d + 11 * H),
                (Bucket::Hour, d + 11 * H, d + D + H),
                (Bucket::Minute, d + D + H, d + D + H + 15 * M),
            ]
        );
        assert!(cover_of(d, d, &day_hour).is_empty());
    }
    use linkleaf_domain::analytics::Dimension;

    fn frame(source: Uuid, seq: u64, link: Uuid) -> FrameRollup {
        let mut f = FrameRollup {
            source,
            seq,
            events: 1,
            ..Default::default()
        };
        f.counts.insert(
            RollupKey {
                profile: Uuid::nil(),
                bucket: Bucket::Day,
                start_ms: 0,
                dimension: Dimension::Link,
                value: link.to_string(),
            },
            Counts { human: 1, bot: 0 },
        );
        f.link_clicks.insert(link, 1);
        f
    }

    #[test]
    fn frames_counted_before_or_twice_add_nothing() {
        let (s, link) = (Uuid::now_v7(), Uuid::now_v7());
        let frames: Vec<_> = [1, 2, 3, 5, 6, 3, 9]
            .into_iter()
            .map(|n| frame(s, n, link))
            .collect();
        let counted: Counted = [(s, vec![(1, 2)])].into_iter().collect();
        let m = merge(&frames, &counted);
        assert_eq!(m.outcome.committed_frames, 4, "3, 5, 6, 9");
        assert_eq!(m.outcome.duplicate_frames, 3, "1 and 2 before, 3 twice");
        assert_eq!(m.link_clicks[&link], 4);
        assert_eq!(m.ranges[&s], vec![(3, 3), (5, 6), (9, 9)]);
        assert_eq!(runs(&[]), vec![]);
        assert_eq!(spans(&frames)[&s], (1, 9));
    }
}
