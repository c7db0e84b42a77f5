use std::borrow::Cow;
use std::collections::HashMap;

use canonical_event::{EventType, Platform};
use secrecy::SecretString;
use serde_json::value::RawValue;
use time::macros::datetime;

use super::adapter::*;
use super::*;
use crate::envelope::Envelope;
use crate::hmac_sha256::SignatureError;
use crate::{Accepted, Adapted, Rejection};

const VECTOR_SECRET: &str = "It's a Secret to Everybody";
const VECTOR_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

fn secrets(list: &[&str]) -> Vec<SecretString> {
    list.iter()
        .map(|s| SecretString::from(s.to_string()))
        .collect()
}

#[test]
fn github_published_test_vector_verifies() {
    verify_signature(
        &secrets(&[VECTOR_SECRET]),
        Some(VECTOR_SIGNATURE),
        b"Hello, World!",
    )
    .unwrap();
    assert_eq!(
        sign(VECTOR_SECRET, b"Hello, World!").unwrap(),
        VECTOR_SIGNATURE
    );
}

#[test]
fn corpus_test_vector_verifies_when_present() {
    let Some(dir) = corpus_dir() else { return };
    let vector: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("signature_test_vector.json")).unwrap())
            .unwrap();
    verify_signature(
        &secrets(&[vector["secret"].as_str().unwrap()]),
        vector["X-Hub-Signature-256"].as_str(),
        vector["payload"].as_str().unwrap().as_bytes(),
    )
    .unwrap();
}

#[test]
fn signature_failures_are_told_apart() {
    let s = secrets(&[VECTOR_SECRET]);
    let body = b"Hello, World!";
    let cases: &[(Option<&str>, SignatureError)] = &[
        (None, SignatureError::Missing),
        (Some(""), SignatureError::BadFormat),
        (
            Some("sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
            SignatureError::BadFormat,
        ),
        (
            Some("SHA256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
            SignatureError::BadFormat,
        ),
        (
            Some("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
            SignatureError::BadFormat,
        ),
        // truncated
        (
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1"),
            SignatureError::BadFormat,
        ),
        // odd length / too long
        (
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e170"),
            SignatureError::BadFormat,
        ),
        // non-hex
        (
            Some("sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
            SignatureError::BadFormat,
        ),
        // one bit off
        (
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e16"),
            SignatureError::Mismatch,
        ),
    ];
    for (header, expected) in cases {
        assert_eq!(
            verify_signature(&s, *header, body),
            Err(*expected),
            "header {header:?}"
        );
    }
    // tampered body, wrong secret, no secret
    assert_eq!(
        verify_signature(&s, Some(VECTOR_SIGNATURE), b"Hello, World?"),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_signature(&secrets(&["wrong"]), Some(VECTOR_SIGNATURE), body),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_signature(&[], Some(VECTOR_SIGNATURE), body),
        Err(SignatureError::NoSecret)
    );
}

#[test]
fn any_active_secret_verifies_during_rotation() {
    let s = secrets(&["old-secret", VECTOR_SECRET]);
    verify_signature(&s, Some(VECTOR_SIGNATURE), b"Hello, World!").unwrap();
}

fn delivery_headers<'a>(
    map: &'a HashMap<&'static str, String>,
) -> impl Fn(&str) -> Option<&'a str> {
    move |name: &str| map.get(name).map(String::as_str)
}

fn signed_headers(event: &str, body: &[u8], content_type: &str) -> HashMap<&'static str, String> {
    HashMap::from([
        (HEADER_EVENT, event.to_owned()),
        (
            HEADER_DELIVERY,
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned(),
        ),
        (HEADER_HOOK_ID, "123456".to_owned()),
        (HEADER_SIGNATURE_256, sign("dev-secret", body).unwrap()),
        ("content-type", content_type.to_owned()),
    ])
}

const ISSUE_BODY: &str = r#"{"action":"opened","issue":{"number":7,"title":"Crash","html_url":"https://github.com/o/r/issues/7","user":{"login":"alice","id":1}},"repository":{"full_name":"o/r"},"sender":{"login":"alice","id":1}}"#;

#[test]
fn json_delivery_is_enqueued_with_thread_group_and_delivery_dedup() {
    let headers = signed_headers("issues", ISSUE_BODY.as_bytes(), "application/json");
    let accepted = accept(
        &secrets(&["dev-secret"]),
        &Delivery {
            header: delivery_headers(&headers),
            body: ISSUE_BODY.as_bytes(),
            received_at: datetime!(2026-11-23 12:00 UTC),
        },
    )
    .unwrap();
    let Accepted::Enqueue { message: msg, .. } = accepted else {
        panic!("expected enqueue")
    };
    assert_eq!(
        msg.deduplication_id,
        crate::fifo_id(&["github", "123456", "72d3162e-cc78-11e3-81ab-4c9367dc0958"])
    );
    assert_eq!(msg.group_id, crate::fifo_id(&["github", "o/r", "7"]));
    assert!(msg.deduplication_id.len() <= 128 && msg.group_id.len() <= 128);
    let envelope = Envelope::decode(&msg.body).unwrap();
    assert_eq!(envelope.platform, Platform::Github);
    assert_eq!(envelope.event_name, "issues");
    assert_eq!(
        envelope.payload.get(),
        ISSUE_BODY,
        "payload is embedded byte for byte"
    );
}

#[test]
fn form_encoded_delivery_is_verified_on_the_raw_form_bytes() {
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", ISSUE_BODY)
        .finish();
    let headers = signed_headers(
        "issues",
        form.as_bytes(),
        "application/x-www-form-urlencoded",
    );
    let accepted = accept(
        &secrets(&["dev-secret"]),
        &Delivery {
            header: delivery_headers(&headers),
            body: form.as_bytes(),
            received_at: datetime!(2026-11-23 12:00 UTC),
        },
    )
    .unwrap();
    let Accepted::Enqueue { message: msg, .. } = accepted else {
        panic!("expected enqueue")
    };
    assert_eq!(
        Envelope::decode(&msg.body).unwrap().payload.get(),
        ISSUE_BODY
    );

    // The signature of the JSON alone does not verify a form body.
    let mut wrong = headers.clone();
    wrong.insert(
        HEADER_SIGNATURE_256,
        sign("dev-secret", ISSUE_BODY.as_bytes()).unwrap(),
    );
    let rejected = accept(
        &secrets(&["dev-secret"]),
        &Delivery {
            header: delivery_headers(&wrong),
            body: form.as_bytes(),
            received_at: datetime!(2026-11-23 12:00 UTC),
        },
    );
    assert_eq!(rejected, Err(Rejection::SignatureInvalid));
}

#[test]
fn ping_is_answered_not_enqueued_but_only_when_signed() {
    let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let headers = signed_headers("ping", body, "application/json");
    let d = Delivery {
        header: delivery_headers(&headers),
        body,
        received_at: datetime!(2026-11-23 12:00 UTC),
    };
    assert_eq!(
        accept(&secrets(&["dev-secret"]), &d),
        Ok(Accepted::Answer(crate::Reply::pong()))
    );
    assert_eq!(
        accept(&secrets(&["other"]), &d),
        Err(Rejection::SignatureInvalid)
    );
}

#[test]
fn malformed_deliveries_are_400_or_415_after_verification() {
    let s = secrets(&["dev-secret"]);
    let at = datetime!(2026-11-23 12:00 UTC);
    let bad_json = b"{not json";
    let h = signed_headers("issues", bad_json, "application/json");
    assert_eq!(
        accept(
            &s,
            &Delivery {
                header: delivery_headers(&h),
                body: bad_json,
                received_at: at
            }
        ),
        Err(Rejection::MalformedBody)
    );

    let mut h = signed_headers("issues", ISSUE_BODY.as_bytes(), "application/json");
    h.remove(HEADER_DELIVERY);
    assert_eq!(
        accept(
            &s,
            &Delivery {
                header: delivery_headers(&h),
                body: ISSUE_BODY.as_bytes(),
                received_at: at
            }
        ),
        Err(Rejection::BadHeader(HEADER_DELIVERY))
    );
    let mut h = signed_headers("issues", ISSUE_BODY.as_bytes(), "application/json");
    h.insert(HEADER_EVENT, "Issues; drop table".into());
    assert_eq!(
        accept(
            &s,
            &Delivery {
                header: delivery_headers(&h),
                body: ISSUE_BODY.as_bytes(),
                received_at: at
            }
        ),
        Err(Rejection::BadHeader(HEADER_EVENT))
    );
    let h = signed_headers("issues", ISSUE_BODY.as_bytes(), "text/xml");
    assert_eq!(
        accept(
            &s,
            &Delivery {
                header: delivery_headers(&h),
                body: ISSUE_BODY.as_bytes(),
                received_at: at
            }
        ),
        Err(Rejection::UnsupportedMediaType)
    );
    let not_utf8 = b"{\"a\":\"\xff\"}";
    let h = signed_headers("issues", not_utf8, "application/json");
    assert_eq!(
        accept(
            &s,
            &Delivery {
                header: delivery_headers(&h),
                body: not_utf8,
                received_at: at
            }
        ),
        Err(Rejection::MalformedBody)
    );
    let form_without_payload = b"other=1";
    let h = signed_headers(
        "issues",
        form_without_payload,
        "application/x-www-form-urlencoded",
    );
    assert_eq!(
        accept(
            &s,
            &Delivery {
                header: delivery_headers(&h),
                body: form_without_payload,
                received_at: at
            }
        ),
        Err(Rejection::MalformedBody)
    );
}

#[test]
fn unsigned_garbage_is_401_before_it_is_parsed() {
    let body = b"{not json";
    let mut h = signed_headers("issues", body, "application/json");
    h.remove(HEADER_SIGNATURE_256);
    let d = Delivery {
        header: delivery_headers(&h),
        body,
        received_at: datetime!(2026-11-23 12:00 UTC),
    };
    assert_eq!(
        accept(&secrets(&["dev-secret"]), &d),
        Err(Rejection::SignatureMissing)
    );
}

// ---- adapter -------------------------------------------------------------

fn corpus_dir() -> Option<std::path::PathBuf> {
    crate::test_support::corpus_dir("github")
}

fn adapt_json(event: &str, json: &str) -> Result<Adapted, crate::AdaptError> {
    adapt_delivery(event, json, "d-1")
}

fn adapt_delivery(
    event: &str,
    json: &str,
    delivery_id: &str,
) -> Result<Adapted, crate::AdaptError> {
    let raw: &RawValue = serde_json::from_str(json).unwrap();
    let envelope = Envelope {
        v: 1,
        platform: Platform::Github,
        delivery_id: Cow::Borrowed(delivery_id),
        event_name: Cow::Borrowed(event),
        hook_id: None,
        origin: None,
        attempt: None,
        received_at: datetime!(2026-11-23 12:00 UTC),
        payload: raw,
    };
    adapt(&envelope)
}

/// The expected outcome of every payload in the GitHub corpus, by file name.
fn expected_for(file: &str) -> Option<Result<EventType, &'static str>> {
    let stem = file.strip_suffix(".json")?;
    if stem == "signature_test_vector" {
        return None;
    }
    let mut parts = stem.splitn(3, '.');
    let event = parts.next()?;
    let action = parts.next().unwrap_or("");
    Some(match (event, action) {
        ("issues", "opened") => Ok(EventType::IssueOpened),
        ("issues", "closed") => Ok(EventType::IssueClosed),
        ("issue_comment", "created") => Ok(EventType::IssueCommented),
        ("pull_request", "opened") => Ok(EventType::PullRequestOpened),
        // The corpus's closed PR was not merged.
        ("pull_request", "closed") => Err(DROP_PR_CLOSED_UNMERGED),
        ("pull_request_review", "submitted") => Ok(EventType::PullRequestReviewed),
        ("discussion", "created") => Ok(EventType::DiscussionOpened),
        ("discussion", "answered") => Ok(EventType::DiscussionAnswered),
        ("discussion_comment", "created") => Ok(EventType::DiscussionCommented),
        ("star", "created") => Ok(EventType::RepoStarred),
        ("fork", _) => Ok(EventType::RepoForked),
        ("release", "published") => Ok(EventType::ReleasePublished),
        ("member", "added") => Ok(EventType::MemberJoined),
        ("sponsorship", "created") => Ok(EventType::Sponsorship),
        ("ping", _) => Err(DROP_PING),
        ("watch", _) => Err(DROP_WATCH),
        (
            "issues"
            | "issue_comment"
            | "pull_request"
            | "pull_request_review"
            | "discussion"
            | "discussion_comment"
            | "star"
            | "release"
            | "member"
            | "sponsorship",
            _,
        ) => Err(DROP_UNTRACKED_ACTION),
        _ => Err(DROP_UNSUPPORTED_EVENT),
    })
}

#[test]
fn every_corpus_payload_is_normalized_or_dropped_by_a_named_rule() {
    let Some(dir) = corpus_dir() else {
        eprintln!("../shared/corpus/github not present; corpus sweep skipped");
        return;
    };
    let mut mapped = 0;
    let mut dropped = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(expected) = expected_for(&file) else {
            continue;
        };
        let event = file.split('.').next().unwrap();
        let json = std::fs::read_to_string(&path).unwrap();
        let outcome = adapt_json(event, &json).unwrap_or_else(|e| panic!("{file}: {e}"));
        match (expected, outcome) {
            (Ok(event_type), Adapted::Events(drafts)) => {
                assert_eq!(drafts.len(), 1, "{file}");
                let d = &drafts[0];
                assert_eq!(d.event_type, event_type, "{file}");
                assert!(
                    !d.actor.handle.is_empty() && !d.actor.platform_user_id.is_empty(),
                    "{file}"
                );
                if event_type != EventType::MemberJoined {
                    // member.added carries no time of its own; everything else does.
                    assert_ne!(
                        d.timestamp, d.received_at,
                        "{file}: timestamp should come from the payload"
                    );
                }
                if let Some(x) = &d.content.excerpt {
                    assert!(x.chars().count() <= canonical_event::EXCERPT_MAX_CHARS);
                }
                // The same body under another X-GitHub-Delivery (a captured
                // delivery replayed, since GitHub signs only the body) is the
                // same event, except where the body cannot tell events apart.
                let Adapted::Events(again) = adapt_delivery(event, &json, "d-2").unwrap() else {
                    panic!("{file}: adapted once, dropped the second time");
                };
                assert_eq!(again[0].delivery_id, "d-2");
                if event_type == EventType::MemberJoined {
                    assert_ne!(again[0].event_id, d.event_id, "{file}");
                } else {
                    assert_eq!(again[0].event_id, d.event_id, "{file}");
                }
                mapped += 1;
            }
            (Err(rule), Adapted::Dropped { rule: got, name }) => {
                assert_eq!(got, rule, "{file}");
                assert!(name.starts_with(event), "{file}: {name}");
                dropped += 1;
            }
            (expected, got) => panic!("{file}: expected {expected:?}, got {got:?}"),
        }
    }
    assert!(
        mapped >= 15 && dropped >= 15,
        "mapped {mapped}, dropped {dropped}"
    );
}

#[test]
fn merged_pull_request_is_credited_to_its_author() {
    let json = r#"{"action":"closed","pull_request":{"number":3,"title":"Fix docs","html_url":"https://github.com/o/r/pull/3","merged":true,"merged_at":"2026-11-20T10:00:00Z","user":{"login":"bob","id":2},"author_association":"FIRST_TIME_CONTRIBUTOR"},"repository":{"full_name":"o/r"},"sender":{"login":"maintainer","id":9}}"#;
    let Adapted::Events(drafts) = adapt_json("pull_request", json).unwrap() else {
        panic!()
    };
    let d = &drafts[0];
    assert_eq!(d.event_type, EventType::PullRequestMerged);
    assert_eq!(d.actor.handle, "bob");
    assert!(d.first_time_contributor);
    assert_eq!(d.timestamp, datetime!(2026-11-20 10:00 UTC));
    assert_eq!(d.source.thread_id.as_deref(), Some("3"));
}

#[test]
fn bots_are_marked() {
    let json = r#"{"action":"opened","issue":{"number":1,"title":"Bump","html_url":"u","user":{"login":"dependabot[bot]","id":3,"type":"Bot"}},"repository":{"full_name":"o/r"}}"#;
    let Adapted::Events(drafts) = adapt_json("issues", json).unwrap() else {
        panic!()
    };
    assert!(drafts[0].actor.is_bot);
}

#[test]
fn a_supported_event_missing_its_object_is_an_error_not_a_drop() {
    let err = adapt_json("issues", r#"{"action":"opened"}"#).unwrap_err();
    assert_eq!(
        err,
        crate::AdaptError::MissingField {
            event: "issues.opened".into(),
            field: "issue"
        }
    );
    assert!(matches!(
        adapt_json("issues", r#"{"action":"opened","issue":{"number":"x"}}"#),
        Err(crate::AdaptError::Malformed { .. })
    ));
}

#[test]
fn redelivery_maps_to_the_same_event_id() {
    let a = adapt_json("issues", ISSUE_BODY).unwrap();
    let b = adapt_json("issues", ISSUE_BODY).unwrap();
    assert_eq!(a, b);
}

fn event_id(event: &str, json: &str, delivery_id: &str) -> canonical_event::EventId {
    match adapt_delivery(event, json, delivery_id).unwrap() {
        Adapted::Events(drafts) => drafts[0].event_id,
        dropped => panic!("{event}: {dropped:?}"),
    }
}

/// Every project fixture under events/payloads/github (the corpus sweep
/// checks the published payloads when ../shared is present).
#[test]
fn a_body_resent_under_a_new_delivery_id_is_the_same_event() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/payloads/github");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let json = std::fs::read_to_string(&path).unwrap();
        let Some(event) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('.').next())
        else {
            continue;
        };
        let first = adapt_delivery(event, &json, "5c6b2f40-0000-0000-0000-000000000001");
        let Ok(Adapted::Events(first)) = first else {
            continue;
        };
        let Ok(Adapted::Events(second)) =
            adapt_delivery(event, &json, "5c6b2f40-0000-0000-0000-000000000002")
        else {
            panic!("{}: adapted once only", path.display());
        };
        assert_eq!(first[0].event_id, second[0].event_id, "{}", path.display());
        checked += 1;
    }
    assert!(
        checked >= 3,
        "only {checked} fixtures checked in {}",
        dir.display()
    );
}

#[test]
fn distinct_happenings_on_one_object_are_distinct_events() {
    let issue = |action: &str, closed_at: &str| {
        format!(
            r#"{{"action":"{action}","issue":{{"number":7,"title":"Crash","html_url":"https://github.com/o/r/issues/7","user":{{"login":"alice","id":1}},"closed_at":{closed_at}}},"repository":{{"full_name":"o/r"}},"sender":{{"login":"bob","id":2}}}}"#
        )
    };
    let opened = event_id("issues", &issue("opened", "null"), "d-1");
    let closed = event_id(
        "issues",
        &issue("closed", r#""2026-11-20T10:00:00Z""#),
        "d-2",
    );
    let closed_again = event_id(
        "issues",
        &issue("closed", r#""2026-11-21T09:00:00Z""#),
        "d-3",
    );
    assert_ne!(opened, closed);
    assert_ne!(closed, closed_again, "reopened and closed again");
    assert_eq!(
        closed,
        event_id(
            "issues",
            &issue("closed", r#""2026-11-20T10:00:00Z""#),
            "d-9"
        ),
        "the same close under another delivery id"
    );

    let star = |at: &str| {
        format!(
            r#"{{"action":"created","starred_at":"{at}","repository":{{"full_name":"o/r"}},"sender":{{"login":"carol","id":3}}}}"#
        )
    };
    let starred = event_id("star", &star("2026-11-20T10:00:00Z"), "d-4");
    assert_eq!(
        starred,
        event_id("star", &star("2026-11-20T10:00:00Z"), "d-5")
    );
    assert_ne!(
        starred,
        event_id("star", &star("2026-11-22T10:00:00Z"), "d-6"),
        "unstarred and starred again"
    );

    // Two comments on one issue are two events.
    let comment = |id: u32| {
        format!(
            r#"{{"action":"created","issue":{{"number":7,"title":"Crash","html_url":"https://github.com/o/r/issues/7","user":{{"login":"alice","id":1}}}},"comment":{{"html_url":"https://github.com/o/r/issues/7#issuecomment-{id}","user":{{"login":"dan","id":4}}}},"repository":{{"full_name":"o/r"}},"sender":{{"login":"dan","id":4}}}}"#
        )
    };
    assert_ne!(
        event_id("issue_comment", &comment(100), "d-7"),
        event_id("issue_comment", &comment(101), "d-8")
    );
    assert_eq!(
        event_id("issue_comment", &comment(100), "d-7"),
        event_id("issue_comment", &comment(100), "d-10")
    );
}

/// Without a time in the payload, the delivery is all that tells two
/// memberships apart (removed and added again), so it stays the key.
#[test]
fn member_added_keeps_the_delivery_as_its_key() {
    let json = r#"{"action":"added","member":{"login":"erin","id":5},"repository":{"full_name":"o/r"},"sender":{"login":"admin","id":9}}"#;
    assert_ne!(
        event_id("member", json, "d-1"),
        event_id("member", json, "d-2")
    );
    assert_eq!(
        event_id("member", json, "d-1"),
        canonical_event::EventId::derive(Platform::Github, "d-1", 0).unwrap()
    );
}
