//! The gateway loop: read events from one shard, keep the channel directory
//! current, and offer the three relayed dispatches to the queue. Reconnects,
//! resumes and heartbeats are twilight's; this loop never awaits anything
//! but the shard and the shutdown signal.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use twilight_gateway::error::ReceiveMessageErrorType;
use twilight_gateway::{CloseFrame, Event, EventTypeFlags, Intents, Shard, StreamExt as _};
use twilight_model::gateway::CloseCode;
use twilight_model::gateway::payload::incoming::Ready;

use crate::directory::Directory;
use crate::envelope::{self, Filter, Relayable, Skip};
use crate::queue::{Queue, QueueError, Stats};

/// GUILD_MEMBERS and MESSAGE_CONTENT are privileged: enable them in the
/// Developer Portal (Bot → Privileged Gateway Intents) or Discord closes
/// the connection with 4014.
pub const INTENTS: Intents = Intents::GUILDS
    .union(Intents::GUILD_MEMBERS)
    .union(Intents::GUILD_MESSAGES)
    .union(Intents::MESSAGE_CONTENT)
    .union(Intents::GUILD_MESSAGE_REACTIONS);

/// Only these are deserialized; every other dispatch is skipped unparsed.
pub const WANTED_EVENTS: EventTypeFlags = EventTypeFlags::READY
    .union(EventTypeFlags::GUILD_CREATE)
    .union(EventTypeFlags::GUILD_UPDATE)
    .union(EventTypeFlags::GUILD_DELETE)
    .union(EventTypeFlags::CHANNEL_CREATE)
    .union(EventTypeFlags::CHANNEL_UPDATE)
    .union(EventTypeFlags::CHANNEL_DELETE)
    .union(EventTypeFlags::THREAD_CREATE)
    .union(EventTypeFlags::THREAD_UPDATE)
    .union(EventTypeFlags::THREAD_DELETE)
    .union(EventTypeFlags::THREAD_LIST_SYNC)
    .union(EventTypeFlags::MESSAGE_CREATE)
    .union(EventTypeFlags::MEMBER_ADD)
    .union(EventTypeFlags::REACTION_ADD);

/// How long shutdown waits for Discord to acknowledge the close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("Discord closed the gateway for good (close code {code}): {hint}")]
    FatallyClosed { code: u16, hint: &'static str },
}

/// What became of one gateway event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Not one of the relayed dispatches (bookkeeping only).
    NotRelayed,
    Skipped(Skip),
    Queued {
        id: String,
    },
    /// Built but not queued (full or closed).
    NotQueued {
        id: String,
        reason: QueueError,
    },
    /// The envelope could not be built.
    Unbuildable,
}

/// Everything the loop needs besides the shard.
#[derive(Debug)]
pub struct Relay {
    filter: Filter,
    directory: Directory,
    queue: Queue,
    stats: Arc<Stats>,
}

impl Relay {
    pub fn new(filter: Filter, queue: Queue, stats: Arc<Stats>) -> Self {
        Relay {
            filter,
            directory: Directory::new(),
            queue,
            stats,
        }
    }

    /// Handles one event: updates the directory, then filters, builds and
    /// queues the relayed dispatches. Never waits.
    pub fn on_event(&self, event: &Event, now: OffsetDateTime) -> Handled {
        self.directory.update(event);
        if let Event::Ready(ready) = event {
            self.on_ready(ready);
        }
        let Some(relayable) = Relayable::from_event(event) else {
            return Handled::NotRelayed;
        };
        if let Err(skip) = self.filter.check(&relayable) {
            Stats::bump(&self.stats.skipped);
            tracing::debug!(kind = %relayable.kind(), reason = skip.as_str(), "skipped");
            return Handled::Skipped(skip);
        }
        let context = self
            .directory
            .context(relayable.guild_id(), relayable.channel_id());
        let delivery = match envelope::build(&relayable, &context, now) {
            Ok(delivery) => delivery,
            Err(e) => {
                Stats::bump(&self.stats.unbuildable);
                tracing::error!(kind = %relayable.kind(), error = %e, "could not build the envelope");
                return Handled::Unbuildable;
            }
        };
        let id = delivery.id.clone();
        tracing::debug!(id = %id, kind = %delivery.kind, "queued");
        match self.queue.offer(delivery) {
            Ok(()) => Handled::Queued { id },
            Err(reason) => Handled::NotQueued { id, reason },
        }
    }

    fn on_ready(&self, ready: &Ready) {
        tracing::info!(
            bot_user_id = %ready.user.id,
            guilds = ready.guilds.len(),
            "gateway session ready"
        );
        if let Some(allowed) = &self.filter.guild_ids {
            for guild_id in allowed {
                if !ready.guilds.iter().any(|g| g.id == *guild_id) {
                    tracing::warn!(
                        guild_id = %guild_id,
                        "DISCORD_GUILD_IDS lists a guild the bot is not in: invite the bot to it (see README)"
                    );
                }
            }
        }
    }
}

/// Reads the shard until `shutdown` resolves (then closes the session
/// cleanly) or Discord closes it for good.
pub async fn run(
    shard: &mut Shard,
    relay: &Relay,
    shutdown: impl Future<Output = ()>,
) -> Result<(), GatewayError> {
    tokio::pin!(shutdown);
    let mut last_close_code = None;
    loop {
        tokio::select! {
            () = &mut shutdown => {
                tracing::info!("shutdown requested: closing the gateway session");
                if !shard.state().is_identified() {
                    return Ok(());
                }
                shard.close(CloseFrame::NORMAL);
                // Keep handling what arrives until Discord acknowledges the close.
                let _closed = tokio::time::timeout(CLOSE_GRACE, async {
                    while let Some(item) = shard.next_event(WANTED_EVENTS).await {
                        match item {
                            Ok(Event::GatewayClose(_)) => break,
                            Ok(event) => { relay.on_event(&event, OffsetDateTime::now_utc()); }
                            Err(_) => break,
                        }
                    }
                })
                .await;
                return Ok(());
            }
            item = shard.next_event(WANTED_EVENTS) => {
                match item {
                    None => {
                        let code = last_close_code.unwrap_or(0);
                        return Err(GatewayError::FatallyClosed { code, hint: close_hint(code) });
                    }
                    Some(Ok(Event::GatewayClose(frame))) => {
                        let code = frame.as_ref().map(|f| f.code);
                        last_close_code = code;
                        tracing::warn!(close_code = code, hint = code.map(close_hint), "gateway connection closed; twilight reconnects unless the code is fatal");
                    }
                    Some(Ok(event)) => {
                        relay.on_event(&event, OffsetDateTime::now_utc());
                    }
                    Some(Err(e)) => match e.kind() {
                        // Never log this error's text: it carries the raw event.
                        ReceiveMessageErrorType::Deserializing { .. } => {
                            tracing::warn!("a gateway event could not be parsed by this twilight version; skipped");
                        }
                        ReceiveMessageErrorType::Reconnect => {
                            let cause = std::error::Error::source(&e).map(ToString::to_string);
                            tracing::warn!(cause, "cannot connect to the Discord gateway; retrying with backoff");
                        }
                        _ => tracing::warn!("gateway receive error"),
                    },
                }
            }
        }
    }
}

/// What to do about a gateway close code.
pub fn close_hint(code: u16) -> &'static str {
    match CloseCode::try_from(code) {
        Ok(CloseCode::AuthenticationFailed) => {
            "the bot token was refused: check DISCORD_BOT_TOKEN (Developer Portal → Bot → Reset Token)"
        }
        Ok(CloseCode::DisallowedIntents) => {
            "privileged intents are not enabled: turn on SERVER MEMBERS INTENT and MESSAGE CONTENT INTENT (Developer Portal → Bot)"
        }
        Ok(CloseCode::InvalidIntents) => {
            "the intents sent are invalid: this build is broken, report it"
        }
        Ok(CloseCode::ShardingRequired) => {
            "the bot is in too many guilds for one shard: sharding is not supported by this relay"
        }
        Ok(CloseCode::InvalidApiVersion) => "the gateway API version is retired: upgrade twilight",
        Ok(CloseCode::InvalidShard) => "invalid shard: this build is broken, report it",
        _ => "transient; reconnecting",
    }
}
