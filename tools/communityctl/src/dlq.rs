//! `communityctl dlq`: the two dead-letter queues, listed (in main.rs), and
//! redriven to the queues they came from once the cause is fixed (the moving
//! itself is [`community_aws::redrive`]).

use clap::{Args, Subcommand, ValueEnum};
use community_aws::redrive::{self, RedriveReport};

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Depth of both dead-letter queues; with --peek N, their first messages and why they failed.
    List(ListArgs),
    /// Move dead letters back to their source queue after a fix (order within a group is kept).
    Redrive(RedriveArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show up to N messages per queue (at most 10) without consuming them.
    #[arg(long, default_value_t = 0)]
    pub peek: i32,
}

#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// Which dead-letter queue: raw (normalize's) or normalized (route's).
    #[arg(long, value_enum, default_value_t = Which::All)]
    queue: Which,
    /// Move at most N messages in all (default: every message).
    #[arg(long, value_name = "N")]
    max: Option<usize>,
    /// Show what would move (at most the first 10 of each queue) without moving anything.
    #[arg(long)]
    dry_run: bool,
    /// One JSON object per dead-letter queue: its report.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    Raw,
    Normalized,
    All,
}

/// A dead-letter queue and the queue its messages came from, by the name
/// suffixes template.yaml gives them after `<stack>-`.
struct Pair {
    dlq: &'static str,
    source: &'static str,
}

const RAW: Pair = Pair {
    dlq: "raw-events-dlq.fifo",
    source: "raw-events.fifo",
};
const NORMALIZED: Pair = Pair {
    dlq: "normalized-events-dlq.fifo",
    source: "normalized-events.fifo",
};

impl Which {
    /// In pipeline order.
    fn pairs(self) -> Vec<Pair> {
        match self {
            Which::Raw => vec![RAW],
            Which::Normalized => vec![NORMALIZED],
            Which::All => vec![RAW, NORMALIZED],
        }
    }
}

pub(crate) async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String, String> {
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| {
            format!(
                "{name}: {}; is --stack (or COMMUNITY_STACK) the right stack?",
                community_aws::AwsError::from_sdk("GetQueueUrl", e)
            )
        })?
        .queue_url
        .ok_or_else(|| format!("{name}: GetQueueUrl returned no URL"))
}

/// One queue's redrive, as `--json` prints it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    dlq: String,
    source: String,
    #[serde(flatten)]
    report: RedriveReport,
}

/// Redrives the chosen dead-letter queues in pipeline order, `--max` in
/// all; errs (after printing the report) when a message was left behind.
pub async fn redrive(
    sqs: &aws_sdk_sqs::Client,
    stack: &str,
    args: &RedriveArgs,
) -> Result<(), String> {
    let mut budget = args.max.unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    for pair in args.queue.pairs() {
        let dlq = format!("{stack}-{}", pair.dlq);
        let source = format!("{stack}-{}", pair.source);
        let dlq_url = queue_url(sqs, &dlq).await?;
        let source_url = queue_url(sqs, &source).await?;
        let report = redrive::redrive(sqs, &dlq_url, &source_url, budget, args.dry_run)
            .await
            .map_err(|e| format!("{dlq}: {e}"))?;
        budget = budget.saturating_sub(report.seen());
        rows.push(Row {
            dlq,
            source,
            report,
        });
    }
    if args.json {
        for row in &rows {
            println!("{}", serde_json::to_string(row).map_err(|e| e.to_string())?);
        }
    } else {
        print_table(&rows, args.dry_run);
    }
    let left_behind: usize = rows.iter().map(|r| r.report.failed.len()).sum();
    let interrupted = rows.iter().any(|r| r.report.interrupted.is_some());
    if !args.dry_run && (left_behind > 0 || interrupted) {
        return Err(format!(
            "{left_behind} dead letter(s) not moved{}; fix the cause and run the redrive again",
            if interrupted {
                ", and a run stopped early"
            } else {
                ""
            }
        ));
    }
    Ok(())
}

fn print_table(rows: &[Row], dry_run: bool) {
    let width = rows.iter().map(|r| r.dlq.len()).max().unwrap_or(0);
    let source_width = rows.iter().map(|r| r.source.len()).max().unwrap_or(0);
    println!(
        "{:<width$}   {:<source_width$}  {:>7}  {:>10}  {:>6}  {:>6}",
        "DEAD-LETTER QUEUE",
        "SOURCE",
        "WAITING",
        if dry_run { "WOULD MOVE" } else { "MOVED" },
        "FAILED",
        "GROUPS"
    );
    for row in rows {
        println!(
            "{:<width$} → {:<source_width$}  {:>7}  {:>10}  {:>6}  {:>6}",
            row.dlq,
            row.source,
            row.report.waiting,
            row.report.moved,
            row.report.failed.len(),
            row.report.groups.len()
        );
    }
    let reasons: Vec<_> = rows
        .iter()
        .flat_map(|row| row.report.reasons.iter().map(move |r| (&row.dlq, r)))
        .collect();
    if !reasons.is_empty() {
        println!("\nreasons seen:");
        for (dlq, (reason, count)) in reasons {
            println!("  {count:>5}  {dlq}  {}", preview(reason, 100));
        }
    }
    let failed: Vec<_> = rows
        .iter()
        .flat_map(|row| row.report.failed.iter().map(move |f| (&row.dlq, f)))
        .collect();
    if !failed.is_empty() {
        println!(
            "\n{}:",
            if dry_run {
                "would not move"
            } else {
                "not moved (still in the dead-letter queue)"
            }
        );
        for (dlq, failure) in failed {
            println!(
                "  {dlq}  {}  group {}{}\n    {}",
                failure.message_id,
                failure.group_id,
                if failure.sent {
                    "  (copy sent, not deleted)"
                } else {
                    ""
                },
                failure.error
            );
        }
    }
    for row in rows {
        if let Some(why) = &row.report.interrupted {
            println!("\n{}: stopped early: {why}", row.dlq);
        }
    }
    if dry_run {
        println!(
            "\ndry run: nothing was sent or deleted (a dry run sees at most the first 10 messages of each queue)"
        );
    }
}

fn preview(text: &str, chars: usize) -> String {
    if text.chars().count() > chars {
        format!("{}…", text.chars().take(chars).collect::<String>())
    } else {
        text.to_owned()
    }
}
