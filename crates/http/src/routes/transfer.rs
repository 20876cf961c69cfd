//! Moving out and in: `GET /api/profiles/{profile}/export` (the profile and its links, in the
//! admin API's JSON shape) and `POST /api/profiles/{profile}/import?format=…&dryRun=…` (linkleaf's
//! own export, LinkStack's, or a CSV of `title,url`): a dry run answers what the import would
//! change; otherwise it applies it as one edit (one version, its events, its invalidation).
//! Must not: change a profile except through `profiles::modify`, or read a body past
//! `IMPORT_MAX_BYTES`.

use crate::access::{NotEdge, Who};
use crate::error::AppError;
use crate::extract::{ApiPath, ApiQuery};
use crate::profiles::{admin_json, if_match, modify_seen};
use crate::responses::{
    Forbidden, NotFound, PayloadTooLarge, PreconditionFailed, Unauthorized, ValidationFailed,
};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use linkleaf_access::table::Action;
use linkleaf_domain::import::{Changes, Format, Imported};
use linkleaf_domain::{Profile, Scope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The largest file an import reads (`linkleaf_domain::import::MAX_BYTES`).
pub const IMPORT_MAX_BYTES: usize = linkleaf_domain::import::MAX_BYTES;

/// Export a profile
///
/// The profile and its links (disabled ones too) as the admin API shows them, to keep or to
/// import elsewhere (`importProfile` with `format=linkleaf`).
#[utoipa::path(get, path = "/api/profiles/{profile}/export", operation_id = "exportProfile", tag = "admin",
    params(("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$")),
    security(("api_key" = ["profile:read"]), ("session" = [])),
    responses(
        (status = 200, description = "The profile, as a file to download", body = Profile),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ))]
pub async fn export(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiPath(raw): ApiPath,
) -> Result<Response, AppError> {
    let p = who
        .read_profile(&st, &raw, Action::Scope(Scope::ProfileRead))
        .await?;
    let mut res = admin_json(StatusCode::OK, &p);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}.linkleaf.json\"",
        p.username.key()
    )) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// How to read an import.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// What the body is: `linkleaf` (this API's export), `linkstack` (LinkStack's "export
    /// all" JSON) or `csv` (`title,url` rows, a header row optional).
    #[param(inline)]
    pub format: Format,
    /// `true`: answer what would change and change nothing (the default); `false`: apply it.
    pub dry_run: Option<bool>,
}

/// What an import did, or would do.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportOutcome {
    /// Whether nothing was changed.
    dry_run: bool,
    changes: Changes,
    /// The profile as it is (or, for a dry run, would be) after the import.
    profile: Profile,
}

/// Import into a profile
///
/// Reads the body as `format` and replaces the profile's links with the file's (a link whose
/// title and URL it already has keeps its id and clicks), setting what the file says of the
/// profile (linkleaf: display name, bio, avatar, theme; LinkStack: name and description); never
/// the username. A dry run (the default) answers what would change; `dryRun=false` applies it
/// as one edit, with one version. At most 100 links, a body of at most 512 KiB; every refusal
/// names its place in the file. `If-Match` works as on an edit.
#[utoipa::path(post, path = "/api/profiles/{profile}/import", operation_id = "importProfile", tag = "admin",
    params(("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$"),
           ImportParams,
           ("If-Match" = Option<String>, Header, description = "The profile's `version` as read: refused with 412 if it changed since", pattern = r#"^(\*|"[0-9]{1,15}"|[0-9]{1,15})$"#)),
    request_body(description = "The file: JSON for `linkleaf` and `linkstack`, CSV for `csv`", content(
        (Object = "application/json"), (String = "text/csv"))),
    security(("api_key" = ["profile:write", "links:write"]), ("session" = [])),
    responses(
        (status = 200, description = "What changed, or would", body = ImportOutcome),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
        (status = 413, response = PayloadTooLarge),
        (status = 415, description = "The body is not what `format` reads: `application/json` for `linkleaf` and `linkstack`, `text/csv` for `csv`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn import(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiPath(raw): ApiPath,
    ApiQuery(params): ApiQuery<ImportParams>,
    req: Request,
) -> Result<Response, AppError> {
    let expect = if_match(req.headers())?;
    // the body is what the format says it is
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let wanted = match params.format {
        Format::Linkleaf | Format::Linkstack => "application/json",
        Format::Csv => "text/csv",
    };
    if ct != wanted {
        return Err(AppError::UnsupportedMediaTypeOf(wanted));
    }
    let id = who
        .profile(&st, &raw, Action::Scope(Scope::ProfileWrite))
        .await?;
    // it rewrites the links too: a key for the profile's text alone may not
    who.on(&st, id, Action::Scope(Scope::LinksWrite)).await?;
    let body = Limited::new(req.into_body(), IMPORT_MAX_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                AppError::PayloadTooLarge(IMPORT_MAX_BYTES)
            } else {
                AppError::MalformedJson(format!("the body could not be read: {e}"))
            }
        })?
        .to_bytes();
    let imported = Imported::read(params.format, &body)?;
    let dry_run = params.dry_run.unwrap_or(true);
    let (before, after) = if dry_run {
        let before = st
            .stores
            .profiles
            .profile_by_id(id)
            .await?
            .ok_or_else(|| AppError::not_found_profile(&raw))?;
        if expect.is_some_and(|v| v != before.version) {
            return Err(AppError::Stale {
                current: before.version,
            });
        }
        let after = imported.apply(&before);
        (before, after)
    } else {
        let m = modify_seen(&st, id, who.actor(), expect, move |current| {
            Ok(imported.apply(current))
        })
        .await?;
        (m.before, m.after)
    };
    Ok(admin_json(
        StatusCode::OK,
        &ImportOutcome {
            dry_run,
            changes: Changes::of(&before, &after),
            profile: after,
        },
    ))
}
