//! GithubSink against a mock of GitHub's REST API (2022-11-28): issues and
//! comments as GitHub returns them, `Link` pagination, primary rate limits
//! as 403 + `x-ratelimit-remaining: 0`, secondary limits as 403 + message.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::time::{Duration, Instant};

use common::{EVENT_ID, deadline_in, draft, http, now_epoch_s, request_json, ticket};
use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;
use trackers::{GithubConfig, GithubSink, SinkError, TicketSink, Tracker};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_TESTTOKEN";
const ISSUES: &str = "/repos/octo-org/community/issues";

fn sink(server: &MockServer) -> GithubSink {
    let mut config = GithubConfig::new(SecretString::from(TOKEN), "octo-org", "community");
    config.api_url = server.uri();
    GithubSink::new(http(), config)
}

fn issue(number: u64, body: Option<&str>, created_at: &str) -> serde_json::Value {
    json!({
        "id": 1_000_000 + number,
        "node_id": "I_kwDOABCD",
        "url": format!("https://api.github.com/repos/octo-org/community/issues/{number}"),
        "html_url": format!("https://github.com/octo-org/community/issues/{number}"),
        "number": number,
        "state": "open",
        "title": "Login crashes on Android 15",
        "body": body,
        "user": { "login": "community-bot[bot]", "id": 41898282, "type": "Bot" },
        "labels": [{ "id": 208045946, "name": "community", "color": "f29513", "default": false }],
        "comments": 0,
        "created_at": created_at,
        "updated_at": created_at,
        "closed_at": null,
        "author_association": "NONE"
    })
}

fn marked_body() -> String {
    format!("Reported by ana\n\n<!-- community-event:{EVENT_ID} -->")
}

#[tokio::test]
async fn create_sends_marker_labels_and_api_headers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(ResponseTemplate::new(201).set_body_json(issue(
            12,
            Some(&marked_body()),
            "2026-03-01T12:00:00Z",
        )))
        .expect(1)
        .mount(&server)
        .await;

    let ticket = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(3)))
        .await
        .unwrap();

    assert_eq!(ticket.tracker, Tracker::Github);
    assert_eq!(ticket.id, "octo-org/community#12");
    assert_eq!(ticket.key, "#12");
    assert_eq!(
        ticket.url,
        "https://github.com/octo-org/community/issues/12"
    );
    let requests = server.received_requests().await.unwrap();
    let user_agent = requests[0]
        .headers
        .get("user-agent")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        user_agent.starts_with("community-events-trackers/"),
        "{user_agent}"
    );
    let sent = request_json(&server, 0).await;
    assert_eq!(sent["title"], "Login crashes on Android 15");
    assert_eq!(sent["labels"], json!(["community", "needs triage"]));
    let body = sent["body"].as_str().unwrap();
    assert!(body.starts_with("Source: [the thread](https://discord.com/channels/1/2/3)"));
    assert!(body.ends_with(&format!("\n\n<!-- community-event:{EVENT_ID} -->")));
}

#[tokio::test]
async fn too_many_requests_with_retry_after_is_retried_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1").set_body_json(json!({
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
        })))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .respond_with(ResponseTemplate::new(201).set_body_json(issue(
            12,
            Some(&marked_body()),
            "2026-03-01T12:00:00Z",
        )))
        .expect(1)
        .mount(&server)
        .await;

    let started = Instant::now();
    let ticket = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(4)))
        .await
        .unwrap();

    assert_eq!(ticket.key, "#12");
    assert!(started.elapsed() >= Duration::from_millis(950));
}

#[tokio::test]
async fn primary_limit_403_is_rate_limited_until_the_reset() {
    let server = MockServer::start().await;
    let reset = now_epoch_s() + 1800;
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-used", "5000")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .insert_header("x-ratelimit-resource", "core")
                .set_body_json(json!({
                    "message": "API rate limit exceeded for user ID 41898282.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                })),
        )
        .expect(1)
        .mount(&server)
        .await;

    let error = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(3)))
        .await
        .unwrap_err();

    let SinkError::RateLimited {
        retry_after: Some(retry_after),
        detail,
        ..
    } = &error
    else {
        panic!("expected RateLimited with a hint, got {error:?}");
    };
    assert!(
        *retry_after > Duration::from_secs(1790) && *retry_after <= Duration::from_secs(1800),
        "{retry_after:?}"
    );
    assert_eq!(detail, "API rate limit exceeded for user ID 41898282.");
}

#[tokio::test]
async fn secondary_limit_403_without_hints_waits_at_least_a_minute() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "4990")
                .insert_header("x-ratelimit-reset", (now_epoch_s() + 3000).to_string().as_str())
                .set_body_json(json!({
                    "message": "You have exceeded a secondary rate limit and have been temporarily blocked from content creation. Please retry your request again later.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
                })),
        )
        .expect(1)
        .mount(&server)
        .await;

    let error = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(3)))
        .await
        .unwrap_err();

    // The primary budget is not spent, so its reset is no hint; GitHub's
    // documented floor for secondary limits is one minute.
    assert!(
        matches!(error, SinkError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(60)),
        "{error:?}"
    );
}

#[tokio::test]
async fn service_unavailable_twice_then_created() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .respond_with(ResponseTemplate::new(201).set_body_json(issue(
            12,
            Some(&marked_body()),
            "2026-03-01T12:00:00Z",
        )))
        .expect(1)
        .mount(&server)
        .await;

    let ticket = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(3)))
        .await
        .unwrap();

    assert_eq!(ticket.id, "octo-org/community#12");
}

#[tokio::test]
async fn a_lost_create_answer_is_found_in_the_issue_list() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad gateway</html>"))
        .expect(1)
        .mount(&server)
        .await;
    let now = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("state", "all"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([issue(
            13,
            Some(&marked_body()),
            &now
        )])))
        .expect(1)
        .mount(&server)
        .await;

    let ticket = sink(&server)
        .create(&draft(), deadline_in(Duration::from_secs(3)))
        .await
        .unwrap();

    assert_eq!(ticket.id, "octo-org/community#13");
}

#[tokio::test]
async fn server_errors_on_reads_are_retried_until_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/12/comments")))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;

    let error = sink(&server)
        .has_comment(
            &ticket(Tracker::Github, "octo-org/community#12", "#12"),
            "plus1:m7",
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
        .and(path(ISSUES))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
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
        422,
        json!({ "message": "Validation Failed",
                "errors": [{ "resource": "Issue", "code": "missing_field", "field": "title" }],
                "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue" }),
    )
    .await;
    assert_eq!(
        error,
        SinkError::Rejected {
            tracker: "github",
            status: 422,
            detail: "Validation Failed; title: missing_field".to_owned()
        }
    );

    let error = rejected_once(401, json!({ "message": "Bad credentials", "documentation_url": "https://docs.github.com/rest" })).await;
    assert!(
        matches!(error, SinkError::Rejected { status: 401, .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains(TOKEN));

    let error = rejected_once(404, json!({ "message": "Not Found" })).await;
    assert!(
        matches!(error, SinkError::Rejected { status: 404, .. }),
        "{error:?}"
    );

    let error = rejected_once(
        410,
        json!({ "message": "Issues are disabled for this repo" }),
    )
    .await;
    assert!(
        matches!(error, SinkError::Rejected { status: 410, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn find_lists_recent_issues_and_matches_the_marker() {
    let server = MockServer::start().await;
    let since = datetime!(2026-03-01 12:00:00.750 UTC);
    // A pull request carrying the marker text is not our ticket.
    let mut pull = issue(14, Some(&marked_body()), "2026-03-01T12:00:03Z");
    pull["pull_request"] =
        json!({ "url": "https://api.github.com/repos/octo-org/community/pulls/14" });
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("state", "all"))
        .and(query_param("since", "2026-03-01T11:55:00Z"))
        .and(query_param("per_page", "100"))
        .and(query_param("sort", "created"))
        .and(query_param("direction", "desc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            issue(15, Some("another report"), "2026-03-01T12:00:05Z"),
            pull,
            issue(13, Some(&marked_body()), "2026-03-01T12:00:01Z"),
        ])))
        .expect(1)
        .mount(&server)
        .await;

    let found = sink(&server)
        .find(&draft(), since, deadline_in(Duration::from_secs(3)))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(found.id, "octo-org/community#13");
    assert_eq!(found.key, "#13");
}

#[tokio::test]
async fn find_follows_link_pages_and_is_none_without_the_marker() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([issue(
            3,
            None,
            "2026-03-01T11:59:00Z"
        ),])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("state", "all"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    format!(
                        "<{0}{ISSUES}?state=all&page=2>; rel=\"next\", <{0}{ISSUES}?state=all&page=2>; rel=\"last\"",
                        server.uri()
                    )
                    .as_str(),
                )
                .set_body_json(json!([issue(4, Some("no marker here"), "2026-03-01T12:00:01Z")])),
        )
        .expect(1)
        .mount(&server)
        .await;

    let found = sink(&server)
        .find(
            &draft(),
            datetime!(2026-03-01 12:00:00 UTC),
            deadline_in(Duration::from_secs(3)),
        )
        .await
        .unwrap();

    assert_eq!(found, None);
}

fn comment(id: u64, body: &str) -> serde_json::Value {
    json!({
        "id": id,
        "html_url": format!("https://github.com/octo-org/community/issues/12#issuecomment-{id}"),
        "body": body,
        "user": { "login": "community-bot[bot]", "type": "Bot" },
        "created_at": "2026-03-01T12:05:00Z",
        "updated_at": "2026-03-01T12:05:00Z",
        "author_association": "NONE"
    })
}

#[tokio::test]
async fn has_comment_true_and_false() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/12/comments")))
        .and(query_param("per_page", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            comment(1, "first!"),
            comment(2, "+1 from Ana\n\n<!-- plus1:m7 -->"),
        ])))
        .expect(2)
        .mount(&server)
        .await;

    let github = sink(&server);
    let issue = ticket(Tracker::Github, "octo-org/community#12", "#12");
    assert!(
        github
            .has_comment(&issue, "plus1:m7", deadline_in(Duration::from_secs(3)))
            .await
            .unwrap()
    );
    assert!(
        !github
            .has_comment(&issue, "plus1:m8", deadline_in(Duration::from_secs(3)))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn has_comment_on_a_missing_issue_is_rejected() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{ISSUES}/99/comments")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" })))
        .expect(1)
        .mount(&server)
        .await;

    let error = sink(&server)
        .has_comment(
            &ticket(Tracker::Github, "octo-org/community#99", "#99"),
            "plus1:m7",
            deadline_in(Duration::from_secs(3)),
        )
        .await
        .unwrap_err();

    assert_eq!(
        error,
        SinkError::Rejected {
            tracker: "github",
            status: 404,
            detail: "Not Found".to_owned()
        }
    );
}

#[tokio::test]
async fn comment_posts_a_hidden_marker() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{ISSUES}/12/comments")))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(comment(3, "+1 from Ana\n\n<!-- plus1:m7 -->")),
        )
        .expect(1)
        .mount(&server)
        .await;

    sink(&server)
        .comment(
            &ticket(Tracker::Github, "octo-org/community#12", "#12"),
            "plus1:m7",
            "+1 from Ana",
            deadline_in(Duration::from_secs(3)),
        )
        .await
        .unwrap();

    assert_eq!(
        request_json(&server, 0).await["body"],
        "+1 from Ana\n\n<!-- plus1:m7 -->"
    );
}

#[tokio::test]
async fn a_timed_out_comment_is_not_posted_twice() {
    let server = MockServer::start().await;
    // The answer arrives after the deadline: GitHub may have posted it.
    Mock::given(method("POST"))
        .and(path(format!("{ISSUES}/12/comments")))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(5)))
        .expect(1)
        .mount(&server)
        .await;

    let started = Instant::now();
    let error = sink(&server)
        .comment(
            &ticket(Tracker::Github, "octo-org/community#12", "#12"),
            "plus1:m7",
            "+1 from Ana",
            deadline_in(Duration::from_millis(800)),
        )
        .await
        .unwrap_err();

    assert!(matches!(error, SinkError::Unavailable { .. }), "{error:?}");
    assert!(error.to_string().contains("timed out"), "{error}");
    assert!(started.elapsed() < Duration::from_millis(1500));
}
