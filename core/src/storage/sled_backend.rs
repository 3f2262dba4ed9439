//! The sled engine. All trees live in sled's default tree under a `name\xFF` key prefix, because
//! sled's `Batch` is atomic only within one tree and Myelin's batches span trees.

use std::{ops::Bound, path::Path};

use super::{KeyValue, KvBackend, SEPARATOR, WriteBatch, WriteOp, prefix_upper_bound};
use crate::error::{Error, Result};

pub(super) struct SledBackend {
    database: sled::Db,
}

impl SledBackend {
    pub(super) fn open(path: &Path) -> Result<Self> {
        let database = sled::Config::new()
            .path(path)
            // Durability comes from explicit flushes in group commit, not from a timer.
            .flush_every_ms(None)
            .open()
            .map_err(|error| {
                Error::Storage(format!(
                    "cannot open sled database {}: {error}",
                    path.display()
                ))
            })?;
        Ok(Self { database })
    }
}

fn full_key(tree: &str, key: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(tree.len() + 1 + key.len());
    full.extend_from_slice(tree.as_bytes());
    full.push(SEPARATOR);
    full.extend_from_slice(key);
    full
}

fn map_bound(tree: &str, bound: Bound<&[u8]>, is_end: bool) -> Bound<Vec<u8>> {
    match bound {
        Bound::Included(key) => Bound::Included(full_key(tree, key)),
        Bound::Excluded(key) => Bound::Excluded(full_key(tree, key)),
        Bound::Unbounded if is_end => match prefix_upper_bound(&full_key(tree, b"")) {
            Some(upper) => Bound::Excluded(upper),
            None => Bound::Unbounded,
        },
        Bound::Unbounded => Bound::Included(full_key(tree, b"")),
    }
}

impl KvBackend for SledBackend {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .database
            .get(full_key(tree, key))
            .map_err(Error::storage)?
            .map(|value| value.to_vec()))
    }

    fn range(
        &self,
        tree: &str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<KeyValue>> {
        let prefix_len = tree.len() + 1;
        let range = self
            .database
            .range((map_bound(tree, start, false), map_bound(tree, end, true)));
        let to_pair = |entry: sled::Result<(sled::IVec, sled::IVec)>| {
            entry
                .map(|(key, value)| (key[prefix_len..].to_vec(), value.to_vec()))
                .map_err(Error::storage)
        };
        if reverse {
            range.rev().take(limit).map(to_pair).collect()
        } else {
            range.take(limit).map(to_pair).collect()
        }
    }

    fn apply(&self, batches: &[&WriteBatch], durable: bool) -> Result<()> {
        let mut batch = sled::Batch::default();
        for op in batches.iter().flat_map(|batch| batch.ops.iter()) {
            match op {
                WriteOp::Put { tree, key, value } => {
                    batch.insert(full_key(tree, key), value.as_slice())
                }
                WriteOp::Delete { tree, key } => batch.remove(full_key(tree, key)),
            }
        }
        self.database.apply_batch(batch).map_err(Error::storage)?;
        if durable {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        self.database.flush().map(|_| ()).map_err(Error::storage)
    }

    fn size_on_disk(&self) -> Result<u64> {
        self.database.size_on_disk().map_err(Error::storage)
    }
}
