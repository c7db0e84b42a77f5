//! `communityctl replay` as an operator runs it: the real binary on the
//! project's own payloads and, when it sits beside the checkout, on the
//! published corpus (`../shared/corpus`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `communityctl replay <dir> --json <extra>`: its one JSON object.
fn replay(dir: &Path, extra: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_communityctl"))
        .arg("replay")
        .arg(dir)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut values = serde_json::Deserializer::from_str(&stdout).into_iter::<Value>();
    let report = values.next().unwrap().unwrap();
    assert!(
        values.next().is_none(),
        "more than one JSON value: {stdout}"
    );
    assert!(report.is_object(), "{report}");
    report
}

fn count(report: &Value, field: &str) -> u64 {
    report[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a count: {report}"))
}

/// The fields every report has, and what they must add up to.
fn assert_shape(report: &Value, rounds: u64) {
    assert_eq!(count(report, "rounds"), rounds);
    let events = count(report, "events");
    assert!(events > 0, "{report}");
    for field in ["deliveries", "refused", "dropped", "nsPerEventMedian"] {
        count(report, field);
    }
    let known: Vec<&str> = signal::classify::Category::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    let categories = report["categories"].as_object().unwrap();
    for name in categories.keys() {
        assert!(
            known.contains(&name.as_str()),
            "{name} is not a signal category"
        );
    }
    let total = |field: &str| -> u64 {
        report[field]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum()
    };
    assert_eq!(total("categories"), events, "{report}");
    assert_eq!(total("platforms"), events, "{report}");
    assert_eq!(
        report["nsPerEventRounds"].as_array().unwrap().len() as u64,
        rounds
    );
}

#[test]
fn replays_the_projects_own_payloads() {
    let report = replay(&repository().join("events/payloads"), &["--rounds", "2"]);
    assert_shape(&report, 2);
    assert_eq!(report["unknownFolders"], serde_json::json!([]));
    assert_eq!(report["skipped"], serde_json::json!([]));
    assert_eq!(count(&report, "failed"), 0);
}

/// `../shared/corpus` beside the checkout. CI has it, so a missing folder
/// there is a failure rather than a silently skipped run.
fn shared_corpus() -> Option<PathBuf> {
    let dir = repository().join("../shared/corpus");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} missing in CI: the corpus replay must run",
        dir.display()
    );
    eprintln!("{} not present; corpus replay skipped", dir.display());
    None
}

#[test]
fn replays_the_published_corpus_when_present() {
    let Some(dir) = shared_corpus() else {
        return;
    };
    let report = replay(&dir, &[]);
    assert_shape(&report, 5);
    // GitHub's documented signature test vector is named, not replayed.
    let skipped: Vec<&str> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["file"].as_str().unwrap())
        .collect();
    assert!(
        skipped.contains(&"github/signature_test_vector.json"),
        "{skipped:?}"
    );
    assert_eq!(count(&report, "failed"), 0);
}
