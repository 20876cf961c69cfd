//! `AccountStore`'s statements, written once for both databases.
//! Must not: keep a password or a session secret in the clear, or decide who may do what (the
//! access table does).

use super::SqlStore;
use crate::accounts::{
    AccountRecord, AccountStore, CeremonyRecord, LinkKind, LinkRecord, PasskeyRecord, SessionRecord,
};
use crate::error::{Result, StoreError};
use crate::seam::{Row, q, q_built};
use async_trait::async_trait;
use linkleaf_domain::account::Role;
use time::OffsetDateTime;
use uuid::Uuid;

const ACCOUNT: &str =
    "a.id AS a_id, a.email, a.display_name, a.password_hash, a.admin, a.created_at AS a_created_at,
     a.disabled_at, a.time_zone";
const SESSION: &str = "s.id AS s_id, s.account_id, s.digest, s.user_agent,
     s.created_at AS s_created_at, s.last_seen_at, s.ended_at";

fn account(r: &Row) -> Result<AccountRecord> {
    Ok(AccountRecord {
        id: r.id("a_id")?,
        email: r.text("email")?,
        display_name: r.text("display_name")?,
        password_hash: r.opt_text("password_hash")?,
        admin: r.flag("admin")?,
        created_at: r.time("a_created_at")?,
        disabled_at: r.opt_time("disabled_at")?,
        time_zone: r.text("time_zone")?,
    })
}

fn link(r: &Row) -> Result<LinkRecord> {
    let kind = match r.text("kind")?.as_str() {
        "password" => LinkKind::Password,
        "invite" => LinkKind::Invite,
        other => return Err(StoreError::Corrupt(format!("a link of kind '{other}'"))),
    };
    Ok(LinkRecord {
        digest: r.bytes("digest")?,
        kind,
        account_id: r.opt_id("account_id")?,
        profile_id: r.opt_id("profile_id")?,
        role: r.opt_text("role")?.as_deref().map(role).transpose()?,
        created_at: r.time("created_at")?,
        expires_at: r.time("expires_at")?,
    })
}

fn session(r: &Row) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id: r.text("s_id")?,
        account_id: r.id("account_id")?,
        digest: r.bytes("digest")?,
        user_agent: r.text("user_agent")?,
        created_at: r.time("s_created_at")?,
        last_seen_at: r.time("last_seen_at")?,
        ended_at: r.opt_time("ended_at")?,
    })
}

fn role(s: &str) -> Result<Role> {
    Role::parse(s).map_err(|e| StoreError::Corrupt(format!("role {s:?}: {}", e.message)))
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn insert_account(&self, a: &AccountRecord) -> Result<bool> {
        let done = q(
            "INSERT INTO accounts (id, email, display_name, password_hash, admin, created_at,
                                   disabled_at, time_zone)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (email) DO NOTHING",
        )
        .bind(a.id)
        .bind(&a.email)
        .bind(&a.display_name)
        .bind(&a.password_hash)
        .bind(a.admin)
        .bind(a.created_at)
        .bind(a.disabled_at)
        .bind(&a.time_zone)
        .execute(&self.db)
        .await?;
        Ok(done > 0)
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<AccountRecord>> {
        q(&format!(
            "SELECT {ACCOUNT} FROM accounts a WHERE a.email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.db)
        .await?
        .as_ref()
        .map(account)
        .transpose()
    }

    async fn account_by_id(&self, id: Uuid) -> Result<Option<AccountRecord>> {
        q(&format!("SELECT {ACCOUNT} FROM accounts a WHERE a.id = $1"))
            .bind(id)
            .fetch_optional(&self.db)
            .await?
            .as_ref()
            .map(account)
            .transpose()
    }

    async fn list_accounts(&self, after: Option<&str>, limit: u32) -> Result<Vec<AccountRecord>> {
        q(&format!(
            "SELECT {ACCOUNT} FROM accounts a WHERE a.email > $1 ORDER BY a.email LIMIT $2"
        ))
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(account)
        .collect()
    }

    async fn disable_account(&self, id: Uuid, at: OffsetDateTime) -> Result<bool> {
        let done = q("UPDATE accounts SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
            .bind(at)
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(done > 0)
    }

    async fn set_time_zone(&self, account: Uuid, name: &str) -> Result<bool> {
        let done = q("UPDATE accounts SET time_zone = $1 WHERE id = $2")
            .bind(name)
            .bind(account)
            .execute(&self.db)
            .await?;
        Ok(done > 0)
    }

    async fn set_password(
        &self,
        account: Uuid,
        hash: &str,
        keep: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<()> {
        let done = q("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(account)
            .execute(&self.db)
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        q("UPDATE sessions SET ended_at = $1
           WHERE account_id = $2 AND ended_at IS NULL AND id <> $3")
        .bind(at)
        .bind(account)
        .bind(keep.unwrap_or(""))
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn insert_session(&self, s: &SessionRecord) -> Result<()> {
        q(
            "INSERT INTO sessions (id, account_id, digest, user_agent, created_at, last_seen_at,
                                   ended_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.id)
        .bind(s.account_id)
        .bind(s.digest.clone())
        .bind(&s.user_agent)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.ended_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn live_session(&self, id: &str) -> Result<Option<(SessionRecord, AccountRecord)>> {
        let row = q(&format!(
            "SELECT {SESSION}, {ACCOUNT} FROM sessions s JOIN accounts a ON a.id = s.account_id
             WHERE s.id = $1 AND s.ended_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref()
            .map(|r| Ok((session(r)?, account(r)?)))
            .transpose()
    }

    async fn touch_session(&self, id: &str, at: OffsetDateTime) -> Result<()> {
        q("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND ended_at IS NULL")
            .bind(at)
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    async fn end_session(
        &self,
        id: &str,
        account: Option<Uuid>,
        at: OffsetDateTime,
    ) -> Result<bool> {
        let done = match account {
            Some(a) => {
                q("UPDATE sessions SET ended_at = $1
                   WHERE id = $2 AND account_id = $3 AND ended_at IS NULL")
                .bind(at)
                .bind(id)
                .bind(a)
                .execute(&self.db)
                .await?
            }
            None => {
                q("UPDATE sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
                    .bind(at)
                    .bind(id)
                    .execute(&self.db)
                    .await?
            }
        };
        Ok(done > 0)
    }

    async fn sessions_of(&self, account: Uuid) -> Result<Vec<SessionRecord>> {
        q(&format!(
            "SELECT {SESSION} FROM sessions s WHERE s.account_id = $1 AND s.ended_at IS NULL
             ORDER BY s.created_at DESC, s.id"
        ))
        .bind(account)
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(session)
        .collect()
    }

    async fn insert_link(&self, l: &LinkRecord) -> Result<()> {
        // links used or expired a day ago are gone: the table stays as small as what is live
        q("DELETE FROM account_links WHERE expires_at < $1 OR used_at < $1")
            .bind(l.created_at - time::Duration::days(1))
            .execute(&self.db)
            .await?;
        q(
            "INSERT INTO account_links (digest, kind, account_id, profile_id, role, created_at,
                                        expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(l.digest.clone())
        .bind(l.kind.as_str())
        .bind(l.account_id)
        .bind(l.profile_id)
        .bind(l.role.map(|r| r.as_str()))
        .bind(l.created_at)
        .bind(l.expires_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn take_link(
        &self,
        digest: &[u8],
        kind: LinkKind,
        at: OffsetDateTime,
    ) -> Result<Option<LinkRecord>> {
        q("UPDATE account_links SET used_at = $1
             WHERE digest = $2 AND kind = $3 AND used_at IS NULL AND expires_at > $4
             RETURNING digest, kind, account_id, profile_id, role, created_at, expires_at")
        .bind(at)
        .bind(digest)
        .bind(kind.as_str())
        .bind(at)
        .fetch_optional(&self.db)
        .await?
        .as_ref()
        .map(link)
        .transpose()
    }

    async fn release_link(&self, digest: &[u8]) -> Result<()> {
        q("UPDATE account_links SET used_at = NULL WHERE digest = $1")
            .bind(digest)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    async fn retire_links(&self, account: Uuid, kind: LinkKind, at: OffsetDateTime) -> Result<()> {
        q("UPDATE account_links SET used_at = $1
           WHERE account_id = $2 AND kind = $3 AND used_at IS NULL")
        .bind(at)
        .bind(account)
        .bind(kind.as_str())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn peek_link(&self, digest: &[u8], at: OffsetDateTime) -> Result<Option<LinkRecord>> {
        q(
            "SELECT digest, kind, account_id, profile_id, role, created_at, expires_at
             FROM account_links WHERE digest = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(digest)
        .bind(at)
        .fetch_optional(&self.db)
        .await?
        .as_ref()
        .map(link)
        .transpose()
    }

    async fn set_member(
        &self,
        profile: Uuid,
        account: Uuid,
        role: Role,
        at: OffsetDateTime,
    ) -> Result<()> {
        // counted and changed in one write transaction: two owners demoting each other at
        // once cannot leave none
        let mut tx = self.db.begin_write().await?;
        if role != Role::Owner && last_owner(&mut tx, profile, account).await? {
            return Err(StoreError::LastOwner);
        }
        q(
            "INSERT INTO members (profile_id, account_id, role, added_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (profile_id, account_id) DO UPDATE SET role = excluded.role",
        )
        .bind(profile)
        .bind(account)
        .bind(role.as_str())
        .bind(at)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn role_of(&self, profile: Uuid, account: Uuid) -> Result<Option<Role>> {
        q("SELECT role FROM members WHERE profile_id = $1 AND account_id = $2")
            .bind(profile)
            .bind(account)
            .fetch_optional(&self.db)
            .await?
            .map(|r| role(&r.text("role")?))
            .transpose()
    }

    async fn memberships(&self, account: Uuid) -> Result<Vec<(Uuid, Role)>> {
        q("SELECT profile_id, role FROM members WHERE account_id = $1 ORDER BY added_at, profile_id")
            .bind(account)
            .fetch_all(&self.db)
            .await?
            .iter()
            .map(|r| Ok((r.id("profile_id")?, role(&r.text("role")?)?)))
            .collect()
    }

    async fn members(&self, profile: Uuid) -> Result<Vec<(AccountRecord, Role)>> {
        q_built(format!(
            "SELECT {ACCOUNT}, m.role FROM members m JOIN accounts a ON a.id = m.account_id
             WHERE m.profile_id = $1 ORDER BY a.email"
        ))
        .bind(profile)
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(|r| Ok((account(r)?, role(&r.text("role")?)?)))
        .collect()
    }

    async fn remove_member(&self, profile: Uuid, account: Uuid) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        if last_owner(&mut tx, profile, account).await? {
            return Err(StoreError::LastOwner);
        }
        let done = q("DELETE FROM members WHERE profile_id = $1 AND account_id = $2")
            .bind(profile)
            .bind(account)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(done > 0)
    }

    async fn sole_owned(&self, account: Uuid) -> Result<Vec<Uuid>> {
        q("SELECT m.profile_id FROM members m
             WHERE m.account_id = $1 AND m.role = 'owner'
               AND NOT EXISTS (SELECT 1 FROM members o WHERE o.profile_id = m.profile_id
                                 AND o.role = 'owner' AND o.account_id <> m.account_id)
             ORDER BY m.profile_id")
        .bind(account)
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(|r| r.id("profile_id"))
        .collect()
    }

    async fn delete_account(&self, id: Uuid) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        // the keys it made stop with it (their rows stay out of the way of the prefix index)
        q("DELETE FROM api_keys WHERE account_id = $1")
            .bind(id)
            .execute(&mut tx)
            .await?;
        let done = q("DELETE FROM accounts WHERE id = $1")
            .bind(id)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(done > 0)
    }

    async fn insert_passkey(&self, p: &PasskeyRecord) -> Result<bool> {
        let done = q(
            "INSERT INTO passkeys (id, account_id, name, credential, created_at, last_used_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&p.id)
        .bind(p.account_id)
        .bind(&p.name)
        .bind(&p.credential)
        .bind(p.created_at)
        .bind(p.last_used_at)
        .execute(&self.db)
        .await?;
        Ok(done > 0)
    }

    async fn passkeys_of(&self, account: Uuid) -> Result<Vec<PasskeyRecord>> {
        q(
            "SELECT id, account_id, name, credential, created_at, last_used_at FROM passkeys
           WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(account)
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(|r| {
            Ok(PasskeyRecord {
                id: r.text("id")?,
                account_id: r.id("account_id")?,
                name: r.text("name")?,
                credential: r.text("credential")?,
                created_at: r.time("created_at")?,
                last_used_at: r.opt_time("last_used_at")?,
            })
        })
        .collect()
    }

    async fn passkey_used(&self, id: &str, credential: &str, at: OffsetDateTime) -> Result<()> {
        q("UPDATE passkeys SET credential = $1, last_used_at = $2 WHERE id = $3")
            .bind(credential)
            .bind(at)
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    async fn delete_passkey(&self, account: Uuid, id: &str) -> Result<bool> {
        let done = q("DELETE FROM passkeys WHERE account_id = $1 AND id = $2")
            .bind(account)
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(done > 0)
    }

    async fn insert_ceremony(&self, c: &CeremonyRecord) -> Result<()> {
        // ceremonies never finished go after they expire: the table stays small
        q("DELETE FROM passkey_ceremonies WHERE expires_at < $1")
            .bind(c.expires_at - time::Duration::hours(1))
            .execute(&self.db)
            .await?;
        q(
            "INSERT INTO passkey_ceremonies (id, account_id, kind, state, expires_at)
           VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&c.id)
        .bind(c.account_id)
        .bind(&c.kind)
        .bind(c.state.clone())
        .bind(c.expires_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        id: &str,
        kind: &str,
        at: OffsetDateTime,
    ) -> Result<Option<CeremonyRecord>> {
        q(
            "DELETE FROM passkey_ceremonies WHERE id = $1 AND kind = $2 AND expires_at > $3
           RETURNING id, account_id, kind, state, expires_at",
        )
        .bind(id)
        .bind(kind)
        .bind(at)
        .fetch_optional(&self.db)
        .await?
        .map(|r| {
            Ok(CeremonyRecord {
                id: r.text("id")?,
                account_id: r.opt_id("account_id")?,
                kind: r.text("kind")?,
                state: r.opt_text("state")?,
                expires_at: r.time("expires_at")?,
            })
        })
        .transpose()
    }
}

/// Whether `account` is the one owner of `profile` (inside the caller's write transaction). The
/// profile's row is locked first: on PostgreSQL two owners demoting each other at once would
/// otherwise each count two owners and leave none (SQLite's write transactions run one at a
/// time anyway).
async fn last_owner(tx: &mut crate::db::Tx<'_>, profile: Uuid, account: Uuid) -> Result<bool> {
    q("SELECT id FROM profiles WHERE id = $1 FOR UPDATE")
        .bind(profile)
        .fetch_optional(&mut *tx)
        .await?;
    let owners = q("SELECT account_id FROM members WHERE profile_id = $1 AND role = 'owner'")
        .bind(profile)
        .fetch_all(&mut *tx)
        .await?;
    Ok(owners.len() == 1 && owners[0].id("account_id")? == account)
}
