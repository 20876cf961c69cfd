//! The privacy boundary: what leaves a request for the disk. A click's `Hit` (the client's
//! address, its user agent, referrer and geo header, in memory only) and a group of views
//! become `Event`s carrying instead a keyed hash of address and user agent under the day's salt
//! (`visitor`), a country and region, the referring *host* (or nothing, with
//! `clicks.referrer = "none"`), and the user agent cut to `USER_AGENT_MAX` bytes. Nothing else
//! of the request is written. Must not: write, keep or log a client's address, a whole referrer
//! URL or a geo header's raw value.

use super::ids::EventIds;
use super::views::ViewGroup;
use crate::event::{Event, Hit, Kind, USER_AGENT_MAX, referrer_host};
use crate::geo::Geo;
use crate::visitor::Salts;
use std::sync::Arc;

pub(crate) struct Enrich {
    salts: Arc<Salts>,
    geo: Arc<Geo>,
    /// Keep the referring host (`clicks.referrer = "host"`), or nothing.
    keep_referrer: bool,
    ids: EventIds,
}

/// A user agent as kept: at most `USER_AGENT_MAX` bytes, as text.
fn user_agent(ua: &[u8]) -> String {
    String::from_utf8_lossy(&ua[..ua.len().min(USER_AGENT_MAX)]).into_owned()
}

impl Enrich {
    pub(crate) fn new(salts: Arc<Salts>, geo: Arc<Geo>, keep_referrer: bool) -> Self {
        Self {
            salts,
            geo,
            keep_referrer,
            ids: EventIds::new(),
        }
    }

    /// Another with its own id sequence, for the views (made on the writer's thread while
    /// clicks are written with this one).
    pub(crate) fn for_views(&self) -> Self {
        Self::new(self.salts.clone(), self.geo.clone(), self.keep_referrer)
    }

    /// The event a hit (a click) is written as.
    pub(crate) fn hit(&mut self, h: &Hit) -> Event {
        let ua = h.user_agent.as_ref().map_or(&b""[..], |v| v.as_bytes());
        let (country, region) = self.geo.locate(h.client, h.geo.as_ref());
        Event {
            id: self.ids.next(h.at_ms),
            kind: h.kind,
            profile: h.profile,
            link: h.link,
            at_ms: h.at_ms,
            visitor: self.salts.visitor(h.at_ms, h.client, ua),
            country,
            region,
            referrer: match (&h.referer, self.keep_referrer) {
                (Some(r), true) => referrer_host(r.as_bytes()),
                _ => String::new(),
            },
            user_agent: user_agent(ua),
            head: h.head,
            count: 1,
        }
    }

    /// The events taken groups of views are written as: one per group, with its count.
    pub(crate) fn views(&mut self, groups: Vec<ViewGroup>) -> Vec<Event> {
        let mut events = Vec::with_capacity(groups.len());
        for g in groups {
            events.push(Event {
                id: self.ids.next(g.at_ms),
                kind: Kind::View,
                profile: g.profile,
                link: None,
                at_ms: g.at_ms,
                visitor: self.salts.visitor(g.at_ms, g.client, &g.user_agent),
                country: String::new(),
                region: String::new(),
                referrer: g.source.into(),
                user_agent: user_agent(&g.user_agent),
                head: false,
                count: g.count,
            });
        }
        events
    }
}
