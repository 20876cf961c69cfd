//! linkleaf on a real Redis Cluster (three masters on loopback ports, started and stopped by the
//! test): the shared tier, the bus and the shared rate limit work across slots, and the keys of
//! one profile live in one slot (their hash tag), so the scripts that touch them together run.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::services::{RedisCluster, redis_command};
use linkleaf_testkit::{Deployment, header};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_tier_bus_and_limit_work_on_a_redis_cluster() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let urls = cluster.urls();
    let Some(d) = Deployment::start(
        2,
        |_| Some(urls.clone()),
        |_, c| {
            c.rate_limit.per_minute = std::num::NonZeroU32::new(20).expect("non-zero");
            c.rate_limit.burst = std::num::NonZeroU32::new(20).expect("non-zero");
        },
    )
    .await
    else {
        return;
    };
    let (a, b) = (&d.apps[0], &d.apps[1]);
    let key = a.root_key().await;
    // names that hash to different slots, so every master takes part
    let names: Vec<String> = (0..12).map(|i| format!("member{i}")).collect();
    for n in &names {
        a.create_profile(&key, json!({"username": n, "bio": "v1"}))
            .await;
    }
    for n in &names {
        assert_eq!(a.get(&format!("/api/profiles/{n}")).await.status(), 200);
    }
    b.reset_origin_reads();
    for n in &names {
        let r = b.get(&format!("/api/profiles/{n}")).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(b.origin_reads(), 0, "every page came from the cluster");

    // the keys of one profile share a slot; pages are spread over the masters
    let mut holders = std::collections::HashSet::new();
    for n in &names {
        let page = format!("{}:page:{{{n}}}", d.prefix);
        let generation = format!("{}:gen:{{{n}}}", d.prefix);
        let slot = |k: &str| {
            redis_command(cluster.nodes[0].port, &format!("CLUSTER KEYSLOT {k}")).unwrap()
        };
        assert_eq!(slot(&page), slot(&generation), "{n}: one slot");
        for node in &cluster.nodes {
            if redis_command(node.port, &format!("EXISTS {page}")).unwrap() == ":1" {
                holders.insert(node.port);
            }
        }
    }
    assert!(
        holders.len() >= 2,
        "pages live on several masters: {holders:?}"
    );

    // an edit through A reaches B through the bus
    let r = a
        .admin(reqwest::Method::PATCH, "/api/profiles/member3", &key)
        .json(&json!({"bio": "v2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    linkleaf_testkit::until("B serves v2", Duration::from_millis(500), || async {
        let body: Value = b.get("/api/profiles/member3").await.json().await.unwrap();
        if body["bio"] == "v2" {
            Ok(())
        } else {
            Err(body.to_string())
        }
    })
    .await;

    // one key, one bucket of 20 for both instances
    let limited = d.apps[0].key("profile:read").await;
    let mut ok = 0;
    for i in 0..30 {
        let r = d.apps[i % 2]
            .admin(reqwest::Method::GET, "/api/profiles?limit=1", &limited)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            ok += 1;
        } else {
            assert_eq!(r.status(), 429);
            assert!(!header(&r, "retry-after").is_empty());
        }
    }
    assert!((20..=21).contains(&ok), "{ok} answered with a bucket of 20");
}
