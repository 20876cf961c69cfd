//! Views added up in memory by page, minute, client and user agent, until the writer takes them
//! (every `VIEW_FLUSH`), so a page read costs the pipeline a hash and a short lock however hot
//! the page is. (A per-connection memo of the last group, which skipped the hash and the lock
//! with an atomic count the writer sealed, saved ~140 of a page read's ~16,300 instructions,
//! less than one build drifts between two runs, and no measurable time: removed, see
//! BENCHMARKS.md.) Must not: read a clock, or keep a client's address past the writer's next
//! turn.

use linkleaf_domain::analytics::Map;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use uuid::Uuid;

/// Distinct (page, visitor, user agent, minute) groups held between flushes at most; views of a
/// new group beyond that are dropped and counted (`linkleaf_events_dropped_total{reason="writer_busy"}`).
const VIEW_GROUPS_MAX: usize = 65_536;

/// Views waiting to be written, added up by page, minute, client and user agent.
#[derive(Default)]
struct Pending {
    /// By a hash of the group; the few groups that share a hash are told apart by their keys.
    groups: Map<u64, Vec<ViewGroup>>,
    len: usize,
}

/// The views of one page by one client and user agent in one minute.
pub(crate) struct ViewGroup {
    pub profile: Uuid,
    minute_ms: u64,
    /// The first view's time.
    pub at_ms: u64,
    pub client: IpAddr,
    pub user_agent: Box<[u8]>,
    /// Where the views came from (`qr`, a `utm_source`), or empty.
    pub source: Box<str>,
    /// The views counted (saturating).
    pub count: u32,
}

impl ViewGroup {
    fn is(&self, profile: Uuid, minute_ms: u64, client: IpAddr, ua: &[u8], source: &str) -> bool {
        self.profile == profile
            && self.minute_ms == minute_ms
            && self.client == client
            && *self.user_agent == *ua
            && *self.source == *source
    }
}

/// The views not yet written.
#[derive(Default)]
pub(crate) struct Views {
    pending: Mutex<Pending>,
    hasher: foldhash::fast::RandomState,
}

/// What became of a view.
pub(crate) enum Added {
    Counted,
    /// Too many groups wait already: dropped (and to be counted as such).
    Dropped,
}

impl Views {
    /// Adds a view at `at_ms` (user agent already cut to its bound) to its group.
    pub(crate) fn add(
        &self,
        profile: Uuid,
        at_ms: u64,
        client: IpAddr,
        ua: &[u8],
        source: &str,
    ) -> Added {
        let minute_ms = at_ms - at_ms % 60_000;
        let h = self
            .hasher
            .hash_one((profile, minute_ms, client, ua, source));
        let mut v = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let len = v.len;
        let groups = v.groups.entry(h).or_default();
        if let Some(g) = groups
            .iter_mut()
            .find(|g| g.is(profile, minute_ms, client, ua, source))
        {
            g.count = g.count.saturating_add(1);
        } else if len >= VIEW_GROUPS_MAX {
            return Added::Dropped;
        } else {
            groups.push(ViewGroup {
                profile,
                minute_ms,
                at_ms,
                client,
                user_agent: ua.into(),
                source: source.into(),
                count: 1,
            });
            v.len += 1;
        }
        Added::Counted
    }

    /// Whether any view waits.
    pub(crate) fn any(&self) -> bool {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len > 0
    }

    /// Takes every group waiting.
    pub(crate) fn take(&self) -> Vec<ViewGroup> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let mut out = Vec::with_capacity(taken.len);
        out.extend(taken.groups.into_values().flatten());
        out
    }
}
