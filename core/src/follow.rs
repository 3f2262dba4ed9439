//! The one follower driver. Everything that leaves the server (federation PDUs and EDUs,
//! appservice transactions, pushes) is a stream item first; each consumer follows the stream
//! from its own durable position:
//!
//! 1. load the position (a new follower starts at the current end of the stream);
//! 2. read a batch of items after it, up to the watermark;
//! 3. hand them to the follower, which does its work (files them in durable per-destination
//!    queues, sends a transaction) and answers with the writes that go with it;
//! 4. commit those writes together with the new position — only after the work is
//!    acknowledged, so a crash anywhere before repeats the work and loses nothing;
//! 5. when caught up, wait for the notifier (or the follower's tick); on failure, retry the
//!    same items with exponential backoff.
//!
//! Followers that fan out to several destinations (the federation sender's servers) keep one
//! durable queue per destination, filed in step 3, and drain each with a [`Backoff`] of its own.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::watch;

use crate::{
    error::Result,
    mutex::lock,
    ports::BoxFuture,
    storage::{Store, WriteBatch},
    stream::{Notifier, StreamItem, StreamPosition, items_after},
};

/// Follower name → its durable stream position.
const FOLLOWER_POSITION: &str = "follower_position";

/// Exponential backoff: the first failure waits `first`, each next one twice as long, up to
/// `max`; a success starts over.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            current: Duration::ZERO,
        }
    }

    /// Records a failure; returns how long to wait before the next attempt.
    pub fn fail(&mut self) -> Duration {
        self.current = (self.current * 2).clamp(self.first, self.max);
        self.current
    }

    /// Records a success.
    pub fn reset(&mut self) {
        self.current = Duration::ZERO;
    }

    /// Whether the last attempt failed.
    pub fn is_backing_off(&self) -> bool {
        !self.current.is_zero()
    }
}

/// Items handed to a follower: those with positions in `(after, until]`, in order.
pub struct Items {
    pub after: StreamPosition,
    pub until: StreamPosition,
    pub items: Vec<(StreamPosition, StreamItem)>,
}

/// What a follower did with its items.
pub struct Handled {
    /// Writes committed atomically with the new position.
    pub writes: WriteBatch,
    /// The position the follower is done with (at most `until`; it may stop earlier).
    pub reached: StreamPosition,
    /// Whether the commit must be flushed before the follower goes on. A follower whose work
    /// is idempotent (filing into keyed queues) may let it ride with the next flush: a crash
    /// repeats the work.
    pub durable: bool,
    /// Runs after the commit (wakes the workers the writes gave work to).
    pub then: Option<Box<dyn FnOnce() + Send>>,
}

impl Handled {
    /// Nothing to write; done up to `reached`.
    pub fn reached(reached: StreamPosition) -> Self {
        Self {
            writes: WriteBatch::new(),
            reached,
            durable: false,
            then: None,
        }
    }
}

/// A consumer of the stream.
pub trait Follower: Send + Sync + 'static {
    /// Stable name: the key of its durable position, and its label in logs and metrics.
    fn name(&self) -> String;

    /// Does the work for `items` and acknowledges it; an error leaves the position where it
    /// is, and the same items come again after a backoff.
    fn handle(&self, items: Items) -> BoxFuture<'_, Result<Handled>>;

    /// Items read per step.
    fn step(&self) -> usize {
        100
    }

    /// Also woken this often without a stream item (for work outside the stream, such as
    /// typing notifications that expire).
    fn tick(&self) -> Option<Duration> {
        None
    }

    /// Whether the follower still runs (a reloaded appservice registration replaces its
    /// sender with a new one).
    fn active(&self) -> bool {
        true
    }
}

/// What the driver reports of each follower, for the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowerStats {
    pub position: StreamPosition,
    /// Items behind the watermark when last read.
    pub lag: u64,
    /// Failed steps, in all.
    pub retries: u64,
    /// Whether the follower waits for a retry now.
    pub backing_off: bool,
    /// Items it was handed, in all.
    pub items: u64,
}

/// Every follower's stats, by name.
#[derive(Default)]
pub struct FollowerRegistry {
    followers: Mutex<BTreeMap<String, FollowerStats>>,
}

impl FollowerRegistry {
    pub fn snapshot(&self) -> BTreeMap<String, FollowerStats> {
        lock(&self.followers).clone()
    }

    fn update(&self, name: &str, change: impl FnOnce(&mut FollowerStats)) {
        change(lock(&self.followers).entry(name.to_owned()).or_default());
    }
}

/// The durable position of the follower named `name`, if it ever ran.
pub fn saved_position(store: &Store, name: &str) -> Result<Option<StreamPosition>> {
    Ok(store
        .get(FOLLOWER_POSITION, name.as_bytes())?
        .and_then(|bytes| bytes.as_slice().try_into().ok().map(u64::from_be_bytes)))
}

/// Adds the follower's new position to `batch`.
pub fn save_position(batch: &mut WriteBatch, name: &str, position: StreamPosition) {
    batch.put(
        FOLLOWER_POSITION,
        name.as_bytes().to_vec(),
        position.to_be_bytes().to_vec(),
    );
}

/// Runs `follower` until `stopped` turns true or the follower is no longer active.
pub async fn run<F: Follower>(
    store: Store,
    notifier: Arc<Notifier>,
    registry: Arc<FollowerRegistry>,
    follower: Arc<F>,
    mut stopped: watch::Receiver<bool>,
) {
    const FIRST_BACKOFF: Duration = Duration::from_secs(1);
    const MAX_BACKOFF: Duration = Duration::from_secs(300);
    let name = follower.name();
    let mut watermark = notifier.subscribe();
    let mut position = loop {
        match start_position(&store, &notifier, &name).await {
            Ok(position) => break position,
            Err(error) => {
                tracing::error!(follower = %name, %error, "cannot read a follower's position");
                tokio::select! {
                    _ = tokio::time::sleep(FIRST_BACKOFF) => {}
                    _ = stopped.changed() => return,
                }
            }
        }
    };
    let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
    loop {
        if *stopped.borrow() || !follower.active() {
            return;
        }
        match step(&store, &notifier, &registry, follower.as_ref(), position).await {
            Ok((reached, more)) => {
                position = reached;
                if backoff.is_backing_off() {
                    tracing::info!(follower = %name, "follower caught up after failures");
                }
                backoff.reset();
                registry.update(&name, |stats| stats.backing_off = false);
                if more {
                    continue;
                }
            }
            Err(error) => {
                let wait = backoff.fail();
                registry.update(&name, |stats| {
                    stats.retries += 1;
                    stats.backing_off = true;
                });
                tracing::warn!(follower = %name, %error, retry_in = ?wait, "follower step failed");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
        }
        let tick = follower.tick().unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            changed = watermark.changed() => if changed.is_err() { return },
            _ = stopped.changed() => {}
            _ = tokio::time::sleep(tick) => {}
        }
    }
}

/// The saved position, or (first run) the current end of the stream, saved.
async fn start_position(store: &Store, notifier: &Notifier, name: &str) -> Result<StreamPosition> {
    if let Some(position) = saved_position(store, name)? {
        return Ok(position);
    }
    let position = notifier.current();
    let mut batch = WriteBatch::new();
    save_position(&mut batch, name, position);
    store.commit(batch).await?;
    Ok(position)
}

/// One step: reads, hands over, commits. Returns the new position and whether more items
/// wait.
async fn step<F: Follower + ?Sized>(
    store: &Store,
    notifier: &Notifier,
    registry: &FollowerRegistry,
    follower: &F,
    position: StreamPosition,
) -> Result<(StreamPosition, bool)> {
    let name = follower.name();
    let watermark = notifier.current();
    let limit = follower.step().max(1);
    let items = if watermark > position {
        items_after(store, position, watermark, limit)?
    } else {
        Vec::new()
    };
    let until = match items.last() {
        Some((last, _)) if items.len() == limit => *last,
        _ => watermark.max(position),
    };
    let count = items.len() as u64;
    let handled = follower
        .handle(Items {
            after: position,
            until,
            items,
        })
        .await?;
    let reached = handled.reached.clamp(position, until);
    let mut writes = handled.writes;
    if reached != position || !writes.is_empty() {
        save_position(&mut writes, &name, reached);
        if handled.durable {
            store.commit(writes).await?;
        } else {
            store.commit_lazy(writes).await?;
        }
    }
    if let Some(then) = handled.then {
        then();
    }
    registry.update(&name, |stats| {
        stats.position = reached;
        stats.lag = watermark.saturating_sub(reached);
        stats.items += count;
    });
    Ok((reached, reached < notifier.current()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::stream::StreamItem;

    /// Records what it was handed; fails the first `failures` steps.
    struct Recorder {
        seen: Mutex<Vec<StreamPosition>>,
        failures: AtomicUsize,
    }

    impl Follower for Recorder {
        fn name(&self) -> String {
            "recorder".into()
        }

        fn step(&self) -> usize {
            2
        }

        fn handle(&self, items: Items) -> BoxFuture<'_, Result<Handled>> {
            Box::pin(async move {
                if self
                    .failures
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                        left.checked_sub(1)
                    })
                    .is_ok()
                {
                    return Err(crate::error::Error::Unavailable("down".into()));
                }
                lock(&self.seen).extend(items.items.iter().map(|(position, _)| *position));
                Ok(Handled::reached(items.until))
            })
        }
    }

    async fn eventually(check: impl Fn() -> bool) {
        for _ in 0..100 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn add_item(store: &Store, notifier: &Notifier) -> StreamPosition {
        let pending = notifier.next();
        let mut batch = WriteBatch::new();
        pending.record(
            &mut batch,
            &StreamItem::SigningKeys {
                user_id: ruma::owned_user_id!("@a:example.org"),
            },
        );
        store.commit(batch).await.expect("commit");
        pending.position
    }

    #[tokio::test]
    async fn items_arrive_in_order_once_across_failures_and_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(crate::storage::BackendKind::Redb, dir.path()).expect("store");
        let notifier = Arc::new(Notifier::load(&store).expect("notifier"));
        let registry = Arc::new(FollowerRegistry::default());
        // Items from before the follower's first start are not its business.
        add_item(&store, &notifier).await;
        let (stop, stopped) = watch::channel(false);
        let recorder = Arc::new(Recorder {
            seen: Mutex::default(),
            failures: AtomicUsize::new(1),
        });
        let task = tokio::spawn(run(
            store.clone(),
            Arc::clone(&notifier),
            Arc::clone(&registry),
            Arc::clone(&recorder),
            stopped.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut expected = Vec::new();
        for _ in 0..5 {
            expected.push(add_item(&store, &notifier).await);
        }
        // One failure, then a second of backoff.
        eventually(|| lock(&recorder.seen).len() == expected.len()).await;
        assert_eq!(*lock(&recorder.seen), expected);
        let stats = registry.snapshot()["recorder"].clone();
        assert_eq!(stats.retries, 1);
        assert!(!stats.backing_off);
        assert_eq!(stats.position, *expected.last().expect("items"));
        stop.send(true).expect("stop");
        task.await.expect("stopped");

        // A new run goes on from the saved position.
        let later = add_item(&store, &notifier).await;
        let (_stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(
            store.clone(),
            Arc::clone(&notifier),
            Arc::clone(&registry),
            Arc::clone(&recorder),
            stopped,
        ));
        expected.push(later);
        eventually(|| lock(&recorder.seen).len() == expected.len()).await;
        assert_eq!(*lock(&recorder.seen), expected, "each item once, in order");
        task.abort();
    }

    #[test]
    fn backoff_doubles_up_to_its_ceiling_and_starts_over_after_a_success() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let waits: Vec<u64> = (0..5).map(|_| backoff.fail().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        backoff.reset();
        assert!(!backoff.is_backing_off());
        assert_eq!(backoff.fail().as_secs(), 1);
    }
}
