//! Resolution webhooks: signature test vectors, replay window, parsing of
//! realistic payloads (tests/fixtures), and never panicking on junk.
//!
//! Fixture signatures were computed independently of this crate:
//! `openssl dgst -sha256 -hmac <secret> < tests/fixtures/<file>`. Reformatting
//! a fixture changes its bytes and invalidates its signature.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha2::Sha256;
use time::OffsetDateTime;
use time::macros::datetime;
use trackers::Tracker;
use trackers::webhooks::{
    Resolution, WebhookError, github_ticket_id, github_ticket_id_from_url, parse_jira,
    parse_linear, verify_jira, verify_linear,
};

const LINEAR_SECRET: &[u8] = b"lin_wh_test_secret";
const JIRA_SECRET: &[u8] = b"jira-webhook-secret";

const LINEAR_COMPLETED: &[u8] = include_bytes!("fixtures/linear_issue_completed.json");
const LINEAR_COMPLETED_SIGNATURE: &str =
    "5b69bad9246e01997d253ec2c2dcb2bef831e7059a728f439c9eb53acab51e4d";
/// The fixture's `webhookTimestamp`, 1772366400123 ms.
const LINEAR_SENT_AT: OffsetDateTime = datetime!(2026-03-01 12:00:00.123 UTC);

const JIRA_RESOLVED: &[u8] = include_bytes!("fixtures/jira_issue_resolved.json");
const JIRA_RESOLVED_SIGNATURE: &str =
    "sha256=370c2934bb0da555032814c709650895d1f9ea441f75e74b9297f0085a0cbb1e";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

// --- Linear: signature -----------------------------------------------------

#[test]
fn linear_signature_from_the_test_vector_verifies() {
    let now = LINEAR_SENT_AT + time::Duration::seconds(2);
    assert_eq!(
        verify_linear(
            LINEAR_SECRET,
            Some(LINEAR_COMPLETED_SIGNATURE),
            LINEAR_COMPLETED,
            now
        ),
        Ok(())
    );
    // Hex case does not matter.
    let upper = LINEAR_COMPLETED_SIGNATURE.to_ascii_uppercase();
    assert_eq!(
        verify_linear(LINEAR_SECRET, Some(&upper), LINEAR_COMPLETED, now),
        Ok(())
    );
}

#[test]
fn linear_forged_signatures_are_refused() {
    let now = LINEAR_SENT_AT;
    // Another secret.
    let forged = sign(b"not-the-secret", LINEAR_COMPLETED);
    assert_eq!(
        verify_linear(LINEAR_SECRET, Some(&forged), LINEAR_COMPLETED, now),
        Err(WebhookError::BadSignature)
    );
    // The right signature over a tampered body.
    let mut tampered = LINEAR_COMPLETED.to_vec();
    let position = tampered.windows(4).position(|w| w == b"Done").unwrap();
    tampered[position..position + 4].copy_from_slice(b"Fake");
    assert_eq!(
        verify_linear(
            LINEAR_SECRET,
            Some(LINEAR_COMPLETED_SIGNATURE),
            &tampered,
            now
        ),
        Err(WebhookError::BadSignature)
    );
    // GitHub's prefixed form is not Linear's.
    let prefixed = format!("sha256={LINEAR_COMPLETED_SIGNATURE}");
    assert_eq!(
        verify_linear(LINEAR_SECRET, Some(&prefixed), LINEAR_COMPLETED, now),
        Err(WebhookError::BadSignature)
    );
    // Truncated and non-hex.
    assert_eq!(
        verify_linear(
            LINEAR_SECRET,
            Some(&LINEAR_COMPLETED_SIGNATURE[..62]),
            LINEAR_COMPLETED,
            now
        ),
        Err(WebhookError::BadSignature)
    );
    let not_hex = "z".repeat(64);
    assert_eq!(
        verify_linear(LINEAR_SECRET, Some(&not_hex), LINEAR_COMPLETED, now),
        Err(WebhookError::BadSignature)
    );
}

#[test]
fn linear_missing_signature_is_401() {
    let error = verify_linear(LINEAR_SECRET, None, LINEAR_COMPLETED, LINEAR_SENT_AT).unwrap_err();
    assert_eq!(error, WebhookError::MissingSignature);
    assert_eq!(error.status(), 401);
}

#[test]
fn linear_replays_outside_a_minute_are_stale() {
    let verify = |now| {
        verify_linear(
            LINEAR_SECRET,
            Some(LINEAR_COMPLETED_SIGNATURE),
            LINEAR_COMPLETED,
            now,
        )
    };
    assert_eq!(verify(LINEAR_SENT_AT + time::Duration::seconds(59)), Ok(()));
    assert_eq!(verify(LINEAR_SENT_AT - time::Duration::seconds(59)), Ok(()));
    let late = verify(LINEAR_SENT_AT + time::Duration::seconds(61)).unwrap_err();
    assert_eq!(late, WebhookError::StaleTimestamp);
    assert_eq!(late.status(), 401);
    assert_eq!(
        verify(LINEAR_SENT_AT - time::Duration::seconds(61)),
        Err(WebhookError::StaleTimestamp)
    );
}

#[test]
fn linear_signed_body_without_timestamp_is_malformed() {
    let body = br#"{"type":"Issue","action":"update","data":{"id":"x"}}"#;
    let error = verify_linear(
        LINEAR_SECRET,
        Some(&sign(LINEAR_SECRET, body)),
        body,
        LINEAR_SENT_AT,
    )
    .unwrap_err();
    assert!(matches!(error, WebhookError::MalformedBody(_)), "{error:?}");
    assert_eq!(error.status(), 400);
}

#[test]
fn an_empty_secret_is_a_configuration_error() {
    let error = verify_linear(
        b"",
        Some(LINEAR_COMPLETED_SIGNATURE),
        LINEAR_COMPLETED,
        LINEAR_SENT_AT,
    )
    .unwrap_err();
    assert_eq!(error, WebhookError::NoSecret);
    assert_eq!(
        verify_jira(b"", Some(JIRA_RESOLVED_SIGNATURE), JIRA_RESOLVED),
        Err(WebhookError::NoSecret)
    );
}

// --- Linear: parsing -------------------------------------------------------

#[test]
fn linear_completed_issue_is_a_resolution() {
    let resolution = parse_linear(LINEAR_COMPLETED).unwrap().unwrap();
    assert_eq!(
        resolution,
        Resolution {
            tracker: Tracker::Linear,
            ticket_id: "5b1f6a0e-1c2d-4e3f-8a9b-0c1d2e3f4a5b".to_owned(),
            resolved_at: datetime!(2026-03-01 12:00:00.041 UTC),
            delivery_id: None,
        }
    );
    let tagged = resolution.with_delivery_id(Some("8a1b2c3d-delivery"));
    assert_eq!(tagged.delivery_id.as_deref(), Some("8a1b2c3d-delivery"));
}

#[test]
fn linear_events_that_do_not_complete_an_issue_are_none() {
    for name in [
        "linear_issue_started.json",
        "linear_issue_title_edited.json",
        "linear_comment_created.json",
    ] {
        assert_eq!(parse_linear(&fixture(name)), Ok(None), "{name}");
    }
    let removed = String::from_utf8(LINEAR_COMPLETED.to_vec())
        .unwrap()
        .replace("\"action\": \"update\"", "\"action\": \"remove\"");
    assert_eq!(parse_linear(removed.as_bytes()), Ok(None));
}

#[test]
fn linear_malformed_bodies_are_400() {
    let error = parse_linear(b"not json").unwrap_err();
    assert_eq!(error.status(), 400);
    let error = parse_linear(
        br#"{"type":"Issue","action":"update","data":{"completedAt":"2026-03-01T12:00:00Z"}}"#,
    )
    .unwrap_err();
    assert!(matches!(error, WebhookError::MalformedBody(_)));
}

// --- Jira ------------------------------------------------------------------

#[test]
fn jira_signature_from_the_test_vectors_verifies() {
    assert_eq!(
        verify_jira(JIRA_SECRET, Some(JIRA_RESOLVED_SIGNATURE), JIRA_RESOLVED),
        Ok(())
    );
    // The WebSub `sha256=` scheme GitHub documents, with its published vector.
    assert_eq!(
        verify_jira(
            b"It's a Secret to Everybody",
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
            b"Hello, World!"
        ),
        Ok(())
    );
}

#[test]
fn jira_forged_missing_and_malformed_signatures_are_401() {
    let forged = format!("sha256={}", sign(b"wrong", JIRA_RESOLVED));
    let errors = [
        verify_jira(JIRA_SECRET, Some(&forged), JIRA_RESOLVED).unwrap_err(),
        verify_jira(JIRA_SECRET, None, JIRA_RESOLVED).unwrap_err(),
        // Without its `sha256=` prefix.
        verify_jira(
            JIRA_SECRET,
            Some(&JIRA_RESOLVED_SIGNATURE[7..]),
            JIRA_RESOLVED,
        )
        .unwrap_err(),
        verify_jira(JIRA_SECRET, Some("sha1=0123"), JIRA_RESOLVED).unwrap_err(),
        verify_jira(JIRA_SECRET, Some(JIRA_RESOLVED_SIGNATURE), b"{}").unwrap_err(),
    ];
    assert_eq!(errors[1], WebhookError::MissingSignature);
    for error in errors {
        assert_eq!(error.status(), 401, "{error:?}");
    }
}

#[test]
fn jira_resolved_issue_is_a_resolution() {
    assert_eq!(
        parse_jira(JIRA_RESOLVED).unwrap(),
        Some(Resolution {
            tracker: Tracker::Jira,
            ticket_id: "10042".to_owned(),
            resolved_at: datetime!(2026-03-01 12:00:00 UTC),
            delivery_id: None,
        })
    );
}

#[test]
fn jira_resolution_time_falls_back_to_the_payload_timestamp() {
    let mut payload: serde_json::Value = serde_json::from_slice(JIRA_RESOLVED).unwrap();
    payload["issue"]["fields"]["resolutiondate"] = serde_json::Value::Null;
    let resolution = parse_jira(payload.to_string().as_bytes()).unwrap().unwrap();
    assert_eq!(
        resolution.resolved_at,
        datetime!(2026-03-01 12:00:00.118 UTC)
    );
}

#[test]
fn jira_events_that_do_not_resolve_an_issue_are_none() {
    for name in [
        "jira_issue_in_progress.json",
        "jira_resolved_issue_edited.json",
        "jira_comment_created.json",
    ] {
        assert_eq!(parse_jira(&fixture(name)), Ok(None), "{name}");
    }
}

#[test]
fn jira_malformed_bodies_are_400() {
    assert_eq!(parse_jira(b"<xml/>").unwrap_err().status(), 400);
    let error = parse_jira(br#"{"webhookEvent":"jira:issue_updated","timestamp":1,"issue":{"fields":{"resolution":{"name":"Done"}}}}"#)
        .unwrap_err();
    assert!(matches!(error, WebhookError::MalformedBody(_)));
}

// --- GitHub ----------------------------------------------------------------

#[test]
fn github_ticket_ids_match_ticket_refs() {
    assert_eq!(
        github_ticket_id("octo-org/community", 12),
        "octo-org/community#12"
    );
    assert_eq!(
        github_ticket_id_from_url("https://github.com/octo-org/community/issues/12").as_deref(),
        Some("octo-org/community#12")
    );
    assert_eq!(
        github_ticket_id_from_url("https://github.com/octo-org/community/issues/12#issuecomment-1")
            .as_deref(),
        Some("octo-org/community#12")
    );
    for not_an_issue in [
        "https://github.com/octo-org/community/pull/12",
        "https://github.com/octo-org/community/issues",
        "https://github.com/octo-org/community/issues/0",
        "https://github.com/octo-org/community/issues/012",
        "https://github.com/octo-org/community/issues/12/events",
        "https://example.com/octo-org/community/issues/12",
        "http://github.com/octo-org/community/issues/12",
        "https://github.com/../community/issues/12",
    ] {
        assert_eq!(
            github_ticket_id_from_url(not_an_issue),
            None,
            "{not_an_issue}"
        );
    }
}

// --- Never panic -----------------------------------------------------------

proptest! {
    #[test]
    fn verifying_arbitrary_input_never_panics(
        secret in proptest::collection::vec(any::<u8>(), 0..64),
        header in proptest::option::of(".{0,80}"),
        body in proptest::collection::vec(any::<u8>(), 0..512),
        now_s in 0i64..4_000_000_000,
    ) {
        let now = OffsetDateTime::from_unix_timestamp(now_s).unwrap();
        let linear = verify_linear(&secret, header.as_deref(), &body, now);
        let jira = verify_jira(&secret, header.as_deref(), &body);
        // Nothing made up verifies (a random header is no MAC of the body),
        // and Jira's verdict is about authentication, never the body.
        prop_assert!(linear.is_err());
        prop_assert!(matches!(jira, Err(error) if error.status() != 400));
        // Parsing junk is a 400 at worst.
        if let Err(error) = parse_linear(&body) {
            prop_assert_eq!(error.status(), 400);
        }
        if let Err(error) = parse_jira(&body) {
            prop_assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn a_body_signed_with_the_secret_verifies_and_one_flipped_bit_does_not(
        body in proptest::collection::vec(any::<u8>(), 1..256),
        flip in any::<prop::sample::Index>(),
    ) {
        let signature = sign(JIRA_SECRET, &body);
        prop_assert_eq!(verify_jira(JIRA_SECRET, Some(&format!("sha256={signature}")), &body), Ok(()));
        let mut flipped = body.clone();
        let position = flip.index(flipped.len());
        flipped[position] ^= 1;
        prop_assert_eq!(
            verify_jira(JIRA_SECRET, Some(&format!("sha256={signature}")), &flipped),
            Err(WebhookError::BadSignature)
        );
    }
}
