//! The accounts part of the conformance story: accounts, sessions, links, memberships (the
//! accounts story), and access per profile, passkeys and history (the access story), on each
//! database the story runs on.

use super::new_profile;
use linkleaf_domain::{Profile, Scopes, now_millis};
use linkleaf_store::{ApiKeyRecord, ProfileRef, ReadFrom, StoreError, Stores};
use uuid::Uuid;

/// Accounts: one per email; sessions found only while live, listed per account, ended one by
/// one or all but one by a password change; one-time links used once and only before they
/// expire; memberships with a role, changed in place.
pub(crate) async fn accounts_story(s: &Stores) {
    use linkleaf_domain::account::Role;
    use linkleaf_store::accounts::{AccountRecord, LinkKind, LinkRecord, SessionRecord};
    use time::Duration;
    let a = &s.accounts;
    let now = now_millis();
    let ada = AccountRecord {
        id: Uuid::now_v7(),
        email: "ada@example.com".into(),
        display_name: "Ada".into(),
        password_hash: None,
        admin: true,
        created_at: now,
        disabled_at: None,
        time_zone: "UTC".into(),
    };
    assert!(a.insert_account(&ada).await.unwrap());
    let twin = AccountRecord {
        id: Uuid::now_v7(),
        ..ada.clone()
    };
    assert!(
        !a.insert_account(&twin).await.unwrap(),
        "one account per email"
    );
    assert_eq!(
        a.account_by_email("ada@example.com").await.unwrap(),
        Some(ada.clone())
    );
    assert_eq!(a.account_by_id(ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(
        a.account_by_email("nobody@example.com").await.unwrap(),
        None
    );
    let listed = a.list_accounts(None, 10).await.unwrap();
    assert_eq!(listed, std::slice::from_ref(&ada));
    assert!(
        a.list_accounts(Some("ada@example.com"), 10)
            .await
            .unwrap()
            .is_empty()
    );

    let session = |id: &str, at| SessionRecord {
        id: id.into(),
        account_id: ada.id,
        digest: vec![7; 32],
        user_agent: "Firefox".into(),
        created_at: at,
        last_seen_at: at,
        ended_at: None,
    };
    a.insert_session(&session("s1", now)).await.unwrap();
    a.insert_session(&session("s2", now + Duration::seconds(1)))
        .await
        .unwrap();
    a.insert_session(&session("s3", now + Duration::seconds(2)))
        .await
        .unwrap();
    let (found, owner) = a.live_session("s1").await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), owner.id), ("s1", ada.id));
    a.touch_session("s1", now + Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!(
        a.live_session("s1").await.unwrap().unwrap().0.last_seen_at,
        now + Duration::seconds(5)
    );
    let ids = |v: Vec<SessionRecord>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        ids(a.sessions_of(ada.id).await.unwrap()),
        ["s3", "s2", "s1"]
    );
    assert!(
        !a.end_session("s1", Some(Uuid::now_v7()), now)
            .await
            .unwrap(),
        "not theirs"
    );
    assert!(a.end_session("s1", Some(ada.id), now).await.unwrap());
    assert!(!a.end_session("s1", None, now).await.unwrap(), "once");
    assert!(a.live_session("s1").await.unwrap().is_none());
    a.set_password(ada.id, "$argon2id$x", Some("s3"), now)
        .await
        .unwrap();
    assert_eq!(ids(a.sessions_of(ada.id).await.unwrap()), ["s3"]);
    assert_eq!(
        a.account_by_id(ada.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .as_deref(),
        Some("$argon2id$x")
    );

    let link = |d: u8, expires| LinkRecord {
        digest: vec![d; 32],
        kind: LinkKind::Password,
        account_id: Some(ada.id),
        profile_id: None,
        role: None,
        created_at: now,
        expires_at: expires,
    };
    a.insert_link(&link(1, now + Duration::hours(1)))
        .await
        .unwrap();
    a.insert_link(&link(2, now - Duration::seconds(1)))
        .await
        .unwrap();
    assert!(
        a.take_link(&[1; 32], LinkKind::Invite, now)
            .await
            .unwrap()
            .is_none(),
        "kind"
    );
    let used = a
        .take_link(&[1; 32], LinkKind::Password, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.account_id, Some(ada.id));
    assert!(
        a.take_link(&[1; 32], LinkKind::Password, now)
            .await
            .unwrap()
            .is_none(),
        "once"
    );
    assert!(
        a.take_link(&[2; 32], LinkKind::Password, now)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );

    let p = s
        .profiles
        .create_profile(&new_profile(r#"{"username":"owned"}"#))
        .await
        .unwrap();
    assert_eq!(a.role_of(p.id, ada.id).await.unwrap(), None);
    a.set_member(p.id, ada.id, Role::Editor, now).await.unwrap();
    a.set_member(p.id, ada.id, Role::Owner, now).await.unwrap();
    assert_eq!(a.role_of(p.id, ada.id).await.unwrap(), Some(Role::Owner));
    assert_eq!(a.memberships(ada.id).await.unwrap(), [(p.id, Role::Owner)]);

    assert!(a.disable_account(ada.id, now).await.unwrap());
    assert!(!a.disable_account(ada.id, now).await.unwrap(), "once");
    assert!(!a.disable_account(Uuid::now_v7(), now).await.unwrap());
    let (_, disabled) = a.live_session("s3").await.unwrap().unwrap();
    assert_eq!(
        disabled.disabled_at,
        Some(now),
        "the session's account says so"
    );
    access_story(s).await;
}

/// Access per profile as stored: a profile made with its owner (within the owner's limit),
/// listed to its members, never left without an owner; links peeked without being used; an
/// account deleted with its keys; keys bound to a profile; subscriptions of one profile get its
/// events only.
async fn access_story(s: &Stores) {
    use linkleaf_domain::account::Role;
    use linkleaf_domain::webhook::{EventType, SubscriptionSpec};
    use linkleaf_store::accounts::{AccountRecord, LinkKind, LinkRecord};
    let a = &s.accounts;
    let now = now_millis();
    let person = |email: &str| AccountRecord {
        id: Uuid::now_v7(),
        email: email.into(),
        display_name: "P".into(),
        password_hash: None,
        admin: false,
        created_at: now,
        disabled_at: None,
        time_zone: "UTC".into(),
    };
    let (bea, cy) = (person("bea@example.com"), person("cy@example.com"));
    assert!(a.insert_account(&bea).await.unwrap());
    assert!(a.insert_account(&cy).await.unwrap());

    // made with its owner, up to the limit, in one transaction
    let mine = s
        .profiles
        .create_profile_with(
            &new_profile(r#"{"username":"beas"}"#),
            Some((bea.id, Some(2))),
            None,
        )
        .await
        .unwrap();
    assert_eq!(a.role_of(mine.id, bea.id).await.unwrap(), Some(Role::Owner));
    s.profiles
        .create_profile_with(
            &new_profile(r#"{"username":"beas2"}"#),
            Some((bea.id, Some(2))),
            None,
        )
        .await
        .unwrap();
    assert!(matches!(
        s.profiles
            .create_profile_with(
                &new_profile(r#"{"username":"beas3"}"#),
                Some((bea.id, Some(2))),
                None
            )
            .await,
        Err(StoreError::LimitReached(2))
    ));
    assert!(
        s.profiles
            .profile_by_username("beas3", ReadFrom::Primary)
            .await
            .unwrap()
            .is_none(),
        "nothing made past the limit"
    );
    let listed: Vec<String> = s
        .profiles
        .list_profiles_of(bea.id, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.username.as_str().to_owned())
        .collect();
    assert_eq!(listed, ["beas", "beas2"]);
    assert_eq!(
        s.profiles
            .list_profiles_of(bea.id, Some("beas"), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.profiles
            .list_profiles_of(cy.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // never without an owner
    a.set_member(mine.id, cy.id, Role::Viewer, now)
        .await
        .unwrap();
    assert!(matches!(
        a.set_member(mine.id, bea.id, Role::Editor, now).await,
        Err(StoreError::LastOwner)
    ));
    assert!(matches!(
        a.remove_member(mine.id, bea.id).await,
        Err(StoreError::LastOwner)
    ));
    let members: Vec<(String, Role)> = a
        .members(mine.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(m, r)| (m.email, r))
        .collect();
    assert_eq!(
        members,
        [
            ("bea@example.com".to_owned(), Role::Owner),
            ("cy@example.com".to_owned(), Role::Viewer)
        ]
    );
    assert_eq!(a.sole_owned(bea.id).await.unwrap().len(), 2);
    a.set_member(mine.id, cy.id, Role::Owner, now)
        .await
        .unwrap();
    assert_eq!(
        a.sole_owned(bea.id).await.unwrap().len(),
        1,
        "beas is shared now"
    );
    assert!(a.remove_member(mine.id, bea.id).await.unwrap());
    assert!(!a.remove_member(mine.id, bea.id).await.unwrap(), "once");

    // a link looked at stays usable; used, it is gone
    a.insert_link(&LinkRecord {
        digest: vec![7; 32],
        kind: LinkKind::Invite,
        account_id: None,
        profile_id: Some(mine.id),
        role: Some(Role::Editor),
        created_at: now,
        expires_at: now + time::Duration::hours(1),
    })
    .await
    .unwrap();
    for _ in 0..2 {
        let l = a.peek_link(&[7; 32], now).await.unwrap().unwrap();
        assert_eq!((l.kind, l.role), (LinkKind::Invite, Some(Role::Editor)));
    }
    assert!(
        a.take_link(&[7; 32], LinkKind::Invite, now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(a.peek_link(&[7; 32], now).await.unwrap().is_none());

    // keys bound to a profile, by their maker; gone with the account
    let key = ApiKeyRecord {
        id: Uuid::now_v7(),
        name: "bot".into(),
        prefix: "lk_8899aabbccddeeff".into(),
        digest: vec![2; 32],
        scopes: Scopes::parse("links:write").unwrap(),
        created_at: now,
        revoked_at: None,
        profile: Some(mine.id),
        account: Some(cy.id),
    };
    s.keys.insert_key(&key).await.unwrap();
    assert_eq!(
        s.keys.key_by_prefix(&key.prefix).await.unwrap().unwrap(),
        key
    );
    assert_eq!(
        s.keys.keys_of(cy.id).await.unwrap(),
        std::slice::from_ref(&key)
    );
    assert!(
        !s.keys.revoke_key_of(bea.id, key.id, now).await.unwrap(),
        "not bea's"
    );
    assert!(s.keys.revoke_key_of(cy.id, key.id, now).await.unwrap());
    assert!(a.delete_account(cy.id).await.unwrap());
    assert!(!a.delete_account(cy.id).await.unwrap(), "once");
    assert!(s.keys.key_by_prefix(&key.prefix).await.unwrap().is_none());
    assert!(a.members(mine.id).await.unwrap().is_empty());

    // a profile's subscription gets that profile's events; the instance's, every one
    let w = &s.webhooks;
    let spec = SubscriptionSpec {
        url: "https://receiver.example/in".into(),
        events: EventType::ALL.to_vec(),
        enabled: true,
    };
    let now_ms = || now_millis().unix_timestamp() * 1000;
    // what the stories before wrote is fanned out first: only what follows can reach `one`
    // (made as of 0, so that the time of its making filters nothing)
    w.fan_out(now_ms(), 10_000).await.unwrap();
    let t0 = 0;
    let one = w
        .create_subscription(
            &spec,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            t0,
            1,
            Some(mine.id),
        )
        .await
        .unwrap();
    assert_eq!(one.profile, Some(mine.id));
    assert!(matches!(
        w.create_subscription(
            &spec,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            t0,
            1,
            Some(mine.id)
        )
        .await,
        Err(StoreError::LimitReached(1))
    ));
    let listed = w.subscriptions(None, 100, Some(&[mine.id])).await.unwrap();
    assert_eq!(listed.iter().map(|x| x.id).collect::<Vec<_>>(), [one.id]);
    assert!(
        w.subscriptions(None, 100, Some(&[]))
            .await
            .unwrap()
            .is_empty()
    );
    let other = s
        .profiles
        .create_profile(&new_profile(r#"{"username":"elsewhere"}"#))
        .await
        .unwrap();
    let _ = other;
    s.profiles
        .modify_profile(ProfileRef::Id(mine.id), &|p: &Profile| {
            let mut next = p.clone();
            next.bio = "changed".into();
            Ok(next)
        })
        .await
        .unwrap()
        .unwrap();
    w.fan_out(now_ms() + 1, 1000).await.unwrap();
    let got: Vec<String> = w
        .deliveries(one.id, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.kind)
        .collect();
    assert_eq!(
        got,
        ["profile.updated"],
        "its profile's change, not another profile's creation"
    );
    // passkeys: one per credential id, listed per account, their counter kept; ceremonies
    // taken once, of their kind, before they expire
    use linkleaf_store::accounts::{CeremonyRecord, PasskeyRecord};
    let pk = PasskeyRecord {
        id: "cred-1".into(),
        account_id: bea.id,
        name: "Laptop".into(),
        credential: "{}".into(),
        created_at: now,
        last_used_at: None,
    };
    assert!(a.insert_passkey(&pk).await.unwrap());
    assert!(
        !a.insert_passkey(&pk).await.unwrap(),
        "one per credential id"
    );
    a.passkey_used("cred-1", r#"{"n":1}"#, now).await.unwrap();
    let got = a.passkeys_of(bea.id).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].credential.as_str(), got[0].last_used_at),
        (r#"{"n":1}"#, Some(now))
    );
    assert!(
        !a.delete_passkey(Uuid::now_v7(), "cred-1").await.unwrap(),
        "not theirs"
    );
    assert!(a.delete_passkey(bea.id, "cred-1").await.unwrap());
    assert!(a.passkeys_of(bea.id).await.unwrap().is_empty());
    let ceremony = |id: &str, expires| CeremonyRecord {
        id: id.into(),
        account_id: Some(bea.id),
        kind: "register".into(),
        state: Some("{}".into()),
        expires_at: expires,
    };
    a.insert_ceremony(&ceremony("c1", now + time::Duration::minutes(5)))
        .await
        .unwrap();
    a.insert_ceremony(&ceremony("c2", now - time::Duration::seconds(1)))
        .await
        .unwrap();
    assert!(
        a.take_ceremony("c1", "authenticate", now)
            .await
            .unwrap()
            .is_none(),
        "kind"
    );
    assert!(
        a.take_ceremony("c1", "register", now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        a.take_ceremony("c1", "register", now)
            .await
            .unwrap()
            .is_none(),
        "once"
    );
    assert!(
        a.take_ceremony("c2", "register", now)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );

    // every change is a version, newest first, the command line's without an actor
    let h = s.profiles.history(mine.id, 10).await.unwrap();
    assert_eq!(h.len(), 2, "made, then changed");
    assert_eq!((h[0].version, h[1].version), (2, 1));
    assert_eq!(h[0].profile["bio"], "changed");
    assert!(h[0].actor.is_none());
}
