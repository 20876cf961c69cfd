//! The pages' stylesheet: one file of the binary's, at a URL that names its digest
//! (`/static/page.{digest}.css`), so it is cached for a year and never revalidated, and held
//! with its brotli and gzip forms. It carries every rule of every page and every preset ×
//! button style as classes (`t-sunset b-pill`), made from the presets' palettes, so a page's
//! only inline style is a chosen accent colour (`body.a{--accent:#rrggbb}`), allowed by its
//! hash in the page's own content security policy: no page needs `'unsafe-inline'`.

use crate::variant::Variant;
use axum::http::HeaderValue;
use bytes::Bytes;
use linkleaf_domain::{ButtonStyle, Theme, ThemePreset};
use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::sync::LazyLock;

/// The rules every theme shares: the page, the message pages and the index.
const BASE: &str = "\
*{box-sizing:border-box}\
html{-webkit-text-size-adjust:100%}\
body{margin:0;min-height:100vh;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif}\
main{max-width:36rem;margin:0 auto;padding:3rem 1rem 2rem;text-align:center}\
.avatar{width:96px;height:96px;border-radius:50%;object-fit:cover;border:3px solid var(--accent)}\
h1{font-size:1.4rem;margin:.75rem 0 0}\
.handle{margin:0;color:var(--muted)}\
.bio{margin:.75rem auto 0;max-width:30rem;white-space:pre-line;overflow-wrap:anywhere}\
ul{list-style:none;margin:2rem 0 0;padding:0;display:grid;gap:.85rem}\
.link{display:block;padding:1rem 1.25rem;min-height:3rem;border-radius:var(--radius);background:var(--btn);color:var(--btn-fg);text-decoration:none;font-weight:600;border:2px solid var(--accent);overflow-wrap:anywhere;transition:transform .15s}\
.b-outline .link{background:transparent;color:var(--fg)}\
.link:hover{transform:scale(1.02)}\
a:focus-visible{outline:3px solid var(--accent);outline-offset:3px}\
.empty{color:var(--muted);margin-top:2rem}\
footer{text-align:center;padding:1rem 0 2rem;font-size:.85rem}\
footer a{color:var(--muted)}\
.message{display:grid;place-items:center}\
.message main{max-width:30rem;padding:2rem}\
.message h1{font-size:1.5rem}\
.message a{color:var(--fg)}\
code{background:var(--btn);padding:.1rem .3rem;border-radius:4px}\
.form-page main{max-width:30rem;text-align:left}\
.form-page h1{font-size:1.6rem;margin:0 0 1rem}\
.form-page h2{font-size:1.2rem;margin:2rem 0 .5rem}\
label{display:block;font-weight:600;margin-bottom:.25rem}\
input{width:100%;font:inherit;padding:.6rem .75rem;border:2px solid var(--muted);border-radius:8px;background:var(--bg);color:var(--fg)}\
button{font:inherit;font-weight:600;padding:.6rem 1.25rem;min-height:44px;border:2px solid var(--fg);border-radius:8px;background:var(--fg);color:var(--bg);cursor:pointer}\
td button{padding:.3rem .9rem;min-height:36px;background:transparent;color:var(--fg)}\
input:focus-visible,button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}\
.error{border-left:4px solid #b42318;padding:.5rem .75rem;background:#fef3f2;color:#7a271a}\
.notice{border-left:4px solid #067647;padding:.5rem .75rem;background:#ecfdf3;color:#054f31}\
.hint{display:block;color:var(--muted);font-size:.9rem;margin-top:.25rem}\
.token{overflow-wrap:anywhere}\
select{width:100%;font:inherit;padding:.6rem .75rem;border:2px solid var(--muted);border-radius:8px;background:var(--bg);color:var(--fg)}\
select:focus-visible,input[type=checkbox]:focus-visible{outline:3px solid var(--accent);outline-offset:2px}\
fieldset{border:2px solid var(--muted);border-radius:8px;margin:0 0 1rem;padding:.5rem .75rem}\
legend{font-weight:600;padding:0 .25rem}\
.check{display:flex;align-items:center;gap:.6rem;margin:.4rem 0}\
.check input{width:1.4rem;height:1.4rem;margin:0}\
.check label{display:inline;font-weight:400;margin:0}\
li form{display:inline}\
li form button{padding:.2rem .8rem;min-height:36px;margin-left:.5rem;background:transparent;color:var(--fg)}\
table{width:100%;border-collapse:collapse}\
caption{text-align:left;color:var(--muted);padding-bottom:.5rem}\
th,td{text-align:left;padding:.5rem .25rem;border-bottom:1px solid var(--muted);vertical-align:middle}\
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}\
@media (prefers-reduced-motion:reduce){.link{transition:none}.link:hover{transform:none}}\
";

/// The stylesheet, its URL path and its forms.
pub struct Stylesheet {
    /// `/static/page.{digest}.css`
    pub path: String,
    pub file: Variant,
}

static SHEET: LazyLock<Stylesheet> = LazyLock::new(|| {
    let mut css = String::with_capacity(4096);
    css.push_str(BASE);
    for preset in ThemePreset::ALL {
        let [bg, fg, btn, btn_fg, muted] = preset.palette();
        let _ = write!(
            css,
            ".t-{}{{--bg:{bg};--fg:{fg};--btn:{btn};--btn-fg:{btn_fg};--muted:{muted};--accent:{fg}}}",
            preset.as_str()
        );
    }
    for style in ButtonStyle::ALL {
        let _ = write!(
            css,
            ".b-{}{{--radius:{}}}",
            button_class(style),
            radius(style)
        );
    }
    let digest = Sha256::digest(css.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Stylesheet {
        path: format!("/static/page.{hex}.css"),
        file: Variant::new(Bytes::from(css)),
    }
});

/// The stylesheet (made on first use: a few kilobytes, compressed once).
pub fn stylesheet() -> &'static Stylesheet {
    &SHEET
}

fn radius(style: ButtonStyle) -> &'static str {
    match style {
        ButtonStyle::Rounded | ButtonStyle::Outline => "12px",
        ButtonStyle::Pill => "999px",
        ButtonStyle::Square => "0",
    }
}

pub fn button_class(style: ButtonStyle) -> &'static str {
    match style {
        ButtonStyle::Rounded => "rounded",
        ButtonStyle::Pill => "pill",
        ButtonStyle::Square => "square",
        ButtonStyle::Outline => "outline",
    }
}

/// A page's classes and its inline style: `("t-sunset b-pill", None)`, or with a chosen accent
/// `("t-sunset b-pill a", Some("body.a{--accent:#7a2e12}"))`.
pub fn theme_classes(theme: &Theme) -> (String, Option<String>) {
    let classes = format!(
        "t-{} b-{}",
        theme.preset.as_str(),
        button_class(theme.button_style)
    );
    let accent = theme.accent();
    if accent == theme.preset.palette()[1] {
        (classes, None)
    } else {
        (classes + " a", Some(format!("body.a{{--accent:{accent}}}")))
    }
}

/// The pages' content security policy without an inline style: nothing but the stylesheet and
/// `https:` images (an `http:` avatar is asked for as `https:`).
pub const PAGE_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; style-src 'self'; img-src https:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'",
);

/// The policy of a page with an inline style: the stylesheet and that style, by its hash.
pub fn page_csp(inline: Option<&str>) -> HeaderValue {
    let Some(style) = inline else {
        return PAGE_CSP;
    };
    use base64::Engine;
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style.as_bytes()));
    HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'self' 'sha256-{hash}'; img-src https:; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    ))
    .unwrap_or(PAGE_CSP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_and_style_has_its_class_and_the_path_names_the_digest() {
        let s = stylesheet();
        let css = std::str::from_utf8(&s.file.body).unwrap();
        for p in ThemePreset::ALL {
            assert!(css.contains(&format!(".t-{}{{", p.as_str())), "{p:?}");
        }
        for b in ButtonStyle::ALL {
            assert!(css.contains(&format!(".b-{}{{", button_class(b))), "{b:?}");
        }
        assert!(s.path.starts_with("/static/page.") && s.path.ends_with(".css"));
        assert!(s.file.br.is_some() && s.file.gzip.is_some());
    }

    #[test]
    fn only_a_chosen_accent_is_inline_and_its_hash_is_in_the_policy() {
        let plain: Theme = serde_json::from_str(r#"{"preset":"ocean"}"#).unwrap();
        assert_eq!(theme_classes(&plain), ("t-ocean b-rounded".into(), None));
        assert_eq!(page_csp(None), PAGE_CSP);
        let chosen: Theme = serde_json::from_str(
            r##"{"preset":"dark","accentColor":"#ffaa00","buttonStyle":"pill"}"##,
        )
        .unwrap();
        let (classes, style) = theme_classes(&chosen);
        assert_eq!(classes, "t-dark b-pill a");
        let style = style.unwrap();
        assert_eq!(style, "body.a{--accent:#ffaa00}");
        let csp = page_csp(Some(&style));
        let csp = csp.to_str().unwrap();
        assert!(csp.contains("style-src 'self' 'sha256-"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }
}
