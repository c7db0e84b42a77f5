//! `communityctl review`: the human side of moderation. Held events wait in
//! the review table until a reviewer approves (released to the target they
//! would have had, with its bookkeeping, exactly once) or rejects them
//! (kept, marked, for audit). Nothing is deleted.

use clap::Subcommand;
use community_aws::events::RouteTables;
use community_aws::reviews::{self, Decision, ReviewRow, Verdict};

#[derive(Subcommand)]
pub enum ReviewCommand {
    /// Held events (pending by default), oldest first, with moderation's record.
    List {
        /// pending | approved | rejected | all
        #[arg(long, default_value = "pending")]
        status: String,
        #[arg(long)]
        json: bool,
    },
    /// Release a held event to the target it would have had.
    Approve {
        event_id: String,
        /// Who decided (recorded with the verdict).
        #[arg(long, env = "USER", default_value = "operator")]
        by: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Keep a held event out of the backlog and recognition; it stays stored as held.
    Reject {
        event_id: String,
        #[arg(long, env = "USER", default_value = "operator")]
        by: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

/// The tables of a stack named `stack`, as template.yaml names them.
pub fn tables(stack: &str) -> RouteTables {
    RouteTables {
        events: format!("{stack}-events"),
        counters: format!("{stack}-counters"),
        outbox: format!("{stack}-outbox"),
        members: format!("{stack}-members"),
        reviews: format!("{stack}-reviews"),
    }
}

fn line(row: &ReviewRow) -> String {
    let decided = match (&row.decided_by, &row.decided_at) {
        (Some(by), Some(at)) => format!("  {} by {by} at {at}", row.status),
        _ => String::new(),
    };
    format!(
        "{}  {}  {:<9} {:<16} {:<10} [{}] → {}{decided}\n    {}",
        row.held_at,
        row.event_id,
        row.platform,
        row.event_type,
        row.handle,
        row.flags.join("; "),
        row.release_target,
        row.preview
    )
}

pub async fn run(
    clients: &community_aws::Clients,
    stack: &str,
    retention_days: u32,
    command: ReviewCommand,
) -> Result<(), String> {
    let tables = tables(stack);
    let now = time::OffsetDateTime::now_utc();
    let (event_id, verdict, by, note) = match command {
        ReviewCommand::List { status, json } => {
            // One read serves both the listing and moderation's record.
            let all = reviews::list(&clients.dynamodb, &tables.reviews, None)
                .await
                .map_err(|e| e.to_string())?;
            let rows = all
                .iter()
                .filter(|row| status == "all" || row.status == status);
            for row in rows {
                if json {
                    println!("{}", serde_json::to_string(row).map_err(|e| e.to_string())?);
                } else {
                    println!("{}", line(row));
                }
            }
            if !json {
                let stats = reviews::stats_of(&all);
                println!(
                    "{} pending, {} approved, {} rejected; false-positive rate {}",
                    stats.pending,
                    stats.approved,
                    stats.rejected,
                    stats.false_positive_rate.map_or(
                        "n/a (no verdicts yet)".to_owned(),
                        |r| format!("{:.0}%", r * 100.0)
                    )
                );
            }
            return Ok(());
        }
        ReviewCommand::Approve { event_id, by, note } => (event_id, Verdict::Approve, by, note),
        ReviewCommand::Reject { event_id, by, note } => (event_id, Verdict::Reject, by, note),
    };
    let decision = Decision {
        event_id: &event_id,
        verdict,
        reviewer: &by,
        note: &note,
    };
    let row = reviews::decide(&clients.dynamodb, &tables, retention_days, &decision, now)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{} {}{}",
        row.event_id,
        row.status,
        if verdict == Verdict::Approve {
            format!(" → released to {}", row.release_target)
        } else {
            " (kept as held, for audit)".to_owned()
        }
    );
    Ok(())
}
