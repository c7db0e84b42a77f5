//! The duplicate storm: distinct webhooks across every platform, each
//! delivered 1–4 times in random order while the pipeline runs, some again
//! after SQS's five-minute deduplication window (sent past it with a fresh
//! deduplication id, as a platform's late retry would get through), plus
//! deliveries the pipeline drops by rule and poison it must dead-letter.
//! [`audit`] then accounts for every accepted webhook — stored exactly once,
//! dropped by its rule, or dead-lettered with a reason — and checks one
//! tracker ticket per ticket-worthy event.
//!
//! What each webhook must become is computed in-process by the same pure
//! functions the pipeline uses (verify, envelope, adapter), so the audit
//! compares the stack's tables and queues against an independent answer.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use canonical_event::{EventId, RoutingTarget};
use community_aws::ports::{MessageQueue, OutgoingMessage};
use futures_util::StreamExt;
use serde_json::json;
use time::OffsetDateTime;

use crate::fixtures::{self, Signature, Signing};
use crate::secrets::DevSecrets;
use crate::{Stack, StackError};

/// One kind of webhook in the storm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    GithubBug,
    GithubComment,
    GithubMergedPr,
    GithubStar,
    SlackBug,
    SlackChat,
    SlackQuestion,
    SlackReaction,
    DiscordReport,
    DiscourseFeature,
    DiscourseReply,
    RelayQuestion,
    RelayBug,
    /// Dropped by rule: a Slack channel-topic change.
    SlackTopicChange,
    /// Dropped by rule: a GitHub star removed.
    GithubUnstar,
    /// Poison: a signed Discourse topic the edge accepts (an object with an
    /// id) but whose title and author no adapter can read.
    DiscoursePoison,
    /// Poison: a signed GitHub issue event likewise unreadable.
    GithubPoison,
}

/// The kinds that become stored events, in the order they are dealt.
const STORED: [Kind; 13] = [
    Kind::GithubBug,
    Kind::GithubComment,
    Kind::GithubMergedPr,
    Kind::GithubStar,
    Kind::SlackBug,
    Kind::SlackChat,
    Kind::SlackQuestion,
    Kind::SlackReaction,
    Kind::DiscordReport,
    Kind::DiscourseFeature,
    Kind::DiscourseReply,
    Kind::RelayQuestion,
    Kind::RelayBug,
];
const DROPPED: [Kind; 2] = [Kind::SlackTopicChange, Kind::GithubUnstar];
const POISON: [Kind; 2] = [Kind::DiscoursePoison, Kind::GithubPoison];

/// Words the reports are made of: four drawn per report, plus a token
/// unique to it, so no two reports share a title.
const WORDS: [&str; 48] = [
    "export",
    "import",
    "sidebar",
    "dashboard",
    "billing",
    "invoice",
    "search",
    "filter",
    "calendar",
    "upload",
    "avatar",
    "profile",
    "webhook",
    "token",
    "session",
    "cache",
    "chart",
    "report",
    "widget",
    "editor",
    "preview",
    "comment",
    "mention",
    "badge",
    "timezone",
    "locale",
    "keyboard",
    "shortcut",
    "printer",
    "archive",
    "folder",
    "label",
    "workspace",
    "palette",
    "gateway",
    "tooltip",
    "scroll",
    "banner",
    "digest",
    "schedule",
    "metric",
    "legend",
    "column",
    "snapshot",
    "template",
    "reminder",
    "payment",
    "sync",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StormConfig {
    /// Distinct webhooks that must each become one stored event.
    pub events: usize,
    /// Extra webhooks the pipeline drops by rule.
    pub dropped: usize,
    /// Extra poison webhooks: signed and accepted, never processable.
    pub poison: usize,
    pub seed: u64,
    /// Share (percent) of the storable webhooks delivered once more after
    /// the deduplication window.
    pub late_percent: u32,
    /// Concurrent deliveries to ingest.
    pub concurrency: usize,
    /// Deliveries per wave: after each, the next waits until the raw queue
    /// has worked through half a wave (redeliveries land in later waves).
    pub wave: usize,
    /// How long the pipeline may take to settle after the deliveries.
    pub settle: Duration,
}

impl StormConfig {
    pub fn new(events: usize) -> StormConfig {
        StormConfig {
            events,
            dropped: events / 50,
            poison: events / 100 + 1,
            seed: 0x5EED_2026,
            late_percent: 5,
            concurrency: 8,
            wave: 100,
            settle: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StormError {
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error("fixture: {0}")]
    Fixture(#[from] fixtures::FixtureError),
    #[error("{0}")]
    Aws(#[from] community_aws::AwsError),
    #[error("{key}: {message}")]
    Webhook { key: String, message: String },
}

/// One distinct webhook and how often the platform delivers it.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub kind: Kind,
    pub platform_path: &'static str,
    /// `X-GitHub-Event` / `X-Discourse-Event`.
    pub event: &'static str,
    pub delivery_id: String,
    pub body: String,
    /// Delivered 1–4 times during the storm.
    pub deliveries: u8,
    /// Delivered once more after the deduplication window.
    pub late: bool,
}

/// What a webhook must become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Events(Vec<EventId>),
    Dropped(EventId),
    Poison(String),
}

impl Webhook {
    /// Unique across the storm: the platform and its own delivery id.
    pub fn key(&self) -> String {
        format!("{}:{}", self.platform_path, self.delivery_id)
    }

    fn signing(&self) -> Signing<'_> {
        Signing {
            platform: self.platform_path,
            event: self.event,
            delivery_id: &self.delivery_id,
            relay_gateway: self.kind == Kind::RelayQuestion,
            signature: Signature::Valid,
        }
    }

    /// The platform's headers, signed at `now`.
    pub fn headers(
        &self,
        secrets: &DevSecrets,
        now: i64,
    ) -> Result<BTreeMap<String, String>, StormError> {
        Ok(fixtures::signed_headers(
            &self.signing(),
            &self.body,
            "application/json",
            secrets,
            now,
        )?)
    }

    /// The API Gateway event of one delivery, signed at `now`.
    pub fn request(
        &self,
        secrets: &DevSecrets,
        now: i64,
    ) -> Result<ApiGatewayV2httpRequest, StormError> {
        let headers = self.headers(secrets, now)?;
        let value = fixtures::api_gateway_request(
            self.platform_path,
            &headers,
            &self.body,
            now,
            &format!("storm-{}", self.delivery_id),
        );
        serde_json::from_value(value).map_err(|e| self.error(e))
    }

    /// The message ingest enqueues for it (computed in-process).
    pub fn message(
        &self,
        secrets: &DevSecrets,
        now: OffsetDateTime,
    ) -> Result<OutgoingMessage, StormError> {
        let headers = self.headers(secrets, now.unix_timestamp())?;
        match fixtures::accept_at(self.platform_path, &headers, &self.body, secrets, now)
            .map_err(|e| self.error(e))?
        {
            platforms::Accepted::Enqueue { message, .. } => Ok(OutgoingMessage {
                group_id: message.group_id,
                deduplication_id: message.deduplication_id,
                body: message.body,
                attributes: BTreeMap::new(),
            }),
            other => Err(self.error(format!("not enqueued: {other:?}"))),
        }
    }

    /// What the pipeline must make of it, by the pure functions alone.
    pub fn expected(
        &self,
        secrets: &DevSecrets,
        now: OffsetDateTime,
    ) -> Result<Expected, StormError> {
        let message = self.message(secrets, now)?;
        let envelope = match platforms::Envelope::decode(&message.body) {
            Ok(envelope) => envelope,
            Err(e) => return Ok(Expected::Poison(e.to_string())),
        };
        Ok(match platforms::adapt(&envelope) {
            Ok(platforms::Adapted::Events(drafts)) => {
                Expected::Events(drafts.into_iter().map(|d| d.event_id).collect())
            }
            Ok(platforms::Adapted::Dropped { .. }) => Expected::Dropped(
                EventId::derive(envelope.platform, &envelope.delivery_id, 0)
                    .map_err(|e| self.error(e))?,
            ),
            Err(e) => Expected::Poison(e.to_string()),
        })
    }

    fn error(&self, message: impl std::fmt::Display) -> StormError {
        StormError::Webhook {
            key: self.key(),
            message: message.to_string(),
        }
    }
}

/// The storm's webhooks: `events` storable ones dealt round-robin over the
/// kinds, then the dropped and the poison ones. Deterministic for a seed.
pub fn plan(config: &StormConfig, now: i64) -> Vec<Webhook> {
    let mut random = fastrand::Rng::with_seed(config.seed);
    let kinds = (0..config.events)
        .map(|i| STORED[i % STORED.len()])
        .chain((0..config.dropped).map(|i| DROPPED[i % DROPPED.len()]))
        .chain((0..config.poison).map(|i| POISON[i % POISON.len()]));
    kinds
        .enumerate()
        .map(|(i, kind)| {
            let mut webhook = build(kind, i, now, &mut random);
            webhook.deliveries = random.u8(1..=4);
            // Poison stays out of the late redeliveries: a second dead letter
            // of the same webhook is expected there and would blur the count.
            webhook.late = !POISON.contains(&kind) && random.u32(0..100) < config.late_percent;
            webhook
        })
        .collect()
}

/// `ref` and the index in letters: unique, and a word to the text rules.
fn token(index: usize) -> String {
    let mut letters = String::new();
    let mut n = index;
    loop {
        letters.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            break;
        }
    }
    format!("ref{letters}")
}

fn words(random: &mut fastrand::Rng, count: usize) -> Vec<&'static str> {
    let mut picked: Vec<&'static str> = Vec::with_capacity(count);
    while picked.len() < count {
        let word = WORDS[random.usize(0..WORDS.len())];
        if !picked.contains(&word) {
            picked.push(word);
        }
    }
    picked
}

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(canonical_event::rfc3339_utc)
        .unwrap_or_default()
}

fn build(kind: Kind, i: usize, now: i64, random: &mut fastrand::Rng) -> Webhook {
    let member = random.usize(0..40);
    let w = words(random, 4);
    let token = token(i);
    let at = rfc3339(now);
    let github_user =
        json!({ "login": format!("storm-dev-{member}"), "id": 9_100_000 + member, "type": "User" });
    let repository =
        json!({ "full_name": "acme-labs/storm", "html_url": "https://github.com/acme-labs/storm" });
    let github_delivery = uuid::Builder::from_random_bytes(random.u128(..).to_le_bytes())
        .into_uuid()
        .to_string();
    let bug_text = format!(
        "Steps to reproduce: open the {} page and click {}. Expected: the {} loads. Actual: error 500 and a stack trace. ({token})",
        w[0], w[1], w[2]
    );
    let slack = |event: serde_json::Value| {
        json!({
            "token": "dev-verification-token", "team_id": "T0DEVTEAM1", "api_app_id": "A0DEVAPP01",
            "type": "event_callback", "event_id": format!("Ev0STORM{i:06}"), "event_time": now,
            "authorizations": [], "is_ext_shared_channel": false, "event": event
        })
    };
    let slack_message = |text: String, subtype: Option<&str>| {
        let mut event = json!({
            "type": "message", "text": text, "user": format!("U0STORM{member:03}"),
            "ts": format!("{now}.{i:06}"), "team": "T0DEVTEAM1", "channel": "C0DEVHELP1",
            "event_ts": format!("{now}.{i:06}"), "channel_type": "channel"
        });
        if let (Some(subtype), Some(object)) = (subtype, event.as_object_mut()) {
            object.insert("subtype".into(), json!(subtype));
        }
        slack(event)
    };
    let discourse_user = format!("forum{member}");
    let (platform_path, event, delivery_id, body) = match kind {
        Kind::GithubBug => (
            "github",
            "issues",
            github_delivery,
            json!({
                "action": "opened",
                "issue": {
                    "number": 10_000 + i, "title": format!("Bug: {} {} crashes the {} {token}", w[0], w[1], w[2]),
                    "body": bug_text, "html_url": format!("https://github.com/acme-labs/storm/issues/{}", 10_000 + i),
                    "labels": [{ "name": "bug" }], "user": github_user, "state": "open",
                    "created_at": at, "author_association": "NONE"
                },
                "repository": repository, "sender": github_user
            }),
        ),
        Kind::GithubComment => (
            "github",
            "issue_comment",
            github_delivery,
            json!({
                "action": "created",
                "issue": {
                    "number": 50_000 + i, "title": format!("Question about {} {token}", w[0]),
                    "html_url": format!("https://github.com/acme-labs/storm/issues/{}", 50_000 + i),
                    "user": github_user, "labels": [], "state": "open", "created_at": at,
                    "author_association": "NONE", "body": "How does this work?"
                },
                "comment": {
                    "id": 99_500_000 + i, "user": github_user, "created_at": at,
                    "html_url": format!("https://github.com/acme-labs/storm/issues/{}#issuecomment-{}", 50_000 + i, 99_500_000 + i),
                    "author_association": "CONTRIBUTOR",
                    "body": format!("I think the {} and the {} could share the {} code. {token}", w[0], w[1], w[2])
                },
                "repository": repository, "sender": github_user
            }),
        ),
        Kind::GithubMergedPr => (
            "github",
            "pull_request",
            github_delivery,
            json!({
                "action": "closed", "number": 20_000 + i,
                "pull_request": {
                    "html_url": format!("https://github.com/acme-labs/storm/pull/{}", 20_000 + i),
                    "number": 20_000 + i, "state": "closed",
                    "title": format!("Fix {} {} in the {} {token}", w[0], w[1], w[2]),
                    "user": github_user, "body": format!("Makes the {} faster.", w[3]), "labels": [],
                    "created_at": at, "closed_at": at, "merged_at": at, "merged": true,
                    "author_association": "CONTRIBUTOR"
                },
                "repository": repository,
                "sender": { "login": "acme-maintainer", "id": 5_800_001, "type": "User" }
            }),
        ),
        Kind::GithubStar | Kind::GithubUnstar => (
            "github",
            "star",
            github_delivery,
            json!({
                "action": if kind == Kind::GithubStar { "created" } else { "deleted" },
                "starred_at": if kind == Kind::GithubStar { json!(at) } else { json!(null) },
                "repository": repository,
                "sender": { "login": format!("stargazer-{i}"), "id": 9_500_000 + i, "type": "User" }
            }),
        ),
        Kind::GithubPoison => (
            "github",
            "issues",
            github_delivery,
            json!({
                "action": "opened",
                "issue": { "number": 80_000 + i, "title": ["not", "a", "title", token], "user": "nobody" },
                "repository": repository, "sender": github_user
            }),
        ),
        Kind::SlackBug => (
            "slack",
            "",
            format!("Ev0STORM{i:06}"),
            slack_message(
                format!(
                    "Bug: the {} {} crashes when I open the {}. {bug_text}",
                    w[0], w[1], w[2]
                ),
                None,
            ),
        ),
        Kind::SlackChat => (
            "slack",
            "",
            format!("Ev0STORM{i:06}"),
            slack_message(
                format!(
                    "Good morning everyone, the {} meetup on {} was great fun {token}",
                    w[0], w[1]
                ),
                None,
            ),
        ),
        Kind::SlackQuestion => (
            "slack",
            "",
            format!("Ev0STORM{i:06}"),
            slack_message(
                format!(
                    "How do I configure the {} for the {} in the {}? {token}",
                    w[0], w[1], w[2]
                ),
                None,
            ),
        ),
        Kind::SlackReaction => (
            "slack",
            "",
            format!("Ev0STORM{i:06}"),
            slack(json!({
                "type": "reaction_added", "user": format!("U0STORM{member:03}"), "reaction": "eyes",
                "item_user": "U0DEVUSR01",
                "item": { "type": "message", "channel": "C0DEVHELP1", "ts": format!("{}.{i:06}", now - 86_400) },
                "event_ts": format!("{now}.{i:06}")
            })),
        ),
        Kind::SlackTopicChange => (
            "slack",
            "",
            format!("Ev0STORM{i:06}"),
            slack_message(
                format!("set the channel topic: {} {token}", w[0]),
                Some("channel_topic"),
            ),
        ),
        Kind::DiscordReport => {
            let id = 1_316_598_213_468_980_000_u64 + i as u64;
            (
                "discord",
                "",
                id.to_string(),
                json!({
                    "app_permissions": "442368", "application_id": "1300000000000000001",
                    "channel_id": "1340000000000000001",
                    "channel": { "id": "1340000000000000001", "name": "help", "type": 0 },
                    "data": {
                        "id": "1350000000000000001", "name": "report", "type": 1,
                        "options": [
                            { "name": "summary", "type": 3, "value": format!("Bug: {} {} is broken in the {} {token}", w[0], w[1], w[2]) },
                            { "name": "details", "type": 3, "value": bug_text }
                        ]
                    },
                    "guild_id": "1360000000000000001", "guild_locale": "en-US", "id": id.to_string(),
                    "locale": "en-GB",
                    "member": {
                        "deaf": false, "joined_at": "2026-10-01T09:00:00.000000+00:00", "mute": false,
                        "nick": null, "pending": false, "permissions": "2147483647", "roles": [],
                        "user": {
                            "avatar": null, "discriminator": "0", "global_name": format!("Storm {member}"),
                            "id": (1_390_000_000_000_000_000_u64 + member as u64).to_string(),
                            "public_flags": 0, "username": format!("storm.{member}")
                        }
                    },
                    "token": "dev-interaction-token", "type": 2, "version": 1
                }),
            )
        }
        Kind::DiscourseFeature => (
            "discourse",
            "topic_created",
            (700_000 + i).to_string(),
            json!({ "topic": {
                "id": 40_000 + i, "title": format!("Feature request: {} for the {} and {} {token}", w[0], w[1], w[2]),
                "fancy_title": format!("Feature request: {} {token}", w[0]), "posts_count": 1, "created_at": at,
                "views": 0, "reply_count": 0, "like_count": 0, "last_posted_at": at, "visible": true,
                "closed": false, "archived": false, "archetype": "regular",
                "slug": format!("feature-request-{token}"), "category_id": 5, "category_slug": "ideas",
                "word_count": 42, "user_id": 5_000 + member, "tags": ["feature-request"],
                "created_by": { "id": 5_000 + member, "username": discourse_user, "name": discourse_user },
                "last_poster": { "id": 5_000 + member, "username": discourse_user, "name": discourse_user }
            }}),
        ),
        Kind::DiscourseReply => (
            "discourse",
            "post_created",
            (700_000 + i).to_string(),
            json!({ "post": {
                "id": 300_000 + i, "name": discourse_user, "username": discourse_user,
                "created_at": at, "cooked": "<p>Thanks!</p>",
                "raw": format!("Thanks, the {} tip about the {} helped me a lot {token}", w[0], w[1]),
                "post_number": 2, "post_type": 1, "updated_at": at, "reply_count": 0,
                "reply_to_post_number": null, "topic_id": 90_000 + i,
                "topic_slug": format!("topic-{token}"), "topic_title": format!("Tips for the {} {token}", w[0]),
                "topic_posts_count": 2, "category_id": 6, "category_slug": "general",
                "user_id": 5_000 + member, "trust_level": 1, "moderator": false, "admin": false,
                "staff": false, "hidden": false, "deleted_at": null, "wiki": false
            }}),
        ),
        Kind::DiscoursePoison => (
            "discourse",
            "topic_created",
            (700_000 + i).to_string(),
            json!({ "topic": { "id": 80_000 + i, "title": ["not", "a", "title", token], "created_at": at, "created_by": "nobody" } }),
        ),
        Kind::RelayQuestion => {
            let id = 1_380_100_000_000_000_000_u64 + i as u64;
            (
                "relay",
                "",
                format!("message-{id}"),
                json!({
                    "version": 1, "id": format!("message-{id}"), "source": "discord-gateway",
                    "type": "MESSAGE_CREATE", "occurredAt": at,
                    "data": {
                        "id": id.to_string(), "channel_id": "1340000000000000002",
                        "guild_id": "1360000000000000001",
                        "author": {
                            "id": (1_391_000_000_000_000_000_u64 + member as u64).to_string(),
                            "username": format!("relay_{member}"), "global_name": format!("Relay {member}"),
                            "discriminator": "0", "avatar": null
                        },
                        "member": { "nick": null, "roles": [], "joined_at": "2026-09-01T10:00:00.000000+00:00" },
                        "content": format!("Is there a way to rotate the {} without {} downtime? {token}", w[0], w[1]),
                        "timestamp": at, "edited_timestamp": null, "tts": false, "mention_everyone": false,
                        "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
                        "pinned": false, "type": 0, "channel_name": "questions"
                    }
                }),
            )
        }
        Kind::RelayBug => (
            "relay",
            "",
            format!("gh-storm-{i}"),
            json!({
                "version": 1, "id": format!("gh-storm-{i}"), "source": "github-actions",
                "type": "issue_opened", "occurredAt": at,
                "data": {
                    "actor": { "id": (5_900_000 + member).to_string(), "handle": format!("actions-user-{member}"), "displayName": format!("Actions {member}") },
                    "title": format!("{} loops forever after the {} {token}", w[0], w[1]),
                    "text": bug_text, "labels": ["bug"],
                    "url": format!("https://github.com/acme-labs/storm/issues/{}", 60_000 + i),
                    "repository": "acme-labs/storm", "threadId": (60_000 + i).to_string()
                }
            }),
        ),
    };
    Webhook {
        kind,
        platform_path,
        event,
        delivery_id,
        body: body.to_string(),
        deliveries: 1,
        late: false,
    }
}

/// What delivering the storm took.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivered {
    /// Requests sent to ingest (every platform retry included).
    pub requests: usize,
    /// Distinct webhooks ingest accepted (2xx) at least once.
    pub accepted: usize,
    /// Requests ingest answered 5xx/429, then sent again as the platform would.
    pub retried: usize,
    /// Webhooks sent again after the deduplication window.
    pub late: usize,
    /// Webhooks ingest refused (4xx): none is expected.
    pub refused: Vec<String>,
    /// ingest's invocations' durations, each rounded up to Lambda's 1 ms.
    pub ingest_billed_millis: u64,
    pub seconds: f64,
}

/// The platforms retry a 5xx or a timeout; the storm does the same, this often.
const MAX_ATTEMPTS: u32 = 12;

/// Sends every delivery of every webhook to ingest, `concurrency` at a
/// time in a random order, while the event-source mappings run; then the
/// late redeliveries; and waits for the pipeline to settle.
pub async fn deliver(
    stack: &Stack,
    webhooks: &[Webhook],
    config: &StormConfig,
    secrets: &DevSecrets,
) -> Result<Delivered, StormError> {
    let started = Instant::now();
    let mut random = fastrand::Rng::with_seed(config.seed ^ 0x0D31_17E2);
    let mut order: Vec<usize> = webhooks
        .iter()
        .enumerate()
        .flat_map(|(i, w)| std::iter::repeat_n(i, usize::from(w.deliveries)))
        .collect();
    random.shuffle(&mut order);

    let sent = AtomicBool::new(false);
    let sending = async {
        let mut outcomes = Vec::with_capacity(order.len());
        for wave in order.chunks(config.wave.max(1)) {
            let mut done: Vec<_> = futures_util::stream::iter(wave.iter().copied())
                .map(|i| deliver_one(stack, &webhooks[i], secrets))
                .buffer_unordered(config.concurrency.max(1))
                .collect()
                .await;
            outcomes.append(&mut done);
            // moto scans a FIFO queue on every send and receive: keep it
            // short, so the run measures the pipeline, not the emulator.
            wait_for_backlog(stack, config.wave / 2).await?;
        }
        sent.store(true, Ordering::SeqCst);
        Ok::<_, StormError>(outcomes)
    };
    // The two functions run side by side, as they do in Lambda.
    let normalizing = async {
        while !sent.load(Ordering::SeqCst) {
            stack
                .raw_events
                .poll_once(&stack.service.sqs, |event| stack.normalize.handle(event))
                .await
                .map_err(StackError::from)?;
        }
        Ok::<(), StackError>(())
    };
    let routing = async {
        while !sent.load(Ordering::SeqCst) {
            stack
                .normalized_events
                .poll_once(&stack.service.sqs, |event| stack.route.handle(event))
                .await
                .map_err(StackError::from)?;
        }
        Ok::<(), StackError>(())
    };
    let (outcomes, normalized, routed) = tokio::join!(sending, normalizing, routing);
    normalized?;
    routed?;
    let outcomes = outcomes?;

    let mut report = Delivered {
        requests: 0,
        ..Delivered::default()
    };
    let mut accepted = BTreeSet::new();
    for outcome in outcomes {
        let outcome = outcome?;
        report.requests += outcome.attempts as usize;
        report.ingest_billed_millis += outcome.billed_millis;
        report.retried += outcome.attempts.saturating_sub(1) as usize;
        match outcome.refused {
            Some(reason) => report.refused.push(reason),
            None => {
                accepted.insert(outcome.key);
            }
        }
    }
    report.accepted = accepted.len();
    stack.drain(config.settle).await?;

    // Past the deduplication window SQS takes the same message again; ingest
    // would give it the same deduplication id, so send it with a fresh one.
    let raw = community_aws::sqs::SqsQueue::new(
        stack.service.sqs.clone(),
        stack.reference("RawEventsQueue")?,
    );
    for webhook in webhooks.iter().filter(|w| w.late) {
        let mut message = webhook.message(secrets, OffsetDateTime::now_utc())?;
        message.deduplication_id = format!("late-{}", message.deduplication_id);
        message.deduplication_id.truncate(128);
        raw.send(&message).await?;
        report.late += 1;
    }
    stack.drain(config.settle).await?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Waits until the raw queue holds at most `limit` messages.
async fn wait_for_backlog(stack: &Stack, limit: usize) -> Result<(), StormError> {
    use community_aws::ports::QueueStats;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    loop {
        let depth = stack.service.sqs.depth(&stack.raw_events.queue_url).await?;
        if depth.visible + depth.in_flight <= limit {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Outcome {
    key: String,
    attempts: u32,
    billed_millis: u64,
    refused: Option<String>,
}

async fn deliver_one(
    stack: &Stack,
    webhook: &Webhook,
    secrets: &DevSecrets,
) -> Result<Outcome, StormError> {
    let mut attempts = 0;
    let mut billed_millis = 0;
    loop {
        attempts += 1;
        let request = webhook.request(secrets, OffsetDateTime::now_utc().unix_timestamp())?;
        let started = Instant::now();
        let response = stack.ingest.handle(request).await;
        billed_millis +=
            u64::try_from(started.elapsed().as_micros().div_ceil(1000).max(1)).unwrap_or(u64::MAX);
        let status = response.status_code;
        if (200..300).contains(&status) {
            return Ok(Outcome {
                key: webhook.key(),
                attempts,
                billed_millis,
                refused: None,
            });
        }
        if (status >= 500 || status == 429) && attempts < MAX_ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(50 * u64::from(attempts))).await;
            continue;
        }
        return Ok(Outcome {
            key: webhook.key(),
            attempts,
            billed_millis,
            refused: Some(format!(
                "{}: HTTP {status} {:?}",
                webhook.key(),
                response.body
            )),
        });
    }
}

/// A dead letter as the audit sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub queue: String,
    pub message_id: String,
    /// The webhook it came from, when the audit could tell.
    pub webhook: Option<String>,
    pub reason: String,
}

/// Where every accepted webhook ended, and what does not add up.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    pub webhooks: usize,
    pub accepted: usize,
    /// Webhooks whose events are all stored, exactly once.
    pub stored: usize,
    pub stored_events: usize,
    pub dropped_by_rule: usize,
    pub dead_lettered: usize,
    pub ticket_worthy: usize,
    pub tickets: usize,
    pub dead_letters: Vec<DeadLetter>,
    /// Stored events per kind.
    pub by_kind: BTreeMap<Kind, usize>,
    /// Everything that does not add up; empty when the storm passed.
    pub problems: Vec<String>,
}

/// Accounts for every webhook against the stack's tables, dead-letter
/// queues and the tracker's tickets (`ticket_bodies`: each ticket's
/// description, which carries `community-event:<event id>`).
pub async fn audit(
    stack: &Stack,
    webhooks: &[Webhook],
    delivered: &Delivered,
    secrets: &DevSecrets,
    ticket_bodies: &[String],
) -> Result<Audit, StormError> {
    let now = OffsetDateTime::now_utc();
    let mut audit = Audit {
        webhooks: webhooks.len(),
        accepted: delivered.accepted,
        ..Audit::default()
    };
    for refused in &delivered.refused {
        audit
            .problems
            .push(format!("refused at the edge: {refused}"));
    }

    // What each webhook must become, by the pure functions.
    let mut owner_of_event: HashMap<String, usize> = HashMap::new();
    let mut owner_of_delivery: HashMap<(String, String), usize> = HashMap::new();
    let mut expected = Vec::with_capacity(webhooks.len());
    for (index, webhook) in webhooks.iter().enumerate() {
        let outcome = webhook.expected(secrets, now)?;
        match &outcome {
            Expected::Events(ids) => {
                for id in ids {
                    owner_of_event.insert(id.to_string(), index);
                }
            }
            Expected::Dropped(id) => {
                owner_of_event.insert(id.to_string(), index);
            }
            Expected::Poison(_) => {}
        }
        // The envelope's delivery id (Discourse's is the content identity,
        // not the X-Discourse-Event-Id), as a raw dead letter names it.
        let message = webhook.message(secrets, now)?;
        if let Ok(envelope) = platforms::Envelope::decode(&message.body) {
            owner_of_delivery.insert(
                (
                    envelope.platform.as_str().to_owned(),
                    envelope.delivery_id.to_string(),
                ),
                index,
            );
        }
        expected.push(outcome);
    }

    // Stored events (the platforms' own; lifecycle milestones are derived).
    let events_table = stack.reference("EventsTable")?;
    let mut stored: HashMap<String, canonical_event::CanonicalEvent> = HashMap::new();
    for item in community_aws::scan_all(&stack.service.dynamodb, &events_table, None).await? {
        let event = community_aws::events::event_from_item(item)?;
        if event.event_type.is_derived() {
            continue;
        }
        stored.insert(event.event_id.to_string(), event);
    }
    audit.stored_events = stored.len();
    for id in stored.keys() {
        if !owner_of_event.contains_key(id) {
            audit.problems.push(format!(
                "stored event {id} belongs to no webhook of the storm"
            ));
        }
    }

    // Drops recorded by the ledger.
    let ledger_table = stack.reference("LedgerTable")?;
    let mut dropped = BTreeSet::new();
    for item in community_aws::scan_all(&stack.service.dynamodb, &ledger_table, None).await? {
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        if text("status").as_deref() == Some("dropped")
            && let Some(id) = text("eventId")
        {
            dropped.insert(id);
        }
    }

    // Dead letters, read without removing them.
    let mut dead_by_webhook: BTreeMap<usize, usize> = BTreeMap::new();
    for queue in [
        "RawEventsDeadLetterQueue",
        "NormalizedEventsDeadLetterQueue",
    ] {
        let url = stack.reference(queue)?;
        for message in peek_all(&stack.service.sqs, &url).await? {
            let body = message.body.clone().unwrap_or_default();
            let webhook = owner_of_dead_letter(&body, &owner_of_delivery, &owner_of_event);
            if let Some(index) = webhook {
                *dead_by_webhook.entry(index).or_default() += 1;
            }
            let reason = community_aws::redrive::reason_of(&message);
            audit.dead_letters.push(DeadLetter {
                queue: queue.to_owned(),
                message_id: message.message_id.clone().unwrap_or_default(),
                webhook: webhook.map(|i| webhooks[i].key()),
                reason,
            });
        }
    }
    for letter in &audit.dead_letters {
        if letter.webhook.is_none() {
            audit.problems.push(format!(
                "dead letter {} in {} belongs to no webhook",
                letter.message_id, letter.queue
            ));
        }
    }

    // Every webhook in exactly one place.
    for (index, (webhook, outcome)) in webhooks.iter().zip(&expected).enumerate() {
        let key = webhook.key();
        let dead = dead_by_webhook.get(&index).copied().unwrap_or(0);
        match outcome {
            Expected::Events(ids) => {
                let present = ids
                    .iter()
                    .filter(|id| stored.contains_key(&id.to_string()))
                    .count();
                if present == ids.len() && !ids.is_empty() {
                    audit.stored += 1;
                    for id in ids {
                        if let Some(event) = stored.get(&id.to_string()) {
                            *audit.by_kind.entry(webhook.kind).or_default() += 1;
                            if event.routing_target == RoutingTarget::ProductBacklog {
                                audit.ticket_worthy += 1;
                            }
                        }
                    }
                    if dead > 0 {
                        audit
                            .problems
                            .push(format!("{key}: stored and also dead-lettered {dead}×"));
                    }
                } else if dead > 0 {
                    audit.dead_lettered += 1;
                } else {
                    audit.problems.push(format!(
                        "{key} ({:?}): lost: {present} of {} events stored, no dead letter",
                        webhook.kind,
                        ids.len()
                    ));
                }
            }
            Expected::Dropped(id) => {
                if dropped.contains(&id.to_string()) {
                    audit.dropped_by_rule += 1;
                } else if dead > 0 {
                    audit.dead_lettered += 1;
                } else {
                    audit
                        .problems
                        .push(format!("{key}: expected a drop by rule, none recorded"));
                }
            }
            Expected::Poison(why) => {
                if dead > 0 {
                    audit.dead_lettered += 1;
                } else {
                    audit
                        .problems
                        .push(format!("{key}: poison ({why}) not in a dead-letter queue"));
                }
            }
        }
    }
    if audit.stored + audit.dropped_by_rule + audit.dead_lettered != audit.accepted {
        audit.problems.push(format!(
            "accepted {} ≠ stored {} + dropped by rule {} + dead-lettered {}",
            audit.accepted, audit.stored, audit.dropped_by_rule, audit.dead_lettered
        ));
    }
    for letter in &audit.dead_letters {
        if letter.reason.trim().is_empty() || letter.reason == community_aws::redrive::NO_REASON {
            audit.problems.push(format!(
                "dead letter {} ({}) has no reason",
                letter.message_id,
                letter.webhook.as_deref().unwrap_or("?")
            ));
        }
    }

    // One ticket per ticket-worthy event.
    let mut tickets_of: BTreeMap<String, usize> = BTreeMap::new();
    for body in ticket_bodies {
        match marked_event(body) {
            Some(id) => *tickets_of.entry(id).or_default() += 1,
            None => audit
                .problems
                .push("a ticket without a community-event marker".to_owned()),
        }
    }
    audit.tickets = ticket_bodies.len();
    for (id, event) in &stored {
        let count = tickets_of.get(id).copied().unwrap_or(0);
        let worthy = event.routing_target == RoutingTarget::ProductBacklog;
        if worthy && count != 1 {
            audit
                .problems
                .push(format!("ticket-worthy event {id}: {count} tickets"));
        }
        if !worthy && count > 0 {
            audit.problems.push(format!(
                "event {id} is not ticket-worthy but has {count} tickets"
            ));
        }
    }
    for id in tickets_of.keys() {
        if !stored.contains_key(id) {
            audit
                .problems
                .push(format!("ticket for {id}, which is not a stored event"));
        }
    }
    Ok(audit)
}

/// The event id in a ticket body's `community-event:<id>` marker.
fn marked_event(body: &str) -> Option<String> {
    let marker = "community-event:";
    let start = body.find(marker)? + marker.len();
    let id: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    (!id.is_empty()).then_some(id)
}

/// The webhook a dead letter came from: a raw envelope names its delivery,
/// a normalized event its event id.
fn owner_of_dead_letter(
    body: &str,
    by_delivery: &HashMap<(String, String), usize>,
    by_event: &HashMap<String, usize>,
) -> Option<usize> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    if let Some(id) = value.get("eventId").and_then(serde_json::Value::as_str) {
        return by_event.get(id).copied();
    }
    let platform = value.get("platform")?.as_str()?;
    let delivery = value.get("deliveryId")?.as_str()?;
    by_delivery
        .get(&(platform.to_owned(), delivery.to_owned()))
        .copied()
}

fn sqs_error<E: std::fmt::Debug>(operation: &'static str) -> impl Fn(E) -> community_aws::AwsError {
    move |e| community_aws::AwsError::retryable(operation, "Sdk", format!("{e:?}"))
}

/// Every message of a queue, received and then made visible again, so the
/// queue is unchanged (a FIFO queue hands out one group's messages at a time).
pub async fn peek_all(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<Vec<aws_sdk_sqs::types::Message>, StormError> {
    let mut seen: Vec<aws_sdk_sqs::types::Message> = Vec::new();
    loop {
        let output = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(120)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(sqs_error("ReceiveMessage"))?;
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        seen.extend(messages);
    }
    for message in &seen {
        if let Some(handle) = &message.receipt_handle {
            sqs.change_message_visibility()
                .queue_url(url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await
                .map_err(sqs_error("ChangeMessageVisibility"))?;
        }
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Each kind is what its name says, by the pure functions alone: the
    /// storm's expectations do not depend on the stack it audits.
    #[test]
    fn every_kind_becomes_what_the_storm_expects() {
        let config = StormConfig::new(STORED.len() * 2);
        let mut config = config;
        config.dropped = 4;
        config.poison = 4;
        let now = OffsetDateTime::now_utc();
        let secrets = DevSecrets::default();
        for webhook in plan(&config, now.unix_timestamp()) {
            let expected = webhook.expected(&secrets, now);
            let ok = match (&expected, webhook.kind) {
                (Ok(Expected::Events(ids)), kind) => ids.len() == 1 && STORED.contains(&kind),
                (Ok(Expected::Dropped(_)), kind) => DROPPED.contains(&kind),
                (Ok(Expected::Poison(_)), kind) => POISON.contains(&kind),
                (Err(_), _) => false,
            };
            assert!(ok, "{:?}: {expected:?}", webhook.kind);
        }
    }

    #[test]
    fn tokens_are_unique_words() {
        let tokens: BTreeSet<String> = (0..5000).map(token).collect();
        assert_eq!(tokens.len(), 5000);
        assert!(
            tokens
                .iter()
                .all(|t| t.chars().all(|c| c.is_ascii_lowercase()))
        );
    }
}
