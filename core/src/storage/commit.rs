//! [`Store`]: reads go straight to the engine; writes go through one committer thread that
//! gathers every batch waiting at that moment into one transaction and one flush (group commit),
//! so a thousand concurrent writers cost a handful of fsyncs, and each is durable before its
//! `commit` returns.

use std::{
    ops::Bound,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread::JoinHandle,
};

use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use super::{
    BackendKind, KeyValue, KvBackend, WriteBatch, open_backend, prefix_upper_bound, schema,
};
use crate::error::{Error, Result};

/// Most batches folded into one transaction; bounds the latency of the first writer in a group.
const MAX_GROUP: usize = 4096;

struct CommitJob {
    batch: WriteBatch,
    durable: bool,
    reply: oneshot::Sender<Result<()>>,
}

struct StoreInner {
    backend: Arc<dyn KvBackend>,
    kind: BackendKind,
    queue: Mutex<Option<mpsc::Sender<CommitJob>>>,
    committer: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<StoreCounters>,
}

/// Counters exported as metrics.
#[derive(Default, Debug)]
pub struct StoreCounters {
    /// Durable flushes (one per group).
    pub flushes: AtomicU64,
    /// Batches committed.
    pub batches: AtomicU64,
}

/// The handle every service holds. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

impl Store {
    /// Opens (or creates) the store, checks the schema version and runs migrations.
    pub fn open(kind: BackendKind, directory: &Path) -> Result<Self> {
        let backend = open_backend(kind, directory)?;
        schema::check_and_migrate(
            backend.as_ref(),
            schema::CURRENT_SCHEMA_VERSION,
            schema::MIGRATIONS,
        )?;
        Ok(Self::from_backend(backend, kind))
    }

    fn from_backend(backend: Arc<dyn KvBackend>, kind: BackendKind) -> Self {
        let (sender, receiver) = mpsc::channel::<CommitJob>();
        let counters = Arc::new(StoreCounters::default());
        let thread_backend = Arc::clone(&backend);
        let thread_counters = Arc::clone(&counters);
        let committer = std::thread::Builder::new()
            .name("myelin-commit".into())
            .spawn(move || run_committer(thread_backend.as_ref(), &receiver, &thread_counters))
            .expect("spawning a thread at startup only fails when the OS is out of resources");
        Self {
            inner: Arc::new(StoreInner {
                backend,
                kind,
                queue: Mutex::new(Some(sender)),
                committer: Mutex::new(Some(committer)),
                counters,
            }),
        }
    }

    pub fn backend_kind(&self) -> BackendKind {
        self.inner.kind
    }

    pub fn counters(&self) -> &StoreCounters {
        &self.inner.counters
    }

    pub fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.backend.get(tree, key)
    }

    /// Reads a JSON value; a value that no longer parses is a storage error, not a panic.
    pub fn get_json<T: DeserializeOwned>(&self, tree: &str, key: &[u8]) -> Result<Option<T>> {
        match self.get(tree, key)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| Error::Storage(format!("corrupt value in tree {tree}: {error}"))),
            None => Ok(None),
        }
    }

    /// All pairs whose key starts with `prefix`, in key order, at most `limit`.
    pub fn scan_prefix(&self, tree: &str, prefix: &[u8], limit: usize) -> Result<Vec<KeyValue>> {
        let upper = prefix_upper_bound(prefix);
        let end = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        self.inner
            .backend
            .range(tree, Bound::Included(prefix), end, false, limit)
    }

    /// Ordered scan between bounds.
    pub fn range(
        &self,
        tree: &str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<KeyValue>> {
        self.inner.backend.range(tree, start, end, reverse, limit)
    }

    /// Applies `batch` atomically and returns once it is on stable storage.
    pub async fn commit(&self, batch: WriteBatch) -> Result<()> {
        self.enqueue(batch, true)?
            .await
            .map_err(|_| Error::Storage("the committer stopped".into()))?
    }

    /// Applies `batch` atomically without waiting for a flush: for data whose loss in a crash is
    /// harmless (device last-seen times).
    pub async fn commit_lazy(&self, batch: WriteBatch) -> Result<()> {
        self.enqueue(batch, false)?
            .await
            .map_err(|_| Error::Storage("the committer stopped".into()))?
    }

    /// Applies `batch` durably on the calling thread, bypassing group commit: for startup and
    /// tools, where there are no concurrent writers to share a flush with.
    pub fn apply_now(&self, batch: WriteBatch) -> Result<()> {
        self.inner.backend.apply(&[&batch], true)
    }

    fn enqueue(&self, batch: WriteBatch, durable: bool) -> Result<oneshot::Receiver<Result<()>>> {
        let (reply, receiver) = oneshot::channel();
        let queue = self
            .inner
            .queue
            .lock()
            .map_err(|_| Error::Internal("store queue lock poisoned".into()))?;
        let Some(sender) = queue.as_ref() else {
            return Err(Error::Storage("the store is closed".into()));
        };
        sender
            .send(CommitJob {
                batch,
                durable,
                reply,
            })
            .map_err(|_| Error::Storage("the committer stopped".into()))?;
        Ok(receiver)
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<()> {
        self.inner.backend.flush()
    }

    pub fn size_on_disk(&self) -> Result<u64> {
        self.inner.backend.size_on_disk()
    }
}

impl Drop for StoreInner {
    fn drop(&mut self) {
        // Closing the queue ends the committer after it drains; joining it releases the engine's
        // file lock before the caller can reopen the same directory.
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
        if let Ok(mut committer) = self.committer.lock()
            && let Some(handle) = committer.take()
        {
            let _ = handle.join();
        }
        if let Err(error) = self.backend.flush() {
            tracing::error!(%error, "final store flush failed");
        }
    }
}

fn run_committer(
    backend: &dyn KvBackend,
    receiver: &mpsc::Receiver<CommitJob>,
    counters: &StoreCounters,
) {
    while let Ok(first) = receiver.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let durable = group.iter().any(|job| job.durable);
        let batches: Vec<&WriteBatch> = group.iter().map(|job| &job.batch).collect();
        let outcome = backend.apply(&batches, durable);
        if durable {
            counters.flushes.fetch_add(1, Ordering::Relaxed);
        }
        counters
            .batches
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        if let Err(error) = &outcome {
            tracing::error!(%error, batches = group.len(), "group commit failed");
        }
        for job in group {
            let reply = match &outcome {
                Ok(()) => Ok(()),
                Err(error) => Err(Error::Storage(error.to_string())),
            };
            // The writer may have given up (its request was cancelled); nothing to do then.
            let _ = job.reply.send(reply);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores() -> Vec<(tempfile::TempDir, Store)> {
        [BackendKind::Redb, BackendKind::Sled]
            .into_iter()
            .map(|kind| {
                let dir = tempfile::tempdir().expect("tempdir");
                let store = Store::open(kind, dir.path()).expect("open");
                (dir, store)
            })
            .collect()
    }

    #[tokio::test]
    async fn batches_span_trees_and_scans_are_ordered() {
        for (_dir, store) in stores() {
            let mut batch = WriteBatch::new();
            batch.put("a_tree", b"k2".to_vec(), b"v2".to_vec());
            batch.put("a_tree", b"k1".to_vec(), b"v1".to_vec());
            batch.put("a_tree", b"x1".to_vec(), b"other".to_vec());
            batch.put("b_tree", b"k1".to_vec(), b"b".to_vec());
            store.commit(batch).await.expect("commit");
            let pairs = store.scan_prefix("a_tree", b"k", 10).expect("scan");
            assert_eq!(
                pairs,
                vec![
                    (b"k1".to_vec(), b"v1".to_vec()),
                    (b"k2".to_vec(), b"v2".to_vec())
                ]
            );
            let reversed = store
                .range("a_tree", Bound::Unbounded, Bound::Unbounded, true, 2)
                .expect("range");
            assert_eq!(reversed[0].0, b"x1".to_vec());
            assert_eq!(reversed.len(), 2);
            assert_eq!(
                store.get("b_tree", b"k1").expect("get"),
                Some(b"b".to_vec())
            );
            assert_eq!(store.get("missing_tree", b"k1").expect("get"), None);
            let mut delete = WriteBatch::new();
            delete.delete("a_tree", b"k1".to_vec());
            store.commit(delete).await.expect("commit");
            assert_eq!(
                store.get("a_tree", b"k1").expect("get"),
                None,
                "{}",
                store.backend_kind()
            );
        }
    }

    #[tokio::test]
    async fn concurrent_writers_share_flushes_and_all_land() {
        for (_dir, store) in stores() {
            let tasks: Vec<_> = (0..200u32)
                .map(|index| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let mut batch = WriteBatch::new();
                        batch.put("t", index.to_be_bytes().to_vec(), b"v".to_vec());
                        store.commit(batch).await
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("join").expect("commit");
            }
            assert_eq!(store.scan_prefix("t", b"", 1000).expect("scan").len(), 200);
            assert_eq!(store.counters().batches.load(Ordering::Relaxed), 200);
        }
    }

    #[tokio::test]
    async fn data_survives_reopen() {
        for kind in [BackendKind::Redb, BackendKind::Sled] {
            let dir = tempfile::tempdir().expect("tempdir");
            {
                let store = Store::open(kind, dir.path()).expect("open");
                let mut batch = WriteBatch::new();
                batch.put("t", b"k".to_vec(), b"v".to_vec());
                store.commit(batch).await.expect("commit");
            }
            let store = Store::open(kind, dir.path()).expect("reopen");
            assert_eq!(store.get("t", b"k").expect("get"), Some(b"v".to_vec()));
        }
    }
}
