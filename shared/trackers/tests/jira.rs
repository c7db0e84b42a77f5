//! JiraSink against a mock of Jira Cloud REST v3: `POST /rest/api/3/issue`
//! answering `{id, key, self}`, `POST /rest/api/3/search/jql` answering
//! `{issues, isLast}`, comments as ADF, errors as
//! `{errorMessages, errors}`, 429 with `Retry-After`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::{EVENT_ID, deadline_in, draft, http, request_json, ticket};
use secrecy::SecretString;
use serde_json::json;
use trackers::{JiraConfig, JiraSink, SinkError, TicketSink, Tracker};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const EMAIL: &str = "bot@example.org";
const TOKEN: &str = "ATATT3xTESTTOKEN";
const LABEL: &str = "ce-6d1c5e0a0b1f4c8e9a573f2e8c4d1b90";

fn sink(server: &MockServer) -> JiraSink {
    JiraSink::new(
        http(),
        JiraConfig {
            base_url: format!("{}/", server.uri()),
            email: EMAIL.to_owned(),
            api_token: SecretString::from(TOKEN),
            project_key: "COMM".to_owned(),
            issue_type: "Bug".to_owned(),
        },
    )
}

fn basic_auth() -> String {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}"));
    format!("Basic {credentials}")
}

fn created(server: &MockServer) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "id": "10042", "key": "COMM-17",
        "self": format!("{}/rest/api/3/issue/10042", server.uri())
    }))
}

fn search_answer(server: &MockServer, found: bool) -> ResponseTemplate {
    let issues = if found {
        json!([{ "id": "10042", "key": "COMM-17",
                 "self": format!("{}/rest/api/3/issue/10042", server.uri()),
                 "fields": { "key": "COMM-17" } }])
    } else {
        json!([])
    };
    ResponseTemplate::new(200).set_body_json(json!({ "issues": issues, "isLast": true }))
}

#[tokio::test]
async fn create_sends_adf_labels_and_basic_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(created(&server))
        .expect(1)
        .mount(&server)
        .await;

    let ticket = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(3)))
        .await
        .unwrap();

    assert_eq!(ticket.tracker, Tracker::Jira);
    assert_eq!(ticket.id, "10042");
    assert_eq!(ticket.key, "COMM-17");
    assert_eq!(ticket.url, format!("{}/browse/COMM-17", server.uri()));

    let fields = request_json(&server, 0).await["fields"].clone();
    assert_eq!(fields["project"]["key"], "COMM");
    assert_eq!(fields["issuetype"]["name"], "Bug");
    assert_eq!(fields["summary"], "Login crashes on Android 15");
    assert_eq!(
        fields["labels"],
        json!(["community", "needs-triage", LABEL])
    );
    let description = &fields["description"];
    assert_eq!(description["type"], "doc");
    assert_eq!(description["version"], 1);
    let blocks = description["content"].as_array().unwrap();
    let first = &blocks[0]["content"];
    assert_eq!(first[0], json!({ "type": "text", "text": "Source: " }));
    assert_eq!(first[1]["text"], "the thread");
    assert_eq!(
        first[1]["marks"],
        json!([{ "type": "link", "attrs": { "href": "https://discord.com/channels/1/2/3" } }])
    );
    assert_eq!(blocks[1]["type"], "bulletList");
    let marker = blocks.last().unwrap();
    assert_eq!(
        marker["content"][0]["text"],
        format!("community-event:{EVENT_ID}")
    );
}

#[tokio::test]
async fn too_many_requests_with_retry_after_one_second_is_retried_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .insert_header("RateLimit-Reason", "jira-burst-based")
                .set_body_json(json!({ "errorMessages": ["Rate limit exceeded."], "errors": {} })),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(created(&server))
        .expect(1)
        .mount(&server)
        .await;

    let started = Instant::now();
    let ticket = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(4)))
        .await
        .unwrap();

    assert_eq!(ticket.key, "COMM-17");
    assert!(started.elapsed() >= Duration::from_millis(950));
}

#[tokio::test]
async fn retry_after_beyond_the_deadline_is_rate_limited_without_a_second_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "30")
                .set_body_json(json!({ "errorMessages": ["Rate limit exceeded."], "errors": {} })),
        )
        .expect(1)
        .mount(&server)
        .await;

    let error = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(2)))
        .await
        .unwrap_err();

    assert_eq!(
        error,
        SinkError::RateLimited {
            tracker: "jira",
            retry_after: Some(Duration::from_secs(30)),
            detail: "Rate limit exceeded.".to_owned()
        }
    );
}

#[tokio::test]
async fn service_unavailable_twice_then_created() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(created(&server))
        .expect(1)
        .mount(&server)
        .await;

    let ticket = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(3)))
        .await
        .unwrap();

    assert_eq!(ticket.id, "10042");
}

#[tokio::test]
async fn an_ambiguous_500_is_not_resent_and_finds_nothing_yet() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(search_answer(&server, false))
        .expect(1)
        .mount(&server)
        .await;

    let error = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(2)))
        .await
        .unwrap_err();

    assert!(matches!(error, SinkError::Unavailable { .. }), "{error:?}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn an_ambiguous_502_whose_issue_exists_returns_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(search_answer(&server, true))
        .expect(1)
        .mount(&server)
        .await;

    let ticket = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(2)))
        .await
        .unwrap();

    assert_eq!(ticket.key, "COMM-17");
}

#[tokio::test]
async fn server_errors_on_reads_are_retried_until_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;

    let error = sink(&server)
        .find(
            &draft(),
            time::OffsetDateTime::now_utc(),
            deadline_in(Duration::from_millis(1500)),
        )
        .await
        .unwrap_err();

    assert!(matches!(error, SinkError::Unavailable { .. }), "{error:?}");
    assert!(server.received_requests().await.unwrap().len() >= 2);
}

async fn rejected_once(status: u16, body: serde_json::Value) -> SinkError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    // A rejection is certain, so nothing is reconciled either.
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(search_answer(&server, false))
        .expect(0)
        .mount(&server)
        .await;
    sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(3)))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn client_errors_are_rejected_after_exactly_one_request() {
    let error = rejected_once(
        400,
        json!({ "errorMessages": [], "errors": { "issuetype": "Specify a valid issue type" } }),
    )
    .await;
    assert_eq!(
        error,
        SinkError::Rejected {
            tracker: "jira",
            status: 400,
            detail: "issuetype: Specify a valid issue type".to_owned()
        }
    );

    let error = rejected_once(
        401,
        json!({ "errorMessages": ["Client must be authenticated to access this resource."] }),
    )
    .await;
    assert!(
        matches!(error, SinkError::Rejected { status: 401, .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains(TOKEN));

    let error = rejected_once(
        404,
        json!({ "errorMessages": ["Project COMM does not exist."], "errors": {} }),
    )
    .await;
    assert!(
        matches!(error, SinkError::Rejected { status: 404, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn find_searches_the_event_label_with_jql() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .and(body_partial_json(json!({
            "jql": format!("project = \"COMM\" AND labels = \"{LABEL}\""),
            "maxResults": 1
        })))
        .respond_with(search_answer(&server, true))
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

    assert_eq!(found.id, "10042");
    assert_eq!(found.url, format!("{}/browse/COMM-17", server.uri()));
}

#[tokio::test]
async fn find_without_a_match_is_none() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(search_answer(&server, false))
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

fn adf_comment(id: &str, text: &str, marker: Option<&str>) -> serde_json::Value {
    let mut content =
        vec![json!({ "type": "paragraph", "content": [{ "type": "text", "text": text }] })];
    if let Some(marker) = marker {
        content.push(json!({ "type": "paragraph", "content": [
            { "type": "text", "text": marker, "marks": [{ "type": "code" }] }
        ] }));
    }
    json!({
        "id": id,
        "author": { "accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Community Bot" },
        "body": { "type": "doc", "version": 1, "content": content },
        "created": "2026-03-01T11:53:20.000+0000",
        "updated": "2026-03-01T11:53:20.000+0000"
    })
}

#[tokio::test]
async fn has_comment_pages_through_comments_for_the_marker() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/10042/comment"))
        .and(query_param("startAt", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "startAt": 0, "maxResults": 2, "total": 3,
            "comments": [adf_comment("1", "first!", None), adf_comment("2", "+1 from Bo", Some("plus1:m6"))]
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/10042/comment"))
        .and(query_param("startAt", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "startAt": 2, "maxResults": 2, "total": 3,
            "comments": [adf_comment("3", "+1 from Ana", Some("plus1:m7"))]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let jira = sink(&server);
    let issue = ticket(Tracker::Jira, "10042", "COMM-17");
    assert!(
        jira.has_comment(&issue, "plus1:m7", deadline_in(Duration::from_secs(3)))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn has_comment_is_false_without_the_marker() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/10042/comment"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "startAt": 0, "maxResults": 100, "total": 1,
            "comments": [adf_comment("2", "+1 from Bo", Some("plus1:m6"))]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let issue = ticket(Tracker::Jira, "10042", "COMM-17");
    assert!(
        !sink(&server)
            .has_comment(&issue, "plus1:m7", deadline_in(Duration::from_secs(3)))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn comment_posts_adf_with_the_marker() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue/10042/comment"))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(ResponseTemplate::new(201).set_body_json(adf_comment(
            "4",
            "+1 from Ana",
            Some("plus1:m7"),
        )))
        .expect(1)
        .mount(&server)
        .await;

    sink(&server)
        .comment(
            &ticket(Tracker::Jira, "10042", "COMM-17"),
            "plus1:m7",
            "+1 from Ana",
            deadline_in(Duration::from_secs(3)),
        )
        .await
        .unwrap();

    let body = &request_json(&server, 0).await["body"];
    assert_eq!(body["type"], "doc");
    assert_eq!(body["content"][0]["content"][0]["text"], "+1 from Ana");
    assert_eq!(
        body["content"][1]["content"][0],
        json!({ "type": "text", "text": "plus1:m7", "marks": [{ "type": "code" }] })
    );
}

#[tokio::test]
async fn an_ambiguous_comment_failure_checks_before_reporting() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue/10042/comment"))
        .respond_with(ResponseTemplate::new(504))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/10042/comment"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "startAt": 0, "maxResults": 100, "total": 1,
            "comments": [adf_comment("4", "+1 from Ana", Some("plus1:m7"))]
        })))
        .expect(1)
        .mount(&server)
        .await;

    sink(&server)
        .comment(
            &ticket(Tracker::Jira, "10042", "COMM-17"),
            "plus1:m7",
            "+1 from Ana",
            deadline_in(Duration::from_secs(3)),
        )
        .await
        .unwrap();
}
