//! A write made with a session cookie must come from the site's own pages (OWASP ASVS 5.0
//! V3.5.3): its `Origin` is the site's origin (`server.public_url`'s), or, without an `Origin`,
//! its `Sec-Fetch-Site` is `same-origin`; with neither it is refused. A write with an API key
//! (a bearer token no browser sends by itself) is not asked.
//! Must not: trust `Referer`, or refuse a write that carries no cookie (keys are not asked).

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It came from another site (its `Origin`, or `Sec-Fetch-Site`).
    CrossSite(String),
    /// It says nothing of where it came from.
    Unknown,
}

impl Refusal {
    pub fn detail(&self) -> String {
        match self {
            Self::CrossSite(from) => {
                format!("a write with a session must come from this site's pages, not from {from}")
            }
            Self::Unknown => "a write with a session must say where it comes from (Origin or \
                              Sec-Fetch-Site): send it from this site's pages"
                .to_owned(),
        }
    }
}

/// The origin (`scheme://host[:port]`) of a URL such as `server.public_url`.
pub fn origin_of(url: &str) -> String {
    let url = url.trim_end_matches('/');
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split('/').next().unwrap_or(rest);
            format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            )
        }
        None => url.to_ascii_lowercase(),
    }
}

/// Whether a cookie-authenticated write with these headers may go on, for a site at
/// `site_origin` (from `origin_of`).
pub fn check_write(
    origin: Option<&str>,
    sec_fetch_site: Option<&str>,
    site_origin: &str,
) -> Result<(), Refusal> {
    match (origin, sec_fetch_site) {
        (Some(o), _) if o.eq_ignore_ascii_case(site_origin) => Ok(()),
        (Some(o), _) => Err(Refusal::CrossSite(o.to_owned())),
        (None, Some(s)) if s.eq_ignore_ascii_case("same-origin") => Ok(()),
        (None, Some(s)) => Err(Refusal::CrossSite(format!("Sec-Fetch-Site: {s}"))),
        (None, None) => Err(Refusal::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sites_own_pages_may_write() {
        let site = origin_of("https://Links.Example.com/");
        assert_eq!(site, "https://links.example.com");
        assert!(check_write(Some("https://links.example.com"), None, &site).is_ok());
        assert!(check_write(None, Some("same-origin"), &site).is_ok());
        assert!(matches!(
            check_write(Some("https://evil.example"), Some("same-origin"), &site),
            Err(Refusal::CrossSite(_))
        ));
        assert!(matches!(
            check_write(Some("http://links.example.com"), None, &site),
            Err(Refusal::CrossSite(_))
        ));
        assert!(check_write(None, Some("cross-site"), &site).is_err());
        assert!(check_write(None, Some("same-site"), &site).is_err());
        assert_eq!(check_write(None, None, &site), Err(Refusal::Unknown));
        assert_eq!(origin_of("http://localhost:3000"), "http://localhost:3000");
    }
}
