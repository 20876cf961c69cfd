//! Whether this instance should get traffic, and why: what `GET /readyz` answers and the
//! admin's health page shows. Each check is bounded, so it answers quickly whatever hangs.
//! Imports no route module.
//! Must not: wait on a dependency longer than its own deadline.

use crate::state::AppState;

/// Ready or not, and the facts: each dependency's state and the mode this instance serves in.
/// Ready when not shutting down and the database answers; an optional dependency (Redis) that
/// does not answer leaves it ready but *degraded*.
pub async fn readiness(st: &AppState) -> (bool, serde_json::Value) {
    const CHECK: std::time::Duration = std::time::Duration::from_secs(1);
    if st.is_draining() {
        return (false, serde_json::json!({"status": "draining"}));
    }
    let mut deps = serde_json::Map::new();
    let mut ready = true;
    let mut degraded = Vec::new();
    match tokio::time::timeout(CHECK, st.stores.health.health()).await {
        Ok(h) => {
            let at = |ms: Option<i64>| {
                ms.and_then(|m| {
                    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1_000_000)
                        .ok()?
                        .format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
            };
            let status = if let Some(why) = &h.unavailable {
                tracing::warn!(error = %why, "not ready: the database");
                ready = false;
                "unavailable"
            } else if let Some(why) = &h.failing_writes {
                degraded.push(format!("database: writes are failing: {why}"));
                "failing writes"
            } else {
                "ok"
            };
            let mut d = serde_json::json!({
                "status": status,
                "heartbeat": at(h.heartbeat_ok_ms),
                "lastWrite": at(h.last_write_ok_ms),
            });
            if let Some(why) = h.unavailable.as_ref().or(h.failing_writes.as_ref()) {
                d["detail"] = why.clone().into();
            }
            if let Some((ms, why)) = &h.last_write_failure {
                d["lastWriteFailure"] = serde_json::json!({"at": at(Some(*ms)), "error": why});
            }
            deps.insert("database".into(), d);
        }
        Err(_) => {
            let why = "no answer within 1 s";
            tracing::warn!(error = why, "not ready: database ping failed");
            ready = false;
            deps.insert(
                "database".into(),
                serde_json::json!({"status": "unavailable", "detail": why}),
            );
        }
    }
    for d in &st.dependencies {
        let state = match tokio::time::timeout(CHECK, d.check()).await {
            Ok(Ok(detail)) => serde_json::json!({"status": "ok", "detail": detail}),
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e,
                    _ => "no answer within 1 s".into(),
                };
                if d.optional() {
                    degraded.push(format!("{}: {why}", d.name()));
                } else {
                    ready = false;
                }
                serde_json::json!({"status": "unavailable", "detail": why})
            }
        };
        deps.insert(d.name().into(), state);
    }
    let pending = st.invalidator.pending();
    if pending > 0 {
        degraded.push(format!(
            "{pending} invalidation(s) waiting to reach the other instances"
        ));
    }
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "mode": if degraded.is_empty() { "normal" } else { "degraded" },
        "degraded": degraded,
        "dependencies": deps,
    });
    (ready, body)
}
