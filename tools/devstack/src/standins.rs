//! Local stand-ins for the third-party HTTP APIs the pipeline calls: Linear's
//! GraphQL API and Slack incoming webhooks, stateful, in one axum server on
//! 127.0.0.1 (an ephemeral port). `make dev` points the tracker and the
//! Slack webhooks at them; emulator tests drive them through the real
//! clients and inject the faults those clients must survive.
//!
//! Linear (`POST /linear/graphql`) answers as Linear does, in the shapes the
//! `trackers` Linear sink was written against:
//! - no (or an empty) `Authorization` header: HTTP 401, `AUTHENTICATION_ERROR`;
//! - `issueCreate` with an `id` already taken: HTTP 400, `INPUT_ERROR`
//!   "Entity already exists"; likewise `commentCreate`;
//! - `issue(id:)` of an unknown issue: HTTP 200, `INPUT_ERROR`
//!   "Entity not found: Issue" (HTTP 400 inside a mutation);
//! - a rate limit: HTTP 400, `RATELIMITED`, `X-RateLimit-Requests-*` headers
//!   with the reset in epoch milliseconds.
//!
//! The document is parsed (operations, variables with defaults, aliases,
//! arguments, `@skip`/`@include`; no fragments), the operation is picked by
//! `operationName` (else the only one), its root fields (`issueCreate`,
//! `commentCreate`, `issue`) are checked against a small schema and
//! executed, and only the selected fields are answered. A field the schema
//! here does not model is refused as Linear refuses an unknown field, so a
//! client mistake shows up locally instead of being silently answered.
//!
//! Slack (`POST /slack/{channel}`, any channel) answers `ok`, `no_text` or
//! `invalid_payload` as text, like an incoming webhook.
//!
//! `GET /_standins/state` shows what was received (issues with their
//! comments, Slack messages per channel) for a human running `make dev`.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Number, Value, json};
use time::OffsetDateTime;

/// The team key in every stand-in identifier (`COM-1`, `COM-2`, ...).
pub const TEAM_KEY: &str = "COM";

/// A team id to configure the Linear sink with locally. Any UUID works: the
/// stand-in, like Linear, only requires `teamId` to be a UUID, and keeps no
/// list of teams.
pub const DEV_TEAM_ID: &str = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f";

/// Where issue URLs point; they are never fetched.
const ISSUE_URL_PREFIX: &str = "https://linear.app/dev/issue/";

/// Linear's page size when a connection is asked without `first`.
const DEFAULT_PAGE_SIZE: usize = 50;

/// How far ahead an injected rate limit's reset lies.
const RATE_LIMIT_RESET: Duration = Duration::from_millis(200);

/// The hourly request budget Linear gives an API key, as its headers say.
const REQUESTS_LIMIT: u32 = 5000;

/// Faults the next Linear requests meet, in this order: `unavailable_next`
/// before anything else (a proxy in front of Linear), `rate_limit_next`
/// after authentication, `lose_next_create_answer` after execution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Answer the next N Linear requests with the `RATELIMITED` error and a
    /// reset 200 ms ahead.
    pub rate_limit_next: u32,
    /// Answer the next N Linear requests with HTTP 503 (nothing performed).
    pub unavailable_next: u32,
    /// Perform the next `issueCreate` that creates an issue, but answer it
    /// with HTTP 502, as when the answer is lost on the way back.
    pub lose_next_create_answer: bool,
}

/// An issue the Linear stand-in holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StandInIssue {
    /// The UUID: the client's `input.id`, or one chosen here.
    pub id: String,
    /// `COM-<n>`, numbered from 1 in creation order.
    pub identifier: String,
    /// `https://linear.app/dev/issue/COM-<n>`.
    pub url: String,
    pub title: String,
    pub description: String,
    pub team_id: String,
    pub label_ids: Vec<String>,
    /// Comment bodies, oldest first.
    pub comments: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The running stand-ins. Dropping it stops the server.
#[derive(Debug)]
pub struct StandIns {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl StandIns {
    /// The Linear webhook secret the local stack's ingest checks.
    pub const LINEAR_WEBHOOK_SECRET: &'static str = "dev-linear-webhook-secret";

    /// Everything a stack needs to use the stand-ins, as (template
    /// parameter, SSM parameter name under `prefix`, value): the tracker
    /// (Linear), Slack webhooks for reporters, recognition and alerts, and
    /// the Linear webhook secret. The caller puts the values in SSM and
    /// passes the names as parameter overrides.
    pub fn stack_parameters(&self, prefix: &str) -> Vec<(String, String, String)> {
        let prefix = prefix.trim_end_matches('/');
        let tracker = serde_json::json!({
            "tracker": "linear",
            "apiKey": "lin_api_dev_standin",
            "teamId": DEV_TEAM_ID,
            "apiUrl": self.linear_url(),
        })
        .to_string();
        [
            ("TicketTrackerParam", "ticket-tracker", tracker),
            (
                "FeedbackSlackWebhookParam",
                "feedback-webhook",
                self.slack_webhook_url("feedback"),
            ),
            (
                "RecognitionSlackWebhookParam",
                "recognition-webhook",
                self.slack_webhook_url("recognition"),
            ),
            (
                "SlackAlertWebhookParam",
                "alert-webhook",
                self.slack_webhook_url("alerts"),
            ),
            (
                "LinearWebhookSecretParam",
                "linear-webhook-secret",
                Self::LINEAR_WEBHOOK_SECRET.to_owned(),
            ),
        ]
        .into_iter()
        .map(|(parameter, name, value)| (parameter.to_owned(), format!("{prefix}/{name}"), value))
        .collect()
    }

    /// Binds 127.0.0.1 on an ephemeral port and serves on the current tokio
    /// runtime until dropped.
    pub async fn start() -> std::io::Result<StandIns> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let shared = Shared::default();
        let app = router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "stand-ins stopped serving");
            }
        });
        Ok(StandIns {
            base_url: format!("http://{address}"),
            shared,
            server,
        })
    }

    /// The Linear GraphQL endpoint: the tracker config's `apiUrl`.
    pub fn linear_url(&self) -> String {
        format!("{}/linear/graphql", self.base_url)
    }

    /// An incoming-webhook URL; every channel name is accepted.
    pub fn slack_webhook_url(&self, channel: &str) -> String {
        format!("{}/slack/{channel}", self.base_url)
    }

    /// The issues created so far, oldest first.
    pub fn issues(&self) -> Vec<StandInIssue> {
        let ledger = self.shared.lock();
        ledger.issues.iter().map(IssueRecord::view).collect()
    }

    /// The `text` of each message posted to `channel`, oldest first.
    pub fn slack_messages(&self, channel: &str) -> Vec<String> {
        let ledger = self.shared.lock();
        ledger.slack.get(channel).cloned().unwrap_or_default()
    }

    /// How many requests the Linear endpoint received (faulted ones too).
    pub fn requests(&self) -> usize {
        self.shared.lock().linear_requests
    }

    /// Replaces the pending Linear faults.
    pub fn set_linear_faults(&self, faults: Faults) {
        self.shared.lock().linear_faults = faults;
    }

    /// Answer the next `rate_limit_next` Slack posts with HTTP 429,
    /// `Retry-After: 1` and `rate_limited`.
    pub fn set_slack_faults(&self, rate_limit_next: u32) {
        self.shared.lock().slack_rate_limit_next = rate_limit_next;
    }
}

impl Drop for StandIns {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Everything the stand-ins remember, behind one lock that is never held
/// across an await (every handler does its work in a plain function).
#[derive(Debug, Clone, Default)]
struct Shared(Arc<Mutex<Ledger>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Ledger> {
        // A panic while holding the lock leaves plain data behind; the
        // stand-ins keep answering.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
struct Ledger {
    issues: Vec<IssueRecord>,
    /// Comment ids are unique across issues, as in Linear.
    comment_ids: HashSet<String>,
    slack: BTreeMap<String, Vec<String>>,
    linear_requests: usize,
    linear_faults: Faults,
    slack_rate_limit_next: u32,
    /// Linear's `lastSyncId`: one more per mutation.
    sync_id: u64,
}

impl Ledger {
    /// By UUID or by identifier (`COM-3`), as Linear's `issue(id:)` takes
    /// either.
    fn issue_index(&self, key: &str) -> Option<usize> {
        let key = key.trim();
        self.issues.iter().position(|issue| {
            issue.id.eq_ignore_ascii_case(key) || issue.identifier().eq_ignore_ascii_case(key)
        })
    }
}

#[derive(Debug)]
struct IssueRecord {
    id: String,
    number: u64,
    title: String,
    description: String,
    team_id: String,
    label_ids: Vec<String>,
    created_at: OffsetDateTime,
    comments: Vec<CommentRecord>,
}

impl IssueRecord {
    fn identifier(&self) -> String {
        format!("{TEAM_KEY}-{}", self.number)
    }

    fn url(&self) -> String {
        format!("{ISSUE_URL_PREFIX}{}", self.identifier())
    }

    fn view(&self) -> StandInIssue {
        StandInIssue {
            id: self.id.clone(),
            identifier: self.identifier(),
            url: self.url(),
            title: self.title.clone(),
            description: self.description.clone(),
            team_id: self.team_id.clone(),
            label_ids: self.label_ids.clone(),
            comments: self
                .comments
                .iter()
                .map(|comment| comment.body.clone())
                .collect(),
            created_at: self.created_at,
        }
    }
}

#[derive(Debug)]
struct CommentRecord {
    id: String,
    body: String,
    created_at: OffsetDateTime,
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/linear/graphql", post(linear))
        .route("/slack/{*channel}", post(slack))
        .route("/_standins/state", get(state_view))
        .with_state(shared)
}

async fn linear(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    answer_linear(&shared, &headers, &body)
}

async fn slack(
    State(shared): State<Shared>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer_slack(&shared, channel, &headers, &body)
}

async fn state_view(State(shared): State<Shared>) -> Response {
    let ledger = shared.lock();
    let issues: Vec<StandInIssue> = ledger.issues.iter().map(IssueRecord::view).collect();
    axum::Json(json!({
        "issues": issues,
        "slack": ledger.slack,
        "linearRequests": ledger.linear_requests,
    }))
    .into_response()
}

// ---------------------------------------------------------------- Slack --

fn answer_slack(shared: &Shared, channel: String, headers: &HeaderMap, body: &[u8]) -> Response {
    let mut ledger = shared.lock();
    if ledger.slack_rate_limit_next > 0 {
        ledger.slack_rate_limit_next -= 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            plain("rate_limited"),
        )
            .into_response();
    }
    let Some(payload) = slack_payload(headers, body) else {
        return (StatusCode::BAD_REQUEST, plain("invalid_payload")).into_response();
    };
    match payload.get("text").and_then(Value::as_str) {
        Some(text) if !text.is_empty() => {
            ledger
                .slack
                .entry(channel)
                .or_default()
                .push(text.to_owned());
            (StatusCode::OK, plain("ok")).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, plain("no_text")).into_response(),
    }
}

/// The message: a JSON body, or the `payload` field of a form post (the
/// older form Slack still takes). `None` when it is not a JSON object.
fn slack_payload(headers: &HeaderMap, body: &[u8]) -> Option<Map<String, Value>> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    let value: Value = if is_form {
        let payload = form_urlencoded::parse(body)
            .find(|(name, _)| name == "payload")
            .map(|(_, value)| value.into_owned())?;
        serde_json::from_str(&payload).ok()?
    } else {
        serde_json::from_slice(body).ok()?
    };
    match value {
        Value::Object(fields) => Some(fields),
        _ => None,
    }
}

fn plain(text: &'static str) -> ([(header::HeaderName, &'static str); 1], &'static str) {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)
}

// --------------------------------------------------------------- Linear --

fn answer_linear(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let mut ledger = shared.lock();
    ledger.linear_requests += 1;
    if ledger.linear_faults.unavailable_next > 0 {
        ledger.linear_faults.unavailable_next -= 1;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            plain("upstream connect error or disconnect/reset before headers"),
        )
            .into_response();
    }
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| !value.trim().is_empty());
    if !authorized {
        return GqlError::authentication().into_response();
    }
    if ledger.linear_faults.rate_limit_next > 0 {
        ledger.linear_faults.rate_limit_next -= 1;
        return rate_limited();
    }
    let mut lost = false;
    match run(&mut ledger, body, &mut lost) {
        Ok(_) if lost => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><head><title>502 Bad Gateway</title></head>\
             <body><center><h1>502 Bad Gateway</h1></center></body></html>",
        )
            .into_response(),
        Ok(data) => axum::Json(json!({ "data": data })).into_response(),
        Err(error) => error.into_response(),
    }
}

/// HTTP 400 with Linear's `RATELIMITED` error and its request-budget
/// headers: spent, back in [`RATE_LIMIT_RESET`] (epoch milliseconds).
fn rate_limited() -> Response {
    let now_ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let reset = now_ms + RATE_LIMIT_RESET.as_millis() as i128;
    let body = json!({ "errors": [{
        "message": "Rate limit exceeded",
        "extensions": {
            "code": "RATELIMITED",
            "type": "ratelimited",
            "userError": true,
            "userPresentableMessage": "Rate limit exceeded. Please try again later.",
        },
    }] });
    (
        StatusCode::BAD_REQUEST,
        [
            ("x-ratelimit-requests-limit", REQUESTS_LIMIT.to_string()),
            ("x-ratelimit-requests-remaining", "0".to_owned()),
            ("x-ratelimit-requests-reset", reset.to_string()),
        ],
        axum::Json(body),
    )
        .into_response()
}

/// A GraphQL error as Linear answers it: the HTTP status it comes with and
/// the one entry of `errors` (`data` is null).
#[derive(Debug)]
struct GqlError {
    status: StatusCode,
    error: Value,
}

impl GqlError {
    fn authentication() -> GqlError {
        GqlError {
            status: StatusCode::UNAUTHORIZED,
            error: json!({
                "message": "Authentication required, not authenticated",
                "extensions": {
                    "code": "AUTHENTICATION_ERROR",
                    "type": "authentication error",
                    "userError": true,
                    "userPresentableMessage": "You need to authenticate to access this operation.",
                },
            }),
        }
    }

    /// A rejected input (`INPUT_ERROR`, HTTP 400).
    fn input(path: &str, message: &str, user_message: &str) -> GqlError {
        GqlError {
            status: StatusCode::BAD_REQUEST,
            error: json!({
                "message": message,
                "path": [path],
                "extensions": {
                    "code": "INPUT_ERROR",
                    "type": "invalid input",
                    "userError": true,
                    "userPresentableMessage": user_message,
                },
            }),
        }
    }

    fn invalid_argument(path: &str, problem: &str) -> GqlError {
        GqlError::input(path, "Argument Validation Error", problem)
    }

    /// An id taken by an earlier create.
    fn already_exists(path: &str, entity: &str) -> GqlError {
        GqlError::input(
            path,
            "Entity already exists",
            &format!("{entity} with this identifier already exists."),
        )
    }

    /// A missing issue: HTTP 200 for a query (as Linear answers `issue`),
    /// 400 inside a mutation.
    fn issue_not_found(path: &str, in_mutation: bool) -> GqlError {
        let mut error = GqlError::input(
            path,
            "Entity not found: Issue",
            "Could not find referenced Issue.",
        );
        if !in_mutation {
            error.status = StatusCode::OK;
        }
        error
    }

    fn graphql(code: &str, message: String) -> GqlError {
        GqlError {
            status: StatusCode::BAD_REQUEST,
            error: json!({
                "message": message,
                "extensions": { "code": code, "type": "graphql error", "userError": true },
            }),
        }
    }

    fn syntax(message: impl Into<String>) -> GqlError {
        GqlError::graphql("GRAPHQL_PARSE_FAILED", message.into())
    }

    fn validation(message: impl Into<String>) -> GqlError {
        GqlError::graphql("GRAPHQL_VALIDATION_FAILED", message.into())
    }
}

impl IntoResponse for GqlError {
    fn into_response(self) -> Response {
        let body = json!({ "errors": [self.error], "data": null });
        (self.status, axum::Json(body)).into_response()
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphqlRequest {
    query: String,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    #[serde(default)]
    operation_name: Option<String>,
}

/// Parses, validates and executes one request; `lost` is set when the
/// answer is to be lost.
fn run(ledger: &mut Ledger, body: &[u8], lost: &mut bool) -> Result<Value, GqlError> {
    let request: GraphqlRequest = serde_json::from_slice(body).map_err(|_| {
        GqlError::syntax("Must provide a JSON body with a `query` string.".to_owned())
    })?;
    let variables = request.variables.unwrap_or_default();
    let operations = parse_document(&request.query, &variables)?;
    let operation = pick_operation(operations, request.operation_name.as_deref())?;
    if let Some(problem) = operation.missing_variable {
        return Err(GqlError::validation(problem));
    }
    let root = match operation.kind {
        OperationKind::Query => "Query",
        OperationKind::Mutation => "Mutation",
        OperationKind::Subscription => {
            return Err(GqlError::validation(
                "The stand-in does not serve subscriptions.",
            ));
        }
    };
    validate(root, &operation.selections)?;
    let mut data = Map::new();
    for field in &operation.selections {
        let value = match field.name.as_str() {
            "__typename" => Value::from(root),
            "issueCreate" => issue_create(ledger, field, lost)?,
            "commentCreate" => comment_create(ledger, field)?,
            "issue" => {
                let index = issue_argument(ledger, field, "issue", false)?;
                resolve_issue(ledger, index, &field.selections)?
            }
            // `validate` let nothing else through.
            other => return Err(GqlError::validation(unknown_field(root, other))),
        };
        data.insert(field.key().to_owned(), value);
    }
    Ok(Value::Object(data))
}

fn pick_operation(operations: Vec<Operation>, name: Option<&str>) -> Result<Operation, GqlError> {
    match name.filter(|name| !name.is_empty()) {
        Some(name) => operations
            .into_iter()
            .find(|operation| operation.name.as_deref() == Some(name))
            .ok_or_else(|| GqlError::validation(format!("Unknown operation named \"{name}\"."))),
        None => {
            let mut operations = operations.into_iter();
            match (operations.next(), operations.next()) {
                (Some(only), None) => Ok(only),
                (Some(_), Some(_)) => Err(GqlError::validation(
                    "Must provide operation name if query contains multiple operations.",
                )),
                (None, _) => Err(GqlError::syntax("Syntax Error: Unexpected <EOF>.")),
            }
        }
    }
}

// ------------------------------------------------------------ execution --

fn issue_create(ledger: &mut Ledger, field: &Field, lost: &mut bool) -> Result<Value, GqlError> {
    const PATH: &str = "issueCreate";
    let input = input_argument(field, "IssueCreateInput")?;
    let id = match input.get("id") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().hyphenated().to_string(),
        Some(id) => {
            uuid_value(id).ok_or_else(|| GqlError::invalid_argument(PATH, "id must be a UUID."))?
        }
    };
    let team_id = input
        .get("teamId")
        .and_then(uuid_value)
        .ok_or_else(|| GqlError::invalid_argument(PATH, "teamId must be a UUID."))?;
    let title = optional_string(input, "title")
        .ok_or_else(|| GqlError::invalid_argument(PATH, "title must be a string."))?;
    let description = optional_string(input, "description")
        .ok_or_else(|| GqlError::invalid_argument(PATH, "description must be a string."))?;
    let label_ids = match input.get("labelIds") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ids)) => ids
            .iter()
            .map(uuid_value)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                GqlError::invalid_argument(PATH, "each value in labelIds must be a UUID.")
            })?,
        Some(_) => {
            return Err(GqlError::invalid_argument(
                PATH,
                "labelIds must be an array.",
            ));
        }
    };
    if ledger.issue_index(&id).is_some() {
        return Err(GqlError::already_exists(PATH, "An issue"));
    }
    ledger.issues.push(IssueRecord {
        id,
        number: ledger.issues.len() as u64 + 1,
        title,
        description,
        team_id,
        label_ids,
        created_at: now_ms(),
        comments: Vec::new(),
    });
    ledger.sync_id += 1;
    if ledger.linear_faults.lose_next_create_answer {
        ledger.linear_faults.lose_next_create_answer = false;
        *lost = true;
    }
    let index = ledger.issues.len() - 1;
    let ledger = &*ledger;
    object(&field.selections, "IssuePayload", |selected| {
        Ok(match selected.name.as_str() {
            "success" => Value::Bool(true),
            "lastSyncId" => Value::from(ledger.sync_id),
            "issue" => resolve_issue(ledger, index, &selected.selections)?,
            _ => Value::Null,
        })
    })
}

fn comment_create(ledger: &mut Ledger, field: &Field) -> Result<Value, GqlError> {
    const PATH: &str = "commentCreate";
    let input = input_argument(field, "CommentCreateInput")?;
    let id = match input.get("id") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().hyphenated().to_string(),
        Some(id) => {
            uuid_value(id).ok_or_else(|| GqlError::invalid_argument(PATH, "id must be a UUID."))?
        }
    };
    let body = match input.get("body") {
        Some(Value::String(body)) if !body.trim().is_empty() => body.clone(),
        _ => {
            return Err(GqlError::invalid_argument(
                PATH,
                "body should not be empty.",
            ));
        }
    };
    let issue_key = match input.get("issueId") {
        Some(Value::String(key)) => key.clone(),
        _ => {
            return Err(GqlError::invalid_argument(
                PATH,
                "issueId must be a string.",
            ));
        }
    };
    let index = ledger
        .issue_index(&issue_key)
        .ok_or_else(|| GqlError::issue_not_found(PATH, true))?;
    if !ledger.comment_ids.insert(id.clone()) {
        return Err(GqlError::already_exists(PATH, "A comment"));
    }
    let issue = &mut ledger.issues[index];
    issue.comments.push(CommentRecord {
        id,
        body,
        created_at: now_ms(),
    });
    let comment = issue.comments.len() - 1;
    ledger.sync_id += 1;
    let ledger = &*ledger;
    object(&field.selections, "CommentPayload", |selected| {
        Ok(match selected.name.as_str() {
            "success" => Value::Bool(true),
            "lastSyncId" => Value::from(ledger.sync_id),
            "comment" => resolve_comment(ledger, index, comment, &selected.selections)?,
            _ => Value::Null,
        })
    })
}

/// The object argument `input`, required.
fn input_argument<'f>(
    field: &'f Field,
    type_name: &str,
) -> Result<&'f Map<String, Value>, GqlError> {
    match field.arguments.get("input") {
        Some(Value::Object(input)) => Ok(input),
        _ => Err(GqlError::validation(format!(
            "Argument \"input\" of required type \"{type_name}!\" was not provided."
        ))),
    }
}

/// The issue named by the required argument `id`.
fn issue_argument(
    ledger: &Ledger,
    field: &Field,
    path: &str,
    in_mutation: bool,
) -> Result<usize, GqlError> {
    let Some(Value::String(key)) = field.arguments.get("id") else {
        return Err(GqlError::validation(
            "Argument \"id\" of required type \"String!\" was not provided.",
        ));
    };
    ledger
        .issue_index(key)
        .ok_or_else(|| GqlError::issue_not_found(path, in_mutation))
}

/// A UUID in Linear's form (lower-case, hyphenated), if `value` is one.
fn uuid_value(value: &Value) -> Option<String> {
    let text = value.as_str()?;
    // Linear takes only the hyphenated form.
    if text.len() != 36 {
        return None;
    }
    uuid::Uuid::parse_str(text)
        .ok()
        .map(|uuid| uuid.hyphenated().to_string())
}

/// `Some("")` when absent or null, `None` when not a string.
fn optional_string(input: &Map<String, Value>, name: &str) -> Option<String> {
    match input.get(name) {
        None | Some(Value::Null) => Some(String::new()),
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => None,
    }
}

/// Now, to the millisecond, as Linear stores times.
fn now_ms() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(now)
}

/// Linear's `DateTime`: `2026-03-01T12:00:00.000Z`.
fn date_time(at: OffsetDateTime) -> Value {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .map(Value::String)
        .unwrap_or(Value::Null)
}

/// The selected fields of one object, keyed by alias; `resolve` answers
/// every field but `__typename`.
fn object(
    selections: &[Field],
    type_name: &str,
    mut resolve: impl FnMut(&Field) -> Result<Value, GqlError>,
) -> Result<Value, GqlError> {
    let mut fields = Map::new();
    for field in selections {
        let value = if field.name == "__typename" {
            Value::from(type_name)
        } else {
            resolve(field)?
        };
        fields.insert(field.key().to_owned(), value);
    }
    Ok(Value::Object(fields))
}

fn resolve_issue(ledger: &Ledger, index: usize, selections: &[Field]) -> Result<Value, GqlError> {
    let issue = &ledger.issues[index];
    object(selections, "Issue", |field| {
        Ok(match field.name.as_str() {
            "id" => Value::from(issue.id.as_str()),
            "identifier" => Value::from(issue.identifier()),
            "number" => Value::from(issue.number),
            "url" => Value::from(issue.url()),
            "title" => Value::from(issue.title.as_str()),
            "description" => Value::from(issue.description.as_str()),
            "createdAt" | "updatedAt" => date_time(issue.created_at),
            "labelIds" => Value::from(issue.label_ids.clone()),
            "team" => object(&field.selections, "Team", |team| {
                Ok(match team.name.as_str() {
                    "id" => Value::from(issue.team_id.as_str()),
                    "key" => Value::from(TEAM_KEY),
                    _ => Value::Null,
                })
            })?,
            "comments" => resolve_comments(ledger, index, field)?,
            _ => Value::Null,
        })
    })
}

fn resolve_comment(
    ledger: &Ledger,
    issue: usize,
    comment: usize,
    selections: &[Field],
) -> Result<Value, GqlError> {
    let record = &ledger.issues[issue].comments[comment];
    object(selections, "Comment", |field| {
        Ok(match field.name.as_str() {
            "id" => Value::from(record.id.as_str()),
            "body" => Value::from(record.body.as_str()),
            "url" => Value::from(format!(
                "{}#comment-{}",
                ledger.issues[issue].url(),
                record.id.get(..8).unwrap_or(&record.id)
            )),
            "createdAt" | "updatedAt" => date_time(record.created_at),
            "issue" => resolve_issue(ledger, issue, &field.selections)?,
            _ => Value::Null,
        })
    })
}

/// `comments(first:, after:)`: oldest first, `first` (default 50) at a
/// time; a cursor is the id of the comment the page ended with.
fn resolve_comments(ledger: &Ledger, issue: usize, field: &Field) -> Result<Value, GqlError> {
    const PATH: &str = "comments";
    let comments = &ledger.issues[issue].comments;
    let first = match field.arguments.get("first") {
        None | Some(Value::Null) => DEFAULT_PAGE_SIZE,
        Some(first) => first
            .as_u64()
            .and_then(|first| usize::try_from(first).ok())
            .ok_or_else(|| GqlError::invalid_argument(PATH, "first must not be less than 0."))?,
    };
    let start = match field.arguments.get("after") {
        None | Some(Value::Null) => 0,
        Some(Value::String(cursor)) => {
            comments
                .iter()
                .position(|comment| comment.id == *cursor)
                .ok_or_else(|| GqlError::invalid_argument(PATH, "after must be a valid cursor."))?
                + 1
        }
        Some(_) => return Err(GqlError::invalid_argument(PATH, "after must be a string.")),
    };
    let end = start.saturating_add(first).min(comments.len());
    let page = start..end;
    object(&field.selections, "CommentConnection", |selected| {
        Ok(match selected.name.as_str() {
            "nodes" => Value::Array(
                page.clone()
                    .map(|at| resolve_comment(ledger, issue, at, &selected.selections))
                    .collect::<Result<_, _>>()?,
            ),
            "edges" => Value::Array(
                page.clone()
                    .map(|at| {
                        object(&selected.selections, "CommentEdge", |edge| {
                            Ok(match edge.name.as_str() {
                                "cursor" => Value::from(comments[at].id.as_str()),
                                "node" => resolve_comment(ledger, issue, at, &edge.selections)?,
                                _ => Value::Null,
                            })
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "pageInfo" => object(&selected.selections, "PageInfo", |info| {
                let cursor = |at: Option<usize>| {
                    at.map_or(Value::Null, |at| Value::from(comments[at].id.as_str()))
                };
                Ok(match info.name.as_str() {
                    "hasNextPage" => Value::Bool(end < comments.len()),
                    "hasPreviousPage" => Value::Bool(start > 0),
                    "startCursor" => cursor((start < end).then_some(start)),
                    "endCursor" => cursor((start < end).then(|| end - 1)),
                    _ => Value::Null,
                })
            })?,
            _ => Value::Null,
        })
    })
}

// --------------------------------------------------------------- schema --

/// The part of Linear's schema the stand-in answers.
#[derive(Debug, Clone, Copy)]
enum FieldType {
    /// A leaf, named as the schema names its type.
    Scalar(&'static str),
    Object(&'static str),
}

fn schema_field(parent: &str, field: &str) -> Option<FieldType> {
    use FieldType::{Object, Scalar};
    Some(match (parent, field) {
        (_, "__typename") => Scalar("String!"),
        ("Query", "issue") => Object("Issue"),
        ("Mutation", "issueCreate") => Object("IssuePayload"),
        ("Mutation", "commentCreate") => Object("CommentPayload"),
        ("IssuePayload" | "CommentPayload", "success") => Scalar("Boolean!"),
        ("IssuePayload" | "CommentPayload", "lastSyncId") => Scalar("Float!"),
        ("IssuePayload", "issue") => Object("Issue"),
        ("CommentPayload", "comment") => Object("Comment"),
        ("Issue", "id" | "identifier" | "url" | "title") => Scalar("String!"),
        ("Issue", "description") => Scalar("String"),
        ("Issue", "number") => Scalar("Float!"),
        ("Issue", "createdAt" | "updatedAt") => Scalar("DateTime!"),
        ("Issue", "labelIds") => Scalar("[String!]!"),
        ("Issue", "team") => Object("Team"),
        ("Issue", "comments") => Object("CommentConnection"),
        ("Team", "id" | "key") => Scalar("String!"),
        ("Comment", "id" | "body" | "url") => Scalar("String!"),
        ("Comment", "createdAt" | "updatedAt") => Scalar("DateTime!"),
        ("Comment", "issue") => Object("Issue"),
        ("CommentConnection", "nodes") => Object("[Comment!]!"),
        ("CommentConnection", "edges") => Object("[CommentEdge!]!"),
        ("CommentConnection", "pageInfo") => Object("PageInfo"),
        ("CommentEdge", "cursor") => Scalar("String!"),
        ("CommentEdge", "node") => Object("Comment"),
        ("PageInfo", "hasNextPage" | "hasPreviousPage") => Scalar("Boolean!"),
        ("PageInfo", "startCursor" | "endCursor") => Scalar("String"),
        _ => return None,
    })
}

/// The arguments a field takes here.
fn schema_arguments(parent: &str, field: &str) -> &'static [&'static str] {
    match (parent, field) {
        ("Query", "issue") => &["id"],
        ("Mutation", "issueCreate" | "commentCreate") => &["input"],
        ("Issue", "comments") => &["first", "after"],
        _ => &[],
    }
}

/// Refuses what Linear would refuse before executing anything: unknown
/// fields and arguments, objects without a selection, leaves with one.
fn validate(parent: &str, selections: &[Field]) -> Result<(), GqlError> {
    for field in selections {
        let Some(field_type) = schema_field(parent, &field.name) else {
            return Err(GqlError::validation(unknown_field(parent, &field.name)));
        };
        let allowed = schema_arguments(parent, &field.name);
        if let Some(argument) = field
            .arguments
            .keys()
            .find(|argument| !allowed.contains(&argument.as_str()))
        {
            return Err(GqlError::validation(format!(
                "Unknown argument \"{argument}\" on field \"{parent}.{}\".",
                field.name
            )));
        }
        match field_type {
            FieldType::Scalar(type_name) if !field.selections.is_empty() => {
                return Err(GqlError::validation(format!(
                    "Field \"{}\" must not have a selection since type \"{type_name}\" has no subfields.",
                    field.name
                )));
            }
            FieldType::Scalar(_) => {}
            FieldType::Object(type_name) => {
                if field.selections.is_empty() {
                    return Err(GqlError::validation(format!(
                        "Field \"{0}\" of type \"{type_name}\" must have a selection of subfields. \
                         Did you mean \"{0} {{ ... }}\"?",
                        field.name
                    )));
                }
                let inner = type_name.trim_matches(|c| matches!(c, '[' | ']' | '!'));
                validate(inner, &field.selections)?;
            }
        }
    }
    Ok(())
}

fn unknown_field(parent: &str, field: &str) -> String {
    format!("Cannot query field \"{field}\" on type \"{parent}\".")
}

// --------------------------------------------------------------- parser --

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OperationKind {
    Query,
    Mutation,
    Subscription,
}

#[derive(Debug)]
struct Operation {
    kind: OperationKind,
    name: Option<String>,
    selections: Vec<Field>,
    /// A required variable the request did not provide: an error only if
    /// this is the operation executed.
    missing_variable: Option<String>,
}

/// A field with its arguments already resolved against the variables.
#[derive(Debug)]
struct Field {
    alias: Option<String>,
    name: String,
    arguments: Map<String, Value>,
    selections: Vec<Field>,
}

impl Field {
    fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Number(Number),
    Text(String),
    Punct(char),
    Spread,
}

impl Token {
    fn describe(token: Option<&Token>) -> String {
        match token {
            None => "<EOF>".to_owned(),
            Some(Token::Name(name)) => format!("Name \"{name}\""),
            Some(Token::Number(number)) => format!("Number \"{number}\""),
            Some(Token::Text(text)) => format!("String \"{text}\""),
            Some(Token::Punct(c)) => format!("\"{c}\""),
            Some(Token::Spread) => "\"...\"".to_owned(),
        }
    }
}

fn tokenize(source: &str) -> Result<Vec<Token>, GqlError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while let Some(&c) = chars.get(at) {
        match c {
            ' ' | '\t' | '\n' | '\r' | ',' | '\u{feff}' => at += 1,
            '#' => {
                while chars.get(at).is_some_and(|&c| c != '\n' && c != '\r') {
                    at += 1;
                }
            }
            '{' | '}' | '(' | ')' | '[' | ']' | ':' | '$' | '!' | '=' | '@' | '|' | '&' => {
                tokens.push(Token::Punct(c));
                at += 1;
            }
            '.' if chars.get(at..at + 3) == Some(&['.', '.', '.']) => {
                tokens.push(Token::Spread);
                at += 3;
            }
            '"' if chars.get(at..at + 3) == Some(&['"', '"', '"']) => {
                let (text, next) = block_string(&chars, at + 3)?;
                tokens.push(Token::Text(text));
                at = next;
            }
            '"' => {
                let (text, next) = string(&chars, at + 1)?;
                tokens.push(Token::Text(text));
                at = next;
            }
            '-' | '0'..='9' => {
                let start = at;
                at += 1;
                while chars
                    .get(at)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'))
                {
                    at += 1;
                }
                let lexeme: String = chars[start..at].iter().collect();
                let number = if lexeme.contains(['.', 'e', 'E']) {
                    lexeme.parse::<f64>().ok().and_then(Number::from_f64)
                } else {
                    lexeme.parse::<i64>().ok().map(Number::from)
                };
                let number = number.ok_or_else(|| {
                    GqlError::syntax(format!("Syntax Error: Invalid number \"{lexeme}\"."))
                })?;
                tokens.push(Token::Number(number));
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let start = at;
                while chars
                    .get(at)
                    .is_some_and(|&c| c == '_' || c.is_ascii_alphanumeric())
                {
                    at += 1;
                }
                tokens.push(Token::Name(chars[start..at].iter().collect()));
            }
            other => {
                return Err(GqlError::syntax(format!(
                    "Syntax Error: Unexpected character: \"{other}\"."
                )));
            }
        }
    }
    Ok(tokens)
}

/// A `"..."` string from just after its opening quote: the text and where
/// the next token starts.
fn string(chars: &[char], mut at: usize) -> Result<(String, usize), GqlError> {
    let unterminated = || GqlError::syntax("Syntax Error: Unterminated string.");
    let mut text = String::new();
    loop {
        let c = *chars.get(at).ok_or_else(unterminated)?;
        at += 1;
        match c {
            '"' => return Ok((text, at)),
            '\n' | '\r' => return Err(unterminated()),
            '\\' => {
                let escaped = *chars.get(at).ok_or_else(unterminated)?;
                at += 1;
                match escaped {
                    '"' | '\\' | '/' => text.push(escaped),
                    'b' => text.push('\u{8}'),
                    'f' => text.push('\u{c}'),
                    'n' => text.push('\n'),
                    'r' => text.push('\r'),
                    't' => text.push('\t'),
                    'u' => {
                        let (unit, next) = hex4(chars, at)?;
                        at = next;
                        let code = if (0xD800..0xDC00).contains(&unit)
                            && chars.get(at..at + 2) == Some(&['\\', 'u'])
                        {
                            let (low, next) = hex4(chars, at + 2)?;
                            at = next;
                            0x10000 + ((unit - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF)
                        } else {
                            unit
                        };
                        text.push(char::from_u32(code).ok_or_else(|| {
                            GqlError::syntax("Syntax Error: Invalid Unicode escape sequence.")
                        })?);
                    }
                    other => {
                        return Err(GqlError::syntax(format!(
                            "Syntax Error: Invalid character escape sequence: \"\\{other}\"."
                        )));
                    }
                }
            }
            c => text.push(c),
        }
    }
}

fn hex4(chars: &[char], at: usize) -> Result<(u32, usize), GqlError> {
    let digits: String = chars.get(at..at + 4).unwrap_or_default().iter().collect();
    u32::from_str_radix(&digits, 16)
        .ok()
        .filter(|_| digits.len() == 4)
        .map(|unit| (unit, at + 4))
        .ok_or_else(|| GqlError::syntax("Syntax Error: Invalid Unicode escape sequence."))
}

/// A `"""..."""` block string from just after its opening quotes, with the
/// common indentation and blank first and last lines removed.
fn block_string(chars: &[char], mut at: usize) -> Result<(String, usize), GqlError> {
    let mut raw = String::new();
    loop {
        if chars.get(at..at + 3) == Some(&['"', '"', '"']) {
            at += 3;
            break;
        }
        if chars.get(at..at + 4) == Some(&['\\', '"', '"', '"']) {
            raw.push_str("\"\"\"");
            at += 4;
            continue;
        }
        let c = *chars
            .get(at)
            .ok_or_else(|| GqlError::syntax("Syntax Error: Unterminated string."))?;
        raw.push(c);
        at += 1;
    }
    let lines: Vec<&str> = raw
        .split(['\n'])
        .map(|line| line.trim_end_matches('\r'))
        .collect();
    let indent = lines
        .iter()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let mut lines: Vec<&str> = lines
        .iter()
        .enumerate()
        .map(|(number, line)| {
            if number == 0 {
                line
            } else {
                line.get(indent..).unwrap_or("")
            }
        })
        .collect();
    while lines.first().is_some_and(|line| line.trim().is_empty()) {
        lines.remove(0);
    }
    while lines.last().is_some_and(|line| line.trim().is_empty()) {
        lines.pop();
    }
    Ok((lines.join("\n"), at))
}

fn parse_document(
    source: &str,
    variables: &Map<String, Value>,
) -> Result<Vec<Operation>, GqlError> {
    let mut parser = Parser {
        tokens: tokenize(source)?,
        at: 0,
        provided: variables,
        variables: Map::new(),
    };
    let mut operations = Vec::new();
    while parser.peek().is_some() {
        operations.push(parser.operation()?);
    }
    if operations.is_empty() {
        return Err(GqlError::syntax("Syntax Error: Unexpected <EOF>."));
    }
    Ok(operations)
}

struct Parser<'v> {
    tokens: Vec<Token>,
    at: usize,
    /// The request's `variables`.
    provided: &'v Map<String, Value>,
    /// The current operation's variables: provided, else their defaults.
    variables: Map<String, Value>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn unexpected(&self) -> GqlError {
        GqlError::syntax(format!(
            "Syntax Error: Unexpected {}.",
            Token::describe(self.peek())
        ))
    }

    fn at_punct(&self, c: char) -> bool {
        self.peek() == Some(&Token::Punct(c))
    }

    fn expect_punct(&mut self, c: char) -> Result<(), GqlError> {
        if self.at_punct(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(GqlError::syntax(format!(
                "Syntax Error: Expected \"{c}\", found {}.",
                Token::describe(self.peek())
            )))
        }
    }

    fn name(&mut self) -> Result<String, GqlError> {
        match self.peek() {
            Some(Token::Name(name)) => {
                let name = name.clone();
                self.at += 1;
                Ok(name)
            }
            other => Err(GqlError::syntax(format!(
                "Syntax Error: Expected Name, found {}.",
                Token::describe(other)
            ))),
        }
    }

    fn operation(&mut self) -> Result<Operation, GqlError> {
        self.variables = Map::new();
        if self.at_punct('{') {
            return Ok(Operation {
                kind: OperationKind::Query,
                name: None,
                selections: self.selection_set()?,
                missing_variable: None,
            });
        }
        let kind = match self.name()?.as_str() {
            "query" => OperationKind::Query,
            "mutation" => OperationKind::Mutation,
            "subscription" => OperationKind::Subscription,
            "fragment" => {
                return Err(GqlError::validation(
                    "The stand-in does not support fragments.",
                ));
            }
            other => {
                return Err(GqlError::syntax(format!(
                    "Syntax Error: Unexpected Name \"{other}\"."
                )));
            }
        };
        let name = match self.peek() {
            Some(Token::Name(_)) => Some(self.name()?),
            _ => None,
        };
        let missing_variable = if self.at_punct('(') {
            self.variable_definitions()?
        } else {
            None
        };
        self.directives()?;
        Ok(Operation {
            kind,
            name,
            selections: self.selection_set()?,
            missing_variable,
        })
    }

    /// `($name: Type = default, ...)`: each variable's value is the one
    /// provided, else its default. Returns the complaint about the first
    /// required variable that was not provided.
    fn variable_definitions(&mut self) -> Result<Option<String>, GqlError> {
        self.expect_punct('(')?;
        let mut missing = None;
        while !self.at_punct(')') {
            self.expect_punct('$')?;
            let name = self.name()?;
            self.expect_punct(':')?;
            let type_name = self.type_reference()?;
            let default = if self.at_punct('=') {
                self.at += 1;
                Some(self.value()?)
            } else {
                None
            };
            self.directives()?;
            let value = match (self.provided.get(&name), default) {
                (Some(value), _) => value.clone(),
                (None, Some(default)) => default,
                (None, None) if type_name.ends_with('!') => {
                    missing.get_or_insert_with(|| {
                        format!(
                            "Variable \"${name}\" of required type \"{type_name}\" was not provided."
                        )
                    });
                    Value::Null
                }
                (None, None) => Value::Null,
            };
            self.variables.insert(name, value);
        }
        self.expect_punct(')')?;
        Ok(missing)
    }

    fn type_reference(&mut self) -> Result<String, GqlError> {
        let mut type_name = if self.at_punct('[') {
            self.at += 1;
            let inner = self.type_reference()?;
            self.expect_punct(']')?;
            format!("[{inner}]")
        } else {
            self.name()?
        };
        if self.at_punct('!') {
            self.at += 1;
            type_name.push('!');
        }
        Ok(type_name)
    }

    /// Directives; `false` when one of them (`@skip(if: true)`,
    /// `@include(if: false)`) leaves the selection out.
    fn directives(&mut self) -> Result<bool, GqlError> {
        let mut included = true;
        while self.at_punct('@') {
            self.at += 1;
            let name = self.name()?;
            let arguments = if self.at_punct('(') {
                self.arguments()?
            } else {
                Map::new()
            };
            let condition = arguments.get("if").and_then(Value::as_bool);
            match (name.as_str(), condition) {
                ("skip", Some(true)) | ("include", Some(false)) => included = false,
                _ => {}
            }
        }
        Ok(included)
    }

    fn selection_set(&mut self) -> Result<Vec<Field>, GqlError> {
        self.expect_punct('{')?;
        let mut fields = Vec::new();
        loop {
            match self.peek() {
                Some(Token::Punct('}')) => break,
                Some(Token::Spread) => {
                    return Err(GqlError::validation(
                        "The stand-in does not support fragments.",
                    ));
                }
                _ => {
                    if let Some(field) = self.field()? {
                        fields.push(field);
                    }
                }
            }
        }
        if self.tokens.get(self.at.saturating_sub(1)) == Some(&Token::Punct('{')) {
            return Err(self.unexpected());
        }
        self.expect_punct('}')?;
        Ok(fields)
    }

    fn field(&mut self) -> Result<Option<Field>, GqlError> {
        let first = self.name()?;
        let (alias, name) = if self.at_punct(':') {
            self.at += 1;
            (Some(first), self.name()?)
        } else {
            (None, first)
        };
        let arguments = if self.at_punct('(') {
            self.arguments()?
        } else {
            Map::new()
        };
        let included = self.directives()?;
        let selections = if self.at_punct('{') {
            self.selection_set()?
        } else {
            Vec::new()
        };
        Ok(included.then_some(Field {
            alias,
            name,
            arguments,
            selections,
        }))
    }

    fn arguments(&mut self) -> Result<Map<String, Value>, GqlError> {
        self.expect_punct('(')?;
        let mut arguments = Map::new();
        while !self.at_punct(')') {
            let name = self.name()?;
            self.expect_punct(':')?;
            let value = self.value()?;
            arguments.insert(name, value);
        }
        self.expect_punct(')')?;
        Ok(arguments)
    }

    fn value(&mut self) -> Result<Value, GqlError> {
        match self.next() {
            Some(Token::Punct('$')) => {
                let name = self.name()?;
                self.variables.get(&name).cloned().ok_or_else(|| {
                    GqlError::validation(format!("Variable \"${name}\" is not defined."))
                })
            }
            Some(Token::Number(number)) => Ok(Value::Number(number)),
            Some(Token::Text(text)) => Ok(Value::String(text)),
            Some(Token::Name(name)) => Ok(match name.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => Value::String(name),
            }),
            Some(Token::Punct('[')) => {
                let mut items = Vec::new();
                while !self.at_punct(']') {
                    if self.peek().is_none() {
                        return Err(self.unexpected());
                    }
                    items.push(self.value()?);
                }
                self.at += 1;
                Ok(Value::Array(items))
            }
            Some(Token::Punct('{')) => {
                let mut fields = Map::new();
                while !self.at_punct('}') {
                    let name = self.name()?;
                    self.expect_punct(':')?;
                    let value = self.value()?;
                    fields.insert(name, value);
                }
                self.at += 1;
                Ok(Value::Object(fields))
            }
            other => {
                self.at = self.at.saturating_sub(1);
                Err(GqlError::syntax(format!(
                    "Syntax Error: Unexpected {}.",
                    Token::describe(other.as_ref())
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str, variables: Value) -> Result<Vec<Operation>, GqlError> {
        let Value::Object(variables) = variables else {
            panic!("variables must be an object");
        };
        parse_document(source, &variables)
    }

    #[test]
    fn the_sinks_documents_parse_with_their_variables() {
        let operations = parse(
            "query TicketComments($id: String!, $after: String) { \
             issue(id: $id) { comments(first: 100, after: $after) { \
             nodes { body } pageInfo { hasNextPage endCursor } } } }",
            json!({ "id": "i-1" }),
        )
        .unwrap_or_else(|error| panic!("{error:?}"));
        let [operation] = operations.as_slice() else {
            panic!("one operation");
        };
        assert_eq!(operation.name.as_deref(), Some("TicketComments"));
        let issue = &operation.selections[0];
        assert_eq!(issue.arguments["id"], "i-1");
        let comments = &issue.selections[0];
        assert_eq!(comments.arguments["first"], 100);
        assert_eq!(comments.arguments["after"], Value::Null);
        assert!(validate("Query", &operation.selections).is_ok());
    }

    #[test]
    fn literals_aliases_defaults_and_directives() {
        let operations = parse(
            r#"query Q($n: Int = 2, $skip: Boolean!) {
                 # a comment
                 mine: issue(id: "a\"b\u00e9") { id title @skip(if: $skip) x: comments(first: $n) { nodes { body } } }
               }"#,
            json!({ "skip": true }),
        )
        .unwrap_or_else(|error| panic!("{error:?}"));
        let issue = &operations[0].selections[0];
        assert_eq!(issue.key(), "mine");
        assert_eq!(issue.arguments["id"], "a\"bé");
        let keys: Vec<&str> = issue.selections.iter().map(Field::key).collect();
        assert_eq!(keys, ["id", "x"]);
        assert_eq!(issue.selections[1].arguments["first"], 2);
    }

    #[test]
    fn block_strings_lose_their_common_indentation() {
        let operations = parse(
            "mutation { commentCreate(input: {issueId: \"x\", body: \"\"\"\n    first\n      second\n  \"\"\"}) { success } }",
            json!({}),
        )
        .unwrap_or_else(|error| panic!("{error:?}"));
        let input = &operations[0].selections[0].arguments["input"];
        assert_eq!(input["body"], "first\n  second");
    }

    #[test]
    fn broken_documents_are_refused() {
        for (source, expected) in [
            (
                "query { issue(id: \"x\") { id }",
                "Expected Name, found <EOF>",
            ),
            (
                "query { issue(id: \"x\") { id } } }",
                "Expected Name, found \"}\"",
            ),
            ("query { issue(id: \"x) { id } }", "Unterminated string"),
            ("query { issue(id: $id) { id } }", "is not defined"),
            ("query { issue(id: \"x\") { ...F } }", "fragments"),
            ("query { }", "Unexpected \"}\""),
        ] {
            let error = parse(source, json!({}))
                .err()
                .unwrap_or_else(|| panic!("{source}"));
            let message = error.error["message"].as_str().unwrap_or_default();
            assert!(message.contains(expected), "{source}: {message}");
            assert_eq!(error.status, StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn a_missing_required_variable_matters_only_for_the_operation_run() {
        let document = "query A($id: String!) { issue(id: $id) { id } } query B { __typename }";
        let body = |name: &str| {
            json!({ "query": document, "operationName": name })
                .to_string()
                .into_bytes()
        };
        let mut ledger = Ledger::default();
        let mut lost = false;
        let error = run(&mut ledger, &body("A"), &mut lost)
            .err()
            .unwrap_or_else(|| panic!("$id is required"));
        assert_eq!(
            error.error["message"],
            "Variable \"$id\" of required type \"String!\" was not provided."
        );
        let data =
            run(&mut ledger, &body("B"), &mut lost).unwrap_or_else(|error| panic!("{error:?}"));
        assert_eq!(data, json!({ "__typename": "Query" }));
    }

    #[test]
    fn validation_names_the_unknown_field() {
        let operations = parse("{ issue(id: \"x\") { id bogus } }", json!({}))
            .unwrap_or_else(|error| panic!("{error:?}"));
        let error = validate("Query", &operations[0].selections)
            .err()
            .unwrap_or_else(|| panic!("bogus is not a field"));
        assert_eq!(
            error.error["message"],
            "Cannot query field \"bogus\" on type \"Issue\"."
        );
        let operations = parse("{ issue(id: \"x\") { team } }", json!({}))
            .unwrap_or_else(|error| panic!("{error:?}"));
        assert!(validate("Query", &operations[0].selections).is_err());
    }
}
