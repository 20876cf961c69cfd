//! `/dashboard/{profile}/analytics`: what the page's visitors did, from the exactly-once
//! rollups (the API's report, kept until a window counts for the profile, so it is fresh within
//! a window). Views, people's and bots' clicks, the click-through rate, daily unique visitors,
//! each link, sources, referrers, countries, devices, browsers, systems and bot classes, over
//! today, 7, 30 or 90 days or dates chosen, in the account's time zone. The chart is drawn here
//! as SVG with the table of its numbers beside it (screen readers read the table); the CSV is
//! the API's, of the same range.
//! Must not: read events, or draw a chart whose numbers are not also in a table.

use super::editor::{Choice, range_params};
use super::{Frame, failed, frame, reader, show};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use linkleaf_access::table::Action;
use linkleaf_domain::analytics::{AnalyticsParams, AnalyticsReport, Bucket};
use linkleaf_domain::zone::Zone;
use linkleaf_domain::{Scope, unix_millis};
use linkleaf_http::AppState;
use std::collections::HashMap;
use std::fmt::Write;

const RANGES: [(&str, &str); 5] = [
    ("today", "Today"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("custom", "Dates below"),
];

pub struct Row {
    pub label: String,
    pub a: i64,
    pub b: i64,
}

pub struct Table {
    pub caption: &'static str,
    pub label: &'static str,
    pub a: &'static str,
    pub b: &'static str,
    pub rows: Vec<Row>,
}

pub struct Point {
    pub label: String,
    pub views: i64,
    pub clicks: i64,
    pub human_clicks: i64,
}

#[derive(Template)]
#[template(path = "dashboard/analytics.html")]
struct Analytics {
    f: Frame,
    name: String,
    ranges: Vec<Choice>,
    from_date: String,
    to_date: String,
    error: Option<String>,
    words: String,
    zone: String,
    views: i64,
    human_views: i64,
    clicks: i64,
    human_clicks: i64,
    bot_clicks: i64,
    ctr: String,
    visitors: i64,
    chart: String,
    chart_caption: String,
    points: Vec<Point>,
    tables: Vec<Table>,
    csv: String,
}

/// A local date field (`2026-12-06`) as the start of that day in `zone`.
fn day_start(zone: &Zone, date: &str) -> Option<i64> {
    let at = zone.from_local_input(&format!("{}T00:00", date.trim()))?;
    let t =
        time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339).ok()?;
    Some(unix_millis(t))
}

/// The most buckets a chart draws: a year of days and a day more (custom ranges are refused
/// past a year).
const MAX_BUCKETS: usize = 367;

/// The starts of the buckets of `[from_ms, to_ms)`: hours, or the local days of `zone` (a day
/// start is floored to the hour, so a zone whose midnight is not on the hour has its day begin
/// up to an hour early: the next day is looked for from an hour into this one).
pub fn buckets(zone: &Zone, hourly: bool, from_ms: i64, to_ms: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut t = from_ms;
    while t < to_ms && out.len() < MAX_BUCKETS {
        out.push(t);
        let next = if hourly {
            t + 3_600_000
        } else {
            zone.next_day_start_ms(t + 3_600_000)
        };
        if next <= t {
            break;
        }
        t = next;
    }
    out
}

/// A bucket as a person reads it: an hour's time, or a day's date (of the hour after its start,
/// which is inside the local day whatever its start was floored to).
pub fn bucket_label(zone: &Zone, hourly: bool, start_ms: i64) -> String {
    if hourly {
        let words = zone.local_words(start_ms);
        words.rsplit(", ").next().unwrap_or(&words).to_owned()
    } else {
        let words = zone.local_words(start_ms + 3_600_000);
        words.split(", ").next().unwrap_or(&words).to_owned()
    }
}

fn at(ms: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

fn rfc(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The chart: views (wide, light) and people's clicks (narrow, dark) per bucket, as SVG.
pub fn chart(points: &[Point], caption: &str) -> String {
    let (w, h, left, bottom, top) = (640.0_f64, 220.0_f64, 44.0, 26.0, 10.0);
    let max = points
        .iter()
        .map(|p| p.views.max(p.clicks))
        .max()
        .unwrap_or(0)
        .max(1);
    let n = points.len().max(1) as f64;
    let slot = (w - left - 4.0) / n;
    let y = |v: i64| top + (h - top - bottom) * (1.0 - v as f64 / max as f64);
    let mut s = String::with_capacity(4096);
    let _ = write!(
        s,
        r#"<svg viewBox="0 0 {w} {h}" role="img" aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{}</title>"#,
        askama_escape(caption)
    );
    let _ = write!(
        s,
        r#"<line x1="{left}" y1="{}" x2="{w}" y2="{}"/><line x1="{left}" y1="{top}" x2="{w}" y2="{top}"/><text x="{}" y="{}" text-anchor="end">{max}</text><text x="{}" y="{}" text-anchor="end">0</text>"#,
        h - bottom,
        h - bottom,
        left - 6.0,
        top + 10.0,
        left - 6.0,
        h - bottom
    );
    for (i, p) in points.iter().enumerate() {
        let x = left + slot * i as f64;
        let bw = (slot * 0.8).max(1.0);
        let vy = y(p.views);
        let cy = y(p.human_clicks);
        let _ = write!(
            s,
            r#"<rect class="views" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/><rect class="clicks" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/>"#,
            x + slot * 0.1,
            vy,
            bw,
            (h - bottom - vy).max(0.0),
            x + slot * 0.3,
            cy,
            (bw * 0.5).max(1.0),
            (h - bottom - cy).max(0.0),
        );
    }
    // the first, middle and last labels
    let mut labelled = vec![0, points.len() / 2, points.len().saturating_sub(1)];
    labelled.dedup();
    for i in labelled {
        if let Some(p) = points.get(i) {
            let x = left + slot * (i as f64 + 0.5);
            let _ = write!(
                s,
                r#"<text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
                h - 8.0,
                askama_escape(&p.label)
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn askama_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn table(caption: &'static str, label: &'static str, rows: Vec<Row>) -> Table {
    Table {
        caption,
        label,
        a: "People",
        b: "Bots",
        rows,
    }
}

fn shares(list: &[linkleaf_domain::analytics::Share]) -> Vec<Row> {
    list.iter()
        .map(|s| Row {
            label: s.value.clone(),
            a: s.human_clicks,
            b: s.clicks - s.human_clicks,
        })
        .collect()
}

/// `GET /dashboard/{profile}/analytics?range=&from=&to=`
pub async fn analytics(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let s = match reader(&st, &headers).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let p = match super::profile_for(&st, &s, &raw, Action::Scope(Scope::AnalyticsRead)).await {
        Ok(p) => p,
        Err(e) => return failed(&st, &s, e).await,
    };
    let zone = Zone::from_stored(&s.account.time_zone);
    let range = q.get("range").map_or("7d", String::as_str);
    let range = RANGES
        .iter()
        .find(|(v, _)| *v == range)
        .map_or("7d", |(v, _)| v);
    let mut error = None;
    let (from_date, to_date) = (
        q.get("from").cloned().unwrap_or_default(),
        q.get("to").cloned().unwrap_or_default(),
    );
    let mut params: AnalyticsParams = range_params(range, &zone);
    if range == "custom" {
        match (day_start(&zone, &from_date), day_start(&zone, &to_date)) {
            (Some(a), Some(b)) if a <= b && b - a > 366 * 86_400_000 => {
                error = Some("Choose at most a year (366 days) at a time.".to_owned());
            }
            (Some(a), Some(b)) if a <= b => {
                params.from = at(a);
                params.to = at(zone.next_day_start_ms(b));
                params.bucket = Some(Bucket::Day);
            }
            (Some(_), Some(_)) => {
                error = Some("The last day is before the first: choose them again.".to_owned());
            }
            _ => {
                error = Some(
                    "Choose the first and the last day, such as 2026-11-01 and 2026-11-30."
                        .to_owned(),
                );
            }
        }
    }
    // the access check read the profile already: the query is resolved here, not by
    // `reports::query_of`, which would read it again
    let query = match linkleaf_domain::analytics::AnalyticsQuery::resolve(
        &params,
        linkleaf_domain::now_millis(),
        &Zone::from_stored(&p.time_zone),
    ) {
        Ok(q) => q,
        Err(e) => return failed(&st, &s, linkleaf_http::AppError::Validation(e)).await,
    };
    let report = match linkleaf_http::reports::report_of(&st, p.id, &query).await {
        Ok((r, _)) => r,
        Err(e) => return failed(&st, &s, e).await,
    };
    let r: &AnalyticsReport = &report;
    let hourly = query.bucket == Bucket::Hour;
    // days are the account zone's when the report could regroup them, UTC's otherwise; hours
    // are instants, shown in the account's zone
    let days_zone = if query.zone.is_some() || hourly {
        zone.clone()
    } else {
        Zone::utc()
    };
    // every bucket of the range, those nothing happened in too
    let by_start: HashMap<i64, &linkleaf_domain::analytics::SeriesPoint> = r
        .series
        .iter()
        .map(|pt| (unix_millis(pt.start), pt))
        .collect();
    let (from_ms, to_ms) = (unix_millis(r.from), unix_millis(r.to));
    let points: Vec<Point> = buckets(&days_zone, hourly, from_ms, to_ms)
        .into_iter()
        .map(|t| {
            let pt = by_start.get(&t);
            Point {
                label: bucket_label(&days_zone, hourly, t),
                views: pt.map_or(0, |p| p.views),
                clicks: pt.map_or(0, |p| p.clicks),
                human_clicks: pt.map_or(0, |p| p.human_clicks),
            }
        })
        .collect();
    let human_views = r.totals.human_views;
    let ctr = if human_views > 0 {
        format!(
            "{:.1} %",
            100.0 * r.totals.human_clicks as f64 / human_views as f64
        )
    } else {
        "–".to_owned()
    };
    let words = if hourly {
        format!(
            "Today, {} ({}), by hour",
            bucket_label(&days_zone, false, days_zone.day_start_ms(from_ms)),
            days_zone.name()
        )
    } else {
        format!(
            "From {} to {} ({})",
            bucket_label(&days_zone, false, from_ms),
            bucket_label(&days_zone, false, days_zone.day_start_ms(to_ms - 1)),
            r.time_zone
        )
    };
    let titles: HashMap<uuid::Uuid, &str> =
        p.links.iter().map(|l| (l.id, l.title.as_str())).collect();
    let mut links: Vec<Row> = r
        .links
        .iter()
        .map(|l| Row {
            label: titles
                .get(&l.link_id)
                .map_or_else(|| "(a link removed since)".to_owned(), |t| (*t).to_owned()),
            a: l.human_clicks,
            b: l.bot_clicks,
        })
        .collect();
    for l in &p.links {
        if !r.links.iter().any(|c| c.link_id == l.id) {
            links.push(Row {
                label: l.title.clone(),
                a: 0,
                b: 0,
            });
        }
    }
    let sources = Table {
        caption: "Where views came from",
        label: "Source",
        a: "People",
        b: "Bots",
        rows: r
            .sources
            .iter()
            .map(|s| Row {
                label: s.value.clone(),
                a: s.human_views,
                b: s.views - s.human_views,
            })
            .collect(),
    };
    let tables = vec![
        table("Clicks per link", "Link", links),
        sources,
        table("Clicks by referrer", "Referrer", shares(&r.referrers)),
        table("Clicks by country", "Country", shares(&r.countries)),
        table("Clicks by device", "Device", shares(&r.devices)),
        table("Clicks by browser", "Browser", shares(&r.browsers)),
        table("Clicks by system", "System", shares(&r.operating_systems)),
        Table {
            caption: "Bot clicks by kind",
            label: "Kind",
            a: "Clicks",
            b: "All clicks",
            rows: r
                .bot_classes
                .iter()
                .filter(|s| s.value != "human")
                .map(|s| Row {
                    label: s.value.clone(),
                    a: s.clicks - s.human_clicks,
                    b: s.clicks,
                })
                .collect(),
        },
    ];
    let chart_caption = format!("Views and people's clicks: {words}");
    let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let mut csv = format!(
        "/api/profiles/{}/analytics.csv?from={}&to={}&bucket={}",
        p.id,
        enc(&rfc(r.from)),
        enc(&rfc(r.to)),
        if hourly { "hour" } else { "day" }
    );
    if query.zone.is_some() {
        let _ = write!(csv, "&timeZone={}", enc(&r.time_zone));
    }
    let f = match frame(
        &st,
        &s,
        Some(&p),
        "analytics",
        format!("Analytics of @{}", p.username.as_str()),
    )
    .await
    {
        Ok(f) => f,
        Err(e) => return failed(&st, &s, e).await,
    };
    let t = Analytics {
        f,
        name: p.username.as_str().to_owned(),
        ranges: RANGES
            .iter()
            .map(|(v, l)| Choice {
                value: v,
                label: l,
                selected: *v == range,
            })
            .collect(),
        from_date,
        to_date,
        error,
        words,
        zone: zone.name().to_owned(),
        views: r.totals.views,
        human_views,
        clicks: r.totals.clicks,
        human_clicks: r.totals.human_clicks,
        bot_clicks: r.totals.bot_clicks,
        ctr,
        visitors: r.totals.unique_visitors,
        chart: chart(&points, &chart_caption),
        chart_caption,
        points,
        tables,
        csv,
    };
    show(StatusCode::OK, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc: &str) -> i64 {
        unix_millis(
            time::OffsetDateTime::parse(rfc, &time::format_description::well_known::Rfc3339)
                .unwrap(),
        )
    }

    #[test]
    fn every_local_day_is_a_bucket_with_its_own_date_even_off_the_hour() {
        for (name, from, to) in [
            (
                "Asia/Kolkata",
                "2026-11-29T18:00:00Z",
                "2026-12-06T18:00:00Z",
            ),
            (
                "America/St_Johns",
                "2026-11-30T03:00:00Z",
                "2026-12-07T03:00:00Z",
            ),
            (
                "Europe/Paris",
                "2026-11-29T23:00:00Z",
                "2026-12-06T23:00:00Z",
            ),
            ("UTC", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"),
        ] {
            let zone = Zone::parse(name, "z").unwrap();
            let starts = buckets(&zone, false, ms(from), ms(to));
            let labels: Vec<String> = starts
                .iter()
                .map(|t| bucket_label(&zone, false, *t))
                .collect();
            let want: Vec<String> = (30..=30)
                .map(|d| format!("{d} Nov 2026"))
                .chain((1..=6).map(|d| format!("{d} Dec 2026")))
                .collect();
            assert_eq!(labels, want, "{name}");
        }
        // a day the clocks change is one bucket of 23 hours
        let paris = Zone::parse("Europe/Paris", "z").unwrap();
        let starts = buckets(
            &paris,
            false,
            ms("2026-03-28T23:00:00Z"),
            ms("2026-03-30T22:00:00Z"),
        );
        assert_eq!(
            starts,
            vec![ms("2026-03-28T23:00:00Z"), ms("2026-03-29T22:00:00Z")]
        );
        // hours in the account's zone
        let ny = Zone::parse("America/New_York", "z").unwrap();
        let hours = buckets(
            &ny,
            true,
            ms("2026-12-06T05:00:00Z"),
            ms("2026-12-06T08:00:00Z"),
        );
        let labels: Vec<String> = hours.iter().map(|t| bucket_label(&ny, true, *t)).collect();
        assert_eq!(labels, ["00:00", "01:00", "02:00"]);
    }

    #[test]
    fn the_chart_draws_every_bucket_and_escapes_its_words() {
        let points = vec![
            Point {
                label: "1 Dec".into(),
                views: 10,
                clicks: 4,
                human_clicks: 3,
            },
            Point {
                label: "2 Dec".into(),
                views: 0,
                clicks: 0,
                human_clicks: 0,
            },
            Point {
                label: "<3 Dec>".into(),
                views: 5,
                clicks: 5,
                human_clicks: 5,
            },
        ];
        let svg = chart(&points, "Views & clicks");
        assert_eq!(svg.matches("<rect class=\"views\"").count(), 3);
        assert_eq!(svg.matches("<rect class=\"clicks\"").count(), 3);
        assert!(svg.contains("<title id=\"chart-title\">Views &amp; clicks</title>"));
        assert!(svg.contains("&lt;3 Dec&gt;"), "{svg}");
        assert!(!svg.contains("<3 Dec>"));
        // the tallest bar reaches the top line, an empty bucket has no height
        assert!(svg.contains(">10</text>"));
        assert!(svg.contains("height=\"0.0\""));
    }
}
