//! Who made a request, from its user agent: a bot class (human, crawler, link preview, monitor,
//! unknown) and a device class. Bots are classified and kept, never dropped; reports count
//! people by default and show bots beside them.
//!
//! The order of the rules:
//! 1. a `HEAD` request is no person's click: `monitor`;
//! 2. no user agent at all: `unknown`;
//! 3. the in-app browsers of social and chat apps (Instagram, TikTok, Snapchat, Facebook,
//!    Messenger, Threads, X, LinkedIn, Pinterest, Tumblr, Teams, Line, WeChat...): a browser's
//!    user agent with the app's name added, and no robot's word in it (`IN_APP`). For a
//!    link-in-bio page they are most of the people, so they are `human`, although they name
//!    the same apps as the apps' preview fetchers;
//! 4. the link-preview fetchers of chat and social apps, then uptime monitors, by name
//!    (`PREVIEWS`, `MONITORS`: what the pattern lists lump together as robots, told apart because
//!    a profile owner wants to know that a link was shared in Slack, not crawled), then tools
//!    that write a browser's user agent with their name added (`TOOLS`: screenshot renderers,
//!    translation proxies...);
//! 5. uap-core's patterns (vendored, see `assets/uap-core`): a device family of `Spider` is a
//!    `crawler`, and so is a headless browser (automation); a user agent that names no browser,
//!    or no operating system (scripts and HTTP libraries: curl, python-requests...), is
//!    `unknown`;
//! 6. isbot's patterns (vendored, see `assets/isbot`): what names a browser and a system but
//!    matches one is a `crawler` (Bytespider, Chrome-Lighthouse, AI crawlers...);
//! 7. the rest are browsers: `human`.
//!
//! `tests/corpora.rs` measures the rules on corpora the vendored lists were not written from.
//! Classifying takes some microseconds, so each distinct user agent is classified once
//! (a bounded memo).

use linkleaf_domain::analytics::{BotClass, DeviceClass};
use std::sync::LazyLock;

/// Link-preview fetchers, by a lowercase part of their user agent.
pub const PREVIEWS: &[&str] = &[
    "slackbot",
    "slack-imgproxy",
    "twitterbot",
    "facebookexternalhit",
    "facebookcatalog",
    "meta-externalagent",
    "linkedinbot",
    "discordbot",
    "telegrambot",
    "whatsapp",
    "skypeuripreview",
    "pinterestbot",
    "redditbot",
    "embedly",
    "iframely",
    "vkshare",
    "snapchat",
    "viber",
    "mastodon",
    "bluesky",
    "cardyb",
    "applenewsbot",
    "google-pagerenderer",
    "bitlybot",
    "tumblr",
    "nuzzel",
    "qwantify",
    "yahoo link preview",
    "outlook",
    "microsoftpreview",
    "teams",
    "snap url preview",
    "skype-url-preview",
    "google web preview",
    "flipboardproxy",
];

/// Uptime and synthetic monitors.
pub const MONITORS: &[&str] = &[
    "uptimerobot",
    "pingdom",
    "statuscake",
    "site24x7",
    "betteruptime",
    "better uptime",
    "uptime-kuma",
    "uptime kuma",
    "datadog",
    "newrelicpinger",
    "checkly",
    "freshping",
    "hetrixtools",
    "nodeping",
    "monitis",
    "montastic",
    "upptime",
    "cloudflare-healthchecks",
    "elb-healthchecker",
    "googlehc",
    "kube-probe",
    "prtg",
    "newrelicsynthetics",
    "thousandeyes",
    "debugbear",
];

/// Robots that send a browser's whole user agent with their own name added, which neither
/// vendored list knows: screenshot and PDF renderers, translation proxies, performance and SEO
/// tools, an AI assistant's fetcher. Found on one half of Crawler-Detect's corpus (the lines
/// whose CRC-32 is even); the other half measures the rules (`tests/corpora.rs`).
pub const TOOLS: &[&str] = &[
    "screenshot",
    "wkhtmlto",
    "websnapr",
    "webscreenie",
    "imgsizer",
    "yandex.translate",
    "claude-web",
    "nodemeter",
    "heimdall",
    "fetch api request",
    "mappercmd",
    "seolizer",
];

/// The names in-app browsers add to their browser's user agent, lowercase.
pub const IN_APP: &[&str] = &[
    "instagram",
    "fban/",
    "fb_iab/",
    "fbav/",
    "musical_ly",
    "trill_",
    "bytedancewebview",
    "snapchat/",
    "barcelona",
    "twitterandroid",
    "twitter for iphone",
    "[linkedinapp]",
    "[pinterest/",
    "pinterest for",
    "tumblr/",
    "teams/",
    "teamsmobile",
    " line/",
    "micromessenger/",
    "kakaotalk",
    "gsa/",
    "reddit/",
    "discord/",
    "whatsapp/",
    "telegram",
];

/// Words only robots put in a user agent.
const ROBOT_WORDS: &[&str] = &[
    "preview",
    "crawl",
    "spider",
    "externalhit",
    "headless",
    "lighthouse",
    "http://",
    "https://",
    "@",
];

/// An in-app browser: a browser's user agent (`Mozilla/5.0 (` and a phone's, a tablet's or a
/// computer's system) with an app's name, and no robot's word.
fn in_app(lower: &str) -> bool {
    lower.starts_with("mozilla/5.0 (")
        && ["iphone", "ipad", "android", "windows nt", "macintosh"]
            .iter()
            .any(|p| lower.contains(p))
        && IN_APP.iter().any(|a| lower.contains(a))
        && !ROBOT_WORDS.iter().any(|w| lower.contains(w))
        && !names_a_bot(lower)
}

/// "bot" as a word part (Googlebot, bot;), not in a phone's name (Cubot).
fn names_a_bot(lower: &str) -> bool {
    lower
        .match_indices("bot")
        .any(|(i, _)| !lower[..i].ends_with("cu"))
}

static ISBOT: &str = include_str!("../assets/isbot/patterns.json");

/// isbot's patterns: those a finite automaton runs, in one set, and the few that look around
/// (`(?<!cam)scan`), one by one with a backtracking engine. Case is ignored, as isbot does.
struct RobotPatterns {
    set: regex::RegexSet,
    around: Vec<fancy_regex::Regex>,
    /// Patterns neither engine takes (none in the vendored version: a test says so).
    broken: Vec<String>,
}

/// A JavaScript pattern in Rust's syntax: in a class, a `-` after a class escape (`[\w-.]`) is
/// a literal there and an error here.
fn from_js(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 4);
    let (mut in_class, mut escaped, mut after_class_escape) = (false, false, false);
    for c in p.chars() {
        if escaped {
            escaped = false;
            after_class_escape = in_class && "wWdDsS".contains(c);
            out.push(c);
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' => in_class = true,
            ']' => in_class = false,
            '-' if in_class && after_class_escape => {
                out.push_str("\\-");
                after_class_escape = false;
                continue;
            }
            _ => {}
        }
        after_class_escape = false;
        out.push(c);
    }
    out
}

static ROBOTS: LazyLock<Option<RobotPatterns>> = LazyLock::new(|| {
    #[derive(serde::Deserialize)]
    struct List {
        patterns: Vec<String>,
    }
    let list: List = match serde_json::from_str(ISBOT) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "the isbot patterns do not load");
            return None;
        }
    };
    let (mut plain, mut around, mut broken) = (Vec::new(), Vec::new(), Vec::new());
    for p in list.patterns.iter().map(|p| from_js(p)) {
        let with_case = format!("(?i){p}");
        if regex::Regex::new(&with_case).is_ok() {
            plain.push(with_case);
        } else if let Ok(r) = fancy_regex::Regex::new(&with_case) {
            around.push(r);
        } else {
            tracing::warn!(pattern = %p, "an isbot pattern does not compile and is skipped");
            broken.push(p);
        }
    }
    match regex::RegexSet::new(&plain) {
        Ok(set) => Some(RobotPatterns {
            set,
            around,
            broken,
        }),
        Err(e) => {
            tracing::error!(error = %e, "the isbot patterns do not compile");
            None
        }
    }
});

/// How many of the vendored isbot patterns are in use, and those that are not.
pub fn robot_patterns() -> (usize, Vec<String>) {
    ROBOTS.as_ref().map_or((0, Vec::new()), |r| {
        (r.set.len() + r.around.len(), r.broken.clone())
    })
}

fn isbot(ua: &str) -> bool {
    ROBOTS.as_ref().is_some_and(|r| {
        r.set.is_match(ua) || r.around.iter().any(|x| x.is_match(ua).unwrap_or(false))
    })
}

static UAP: &str = include_str!("../assets/uap-core/regexes.json");

static EXTRACTOR: LazyLock<Option<ua_parser::Extractor<'static>>> = LazyLock::new(|| {
    let regexes: ua_parser::Regexes<'static> = match serde_json::from_str(UAP) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the uap-core patterns do not load: every agent is unknown");
            return None;
        }
    };
    match ua_parser::Extractor::try_from(regexes) {
        Ok(x) => Some(x),
        Err(e) => {
            tracing::error!(error = %e, "the uap-core patterns do not compile");
            None
        }
    }
});

/// What a user agent says about its sender: its bot class, its device class, and (for
/// browsers) the browser family and the operating system as uap-core names them ("Chrome
/// Mobile", "iOS"); `Other` when it names none. Shared strings: a class is copied per event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub bot: BotClass,
    pub device: DeviceClass,
    pub browser: std::sync::Arc<str>,
    pub os: std::sync::Arc<str>,
}

impl Class {
    /// A class with no browser or system named.
    fn of(bot: BotClass, device: DeviceClass) -> Self {
        static OTHER: LazyLock<std::sync::Arc<str>> = LazyLock::new(|| "Other".into());
        Self {
            bot,
            device,
            browser: OTHER.clone(),
            os: OTHER.clone(),
        }
    }
}

const DESKTOP_OS: &[&str] = &[
    "Windows",
    "Mac OS X",
    "Linux",
    "Ubuntu",
    "Chrome OS",
    "Fedora",
    "Debian",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
    "Red Hat",
    "SUSE",
    "Mint",
    "macOS",
];

fn classify_uncached(ua: &str) -> Class {
    let lower = ua.to_ascii_lowercase();
    if in_app(&lower) {
        return person(ua, &lower);
    }
    if PREVIEWS.iter().any(|p| lower.contains(p)) {
        return Class::of(BotClass::LinkPreview, DeviceClass::Bot);
    }
    if MONITORS.iter().any(|p| lower.contains(p)) {
        return Class::of(BotClass::Monitor, DeviceClass::Bot);
    }
    if TOOLS.iter().any(|p| lower.contains(p)) {
        return Class::of(BotClass::Crawler, DeviceClass::Bot);
    }
    let Some(x) = EXTRACTOR.as_ref() else {
        return Class::of(BotClass::Unknown, DeviceClass::Other);
    };
    let (browser, os, device) = x.extract(ua);
    let device_family = device.as_ref().map_or("Other", |d| d.device.as_ref());
    if device_family == "Spider" {
        return Class::of(BotClass::Crawler, DeviceClass::Bot);
    }
    let browser = browser.as_ref().map_or("Other", |b| b.family.as_ref());
    if browser.contains("Headless") || lower.contains("headless") {
        // automation (a scraper or a test runner), not a person
        return Class::of(BotClass::Crawler, DeviceClass::Bot);
    }
    let os = os.as_ref().map_or("Other", |o| o.os.as_ref());
    // A browser says which system it runs on; scripts and HTTP libraries (curl, python-requests,
    // Go's client...) have a family of their own in uap-core but no system.
    if browser == "Other" || os == "Other" {
        return Class::of(BotClass::Unknown, DeviceClass::Other);
    }
    if isbot(ua) {
        return Class::of(BotClass::Crawler, DeviceClass::Bot);
    }
    Class {
        bot: BotClass::Human,
        device: device_class(device_family, os, &lower),
        browser: browser.into(),
        os: os.into(),
    }
}

/// A person, whatever the pattern lists say (an in-app browser): the device, browser and system
/// as uap-core reads them.
fn person(ua: &str, lower: &str) -> Class {
    let (browser, os, device) = EXTRACTOR
        .as_ref()
        .map_or((None, None, None), |x| x.extract(ua));
    let device_family = device.as_ref().map_or("Other", |d| d.device.as_ref());
    let browser = browser.as_ref().map_or("Other", |b| b.family.as_ref());
    let os = os.as_ref().map_or("Other", |o| o.os.as_ref());
    Class {
        bot: BotClass::Human,
        device: device_class(device_family, os, lower),
        browser: browser.into(),
        os: os.into(),
    }
}

fn device_class(device_family: &str, os: &str, lower: &str) -> DeviceClass {
    if device_family.contains("iPad")
        || device_family.contains("Tablet")
        || device_family.contains("Kindle")
        || (os == "Android" && !lower.contains("mobile"))
    {
        DeviceClass::Tablet
    } else if matches!(os, "iOS" | "Android" | "Windows Phone" | "KaiOS")
        || lower.contains("mobile")
        || lower.contains("iphone")
    {
        DeviceClass::Mobile
    } else if DESKTOP_OS.iter().any(|d| os.starts_with(d)) {
        DeviceClass::Desktop
    } else {
        DeviceClass::Other
    }
}

/// Classifies user agents, remembering up to `MEMO` of them.
#[derive(Default)]
pub struct Classifier {
    memo: linkleaf_domain::analytics::Map<String, Class>,
}

const MEMO: usize = 10_000;

impl Classifier {
    pub fn classify(&mut self, ua: &str, head: bool) -> Class {
        if head {
            return Class::of(BotClass::Monitor, DeviceClass::Bot);
        }
        if ua.trim().is_empty() {
            return Class::of(BotClass::Unknown, DeviceClass::Other);
        }
        if let Some(c) = self.memo.get(ua) {
            return c.clone();
        }
        let c = classify_uncached(ua);
        if self.memo.len() >= MEMO {
            self.memo.clear();
        }
        self.memo.insert(ua.to_owned(), c.clone());
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_crawlers_previews_monitors_and_the_rest() {
        let mut c = Classifier::default();
        let cases: &[(&str, BotClass, DeviceClass)] = &[
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                BotClass::Human,
                DeviceClass::Desktop,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                BotClass::Human,
                DeviceClass::Desktop,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                BotClass::Human,
                DeviceClass::Mobile,
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                BotClass::Human,
                DeviceClass::Mobile,
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                BotClass::Human,
                DeviceClass::Tablet,
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
                BotClass::Human,
                DeviceClass::Desktop,
            ),
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                BotClass::Crawler,
                DeviceClass::Bot,
            ),
            (
                "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
                BotClass::Crawler,
                DeviceClass::Bot,
            ),
            (
                "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
                BotClass::LinkPreview,
                DeviceClass::Bot,
            ),
            ("Twitterbot/1.0", BotClass::LinkPreview, DeviceClass::Bot),
            (
                "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
                BotClass::LinkPreview,
                DeviceClass::Bot,
            ),
            (
                "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
                BotClass::LinkPreview,
                DeviceClass::Bot,
            ),
            (
                "WhatsApp/2.23.20.0",
                BotClass::LinkPreview,
                DeviceClass::Bot,
            ),
            (
                "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
                BotClass::Monitor,
                DeviceClass::Bot,
            ),
            (
                "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
                BotClass::Monitor,
                DeviceClass::Bot,
            ),
            ("curl/8.5.0", BotClass::Unknown, DeviceClass::Other),
            (
                "python-requests/2.32.3",
                BotClass::Unknown,
                DeviceClass::Other,
            ),
            ("Go-http-client/1.1", BotClass::Unknown, DeviceClass::Other),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
                BotClass::Crawler,
                DeviceClass::Bot,
            ),
        ];
        for (ua, bot, device) in cases {
            let got = c.classify(ua, false);
            assert_eq!((got.bot, got.device), (*bot, *device), "{ua}");
        }
        assert_eq!(c.classify("", false).bot, BotClass::Unknown);
        assert_eq!(
            c.classify(cases[0].0, true).bot,
            BotClass::Monitor,
            "a HEAD is no click"
        );
        // garbage never panics
        for junk in ["\u{0}\u{ffff}", &"(".repeat(5000), "Mozilla/5.0 (((("] {
            c.classify(junk, false);
        }
    }
}
