//! The key-value storage trait and the durable, group-committing [`Store`] built on it.
//!
//! Architecture invariant: everything above this module speaks in trees, keys and write batches;
//! only `redb_backend.rs` and `sled_backend.rs` know which engine is underneath.

mod commit;
mod keys;
mod redb_backend;
mod schema;
mod sled_backend;

use std::{ops::Bound, path::Path, sync::Arc};

use serde::{Deserialize, Serialize};

pub use self::{
    commit::Store,
    keys::{SEPARATOR, compound_key, prefix_upper_bound, split_key},
    schema::{CURRENT_SCHEMA_VERSION, SCHEMA_TREE},
};
use crate::error::Result;

/// Which embedded engine holds the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// redb: one file, copy-on-write B-trees, checksummed, one fsync per commit.
    /// The default: it lost nothing in the SIGKILL crash test and was faster (see README).
    #[default]
    Redb,
    /// sled 0.34: kept selectable for comparison; not recommended (see README).
    Sled,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Redb => "redb",
            BackendKind::Sled => "sled",
        })
    }
}

impl std::str::FromStr for BackendKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "redb" => Ok(BackendKind::Redb),
            "sled" => Ok(BackendKind::Sled),
            other => Err(format!(
                "unknown storage backend `{other}` (expected redb or sled)"
            )),
        }
    }
}

/// One change inside a [`WriteBatch`].
#[derive(Debug, Clone)]
pub enum WriteOp {
    Put {
        tree: &'static str,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        tree: &'static str,
        key: Vec<u8>,
    },
}

/// A set of changes across trees that is applied atomically: all or none.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    pub(crate) ops: Vec<WriteOp>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, tree: &'static str, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(WriteOp::Put {
            tree,
            key: key.into(),
            value: value.into(),
        });
    }

    pub fn put_json<T: Serialize>(
        &mut self,
        tree: &'static str,
        key: impl Into<Vec<u8>>,
        value: &T,
    ) {
        let value = serde_json::to_vec(value).expect("serialising plain data structs cannot fail");
        self.put(tree, key, value);
    }

    pub fn delete(&mut self, tree: &'static str, key: impl Into<Vec<u8>>) {
        self.ops.push(WriteOp::Delete {
            tree,
            key: key.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

/// A key/value pair returned by scans.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// What an embedded engine must provide. Implementations are synchronous; [`Store`] runs
/// commits on its own thread and shares one durable flush among all waiting writers.
pub trait KvBackend: Send + Sync + 'static {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Ordered scan of `tree` between the bounds, newest-first when `reverse`, at most `limit`.
    fn range(
        &self,
        tree: &str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<KeyValue>>;

    /// Applies every batch in one atomic transaction; when `durable`, the data is on stable
    /// storage when this returns.
    fn apply(&self, batches: &[&WriteBatch], durable: bool) -> Result<()>;

    /// Forces everything written so far to stable storage.
    fn flush(&self) -> Result<()>;

    /// Bytes the database occupies on disk.
    fn size_on_disk(&self) -> Result<u64>;
}

/// Opens the engine `kind` in `directory` (created if missing).
pub fn open_backend(kind: BackendKind, directory: &Path) -> Result<Arc<dyn KvBackend>> {
    std::fs::create_dir_all(directory).map_err(|error| {
        crate::error::Error::Storage(format!(
            "cannot create data directory {}: {error}",
            directory.display()
        ))
    })?;
    Ok(match kind {
        BackendKind::Redb => Arc::new(redb_backend::RedbBackend::open(
            &directory.join("myelin.redb"),
        )?),
        BackendKind::Sled => Arc::new(sled_backend::SledBackend::open(&directory.join("sled"))?),
    })
}
