//! One story every backend must tell the same way. Today it runs against SQLite; each new
//! backend adds a `#[tokio::test]` that opens itself and calls `story`.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_domain::{
    CreateProfile, LinksPatch, Profile, ProfilePatch, Scopes, Username, ValidationErrors,
    now_millis,
};
use linkleaf_store::{
    ApiKeyRecord, ModifyError, ProfileRef, StoreError, StoreOptions, Stores, open,
};
use uuid::Uuid;

fn new_profile(json: &str) -> Profile {
    serde_json::from_str::<CreateProfile>(json)
        .unwrap()
        .into_profile(now_millis())
        .unwrap()
}

async fn story(s: Stores) {
    let db = &s.profiles;
    db.migrate().await.unwrap();
    db.migrate().await.expect("migrations are idempotent");
    db.ping().await.unwrap();

    // create, then read back by key and by id
    let p = new_profile(
        r#"{"username":"Jane.Doe","displayName":"Jane","bio":"hi","theme":{"preset":"dark"},
            "links":[{"title":"a","url":"https://a.example"},{"title":"b","url":"https://b.example","enabled":false}]}"#,
    );
    let created = db.create_profile(&p).await.unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(created.links.len(), 2);
    let by_key = db.profile_by_username("jane.doe").await.unwrap().unwrap();
    assert_eq!(by_key, created);
    assert_eq!(by_key, p, "what is stored is what was written");
    assert_eq!(db.profile_by_id(p.id).await.unwrap().unwrap(), created);
    assert!(db.profile_by_username("nobody").await.unwrap().is_none());
    assert!(db.profile_by_id(Uuid::now_v7()).await.unwrap().is_none());

    // usernames are unique without regard to case
    let twin = new_profile(r#"{"username":"JANE.DOE"}"#);
    assert!(matches!(
        db.create_profile(&twin).await,
        Err(StoreError::UsernameTaken)
    ));

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
        db.profile_by_username("jane.doe").await.unwrap().is_none(),
        "the old name is free"
    );
    assert_eq!(
        db.profile_by_username("jane").await.unwrap().unwrap(),
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
    assert_eq!(db.profile_by_id(other.id).await.unwrap().unwrap(), other);

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
    };
    s.keys.insert_key(&k).await.unwrap();
    assert_eq!(s.keys.key_by_prefix(&k.prefix).await.unwrap().unwrap(), k);
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
}

#[tokio::test]
async fn sqlite_tells_the_story() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    story(open(&url, &StoreOptions::default()).await.unwrap()).await;
}

#[tokio::test]
async fn unknown_schemes_are_refused_by_name() {
    let e = open("mysql://x", &StoreOptions::default())
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("'mysql'"), "{e}");
}
