//! One finished representation (`Variant`): the bytes, their strong ETag, and their brotli and
//! gzip forms, each with an ETag of its own (the identity's, marked `-br` or `-gz`), made once
//! when the bytes are made and never per request. The levels were chosen by measurement
//! (`examples/compression_levels.rs`, BENCHMARKS.md): brotli 5 and gzip 6 make a 6 KB page
//! 1.25 KB and 1.5 KB in ~0.3 ms together; brotli 11 would save another 115 bytes for 10 ms, and
//! every profile is rendered again each fresh period. Used by the rendered pages (`render`), the
//! stylesheet (`style`) and the API description (`routes::docs`).

use axum::http::HeaderValue;
use bytes::Bytes;
use sha2::{Digest, Sha256};

/// One finished representation, and its compressed forms (`None` where compressing does not
/// make it smaller).
pub struct Variant {
    pub body: Bytes,
    pub etag: HeaderValue,
    pub br: Option<Encoded>,
    pub gzip: Option<Encoded>,
}

/// A compressed form of a representation: its own bytes and its own strong ETag (the
/// identity's, marked `-br` or `-gz`), as RFC 9110 §8.8.3 asks of each representation.
pub struct Encoded {
    pub body: Bytes,
    pub etag: HeaderValue,
}

/// brotli's level and window for a page (see the module header).
pub const BR_LEVEL: u32 = 5;
const BR_WINDOW: u32 = 22;
/// gzip's level.
pub const GZIP_LEVEL: u32 = 6;

impl Variant {
    /// `body` with its ETag and its compressed forms.
    pub fn new(body: Bytes) -> Self {
        let etag = etag(&body);
        let br = {
            let mut out = Vec::with_capacity(body.len() / 3);
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, BR_LEVEL, BR_WINDOW);
                let _ = std::io::Write::write_all(&mut w, &body);
            }
            out
        };
        let gzip = {
            let mut w = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 3),
                flate2::Compression::new(GZIP_LEVEL),
            );
            let _ = std::io::Write::write_all(&mut w, &body);
            w.finish().unwrap_or_default()
        };
        let encoded = |bytes: Vec<u8>, mark: &str| {
            (!bytes.is_empty() && bytes.len() < body.len()).then(|| Encoded {
                etag: marked(&etag, mark),
                body: exact(bytes),
            })
        };
        Self {
            br: encoded(br, "br"),
            gzip: encoded(gzip, "gz"),
            etag,
            body,
        }
    }

    /// `body` with compressed forms made beforehand (committed assets).
    pub fn precompressed(body: Bytes, br: Bytes, gzip: Bytes) -> Self {
        let etag = etag(&body);
        Self {
            br: Some(Encoded {
                etag: marked(&etag, "br"),
                body: br,
            }),
            gzip: Some(Encoded {
                etag: marked(&etag, "gz"),
                body: gzip,
            }),
            etag,
            body,
        }
    }

    /// The bytes held, all forms together.
    pub fn bytes(&self) -> usize {
        self.body.len()
            + self.br.as_ref().map_or(0, |e| e.body.len())
            + self.gzip.as_ref().map_or(0, |e| e.body.len())
    }
}

/// `"abc"` marked `"abc-br"`.
fn marked(etag: &HeaderValue, mark: &str) -> HeaderValue {
    let e = etag.as_bytes();
    let inner = e.strip_suffix(b"\"").unwrap_or(e);
    let mut v = Vec::with_capacity(e.len() + 3);
    v.extend_from_slice(inner);
    v.push(b'-');
    v.extend_from_slice(mark.as_bytes());
    v.push(b'"');
    HeaderValue::from_bytes(&v).unwrap_or_else(|_| etag.clone())
}

/// A strong ETag: a quoted digest of the bytes.
pub fn etag(body: &[u8]) -> HeaderValue {
    let d = Sha256::digest(body);
    let mut s = String::with_capacity(34);
    s.push('"');
    for b in &d[..16] {
        s.push_str(&format!("{b:02x}"));
    }
    s.push('"');
    HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `Bytes` over an allocation of exactly `v.len()` bytes: a `Vec` grown by doubling (as
/// serializers and template engines grow their output) may hold up to twice what it uses, and
/// the cache would keep all of it. A copy, not `into_boxed_slice`: mimalloc's `realloc` keeps a
/// block in place when the new size is at least half of it, so shrinking would free nothing.
pub fn exact(v: Vec<u8>) -> Bytes {
    Bytes::copy_from_slice(&v)
}
