//! Wiring: config → forwarder and queue → gateway loop → drain.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use twilight_gateway::{Shard, ShardId};

use crate::config::{Config, ConfigError};
use crate::envelope::Filter;
use crate::forward::{ForwardError, Forwarder, RetryPolicy};
use crate::gateway::{self, GatewayError, Relay};
use crate::queue::{self, Stats};

/// How often the counters are logged while running.
const STATS_EVERY: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Forward(#[from] ForwardError),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

/// Runs until SIGINT/SIGTERM (then drains the queue, within the drain
/// deadline) or until Discord closes the session for good.
pub async fn run(config: Config) -> Result<(), AppError> {
    let shard = Shard::new(
        ShardId::ONE,
        config.discord_token.expose_secret().to_owned(),
        gateway::INTENTS,
    );
    serve(config, shard, shutdown_signal()).await
}

/// [`run`] with the shard and the shutdown signal supplied (tests point the
/// shard at a local gateway).
pub async fn serve(
    config: Config,
    mut shard: Shard,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AppError> {
    tracing::info!(
        relay_url = %config.relay_url,
        guild_allow_list = config.guild_ids.as_ref().map(|ids| ids.len()),
        forward_bots = config.forward_bots,
        max_attempts = config.max_attempts,
        "discord-relay starting"
    );
    let stats = Arc::new(Stats::default());
    let forwarder = Arc::new(Forwarder::new(
        config.relay_url.clone(),
        config.relay_secret.clone(),
        RetryPolicy::new(config.max_attempts),
    )?);
    let (queue, lanes) = queue::queue(
        queue::DEFAULT_LANES,
        queue::DEFAULT_CAPACITY,
        Arc::clone(&stats),
    );
    let workers = queue::spawn_workers(lanes, forwarder, Arc::clone(&stats));
    let relay = Relay::new(
        Filter {
            forward_bots: config.forward_bots,
            guild_ids: config.guild_ids.clone(),
        },
        queue,
        Arc::clone(&stats),
    );

    let reporter = {
        let stats = Arc::clone(&stats);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(STATS_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                stats.log("relay stats");
            }
        })
    };

    let result = gateway::run(&mut shard, &relay, shutdown).await;
    drop(shard);
    // Dropping the relay drops the queue's senders: the workers stop once
    // their lanes are empty.
    drop(relay);
    tracing::info!(
        deadline_secs = config.drain_timeout.as_secs(),
        "draining the queue"
    );
    let drained = queue::drain(workers, config.drain_timeout, &stats).await;
    reporter.abort();
    stats.log(if drained {
        "stopped; queue drained"
    } else {
        "stopped; queue not fully drained"
    });
    result.map_err(AppError::from)
}

/// SIGINT or SIGTERM. If a handler cannot be installed, that signal is
/// simply not awaited (and logged), rather than stopping at once.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            tracing::warn!("cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => {
                tracing::warn!("cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!(signal = "SIGINT", "signal received"),
        () = terminate => tracing::info!(signal = "SIGTERM", "signal received"),
    }
}
