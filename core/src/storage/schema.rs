//! The schema version stored in the database, and the migrations that bring an older store up
//! to date at startup. A store written by a newer Myelin is refused rather than misread.

use super::{KvBackend, WriteBatch};
use crate::error::{Error, Result};

/// Tree holding store-wide facts such as the schema version.
pub const SCHEMA_TREE: &str = "meta";
const VERSION_KEY: &[u8] = b"schema_version";

/// The schema this build reads and writes.
pub const CURRENT_SCHEMA_VERSION: u64 = 1;

/// A migration from version `from` to `from + 1`: it adds its changes to the batch, which is
/// committed atomically together with the new version number.
pub struct Migration {
    pub from: u64,
    pub description: &'static str,
    pub run: fn(&dyn KvBackend, &mut WriteBatch) -> Result<()>,
}

/// Migrations of this build, in order. Version 1 is the first released schema, so there are
/// none yet; the mechanism is tested with its own list below.
pub const MIGRATIONS: &[Migration] = &[];

fn read_version(backend: &dyn KvBackend) -> Result<Option<u64>> {
    let Some(bytes) = backend.get(SCHEMA_TREE, VERSION_KEY)? else {
        return Ok(None);
    };
    let bytes: [u8; 8] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::Storage("the stored schema version is not 8 bytes long".into()))?;
    Ok(Some(u64::from_be_bytes(bytes)))
}

/// Stamps a fresh store, refuses a newer one, and migrates an older one step by step.
pub(super) fn check_and_migrate(
    backend: &dyn KvBackend,
    current: u64,
    migrations: &[Migration],
) -> Result<()> {
    let Some(mut version) = read_version(backend)? else {
        let mut batch = WriteBatch::new();
        batch.put(
            SCHEMA_TREE,
            VERSION_KEY.to_vec(),
            current.to_be_bytes().to_vec(),
        );
        return backend.apply(&[&batch], true);
    };
    if version > current {
        return Err(Error::Storage(format!(
            "the database uses schema version {version}, newer than the {current} this Myelin understands; \
             run a newer Myelin or restore a backup"
        )));
    }
    while version < current {
        let migration = migrations
            .iter()
            .find(|migration| migration.from == version)
            .ok_or_else(|| Error::Storage(format!("no migration from schema version {version}")))?;
        tracing::info!(
            from = version,
            to = version + 1,
            migration.description,
            "migrating the store"
        );
        let mut batch = WriteBatch::new();
        (migration.run)(backend, &mut batch)?;
        batch.put(
            SCHEMA_TREE,
            VERSION_KEY.to_vec(),
            (version + 1).to_be_bytes().to_vec(),
        );
        backend.apply(&[&batch], true)?;
        version += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{BackendKind, open_backend};

    fn rename_tree(backend: &dyn KvBackend, batch: &mut WriteBatch) -> Result<()> {
        for (key, value) in backend.range(
            "old_tree",
            std::ops::Bound::Unbounded,
            std::ops::Bound::Unbounded,
            false,
            usize::MAX,
        )? {
            batch.put("new_tree", key.clone(), value);
            batch.delete("old_tree", key);
        }
        Ok(())
    }

    const TEST_MIGRATIONS: &[Migration] = &[Migration {
        from: 1,
        description: "move old_tree to new_tree",
        run: rename_tree,
    }];

    #[test]
    fn fresh_store_is_stamped_and_older_store_is_migrated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = open_backend(BackendKind::Redb, dir.path()).expect("open");
        check_and_migrate(backend.as_ref(), 1, TEST_MIGRATIONS).expect("stamp");
        assert_eq!(read_version(backend.as_ref()).expect("read"), Some(1));
        let mut batch = WriteBatch::new();
        batch.put("old_tree", b"k".to_vec(), b"v".to_vec());
        backend.apply(&[&batch], true).expect("write");

        check_and_migrate(backend.as_ref(), 2, TEST_MIGRATIONS).expect("migrate");
        assert_eq!(read_version(backend.as_ref()).expect("read"), Some(2));
        assert_eq!(
            backend.get("new_tree", b"k").expect("get"),
            Some(b"v".to_vec())
        );
        assert_eq!(backend.get("old_tree", b"k").expect("get"), None);
    }

    #[test]
    fn newer_store_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = open_backend(BackendKind::Sled, dir.path()).expect("open");
        check_and_migrate(backend.as_ref(), 3, &[]).expect("stamp");
        let error = check_and_migrate(backend.as_ref(), 1, &[]).expect_err("must refuse");
        assert!(
            error
                .to_string()
                .contains("schema version 3, newer than the 1"),
            "{error}"
        );
    }
}
