//! The checked-in `events/` fixtures are exactly what the generator makes
//! (so they are signed with the documented dev secret and match the current
//! adapters and scoring), and each parses as the event its function takes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::event::sqs::SqsEvent;
use devstack::fixtures;
use devstack::secrets::DevSecrets;

#[test]
fn fixtures_are_current() {
    let root = devstack::repo_root();
    let files = fixtures::generate(&root, &DevSecrets::default()).unwrap();
    let stale = fixtures::stale(&root, &files);
    assert!(
        stale.is_empty(),
        "stale fixtures, run `make fixtures`: {stale:?}"
    );
}

#[test]
fn every_fixture_parses_as_its_functions_event_and_has_an_expectation() {
    let root = devstack::repo_root();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("events/manifest.json")).unwrap())
            .unwrap();
    let entries = manifest.as_array().unwrap();
    let mut covered = std::collections::BTreeSet::new();
    for entry in entries {
        let path = entry["event"].as_str().unwrap();
        let text = std::fs::read_to_string(root.join(path)).unwrap();
        match entry["function"].as_str().unwrap() {
            "ingest" => {
                serde_json::from_str::<ApiGatewayV2httpRequest>(&text).unwrap();
                assert!(entry["expect"]["statusCode"].is_u64());
            }
            "normalize" | "route" => {
                let event: SqsEvent = serde_json::from_str(&text).unwrap();
                assert!(!event.records.is_empty());
            }
            "alert" => {
                serde_json::from_str::<serde_json::Value>(&text).unwrap();
            }
            other => panic!("unknown function {other}"),
        }
        covered.insert(path.to_owned());
    }
    // Every event file (except env.json and the manifest) is in the manifest.
    for dir in ["ingest", "normalize", "route", "alert"] {
        for entry in std::fs::read_dir(root.join("events").join(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                covered.contains(&format!("events/{dir}/{name}")),
                "events/{dir}/{name} is not in events/manifest.json"
            );
        }
    }
}

#[test]
fn the_signed_fixtures_verify_with_the_dev_secret_and_the_bad_one_does_not() {
    let root = devstack::repo_root();
    let secret = [secrecy::SecretString::from(
        devstack::secrets::DEV_GITHUB_WEBHOOK_SECRET.to_owned(),
    )];
    for delivery in fixtures::github_deliveries() {
        let text =
            std::fs::read_to_string(root.join("events/ingest").join(delivery.fixture)).unwrap();
        let request: ApiGatewayV2httpRequest = serde_json::from_str(&text).unwrap();
        let body = request.body.unwrap_or_default();
        let verified = platforms::github::verify_signature(
            &secret,
            request
                .headers
                .get("x-hub-signature-256")
                .and_then(|v| v.to_str().ok()),
            body.as_bytes(),
        );
        assert_eq!(
            verified.is_ok(),
            delivery.signature == fixtures::Signature::Valid,
            "{}",
            delivery.fixture
        );
    }
}
