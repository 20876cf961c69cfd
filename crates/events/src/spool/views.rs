//! Views added up in memory by page, minute, client and user agent, until the writer takes them
//! (every `VIEW_FLUSH`), so a page read costs the pipeline a hash and a short lock however hot
//! the page is; a connection that remembers its last group (`ViewMemo`) adds the next view of it
//! to the group's atomic count without either. The writer seals a count as it takes its group,
//! and a view that finds its count sealed goes through the map again: none is lost or counted
//! twice between them. Must not: read a clock, or keep a client's address past the writer's
//! next turn.

use linkleaf_domain::analytics::Map;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
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
    /// Shared with the connections that remember this group (`ViewMemo`).
    count: Arc<ViewCount>,
}

impl ViewGroup {
    fn is(&self, profile: Uuid, minute_ms: u64, client: IpAddr, ua: &[u8]) -> bool {
        self.profile == profile
            && self.minute_ms == minute_ms
            && self.client == client
            && *self.user_agent == *ua
    }

    /// The views counted; none are counted after this (the group was taken).
    pub(crate) fn seal(&self) -> u32 {
        self.count.seal()
    }
}

/// A group's count of views. Connections that remember the group add to it without the map's
/// lock; the writer seals it when it takes the group, and a view that finds it sealed goes
/// through the map again: none is counted twice or lost between the two.
struct ViewCount(AtomicU32);

const SEALED: u32 = u32::MAX;

impl ViewCount {
    fn one() -> Arc<Self> {
        Arc::new(Self(AtomicU32::new(1)))
    }

    /// Adds a view; `false` when the writer has taken the group. Saturates below `SEALED`.
    fn add(&self) -> bool {
        let mut n = self.0.load(Ordering::Relaxed);
        loop {
            if n == SEALED {
                return false;
            }
            let next = (n + 1).min(SEALED - 1);
            match self
                .0
                .compare_exchange_weak(n, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
    }

    fn seal(&self) -> u32 {
        self.0.swap(SEALED, Ordering::Relaxed)
    }
}

/// What one connection remembers of its last view: its group, so that the next view of the
/// same page by the same client and user agent in the same minute (a reload, a monitor, a
/// benchmark) is added to that group's count without the hash, the map or its lock.
#[derive(Default)]
pub struct ViewMemo {
    profile: Uuid,
    minute_ms: u64,
    client: Option<IpAddr>,
    user_agent: Vec<u8>,
    count: Option<Arc<ViewCount>>,
}

impl ViewMemo {
    /// Adds the view to the remembered group if it is the view's own and still open.
    fn add(&self, profile: Uuid, minute_ms: u64, client: IpAddr, ua: &[u8]) -> bool {
        match &self.count {
            Some(count) => {
                self.profile == profile
                    && self.minute_ms == minute_ms
                    && self.client == Some(client)
                    && *self.user_agent == *ua
                    && count.add()
            }
            None => false,
        }
    }

    fn remember(
        &mut self,
        profile: Uuid,
        minute_ms: u64,
        client: IpAddr,
        ua: &[u8],
        count: Arc<ViewCount>,
    ) {
        self.profile = profile;
        self.minute_ms = minute_ms;
        self.client = Some(client);
        self.user_agent.clear();
        self.user_agent.extend_from_slice(ua);
        self.count = Some(count);
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
        memo: Option<&mut ViewMemo>,
        profile: Uuid,
        at_ms: u64,
        client: IpAddr,
        ua: &[u8],
    ) -> Added {
        let minute_ms = at_ms - at_ms % 60_000;
        if memo
            .as_deref()
            .is_some_and(|m| m.add(profile, minute_ms, client, ua))
        {
            return Added::Counted;
        }
        let h = self.hasher.hash_one((profile, minute_ms, client, ua));
        let mut v = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let len = v.len;
        let groups = v.groups.entry(h).or_default();
        let count = if let Some(g) = groups
            .iter_mut()
            .find(|g| g.is(profile, minute_ms, client, ua))
        {
            // the writer seals a group only once it has taken it out of the map
            g.count.add();
            g.count.clone()
        } else if len >= VIEW_GROUPS_MAX {
            return Added::Dropped;
        } else {
            let count = ViewCount::one();
            groups.push(ViewGroup {
                profile,
                minute_ms,
                at_ms,
                client,
                user_agent: ua.into(),
                count: count.clone(),
            });
            v.len += 1;
            count
        };
        drop(v);
        if let Some(m) = memo {
            m.remember(profile, minute_ms, client, ua, count);
        }
        Added::Counted
    }

    /// Whether any view waits.
    pub(crate) fn any(&self) -> bool {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len > 0
    }

    /// Takes every group waiting (seal each to read its count).
    pub(crate) fn take(&self) -> Vec<ViewGroup> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let mut out = Vec::with_capacity(taken.len);
        out.extend(taken.groups.into_values().flatten());
        out
    }
}
