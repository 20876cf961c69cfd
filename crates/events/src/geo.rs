//! Where a request came from, as a country (ISO 3166-1 alpha-2) and, when the database knows, a
//! region: from a header a trusted proxy sets (`clicks.geo_header`, such as Cloudflare's
//! `CF-IPCountry`), else from a MaxMind-format database file (`clicks.geoip_db`; GeoIP2 and
//! GeoLite2 files, and the db-ip.com files of `@ip-location-db/*-mmdb`, whose records are
//! `{country_code}`). The address itself goes no further than this lookup.
//! Must not: keep or pass on the address it looked up, or call a service over the network.

use http::HeaderValue;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::Path;

#[derive(Default)]
pub struct Geo {
    db: Option<maxminddb::Reader<Vec<u8>>>,
}

/// The fields read from a record, whichever layout the file has.
#[derive(Deserialize, Default)]
struct Record<'a> {
    /// db-ip / ip-location-db layout.
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    /// GeoIP2 layout.
    #[serde(borrow, default)]
    country: Option<Named<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<Named<'a>>>,
}

#[derive(Deserialize, Default)]
struct Named<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

fn country(code: &str) -> Option<String> {
    let ok = code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic());
    // XX: unknown, T1: Tor (Cloudflare's codes for "no country")
    let c = code.to_ascii_uppercase();
    (ok && c != "XX" && c != "T1").then_some(c)
}

impl Geo {
    /// Reads the database file, if one is configured.
    pub fn open(db: Option<&Path>) -> Result<Self, String> {
        let db = match db {
            Some(p) => Some(
                maxminddb::Reader::open_readfile(p)
                    .map_err(|e| format!("clicks.geoip_db {}: {e}", p.display()))?,
            ),
            None => None,
        };
        Ok(Self { db })
    }

    /// (country, region); empty when unknown.
    pub fn locate(&self, client: IpAddr, header: Option<&HeaderValue>) -> (String, String) {
        if let Some(c) = header
            .and_then(|h| h.to_str().ok())
            .and_then(|v| country(v.trim()))
        {
            return (c, String::new());
        }
        let Some(db) = &self.db else {
            return (String::new(), String::new());
        };
        let rec: Record<'_> = match db.lookup(client).and_then(|r| r.decode()) {
            Ok(Some(r)) => r,
            _ => return (String::new(), String::new()),
        };
        let c = rec
            .country_code
            .or_else(|| rec.country.as_ref().and_then(|c| c.iso_code))
            .and_then(country)
            .unwrap_or_default();
        let region = rec
            .subdivisions
            .as_ref()
            .and_then(|s| s.first())
            .and_then(|s| s.iso_code)
            .filter(|r| r.len() <= 8 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
            .unwrap_or_default()
            .to_owned();
        (c, region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trusted_header_is_read_and_checked() {
        let g = Geo::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let h = |v: &str| HeaderValue::from_str(v).unwrap();
        assert_eq!(g.locate(ip, Some(&h("nl"))).0, "NL");
        assert_eq!(g.locate(ip, Some(&h(" DE "))).0, "DE");
        for bad in ["XX", "T1", "NLD", "1A", "<script>", ""] {
            assert_eq!(g.locate(ip, Some(&h(bad))).0, "", "{bad}");
        }
        assert_eq!(g.locate(ip, None), (String::new(), String::new()));
    }

    #[test]
    fn a_missing_database_file_is_a_clear_error() {
        let e = Geo::open(Some(Path::new("/nonexistent/geo.mmdb")))
            .err()
            .unwrap();
        assert!(e.contains("clicks.geoip_db"), "{e}");
    }
}
