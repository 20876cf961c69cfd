//! Writes that fail because of the database's state (a full disk, files made immutable, a
//! backend terminated in the middle of a transaction) must work again as soon as the cause is
//! gone, without a restart,
//! and nothing acknowledged may be lost: each write has an id (a username), the acknowledged
//! ones are recorded, and after the fault every one of them is stored, once.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_domain::{CreateProfile, ProfilePatch, now_millis};
use linkleaf_store::testing::{TempPostgres, Tmpfs, is_root, missing};
use linkleaf_store::{ProfileRef, StoreError, StoreOptions, Stores, open};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

async fn create(stores: &Stores, name: &str) -> Result<(), StoreError> {
    let links: Vec<serde_json::Value> = (0..6)
        .map(|i| serde_json::json!({"title": format!("Link {i} of {name}"), "url": format!("https://{name}.example/{i}")}))
        .collect();
    let p = serde_json::from_value::<CreateProfile>(serde_json::json!({
        "username": name, "displayName": format!("The profile called {name}"),
        "bio": "A bio long enough to take some room on the disk. ".repeat(5), "links": links,
    }))
    .unwrap()
    .into_profile(now_millis())
    .unwrap();
    stores.profiles.create_profile(&p).await.map(drop)
}

/// Every acknowledged name is stored, once.
async fn all_stored(stores: &Stores, acked: &BTreeSet<String>) {
    let mut stored = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = stores
            .profiles
            .list_profiles(after.as_deref(), 500)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.username.key());
        stored.extend(page.into_iter().map(|p| p.username.as_str().to_owned()));
    }
    let unique: BTreeSet<_> = stored.iter().cloned().collect();
    assert_eq!(unique.len(), stored.len(), "a name is stored twice");
    let lost: Vec<_> = acked.difference(&unique).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
}

/// Fills the database until a write fails; returns the names acknowledged and the error.
async fn fill(stores: &Stores, acked: &mut BTreeSet<String>) -> StoreError {
    for n in 0..20_000 {
        let name = format!("fill{n}");
        match create(stores, &name).await {
            Ok(()) => {
                acked.insert(name);
            }
            Err(e) => return e,
        }
    }
    panic!("the database never filled up");
}

/// After the cause is gone, writes work at once: each of `n` in a row.
async fn writes_work(stores: &Stores, acked: &mut BTreeSet<String>, tag: &str, n: usize) {
    for i in 0..n {
        let name = format!("{tag}{i}");
        create(stores, &name)
            .await
            .unwrap_or_else(|e| panic!("write {i} of {n} after the fault failed: {e}"));
        acked.insert(name);
    }
    let h = stores.health.health().await;
    assert_eq!(h.failing_writes, None, "{h:?}");
    assert_eq!(h.unavailable, None, "{h:?}");
    assert!(h.heartbeat_ok_ms.is_some(), "{h:?}");
}

async fn full_then_room(stores: &Stores, give_room: impl FnOnce()) {
    stores.profiles.migrate().await.unwrap();
    let mut acked = BTreeSet::new();
    let e = fill(stores, &mut acked).await;
    assert!(
        matches!(e, StoreError::Unavailable(_)),
        "a full database is unavailable, not {e:?}"
    );
    assert!(acked.len() > 5, "some writes went in first");
    let h = stores.health.health().await;
    assert!(
        h.failing_writes.is_some(),
        "failing writes are reported: {h:?}"
    );
    assert_eq!(
        h.unavailable, None,
        "a full disk leaves reads working: {h:?}"
    );
    // more writes fail the same way while there is no room, and none wedges a connection
    for i in 0..10 {
        assert!(create(stores, &format!("more{i}")).await.is_err());
    }
    give_room();
    writes_work(stores, &mut acked, "after", 20).await;
    // and so do changes to what was there (read-apply-write)
    for name in acked.iter().take(5) {
        let patch: ProfilePatch =
            serde_json::from_value(serde_json::json!({"bio": "changed"})).unwrap();
        stores
            .profiles
            .modify_profile(ProfileRef::parse(name).unwrap(), &|p| patch.apply(p))
            .await
            .unwrap()
            .unwrap();
    }
    all_stored(stores, &acked).await;
}

/// A real full disk: the database on an 8 MiB tmpfs that a 3 MiB file shares. The WAL grows at
/// COMMIT, so the commit itself fails: the driver's connection was left inside the transaction
/// and every later BEGIN on it failed until a restart.
#[tokio::test]
async fn sqlite_writes_work_again_after_a_real_full_disk() {
    if !is_root() {
        eprintln!(
            "\n*** SKIPPED: mounting a tmpfs needs root (CI runs as root); the max_page_count test stands in ***\n"
        );
        return;
    }
    let fs = Tmpfs::mount("8m").expect("mount a tmpfs (as root)");
    let filler: PathBuf = fs.path().join("filler");
    std::fs::write(&filler, vec![7u8; 3 << 20]).unwrap();
    let url = format!("sqlite://{}", fs.path().join("linkleaf.db").display());
    let stores = open(&url, &StoreOptions::default()).await.unwrap();
    full_then_room(&stores, || std::fs::remove_file(&filler).unwrap()).await;
}

/// Where a disk cannot be filled: `PRAGMA max_page_count`, set on every connection.
#[tokio::test]
async fn sqlite_writes_work_again_after_the_page_limit_is_raised() {
    let dir = tempfile::tempdir().unwrap();
    let limit = Arc::new(AtomicU64::new(0));
    let opts = StoreOptions {
        sqlite_page_limit: Some(limit.clone()),
        ..StoreOptions::default()
    };
    let url = format!("sqlite://{}", dir.path().join("linkleaf.db").display());
    let stores = open(&url, &opts).await.unwrap();
    stores.profiles.migrate().await.unwrap();
    limit.store(120, Ordering::SeqCst);
    full_then_room(&stores, || limit.store(0, Ordering::SeqCst)).await;
}

/// PostgreSQL: every backend terminated while a change holds its transaction open. The change
/// fails; the next writes work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_work_again_after_backends_are_terminated_mid_transaction() {
    let Some(db) = TempPostgres::create().await else {
        return;
    };
    let stores = match open(&db.url, &StoreOptions::default()).await {
        Ok(s) => s,
        Err(e) => return missing("PostgreSQL", e),
    };
    stores.profiles.migrate().await.unwrap();
    let mut acked = BTreeSet::new();
    for i in 0..5 {
        create(&stores, &format!("before{i}")).await.unwrap();
        acked.insert(format!("before{i}"));
    }
    let db = Arc::new(db);
    let terminator = db.clone();
    let changed = stores
        .profiles
        .modify_profile(ProfileRef::parse("before0").unwrap(), &move |p| {
            // inside the transaction, holding the row lock: every backend is terminated
            let db = terminator.clone();
            let n = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(db.terminate_connections())
            })
            .unwrap();
            assert!(n >= 1, "the transaction's backend was terminated");
            let mut next = p.clone();
            next.bio = "never written".into();
            Ok(next)
        })
        .await;
    assert!(changed.is_err(), "the change cannot commit: {changed:?}");
    writes_work(&stores, &mut acked, "after", 20).await;
    let p = stores
        .profiles
        .profile_by_username("before0", linkleaf_store::ReadFrom::Primary)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(p.bio, "never written");
    all_stored(&stores, &acked).await;
}

/// A busy database (another writer holds the lock past the busy timeout) refuses the write as
/// unavailable, but that is load, not failure: readiness is not degraded by it.
#[tokio::test]
async fn sqlite_busy_is_not_a_failing_database() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("linkleaf.db").display());
    let opts = StoreOptions {
        busy_timeout: std::time::Duration::from_millis(50),
        ..StoreOptions::default()
    };
    let stores = open(&url, &opts).await.unwrap();
    stores.profiles.migrate().await.unwrap();
    create(&stores, "first").await.unwrap();
    let mut locker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .unwrap();
    let e = create(&stores, "second").await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    let h = stores.health.health().await;
    assert_eq!(h.failing_writes, None, "busy is not failing: {h:?}");
    assert_eq!(h.unavailable, None, "{h:?}");
    sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    create(&stores, "second").await.unwrap();
}

/// `chattr +i` on the database's files, then off again: SQLite opens a file it cannot write
/// read-only without a word, and such a connection refused every write for good (half the
/// writes failed a minute after the files could be written again). Connections made while
/// writes failed are not used again once one works.
#[tokio::test]
async fn sqlite_writes_work_again_after_the_files_were_immutable() {
    if !is_root() {
        eprintln!(
            "\n*** SKIPPED: chattr +i needs root (CI runs as root); the full-disk tests stand in ***\n"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("linkleaf.db");
    let url = format!("sqlite://{}", db.display());
    let stores = open(&url, &StoreOptions::default()).await.unwrap();
    stores.profiles.migrate().await.unwrap();
    let mut acked = BTreeSet::new();
    writes_work(&stores, &mut acked, "before", 5).await;
    // the database and its log (the shared-memory index stays writable: SQLite maps it, and a
    // mapping of a file it may not extend ends the process with SIGBUS)
    let files: Vec<PathBuf> = ["", "-wal"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", db.display())))
        .filter(|p| p.exists())
        .collect();
    let chattr = |flag: &str| {
        for f in &files {
            let ok = std::process::Command::new("chattr")
                .arg(flag)
                .arg(f)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chattr {flag} {}", f.display());
        }
    };
    chattr("+i");
    // writes fail, reads go on, and connections are made meanwhile (read-only ones)
    let mut failed = 0;
    for i in 0..10 {
        if create(&stores, &format!("during{i}")).await.is_err() {
            failed += 1;
        }
        let _ = stores.profiles.list_profiles(None, 10).await;
    }
    chattr("-i");
    assert_eq!(failed, 10, "no write goes in while the files are immutable");
    // the first write may meet a connection made while the files were immutable: it fails,
    // and from the next one on every write works
    let _ = create(&stores, "first")
        .await
        .map(|()| acked.insert("first".into()));
    writes_work(&stores, &mut acked, "after", 30).await;
    all_stored(&stores, &acked).await;
}
