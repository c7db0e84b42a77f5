//! The stand-ins against the real clients: the Linear sink from `trackers`
//! (create, find, comment, has_comment, and its retry loop meeting the
//! injected faults) and plain HTTP for Slack's incoming webhooks.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::time::Duration;

use devstack::standins::{DEV_TEAM_ID, Faults, StandIns};
use secrecy::SecretString;
use serde_json::{Value, json};
use trackers::http::RetryPolicy;
use trackers::{LinearConfig, LinearSink, SinkError, TicketDraft, TicketRef, TicketSink, Tracker};

const API_KEY: &str = "lin_api_devstack";

fn sink(standins: &StandIns) -> LinearSink {
    sink_with_key(standins, API_KEY)
}

fn sink_with_key(standins: &StandIns, key: &str) -> LinearSink {
    let mut config = LinearConfig::new(SecretString::from(key), DEV_TEAM_ID);
    config.api_url = standins.linear_url();
    LinearSink::new(reqwest::Client::new(), config)
}

/// A sink that sends each request once: what a lost answer leaves behind
/// is then visible to the test instead of being repaired by a replay.
fn single_shot_sink(standins: &StandIns) -> LinearSink {
    sink(standins).with_retry_policy(RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    })
}

fn draft(event: &str) -> TicketDraft {
    TicketDraft {
        event_id: event.to_owned(),
        idempotency_id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, event.as_bytes()),
        title: format!("Login crashes ({event})"),
        body: "Source: [the thread](https://discord.com/channels/1/2/3)\nReported by: ana"
            .to_owned(),
        labels: vec!["community".to_owned()],
    }
}

fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(3)
}

fn since() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// One GraphQL request straight to the stand-in: (status, headers, body).
async fn graphql(
    standins: &StandIns,
    authorization: Option<&str>,
    payload: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new()
        .post(standins.linear_url())
        .json(&payload);
    if let Some(key) = authorization {
        request = request.header("authorization", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap();
    (status, headers, body)
}

async fn slack_post(standins: &StandIns, channel: &str, payload: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(standins.slack_webhook_url(channel))
        .json(&payload)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_created_ticket_is_found_again_by_its_idempotency_id() {
    let standins = StandIns::start().await.unwrap();
    let linear = sink(&standins);
    let draft = draft("e-create");

    let ticket = linear.create(&draft, deadline()).await.unwrap();
    let found = linear.find(&draft, since(), deadline()).await.unwrap();

    assert_eq!(ticket.tracker, Tracker::Linear);
    assert_eq!(ticket.id, draft.idempotency_id.hyphenated().to_string());
    assert_eq!(ticket.key, "COM-1");
    assert_eq!(ticket.url, "https://linear.app/dev/issue/COM-1");
    assert_eq!(found, Some(ticket.clone()));
    let issues = standins.issues();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].id, ticket.id);
    assert_eq!(issues[0].identifier, "COM-1");
    assert_eq!(issues[0].title, draft.title);
    assert_eq!(issues[0].team_id, DEV_TEAM_ID);
    assert!(
        issues[0].description.contains("`community-event:e-create`"),
        "the sink's marker is kept: {}",
        issues[0].description
    );
}

#[tokio::test]
async fn a_second_ticket_gets_the_next_identifier_and_an_unknown_one_is_not_found() {
    let standins = StandIns::start().await.unwrap();
    let linear = sink(&standins);
    linear.create(&draft("e-1"), deadline()).await.unwrap();

    let second = linear.create(&draft("e-2"), deadline()).await.unwrap();
    let missing = linear
        .find(&draft("never-created"), since(), deadline())
        .await
        .unwrap();

    assert_eq!(second.key, "COM-2");
    assert_eq!(missing, None);
    assert_eq!(standins.issues().len(), 2);
}

#[tokio::test]
async fn a_lost_create_answer_is_found_and_a_retried_create_makes_no_second_issue() {
    let standins = StandIns::start().await.unwrap();
    let draft = draft("e-lost");
    standins.set_linear_faults(Faults {
        lose_next_create_answer: true,
        ..Faults::default()
    });

    let lost = single_shot_sink(&standins)
        .create(&draft, deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(lost, SinkError::Unavailable { .. }),
        "a 502 is an unclear answer: {lost:?}"
    );
    assert_eq!(standins.issues().len(), 1, "the create was performed");

    let linear = sink(&standins);
    let found = linear.find(&draft, since(), deadline()).await.unwrap();
    let retried = linear.create(&draft, deadline()).await.unwrap();

    let found = found.expect("the lost attempt's issue");
    assert_eq!(found.id, draft.idempotency_id.hyphenated().to_string());
    assert_eq!(retried, found);
    assert_eq!(standins.issues().len(), 1, "no second issue");
}

#[tokio::test]
async fn the_sinks_replay_after_a_lost_answer_collides_and_returns_the_first_issue() {
    let standins = StandIns::start().await.unwrap();
    standins.set_linear_faults(Faults {
        lose_next_create_answer: true,
        ..Faults::default()
    });

    let ticket = sink(&standins)
        .create(&draft("e-replay"), deadline())
        .await
        .unwrap();

    assert_eq!(ticket.key, "COM-1");
    assert_eq!(standins.issues().len(), 1);
    // The lost create, its replay (a duplicate id), the lookup.
    assert_eq!(standins.requests(), 3);
}

#[tokio::test]
async fn the_same_marker_twice_is_one_comment() {
    let standins = StandIns::start().await.unwrap();
    let linear = sink(&standins);
    let ticket = linear.create(&draft("e-plus1"), deadline()).await.unwrap();

    for _ in 0..2 {
        linear
            .comment(&ticket, "plus1:m7", "+1 from Ana", deadline())
            .await
            .unwrap();
    }

    assert_eq!(
        standins.issues()[0].comments,
        ["+1 from Ana\n\n`plus1:m7`"],
        "the second commentCreate collided on the comment id"
    );
    assert!(
        linear
            .has_comment(&ticket, "plus1:m7", deadline())
            .await
            .unwrap()
    );
    assert!(
        !linear
            .has_comment(&ticket, "plus1:m8", deadline())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn has_comment_follows_the_cursor_past_the_first_page() {
    let standins = StandIns::start().await.unwrap();
    let linear = sink(&standins);
    let ticket = linear.create(&draft("e-many"), deadline()).await.unwrap();
    // The sink reads 100 comments a page.
    for member in 0..101 {
        linear
            .comment(&ticket, &format!("plus1:m{member}"), "+1", deadline())
            .await
            .unwrap();
    }
    let before = standins.requests();

    let found = linear
        .has_comment(&ticket, "plus1:m100", deadline())
        .await
        .unwrap();

    assert!(found);
    assert_eq!(standins.requests() - before, 2, "two pages");
    assert_eq!(standins.issues()[0].comments.len(), 101);
}

#[tokio::test]
async fn comments_paginate_at_first_with_cursors() {
    let standins = StandIns::start().await.unwrap();
    let linear = sink(&standins);
    let ticket = linear.create(&draft("e-pages"), deadline()).await.unwrap();
    for member in 0..3 {
        linear
            .comment(&ticket, &format!("m{member}"), "+1", deadline())
            .await
            .unwrap();
    }
    let page = |first: Option<u32>, after: Option<String>| {
        json!({
            "query": "query Page($id: String!, $first: Int, $after: String) { \
                      issue(id: $id) { comments(first: $first, after: $after) { \
                      nodes { body } pageInfo { hasNextPage endCursor } } } }",
            "variables": { "id": ticket.id, "first": first, "after": after },
        })
    };

    let (status, _, first) = graphql(&standins, Some(API_KEY), page(Some(2), None)).await;
    assert_eq!(status, 200, "{first}");
    let comments = &first["data"]["issue"]["comments"];
    assert_eq!(comments["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(comments["nodes"][0]["body"], "+1\n\n`m0`");
    assert_eq!(comments["pageInfo"]["hasNextPage"], true);
    let cursor = comments["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();

    let (_, _, second) = graphql(&standins, Some(API_KEY), page(Some(2), Some(cursor))).await;
    let comments = &second["data"]["issue"]["comments"];
    assert_eq!(comments["nodes"], json!([{ "body": "+1\n\n`m2`" }]));
    assert_eq!(comments["pageInfo"]["hasNextPage"], false);

    // Without `first`, a page is 50: all three.
    let (_, _, all) = graphql(&standins, Some(API_KEY), page(None, None)).await;
    assert_eq!(
        all["data"]["issue"]["comments"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        all["data"]["issue"]["comments"]["pageInfo"]["hasNextPage"],
        false
    );
}

#[tokio::test]
async fn a_comment_on_an_unknown_issue_is_rejected() {
    let standins = StandIns::start().await.unwrap();
    let nowhere = TicketRef {
        tracker: Tracker::Linear,
        id: uuid::Uuid::new_v4().hyphenated().to_string(),
        key: "COM-99".to_owned(),
        url: String::new(),
    };

    let error = sink(&standins)
        .comment(&nowhere, "plus1:m7", "+1", deadline())
        .await
        .unwrap_err();

    assert!(
        matches!(&error, SinkError::Rejected { detail, .. } if detail.contains("Could not find referenced Issue")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_and_the_create_succeeds() {
    let standins = StandIns::start().await.unwrap();
    standins.set_linear_faults(Faults {
        rate_limit_next: 1,
        ..Faults::default()
    });

    let ticket = sink(&standins)
        .create(&draft("e-throttled"), deadline())
        .await
        .unwrap();

    assert_eq!(ticket.key, "COM-1");
    assert_eq!(standins.requests(), 2, "throttled once, then created");
    assert_eq!(standins.issues().len(), 1);
}

#[tokio::test]
async fn a_rate_limit_answer_has_linears_shape() {
    let standins = StandIns::start().await.unwrap();
    standins.set_linear_faults(Faults {
        rate_limit_next: 1,
        ..Faults::default()
    });
    let lookup = json!({
        "query": "query TicketLookup($id: String!) { issue(id: $id) { id } }",
        "variables": { "id": "x" },
    });

    let (status, headers, body) = graphql(&standins, Some(API_KEY), lookup).await;

    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATELIMITED");
    assert_eq!(headers["x-ratelimit-requests-remaining"], "0");
    let reset: u128 = headers["x-ratelimit-requests-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert!(
        reset > now_ms && reset <= now_ms + 1000,
        "epoch ms, just ahead"
    );
}

#[tokio::test]
async fn unavailable_answers_are_retried() {
    let standins = StandIns::start().await.unwrap();
    standins.set_linear_faults(Faults {
        unavailable_next: 2,
        ..Faults::default()
    });

    let ticket = sink(&standins)
        .create(&draft("e-503"), deadline())
        .await
        .unwrap();

    assert_eq!(ticket.key, "COM-1");
    assert_eq!(standins.requests(), 3);
}

#[tokio::test]
async fn without_credentials_linear_answers_an_authentication_error() {
    let standins = StandIns::start().await.unwrap();
    let lookup = json!({
        "query": "query TicketLookup($id: String!) { issue(id: $id) { id } }",
        "variables": { "id": "x" },
    });

    let (status, _, body) = graphql(&standins, None, lookup).await;
    let error = sink_with_key(&standins, "")
        .create(&draft("e-anonymous"), deadline())
        .await
        .unwrap_err();

    assert_eq!(status, 401);
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "AUTHENTICATION_ERROR"
    );
    assert!(
        matches!(error, SinkError::Rejected { status: 401, .. }),
        "{error:?}"
    );
    assert!(standins.issues().is_empty());
}

#[tokio::test]
async fn the_operation_name_picks_the_operation_and_unknown_fields_are_refused() {
    let standins = StandIns::start().await.unwrap();
    let document = "query Look($id: String!) { issue(id: $id) { id } } \
                    mutation Make($input: IssueCreateInput!) { \
                    made: issueCreate(input: $input) { success issue { identifier } } }";
    let input = json!({ "teamId": DEV_TEAM_ID, "title": "By hand" });

    let (status, _, made) = graphql(
        &standins,
        Some(API_KEY),
        json!({ "query": document, "operationName": "Make", "variables": { "input": input } }),
    )
    .await;
    let (bad_status, _, bad) = graphql(
        &standins,
        Some(API_KEY),
        json!({ "query": "{ issue(id: \"COM-1\") { id priorityLabel } }" }),
    )
    .await;

    assert_eq!(status, 200, "{made}");
    assert_eq!(
        made,
        json!({ "data": { "made": { "success": true, "issue": { "identifier": "COM-1" } } } })
    );
    assert_eq!(bad_status, 400);
    assert_eq!(
        bad["errors"][0]["message"],
        "Cannot query field \"priorityLabel\" on type \"Issue\"."
    );
}

#[tokio::test]
async fn a_slack_post_is_recorded_per_channel() {
    let standins = StandIns::start().await.unwrap();

    let response = slack_post(&standins, "review", json!({ "text": "New report: COM-1" })).await;

    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(response.text().await.unwrap(), "ok");
    assert_eq!(standins.slack_messages("review"), ["New report: COM-1"]);
    assert!(standins.slack_messages("alerts").is_empty());
}

#[tokio::test]
async fn a_slack_post_without_text_is_refused() {
    let standins = StandIns::start().await.unwrap();

    let missing = slack_post(&standins, "review", json!({ "blocks": [] })).await;
    let empty = slack_post(&standins, "review", json!({ "text": "" })).await;

    for response in [missing, empty] {
        assert_eq!(response.status().as_u16(), 400);
        assert_eq!(response.text().await.unwrap(), "no_text");
    }
    assert!(standins.slack_messages("review").is_empty());
}

#[tokio::test]
async fn a_slack_rate_limit_answers_429_then_the_post_goes_through() {
    let standins = StandIns::start().await.unwrap();
    standins.set_slack_faults(1);

    let throttled = slack_post(&standins, "alerts", json!({ "text": "spike" })).await;
    assert_eq!(throttled.status().as_u16(), 429);
    assert_eq!(throttled.headers()["retry-after"], "1");
    assert_eq!(throttled.text().await.unwrap(), "rate_limited");
    assert!(standins.slack_messages("alerts").is_empty());

    let accepted = slack_post(&standins, "alerts", json!({ "text": "spike" })).await;
    assert_eq!(accepted.status().as_u16(), 200);
    assert_eq!(accepted.text().await.unwrap(), "ok");
    assert_eq!(standins.slack_messages("alerts"), ["spike"]);
}

#[tokio::test]
async fn the_state_view_shows_issues_and_messages() {
    let standins = StandIns::start().await.unwrap();
    let linear = sink(&standins);
    let ticket = linear.create(&draft("e-view"), deadline()).await.unwrap();
    linear
        .comment(&ticket, "plus1:m1", "+1", deadline())
        .await
        .unwrap();
    slack_post(&standins, "review", json!({ "text": "hello" })).await;

    let state: Value = reqwest::get(format!("{}/_standins/state", standins.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(state["issues"][0]["identifier"], "COM-1");
    assert_eq!(state["issues"][0]["comments"], json!(["+1\n\n`plus1:m1`"]));
    assert_eq!(state["slack"]["review"], json!(["hello"]));
}
