//! The analytics report of a profile, as the API and the dashboard read it: the query checked
//! (before access, so a bad one is refused whoever asks), then the report kept for
//! `analytics.cache_secs` or read from the rollups (see `routes::analytics`). Imports no route
//! module.
//! Must not: read events, or keep a report past a commit that counted for its profile.

use crate::access::Who;
use crate::error::AppError;
use crate::state::AppState;
use linkleaf_access::table::Action;
use linkleaf_cache::Status;
use linkleaf_domain::analytics::{AnalyticsParams, AnalyticsQuery, AnalyticsReport};
use linkleaf_domain::zone::Zone;
use linkleaf_domain::{Profile, Scope, now_millis};
use std::sync::Arc;

/// The query asked for and the profile it is about, once the parameters are checked (before
/// access: a bad query is refused whoever asks) and the caller may read its analytics; days
/// are the profile's unless the query names a zone.
pub async fn query_of(
    st: &AppState,
    who: &Who,
    raw: &str,
    params: &AnalyticsParams,
) -> Result<(AnalyticsQuery, Profile), AppError> {
    let now = now_millis();
    AnalyticsQuery::resolve(params, now, &Zone::utc())?;
    let profile = who
        .read_profile(st, raw, Action::Scope(Scope::AnalyticsRead))
        .await?;
    let q = AnalyticsQuery::resolve(params, now, &Zone::from_stored(&profile.time_zone))?;
    Ok((q, profile))
}

/// The report of `id` over `q`: kept, or read from the rollups and kept.
pub async fn report_of(
    st: &AppState,
    id: uuid::Uuid,
    q: &AnalyticsQuery,
) -> Result<(Arc<AnalyticsReport>, Status), AppError> {
    let key = (
        id,
        q.from_ms,
        q.to_ms,
        q.bucket,
        q.shortened,
        q.zone.as_ref().map(|z| z.name().to_owned()),
    );
    Ok(match st.reports.get(&key) {
        Some(r) => (r, Status::Hit),
        None => {
            let epoch = st.reports.epoch();
            let r = Arc::new(st.stores.analytics.report(id, q).await?);
            st.reports.keep(key, r.clone(), epoch);
            (r, Status::Miss)
        }
    })
}
