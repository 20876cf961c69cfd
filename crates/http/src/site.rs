//! The files a browser or a crawler asks every site for: `/favicon.ico` (asked with every page
//! view; a file of the operator's with `server.favicon_file`), `/apple-touch-icon.png`, and
//! `/robots.txt` (`server.robots_file`; by default pages may be crawled, `/api/` and `/r/` not).
//! Each is held as bytes with its type and a strong ETag, made once at start. Must not: read a
//! file per request.

use axum::http::HeaderValue;
use bytes::Bytes;

/// One file, as it is answered.
#[derive(Clone, Debug)]
pub struct StaticFile {
    pub bytes: Bytes,
    pub content_type: HeaderValue,
    pub etag: HeaderValue,
}

impl StaticFile {
    pub fn new(bytes: Bytes, content_type: &'static str) -> Self {
        Self {
            etag: crate::variant::etag(&bytes),
            bytes,
            content_type: HeaderValue::from_static(content_type),
        }
    }
}

/// The default robots.txt: pages may be crawled; the API and the redirects may not (a crawler
/// following `/r/` would count as clicks and leave the site).
pub const DEFAULT_ROBOTS: &str = "User-agent: *\nAllow: /\nDisallow: /api/\nDisallow: /r/\n";

/// The site's files.
#[derive(Clone, Debug)]
pub struct SiteFiles {
    pub favicon: StaticFile,
    pub touch_icon: StaticFile,
    pub robots: StaticFile,
}

impl Default for SiteFiles {
    fn default() -> Self {
        Self {
            favicon: StaticFile::new(
                Bytes::from_static(include_bytes!("../assets/favicon.ico")),
                "image/x-icon",
            ),
            touch_icon: StaticFile::new(
                Bytes::from_static(include_bytes!("../assets/apple-touch-icon.png")),
                "image/png",
            ),
            robots: StaticFile::new(
                Bytes::from_static(DEFAULT_ROBOTS.as_bytes()),
                "text/plain; charset=utf-8",
            ),
        }
    }
}

/// What an icon file of the operator's is, by its first bytes: an ICO, a PNG or an SVG; `Err`
/// names what it is not.
pub fn icon_type(bytes: &[u8]) -> Result<&'static str, String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]);
    let head = head.trim_start();
    if bytes.starts_with(&[0, 0, 1, 0]) {
        Ok("image/x-icon")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok("image/png")
    } else if head.starts_with("<svg") || (head.starts_with("<?xml") && head.contains("<svg")) {
        Ok("image/svg+xml")
    } else {
        Err("is not an .ico, .png or .svg file".into())
    }
}
