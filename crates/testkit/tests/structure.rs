//! The shape of the code, kept by a test: no module of any crate imports, through any chain of
//! `crate::` and `super::` paths, a module that imports it back (inside every folder too); no
//! production source file is longer than `MAX_LINES`; every module says in its `//!` header
//! what it owns and what it must not do ("Must not: ..." or a "never"). Read from the source as text: every `crate::…`, `super::…` and `self::…` path,
//! and every path that starts with a child module's name (`writer::Writer`), outside comments
//! and inline test modules (`#[cfg(test)] mod … {` to the end of a file), is an edge from its
//! file to the deepest module it names; a name a parent module defines, or a glob
//! (`use super::*`), makes an edge to the parent. In `linkleaf-http`, route modules are leaves:
//! only `routes/mod.rs` names one. Run `cargo test -p linkleaf-testkit --test structure` to see the circles it finds.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a production source file may be.
const MAX_LINES: usize = 700;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A crate's source files by module path (`[]` the crate root, `["a", "b"]` for `a/b.rs` or
/// `a/b/mod.rs`).
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap_or(&f);
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let last = parts.pop().unwrap_or_default();
        let stem = last.trim_end_matches(".rs").to_owned();
        if !(parts.is_empty() && (stem == "lib" || stem == "main") || stem == "mod") {
            parts.push(stem);
        }
        if parts.first().is_some_and(|p| p == "bin") {
            continue;
        }
        out.insert(parts, f);
    }
    out
}

/// A file without its test module: cut at `#[cfg(test)]` before an inline `mod … {` (a
/// `#[cfg(test)] mod tests;` in a file of its own cuts nothing, nor does a test-only item).
fn production(text: &str) -> &str {
    let mut from = 0;
    while let Some(p) = text[from..].find("#[cfg(test)]") {
        let at = from + p;
        let after = text[at + "#[cfg(test)]".len()..].trim_start();
        let line = after.lines().next().unwrap_or("");
        if (after.starts_with("mod ") || after.starts_with("pub mod ")) && line.contains('{') {
            return &text[..at];
        }
        from = at + 1;
    }
    text
}

/// The text that counts: comments and string literals blanked, test modules cut.
fn code(text: &str) -> String {
    let text = production(text);
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// The paths after `crate::`, `super::` or `self::` at each place they appear, and those that
/// start with the name of one of the module's `children` (`writer::Writer` in `spool/mod.rs`,
/// anchored at `self`), groups (`{a::B, c}`) expanded: (the anchor, the segments).
fn paths(code: &str, children: &[String]) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let b = code.as_bytes();
    for child in children {
        let anchor = format!("{child}::");
        let mut from = 0;
        while let Some(p) = code[from..].find(&anchor) {
            let at = from + p;
            from = at + anchor.len();
            // a whole first segment: not `my_writer::`, not `other::writer::`
            if at > 0
                && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_' || b[at - 1] == b':')
            {
                continue;
            }
            let mut prefix = vec![child.clone()];
            expand(&code[from..], &mut prefix, &mut |segs| {
                out.push(("self".to_owned(), segs))
            });
        }
    }
    for anchor in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(p) = code[from..].find(anchor) {
            let at = from + p;
            from = at + anchor.len();
            // a whole word: not `my_crate::`; and not the second `super::` of `super::super::`
            if at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_') {
                continue;
            }
            if code[..at].ends_with("super::") {
                continue;
            }
            let mut prefix = vec![];
            // `super::super::x`
            let mut rest = &code[from..];
            let mut kind = anchor.trim_end_matches("::").to_owned();
            while kind == "super" && rest.starts_with("super::") {
                kind.push_str("::super");
                rest = &rest["super::".len()..];
            }
            expand(rest, &mut prefix, &mut |segs| {
                out.push((kind.clone(), segs))
            });
        }
    }
    out
}

/// Reads one path (or a brace group) at the start of `s`, calling `emit` with each whole path.
fn expand(s: &str, prefix: &mut Vec<String>, emit: &mut dyn FnMut(Vec<String>)) -> usize {
    let s_trim = s.trim_start();
    let skipped = s.len() - s_trim.len();
    let s = s_trim;
    if let Some(inner) = s.strip_prefix('{') {
        let mut i = 0;
        loop {
            let part = &inner[i..];
            let t = part.trim_start();
            i += part.len() - t.len();
            if t.starts_with('}') {
                return skipped + 1 + i + 1;
            }
            if t.is_empty() {
                return skipped + 1 + i;
            }
            let used = expand(t, prefix, emit);
            i += used.max(1);
            let t = inner[i..].trim_start();
            i = inner.len() - t.len();
            if let Some(r) = t.strip_prefix(',') {
                i = inner.len() - r.len();
            }
        }
    }
    // a glob (`use super::*`): an edge to the module it empties
    if s.starts_with('*') {
        emit(prefix.clone());
        return skipped + 1;
    }
    let mut segs = Vec::new();
    let mut i = 0;
    loop {
        let rest = &s[i..];
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if word.is_empty() {
            break;
        }
        i += word.len();
        segs.push(word);
        if s[i..].starts_with("::") {
            i += 2;
            if s[i..].trim_start().starts_with('{') {
                let depth = prefix.len();
                prefix.extend(segs.iter().cloned());
                let used = expand(&s[i..], prefix, emit);
                prefix.truncate(depth);
                return skipped + i + used;
            }
        } else {
            break;
        }
    }
    if !segs.is_empty() {
        let mut whole = prefix.clone();
        whole.extend(segs);
        emit(whole);
    }
    skipped + i
}

/// The module a path names: the longest prefix of `base + segs` that is a module.
fn target(mods: &BTreeMap<Vec<String>, PathBuf>, base: &[String], segs: &[String]) -> Vec<String> {
    let mut full: Vec<String> = base.to_vec();
    full.extend(segs.iter().cloned());
    while !full.is_empty() && !mods.contains_key(&full) {
        full.pop();
    }
    full
}

fn edges(mods: &BTreeMap<Vec<String>, PathBuf>) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut out: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (m, file) in mods {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let children: Vec<String> = mods
            .keys()
            .filter(|k| k.len() == m.len() + 1 && k.starts_with(m))
            .map(|k| k[m.len()].clone())
            .collect();
        for (anchor, segs) in paths(&code(&text), &children) {
            let base: Vec<String> = match anchor.as_str() {
                "crate" => vec![],
                "self" => m.clone(),
                supers => {
                    // `super` is the parent of the module this file is
                    let n = supers.matches("super").count();
                    m[..m.len().saturating_sub(n)].to_vec()
                }
            };
            let t = target(mods, &base, &segs);
            if &t != m {
                out.entry(m.clone()).or_default().insert(t);
            }
        }
        out.entry(m.clone()).or_default();
    }
    out
}

/// The strongly connected components of more than one module (Tarjan).
fn circles(g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct T<'a> {
        g: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        on: BTreeSet<&'a Vec<String>>,
        stack: Vec<&'a Vec<String>>,
        next: usize,
        out: Vec<Vec<Vec<String>>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a Vec<String>) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flatten() {
            let Some((w, _)) = g.get_key_value(w) else {
                continue;
            };
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low[v];
                t.low.insert(v, lv.min(lw));
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low[v];
                t.low.insert(v, lv.min(iw));
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(w.clone());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on: BTreeSet::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn crates() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        let src = e.path().join("src");
        if src.is_dir() {
            out.push((e.file_name().to_string_lossy().into_owned(), src));
        }
    }
    out.sort();
    out
}

fn name(m: &[String]) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let mut found = Vec::new();
    for (krate, src) in crates() {
        let mods = modules(&src);
        let g = edges(&mods);
        for c in circles(&g) {
            let members: BTreeSet<&Vec<String>> = c.iter().collect();
            let mut lines = Vec::new();
            for m in &c {
                for t in &g[m] {
                    if members.contains(t) {
                        lines.push(format!("    {} -> {}", name(m), name(t)));
                    }
                }
            }
            found.push(format!(
                "{krate}: a circle of {}:\n{}",
                c.len(),
                lines.join("\n")
            ));
        }
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn no_production_file_is_longer_than_the_limit_and_each_says_what_it_owns_and_must_not_do() {
    let mut long = Vec::new();
    let mut silent = Vec::new();
    for (krate, src) in crates() {
        if krate == "testkit" {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            let n = production(&text).lines().count();
            let rel = f.strip_prefix(root()).unwrap_or(&f).display().to_string();
            if n > MAX_LINES {
                long.push(format!("{rel}: {n} lines"));
            }
            // the header: what the module owns, and what it must not do
            let header: String = text
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .map(|l| l.trim_start_matches("//!").trim())
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            if header.is_empty() || !(header.contains("must not") || header.contains("never")) {
                silent.push(rel);
            }
        }
    }
    assert!(
        long.is_empty(),
        "longer than {MAX_LINES} lines (tests aside): {long:#?}"
    );
    assert!(
        silent.is_empty(),
        "no //! header saying what the module owns and what it must not do: {silent:#?}"
    );
}

/// The reader itself: a group, a nested group, `super::super`, a name in the crate root, a
/// path from a child module's name (and not one from a module elsewhere of the same name).
#[test]
fn paths_are_read_as_rust_writes_them() {
    let c = code(
        "use crate::{a::B, c::{d::E, F}};\nuse super::super::x::Y;\n// crate::nope\nlet s = \"crate::no\"; self::z::w();\nuse writer::Writer; other::writer::f();\nuse super::*;",
    );
    let mut p = paths(&c, &["writer".to_owned()]);
    p.sort();
    assert_eq!(
        p,
        vec![
            ("crate".into(), vec!["a".into(), "B".into()]),
            ("crate".into(), vec!["c".into(), "F".into()]),
            ("crate".into(), vec!["c".into(), "d".into(), "E".into()]),
            ("self".into(), vec!["writer".into(), "Writer".into()]),
            ("self".into(), vec!["z".into(), "w".into()]),
            ("super".into(), vec![]),
            ("super::super".into(), vec!["x".into(), "Y".into()]),
        ]
    );
}

/// In the HTTP crate, route modules are leaves: only the router (`routes/mod.rs`) names one;
/// what several share (answers, constants, response types) sits below them.
#[test]
fn route_modules_are_leaves_only_the_router_names() {
    let mods = modules(&root().join("crates/http/src"));
    let g = edges(&mods);
    let is_leaf = |m: &Vec<String>| m.len() == 2 && m[0] == "routes";
    let mut bad = Vec::new();
    for (m, targets) in &g {
        if m.as_slice() == ["routes"] {
            continue;
        }
        for t in targets.iter().filter(|t| is_leaf(t)) {
            bad.push(format!("{} -> {}", name(m), name(t)));
        }
    }
    assert!(mods.keys().any(is_leaf), "the route modules are found");
    assert!(
        bad.is_empty(),
        "route modules named outside the router: {bad:#?}"
    );
}

/// The people's pages (`crates/web`) share the HTTP crate's answer-building pieces and never a
/// route module: the routes are leaves.
#[test]
fn the_pages_import_no_route_module() {
    let mut files = Vec::new();
    rust_files(&root().join("crates/web/src"), &mut files);
    assert!(!files.is_empty(), "crates/web/src has files");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !code(&text).contains("linkleaf_http::routes"),
            "{} imports a route module of the HTTP crate",
            f.display()
        );
    }
}
