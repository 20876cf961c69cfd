//! Reading the merged configuration (defaults, file, environment) into typed values, key by
//! key, so that every bad key is reported at once: each getter takes a key's value, checks it
//! and returns it typed, or records why not and returns `None`. `finish` then names every key
//! that is not a configuration key (suggesting the section's keys) and every key that was
//! replaced (naming what replaced it). A value that may hold a secret is never quoted in a
//! message. Must not: know the keys (the configuration's module does).

use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::time::Duration;

/// What is wrong with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

/// Why the configuration cannot be used: the sources could not be read, or keys are bad (all
/// of them, each named).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {}", list(.0))]
    Invalid(Vec<Problem>),
}

fn list(problems: &[Problem]) -> String {
    match problems {
        [one] => format!("{}: {}", one.key, one.message),
        many => {
            let mut s = format!("{} keys are wrong:", many.len());
            for p in many {
                s.push_str(&format!("\n  {}: {}", p.key, p.message));
            }
            s
        }
    }
}

pub struct Reader {
    tree: Value,
    asked: BTreeSet<String>,
    problems: Vec<Problem>,
}

impl Reader {
    pub fn new(tree: Value) -> Self {
        Self {
            tree,
            asked: BTreeSet::new(),
            problems: Vec::new(),
        }
    }

    /// Records that `key` is wrong.
    pub fn fail(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.to_owned(),
            message: message.into(),
        });
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.asked.insert(key.to_owned());
        let mut v = &self.tree;
        for part in key.split('.') {
            match v.get(part) {
                Some(next) => v = next,
                None => {
                    self.fail(
                        key,
                        "missing (a section written as something else than a table?)",
                    );
                    return None;
                }
            }
        }
        Some(v.clone())
    }

    /// The value of `key` as `T` (a number, a boolean, a list, an enumeration).
    pub fn value<T: DeserializeOwned>(&mut self, key: &str, expected: &str) -> Option<T> {
        let v = self.take(key)?;
        match serde_json::from_value(v.clone()) {
            Ok(t) => Some(t),
            Err(_) => {
                self.fail(key, format!("{} is not {expected}", shown(&v)));
                None
            }
        }
    }

    /// The value of `key` as text (a number or a boolean is taken as written). Never quoted in
    /// a message: it may be a secret.
    pub fn text(&mut self, key: &str) -> Option<String> {
        match self.take(key)? {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                self.fail(key, "must be text");
                None
            }
        }
    }

    /// The text of `key`, made into a `T` by `parse` (whose error becomes the message).
    pub fn parsed<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let s = self.text(key)?;
        match parse(&s) {
            Ok(t) => Some(t),
            Err(e) => {
                self.fail(key, e);
                None
            }
        }
    }

    /// A number of `key` within `range`.
    pub fn number<T>(&mut self, key: &str, range: RangeInclusive<T>) -> Option<T>
    where
        T: DeserializeOwned + PartialOrd + Display + Copy,
    {
        let expected = format!("a whole number from {} to {}", range.start(), range.end());
        let n: T = self.value(key, &expected)?;
        if range.contains(&n) {
            Some(n)
        } else {
            self.fail(key, format!("{n} is not {expected}"));
            None
        }
    }

    /// A duration given in seconds (`*_secs`), within `range`.
    pub fn secs(&mut self, key: &str, range: RangeInclusive<u64>) -> Option<Duration> {
        self.number(key, range).map(Duration::from_secs)
    }

    /// A duration given in milliseconds (`*_ms`), within `range`.
    pub fn millis(&mut self, key: &str, range: RangeInclusive<u64>) -> Option<Duration> {
        self.number(key, range).map(Duration::from_millis)
    }

    /// A list of texts, each made into a `T` by `parse` (errors name the entry).
    pub fn list<T>(
        &mut self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Vec<T>> {
        let entries: Vec<String> = self.value(key, "a list of texts")?;
        let mut out = Vec::with_capacity(entries.len());
        let mut ok = true;
        for e in &entries {
            match parse(e.trim()) {
                Ok(t) => out.push(t),
                Err(why) => {
                    ok = false;
                    self.fail(key, format!("'{e}': {why}"));
                }
            }
        }
        ok.then_some(out)
    }

    /// Every problem found, with the keys nobody asked for: `replaced` names the keys that
    /// are no more, each with what replaced it.
    pub fn finish(mut self, replaced: &[(&str, &str)]) -> Result<(), ConfigError> {
        let mut leaves = Vec::new();
        walk(&self.tree, String::new(), &mut leaves);
        for key in leaves {
            if self.asked.contains(&key) {
                continue;
            }
            if let Some((_, instead)) = replaced.iter().find(|(old, _)| *old == key) {
                self.fail(&key, format!("is no more: use {instead}"));
                continue;
            }
            let section = key.split('.').next().unwrap_or_default().to_owned();
            let known: Vec<&str> = self
                .asked
                .iter()
                .filter(|k| k.split('.').next() == Some(section.as_str()))
                .map(String::as_str)
                .collect();
            let hint = if known.is_empty() {
                let sections: BTreeSet<&str> = self
                    .asked
                    .iter()
                    .filter_map(|k| k.split('.').next())
                    .collect();
                format!(
                    "the sections are {}",
                    sections.into_iter().collect::<Vec<_>>().join(", ")
                )
            } else {
                format!("the keys of [{section}] are {}", known.join(", "))
            };
            self.fail(&key, format!("not a configuration key ({hint})"));
        }
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(self.problems))
        }
    }
}

/// The paths of every value that is not a table.
fn walk(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(child, p, out);
            }
        }
        _ => out.push(path),
    }
}

/// A value as a message may show it (not for secrets: those are read with `text`).
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_problem_is_reported_and_unknown_keys_are_named() {
        let mut r = Reader::new(json!({
            "a": {"n": "soon", "d": 0, "s": "x", "old": 1, "typo": 2},
            "stray": 3
        }));
        assert_eq!(r.number::<u64>("a.n", 0..=10), None);
        assert_eq!(r.secs("a.d", 1..=10), None);
        assert_eq!(r.text("a.s").as_deref(), Some("x"));
        let Err(ConfigError::Invalid(problems)) = r.finish(&[("a.old", "a.new")]) else {
            panic!("problems expected");
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["a.n", "a.d", "a.old", "a.typo", "stray"]);
        assert!(problems[2].message.contains("use a.new"));
        assert!(problems[3].message.contains("a.n, a.s") || problems[3].message.contains("a.d"));
        assert!(problems[4].message.contains("sections are a"));
    }
}
