//! Scheduled links' boundaries, announced when they pass, with no request needed: at each
//! boundary a `links.updated` event goes to the outbox (so edges and subscribers hear of it)
//! and the dispatcher is woken. The read path needs nothing from here: every cached page ends at
//! its own next boundary (`linkleaf_cache::Weigh::expires_at_ms`).
//!
//! Every origin instance runs this; the events' ids are made of profile and boundary, so
//! instances announcing one boundary at once write one event. The task sleeps until the next
//! boundary the database knows, looks again after each write here (`wake`) and every
//! `LOOK_AGAIN` (a schedule written on another instance), and on start announces what passed
//! in the last `CATCH_UP` while no instance ran.
//! Must not: change a profile, or answer requests.

use linkleaf_store::ProfileStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How far back boundaries are announced when the instance starts.
pub const CATCH_UP: Duration = Duration::from_secs(24 * 3600);
/// The longest the task goes without looking for a boundary written elsewhere.
pub const LOOK_AGAIN: Duration = Duration::from_secs(5);
/// Boundaries announced per transaction.
const BATCH: u32 = 500;

fn now_ms() -> i64 {
    linkleaf_domain::unix_millis(time::OffsetDateTime::now_utc())
}

/// Announces boundaries as they pass until `stop`; `wake` makes it look again at once (a write
/// may have scheduled something sooner), `dispatch` is woken after events were written.
pub async fn announce_boundaries(
    store: Arc<dyn ProfileStore>,
    wake: Arc<Notify>,
    dispatch: Option<Arc<Notify>>,
    stop: CancellationToken,
) {
    let mut after = (now_ms() - CATCH_UP.as_millis() as i64, Uuid::nil());
    let mut failing = false;
    loop {
        let now = now_ms();
        let wait = match store.pass_boundaries(after, now, BATCH).await {
            Ok(b) => {
                if failing {
                    tracing::info!("link boundaries announced again");
                    failing = false;
                }
                let full = b.passed.len() == BATCH as usize;
                if let Some((profile, _, at)) = b.passed.last() {
                    tracing::debug!(profiles = b.passed.len(), "link boundaries passed");
                    if let Some(d) = &dispatch {
                        d.notify_one();
                    }
                    after = (*at, *profile);
                }
                if full {
                    // more are due: go on at once
                    continue;
                }
                after = (now, Uuid::max());
                b.next_ms.map_or(LOOK_AGAIN, |n| {
                    Duration::from_millis(n.saturating_sub(now_ms()).max(0) as u64).min(LOOK_AGAIN)
                })
            }
            Err(e) => {
                // `after` is kept: what was not announced is announced once the store answers
                if !failing {
                    tracing::warn!(error = %e, "link boundaries not announced yet: retrying");
                    failing = true;
                }
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}
