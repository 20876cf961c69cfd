//! `/dashboard/admin` (admins only): the instance's health (what `/readyz` says: ready or
//! not, the mode, each dependency; and the key figures of `/metrics`), its accounts (each but
//! one's own with "Disable": its sessions and the keys it made stop at their next request, on
//! every instance; its pages stay public) and its profiles, a page of each at a time.
//! Must not: show anything to a person who is not an admin (they get 404, as the API's
//! instance-wide routes answer), or show a secret (password hashes, key digests).

use super::{Frame, frame, reader, show};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use linkleaf_domain::unix_millis;
use linkleaf_domain::zone::Zone;
use linkleaf_http::{AppError, AppState};
use std::collections::{BTreeMap, HashMap};

/// How many accounts and profiles a page lists.
const PAGE: u32 = 50;

/// The figures of `/metrics` the page shows (summed over their labels), and what they mean.
const FIGURES: [(&str, &str); 12] = [
    ("linkleaf_http_requests_total", "Requests answered"),
    ("linkleaf_cache_hits_total", "Page cache hits"),
    ("linkleaf_cache_misses_total", "Page cache misses"),
    (
        "linkleaf_events_accepted_total",
        "Clicks and views accepted",
    ),
    (
        "linkleaf_events_committed_total",
        "Clicks and views counted",
    ),
    (
        "linkleaf_events_duplicate_total",
        "Duplicates dropped (counted once)",
    ),
    (
        "linkleaf_clicks_unrecorded_total",
        "Clicks answered but not recorded",
    ),
    ("linkleaf_spool_backlog_frames", "Spool frames waiting"),
    ("linkleaf_dlq_depth", "Messages dead-lettered"),
    ("linkleaf_webhook_deliveries_total", "Webhook deliveries"),
    ("linkleaf_rate_limited_total", "Requests rate-limited"),
    ("linkleaf_connections_open", "Connections open"),
];

/// The sum of each family's samples in a Prometheus text exposition.
pub fn sums(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name_labels, value) = match line.rsplit_once(' ') {
            Some(x) => x,
            None => continue,
        };
        let name = name_labels.split('{').next().unwrap_or(name_labels);
        if let Ok(v) = value.parse::<f64>() {
            *out.entry(name.to_owned()).or_insert(0.0) += v;
        }
    }
    out
}

pub struct Fact {
    pub name: String,
    pub status: String,
    pub detail: String,
}

pub struct Figure {
    pub label: &'static str,
    pub metric: &'static str,
    pub value: String,
}

pub struct AccountRow {
    pub id: String,
    /// The admin's own (not to be disabled from here).
    pub own: bool,
    pub email: String,
    pub display_name: String,
    pub admin: bool,
    pub disabled: bool,
    pub created: String,
}

pub struct ProfileRow {
    pub username: String,
    pub display_name: String,
    pub links: u32,
    pub modified: String,
}

#[derive(Template)]
#[template(path = "dashboard/admin.html")]
struct Admin {
    f: Frame,
    status: String,
    mode: String,
    degraded: Vec<String>,
    facts: Vec<Fact>,
    figures: Vec<Figure>,
    accounts: Vec<AccountRow>,
    accounts_next: Option<String>,
    profiles: Vec<ProfileRow>,
    profiles_next: Option<String>,
    /// Where each list stands now (kept when the other one moves on).
    accounts_at: String,
    profiles_at: String,
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET /dashboard/admin?accounts=…&profiles=…` (each: list after this one).
pub async fn admin(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let s = match reader(&st, &headers).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if !s.account.admin {
        return super::failed(&st, &s, AppError::NotFound("not an admin".into())).await;
    }
    let zone = Zone::from_stored(&s.account.time_zone);
    let (_, ready) = linkleaf_http::readiness::readiness(&st).await;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut facts = Vec::new();
    if let Some(deps) = ready["dependencies"].as_object() {
        let sorted: BTreeMap<_, _> = deps.iter().collect();
        for (name, d) in sorted {
            let mut detail = text(&d["detail"]);
            for (k, words) in [("heartbeat", "last heartbeat"), ("lastWrite", "last write")] {
                let v = text(&d[k]);
                if !v.is_empty() {
                    if !detail.is_empty() {
                        detail.push_str("; ");
                    }
                    detail.push_str(&format!("{words} {v}"));
                }
            }
            facts.push(Fact {
                name: name.clone(),
                status: text(&d["status"]),
                detail,
            });
        }
    }
    let figures = {
        let got = st
            .metrics
            .as_ref()
            .map(|m| sums(&m.render()))
            .unwrap_or_default();
        FIGURES
            .iter()
            .map(|(metric, label)| Figure {
                label,
                metric,
                value: got
                    .get(*metric)
                    .map_or_else(|| "–".to_owned(), |v| format!("{v:.0}")),
            })
            .collect()
    };
    let listed = async {
        let after_a = q
            .get("accounts")
            .map(String::as_str)
            .filter(|a| !a.is_empty());
        let mut accounts = st.stores.accounts.list_accounts(after_a, PAGE + 1).await?;
        let accounts_next = (accounts.len() > PAGE as usize).then(|| {
            accounts.truncate(PAGE as usize);
            accounts.last().map(|a| a.email.clone()).unwrap_or_default()
        });
        let after_p = q
            .get("profiles")
            .map(String::as_str)
            .filter(|a| !a.is_empty());
        let mut profiles = st.stores.profiles.list_profiles(after_p, PAGE + 1).await?;
        let profiles_next = (profiles.len() > PAGE as usize).then(|| {
            profiles.truncate(PAGE as usize);
            profiles
                .last()
                .map(|p| p.username.key())
                .unwrap_or_default()
        });
        Ok::<_, AppError>((accounts, accounts_next, profiles, profiles_next))
    };
    let (accounts, accounts_next, profiles, profiles_next) = match listed.await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let mut f = match frame(&st, &s, None, "admin", "Admin".to_owned()).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    if q.contains_key("disabled") {
        f.notice = Some(
            "The account is disabled: its sessions and keys stop at their next request.".to_owned(),
        );
    }
    let t = Admin {
        f,
        status: text(&ready["status"]),
        mode: text(&ready["mode"]),
        degraded: ready["degraded"]
            .as_array()
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default(),
        facts,
        figures,
        accounts: accounts
            .into_iter()
            .map(|a| AccountRow {
                id: a.id.to_string(),
                own: a.id == s.account.id,
                email: a.email,
                display_name: a.display_name,
                admin: a.admin,
                disabled: a.disabled_at.is_some(),
                created: zone.local_words(unix_millis(a.created_at)),
            })
            .collect(),
        accounts_next: accounts_next.map(|e| enc(&e)),
        profiles: profiles
            .into_iter()
            .map(|p| ProfileRow {
                username: p.username.as_str().to_owned(),
                display_name: p.display_name,
                links: p.link_count,
                modified: zone.local_words(unix_millis(p.last_modified)),
            })
            .collect(),
        profiles_next: profiles_next.map(|e| enc(&e)),
        accounts_at: enc(q.get("accounts").map_or("", String::as_str)),
        profiles_at: enc(q.get("profiles").map_or("", String::as_str)),
    };
    show(StatusCode::OK, &t)
}

/// `POST /dashboard/admin/accounts/{id}/disable`: "Disable" (an admin, another account).
pub async fn disable(
    State(st): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    req: axum::extract::Request,
) -> Response {
    let (s, _) = match super::posted(&st, req).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    if !s.account.admin {
        return super::failed(&st, &s, AppError::NotFound("not an admin".into())).await;
    }
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return super::failed(&st, &s, AppError::NotFound("no such account".into())).await;
    };
    if id == s.account.id {
        return super::failed(
            &st,
            &s,
            AppError::InsufficientRole("another admin must disable your own account"),
        )
        .await;
    }
    match st
        .sessions
        .store()
        .disable_account(id, st.sessions.now())
        .await
    {
        Ok(true) => crate::pages::see_other("/dashboard/admin?disabled=1"),
        Ok(false) => {
            super::failed(
                &st,
                &s,
                AppError::NotFound("no such account, or it is disabled already".into()),
            )
            .await
        }
        Err(e) => super::failed(&st, &s, AppError::from(e)).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_summed_over_their_labels() {
        let text = "# HELP linkleaf_http_requests_total x\n# TYPE linkleaf_http_requests_total counter\n\
            linkleaf_http_requests_total{route=\"/a\",status=\"200\"} 3\n\
            linkleaf_http_requests_total{route=\"/b\",status=\"404\"} 4\n\
            linkleaf_connections_open 2\n";
        let s = sums(text);
        assert_eq!(s["linkleaf_http_requests_total"], 7.0);
        assert_eq!(s["linkleaf_connections_open"], 2.0);
        assert!(!s.contains_key("# HELP"));
    }
}
