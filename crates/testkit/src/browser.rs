//! The browser harness from Rust: runs a scenario of `browser/scenarios` (playwright-core
//! driving Debian's Chromium, with axe-core; see `browser/harness.mjs`) against a server a test
//! started, and gives back its report. `scripts/browser` installs what it needs; without it a
//! test says so loudly and skips, and under CI it fails (`linkleaf_store::testing::missing`).

use serde_json::Value;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// The repository's `browser/` directory.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../browser")
}

/// Where screenshots go: `target/browser/<test>` (looked at by people, never compared).
pub fn shots(test: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/browser")
        .join(test);
    let _ = std::fs::create_dir_all(&d);
    d
}

/// Why the browser tests cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    let chromium =
        std::env::var("LINKLEAF_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        return Some(format!("{chromium} is not installed (run scripts/browser)"));
    }
    if !dir().join("node_modules/playwright-core").exists() {
        return Some("browser/node_modules is not installed (run scripts/browser)".into());
    }
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        return Some("node is not installed".into());
    }
    None
}

/// Whether the browser is here; when not, says so loudly (the test then returns: skipped) or,
/// under CI, fails the test.
pub fn here() -> bool {
    match unavailable() {
        None => true,
        Some(why) => {
            linkleaf_store::testing::missing(
                "a browser (Debian's chromium and browser/node_modules)",
                why,
            );
            false
        }
    }
}

/// Runs `scenario` with `args`; its report, or `None` when the browser is not here (see
/// `here`). A scenario that reports problems fails the test, listing them.
pub async fn run(scenario: &str, args: Value) -> Option<Value> {
    if !here() {
        return None;
    }
    let child = tokio::process::Command::new("node")
        .arg(dir().join("run.mjs"))
        .arg(scenario)
        .arg(args.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let out = tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the browser scenario {scenario} took over 3 minutes"))
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("{scenario}: no report\nstdout: {stdout}\nstderr: {stderr}"));
    let problems = report["problems"].as_array().cloned().unwrap_or_default();
    assert!(
        out.status.success() && problems.is_empty(),
        "{scenario}: {} problem(s):\n{}\nstderr: {stderr}",
        problems.len(),
        problems
            .iter()
            .map(|p| format!("  - {}", p.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("\n")
    );
    Some(report)
}
