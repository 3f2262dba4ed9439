//! The redb engine: one table per tree, one write transaction per group commit.

use std::{
    ops::Bound,
    path::{Path, PathBuf},
};

use redb::{Database, Durability, ReadableDatabase, TableDefinition, TableError};

use super::{KeyValue, KvBackend, WriteBatch, WriteOp};
use crate::error::{Error, Result};

type RangeEntry<'a> = std::result::Result<
    (
        redb::AccessGuard<'a, &'static [u8]>,
        redb::AccessGuard<'a, &'static [u8]>,
    ),
    redb::StorageError,
>;

pub(super) struct RedbBackend {
    database: Database,
    path: PathBuf,
}

fn table(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

impl RedbBackend {
    pub(super) fn open(path: &Path) -> Result<Self> {
        let database = Database::create(path).map_err(|error| {
            Error::Storage(format!(
                "cannot open redb database {}: {error}",
                path.display()
            ))
        })?;
        Ok(Self {
            database,
            path: path.to_owned(),
        })
    }
}

impl KvBackend for RedbBackend {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let transaction = self.database.begin_read().map_err(Error::storage)?;
        let table = match transaction.open_table(table(tree)) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(error) => return Err(Error::storage(error)),
        };
        Ok(table
            .get(key)
            .map_err(Error::storage)?
            .map(|value| value.value().to_vec()))
    }

    fn range(
        &self,
        tree: &str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<KeyValue>> {
        let transaction = self.database.begin_read().map_err(Error::storage)?;
        let table = match transaction.open_table(table(tree)) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(Error::storage(error)),
        };
        let range = table.range::<&[u8]>((start, end)).map_err(Error::storage)?;
        let to_pair = |entry: RangeEntry<'_>| {
            entry
                .map(|(key, value)| (key.value().to_vec(), value.value().to_vec()))
                .map_err(Error::storage)
        };
        if reverse {
            range.rev().take(limit).map(to_pair).collect()
        } else {
            range.take(limit).map(to_pair).collect()
        }
    }

    fn apply(&self, batches: &[&WriteBatch], durable: bool) -> Result<()> {
        let mut transaction = self.database.begin_write().map_err(Error::storage)?;
        if !durable {
            transaction
                .set_durability(Durability::None)
                .map_err(Error::storage)?;
        }
        for op in batches.iter().flat_map(|batch| batch.ops.iter()) {
            match op {
                WriteOp::Put { tree, key, value } => {
                    let mut table = transaction
                        .open_table(table(tree))
                        .map_err(Error::storage)?;
                    table
                        .insert(key.as_slice(), value.as_slice())
                        .map_err(Error::storage)?;
                }
                WriteOp::Delete { tree, key } => {
                    let mut table = transaction
                        .open_table(table(tree))
                        .map_err(Error::storage)?;
                    table.remove(key.as_slice()).map_err(Error::storage)?;
                }
            }
        }
        transaction.commit().map_err(Error::storage)
    }

    fn flush(&self) -> Result<()> {
        // An empty transaction committed with the default (immediate) durability makes every
        // earlier non-durable commit durable too.
        let transaction = self.database.begin_write().map_err(Error::storage)?;
        transaction.commit().map_err(Error::storage)
    }

    fn size_on_disk(&self) -> Result<u64> {
        std::fs::metadata(&self.path)
            .map(|metadata| metadata.len())
            .map_err(Error::storage)
    }
}
