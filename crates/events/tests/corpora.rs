//! The classifier measured on corpora the vendored pattern lists were not written from
//! (`tests/corpora/README.md`): robots are not counted as people, real browsers (in-app ones
//! included) are, and preview fetchers stay link previews.

use linkleaf_domain::analytics::BotClass;
use linkleaf_events::classify::Classifier;

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

#[test]
fn at_least_99_percent_of_a_public_crawler_corpus_is_not_counted_as_people() {
    let mut c = Classifier::default();
    let corpus: Vec<&str> = lines(include_str!("corpora/crawlers.txt")).collect();
    assert!(corpus.len() > 2_000, "the corpus is {} lines", corpus.len());
    let people: Vec<&str> = corpus
        .iter()
        .copied()
        .filter(|ua| c.classify(ua, false).bot == BotClass::Human)
        .collect();
    let flagged = 1.0 - people.len() as f64 / corpus.len() as f64;
    eprintln!(
        "crawlers: {} of {} flagged ({:.2} %)",
        corpus.len() - people.len(),
        corpus.len(),
        flagged * 100.0
    );
    assert!(
        flagged >= 0.99,
        "only {:.2} % flagged; called people: {people:#?}",
        flagged * 100.0
    );
}

#[test]
fn no_real_browser_is_flagged() {
    let mut c = Classifier::default();
    let corpus: Vec<&str> = lines(include_str!("corpora/browsers.txt")).collect();
    assert!(corpus.len() > 900, "the corpus is {} lines", corpus.len());
    let flagged: Vec<(&str, &str)> = corpus
        .iter()
        .map(|ua| (*ua, c.classify(ua, false).bot))
        .filter(|(_, b)| *b != BotClass::Human)
        .map(|(ua, b)| (ua, b.as_str()))
        .collect();
    assert!(flagged.is_empty(), "{flagged:#?}");
}

#[test]
fn in_app_browsers_are_people_and_their_preview_fetchers_are_not() {
    let mut c = Classifier::default();
    let mut wrong = Vec::new();
    let mut seen = 0;
    for line in lines(include_str!("corpora/ours.tsv")) {
        let (want, ua) = line.split_once('\t').expect("class<TAB>user agent");
        let got = c.classify(ua, false).bot;
        let ok = match want {
            "not_human" => got != BotClass::Human,
            w => got.as_str() == w,
        };
        if !ok {
            wrong.push(format!("{want} but {}: {ua}", got.as_str()));
        }
        seen += 1;
    }
    assert!(seen > 50, "{seen} lines");
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn every_vendored_pattern_is_in_use() {
    let (used, broken) = linkleaf_events::classify::robot_patterns();
    assert!(used > 150, "{used} patterns in use");
    assert!(
        broken.is_empty(),
        "patterns that do not compile: {broken:#?}"
    );
}
