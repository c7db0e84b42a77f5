//! The bounded queue between the gateway loop and the forwarder.
//!
//! The gateway loop never waits on it: `offer` is `try_send`, and a full
//! queue drops the event (logged and counted) so the shard keeps reading and
//! heartbeating. The queue is split into lanes, each drained by one worker
//! that delivers in order; an event's lane is chosen by its order key (the
//! channel, or the guild for member joins), so events of one channel are
//! delivered in the order the gateway sent them while other channels proceed
//! in parallel. A delivery being retried holds up its lane only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::envelope::Delivery;
use crate::forward::{Forwarder, Outcome, Pause};

/// Total capacity, shared evenly by the lanes.
pub const DEFAULT_CAPACITY: usize = 10_000;
pub const DEFAULT_LANES: usize = 4;

/// Counters for the periodic and final stats lines.
#[derive(Debug, Default)]
pub struct Stats {
    pub queued: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub skipped: AtomicU64,
    pub unbuildable: AtomicU64,
    pub delivered: AtomicU64,
    pub rejected: AtomicU64,
    pub gave_up: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    pub queued: u64,
    pub dropped_queue_full: u64,
    pub skipped: u64,
    pub unbuildable: u64,
    pub delivered: u64,
    pub rejected: u64,
    pub gave_up: u64,
}

impl StatsSnapshot {
    /// Queued and not yet finished (delivered, rejected or given up).
    pub fn in_flight(&self) -> u64 {
        self.queued
            .saturating_sub(self.delivered + self.rejected + self.gave_up)
    }
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            queued: get(&self.queued),
            dropped_queue_full: get(&self.dropped_queue_full),
            skipped: get(&self.skipped),
            unbuildable: get(&self.unbuildable),
            delivered: get(&self.delivered),
            rejected: get(&self.rejected),
            gave_up: get(&self.gave_up),
        }
    }

    pub fn log(&self, message: &'static str) {
        let s = self.snapshot();
        tracing::info!(
            queued = s.queued,
            delivered = s.delivered,
            rejected = s.rejected,
            gave_up = s.gave_up,
            dropped_queue_full = s.dropped_queue_full,
            skipped = s.skipped,
            unbuildable = s.unbuildable,
            in_flight = s.in_flight(),
            "{message}"
        );
    }

    pub(crate) fn bump(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The sending half, held by the gateway loop. Dropping it lets the
/// workers finish once their lanes are empty.
#[derive(Debug)]
pub struct Queue {
    lanes: Vec<mpsc::Sender<Delivery>>,
    stats: Arc<Stats>,
}

/// The receiving halves, one per lane, for [`spawn_workers`].
#[derive(Debug)]
pub struct Lanes(Vec<mpsc::Receiver<Delivery>>);

impl Lanes {
    /// The raw receivers, lane by lane (for tests and custom consumers).
    pub fn into_receivers(self) -> Vec<mpsc::Receiver<Delivery>> {
        self.0
    }
}

/// Why an offered delivery was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("queue full: the relay endpoint is slower than the gateway or down")]
    Full,
    #[error("queue closed: shutting down")]
    Closed,
}

pub fn queue(lanes: usize, capacity: usize, stats: Arc<Stats>) -> (Queue, Lanes) {
    let lanes = lanes.max(1);
    let per_lane = (capacity / lanes).max(1);
    let (senders, receivers) = (0..lanes).map(|_| mpsc::channel(per_lane)).unzip();
    (
        Queue {
            lanes: senders,
            stats,
        },
        Lanes(receivers),
    )
}

impl Queue {
    /// Queues without waiting. A full lane drops the delivery: logged on the
    /// first drop and every 100th after, always counted.
    pub fn offer(&self, delivery: Delivery) -> Result<(), QueueError> {
        let lane_count = u64::try_from(self.lanes.len()).unwrap_or(1).max(1);
        let lane = usize::try_from(delivery.order_key % lane_count).unwrap_or(0);
        let Some(sender) = self.lanes.get(lane) else {
            return Err(QueueError::Closed);
        };
        match sender.try_send(delivery) {
            Ok(()) => {
                Stats::bump(&self.stats.queued);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(delivery)) => {
                let dropped = Stats::bump(&self.stats.dropped_queue_full);
                if dropped == 1 || dropped.is_multiple_of(100) {
                    tracing::warn!(
                        id = %delivery.id,
                        kind = %delivery.kind,
                        dropped_total = dropped,
                        "queue full, event dropped: the relay endpoint is down or slower than the gateway"
                    );
                }
                Err(QueueError::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(QueueError::Closed),
        }
    }
}

/// One worker per lane: deliver in order, count the outcome.
pub fn spawn_workers<P: Pause>(
    lanes: Lanes,
    forwarder: Arc<Forwarder<P>>,
    stats: Arc<Stats>,
) -> JoinSet<()> {
    let mut workers = JoinSet::new();
    for mut receiver in lanes.0 {
        let forwarder = Arc::clone(&forwarder);
        let stats = Arc::clone(&stats);
        workers.spawn(async move {
            while let Some(delivery) = receiver.recv().await {
                let counter = match forwarder.deliver(&delivery).await {
                    Outcome::Delivered { .. } => &stats.delivered,
                    Outcome::Rejected { .. } => &stats.rejected,
                    Outcome::GaveUp { .. } => &stats.gave_up,
                };
                Stats::bump(counter);
            }
        });
    }
    workers
}

/// Waits for the workers to empty their lanes (the [`Queue`] must have been
/// dropped), at most `deadline`; then stops them. Returns whether everything
/// queued was finished.
pub async fn drain(mut workers: JoinSet<()>, deadline: Duration, stats: &Stats) -> bool {
    let finished = tokio::time::timeout(deadline, async {
        while let Some(joined) = workers.join_next().await {
            if let Err(e) = joined
                && e.is_panic()
            {
                tracing::error!("a delivery worker panicked");
            }
        }
    })
    .await
    .is_ok();
    if !finished {
        workers.abort_all();
        tracing::warn!(
            abandoned = stats.snapshot().in_flight(),
            deadline_secs = deadline.as_secs(),
            "drain deadline reached; undelivered events abandoned (RELAY_DRAIN_TIMEOUT_SECS)"
        );
    }
    finished && stats.snapshot().in_flight() == 0
}
