//! Helpers shared by the platform tests.

use std::borrow::Cow;
use std::collections::HashMap;

use canonical_event::Platform;
use secrecy::SecretString;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::envelope::Envelope;

pub const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

pub fn secrets(list: &[&str]) -> Vec<SecretString> {
    list.iter()
        .map(|s| SecretString::from(s.to_string()))
        .collect()
}

/// Headers as the edge sees them (lower-case names).
pub fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect()
}

pub fn lookup<'m>(map: &'m HashMap<String, String>) -> impl Fn(&str) -> Option<&'m str> + 'm {
    move |name| map.get(name).map(String::as_str)
}

/// `../shared/corpus/<platform>` beside the checkout. CI has it, so a missing
/// folder there is a failure rather than a silently skipped sweep.
pub fn corpus_dir(platform: &str) -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(platform);
    if dir.is_dir() {
        Some(dir)
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} missing in CI: the corpus sweep must run",
            dir.display()
        );
        eprintln!("{} not present; corpus sweep skipped", dir.display());
        None
    }
}

/// Every `*.json` of a corpus folder except sidecars (`*.request.json`).
pub fn corpus_files(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.ends_with(".json") && !name.ends_with(".request.json")
        })
        .map(|p| {
            (
                p.file_name().unwrap().to_str().unwrap().to_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

pub fn envelope<'a>(
    platform: Platform,
    event: &'a str,
    payload: &'a RawValue,
    origin: Option<&'a str>,
) -> Envelope<'a> {
    Envelope {
        v: 1,
        platform,
        delivery_id: Cow::Borrowed("d-1"),
        event_name: Cow::Borrowed(event),
        hook_id: None,
        origin: origin.map(Cow::Borrowed),
        attempt: None,
        received_at: NOW,
        payload,
    }
}
