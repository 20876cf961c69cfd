//! Turns a profile into the finished bytes the read path serves: its public JSON and its HTML
//! page, each a `Variant` (a strong ETag, and brotli and gzip forms with ETags of their own),
//! built once when the cache is filled so a hit does no work: no request compresses anything.
//!
//! Everything user-written passes through askama's HTML escaping; links and avatars were
//! restricted to safe schemes when they came in (linkleaf-domain).
//! Must not: run per request, or put anything user-written into the page unescaped.

use crate::variant::{Encoded, Variant, exact};
use askama::Template;
use axum::http::HeaderValue;
use bytes::Bytes;
use linkleaf_cache::Weigh;
use linkleaf_cache::tier::Codec;
use linkleaf_domain::{Link, Profile};
use std::borrow::Cow;
use time::OffsetDateTime;
use time::macros::format_description;

/// What the profile cache holds for one username.
pub struct RenderedPage {
    pub json: Variant,
    pub html: Variant,
    pub last_modified: HeaderValue,
    /// Whether `last_modified` tells this page from any later one: it was rendered a second
    /// or more after its last change, so a change after it falls in a later second and moves
    /// the date. `Last-Modified` has whole seconds; a page rendered within the second of its
    /// change could be followed by another change in that same second, and a client asking
    /// `If-Modified-Since` with that date would be told "not modified" wrongly, so such a page
    /// answers `If-Modified-Since` with the whole body (its ETag still revalidates).
    pub last_modified_strong: bool,
    /// The page's content security policy: its inline style's hash, when it has one.
    pub csp: HeaderValue,
    /// When the page stops being true by itself (a scheduled link appears or goes), in ms
    /// since the epoch: no cache keeps it past this, and `Cache-Control` does not reach past it.
    pub expires_at_ms: Option<u64>,
}

impl Weigh for RenderedPage {
    /// The bodies, compressed forms included (allocated at their exact size, see `exact`),
    /// and the eight header values (each a `Bytes` of its own; `HeaderValue` is 40 bytes
    /// inline, its text ~34 on the heap).
    fn weight(&self) -> u32 {
        let bodies = self.json.bytes() + self.html.bytes();
        // mimalloc rounds each allocation up to its size class: up to 1/8 more
        (bodies + bodies / 8 + 8 * 80) as u32
    }
    fn expires_at_ms(&self) -> Option<u64> {
        self.expires_at_ms
    }
}

/// In the shared tier: each part with its length (u32, big-endian), in a fixed order; a
/// compressed form absent is two empty parts. The compressed forms travel with the page (they
/// are ~30 % of it), so an instance loading from the tier compresses nothing. What comes back
/// is checked like any input: a header value must be one, and nothing may be left over.
impl Codec for RenderedPage {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut put = |part: &[u8]| {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        };
        for v in [&self.json, &self.html] {
            put(&v.body);
            put(v.etag.as_bytes());
            for e in [&v.br, &v.gzip] {
                match e {
                    Some(e) => {
                        put(&e.body);
                        put(e.etag.as_bytes());
                    }
                    None => {
                        put(b"");
                        put(b"");
                    }
                }
            }
        }
        put(self.last_modified.as_bytes());
        put(self.csp.as_bytes());
        put(&[u8::from(self.last_modified_strong)]);
        match self.expires_at_ms {
            Some(end) => put(&end.to_be_bytes()),
            None => put(b""),
        }
    }

    fn decode(mut b: &[u8]) -> Result<Self, String> {
        let mut next = || -> Result<&[u8], String> {
            let len = b.get(..4).ok_or("truncated length")?;
            let len = u32::from_be_bytes(len.try_into().map_err(|_| "length")?) as usize;
            let part = b.get(4..4 + len).ok_or("truncated part")?;
            b = &b[4 + len..];
            Ok(part)
        };
        let header = |v: &[u8]| HeaderValue::from_bytes(v).map_err(|e| e.to_string());
        let mut variant = || -> Result<Variant, String> {
            let body = Bytes::copy_from_slice(next()?);
            let etag = header(next()?)?;
            let mut encoded = || -> Result<Option<Encoded>, String> {
                let (body, etag) = (next()?, next()?);
                if body.is_empty() {
                    return Ok(None);
                }
                Ok(Some(Encoded {
                    body: Bytes::copy_from_slice(body),
                    etag: header(etag)?,
                }))
            };
            let br = encoded()?;
            let gzip = encoded()?;
            Ok(Variant {
                body,
                etag,
                br,
                gzip,
            })
        };
        let json = variant()?;
        let html = variant()?;
        let last_modified = header(next()?)?;
        let csp = header(next()?)?;
        let last_modified_strong = match next()? {
            [0] => false,
            [1] => true,
            _ => return Err("not a flag".into()),
        };
        let expires_at_ms = match next()? {
            [] => None,
            end => Some(u64::from_be_bytes(
                end.try_into().map_err(|_| "not a time")?,
            )),
        };
        if !b.is_empty() {
            return Err("trailing bytes".into());
        }
        Ok(Self {
            json,
            html,
            last_modified,
            last_modified_strong,
            csp,
            expires_at_ms,
        })
    }
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage<'a> {
    username: &'a str,
    display_name: &'a str,
    bio: &'a str,
    description: String,
    avatar_url: Option<Cow<'a, str>>,
    page_url: String,
    links: Vec<&'a Link>,
    stylesheet: &'static str,
    /// The theme's classes (`t-sunset b-pill`, see `style`).
    classes: String,
    /// A chosen accent colour, the page's only inline style.
    inline_style: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    text: &'a str,
    stylesheet: &'static str,
}

/// A plain page with a title and a sentence (404, 503).
pub fn message_page(title: &str, text: &str) -> Bytes {
    Bytes::from(
        MessagePage {
            title,
            text,
            stylesheet: &crate::style::stylesheet().path,
        }
        .render()
        .unwrap_or_else(|_| title.to_owned()),
    )
}

/// `Last-Modified` in IMF-fixdate form.
pub fn http_date(t: OffsetDateTime) -> HeaderValue {
    let fmt = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let s = t
        .to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default();
    HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

pub struct Renderer {
    /// The public origin pages are served from, for canonical and OpenGraph URLs.
    pub public_url: String,
}

impl Renderer {
    /// The page as the public sees it now.
    pub fn render(&self, p: &Profile) -> Result<RenderedPage, String> {
        self.render_at(p, OffsetDateTime::now_utc())
    }

    /// The page as the public sees it at `now`: the links shown then, and until when.
    pub fn render_at(&self, p: &Profile, now: OffsetDateTime) -> Result<RenderedPage, String> {
        let public = p.public_at(now);
        let expires_at_ms = public
            .valid_until
            .map(|t| linkleaf_domain::unix_millis(t).max(0) as u64);
        let changed_at = p.changed_at(now);
        let json = serde_json::to_vec(&public).map_err(|e| e.to_string())?;
        let description = if p.bio.is_empty() {
            format!("Links of {}", p.display_name)
        } else {
            p.bio.chars().take(160).collect()
        };
        let (classes, inline_style) = crate::style::theme_classes(&p.theme);
        let csp = crate::style::page_csp(inline_style.as_deref());
        let page = ProfilePage {
            username: p.username.as_str(),
            display_name: &p.display_name,
            bio: &p.bio,
            description,
            avatar_url: p.avatar_url.as_deref().map(upgraded),
            page_url: format!(
                "{}/{}",
                self.public_url.trim_end_matches('/'),
                p.username.key()
            ),
            links: public.links,
            stylesheet: &crate::style::stylesheet().path,
            classes,
            inline_style,
        };
        let html = page.render().map_err(|e| e.to_string())?;
        Ok(RenderedPage {
            json: Variant::new(exact(json)),
            html: Variant::new(exact(html.into_bytes())),
            last_modified: http_date(changed_at),
            last_modified_strong: now - changed_at >= time::Duration::SECOND,
            csp,
            expires_at_ms,
        })
    }
}

/// An `http:` avatar asked for as `https:`: a page never loads an image in the clear, and its
/// policy allows `https:` images only. (Most image hosts answer both; one that does not shows
/// no image, and the creator is better off with an `https:` address anyway.)
fn upgraded(url: &str) -> Cow<'_, str> {
    match url.strip_prefix("http://") {
        Some(rest) => Cow::Owned(format!("https://{rest}")),
        None => Cow::Borrowed(url),
    }
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, RFC 9110 §13.1.2),
/// without allocating.
pub fn etag_matches(if_none_match: &[u8], etag: &[u8]) -> bool {
    if_none_match.split(|b| *b == b',').any(|t| {
        let t = t.trim_ascii();
        t == b"*" || t.strip_prefix(b"W/").unwrap_or(t) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use linkleaf_domain::{CreateProfile, now_millis};

    fn profile(json: &str) -> Profile {
        serde_json::from_str::<CreateProfile>(json)
            .unwrap()
            .into_profile(now_millis())
            .unwrap()
    }

    #[test]
    fn pages_round_trip_through_the_shared_tier_and_garbage_does_not() {
        let p =
            profile(r#"{"username":"tiered","links":[{"title":"a","url":"https://a.example"}]}"#);
        let r = Renderer {
            public_url: "http://localhost:3000".into(),
        }
        .render(&p)
        .unwrap();
        let mut b = Vec::new();
        r.encode(&mut b);
        let back = RenderedPage::decode(&b).unwrap();
        assert_eq!(back.json.body, r.json.body);
        assert_eq!(back.html.etag, r.html.etag);
        assert_eq!(back.last_modified, r.last_modified);
        assert_eq!(back.last_modified_strong, r.last_modified_strong);
        for (a, b) in [(&back.json, &r.json), (&back.html, &r.html)] {
            let (ab, bb) = (a.br.as_ref().unwrap(), b.br.as_ref().unwrap());
            assert_eq!((&ab.body, &ab.etag), (&bb.body, &bb.etag));
            let (ag, bg) = (a.gzip.as_ref().unwrap(), b.gzip.as_ref().unwrap());
            assert_eq!((&ag.body, &ag.etag), (&bg.body, &bg.etag));
        }
        assert!(RenderedPage::decode(&b[..b.len() - 1]).is_err());
        let mut longer = b.clone();
        longer.push(0);
        assert!(RenderedPage::decode(&longer).is_err());
        // a header value with a newline in it is not one
        let mut evil = Vec::new();
        for part in [
            &b"{}"[..],
            b"\"e\"\r\nSet-Cookie: x",
            b"",
            b"",
            b"",
            b"",
            b"<p>",
            b"\"h\"",
            b"",
            b"",
            b"",
            b"",
            b"now",
        ] {
            evil.extend_from_slice(&(part.len() as u32).to_be_bytes());
            evil.extend_from_slice(part);
        }
        assert!(RenderedPage::decode(&evil).is_err());
        assert!(RenderedPage::decode(&[0xff; 3]).is_err());
    }

    /// Each compressed form is the page, made smaller, under an ETag of its own.
    #[test]
    fn compressed_forms_decode_to_the_page_and_carry_their_own_etags() {
        use std::io::Read;
        let p = profile(
            r#"{"username":"squeezed","bio":"a bio that repeats, a bio that repeats",
                "links":[{"title":"a","url":"https://a.example"},{"title":"b","url":"https://b.example"}]}"#,
        );
        let r = Renderer {
            public_url: "http://localhost:3000".into(),
        }
        .render(&p)
        .unwrap();
        for v in [&r.json, &r.html] {
            let br = v.br.as_ref().unwrap();
            let mut out = Vec::new();
            brotli::Decompressor::new(&br.body[..], 4096)
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, v.body);
            let gz = v.gzip.as_ref().unwrap();
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&gz.body[..])
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, v.body);
            assert!(br.body.len() < v.body.len() && gz.body.len() < v.body.len());
            let e = v.etag.to_str().unwrap();
            assert_eq!(br.etag, format!("{}-br\"", &e[..e.len() - 1]));
            assert_eq!(gz.etag, format!("{}-gz\"", &e[..e.len() - 1]));
        }
        // a body compression cannot shrink keeps no compressed form
        let tiny = Variant::new(Bytes::from_static(b"{}"));
        assert!(tiny.br.is_none() && tiny.gzip.is_none());
    }

    #[test]
    fn etags_compare_weakly_and_in_lists() {
        let e = br#""abc""#;
        assert!(etag_matches(br#""abc""#, e));
        assert!(etag_matches(br#"W/"abc""#, e));
        assert!(etag_matches(br#""x", "abc" , "y""#, e));
        assert!(etag_matches(b"*", e));
        assert!(!etag_matches(br#""abcd""#, e));
        assert!(!etag_matches(b"abc", e));
        assert!(!etag_matches(b"", e));
    }

    #[test]
    fn http_dates_are_imf_fixdate() {
        let t = OffsetDateTime::from_unix_timestamp(784111777).unwrap();
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn everything_user_written_is_escaped() {
        let p = profile(
            r#"{"username":"evil","displayName":"<script>alert(1)</script>","bio":"\"><img src=x onerror=alert(1)>",
                "links":[{"title":"<b onmouseover=x>t</b>","url":"https://e.example/?q=\"><script>"}]}"#,
        );
        let r = Renderer {
            public_url: "http://localhost:3000".into(),
        }
        .render(&p)
        .unwrap();
        let html = std::str::from_utf8(&r.html.body).unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"));
        assert!(!html.contains("<b onmouseover"));
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{html}"
        );
        assert!(
            !html.contains("\"><script>"),
            "quotes in URLs cannot break out of href"
        );
    }

    #[test]
    fn pages_show_enabled_links_in_order_with_social_tags() {
        let p = profile(
            r#"{"username":"Jane","displayName":"Jane D","avatarUrl":"https://a.example/j.png",
                "links":[{"title":"first","url":"https://1.example"},{"title":"hidden","url":"https://h.example","enabled":false},
                         {"title":"second","url":"mailto:j@d.example"}]}"#,
        );
        let r = Renderer {
            public_url: "https://ll.example/".into(),
        }
        .render(&p)
        .unwrap();
        let html = std::str::from_utf8(&r.html.body).unwrap();
        assert!(html.find("first").unwrap() < html.find("second").unwrap());
        assert!(!html.contains("hidden"));
        assert!(html.contains(r#"<meta property="og:url" content="https://ll.example/jane">"#));
        assert!(html.contains(r#"<meta property="og:image" content="https://a.example/j.png">"#));
        assert!(html.contains(r#"<meta name="twitter:card" content="summary">"#));
        let json: serde_json::Value = serde_json::from_slice(&r.json.body).unwrap();
        assert_eq!(json["links"].as_array().unwrap().len(), 2);
        assert_ne!(r.json.etag, r.html.etag);
    }
}
