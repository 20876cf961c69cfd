//! Scheduled links: when a link is shown (`visibleFrom`, `visibleUntil`), the times a profile's
//! page changes by itself (its boundaries), and how such times are read from outside.
//!
//! A boundary is a hard limit for everything that keeps a page: the read path's caches end an
//! entry at the next one (`next_boundary`), and the instance announces each one passed
//! (`links.updated`) without any request.
//! Must not: read the clock itself (every rule here takes `now`), or touch storage.

use crate::error::{FieldError, ValidationErrors};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The earliest and latest times taken (a year a person would schedule in; also what both
/// databases store as milliseconds without overflow).
const EARLIEST_YEAR: i32 = 2000;
const LATEST_YEAR: i32 = 9999;

/// An RFC 3339 time from a request (`field` names it in the error), cut to whole milliseconds
/// as it is stored and shown.
pub fn parse_time(raw: &str, field: &str) -> Result<OffsetDateTime, FieldError> {
    let t = OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| {
        FieldError::new(
            field,
            "must be an RFC 3339 date and time with its offset, such as 2026-12-24T18:00:00+01:00",
        )
    })?;
    // in UTC first (9999-12-31T23:00-05:00 is in the year 10000 there), then bounded
    let t = t
        .checked_to_offset(time::UtcOffset::UTC)
        .filter(|t| (EARLIEST_YEAR..=LATEST_YEAR).contains(&t.year()))
        .ok_or_else(|| {
            FieldError::new(
                field,
                format!("must be between the years {EARLIEST_YEAR} and {LATEST_YEAR} (UTC)"),
            )
        })?;
    Ok(t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t))
}

/// A window's two ends, checked together: `visibleUntil` must come after `visibleFrom`.
pub fn check_window(
    from: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
) -> Result<(), FieldError> {
    match (from, until) {
        (Some(f), Some(u)) if u <= f => Err(FieldError::new(
            "visibleUntil",
            "must be later than visibleFrom",
        )),
        _ => Ok(()),
    }
}

/// Whether the public sees a link at `now`: enabled, and within its window (from `from`,
/// inclusive, to `until`, exclusive).
pub fn shown_at(
    enabled: bool,
    from: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> bool {
    enabled && from.is_none_or(|f| f <= now) && until.is_none_or(|u| now < u)
}

/// A link's window: whether it is enabled, and its two ends.
pub type Window = (bool, Option<OffsetDateTime>, Option<OffsetDateTime>);

/// A link's window as sent: each end read (`None` when absent or `null`), then checked
/// together.
pub fn window(
    errs: &mut ValidationErrors,
    from: Option<&str>,
    until: Option<&str>,
) -> (Option<OffsetDateTime>, Option<OffsetDateTime>) {
    let from = from.and_then(|f| errs.check(parse_time(f, "visibleFrom")));
    let until = until.and_then(|u| errs.check(parse_time(u, "visibleUntil")));
    errs.check(check_window(from, until));
    (from, until)
}

/// A window's boundaries (the times its link appears or goes), when its link is enabled.
fn boundaries((on, from, until): Window) -> impl Iterator<Item = OffsetDateTime> {
    [from, until].into_iter().flatten().filter(move |_| on)
}

/// The first time after `now` at which what these windows show changes by itself.
pub fn next_boundary(
    windows: impl IntoIterator<Item = Window>,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    windows
        .into_iter()
        .flat_map(boundaries)
        .filter(|b| *b > now)
        .min()
}

/// The last time at or before `now` at which what these windows show changed by itself (a
/// page's `Last-Modified` is at least this: the page changed then, without an edit).
pub fn last_boundary(
    windows: impl IntoIterator<Item = Window>,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    windows
        .into_iter()
        .flat_map(boundaries)
        .filter(|b| *b <= now)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_link_is_visible_from_its_start_inclusive_to_its_end_exclusive() {
        let (f, u) = (
            datetime!(2026-12-24 18:00 UTC),
            datetime!(2026-12-26 00:00 UTC),
        );
        let ms = time::Duration::MILLISECOND;
        assert!(!shown_at(true, Some(f), Some(u), f - ms));
        assert!(shown_at(true, Some(f), Some(u), f));
        assert!(shown_at(true, Some(f), Some(u), u - ms));
        assert!(!shown_at(true, Some(f), Some(u), u));
        assert!(!shown_at(false, Some(f), Some(u), f));
        assert!(shown_at(true, None, None, f));
        assert_eq!(next_boundary([(true, Some(f), Some(u))], f), Some(u));
        assert_eq!(next_boundary([(false, Some(f), Some(u))], f - ms), None);
    }

    #[test]
    fn boundaries_are_those_of_enabled_links_on_either_side_of_now() {
        let t = |h| datetime!(2026-12-24 00:00 UTC) + time::Duration::hours(h);
        let links = [
            (true, Some(t(2)), Some(t(5))),
            (true, None, Some(t(3))),
            (false, Some(t(1)), None),
        ];
        assert_eq!(next_boundary(links, t(0)), Some(t(2)));
        assert_eq!(next_boundary(links, t(2)), Some(t(3)));
        assert_eq!(next_boundary(links, t(5)), None);
        assert_eq!(last_boundary(links, t(0)), None);
        assert_eq!(last_boundary(links, t(4)), Some(t(3)));
    }

    #[test]
    fn times_are_read_with_their_offset_and_cut_to_milliseconds() {
        let t = parse_time("2026-12-24T18:00:00.123456+01:00", "visibleFrom").unwrap();
        assert_eq!(t, datetime!(2026-12-24 17:00:00.123 UTC));
        for bad in [
            "2026-12-24",
            "2026-12-24T18:00:00",
            "tomorrow",
            "1900-01-01T00:00:00Z",
            "9999-12-31T23:00:00-05:00",
            "2000-01-01T00:30:00+01:00",
        ] {
            let e = parse_time(bad, "visibleFrom").unwrap_err();
            assert_eq!(e.field, "visibleFrom", "{bad}");
        }
        let (a, b) = (
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2026-01-02 0:00 UTC),
        );
        assert!(check_window(Some(a), Some(b)).is_ok());
        assert_eq!(
            check_window(Some(b), Some(a)).unwrap_err().field,
            "visibleUntil"
        );
        assert_eq!(
            check_window(Some(a), Some(a)).unwrap_err().field,
            "visibleUntil"
        );
    }
}
