//! Every platform through the whole pipeline on the emulator: each fixture
//! delivery re-signed now, answered as its platform expects, and stored
//! exactly once; duplicates that only a natural key can catch; secrets from
//! Secrets Manager.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use canonical_event::{EventId, EventType, Platform};
use common::*;
use devstack::fixtures::{self, Signature};
use devstack::secrets::DevSecrets;
use time::OffsetDateTime;

const SETTLE: Duration = Duration::from_secs(60);

fn fresh_request(delivery: &fixtures::Delivery, now: i64) -> ApiGatewayV2httpRequest {
    let value = fixtures::api_gateway_event_at(
        &devstack::repo_root(),
        delivery,
        &DevSecrets::default(),
        now,
    )
    .unwrap();
    serde_json::from_value(value).unwrap()
}

/// The event ids a delivery must become, computed in-process.
fn expected_ids(delivery: &fixtures::Delivery, now: OffsetDateTime) -> Vec<EventId> {
    let (headers, body) = fixtures::http_request_at(
        &devstack::repo_root(),
        delivery,
        &DevSecrets::default(),
        now.unix_timestamp(),
    )
    .unwrap();
    match fixtures::accept_locally(delivery, &headers, &body, &DevSecrets::default(), now) {
        Ok(platforms::Accepted::Enqueue { message, .. }) => {
            let envelope = platforms::Envelope::decode(&message.body).unwrap();
            match platforms::adapt(&envelope).unwrap() {
                platforms::Adapted::Events(drafts) => {
                    drafts.into_iter().map(|d| d.event_id).collect()
                }
                platforms::Adapted::Dropped { .. } => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn every_platform_fixture_is_answered_as_its_platform_expects_and_stored_once() {
    let stack = stack("platforms").await;
    let now = OffsetDateTime::now_utc();
    let mut expected: BTreeMap<EventId, Platform> = BTreeMap::new();
    for delivery in fixtures::deliveries() {
        let response = stack
            .ingest
            .handle(fresh_request(&delivery, now.unix_timestamp()))
            .await;
        assert_eq!(
            response.status_code,
            i64::from(delivery.expect_status),
            "{}",
            delivery.fixture
        );
        if delivery.expect_status == 204 {
            assert!(
                response.body.is_none(),
                "{}: 204 has no body",
                delivery.fixture
            );
        }
        if delivery.signature == Signature::Valid && delivery.platform_name() != "myspace" {
            for id in expected_ids(&delivery, now) {
                let platform = match delivery.platform_name() {
                    "relay" if delivery.payload.starts_with("discord_gateway") => Platform::Discord,
                    name => Platform::parse(name).unwrap(),
                };
                expected.insert(id, platform);
            }
        }
    }
    // Every platform and the relay contributed at least one event.
    let platforms: BTreeSet<&str> = expected.values().map(|p| p.as_str()).collect();
    assert_eq!(
        platforms,
        BTreeSet::from(["discord", "discourse", "github", "relay", "slack"])
    );
    stack.drain(SETTLE).await.unwrap();
    let reader = reader(&stack);
    for (id, platform) in &expected {
        let event = reader
            .get(&id.to_string(), OffsetDateTime::now_utc())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} ({platform}) not stored"));
        assert_eq!(event.platform, *platform);
    }
    let (delivered, milestones) = stored_types(&stack).await;
    assert_eq!(
        delivered.len(),
        expected.len(),
        "nothing stored beyond the expected events"
    );
    // sam-contrib's merged pull request and lena's accepted answer: each a
    // first contribution and a stage-up.
    assert_eq!(
        milestones,
        [
            "first_contribution",
            "first_contribution",
            "stage_changed",
            "stage_changed"
        ]
    );
}

#[tokio::test]
async fn slack_message_its_app_mention_and_a_late_retry_are_one_event() {
    let stack = stack("slack-dedup").await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let event = r#"{"type":"message","user":"U1","text":"<@U0BOT> the importer hangs","ts":"1795427400.000900","channel":"C1"}"#;
    let message =
        format!(r#"{{"type":"event_callback","team_id":"T1","event_id":"EvA","event":{event}}}"#);
    let mention = format!(
        r#"{{"type":"event_callback","team_id":"T1","event_id":"EvB","event":{}}}"#,
        event.replace(r#""type":"message""#, r#""type":"app_mention""#)
    );
    for body in [&message, &mention] {
        assert_eq!(
            stack
                .ingest
                .handle(slack_request(body, now))
                .await
                .status_code,
            202
        );
    }
    stack.drain(SETTLE).await.unwrap();
    // Slack's third retry comes ~5 minutes later, outside SQS's dedup window:
    // its envelope is enqueued under a fresh dedup id so the ledger alone
    // must catch it.
    let headers = std::collections::HashMap::from([
        ("x-slack-request-timestamp".to_owned(), now.to_string()),
        (
            "x-slack-signature".to_owned(),
            platforms::slack::sign(
                devstack::secrets::DEV_SLACK_SIGNING_SECRET,
                &now.to_string(),
                message.as_bytes(),
            )
            .unwrap(),
        ),
        ("x-slack-retry-num".to_owned(), "3".to_owned()),
    ]);
    let lookup = |name: &str| headers.get(name).map(String::as_str);
    let platforms::Accepted::Enqueue {
        message: queued, ..
    } = platforms::slack::accept(
        &[secrecy::SecretString::from(
            devstack::secrets::DEV_SLACK_SIGNING_SECRET.to_owned(),
        )],
        &platforms::Delivery {
            header: lookup,
            body: message.as_bytes(),
            received_at: OffsetDateTime::now_utc(),
        },
    )
    .unwrap()
    else {
        panic!("expected an enqueue")
    };
    let raw = community_aws::sqs::SqsQueue::new(
        stack.clients.sqs.clone(),
        stack.reference("RawEventsQueue").unwrap(),
    );
    community_aws::ports::MessageQueue::send(
        &raw,
        &community_aws::ports::OutgoingMessage {
            group_id: queued.group_id,
            deduplication_id: "after-the-window".into(),
            body: queued.body,
            attributes: BTreeMap::new(),
        },
    )
    .await
    .unwrap();
    stack.drain(SETTLE).await.unwrap();
    let stored = reader(&stack)
        .by_type(
            EventType::MessagePosted.as_str(),
            10,
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].actor.platform_user_id, "U1");
}

#[tokio::test]
async fn a_secret_in_secrets_manager_with_two_active_values_verifies_either() {
    let sdk = sdk().await;
    let clients = community_aws::Clients::from_config(&sdk);
    let created = clients
        .secretsmanager
        .create_secret()
        .name(unique("slack-signing"))
        .secret_string("retiring-secret\nnew-secret\n")
        .send()
        .await
        .unwrap();
    let arn = created.arn.unwrap();
    let stack = stack_with(
        "secretsmanager",
        BTreeMap::from([("SlackSigningSecretParam".to_owned(), arn)]),
    )
    .await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let body = r#"{"type":"event_callback","team_id":"T1","event_id":"EvSM","event":{"type":"member_joined_channel","user":"U9","channel":"C1","event_ts":"1795427400.000100"}}"#;
    for (secret, expected) in [
        ("retiring-secret", 202),
        ("new-secret", 202),
        (devstack::secrets::DEV_SLACK_SIGNING_SECRET, 401),
    ] {
        let ts = now.to_string();
        let mut request = slack_request(body, now);
        request.headers.insert(
            "x-slack-signature",
            platforms::slack::sign(secret, &ts, body.as_bytes())
                .unwrap()
                .parse()
                .unwrap(),
        );
        assert_eq!(
            stack.ingest.handle(request).await.status_code,
            expected,
            "{secret}"
        );
    }
}
