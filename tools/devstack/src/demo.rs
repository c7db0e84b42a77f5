//! The `make dev` demo: post the signed fixtures over HTTP, wait for the
//! pipeline to settle, and print what each delivery became.
#![allow(clippy::print_stdout)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use canonical_event::CanonicalEvent;
use community_aws::events::EventReader;

use crate::Stack;
use crate::fixtures::{self, Signature};
use crate::standins::{Faults, StandIns};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Fixture(#[from] fixtures::FixtureError),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("store: {0}")]
    Store(#[from] community_aws::AwsError),
    #[error("{0}")]
    Stack(#[from] crate::StackError),
    #[error("demo: {0}")]
    Unexpected(String),
}

pub async fn run(
    stack: &Stack,
    root: &Path,
    port: u16,
    standins: Option<&StandIns>,
) -> Result<(), DemoError> {
    let secrets = &stack.options.secrets;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| DemoError::Http(e.to_string()))?;
    println!("\n1. Webhook deliveries from every platform → POST /webhooks/{{platform}}");
    let mut expected_ids = BTreeSet::new();
    let now = time::OffsetDateTime::now_utc();
    let mut last_platform = "";
    for delivery in fixtures::deliveries() {
        let (headers, body) =
            fixtures::http_request_at(root, &delivery, secrets, now.unix_timestamp())?;
        if delivery.platform_name() != last_platform {
            last_platform = delivery.platform_name();
            println!("   {last_platform}");
        }
        let response = post(&http, port, &delivery, &headers, &body).await?;
        let status = response.status().as_u16();
        let answer = response.text().await.unwrap_or_default();
        let mark = if status == delivery.expect_status {
            "ok "
        } else {
            "!! "
        };
        println!(
            "     {mark}{:<44} → {status} {}",
            delivery.fixture.trim_end_matches(".json"),
            shorten(&answer, 70),
        );
        if status != delivery.expect_status {
            return Err(DemoError::Unexpected(format!(
                "{} answered {status}, expected {}",
                delivery.fixture, delivery.expect_status
            )));
        }
        // What ingest enqueued, adapted here too: the ids the pipeline must store.
        if delivery.signature == Signature::Valid
            && delivery.platform_name() != "myspace"
            && let Ok(platforms::Accepted::Enqueue { message, .. }) =
                fixtures::accept_locally(&delivery, &headers, &body, secrets, now)
        {
            let envelope = platforms::Envelope::decode(&message.body)
                .map_err(|e| DemoError::Unexpected(e.to_string()))?;
            if let Ok(platforms::Adapted::Events(drafts)) = platforms::adapt(&envelope) {
                expected_ids.extend(drafts.into_iter().map(|d| d.event_id));
            }
        }
    }

    println!("\n2. normalize and route run from the FIFO queues …");
    let reader = EventReader::new(
        stack.clients.dynamodb.clone(),
        stack.reference("EventsTable")?,
        90,
    );
    let started = tokio::time::Instant::now();
    let stored: Vec<CanonicalEvent> = loop {
        let now = time::OffsetDateTime::now_utc();
        let mut found = Vec::new();
        for id in &expected_ids {
            if let Some(event) = reader.get(&id.to_string(), now).await? {
                found.push(event);
            }
        }
        if found.len() == expected_ids.len() {
            break found;
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(DemoError::Unexpected(format!(
                "only {} of {} events stored after 60 s",
                found.len(),
                expected_ids.len()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!(
        "   stored {} events in {:.1} s\n",
        stored.len(),
        started.elapsed().as_secs_f64()
    );

    println!("3. What each became (events table; routing target acted on):");
    let mut sorted = stored;
    sorted.sort_by_key(|e| e.timestamp);
    for event in &sorted {
        let why: Vec<&str> = event.reasons.iter().map(|r| r.detail.as_str()).collect();
        println!(
            "   {:<9} {:<28} {:<14} {:<20} score {:.2} {:<6} → {:<15} {}",
            event.platform.as_str(),
            shorten(&event.provenance.platform_event, 28),
            event.actor.handle,
            event.event_type.as_str(),
            event.signal_score,
            event.signal.as_str(),
            event.routing_target.as_str(),
            if why.is_empty() {
                String::new()
            } else {
                format!("({})", why.join("; "))
            }
        );
    }
    let outbox =
        community_aws::outbox::list(&stack.clients.dynamodb, &stack.reference("OutboxTable")?)
            .await?;
    println!(
        "\n   outbox (ticket requests for the product backlog): {}",
        outbox.len()
    );
    for ticket in &outbox {
        println!(
            "     [{}] {} — reported by {}",
            ticket.status, ticket.title, ticket.reporter
        );
    }
    let members =
        community_aws::members::list(&stack.clients.dynamodb, &stack.reference("MembersTable")?)
            .await?;
    println!(
        "   members: {}",
        members
            .iter()
            .map(|m| format!("{} ({} contributions)", m.handle, m.contributions))
            .collect::<Vec<_>>()
            .join(", ")
    );

    moderation_and_identity(stack, &http, root, port, &reader).await?;

    println!("\n7. alert sweep:");
    match stack.alert.handle().await {
        Ok(summary) => {
            for line in summary.text().lines() {
                println!("   {line}");
            }
        }
        Err(error) => println!("   alert failed: {error}"),
    }
    if let Some(standins) = standins {
        tickets_and_alerts(stack, &http, root, port, standins).await?;
    }
    println!(
        "\n   In another shell: source scripts/env.sh && cargo run -q -p communityctl -- --stack {} events --json --limit 5",
        stack.options.stack_name
    );
    Ok(())
}

async fn post(
    http: &reqwest::Client,
    port: u16,
    delivery: &fixtures::Delivery,
    headers: &std::collections::BTreeMap<String, String>,
    body: &str,
) -> Result<reqwest::Response, DemoError> {
    let mut request = http
        .post(format!(
            "http://127.0.0.1:{port}/webhooks/{}",
            delivery.platform
        ))
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request
        .send()
        .await
        .map_err(|e| DemoError::Http(e.to_string()))
}

/// Posts one delivery, checks its answer, and returns the ids of the events
/// it must become.
async fn deliver(
    stack: &Stack,
    http: &reqwest::Client,
    root: &Path,
    port: u16,
    delivery: &fixtures::Delivery,
) -> Result<Vec<canonical_event::EventId>, DemoError> {
    let secrets = &stack.options.secrets;
    let now = time::OffsetDateTime::now_utc();
    let (headers, body) = fixtures::http_request_at(root, delivery, secrets, now.unix_timestamp())?;
    let status = post(http, port, delivery, &headers, &body)
        .await?
        .status()
        .as_u16();
    println!(
        "   {:<44} → {status}",
        delivery.fixture.trim_end_matches(".json")
    );
    if status != delivery.expect_status {
        return Err(DemoError::Unexpected(format!(
            "{} answered {status}, expected {}",
            delivery.fixture, delivery.expect_status
        )));
    }
    let mut ids = Vec::new();
    if let Ok(platforms::Accepted::Enqueue { message, .. }) =
        fixtures::accept_locally(delivery, &headers, &body, secrets, now)
    {
        let envelope = platforms::Envelope::decode(&message.body)
            .map_err(|e| DemoError::Unexpected(e.to_string()))?;
        if let Ok(platforms::Adapted::Events(drafts)) = platforms::adapt(&envelope) {
            ids.extend(drafts.into_iter().map(|d| d.event_id));
        }
    }
    Ok(ids)
}

/// Waits (up to 60 s) until `id` is stored, and returns it.
async fn stored_event(
    reader: &EventReader,
    id: &canonical_event::EventId,
) -> Result<CanonicalEvent, DemoError> {
    let started = tokio::time::Instant::now();
    loop {
        let now = time::OffsetDateTime::now_utc();
        if let Some(event) = reader.get(&id.to_string(), now).await? {
            return Ok(event);
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(DemoError::Unexpected(format!("{id} not stored after 60 s")));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs the operator CLI exactly as a user would, against this stack.
fn communityctl(stack: &Stack, args: &[&str]) -> Result<(), DemoError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    println!("   $ communityctl {}", args.join(" "));
    let status = std::process::Command::new(cargo)
        .args(["run", "-q", "-p", "communityctl", "--", "--stack"])
        .arg(&stack.options.stack_name)
        .args(args)
        .status()
        .map_err(|e| DemoError::Unexpected(format!("communityctl: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(DemoError::Unexpected(format!(
            "communityctl {} failed: {status}",
            args.join(" ")
        )))
    }
}

/// The second act: moderation holds a spam message until a person releases
/// it; two identities of one person are merged by a rule, then unmerged.
async fn moderation_and_identity(
    stack: &Stack,
    http: &reqwest::Client,
    root: &Path,
    port: u16,
    reader: &EventReader,
) -> Result<(), DemoError> {
    let extras = fixtures::moderation_and_identity_demo();
    println!("\n5. Moderation: spam is held for a person, never deleted");
    let Some(spam) = extras.first() else {
        return Ok(());
    };
    let ids = deliver(stack, http, root, port, spam).await?;
    let Some(id) = ids.first() else {
        return Err(DemoError::Unexpected(
            "the spam message made no event".into(),
        ));
    };
    let held = stored_event(reader, id).await?;
    println!(
        "   stored as {} → {} ({})",
        held.event_type.as_str(),
        held.routing_target.as_str(),
        held.reasons
            .iter()
            .filter(|r| r.rule.starts_with("moderation"))
            .map(|r| r.detail.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    );
    communityctl(stack, &["review", "list"])?;
    let id_text = id.to_string();
    communityctl(
        stack,
        &[
            "review",
            "approve",
            &id_text,
            "--by",
            "demo-moderator",
            "--note",
            "a real offer from a sponsor",
        ],
    )?;
    let released = stored_event(reader, id).await?;
    println!(
        "   the event is now routed to {} (held: {})",
        released.routing_target.as_str(),
        released.moderation.as_ref().is_some_and(|m| m.held)
    );

    println!(
        "\n6. Identity: sam-contrib (GitHub, merged a pull request above) joins Slack;\n   \
         the Slack profile email is GitHub's no-reply address for that login"
    );
    let Some(join) = extras.get(1) else {
        return Ok(());
    };
    for id in deliver(stack, http, root, port, join).await? {
        stored_event(reader, &id).await?;
    }
    let table = stack.reference("MembersTable")?;
    let github_member = community_aws::members::first_member_id(
        canonical_event::Platform::Github,
        DEMO_GITHUB_USER_ID,
    );
    let now = time::OffsetDateTime::now_utc();
    let merge_id =
        community_aws::members::history(&stack.clients.dynamodb, &table, &github_member, now)
            .await
            .map_err(|e| DemoError::Unexpected(e.to_string()))?
            .into_iter()
            .find(|h| h.kind == "merge" && h.status.as_deref() == Some("active"))
            .map(|h| h.merge_id)
            .ok_or_else(|| DemoError::Unexpected("the two identities were not merged".into()))?;
    communityctl(stack, &["members", "history", &github_member])?;
    communityctl(
        stack,
        &[
            "members",
            "unmerge",
            &merge_id,
            "--by",
            "demo-admin",
            "--reason",
            "two different people",
        ],
    )?;
    communityctl(stack, &["members", "history", &github_member])?;
    communityctl(stack, &["members", "list"])?;
    Ok(())
}

/// The GitHub user id of the merged pull request's author in the fixtures
/// (`events/payloads/github/pull_request.closed.merged.json`).
const DEMO_GITHUB_USER_ID: &str = "5811002";

/// At most `max` characters, marked when cut (answers can be long JSON).
/// Polls `check` every 250 ms for up to 60 s.
async fn until<F, Fut>(what: &str, check: F) -> Result<(), DemoError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, DemoError>>,
{
    until_within(what, Duration::from_secs(60), check).await
}

/// Polls `check` every 250 ms for up to `limit`.
async fn until_within<F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<(), DemoError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, DemoError>>,
{
    let started = tokio::time::Instant::now();
    while !check().await? {
        if started.elapsed() > limit {
            return Err(DemoError::Unexpected(format!(
                "{what}: not after {} s",
                limit.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// The third act, against the Linear and Slack stand-ins: the Slack bug
/// report became one ticket, a second member's report joins it, Linear's
/// webhook closes it and the reporters hear; then an alert fires during a
/// tracker outage and recovers after a redrive.
async fn tickets_and_alerts(
    stack: &Stack,
    http: &reqwest::Client,
    root: &Path,
    port: u16,
    standins: &StandIns,
) -> Result<(), DemoError> {
    use community_aws::tickets::{DynamoTicketLedger, TicketLedger, ticket_pk};
    let ledger = DynamoTicketLedger::new(
        stack.clients.dynamodb.clone(),
        &stack.reference("OutboxTable")?,
        &stack.reference("CountersTable")?,
    );
    let csv_issue = || {
        standins
            .issues()
            .into_iter()
            .find(|i| i.title.contains("NullPointerException"))
    };
    println!(
        "\n8. Tickets in Linear (local stand-in: {}/_standins/state)",
        standins.base_url
    );
    until("the Slack bug report's ticket", || async {
        Ok(csv_issue().is_some())
    })
    .await?;
    for issue in standins.issues() {
        println!("   {} {}", issue.identifier, shorten(&issue.title, 80));
    }
    let extras = fixtures::tickets_demo();
    let (Some(again), Some(login)) = (extras.first(), extras.get(1)) else {
        return Ok(());
    };
    println!("   a second member reports the same crash in Slack:");
    deliver(stack, http, root, port, again).await?;
    until("the +1 on the ticket", || async {
        Ok(csv_issue().is_some_and(|i| !i.comments.is_empty()))
    })
    .await?;
    let Some(issue) = csv_issue() else {
        return Err(DemoError::Unexpected("the CSV ticket vanished".into()));
    };
    println!(
        "   → no new ticket; {} got a comment: {}",
        issue.identifier,
        shorten(issue.comments.last().map_or("", String::as_str), 90)
    );

    println!(
        "   the team fixes it; Linear's webhook says {} is done:",
        issue.identifier
    );
    let (headers, body) = linear_completed(&issue.id);
    let mut request = http
        .post(format!("http://127.0.0.1:{port}/webhooks/linear"))
        .body(body);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let status = request
        .send()
        .await
        .map_err(|e| DemoError::Http(e.to_string()))?
        .status();
    println!("   POST /webhooks/linear (signed) → {}", status.as_u16());
    let pk = ticket_pk("linear", &issue.id);
    until("the resolution", || async {
        Ok(ledger.ticket(&pk).await?.is_some_and(|t| t.reporters_told))
    })
    .await?;
    if let Some(ticket) = ledger.ticket(&pk).await? {
        println!(
            "   resolved: {} asked, feedback resolution time {}",
            ticket.askers.len(),
            route::tickets::human_duration(ticket.resolution_seconds.unwrap_or(0))
        );
    }
    for text in standins.slack_messages("feedback") {
        println!("   Slack #feedback: {}", shorten(&text, 110));
    }
    for text in standins.slack_messages("recognition") {
        println!("   Slack #recognition: {}", shorten(&text, 110));
    }

    println!("\n9. Alerts: Linear goes down while another bug is reported");
    standins.set_linear_faults(Faults {
        unavailable_next: u32::MAX,
        ..Faults::default()
    });
    deliver(stack, http, root, port, login).await?;
    let dlq = stack.reference("NormalizedEventsDeadLetterQueue")?;
    // Three receives, each backing off until the invocation's deadline.
    until_within("the dead letter", Duration::from_secs(240), || async {
        let depth = community_aws::ports::QueueStats::depth(&stack.clients.sqs, &dlq).await?;
        Ok(depth.visible > 0)
    })
    .await?;
    sweep_and_show_alert(stack, standins, "the alert").await?;
    println!("   Linear is back; the operator redrives the dead letter:");
    standins.set_linear_faults(Faults::default());
    communityctl(stack, &["dlq", "redrive"])?;
    until("the ticket after the redrive", || async {
        Ok(standins
            .issues()
            .iter()
            .any(|i| i.title.contains("login page")))
    })
    .await?;
    until("the dead-letter queue to empty", || async {
        let depth = community_aws::ports::QueueStats::depth(&stack.clients.sqs, &dlq).await?;
        Ok(depth.visible + depth.in_flight == 0)
    })
    .await?;
    sweep_and_show_alert(stack, standins, "the recovery").await?;
    communityctl(stack, &["metrics"])?;
    Ok(())
}

/// Runs an alert sweep and prints the headline of what reached Slack's
/// #alerts (the background sweep may be the one that sends it).
async fn sweep_and_show_alert(
    stack: &Stack,
    standins: &StandIns,
    what: &str,
) -> Result<(), DemoError> {
    let seen = standins.slack_messages("alerts").len();
    stack
        .alert
        .handle()
        .await
        .map_err(|e| DemoError::Unexpected(e.to_string()))?;
    until(what, || async {
        Ok(standins.slack_messages("alerts").len() > seen)
    })
    .await?;
    for text in standins.slack_messages("alerts").iter().skip(seen) {
        println!(
            "   Slack #alerts: {}",
            shorten(text.lines().next().unwrap_or(""), 110)
        );
    }
    Ok(())
}

/// Linear's Issue webhook for a completed issue, signed as Linear signs it.
fn linear_completed(issue_id: &str) -> (Vec<(String, String)>, String) {
    use hmac::Mac;
    let now = time::OffsetDateTime::now_utc();
    let at = canonical_event::rfc3339_utc(now);
    let body = serde_json::json!({
        "action": "update", "type": "Issue", "createdAt": at,
        "data": {
            "id": issue_id, "completedAt": at,
            "state": { "id": "state-done", "name": "Done", "type": "completed" }
        },
        "updatedFrom": { "completedAt": null, "stateId": "state-in-progress" },
        "webhookTimestamp": i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
        "webhookId": "dev-webhook"
    })
    .to_string();
    let signature =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(StandIns::LINEAR_WEBHOOK_SECRET.as_bytes())
            .map(|mut mac| {
                mac.update(body.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            })
            .unwrap_or_default();
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("linear-signature".to_owned(), signature),
        (
            "linear-delivery".to_owned(),
            uuid::Uuid::new_v4().to_string(),
        ),
        ("linear-event".to_owned(), "Issue".to_owned()),
    ];
    (headers, body)
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
