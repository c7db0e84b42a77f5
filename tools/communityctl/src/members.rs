//! `communityctl members …`: list members, link two identities, undo a
//! merge, read a member's merge history and the link suggestions waiting for
//! review. Prints ids, handles and reasons, never an email.

use canonical_event::Platform;
use community_aws::members::{self, HistoryRow, MergeRecord};

#[derive(Debug, clap::Subcommand)]
pub enum MembersCommand {
    /// Current members (merged-away ones hidden) and their contribution counts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Link two identities as one member (a person's decision; reversible).
    Link {
        /// One identity as `platform:platformUserId`, e.g. `github:12345`.
        a: String,
        /// The other identity, e.g. `slack:U0123ABCD`.
        b: String,
        /// Who decides (recorded in the history).
        #[arg(long)]
        by: String,
        /// Why (recorded in the history).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Undo one merge exactly; rules will not merge the pair again.
    Unmerge {
        merge_id: String,
        #[arg(long)]
        by: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Merges and unmerges of a member (and of members merged into it).
    History {
        member_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Uncertain identity links waiting for review.
    Suggestions {
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `members` command against `<stack>-members` (`table`).
pub async fn run(
    clients: &community_aws::Clients,
    table: &str,
    command: MembersCommand,
) -> Result<(), String> {
    let client = &clients.dynamodb;
    let now = time::OffsetDateTime::now_utc();
    match command {
        MembersCommand::List { json } => {
            for member in members::list(client, table)
                .await
                .map_err(|e| e.to_string())?
            {
                if json {
                    println!("{}", to_json(&member)?);
                } else {
                    println!(
                        "{}  {:<20} contributions {:<4} identities {}{}{}",
                        member.member_id,
                        member.handle,
                        member.contributions,
                        member.identities.join(","),
                        if member.merged_members.is_empty() {
                            String::new()
                        } else {
                            format!("  (merged {})", member.merged_members.join(","))
                        },
                        if member.is_bot { "  [bot]" } else { "" }
                    );
                }
            }
        }
        MembersCommand::Link { a, b, by, reason } => {
            let record = members::link_explicit(
                client,
                table,
                identity_arg(&a)?,
                identity_arg(&b)?,
                &by,
                &reason,
                now,
            )
            .await
            .map_err(|e| e.to_string())?;
            println!("merged {} into {}", record.merged, record.survivor);
            print_record(&record);
            println!(
                "undo with: communityctl members unmerge {} --by <you>",
                record.merge_id
            );
        }
        MembersCommand::Unmerge {
            merge_id,
            by,
            reason,
        } => {
            let record = members::unmerge(client, table, &merge_id, &by, &reason, now)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "undid merge {}: {} is separate from {} again",
                record.merge_id, record.merged, record.survivor
            );
            print_record(&record);
        }
        MembersCommand::History { member_id, json } => {
            let rows = members::history(client, table, &member_id, now)
                .await
                .map_err(|e| e.to_string())?;
            if rows.is_empty() && !json {
                println!("{member_id}: no merges");
            }
            for row in rows {
                if json {
                    println!("{}", to_json(&row)?);
                } else {
                    println!("{}", history_line(&row));
                }
            }
        }
        MembersCommand::Suggestions { json } => {
            let rows = members::suggestions(client, table)
                .await
                .map_err(|e| e.to_string())?;
            if rows.is_empty() && !json {
                println!("no suggestions");
            }
            for row in rows {
                if json {
                    println!("{}", to_json(&row)?);
                } else {
                    println!(
                        "{}  [{}] {} ↔ {}  {}: {}",
                        row.created_at,
                        row.status,
                        row.identity_a,
                        row.identity_b,
                        row.rule,
                        row.why
                    );
                    if row.status == "open" {
                        println!(
                            "    accept with: communityctl members link {} {} --by <you>",
                            row.identity_a, row.identity_b
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// `platform:platformUserId`, checked.
fn identity_arg(text: &str) -> Result<(Platform, &str), String> {
    members::parse_identity_ref(text).ok_or_else(|| {
        format!(
            "`{text}` is not an identity: expected platform:platformUserId with platform one of {}",
            Platform::ALL.map(Platform::as_str).join(", ")
        )
    })
}

fn to_json(value: &impl serde::Serialize) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
}

fn print_record(record: &MergeRecord) {
    println!("  merge     {}", record.merge_id);
    println!(
        "  moved     {} (contributions {})",
        record.identities_moved.join(","),
        record.contributions_moved
    );
    println!(
        "  rule      {} by {} at {}: {}",
        record.rule, record.by, record.at, record.why
    );
    if let (Some(by), Some(at)) = (&record.undone_by, &record.undone_at) {
        println!(
            "  undone    by {by} at {at}: {}",
            record.undo_reason.as_deref().unwrap_or("")
        );
    }
}

fn history_line(row: &HistoryRow) -> String {
    match row.kind.as_str() {
        "unmerge" => format!(
            "{}  unmerge {} (of merge {}): {} separated from {} by {}: {}",
            row.at, row.id, row.merge_id, row.merged, row.survivor, row.by, row.why
        ),
        _ => format!(
            "{}  merge   {} [{}]: {} into {} ({}; contributions {}) {} by {}: {}",
            row.at,
            row.id,
            row.status.as_deref().unwrap_or(""),
            row.merged,
            row.survivor,
            row.identities_moved.join(","),
            row.contributions_moved,
            row.rule,
            row.by,
            row.why
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_arguments_name_a_platform_and_an_id() {
        assert_eq!(identity_arg("github:42"), Ok((Platform::Github, "42")));
        let error = identity_arg("gh:42").unwrap_err();
        assert!(error.contains("github, slack"), "{error}");
        assert!(identity_arg("slack:").is_err());
    }
}
