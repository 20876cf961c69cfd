//! What a frame's events add up to: each event classified, then counted in every rollup it
//! belongs to. A click counts for its link and for the profile's clicks (by minute, hour and
//! day), its referring host, its country, its device class, browser family, operating system
//! and bot class (by hour and day); a view counts for the
//! profile's views (by minute, hour and day) and its source (by hour and day). People and bots are counted side by side; only
//! people are visitors, and only people's clicks reach a link's `clickCount`.
//! Must not: write anything (the store commits a window), or count a bot as a person.

use crate::classify::Classifier;
use crate::event::{Event, Kind};
use crate::visitor::DAY_MS;
use linkleaf_domain::analytics::{Bucket, Counts, Dimension, FrameRollup, Map, RollupKey};
use uuid::Uuid;

/// A rollup value as the frame's events (or the classifier) hold it, borrowed or shared: no
/// string is made until a key is known to be new.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Value<'a> {
    Link(Uuid),
    Text(&'a str),
    Shared(std::sync::Arc<str>),
}

impl Value<'_> {
    fn to_text(&self) -> String {
        match self {
            Self::Link(id) => id.to_string(),
            Self::Text(s) => (*s).to_owned(),
            Self::Shared(s) => s.to_string(),
        }
    }
}

/// Counts by profile, dimension, value and minute: what the frame adds, before it is spread
/// over each dimension's buckets.
type ByMinute<'a> = Map<(Uuid, Dimension, Value<'a>, i64), Counts>;

fn add<'a>(
    m: &mut ByMinute<'a>,
    profile: Uuid,
    minute: i64,
    dim: Dimension,
    value: Value<'a>,
    human: bool,
    n: i64,
) {
    let c = m.entry((profile, dim, value, minute)).or_default();
    if human {
        c.human += n;
    } else {
        c.bot += n;
    }
}

/// The rollup of one frame (`source`, `seq`).
pub fn rollup(
    source: Uuid,
    seq: u64,
    events: &[Event],
    classifier: &mut Classifier,
) -> FrameRollup {
    let mut f = FrameRollup {
        source,
        seq,
        events: events.iter().map(|e| u64::from(e.count)).sum(),
        ..Default::default()
    };
    let mut by_minute = ByMinute::default();
    for e in events {
        let class = classifier.classify(&e.user_agent, e.head);
        let human = class.bot.is_human();
        let n = i64::from(e.count);
        let minute = Bucket::Minute.floor(e.at_ms as i64);
        let p = e.profile;
        match (e.kind, e.link) {
            (Kind::Click, Some(link)) => {
                let referrer = if e.referrer.is_empty() {
                    "(direct)"
                } else {
                    &e.referrer
                };
                let country = if e.country.is_empty() {
                    "--"
                } else {
                    &e.country
                };
                for (dim, value) in [
                    (Dimension::Link, Value::Link(link)),
                    (Dimension::Clicks, Value::Text("")),
                    (Dimension::Referrer, Value::Text(referrer)),
                    (Dimension::Country, Value::Text(country)),
                    (Dimension::Device, Value::Text(class.device.as_str())),
                    (Dimension::Browser, Value::Shared(class.browser.clone())),
                    (Dimension::Os, Value::Shared(class.os.clone())),
                    (Dimension::Bot, Value::Text(class.bot.as_str())),
                ] {
                    add(&mut by_minute, p, minute, dim, value, human, n);
                }
                if human {
                    *f.link_clicks.entry(link).or_default() += n;
                }
            }
            _ => {
                // a view's `referrer` is its source
                let source = if e.referrer.is_empty() {
                    "(direct)"
                } else {
                    &e.referrer
                };
                for (dim, value) in [
                    (Dimension::Views, Value::Text("")),
                    (Dimension::Source, Value::Text(source)),
                ] {
                    add(&mut by_minute, p, minute, dim, value, human, n);
                }
            }
        }
        if human {
            f.visitors
                .entry((p, (e.at_ms / DAY_MS) as i64))
                .or_default()
                .push(e.visitor);
        }
    }
    for ((profile, dimension, value, minute), c) in by_minute {
        let value = value.to_text();
        for bucket in dimension.buckets() {
            let e = f
                .counts
                .entry(RollupKey {
                    profile,
                    bucket: *bucket,
                    start_ms: bucket.floor(minute),
                    dimension,
                    value: value.clone(),
                })
                .or_default();
            e.human += c.human;
            e.bot += c.bot;
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use linkleaf_domain::analytics::Bucket;

    const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";

    fn event(kind: Kind, link: Option<Uuid>, ua: &str, visitor: u64) -> Event {
        Event {
            id: Uuid::now_v7(),
            kind,
            profile: Uuid::nil(),
            link,
            at_ms: 1_795_600_000_000,
            visitor,
            country: String::new(),
            region: String::new(),
            referrer: String::new(),
            user_agent: ua.into(),
            head: false,
            count: 1,
        }
    }

    #[test]
    fn views_count_for_their_source_and_untagged_ones_as_direct() {
        let mut events = vec![
            event(Kind::View, None, BROWSER, 1),
            event(Kind::View, None, BROWSER, 2),
            event(Kind::View, None, "Googlebot/2.1", 3),
            event(Kind::View, None, BROWSER, 4),
        ];
        events[0].referrer = "qr".into();
        events[1].referrer = "qr".into();
        events[2].referrer = "qr".into();
        let f = rollup(Uuid::now_v7(), 1, &events, &mut Classifier::default());
        let hour = |v: &str| {
            f.counts.get(&RollupKey {
                profile: Uuid::nil(),
                bucket: Bucket::Hour,
                start_ms: Bucket::Hour.floor(1_795_600_000_000),
                dimension: Dimension::Source,
                value: v.into(),
            })
        };
        assert_eq!(hour("qr"), Some(&Counts { human: 2, bot: 1 }));
        assert_eq!(hour("(direct)"), Some(&Counts { human: 1, bot: 0 }));
        // by hour and day only, as the other breakdowns
        assert!(
            !f.counts
                .keys()
                .any(|k| k.dimension == Dimension::Source && k.bucket == Bucket::Minute)
        );
    }

    #[test]
    fn a_frame_adds_up_clicks_views_people_and_bots() {
        let link = Uuid::now_v7();
        let events = vec![
            event(Kind::Click, Some(link), BROWSER, 1),
            event(Kind::Click, Some(link), BROWSER, 1),
            event(Kind::Click, Some(link), "Twitterbot/1.0", 2),
            event(Kind::View, None, BROWSER, 3),
        ];
        let f = rollup(Uuid::now_v7(), 7, &events, &mut Classifier::default());
        assert_eq!(f.events, 4);
        assert_eq!(f.link_clicks[&link], 2, "people only");
        let day = |d: Dimension, v: &str| {
            f.counts[&RollupKey {
                profile: Uuid::nil(),
                bucket: Bucket::Day,
                start_ms: Bucket::Day.floor(1_795_600_000_000),
                dimension: d,
                value: v.into(),
            }]
        };
        assert_eq!(
            day(Dimension::Link, &link.to_string()),
            Counts { human: 2, bot: 1 }
        );
        assert_eq!(day(Dimension::Clicks, ""), Counts { human: 2, bot: 1 });
        assert_eq!(day(Dimension::Views, ""), Counts { human: 1, bot: 0 });
        assert_eq!(
            day(Dimension::Referrer, "(direct)"),
            Counts { human: 2, bot: 1 }
        );
        assert_eq!(
            day(Dimension::Bot, "link_preview"),
            Counts { human: 0, bot: 1 }
        );
        assert_eq!(day(Dimension::Country, "--").human, 2);
        assert_eq!(
            day(Dimension::Browser, "Firefox"),
            Counts { human: 2, bot: 0 }
        );
        assert_eq!(day(Dimension::Os, "Linux"), Counts { human: 2, bot: 0 });
        assert_eq!(
            day(Dimension::Browser, "Other"),
            Counts { human: 0, bot: 1 }
        );
        let visitors = &f.visitors[&(Uuid::nil(), 1_795_600_000_000 / DAY_MS as i64)];
        assert_eq!(visitors.len(), 3, "people's events only");
        // referrers and countries are not kept by the minute
        assert!(f.counts.keys().all(|k| k.bucket != Bucket::Minute
            || matches!(
                k.dimension,
                Dimension::Link | Dimension::Clicks | Dimension::Views
            )));
    }
}
