//! LinearSink against a mock of Linear's GraphQL endpoint. Error bodies and
//! headers follow Linear's documented shapes: GraphQL errors with
//! `extensions.code`, rate limits as HTTP 400 + `RATELIMITED` with
//! `X-RateLimit-Requests-*` headers (reset in epoch milliseconds).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::time::{Duration, Instant};

use common::{
    EVENT_ID, IDEMPOTENCY_ID, deadline_in, draft, http, now_epoch_ms, request_json, ticket,
};
use secrecy::SecretString;
use serde_json::json;
use trackers::{LinearConfig, LinearSink, SinkError, TicketSink, Tracker};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const API_KEY: &str = "lin_api_TESTKEY";
const ISSUE_ID: &str = "5b1f6a0e-1c2d-4e3f-8a9b-0c1d2e3f4a5b";

fn sink(server: &MockServer) -> LinearSink {
    let mut config = LinearConfig::new(SecretString::from(API_KEY), "team-7");
    config.api_url = format!("{}/graphql", server.uri());
    LinearSink::new(http(), config)
}

fn issue_created() -> serde_json::Value {
    json!({ "data": { "issueCreate": { "success": true, "issue": {
        "id": IDEMPOTENCY_ID, "identifier": "COMM-142",
        "url": "https://linear.app/example/issue/COMM-142/login-crashes-on-android-15"
    } } } })
}

fn issue_found(id: &str) -> serde_json::Value {
    json!({ "data": { "issue": {
        "id": id, "identifier": "COMM-142",
        "url": "https://linear.app/example/issue/COMM-142/login-crashes-on-android-15"
    } } })
}

fn rate_limited_body() -> serde_json::Value {
    json!({ "errors": [{
        "message": "Rate limit exceeded",
        "extensions": { "code": "RATELIMITED", "type": "ratelimited",
                        "userPresentableMessage": "Rate limit exceeded. Please try again later." }
    }] })
}

fn rate_limited(reset_in_ms: u128) -> ResponseTemplate {
    let reset = now_epoch_ms() + reset_in_ms;
    ResponseTemplate::new(400)
        .insert_header("X-RateLimit-Requests-Limit", "2500")
        .insert_header("X-RateLimit-Requests-Remaining", "0")
        .insert_header("X-RateLimit-Requests-Reset", reset.to_string().as_str())
        .set_body_json(rate_limited_body())
}

#[tokio::test]
async fn create_sends_the_idempotency_id_as_the_issue_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        // A personal API key goes as is, without `Bearer`.
        .and(header("authorization", API_KEY))
        .and(body_string_contains("issueCreate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue_created()))
        .expect(1)
        .mount(&server)
        .await;

    let ticket = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(3)))
        .await
        .unwrap();

    assert_eq!(ticket.tracker, Tracker::Linear);
    assert_eq!(ticket.id, IDEMPOTENCY_ID);
    assert_eq!(ticket.key, "COMM-142");
    assert!(
        ticket
            .url
            .ends_with("/COMM-142/login-crashes-on-android-15")
    );
    let sent = request_json(&server, 0).await;
    let input = &sent["variables"]["input"];
    assert_eq!(input["id"], IDEMPOTENCY_ID);
    assert_eq!(input["teamId"], "team-7");
    assert_eq!(input["title"], "Login crashes on Android 15");
    let description = input["description"].as_str().unwrap();
    assert!(description.starts_with("Source: [the thread]"));
    assert!(description.ends_with(&format!("`community-event:{EVENT_ID}`")));
    assert!(input.get("labelIds").is_none());
    assert!(
        sent["query"]
            .as_str()
            .unwrap()
            .contains("issueCreate(input: $input)")
    );
}

#[tokio::test]
async fn ratelimited_graphql_error_waits_for_the_millisecond_reset_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(rate_limited(400))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue_created()))
        .expect(1)
        .mount(&server)
        .await;

    let started = Instant::now();
    let ticket = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(3)))
        .await
        .unwrap();

    assert_eq!(ticket.key, "COMM-142");
    // Backoff alone waits at most 200 ms; the reset header asked for ~400.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn ratelimited_past_the_deadline_gives_up_at_once_with_the_hint() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(rate_limited(10_000))
        .expect(1)
        .mount(&server)
        .await;

    let started = Instant::now();
    let error = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(2)))
        .await
        .unwrap_err();

    let SinkError::RateLimited {
        retry_after,
        tracker,
        ..
    } = &error
    else {
        panic!("expected RateLimited, got {error:?}");
    };
    assert_eq!(*tracker, "linear");
    let retry_after = retry_after.unwrap();
    assert!(
        retry_after > Duration::from_secs(9) && retry_after <= Duration::from_secs(10),
        "{retry_after:?}"
    );
    assert!(error.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "it must not sleep first"
    );
}

#[tokio::test]
async fn http_429_with_retry_after_is_retried_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue_created()))
        .expect(1)
        .mount(&server)
        .await;

    let started = Instant::now();
    let ticket = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(4)))
        .await
        .unwrap();

    assert_eq!(ticket.id, IDEMPOTENCY_ID);
    assert!(started.elapsed() >= Duration::from_millis(950));
}

#[tokio::test]
async fn duplicate_id_on_create_returns_the_issue_the_lost_attempt_made() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("issueCreate"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "errors": [{
            "message": "Entity already exists",
            "path": ["issueCreate"],
            "extensions": { "code": "INPUT_ERROR", "type": "invalid input", "userError": true,
                            "userPresentableMessage": "An issue with this identifier already exists." }
        }], "data": null })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("TicketLookup"))
        .and(body_string_contains(IDEMPOTENCY_ID))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue_found(IDEMPOTENCY_ID)))
        .expect(1)
        .mount(&server)
        .await;

    let ticket = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(3)))
        .await
        .unwrap();

    assert_eq!(ticket.id, IDEMPOTENCY_ID);
    assert_eq!(ticket.key, "COMM-142");
}

#[tokio::test]
async fn validation_error_without_an_existing_issue_is_rejected() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("issueCreate"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({ "errors": [{
            "message": "Argument Validation Error",
            "extensions": { "code": "INPUT_ERROR", "type": "invalid input",
                            "userPresentableMessage": "teamId must be a UUID." }
        }] })),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("TicketLookup"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "errors": [{
            "message": "Entity not found: Issue",
            "extensions": { "code": "INPUT_ERROR", "type": "invalid input",
                            "userPresentableMessage": "Could not find referenced Issue." }
        }], "data": null })),
        )
        .expect(1)
        .mount(&server)
        .await;

    let error = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(3)))
        .await
        .unwrap_err();

    assert_eq!(
        error,
        SinkError::Rejected {
            tracker: "linear",
            status: 400,
            detail: "teamId must be a UUID.".to_owned()
        }
    );
}

#[tokio::test]
async fn unauthorized_is_rejected_after_exactly_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "errors": [{
            "message": "Authentication required, not authenticated",
            "extensions": { "code": "AUTHENTICATION_ERROR", "type": "authentication error",
                            "userPresentableMessage": "You need to authenticate to access this operation." }
        }] })))
        .expect(1)
        .mount(&server)
        .await;

    let error = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(3)))
        .await
        .unwrap_err();

    assert!(
        matches!(error, SinkError::Rejected { status: 401, .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert!(!error.to_string().contains(API_KEY));
}

#[tokio::test]
async fn server_errors_until_the_deadline_end_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(500).set_body_string("<html>oops</html>"))
        .mount(&server)
        .await;

    let started = Instant::now();
    let error = sink(&server)
        .create(&draft(), deadline_in(Duration::from_millis(1500)))
        .await
        .unwrap_err();

    assert!(matches!(error, SinkError::Unavailable { .. }), "{error:?}");
    assert!(
        !error.to_string().contains("oops"),
        "bodies stay out: {error}"
    );
    // Idempotent thanks to the issue id, so it was retried.
    let attempts = server.received_requests().await.unwrap().len();
    assert!(attempts >= 2, "attempts: {attempts}");
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn find_after_a_lost_create_returns_the_ticket() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("TicketLookup"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue_found(IDEMPOTENCY_ID)))
        .expect(1)
        .mount(&server)
        .await;

    let found = sink(&server)
        .find(
            &draft(),
            time::OffsetDateTime::now_utc(),
            deadline_in(Duration::from_secs(3)),
        )
        .await
        .unwrap()
        .unwrap();

    assert_eq!(found.id, IDEMPOTENCY_ID);
    assert_eq!(
        request_json(&server, 0).await["variables"]["id"],
        IDEMPOTENCY_ID
    );
}

#[tokio::test]
async fn find_without_a_ticket_is_none() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "errors": [{
            "message": "Entity not found: Issue",
            "extensions": { "code": "INPUT_ERROR", "type": "invalid input",
                            "userPresentableMessage": "Could not find referenced Issue." }
        }], "data": null })),
        )
        .expect(1)
        .mount(&server)
        .await;

    let found = sink(&server)
        .find(
            &draft(),
            time::OffsetDateTime::now_utc(),
            deadline_in(Duration::from_secs(3)),
        )
        .await
        .unwrap();

    assert_eq!(found, None);
}

fn comments_page(bodies: &[&str], next: Option<&str>) -> ResponseTemplate {
    let nodes: Vec<_> = bodies.iter().map(|body| json!({ "body": body })).collect();
    ResponseTemplate::new(200).set_body_json(json!({ "data": { "issue": { "comments": {
        "nodes": nodes,
        "pageInfo": { "hasNextPage": next.is_some(), "endCursor": next }
    } } } }))
}

#[tokio::test]
async fn has_comment_pages_until_it_finds_the_marker() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("\"after\":null"))
        .respond_with(comments_page(
            &["first!", "+1 from Bo\n\n`plus1:m6`"],
            Some("cursor-2"),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("cursor-2"))
        .respond_with(comments_page(&["+1 from Ana\n\n`plus1:m7`"], None))
        .expect(1)
        .mount(&server)
        .await;

    let linear = sink(&server);
    let issue = ticket(Tracker::Linear, ISSUE_ID, "COMM-142");
    let found = linear
        .has_comment(&issue, "plus1:m7", deadline_in(Duration::from_secs(3)))
        .await
        .unwrap();

    assert!(found);
    assert_eq!(request_json(&server, 0).await["variables"]["id"], ISSUE_ID);
}

#[tokio::test]
async fn has_comment_is_false_when_no_comment_carries_the_marker() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(comments_page(&["first!", "+1 from Bo\n\n`plus1:m6`"], None))
        .expect(1)
        .mount(&server)
        .await;

    let found = sink(&server)
        .has_comment(
            &ticket(Tracker::Linear, ISSUE_ID, "COMM-142"),
            "plus1:m7",
            deadline_in(Duration::from_secs(3)),
        )
        .await
        .unwrap();

    assert!(!found);
}

#[tokio::test]
async fn comment_carries_the_marker_and_a_stable_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("commentCreate"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "data": { "commentCreate": {
            "success": true, "comment": { "id": "7c6b5a49-3827-4165-9504-a3b2c1d0e9f8" } } } })),
        )
        .expect(2)
        .mount(&server)
        .await;

    let linear = sink(&server);
    let issue = ticket(Tracker::Linear, ISSUE_ID, "COMM-142");
    for _ in 0..2 {
        linear
            .comment(
                &issue,
                "plus1:m7",
                "+1 from Ana",
                deadline_in(Duration::from_secs(3)),
            )
            .await
            .unwrap();
    }

    let first = request_json(&server, 0).await;
    let second = request_json(&server, 1).await;
    let input = &first["variables"]["input"];
    assert_eq!(input["issueId"], ISSUE_ID);
    assert_eq!(input["body"], "+1 from Ana\n\n`plus1:m7`");
    assert!(uuid::Uuid::parse_str(input["id"].as_str().unwrap()).is_ok());
    assert_eq!(
        input["id"], second["variables"]["input"]["id"],
        "same +1, same comment id"
    );
}

#[tokio::test]
async fn a_colliding_comment_id_whose_comment_exists_is_success() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("commentCreate"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({ "errors": [{
            "message": "Entity already exists",
            "extensions": { "code": "INPUT_ERROR", "type": "invalid input" }
        }] })),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("TicketComments"))
        .respond_with(comments_page(&["+1 from Ana\n\n`plus1:m7`"], None))
        .expect(1)
        .mount(&server)
        .await;

    sink(&server)
        .comment(
            &ticket(Tracker::Linear, ISSUE_ID, "COMM-142"),
            "plus1:m7",
            "+1 from Ana",
            deadline_in(Duration::from_secs(3)),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_ticket_from_another_tracker_is_refused_without_a_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;

    let error = sink(&server)
        .has_comment(
            &ticket(Tracker::Github, "o/r#1", "#1"),
            "plus1:m7",
            deadline_in(Duration::from_secs(3)),
        )
        .await
        .unwrap_err();

    assert!(
        matches!(error, SinkError::Rejected { status: 0, .. }),
        "{error:?}"
    );
}
