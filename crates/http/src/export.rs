//! What leaves the service as a file: a profile's analytics as CSV (RFC 4180, with a header
//! row), its cells neutralised against CSV injection (a cell a spreadsheet would read as a
//! formula starts with `'`). Must not: read a store (the route brings the report and the
//! profile), or write a cell a spreadsheet would run.

use linkleaf_domain::Profile;
use linkleaf_domain::analytics::{AnalyticsReport, Share};
use std::borrow::Cow;

/// The first characters that make a spreadsheet read a cell as a formula (OWASP's list).
const FORMULA: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell as a spreadsheet may safely read it: one that starts like a formula gets a leading
/// `'`, which spreadsheets take as "text" and do not show.
pub fn cell(s: &str) -> Cow<'_, str> {
    if s.starts_with(FORMULA) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

const HEADER: [&str; 9] = [
    "section",
    "key",
    "label",
    "clicks",
    "human_clicks",
    "bot_clicks",
    "views",
    "unique_visitors",
    "range",
];

/// The report as one CSV table: the totals, each bucket of the series, each link of the profile
/// (with its title; those not clicked with zeros), each value of every breakdown of clicks and
/// each source of views, a row each.
pub fn analytics_csv(r: &AnalyticsReport, profile: &Profile) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER)?;
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let range = format!("{}/{}", rfc(r.from), rfc(r.to));
    let n = |v: i64| v.to_string();
    let t = &r.totals;
    w.write_record([
        "total",
        "",
        "",
        &n(t.clicks),
        &n(t.human_clicks),
        &n(t.bot_clicks),
        &n(t.views),
        &n(t.unique_visitors),
        &range,
    ])?;
    for p in &r.series {
        w.write_record([
            "series",
            &rfc(p.start),
            "",
            &n(p.clicks),
            &n(p.human_clicks),
            &n(p.clicks - p.human_clicks),
            &n(p.views),
            "",
            &range,
        ])?;
    }
    // every link of the profile (those not clicked with zeros), then those removed since
    let mut rows: Vec<(String, &str, i64, i64, i64)> = profile
        .links
        .iter()
        .map(|k| {
            let c = r.links.iter().find(|l| l.link_id == k.id);
            (
                k.id.to_string(),
                k.title.as_str(),
                c.map_or(0, |c| c.clicks),
                c.map_or(0, |c| c.human_clicks),
                c.map_or(0, |c| c.bot_clicks),
            )
        })
        .collect();
    for l in &r.links {
        if !profile.links.iter().any(|k| k.id == l.link_id) {
            rows.push((
                l.link_id.to_string(),
                "(removed)",
                l.clicks,
                l.human_clicks,
                l.bot_clicks,
            ));
        }
    }
    for (id, title, clicks, human, bot) in rows {
        w.write_record([
            "link",
            &id,
            &cell(title),
            &n(clicks),
            &n(human),
            &n(bot),
            "",
            "",
            &range,
        ])?;
    }
    let breakdowns: [(&str, &Vec<Share>); 6] = [
        ("referrer", &r.referrers),
        ("country", &r.countries),
        ("device", &r.devices),
        ("browser", &r.browsers),
        ("os", &r.operating_systems),
        ("bot_class", &r.bot_classes),
    ];
    for (section, shares) in breakdowns {
        for s in shares {
            w.write_record([
                section,
                &cell(&s.value),
                "",
                &n(s.clicks),
                &n(s.human_clicks),
                &n(s.clicks - s.human_clicks),
                "",
                "",
                &range,
            ])?;
        }
    }
    // sources count views, not clicks
    for s in &r.sources {
        w.write_record([
            "source",
            &cell(&s.value),
            "",
            "",
            "",
            "",
            &n(s.views),
            "",
            &range,
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_look_like_formulas_are_neutralised() {
        for (raw, safe) in [
            (
                "=HYPERLINK(\"http://evil\")",
                "'=HYPERLINK(\"http://evil\")",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("My blog", "My blog"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(cell(raw), safe, "{raw:?}");
        }
    }
}
