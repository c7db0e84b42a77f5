//! `communityctl`: the operator's view of a stack, on AWS or on the emulator
//! (`AWS_ENDPOINT_URL`), through the same adapters the functions use.
#![allow(clippy::print_stdout)]

mod dlq;
mod members;
mod metrics;
mod replay;
mod review;

use clap::{Parser, Subcommand};
use community_aws::events::EventReader;
use community_aws::ports::QueueStats;

#[derive(Parser)]
#[command(about = "Inspect a community-events stack: events, members, ticket outbox, dead letters")]
struct Cli {
    /// The CloudFormation stack name; resources are named `<stack>-events`,
    /// `<stack>-raw-events-dlq.fifo`, … as template.yaml declares.
    #[arg(
        long,
        env = "COMMUNITY_STACK",
        default_value = "community-events",
        global = true
    )]
    stack: String,
    /// Hot retention in days (how far back `events` looks).
    #[arg(long, env = "HOT_RETENTION_DAYS", default_value_t = 90, global = true)]
    retention_days: u32,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Stored canonical events, newest first (all, or one member's, or one type's).
    Events {
        /// One canonical event (schema v1) per line.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only this member's events (the byMember index).
        #[arg(long, conflicts_with = "event_type")]
        member: Option<String>,
        /// Only events of this type, e.g. issue_opened (the byType index).
        #[arg(long = "type")]
        event_type: Option<String>,
    },
    /// Members and their identities: list, link, unmerge, history, suggestions.
    Members {
        #[command(subcommand)]
        command: members::MembersCommand,
    },
    /// Events moderation held for a human: list, approve, reject.
    Review {
        #[command(subcommand)]
        command: review::ReviewCommand,
    },
    /// Ticket requests waiting for the product backlog.
    Outbox {
        #[arg(long)]
        json: bool,
    },
    /// Dead-letter queues: list (the default: depth, and with --peek N the
    /// messages and why they failed), or redrive them to their source queues.
    #[command(args_conflicts_with_subcommands = true)]
    Dlq {
        #[command(subcommand)]
        command: Option<dlq::DlqCommand>,
        /// `dlq --peek N` is `dlq list --peek N`.
        #[command(flatten)]
        list: dlq::ListArgs,
    },
    /// Community and pipeline metrics now: active contributors, signal mix,
    /// feedback resolution, conversion, review queue, dead letters (what
    /// `GET /metrics` answers).
    Metrics(metrics::MetricsArgs),
    /// Replay a folder of raw webhook payloads (one subfolder per platform)
    /// in-process, without AWS: signed with throwaway secrets, then verify →
    /// envelope → adapt → score, timed. Prints the events by category, drops,
    /// refusals and the CPU time per event.
    Replay(replay::ReplayArgs),
}

#[derive(Debug, thiserror::Error)]
enum CtlError {
    #[error(transparent)]
    Aws(#[from] community_aws::AwsError),
    #[error("{0}")]
    Other(String),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("communityctl: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CtlError> {
    if let Command::Replay(args) = &cli.command {
        // In-process: returns before any AWS configuration is loaded.
        return replay::run(args).map_err(CtlError::Other);
    }
    let clients = community_aws::Clients::load().await;
    let stack = &cli.stack;
    let now = time::OffsetDateTime::now_utc();
    match cli.command {
        Command::Events {
            json,
            limit,
            member,
            event_type,
        } => {
            let reader = EventReader::new(
                clients.dynamodb.clone(),
                format!("{stack}-events"),
                cli.retention_days,
            );
            let events = match (member, event_type) {
                (Some(member), _) => reader.by_member(&member, limit, now).await?,
                (None, Some(event_type)) => reader.by_type(&event_type, limit, now).await?,
                (None, None) => reader.recent(limit, now).await?,
            };
            for event in events {
                if json {
                    println!(
                        "{}",
                        serde_json::to_string(&event)
                            .map_err(|e| CtlError::Other(e.to_string()))?
                    );
                } else {
                    println!(
                        "{}  {:<9} {:<22} {:<16} {:.2} {:<6} → {}",
                        canonical_event::rfc3339_utc(event.timestamp),
                        event.platform.as_str(),
                        event.event_type.as_str(),
                        event.actor.handle,
                        event.signal_score,
                        event.signal.as_str(),
                        event.routing_target.as_str()
                    );
                }
            }
        }
        Command::Members { command } => {
            members::run(&clients, &format!("{stack}-members"), command)
                .await
                .map_err(CtlError::Other)?;
        }
        Command::Review { command } => {
            review::run(&clients, stack, cli.retention_days, command)
                .await
                .map_err(CtlError::Other)?;
        }
        Command::Outbox { json } => {
            for ticket in
                community_aws::outbox::list(&clients.dynamodb, &format!("{stack}-outbox")).await?
            {
                if json {
                    println!(
                        "{}",
                        serde_json::to_string(&ticket)
                            .map_err(|e| CtlError::Other(e.to_string()))?
                    );
                } else {
                    println!(
                        "{}  [{}] {} — {} {}",
                        ticket.created_at,
                        ticket.status,
                        ticket.title,
                        ticket.reporter,
                        ticket.source_url.unwrap_or_default()
                    );
                }
            }
        }
        Command::Metrics(args) => {
            metrics::run(&clients, stack, args, now)
                .await
                .map_err(CtlError::Other)?;
        }
        Command::Replay(_) => unreachable!("replay returns before the AWS clients load"),
        Command::Dlq { command, list } => match command.unwrap_or(dlq::DlqCommand::List(list)) {
            dlq::DlqCommand::List(dlq::ListArgs { peek }) => {
                for queue in ["raw-events-dlq.fifo", "normalized-events-dlq.fifo"] {
                    let name = format!("{stack}-{queue}");
                    let url = clients
                        .sqs
                        .get_queue_url()
                        .queue_name(&name)
                        .send()
                        .await
                        .map_err(|e| community_aws::AwsError::from_sdk("GetQueueUrl", e))?
                        .queue_url
                        .unwrap_or_default();
                    let depth = clients.sqs.depth(&url).await?;
                    println!(
                        "{name}: {} waiting, {} in flight",
                        depth.visible, depth.in_flight
                    );
                    if peek > 0 {
                        peek_messages(&clients.sqs, &url, peek).await?;
                    }
                }
            }
            dlq::DlqCommand::Redrive(args) => {
                dlq::redrive(&clients.sqs, stack, &args)
                    .await
                    .map_err(CtlError::Other)?;
            }
        },
    }
    Ok(())
}

/// Shows messages without consuming them: they are received with a short
/// visibility timeout and left on the queue.
async fn peek_messages(sqs: &aws_sdk_sqs::Client, url: &str, count: i32) -> Result<(), CtlError> {
    let output = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(count.clamp(1, 10))
        .visibility_timeout(1)
        .message_attribute_names("All")
        .send()
        .await
        .map_err(|e| community_aws::AwsError::from_sdk("ReceiveMessage", e))?;
    for message in output.messages.unwrap_or_default() {
        let attribute = |name: &str| {
            message
                .message_attributes
                .as_ref()
                .and_then(|a| a.get(name))
                .and_then(|v| v.string_value.clone())
                .unwrap_or_else(|| "-".to_owned())
        };
        let body = message.body.unwrap_or_default();
        let preview: String = body.chars().take(120).collect();
        println!(
            "  {}  stage {}  reason: {}\n    body: {preview}{}",
            message.message_id.unwrap_or_default(),
            attribute("failedStage"),
            attribute("failureReason"),
            if body.chars().count() > 120 {
                "…"
            } else {
                ""
            }
        );
    }
    Ok(())
}
