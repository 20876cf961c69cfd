//! One story every backend must tell the same way, told by SQLite and by PostgreSQL (a database
//! of its own on the test server; skipped loudly when there is none, failed under CI).

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_domain::analytics::{
    AnalyticsQuery, Bucket, Counts, Dimension, FrameRollup, RollupKey,
};
use linkleaf_domain::{
    CreateProfile, LinksPatch, Profile, ProfilePatch, Scopes, Username, ValidationErrors,
    now_millis,
};
use linkleaf_store::testing::TempPostgres;
use linkleaf_store::{
    ApiKeyRecord, ModifyError, ProfileRef, ReadFrom, StoreError, StoreOptions, Stores, open,
};
use std::sync::Arc;
use uuid::Uuid;

#[path = "conformance/accounts.rs"]
mod accounts;

fn new_profile(json: &str) -> Profile {
    serde_json::from_str::<CreateProfile>(json)
        .unwrap()
        .into_profile(now_millis())
        .unwrap()
}

/// A frame of `n` clicks on `link` (human or bot) at `at_ms`, by `visitors`.
#[allow(clippy::too_many_arguments)] // a test builder: each argument is one thing the story varies
fn clicks(
    source: Uuid,
    seq: u64,
    profile: Uuid,
    link: Uuid,
    at_ms: i64,
    human: bool,
    n: i64,
    visitors: &[u64],
) -> FrameRollup {
    let mut f = FrameRollup {
        source,
        seq,
        events: n as u64,
        ..Default::default()
    };
    let c = if human {
        Counts { human: n, bot: 0 }
    } else {
        Counts { human: 0, bot: n }
    };
    for bucket in [Bucket::Minute, Bucket::Hour, Bucket::Day] {
        for (dimension, value) in [
            (Dimension::Link, link.to_string()),
            (Dimension::Clicks, String::new()),
        ] {
            f.counts.insert(
                RollupKey {
                    profile,
                    bucket,
                    start_ms: bucket.floor(at_ms),
                    dimension,
                    value,
                },
                c,
            );
        }
    }
    for (dimension, value) in [
        (Dimension::Referrer, "news.example"),
        (Dimension::Country, "NL"),
    ] {
        for bucket in [Bucket::Hour, Bucket::Day] {
            f.counts.insert(
                RollupKey {
                    profile,
                    bucket,
                    start_ms: bucket.floor(at_ms),
                    dimension,
                    value: value.into(),
                },
                c,
            );
        }
    }
    if human {
        f.link_clicks.insert(link, n);
    }
    f.visitors
        .insert((profile, at_ms / 86_400_000), visitors.to_vec());
    f
}

async fn analytics_story(s: &Stores) {
    let a = &s.analytics;
    a.ping_analytics().await.unwrap();
    let p = s
        .profiles
        .create_profile(&new_profile(
            r#"{"username":"counted","links":[{"title":"a","url":"https://a.example"}]}"#,
        ))
        .await
        .unwrap();
    let link = p.links[0].id;
    let (source, at) = (Uuid::now_v7(), 1_795_600_000_000i64);
    let w1 = vec![
        clicks(source, 1, p.id, link, at, true, 3, &[1, 2]),
        clicks(source, 2, p.id, link, at + 60_000, false, 2, &[3]),
    ];
    let out = a.commit_window(Arc::new(w1.clone())).await.unwrap();
    assert_eq!(
        (
            out.committed_frames,
            out.committed_events,
            out.duplicate_frames
        ),
        (2, 5, 0)
    );
    // a redelivery of frame 2 with frame 3: only 3 counts
    let w2 = vec![
        clicks(source, 2, p.id, link, at + 60_000, false, 2, &[3]),
        clicks(source, 3, p.id, link, at + 120_000, true, 4, &[2, 4]),
    ];
    let out = a.commit_window(Arc::new(w2)).await.unwrap();
    assert_eq!(
        (
            out.committed_frames,
            out.duplicate_frames,
            out.duplicate_events
        ),
        (1, 1, 2)
    );
    assert_eq!(
        a.commit_window(Arc::new(w1))
            .await
            .unwrap()
            .committed_frames,
        0,
        "all seen"
    );
    // another spool's frame 1 is another frame
    let other = clicks(Uuid::now_v7(), 1, p.id, link, at, true, 1, &[5]);
    assert_eq!(
        a.commit_window(Arc::new(vec![other]))
            .await
            .unwrap()
            .committed_frames,
        1
    );

    let day = Bucket::Day.floor(at);
    for bucket in [Bucket::Minute, Bucket::Hour, Bucket::Day] {
        let q = AnalyticsQuery {
            from_ms: day,
            to_ms: day + 86_400_000,
            bucket,
            shortened: false,
            zone: None,
        };
        let r = a.report(p.id, &q).await.unwrap();
        assert_eq!(r.totals.clicks, 10, "{bucket:?}");
        assert_eq!(
            (r.totals.human_clicks, r.totals.bot_clicks),
            (8, 2),
            "{bucket:?}"
        );
        assert_eq!(
            r.totals.unique_visitors, 5,
            "{bucket:?}: visitors 1-5 that day"
        );
        assert_eq!(r.links.len(), 1);
        assert_eq!(r.links[0].clicks, 10);
        assert_eq!(r.referrers[0].value, "news.example");
        assert_eq!(r.countries[0].clicks, 10);
        let series: i64 = r.series.iter().map(|p| p.clicks).sum();
        assert_eq!(series, 10);
    }
    let q = AnalyticsQuery {
        from_ms: day,
        to_ms: day + 86_400_000,
        bucket: Bucket::Minute,
        shortened: false,
        zone: None,
    };
    assert_eq!(
        a.report(p.id, &q).await.unwrap().series.len(),
        3,
        "three minutes"
    );
    // human clicks reach the link's counter
    let now = s.profiles.profile_by_id(p.id).await.unwrap().unwrap();
    assert_eq!(now.links[0].click_count, 8);

    // salts: one per day, the same for every caller, dropped after
    let s1 = a.salt(20_000).await.unwrap();
    assert_eq!(a.salt(20_000).await.unwrap(), s1);
    assert_ne!(a.salt(20_001).await.unwrap(), s1);
    assert_eq!(a.forget_salts_before(20_001).await.unwrap(), 1);
    assert_ne!(
        a.salt(20_000).await.unwrap(),
        s1,
        "a forgotten salt is not remade the same"
    );
    a.forget_salts_before(i64::MAX).await.unwrap();

    // pruning keeps day rows; deleting the profile takes its analytics
    a.prune(at + 100 * 86_400_000).await.unwrap();
    let q = AnalyticsQuery {
        from_ms: day,
        to_ms: day + 86_400_000,
        bucket: Bucket::Day,
        shortened: false,
        zone: None,
    };
    assert_eq!(a.report(p.id, &q).await.unwrap().totals.clicks, 10);
    let q = AnalyticsQuery {
        from_ms: day,
        to_ms: day + 86_400_000,
        bucket: Bucket::Hour,
        shortened: false,
        zone: None,
    };
    assert_eq!(
        a.report(p.id, &q).await.unwrap().totals.clicks,
        0,
        "hour rows pruned"
    );
    s.profiles
        .delete_profile(ProfileRef::Id(p.id))
        .await
        .unwrap();
    let q = AnalyticsQuery {
        from_ms: day,
        to_ms: day + 86_400_000,
        bucket: Bucket::Day,
        shortened: false,
        zone: None,
    };
    assert_eq!(a.report(p.id, &q).await.unwrap().totals.clicks, 0);
}

/// Day buckets in a time zone are its local days, regrouped from hours: clicks on either side
/// of Paris's midnight (an hour before UTC's) fall on two local days, though on one UTC day;
/// the link's and the breakdowns' sums take the same range.
async fn local_days(s: &Stores) {
    let a = &s.analytics;
    let p = s
        .profiles
        .create_profile(&new_profile(
            r#"{"username":"parisian","timeZone":"Europe/Paris","links":[{"title":"a","url":"https://a.example"}]}"#,
        ))
        .await
        .unwrap();
    assert_eq!(p.time_zone, "Europe/Paris");
    assert_eq!(
        s.profiles
            .profile_by_id(p.id)
            .await
            .unwrap()
            .unwrap()
            .time_zone,
        "Europe/Paris"
    );
    let link = p.links[0].id;
    const H: i64 = 3_600_000;
    // a UTC midnight (a Thursday in winter: Paris is UTC+1)
    let d0 = Bucket::Day.floor(1_795_600_000_000);
    let source = Uuid::now_v7();
    // 22:30 UTC is 23:30 in Paris, day 0; 23:30 UTC is 00:30 there, day 1; 21:59 UTC the day
    // before is 22:59 there, outside the range
    let at = [
        (d0 - 2 * H - 60_000, 1000),
        (d0 + 22 * H + H / 2, 1),
        (d0 + 23 * H + H / 2, 10),
    ];
    let frames: Vec<FrameRollup> = at
        .iter()
        .enumerate()
        .map(|(i, (t, n))| clicks(source, i as u64 + 1, p.id, link, *t, true, *n, &[1]))
        .collect();
    a.commit_window(Arc::new(frames)).await.unwrap();
    let paris = linkleaf_domain::zone::Zone::parse("Europe/Paris", "tz").unwrap();
    // Paris's days 0 and 1: from 23:00 UTC the day before to 23:00 UTC on day 1
    let q = AnalyticsQuery {
        from_ms: paris.day_start_ms(d0 + 12 * H),
        to_ms: paris.next_day_start_ms(d0 + 36 * H),
        bucket: Bucket::Day,
        shortened: false,
        zone: Some(paris),
    };
    assert_eq!(q.from_ms, d0 - H);
    let r = a.report(p.id, &q).await.unwrap();
    assert_eq!(r.time_zone, "Europe/Paris");
    let points: Vec<(i64, i64)> = r
        .series
        .iter()
        .map(|pt| (linkleaf_domain::unix_millis(pt.start), pt.clicks))
        .collect();
    assert_eq!(points, [(d0 - H, 1), (d0 + 23 * H, 10)]);
    assert_eq!(r.totals.clicks, 11);
    assert_eq!(r.links[0].clicks, 11);
    assert_eq!(r.referrers[0].clicks, 11);
    // the same range in UTC days: one day (the click before it is outside either way)
    let q = AnalyticsQuery {
        from_ms: d0,
        to_ms: d0 + 24 * H,
        bucket: Bucket::Day,
        shortened: false,
        zone: None,
    };
    let r = a.report(p.id, &q).await.unwrap();
    assert_eq!(r.time_zone, "UTC");
    assert_eq!(r.series.len(), 1);
    assert_eq!(r.totals.clicks, 11);
    s.profiles
        .delete_profile(ProfileRef::Id(p.id))
        .await
        .unwrap();
}

/// A range that starts and ends inside days is read from the edges' hours and the whole days'
/// day rows: what lies outside it is not counted, what lies inside is, once.
async fn analytics_ranges(s: &Stores) {
    let a = &s.analytics;
    let p = s
        .profiles
        .create_profile(&new_profile(
            r#"{"username":"ranged","links":[{"title":"a","url":"https://a.example"}]}"#,
        ))
        .await
        .unwrap();
    let link = p.links[0].id;
    const H: i64 = 3_600_000;
    let d0 = Bucket::Day.floor(1_795_600_000_000);
    let source = Uuid::now_v7();
    // (when, clicks): 8:00 on day 0 is before the range, 9:30 inside; day 1 is whole inside; on
    // day 2, 11:59 is inside and 12:00 after
    let at = [
        (d0 + 8 * H, 1),
        (d0 + 9 * H + H / 2, 10),
        (d0 + 24 * H + 12 * H, 100),
        (d0 + 48 * H + 12 * H - 60_000, 1_000),
        (d0 + 48 * H + 12 * H, 10_000),
    ];
    let frames: Vec<FrameRollup> = at
        .iter()
        .enumerate()
        .map(|(i, (t, n))| clicks(source, i as u64 + 1, p.id, link, *t, true, *n, &[1]))
        .collect();
    a.commit_window(Arc::new(frames)).await.unwrap();
    for bucket in [Bucket::Hour, Bucket::Minute] {
        let q = AnalyticsQuery {
            from_ms: d0 + 9 * H,
            to_ms: d0 + 48 * H + 12 * H,
            bucket,
            shortened: false,
            zone: None,
        };
        let r = a.report(p.id, &q).await.unwrap();
        assert_eq!(r.totals.clicks, 1_110, "{bucket:?}: the series");
        assert_eq!(r.links[0].clicks, 1_110, "{bucket:?}: the link's sum");
        assert_eq!(
            r.referrers[0].clicks, 1_110,
            "{bucket:?}: the breakdowns' sum"
        );
    }
    s.profiles
        .delete_profile(ProfileRef::Id(p.id))
        .await
        .unwrap();
}

/// A frame of referrer counts: `(host, clicks)` in the hour and the day of `at`.
fn referrers(
    source: Uuid,
    seq: u64,
    profile: Uuid,
    at: i64,
    hosts: &[(String, i64)],
) -> FrameRollup {
    let mut f = FrameRollup {
        source,
        seq,
        events: hosts.iter().map(|h| h.1 as u64).sum(),
        ..Default::default()
    };
    for (host, n) in hosts {
        for bucket in [Bucket::Hour, Bucket::Day] {
            f.counts.insert(
                RollupKey {
                    profile,
                    bucket,
                    start_ms: bucket.floor(at),
                    dimension: Dimension::Referrer,
                    value: host.clone(),
                },
                Counts { human: *n, bot: 0 },
            );
        }
    }
    f
}

/// Made-up referrers cannot grow the rollups without end: a breakdown keeps its 50 most
/// counted values per bucket and adds the rest up under "(other)", nothing lost.
async fn breakdowns_are_bounded(s: &Stores) {
    let p = s
        .profiles
        .create_profile(&new_profile(r#"{"username":"referred"}"#))
        .await
        .unwrap();
    let (source, at) = (Uuid::now_v7(), 1_795_600_000_000i64);
    // 120 hosts, the i-th counted i + 1 times
    let hosts: Vec<(String, i64)> = (0..120)
        .map(|i| (format!("h{i:03}.example"), i + 1))
        .collect();
    s.analytics
        .commit_window(Arc::new(vec![referrers(source, 1, p.id, at, &hosts)]))
        .await
        .unwrap();
    let q = AnalyticsQuery {
        from_ms: Bucket::Day.floor(at),
        to_ms: Bucket::Day.floor(at) + 86_400_000,
        bucket: Bucket::Hour,
        shortened: false,
        zone: None,
    };
    let r = s.analytics.report(p.id, &q).await.unwrap();
    // the 70 least counted (1..=70 clicks) are one value now
    assert_eq!(r.referrers[0].value, linkleaf_store::analytics::OTHER);
    assert_eq!(r.referrers[0].clicks, (1..=70).sum::<i64>());
    assert_eq!(r.referrers[1].value, "h119.example");
    assert_eq!(r.referrers[1].clicks, 120);
    // a new host counted more than the least kept one takes its place
    let newcomer = vec![("new.example".to_owned(), 1000)];
    s.analytics
        .commit_window(Arc::new(vec![referrers(source, 2, p.id, at, &newcomer)]))
        .await
        .unwrap();
    let r = s.analytics.report(p.id, &q).await.unwrap();
    assert_eq!(r.referrers[0].value, linkleaf_store::analytics::OTHER);
    assert_eq!(
        r.referrers[0].clicks,
        (1..=71).sum::<i64>(),
        "h070 went to other"
    );
    assert_eq!(r.referrers[1].value, "new.example");
    s.profiles
        .delete_profile(ProfileRef::Id(p.id))
        .await
        .unwrap();
}

async fn story(s: Stores) {
    let db = &s.profiles;
    db.migrate().await.unwrap();
    db.migrate().await.expect("migrations are idempotent");
    db.ping().await.unwrap();
    analytics_story(&s).await;
    analytics_ranges(&s).await;
    local_days(&s).await;
    breakdowns_are_bounded(&s).await;
    webhooks_story(&s).await;

    // create, then read back by key and by id
    let p = new_profile(
        r#"{"username":"Jane.Doe","displayName":"Jane","bio":"hi","theme":{"preset":"dark"},
            "links":[{"title":"a","url":"https://a.example"},{"title":"b","url":"https://b.example","enabled":false}]}"#,
    );
    let created = db.create_profile(&p).await.unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(created.links.len(), 2);
    let by_key = db
        .profile_by_username("jane.doe", ReadFrom::Replica)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_key, created);
    assert_eq!(by_key, p, "what is stored is what was written");
    assert_eq!(db.profile_by_id(p.id).await.unwrap().unwrap(), created);
    assert!(
        db.profile_by_username("nobody", ReadFrom::Primary)
            .await
            .unwrap()
            .is_none()
    );
    assert!(db.profile_by_id(Uuid::now_v7()).await.unwrap().is_none());
    // a redirect's view of each link
    let t = db.link_target(created.links[0].id).await.unwrap().unwrap();
    assert_eq!(
        (t.profile, t.url.as_str(), t.enabled),
        (p.id, "https://a.example/", true)
    );
    assert!(
        !db.link_target(created.links[1].id)
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    assert!(db.link_target(Uuid::now_v7()).await.unwrap().is_none());

    // usernames are unique without regard to case, and without regard to look-alikes
    let twin = new_profile(r#"{"username":"JANE.DOE"}"#);
    assert!(matches!(
        db.create_profile(&twin).await,
        Err(StoreError::UsernameTaken)
    ));
    let look_alike = new_profile(r#"{"username":"Jane.D0e"}"#);
    match db.create_profile(&look_alike).await {
        Err(StoreError::UsernameConfusable(existing)) => assert_eq!(existing, "Jane.Doe"),
        other => panic!("a look-alike was not refused: {other:?}"),
    }

    // update fields and links together, in one transaction; version moves on
    let patch: ProfilePatch = serde_json::from_str(r#"{"username":"jane","bio":null}"#).unwrap();
    let ops: LinksPatch = serde_json::from_str(&format!(
        r#"{{"ops":[{{"op":"remove","id":"{}"}},{{"op":"add","title":"c","url":"mailto:j@d.example","position":0}}]}}"#,
        created.links[0].id
    ))
    .unwrap();
    let change = |p: &Profile| {
        let mut next = patch.apply(p)?;
        next.links = ops.apply(&p.links)?;
        Ok(next)
    };
    let m = db
        .modify_profile(ProfileRef::Key("jane.doe".into()), &change)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.before, created);
    let updated = m.after;
    assert_eq!(updated.version, 2);
    assert_eq!(updated.username.as_str(), "jane");
    assert_eq!(updated.bio, "");
    assert!(updated.last_modified >= created.last_modified);
    let titles: Vec<&str> = updated.links.iter().map(|l| l.title.as_str()).collect();
    assert_eq!(titles, ["c", "b"]);
    assert_eq!(
        updated.links[1].id, created.links[1].id,
        "kept links keep their ids"
    );
    assert!(
        db.profile_by_username("jane.doe", ReadFrom::Replica)
            .await
            .unwrap()
            .is_none(),
        "the old name is free"
    );
    assert_eq!(
        db.profile_by_username("jane", ReadFrom::Replica)
            .await
            .unwrap()
            .unwrap(),
        updated
    );

    // a change that changes nothing writes nothing; a refused change writes nothing
    let same = db
        .modify_profile(ProfileRef::Id(p.id), &|p| Ok(p.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((same.before.version, same.after.version), (2, 2));
    let refused = db
        .modify_profile(ProfileRef::Id(p.id), &|_| {
            Err(ValidationErrors::single("bio", "no"))
        })
        .await;
    assert!(matches!(refused, Err(ModifyError::Invalid(_))));
    assert_eq!(db.profile_by_id(p.id).await.unwrap().unwrap(), updated);
    let ghost = db
        .modify_profile(ProfileRef::Id(Uuid::now_v7()), &|p| Ok(p.clone()))
        .await
        .unwrap();
    assert!(ghost.is_none());

    // renaming onto a taken name fails and changes nothing
    let other = db
        .create_profile(&new_profile(r#"{"username":"other"}"#))
        .await
        .unwrap();
    let clash = db
        .modify_profile(ProfileRef::Id(other.id), &|p| {
            let mut n = p.clone();
            n.username = Username::parse("JANE").unwrap();
            Ok(n)
        })
        .await;
    assert!(matches!(
        clash,
        Err(ModifyError::Store(StoreError::UsernameTaken))
    ));
    // ...and renaming onto a look-alike of a taken name fails, naming it
    let paypal = db
        .create_profile(&new_profile(r#"{"username":"paypal"}"#))
        .await
        .unwrap();
    let clash = db
        .modify_profile(ProfileRef::Id(other.id), &|p| {
            let mut n = p.clone();
            n.username = Username::parse("paypa1").unwrap();
            Ok(n)
        })
        .await;
    match clash {
        Err(ModifyError::Store(StoreError::UsernameConfusable(existing))) => {
            assert_eq!(existing, "paypal")
        }
        other => panic!("a look-alike rename was not refused: {other:?}"),
    }
    assert_eq!(db.profile_by_id(other.id).await.unwrap().unwrap(), other);
    db.delete_profile(ProfileRef::Id(paypal.id)).await.unwrap();

    // concurrent modifications of one profile queue: none is lost
    let adds = (0..16).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            let op: LinksPatch = serde_json::from_str(&format!(
                r#"{{"ops":[{{"op":"add","title":"t{i}","url":"https://e.example"}}]}}"#
            ))
            .unwrap();
            db.modify_profile(ProfileRef::Key("other".into()), &|p| {
                let mut n = p.clone();
                n.links = op.apply(&p.links)?;
                Ok(n)
            })
            .await
            .map(|_| ())
        })
    });
    for a in adds.collect::<Vec<_>>() {
        a.await.unwrap().unwrap();
    }
    let other = db.profile_by_id(other.id).await.unwrap().unwrap();
    assert_eq!(other.links.len(), 16);
    assert_eq!(other.version, 17);

    // listing pages by username
    let page = db.list_profiles(None, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].username.as_str(), "jane");
    assert_eq!(page[0].link_count, 2);
    let rest = db.list_profiles(Some("jane"), 10).await.unwrap();
    assert_eq!(
        rest.iter().map(|s| s.username.as_str()).collect::<Vec<_>>(),
        ["other"]
    );

    // delete takes the links with it, by id or by username key
    let (id, name) = db
        .delete_profile(ProfileRef::Id(p.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((id, name.as_str()), (p.id, "jane"));
    assert!(
        db.delete_profile(ProfileRef::Id(p.id))
            .await
            .unwrap()
            .is_none()
    );
    assert!(db.profile_by_id(p.id).await.unwrap().is_none());
    let (id, name) = db
        .delete_profile(ProfileRef::Key("other".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((id, name.as_str()), (other.id, "other"));
    assert!(
        db.delete_profile(ProfileRef::Key("other".into()))
            .await
            .unwrap()
            .is_none()
    );
    assert!(db.list_profiles(None, 10).await.unwrap().is_empty());

    // keys: stored by digest, found by prefix, revoked by id or prefix
    let k = ApiKeyRecord {
        id: Uuid::now_v7(),
        name: "ci".into(),
        prefix: "lk_0011223344556677".into(),
        digest: vec![1; 32],
        scopes: Scopes::parse("profile:read links:write").unwrap(),
        created_at: now_millis(),
        revoked_at: None,
        profile: None,
        account: None,
    };
    s.keys.insert_key(&k).await.unwrap();
    assert_eq!(s.keys.key_by_prefix(&k.prefix).await.unwrap().unwrap(), k);
    // a key whose prefix is taken is a plain error, not a profile's "username taken"
    match s
        .keys
        .insert_key(&ApiKeyRecord {
            id: Uuid::now_v7(),
            ..k.clone()
        })
        .await
    {
        Err(StoreError::Refused(_)) => {}
        other => panic!("a duplicate key prefix: {other:?}"),
    }
    assert!(
        s.keys
            .key_by_prefix("lk_ffffffffffffffff")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.keys.list_keys().await.unwrap(), vec![k.clone()]);
    assert!(s.keys.revoke_key(&k.prefix, now_millis()).await.unwrap());
    assert!(
        !s.keys
            .revoke_key(&k.id.to_string(), now_millis())
            .await
            .unwrap(),
        "already revoked"
    );
    assert!(
        s.keys
            .key_by_prefix(&k.prefix)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    accounts::accounts_story(&s).await;
    schedule_story(&s).await;
}

/// Scheduled links: their windows are kept, and their boundaries are announced once each, in
/// time order, a page at a time, disabled links' never.
async fn schedule_story(s: &Stores) {
    // times of their own, far ahead (2031), so that nothing else in the story has boundaries
    let base: i64 = 1_924_992_000_000;
    let at = |ms: i64| serde_json::to_value(linkleaf_store_time(ms)).unwrap();
    let a = new_profile(&format!(
        r#"{{"username": "sched_a", "links": [
            {{"title": "On", "url": "https://a.example/", "visibleFrom": {}, "visibleUntil": {}}},
            {{"title": "Off", "url": "https://b.example/", "enabled": false, "visibleFrom": {}}}]}}"#,
        at(base + 1000),
        at(base + 5000),
        at(base + 2000),
    ));
    let b = new_profile(&format!(
        r#"{{"username": "sched_b", "links": [
            {{"title": "On", "url": "https://a.example/", "visibleFrom": {}}}]}}"#,
        at(base + 1000),
    ));
    let db = &s.profiles;
    let a = db.create_profile(&a).await.unwrap();
    let b = db.create_profile(&b).await.unwrap();
    let read = db.profile_by_id(a.id).await.unwrap().unwrap();
    assert_eq!(read.links, a.links);
    assert_eq!(
        read.links[0]
            .visible_until
            .map(linkleaf_domain::unix_millis),
        Some(base + 5000)
    );
    let ids = |bs: &linkleaf_store::Boundaries| -> Vec<(Uuid, i64)> {
        bs.passed.iter().map(|(p, _, t)| (*p, *t)).collect()
    };
    let mut at_1000 = vec![(a.id, base + 1000), (b.id, base + 1000)];
    at_1000.sort();
    // nothing due yet; the next is the first start
    let none = db
        .pass_boundaries((base - 10_000, Uuid::nil()), base, 10)
        .await
        .unwrap();
    assert_eq!((none.passed.len(), none.next_ms), (0, Some(base + 1000)));
    // both starts at once, the disabled link's never; the end comes next
    let first = db
        .pass_boundaries((base, Uuid::nil()), base + 4000, 10)
        .await
        .unwrap();
    assert_eq!(ids(&first), at_1000);
    assert_eq!(
        first.passed[0].1.as_str(),
        if at_1000[0].0 == a.id {
            "sched_a"
        } else {
            "sched_b"
        }
    );
    assert_eq!(first.next_ms, Some(base + 5000));
    // a page at a time, from where the last one stopped
    let one = db
        .pass_boundaries((base, Uuid::nil()), base + 4000, 1)
        .await
        .unwrap();
    assert_eq!(ids(&one), at_1000[..1]);
    let rest = db
        .pass_boundaries((base + 1000, at_1000[0].0), base + 4000, 1)
        .await
        .unwrap();
    assert_eq!(ids(&rest), at_1000[1..]);
    let end = db
        .pass_boundaries((base + 4000, Uuid::max()), base + 5000, 10)
        .await
        .unwrap();
    assert_eq!((ids(&end), end.next_ms), (vec![(a.id, base + 5000)], None));
    // announced three times over, written once each
    let events = s
        .webhooks
        .unpublished(i64::MAX / 2, 1, 10_000)
        .await
        .unwrap();
    for (p, t) in at_1000.iter().chain([&(a.id, base + 5000)]) {
        let mine: Vec<_> = events
            .iter()
            .filter(|e| {
                let v: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
                v["data"]["id"] == p.to_string()
                    && v["timestamp"] == at(*t)
                    && e.kind == "links.updated"
            })
            .collect();
        assert_eq!(mine.len(), 1, "{p} at {t}: {events:?}");
    }
}

fn linkleaf_store_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn sqlite_tells_the_story() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    story(open(&url, &StoreOptions::default()).await.unwrap()).await;
}

/// The outbox is written by the profile writes, in their transactions (an event each), and
/// fanned out after them to the subscriptions that want each type; deliveries are claimed with
/// a lease, retried, given up on, and a subscription failing for long is disabled; incoming ids
/// are recorded once, and an event keeps its id wherever it goes.
async fn webhooks_story(s: &Stores) {
    use linkleaf_domain::webhook::{EventType, SubscriptionSpec, WebhookEvent};
    use linkleaf_store::webhooks::{Attempt, Next};
    let w = &s.webhooks;
    let now = linkleaf_domain::now_millis().unix_timestamp() * 1000;
    // what the stories before wrote, fanned out while there is no subscription: nothing
    let (_, made) = w.fan_out(now, 1000).await.unwrap();
    assert_eq!(made, 0);
    let edits = w
        .create_subscription(
            &SubscriptionSpec {
                url: "https://edits.example/in".into(),
                events: vec![EventType::ProfileUpdated, EventType::LinksUpdated],
                enabled: true,
            },
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            now,
            2,
            None,
        )
        .await
        .unwrap();
    let all = w
        .create_subscription(
            &SubscriptionSpec {
                url: "http://all.example/in".into(),
                events: EventType::ALL.to_vec(),
                enabled: true,
            },
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            now,
            2,
            None,
        )
        .await
        .unwrap();
    // no more than the limit
    let third = w
        .create_subscription(
            &SubscriptionSpec {
                url: "http://third.example/in".into(),
                events: EventType::ALL.to_vec(),
                enabled: true,
            },
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            now,
            2,
            None,
        )
        .await;
    assert!(
        matches!(third, Err(StoreError::LimitReached(2))),
        "{third:?}"
    );
    assert_eq!(w.subscriptions(None, 100, None).await.unwrap().len(), 2);
    // a page at a time, by id
    let first = w.subscriptions(None, 1, None).await.unwrap();
    let second = w.subscriptions(Some(first[0].id), 1, None).await.unwrap();
    assert_eq!((first[0].id, second[0].id), (edits.id, all.id));
    assert!(
        w.subscriptions(Some(all.id), 1, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(w.subscription(edits.id).await.unwrap().unwrap(), edits);
    // a change and its events: created, renamed, links edited, deleted
    let p = s
        .profiles
        .create_profile(&new_profile(
            r#"{"username":"hooked","links":[{"title":"a","url":"https://a.example"}]}"#,
        ))
        .await
        .unwrap();
    // a write that fails writes no event
    assert!(
        s.profiles
            .create_profile(&new_profile(r#"{"username":"Hooked"}"#))
            .await
            .is_err()
    );
    s.profiles
        .modify_profile(ProfileRef::Id(p.id), &|p| {
            ProfilePatch {
                username: Some("hooked2".into()),
                ..Default::default()
            }
            .apply(p)
        })
        .await
        .unwrap();
    s.profiles
        .modify_profile(ProfileRef::Id(p.id), &|p| {
            let mut next = p.clone();
            next.links = serde_json::from_str::<LinksPatch>(r#"{"ops":[{"op":"disable","id":"ID"}]}"#.replace("ID", &p.links[0].id.to_string()).as_str())
                .unwrap()
                .apply(&p.links)?;
            Ok(next)
        })
        .await
        .unwrap();
    s.profiles
        .delete_profile(ProfileRef::Id(p.id))
        .await
        .unwrap();
    // the writes wrote their events alone: nothing is due before the fan-out
    assert!(
        w.claim_due(now + 60_000, 30_000, 100, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(w.fan_out(now + 60_000, 100).await.unwrap(), (4, 6));
    assert_eq!(w.fan_out(now + 60_000, 100).await.unwrap(), (0, 0), "once");
    let due = w
        .claim_due(now + 60_000, 30_000, 100, i64::MAX)
        .await
        .unwrap();
    let kinds = |sub: Uuid| {
        let mut k: Vec<String> = due
            .iter()
            .filter(|d| d.subscription == sub)
            .map(|d| d.kind.clone())
            .collect();
        k.sort();
        k
    };
    assert_eq!(kinds(edits.id), ["links.updated", "profile.updated"]);
    assert_eq!(
        kinds(all.id),
        [
            "links.updated",
            "profile.created",
            "profile.deleted",
            "profile.updated"
        ]
    );
    let renamed = due.iter().find(|d| d.kind == "profile.updated").unwrap();
    let body: serde_json::Value = serde_json::from_str(&renamed.payload).unwrap();
    assert_eq!(body["data"]["username"], "hooked2");
    assert_eq!(body["data"]["previousUsername"], "hooked");
    assert_eq!(body["data"]["id"], p.id.to_string());
    assert!(renamed.event_id.starts_with("msg_"));
    assert_eq!(renamed.attempts, 0);
    // claimed: not claimed again while the lease holds
    assert!(
        w.claim_due(now + 60_000, 30_000, 100, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    let attempt = |d: &linkleaf_store::webhooks::Due, at: i64, next: Next| Attempt {
        subscription: d.subscription,
        event_id: d.event_id.clone(),
        attempt: d.attempts + 1,
        at_ms: at,
        status: Some(500),
        latency_ms: 12,
        error: Some("answered 500".into()),
        next,
        lease: d.lease,
    };
    let mine: Vec<_> = due.iter().filter(|d| d.subscription == all.id).collect();
    let day = 86_400_000;
    // the first fails and is retried, the second is delivered, the third is given up on
    w.finish_attempt(
        &attempt(mine[0], now + 60_000, Next::Retry(now + 70_000)),
        day,
    )
    .await
    .unwrap();
    w.finish_attempt(
        &Attempt {
            status: Some(204),
            error: None,
            ..attempt(mine[1], now + 60_000, Next::Delivered)
        },
        day,
    )
    .await
    .unwrap();
    w.finish_attempt(&attempt(mine[2], now + 60_000, Next::Dead), day)
        .await
        .unwrap();
    // an attempt whose claim ran out and was taken over records nothing
    assert!(
        !w.finish_attempt(&attempt(mine[0], now + 61_000, Next::Dead), day)
            .await
            .unwrap(),
        "its lease was spent by the first finish"
    );
    let again = w
        .claim_due(now + 70_000, 30_000, 100, i64::MAX)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "the retried one, once due");
    assert_eq!(
        (again[0].event_id.as_str(), again[0].attempts),
        (mine[0].event_id.as_str(), 1)
    );
    let listed = w.deliveries(all.id, 10).await.unwrap();
    assert_eq!(listed.len(), 4);
    let by_id = |id: &str| listed.iter().find(|d| d.event_id == id).unwrap();
    assert_eq!(by_id(&mine[1].event_id).status, "delivered");
    assert_eq!(by_id(&mine[2].event_id).status, "dead");
    let retried = by_id(&mine[0].event_id);
    assert_eq!(retried.status, "pending");
    assert_eq!(retried.attempts.len(), 1);
    assert_eq!(retried.attempts[0].status, Some(500));
    assert_eq!(retried.next_attempt_at, Some(now + 70_000));
    // a success ends a failure streak; failing past `disable_after` disables the subscription,
    // and a disabled subscription's deliveries are not claimed
    let sub = w.subscription(all.id).await.unwrap().unwrap();
    assert_eq!(sub.failing_since, Some(now + 60_000));
    w.finish_attempt(
        &attempt(
            &again[0],
            now + 60_000 + day + 1,
            Next::Retry(now + 60_000 + day + 2),
        ),
        day,
    )
    .await
    .unwrap();
    let sub = w.subscription(all.id).await.unwrap().unwrap();
    assert!(!sub.spec.enabled, "disabled after failing for a day");
    assert!(sub.disabled_reason.unwrap().contains("failed"));
    assert!(
        w.claim_due(now + 2 * day, 30_000, 100, i64::MAX)
            .await
            .unwrap()
            .iter()
            .all(|d| d.subscription != all.id)
    );
    let back = w
        .update_subscription(
            all.id,
            &SubscriptionSpec {
                enabled: true,
                ..sub.spec.clone()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((back.disabled_reason, back.failing_since), (None, None));
    // rotation: the old secret signs beside the new one until the overlap ends
    let rotated = w
        .rotate_secret(all.id, "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldA==", now + 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rotated.signing_secrets(now),
        vec![
            "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldA==".to_owned(),
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_owned()
        ]
    );
    assert_eq!(rotated.signing_secrets(now + 1000).len(), 1);
    // first attempts of events newer than `first_before` wait (a poll does not race the
    // writer's announcement)
    let p2 = s
        .profiles
        .create_profile(&new_profile(r#"{"username":"settling"}"#))
        .await
        .unwrap();
    w.fan_out(now + 3 * day, 100).await.unwrap();
    assert!(
        w.claim_due(now + 3 * day, 30_000, 100, 0)
            .await
            .unwrap()
            .iter()
            .all(|d| !d.payload.contains(&p2.id.to_string()))
    );
    // it is the delivery's age (since its fan-out, after the commit) that settles, not its
    // next attempt's time: a first attempt given back for its receiver (postponed) is taken
    // when due, not a settling period after that
    let settled = now + 3 * day;
    let mine = |ds: Vec<linkleaf_store::webhooks::Due>| {
        ds.into_iter()
            .filter(|d| d.payload.contains(&p2.id.to_string()))
            .collect::<Vec<_>>()
    };
    let first = mine(
        w.claim_due(now + 3 * day, 30_000, 100, settled)
            .await
            .unwrap(),
    );
    assert_eq!(first.len(), 1);
    assert!(w.postpone(&first[0], now + 3 * day + 10).await.unwrap());
    assert!(
        mine(
            w.claim_due(now + 3 * day + 5, 30_000, 100, settled)
                .await
                .unwrap()
        )
        .is_empty()
    );
    // and once given back it has settled: a poll that takes no unsettled first attempt
    // (`first_before` before its fan-out) takes it when due
    let again = mine(
        w.claim_due(now + 3 * day + 20, 30_000, 100, 0)
            .await
            .unwrap(),
    );
    assert_eq!(again.len(), 1, "taken once due, by a poll too");
    w.postpone(&again[0], now + 3 * day).await.unwrap();
    s.profiles
        .delete_profile(ProfileRef::Id(p2.id))
        .await
        .unwrap();
    assert_eq!(
        w.fan_out(now + 3 * day, 100).await.unwrap(),
        (1, 1),
        "its deletion"
    );
    // incoming ids: once, with what they republish
    let ev = WebhookEvent::new(
        EventType::LinksUpdated,
        linkleaf_domain::now_millis(),
        p.id,
        &linkleaf_domain::Username::parse("hooked2").unwrap(),
        None,
    );
    assert!(!w.incoming_seen("msg_in_1", now).await.unwrap());
    assert!(
        w.accept_incoming("msg_in_1", now, now + 1000, std::slice::from_ref(&ev))
            .await
            .unwrap()
    );
    assert!(w.incoming_seen("msg_in_1", now).await.unwrap());
    assert!(
        !w.accept_incoming("msg_in_1", now, now + 1000, std::slice::from_ref(&ev))
            .await
            .unwrap(),
        "a duplicate"
    );
    // the same event come back under another delivery id (a loop): recorded, not passed on
    assert!(
        w.accept_incoming("msg_in_2", now, now + 1000, std::slice::from_ref(&ev))
            .await
            .unwrap()
    );
    assert_eq!(
        w.fan_out(now + 3 * day, 100).await.unwrap(),
        (1, 2),
        "one event, once, to both subscriptions"
    );
    let republished = w
        .claim_due(now + 3 * day, 30_000, 100, i64::MAX)
        .await
        .unwrap();
    assert_eq!(
        republished
            .iter()
            .filter(|d| d.kind == "links.updated" && d.payload == ev.to_json())
            .count(),
        2,
        "republished once, to both subscriptions"
    );
    assert!(
        republished
            .iter()
            .filter(|d| d.payload == ev.to_json())
            .all(|d| d.event_id == ev.id),
        "under the id it came with"
    );
    // the queue's share of the outbox
    let unpublished = w.unpublished(now, 10_000, 100).await.unwrap();
    assert!(unpublished.len() >= 5);
    assert!(
        unpublished.windows(2).all(|p| p[0].id < p[1].id),
        "oldest first"
    );
    assert!(
        w.unpublished(now, 10_000, 100).await.unwrap().is_empty(),
        "claimed: another relay skips them"
    );
    w.mark_published(
        &unpublished[1..]
            .iter()
            .map(|u| u.id.clone())
            .collect::<Vec<_>>(),
        now,
    )
    .await
    .unwrap();
    let again = w.unpublished(now + 10_000, 10_000, 100).await.unwrap();
    assert_eq!(
        again.len(),
        1,
        "the one not confirmed, once its lease ran out"
    );
    w.mark_published(&[again[0].id.clone()], now).await.unwrap();
    assert!(
        w.unpublished(now + 20_000, 10_000, 100)
            .await
            .unwrap()
            .is_empty()
    );
    // pruning: the expired incoming id, and events with nothing left to deliver
    assert!(w.prune_webhooks(now + 2000, 0, true).await.unwrap() >= 1);
    assert!(!w.incoming_seen("msg_in_1", now).await.unwrap());
    assert!(w.delete_subscription(edits.id).await.unwrap());
    assert!(!w.delete_subscription(edits.id).await.unwrap());
    assert!(w.deliveries(edits.id, 10).await.unwrap().is_empty());
    assert!(w.delete_subscription(all.id).await.unwrap());
}

/// A database from before look-alike names were refused may hold some: the upgrade keeps every
/// profile under its name, and a new look-alike of them is still refused.
#[tokio::test]
async fn sqlite_upgrades_a_database_already_holding_look_alike_names() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let old = linkleaf_store::SqlStore::open(&url, &StoreOptions::default())
        .await
        .unwrap();
    old.migrate_to(1).await.unwrap();
    let theme = r#"{"preset":"light"}"#;
    for (i, name) in ["hello", "he1lo", "HeIlo", "other"].iter().enumerate() {
        old.execute_raw(&format!(
            "INSERT INTO profiles (id, username, username_key, display_name, bio, theme, version, created_at, updated_at)
             VALUES ('{}', '{name}', '{}', 'x', '', '{theme}', 1, {i}, {i})",
            Uuid::now_v7(),
            name.to_lowercase()
        ))
        .await
        .unwrap();
    }
    drop(old);
    let s = open(&url, &StoreOptions::default()).await.unwrap();
    s.profiles.migrate().await.unwrap();
    for name in ["hello", "he1lo", "heilo", "other"] {
        assert!(
            s.profiles
                .profile_by_username(name, ReadFrom::Primary)
                .await
                .unwrap()
                .is_some(),
            "{name} is kept"
        );
    }
    match s
        .profiles
        .create_profile(&new_profile(r#"{"username":"hel1o","displayName":"x"}"#))
        .await
    {
        Err(StoreError::UsernameConfusable(oldest)) => assert_eq!(oldest, "hello"),
        other => panic!("a new look-alike of the kept names is refused: {other:?}"),
    }
    match s
        .profiles
        .create_profile(&new_profile(r#"{"username":"hello2","displayName":"x"}"#))
        .await
    {
        Ok(_) => {}
        other => panic!("a different skeleton registers: {other:?}"),
    }
}

#[tokio::test]
async fn postgres_tells_the_story() {
    let Some(db) = TempPostgres::create().await else {
        return;
    };
    story(open(&db.url, &StoreOptions::default()).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_with_a_replica_reads_public_profiles_from_it() {
    let Some(primary) = TempPostgres::create().await else {
        return;
    };
    let Some(replica) = TempPostgres::create().await else {
        return;
    };
    // Two databases stand for a primary and a lagging replica: what only the primary has is
    // invisible to replica reads, and visible to primary reads.
    let opts = StoreOptions {
        read_url: Some(linkleaf_domain::Secret::new(replica.url.clone())),
        ..StoreOptions::default()
    };
    let s = open(&primary.url, &opts).await.unwrap();
    s.profiles.migrate().await.unwrap();
    open(&replica.url, &StoreOptions::default())
        .await
        .unwrap()
        .profiles
        .migrate()
        .await
        .unwrap();
    let p = new_profile(r#"{"username":"lagging"}"#);
    s.profiles.create_profile(&p).await.unwrap();
    assert!(
        s.profiles
            .profile_by_username("lagging", ReadFrom::Replica)
            .await
            .unwrap()
            .is_none(),
        "public reads go to the replica"
    );
    assert!(
        s.profiles.list_profiles(None, 10).await.unwrap().is_empty(),
        "listings too"
    );
    assert_eq!(
        s.profiles
            .profile_by_username("lagging", ReadFrom::Primary)
            .await
            .unwrap()
            .unwrap(),
        p
    );
    assert_eq!(s.profiles.profile_by_id(p.id).await.unwrap().unwrap(), p);
    // read-apply-write is on the primary
    let m = s
        .profiles
        .modify_profile(ProfileRef::Key("lagging".into()), &|p| {
            let mut n = p.clone();
            n.bio = "changed".into();
            Ok(n)
        })
        .await
        .unwrap();
    assert!(m.is_some());
}

#[tokio::test]
async fn unknown_schemes_are_refused_by_name() {
    let e = open("mysql://x", &StoreOptions::default())
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("'mysql'"), "{e}");
}
