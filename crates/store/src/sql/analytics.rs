//! `AnalyticsStore` written once: a window committed with the identities of the frames it
//! counted (see `crate::analytics` for what is counted and how), reports read from the coarsest
//! rollups that fit, the days' visitor salts, pruning.
//! Must not: count a frame twice (its identity is committed with it), or keep an address.

use super::SqlStore;
use crate::analytics::{
    self, AnalyticsStore, BREAKDOWN_VALUES_MAX, BREAKDOWNS, Counted, OTHER, ReportPart, RollupRow,
};
use crate::db::{On, Tx};
use crate::error::{Result, StoreError};
use crate::profiles::ReadFrom;
use crate::seam::{RollupAdd, q, q_built};
use async_trait::async_trait;
use linkleaf_domain::analytics::{
    AnalyticsQuery, AnalyticsReport, Bucket, FrameRollup, WindowOutcome,
};
use linkleaf_domain::analytics::{Counts, RollupKey};
use linkleaf_domain::now_millis;
use linkleaf_domain::sketch::Sketch;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// Keeps each breakdown of the profiles a window touched to its `BREAKDOWN_VALUES_MAX` most
/// counted values per granularity and bucket: the others are deleted and their counts added
/// to `OTHER`, in the window's transaction.
async fn bound_breakdowns(
    tx: &mut Tx<'_>,
    counts: &linkleaf_domain::analytics::Map<RollupKey, Counts>,
) -> Result<()> {
    // each profile whose breakdowns the window added to, from its earliest bucket
    let mut touched: BTreeMap<Uuid, i64> = BTreeMap::new();
    for k in counts.keys().filter(|k| k.dimension.is_breakdown()) {
        let b = touched.entry(k.profile).or_insert(k.start_ms);
        *b = (*b).min(k.start_ms);
    }
    for (profile, from) in touched {
        let over = q_built(format!(
            "SELECT granularity, dimension, bucket,
                    sum(CASE WHEN value <> '{OTHER}' THEN 1 ELSE 0 END) AS n
             FROM analytics_rollups
             WHERE profile_id = $1 AND dimension IN ({BREAKDOWNS}) AND bucket >= $2
             GROUP BY granularity, dimension, bucket
             HAVING sum(CASE WHEN value <> '{OTHER}' THEN 1 ELSE 0 END) > $3"
        ))
        .bind(profile)
        .bind(from)
        .bind(BREAKDOWN_VALUES_MAX)
        .fetch_all(&mut *tx)
        .await?;
        for g in &over {
            let (granularity, dimension, bucket) = (
                g.int("granularity")?,
                g.text("dimension")?,
                g.int("bucket")?,
            );
            let least = q_built(format!(
                "SELECT value, human, bot FROM analytics_rollups
                 WHERE profile_id = $1 AND granularity = $2 AND dimension = $3 AND bucket = $4
                   AND value <> '{OTHER}'
                 ORDER BY human + bot, value LIMIT $5"
            ))
            .bind(profile)
            .bind(granularity)
            .bind(&dimension)
            .bind(bucket)
            .bind(g.int("n")? - BREAKDOWN_VALUES_MAX)
            .fetch_all(&mut *tx)
            .await?;
            let (mut human, mut bot, mut values) = (0, 0, Vec::with_capacity(least.len()));
            for r in &least {
                human += r.int("human")?;
                bot += r.int("bot")?;
                values.push(r.text("value")?);
            }
            q("DELETE FROM analytics_rollups
               WHERE profile_id = $1 AND granularity = $2 AND dimension = $3 AND bucket = $4
                 AND value = ANY($5)")
            .bind(profile)
            .bind(granularity)
            .bind(&dimension)
            .bind(bucket)
            .bind(values)
            .execute(&mut *tx)
            .await?;
            tx.add_rollups(&[RollupAdd {
                profile,
                granularity: granularity as i16,
                bucket,
                dimension: &dimension,
                value: OTHER,
                human,
                bot,
            }])
            .await?;
        }
    }
    Ok(())
}

#[async_trait]
impl AnalyticsStore for SqlStore {
    async fn ping_analytics(&self) -> Result<()> {
        q("SELECT 1 FROM analytics_frames LIMIT 1")
            .fetch_all(&self.db)
            .await?;
        Ok(())
    }

    async fn commit_window(&self, frames: Arc<Vec<FrameRollup>>) -> Result<WindowOutcome> {
        let mut tx = self.db.begin_write().await?;
        let mut counted = Counted::new();
        for (source, (lo, hi)) in analytics::spans(&frames) {
            // the source's ranges are locked, so two consumers cannot both count a frame
            let ranges = q("SELECT first_seq, last_seq FROM analytics_frames
                 WHERE source = $1 AND last_seq >= $2 AND first_seq <= $3 FOR UPDATE")
            .bind(source)
            .bind(lo as i64)
            .bind(hi as i64)
            .fetch_all(&mut tx)
            .await?
            .iter()
            .map(|r| Ok((r.int("first_seq")? as u64, r.int("last_seq")? as u64)))
            .collect::<Result<Vec<_>>>()?;
            counted.insert(source, ranges);
        }
        let m = analytics::merge_aside(frames, counted).await?;
        let rows: Vec<RollupAdd<'_>> = m
            .counts
            .iter()
            .map(|(k, c)| RollupAdd {
                profile: k.profile,
                granularity: k.bucket.code(),
                bucket: k.start_ms,
                dimension: k.dimension.as_str(),
                value: &k.value,
                human: c.human,
                bot: c.bot,
            })
            .collect();
        tx.add_rollups(&rows).await?;
        bound_breakdowns(&mut tx, &m.counts).await?;
        let clicks: Vec<(Uuid, i64)> = m.link_clicks.iter().map(|(l, n)| (*l, *n)).collect();
        tx.add_link_clicks(&clicks).await?;
        for ((profile, day), fresh) in &m.visitors {
            let old = q("SELECT sketch FROM analytics_uniques
                 WHERE profile_id = $1 AND day = $2 FOR UPDATE")
            .bind(*profile)
            .bind(*day)
            .fetch_optional(&mut tx)
            .await?;
            let mut sketch = old
                .and_then(|r| r.bytes("sketch").ok())
                .and_then(|b| Sketch::from_bytes(&b).ok())
                .unwrap_or_default();
            sketch.merge(fresh);
            q(
                "INSERT INTO analytics_uniques (profile_id, day, sketch) VALUES ($1, $2, $3)
               ON CONFLICT (profile_id, day) DO UPDATE SET sketch = excluded.sketch",
            )
            .bind(*profile)
            .bind(*day)
            .bind(sketch.to_bytes())
            .execute(&mut tx)
            .await?;
        }
        let now = crate::seam::millis(now_millis());
        for (source, ranges) in &m.ranges {
            for (a, b) in ranges {
                let extended = q(
                    "UPDATE analytics_frames SET last_seq = $1, committed_at = $2
                     WHERE source = $3 AND last_seq = $4",
                )
                .bind(*b as i64)
                .bind(now)
                .bind(*source)
                .bind(*a as i64 - 1)
                .execute(&mut tx)
                .await?;
                if extended == 0 {
                    q(
                        "INSERT INTO analytics_frames (source, first_seq, last_seq, committed_at)
                       VALUES ($1, $2, $3, $4)",
                    )
                    .bind(*source)
                    .bind(*a as i64)
                    .bind(*b as i64)
                    .bind(now)
                    .execute(&mut tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(m.outcome)
    }

    async fn report(&self, profile: Uuid, q_: &AnalyticsQuery) -> Result<AnalyticsReport> {
        let mut tx = self.db.begin_read(ReadFrom::Replica).await?;
        let mut parts: [Vec<RollupRow>; 3] = Default::default();
        for (k, part) in ReportPart::ALL.into_iter().enumerate() {
            let pieces = part.pieces(q_);
            let mut stmt = q_built(part.sql(pieces.len())).bind(profile);
            for (bucket, from, to) in pieces {
                stmt = stmt.bind(bucket.code()).bind(from).bind(to);
            }
            parts[k] = stmt
                .fetch_all(&mut tx)
                .await?
                .iter()
                .map(|r| {
                    Ok(RollupRow {
                        bucket: r.int("bucket")?,
                        dimension: r.text("dimension")?,
                        value: r.text("value")?,
                        human: r.int("human")?,
                        bot: r.int("bot")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
        }
        let [series, links, breakdown] = parts;
        let sketches = q("SELECT sketch FROM analytics_uniques
             WHERE profile_id = $1 AND day >= $2 AND day < $3")
        .bind(profile)
        .bind(analytics::day_of(q_.from_ms))
        .bind(analytics::day_of(q_.to_ms + Bucket::Day.millis() - 1))
        .fetch_all(&mut tx)
        .await?
        .iter()
        .map(|r| r.bytes("sketch"))
        .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(analytics::assemble(
            profile, q_, series, links, breakdown, sketches,
        ))
    }

    async fn salt(&self, day: i64) -> Result<[u8; 16]> {
        q("INSERT INTO visitor_salts (day, salt) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(day)
            .bind(Uuid::new_v4().as_bytes().to_vec())
            .execute(&self.db)
            .await?;
        q("SELECT salt FROM visitor_salts WHERE day = $1")
            .bind(day)
            .fetch_one(&self.db)
            .await?
            .bytes("salt")?
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("the salt of day {day}")))
    }

    async fn forget_salts_before(&self, day: i64) -> Result<u64> {
        q("DELETE FROM visitor_salts WHERE day < $1")
            .bind(day)
            .execute(&self.db)
            .await
    }

    async fn prune(&self, now_ms: i64) -> Result<u64> {
        let mut n = 0;
        for (granularity, keep) in [
            (Bucket::Minute.code(), analytics::KEEP_MINUTES_MS),
            (Bucket::Hour.code(), analytics::KEEP_HOURS_MS),
        ] {
            n += q("DELETE FROM analytics_rollups WHERE granularity = $1 AND bucket < $2")
                .bind(granularity)
                .bind(now_ms - keep)
                .execute(&self.db)
                .await?;
        }
        n += q("DELETE FROM analytics_frames WHERE committed_at < $1")
            .bind(now_ms - analytics::KEEP_FRAMES_MS)
            .execute(On::Primary(&self.db))
            .await?;
        Ok(n)
    }
}
