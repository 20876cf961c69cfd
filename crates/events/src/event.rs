//! Events as they travel: a `Hit` is what a request hands over (raw, in this process's memory
//! only: the client's address is in it), an `Event` is what is written to the spool and sent on
//! the queue (no address: a daily visitor hash and a country instead).
//!
//! An event's encoding is compact and versioned, every field bounded: it is read back from
//! files and from a broker, so decoding treats the bytes as untrusted.
//! Must not: carry a client's address into an `Event`, or trust bytes it decodes.

use http::HeaderValue;
use std::net::IpAddr;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A redirect through `/r/{link}`: recorded before the 302 leaves.
    Click,
    /// A profile page served: recorded without making the page wait.
    View,
}

/// What a request hands over. Never written anywhere as it is.
#[derive(Debug, Clone)]
pub struct Hit {
    pub kind: Kind,
    pub profile: Uuid,
    pub link: Option<Uuid>,
    pub at_ms: u64,
    /// The client: the socket's peer, or `X-Forwarded-For` when the peer is a trusted proxy.
    pub client: IpAddr,
    pub user_agent: Option<HeaderValue>,
    pub referer: Option<HeaderValue>,
    /// The trusted geo header's value (`clicks.geo_header`), when there is one.
    pub geo: Option<HeaderValue>,
    /// A `HEAD` request: answered, but no person's click.
    pub head: bool,
}

/// Longest user agent kept (bytes, cut at a character boundary).
pub const USER_AGENT_MAX: usize = 512;
/// Longest referring host kept.
pub const REFERRER_MAX: usize = 253;
const REGION_MAX: usize = 64;
/// Format 1 had no count (each event was one); format 2 carries it.
const FORMAT: u8 = 2;

/// One event as spooled and queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: Uuid,
    pub kind: Kind,
    pub profile: Uuid,
    pub link: Option<Uuid>,
    pub at_ms: u64,
    /// A keyed hash of the client's address and user agent under the day's salt.
    pub visitor: u64,
    /// ISO 3166-1 alpha-2, or empty.
    pub country: String,
    pub region: String,
    /// A click's referring host, or empty (none, or not kept); a view's source (`qr`, a
    /// `utm_source`: `linkleaf_domain::analytics::view_source`), or empty.
    pub referrer: String,
    pub user_agent: String,
    pub head: bool,
    /// How many alike events this one stands for: 1 for a click (each is its own event); views
    /// of the same page by the same visitor with the same user agent within a flush
    /// (`spool::VIEW_FLUSH`) are one event with their count.
    pub count: u32,
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Event {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(FORMAT);
        out.push(match self.kind {
            Kind::Click => 1,
            Kind::View => 2,
        });
        out.push(u8::from(self.head) | u8::from(self.link.is_some()) << 1);
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(self.profile.as_bytes());
        if let Some(l) = self.link {
            out.extend_from_slice(l.as_bytes());
        }
        out.extend_from_slice(&self.at_ms.to_le_bytes());
        out.extend_from_slice(&self.visitor.to_le_bytes());
        let country = self.country.as_bytes();
        out.extend_from_slice(if country.len() == 2 { country } else { b"\0\0" });
        for (s, max) in [(&self.region, REGION_MAX), (&self.referrer, REFERRER_MAX)] {
            let s = cut(s, max);
            out.push(s.len() as u8);
            out.extend_from_slice(s.as_bytes());
        }
        let ua = cut(&self.user_agent, USER_AGENT_MAX);
        out.extend_from_slice(&(ua.len() as u16).to_le_bytes());
        out.extend_from_slice(ua.as_bytes());
    }

    /// One event from the front of `b`, and what follows it.
    pub fn decode(b: &[u8]) -> Result<(Self, &[u8]), String> {
        let mut r = Reader(b);
        let format = r.u8()?;
        if format != 1 && format != FORMAT {
            return Err("unknown event format".into());
        }
        let kind = match r.u8()? {
            1 => Kind::Click,
            2 => Kind::View,
            k => return Err(format!("unknown kind {k}")),
        };
        let flags = r.u8()?;
        if flags & !3 != 0 {
            return Err("unknown flags".into());
        }
        let count = if format == 1 {
            1
        } else {
            u32::from_le_bytes(r.take(4)?.try_into().map_err(|_| "count")?)
        };
        if count == 0 || (kind == Kind::Click && count != 1) {
            return Err("a click is one event; a view counts at least one".into());
        }
        let id = r.uuid()?;
        let profile = r.uuid()?;
        let link = if flags & 2 != 0 {
            Some(r.uuid()?)
        } else {
            None
        };
        if (kind == Kind::Click) != link.is_some() {
            return Err("a click names a link, a view does not".into());
        }
        let at_ms = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| "time")?);
        let visitor = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| "visitor")?);
        let c = r.take(2)?;
        let country = if c == b"\0\0" {
            String::new()
        } else if c.iter().all(u8::is_ascii_uppercase) {
            String::from_utf8_lossy(c).into_owned()
        } else {
            return Err("bad country".into());
        };
        let region_len = usize::from(r.u8()?);
        let region = r.text(region_len)?;
        let referrer_len = usize::from(r.u8()?);
        let referrer = r.text(referrer_len)?;
        let ua_len = u16::from_le_bytes(r.take(2)?.try_into().map_err(|_| "ua length")?) as usize;
        if ua_len > USER_AGENT_MAX {
            return Err("user agent too long".into());
        }
        let user_agent = r.utf8(ua_len)?;
        Ok((
            Self {
                id,
                kind,
                profile,
                link,
                at_ms,
                visitor,
                country,
                region,
                referrer,
                user_agent,
                head: flags & 1 != 0,
                count,
            },
            r.0,
        ))
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated event".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn uuid(&mut self) -> Result<Uuid, String> {
        Uuid::from_slice(self.take(16)?).map_err(|e| e.to_string())
    }
    fn utf8(&mut self, n: usize) -> Result<String, String> {
        std::str::from_utf8(self.take(n)?)
            .map(str::to_owned)
            .map_err(|_| "text is not UTF-8".to_string())
    }
    fn text(&mut self, n: usize) -> Result<String, String> {
        self.utf8(n)
    }
}

/// Events back to back, as a frame holds them.
pub fn encode_all(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::with_capacity(events.len() * 96);
    events.iter().for_each(|e| e.encode(&mut out));
    out
}

pub fn decode_all(mut b: &[u8]) -> Result<Vec<Event>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (e, rest) = Event::decode(b)?;
        out.push(e);
        b = rest;
    }
    Ok(out)
}

/// The host of a `Referer` value, lowercased, or empty when there is none to keep (no host,
/// or one that is not a host name or address).
pub fn referrer_host(raw: &[u8]) -> String {
    let Ok(s) = std::str::from_utf8(raw) else {
        return String::new();
    };
    let Some((_, rest)) = s.split_once("://") else {
        return String::new();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ok = !host.is_empty()
        && host.len() <= REFERRER_MAX
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    if ok { host } else { String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: Kind) -> Event {
        Event {
            id: Uuid::now_v7(),
            kind,
            profile: Uuid::now_v7(),
            link: (kind == Kind::Click).then(Uuid::now_v7),
            at_ms: 1_795_600_000_123,
            visitor: 0xdead_beef,
            country: "NL".into(),
            region: "NH".into(),
            referrer: "news.example".into(),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".into(),
            head: kind == Kind::Click,
            count: if kind == Kind::View { 7 } else { 1 },
        }
    }

    #[test]
    fn events_round_trip_back_to_back() {
        let es = vec![event(Kind::Click), event(Kind::View), event(Kind::Click)];
        assert_eq!(decode_all(&encode_all(&es)).unwrap(), es);
    }

    #[test]
    fn format_1_events_still_decode_as_one_each() {
        let e = event(Kind::View);
        let mut v2 = Vec::new();
        e.encode(&mut v2);
        // format 1: no count after the flags
        let mut v1 = vec![1];
        v1.extend_from_slice(&v2[1..3]);
        v1.extend_from_slice(&v2[7..]);
        let back = decode_all(&v1).unwrap();
        assert_eq!(back[0].count, 1);
        assert_eq!(back[0].user_agent, e.user_agent);
    }

    #[test]
    fn long_fields_are_cut_at_character_boundaries() {
        let mut e = event(Kind::View);
        e.user_agent = "é".repeat(1000);
        e.referrer = "a".repeat(999);
        let back = decode_all(&encode_all(std::slice::from_ref(&e))).unwrap();
        assert!(back[0].user_agent.len() <= USER_AGENT_MAX);
        assert!(back[0].user_agent.chars().all(|c| c == 'é'));
        assert_eq!(back[0].referrer.len(), REFERRER_MAX);
    }

    #[test]
    fn garbage_is_refused_never_a_panic() {
        let good = encode_all(&[event(Kind::Click)]);
        for cut in 0..good.len() {
            assert!(decode_all(&good[..cut]).is_err() || cut == 0, "{cut}");
        }
        let mut bad = good.clone();
        bad[1] = 9;
        assert!(decode_all(&bad).is_err());
        let mut bad = good.clone();
        bad[2] = 0; // a click without a link
        assert!(decode_all(&bad).is_err());
        let mut bad = good.clone();
        bad[3] = 2; // a click standing for two
        assert!(decode_all(&bad).is_err());
        for noise in [vec![0xffu8; 300], vec![1, 1, 2], vec![]] {
            let _ = decode_all(&noise);
        }
    }

    #[test]
    fn referrers_keep_their_host_only() {
        for (raw, host) in [
            ("https://News.Example.com/a/b?c=d#e", "news.example.com"),
            ("http://user:pw@site.example:8080/x", "site.example"),
            ("https://[2001:db8::1]:443/p", "2001:db8::1"),
            (
                "android-app://com.google.android.gm/",
                "com.google.android.gm",
            ),
            ("https://example.com./", "example.com"),
            ("not a url", ""),
            ("https://<script>/", ""),
            ("https:///path", ""),
            ("", ""),
        ] {
            assert_eq!(referrer_host(raw.as_bytes()), host, "{raw}");
        }
        assert_eq!(referrer_host(&[0xff, 0xfe]), "");
        let long = format!("https://{}.example/", "a".repeat(300));
        assert_eq!(referrer_host(long.as_bytes()), "");
    }
}
