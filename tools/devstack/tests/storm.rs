//! The duplicate storm and the fault run, on the emulator with the real
//! functions (tools/devstack/src/storm.rs builds and audits the storm,
//! tools/devstack/src/faults.rs is the proxy).
//!
//! `make test` runs both shortened (300 and 80 events: moto copies tables
//! inside transactions, so its time grows faster than the event count);
//! `make storm` runs both at 1,000 and prints the cost figures.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;

use common::*;
use devstack::faults::{FaultProxy, Flavour};
use devstack::secrets::DevSecrets;
use devstack::standins::StandIns;
use devstack::storm::{self, Audit, StormConfig};
use devstack::{Stack, StackOptions};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn moto_url() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect("the emulator tests need AWS_ENDPOINT_URL")
}

/// A stack whose functions reach the emulator through `aws` and the Linear
/// and Slack stand-ins through `http`; the event-source mappings (Lambda's
/// side) go through `aws` too when `pollers_through_proxy`.
async fn storm_stack(
    prefix: &str,
    standins: &StandIns,
    aws: &FaultProxy,
    http: &FaultProxy,
    pollers_through_proxy: bool,
    max_attempts: Option<u32>,
) -> Stack {
    let sdk = sdk().await;
    let mut overrides = BTreeMap::new();
    for (parameter, name, value) in standins.stack_parameters(&format!("/{}", unique(prefix))) {
        let value = value.replace(&standins.base_url, &http.base_url);
        devstack::provision::put_secret(&sdk, &name, &value)
            .await
            .unwrap();
        overrides.insert(parameter, name);
    }
    // Similar reports join one ticket by design; at 1.0 only identical titles
    // do, so one ticket per ticket-worthy event is what must come out.
    overrides.insert("SimilarityThreshold".to_owned(), "1.0".to_owned());
    let mut options = StackOptions::new(unique(prefix));
    options.secrets = DevSecrets::default();
    options.parameter_overrides = overrides;
    options.function_endpoint = Some(aws.base_url.clone());
    if pollers_through_proxy {
        options.service_endpoint = Some(aws.base_url.clone());
    }
    options.function_max_attempts = max_attempts;
    Stack::start(&template(), &sdk, options).await.unwrap()
}

/// Deletes the storm's tables once audited: moto keeps every item (and
/// copies tables inside transactions), and the other emulator tests share it.
async fn drop_tables(stack: &Stack) {
    for table in [
        "MembersTable",
        "LedgerTable",
        "EventsTable",
        "CountersTable",
        "ReviewsTable",
        "OutboxTable",
    ] {
        let name = stack.reference(table).unwrap();
        stack
            .service
            .dynamodb
            .delete_table()
            .table_name(name)
            .send()
            .await
            .unwrap();
    }
}

fn ticket_bodies(standins: &StandIns) -> Vec<String> {
    standins
        .issues()
        .into_iter()
        .map(|issue| issue.description)
        .collect()
}

fn assert_clean(audit: &Audit, config: &StormConfig) {
    assert!(
        audit.problems.is_empty(),
        "{} problems, first 20: {:#?}",
        audit.problems.len(),
        &audit.problems[..audit.problems.len().min(20)]
    );
    assert_eq!(audit.accepted, audit.webhooks, "every webhook was accepted");
    assert_eq!(audit.stored, config.events, "{audit:#?}");
    assert_eq!(audit.stored_events, config.events);
    assert_eq!(audit.dropped_by_rule, config.dropped);
    assert_eq!(audit.dead_lettered, config.poison);
    assert!(
        audit.ticket_worthy >= config.events / 5,
        "the storm must exercise tickets: {} ticket-worthy of {}",
        audit.ticket_worthy,
        config.events
    );
    assert_eq!(audit.tickets, audit.ticket_worthy);
}

/// Where `make storm-cost` finds the counts.
fn write_counts(name: &str, value: &serde_json::Value) {
    let dir = devstack::repo_root().join("target/storm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(name),
        serde_json::to_string_pretty(value).unwrap() + "\n",
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_webhooks_delivered_up_to_four_times_is_stored_and_ticketed_exactly_once() {
    let config = StormConfig::new(env_number("STORM_EVENTS", 300));
    let standins = StandIns::start().await.unwrap();
    // Rate 0: the proxies only count, for the cost figures.
    let aws = FaultProxy::start(&moto_url(), Flavour::Aws, 0.0, 1)
        .await
        .unwrap();
    let http = FaultProxy::start(&standins.base_url, Flavour::Http, 0.0, 2)
        .await
        .unwrap();
    let stack = storm_stack("storm", &standins, &aws, &http, true, None).await;
    aws.reset_stats();
    let secrets = DevSecrets::default();
    let webhooks = storm::plan(&config, time::OffsetDateTime::now_utc().unix_timestamp());

    let delivered = storm::deliver(&stack, &webhooks, &config, &secrets)
        .await
        .unwrap();
    let counted_aws = aws.stats();
    let counted_http = http.stats();
    let invocations = |mapping: &devstack::pump::Mapping| {
        let (count, records, billed_millis) = mapping.invocations.snapshot();
        serde_json::json!({ "invocations": count, "records": records, "billedMillis": billed_millis })
    };
    let lambda = serde_json::json!({
        "ingest": { "invocations": delivered.requests, "records": delivered.requests, "billedMillis": delivered.ingest_billed_millis },
        "normalize": invocations(&stack.raw_events),
        "route": invocations(&stack.normalized_events),
    });
    let audit = storm::audit(
        &stack,
        &webhooks,
        &delivered,
        &secrets,
        &ticket_bodies(&standins),
    )
    .await
    .unwrap();
    eprintln!(
        "storm: {} webhooks, {} requests to ingest, {} late, {:.1} s; stored {}, dropped {}, dead-lettered {}, tickets {}",
        audit.webhooks,
        delivered.requests,
        delivered.late,
        delivered.seconds,
        audit.stored,
        audit.dropped_by_rule,
        audit.dead_lettered,
        audit.tickets
    );
    write_counts(
        &format!("requests-{}.json", config.events),
        &serde_json::json!({
            "events": audit.stored_events,
            "webhooks": audit.webhooks,
            "ingestRequests": delivered.requests,
            "lateRedeliveries": delivered.late,
            "accepted": audit.accepted,
            "ticketWorthy": audit.ticket_worthy,
            "tickets": audit.tickets,
            "seconds": delivered.seconds,
            "lambda": lambda,
            "aws": counted_aws,
            "http": counted_http,
        }),
    );
    drop_tables(&stack).await;
    assert_clean(&audit, &config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storm_through_injected_faults_loses_and_duplicates_nothing_and_redrive_brings_it_home()
{
    let mut config = StormConfig::new(env_number("STORM_FAULT_EVENTS", 80));
    config.seed ^= 0xFA17;
    let rate = std::env::var("STORM_FAULT_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.2);
    let standins = StandIns::start().await.unwrap();
    let aws = FaultProxy::start(&moto_url(), Flavour::Aws, 0.0, 3)
        .await
        .unwrap();
    let http = FaultProxy::start(&standins.base_url, Flavour::Http, 0.0, 4)
        .await
        .unwrap();
    // Lambda's pollers are AWS's side and do not fail this way: straight to
    // the emulator. Two SDK attempts instead of three, so that a fifth of the
    // records fail and SQS retries them, and some end in the dead-letter
    // queues: the pipeline's own retries and the redrive are what is tested.
    let attempts = env_number("STORM_SDK_ATTEMPTS", 2) as u32;
    let stack = storm_stack("faults", &standins, &aws, &http, false, Some(attempts)).await;
    let secrets = DevSecrets::default();
    let webhooks = storm::plan(&config, time::OffsetDateTime::now_utc().unix_timestamp());

    aws.set_rate(rate);
    http.set_rate(rate);
    let delivered = storm::deliver(&stack, &webhooks, &config, &secrets)
        .await
        .unwrap();
    aws.set_rate(0.0);
    http.set_rate(0.0);
    let injected: u64 =
        aws.stats().faults.values().sum::<u64>() + http.stats().faults.values().sum::<u64>();
    assert!(injected > 0, "no fault was injected");

    // What the faults left in the dead-letter queues, then the redrive.
    let before = storm::audit(
        &stack,
        &webhooks,
        &delivered,
        &secrets,
        &ticket_bodies(&standins),
    )
    .await
    .unwrap();
    let sqs = &stack.service.sqs;
    let mut redriven = 0;
    for (dlq, source) in [
        ("RawEventsDeadLetterQueue", "RawEventsQueue"),
        ("NormalizedEventsDeadLetterQueue", "NormalizedEventsQueue"),
    ] {
        let report = community_aws::redrive::redrive(
            sqs,
            &stack.reference(dlq).unwrap(),
            &stack.reference(source).unwrap(),
            usize::MAX,
            false,
        )
        .await
        .unwrap();
        assert!(report.failed.is_empty(), "{report:#?}");
        redriven += report.moved;
    }
    stack.drain(config.settle).await.unwrap();

    let after = storm::audit(
        &stack,
        &webhooks,
        &delivered,
        &secrets,
        &ticket_bodies(&standins),
    )
    .await
    .unwrap();
    eprintln!(
        "fault run at {rate}: {} webhooks, {injected} faults injected ({:?} / {:?}), {} ingest retries; before redrive: {} dead letters ({} webhooks), reasons {:?}; redriven {redriven}; after: stored {}, dropped {}, dead-lettered {}, tickets {}",
        after.webhooks,
        aws.stats().faults,
        http.stats().faults,
        delivered.retried,
        before.dead_letters.len(),
        before.dead_lettered,
        before
            .dead_letters
            .iter()
            .map(|d| d.reason.chars().take(60).collect::<String>())
            .collect::<std::collections::BTreeSet<_>>(),
        after.stored,
        after.dropped_by_rule,
        after.dead_lettered,
        after.tickets
    );
    assert!(
        before.dead_letters.len() >= config.poison,
        "the poison is dead-lettered: {:#?}",
        before.dead_letters
    );
    drop_tables(&stack).await;
    assert_clean(&after, &config);
}
