//! Where media bytes live: a blob store keyed by the SHA-256 of the content, so identical files
//! are stored once. [`FileBlobStore`] keeps them as files under the data directory; an object
//! store can implement [`BlobStore`] later. Uploads are always staged in a local file first
//! (hashed while written), then committed under their hash.

use std::{
    path::{Path, PathBuf},
    pin::Pin,
};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncSeekExt as _};

use crate::{
    error::{Error, Result},
    ports::BoxFuture,
};

/// A readable blob, or a byte range of one.
pub struct BlobRead {
    pub reader: Pin<Box<dyn AsyncRead + Send>>,
    /// The whole blob's length (not the range's).
    pub total_len: u64,
}

pub trait BlobStore: Send + Sync + 'static {
    /// Moves a fully written staging file into the store under `sha256` (hex). When the blob
    /// exists already the staging file is just removed.
    fn commit<'a>(&'a self, staged: &'a Path, sha256: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Opens a blob, from `range.0` for `range.1` bytes when given; `None` when absent.
    fn read<'a>(
        &'a self,
        sha256: &'a str,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, Result<Option<BlobRead>>>;

    /// Deletes a blob (absent is fine).
    fn delete<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<()>>;
}

/// Blobs as files: `<root>/ab/cd/<sha256>`.
pub struct FileBlobStore {
    root: PathBuf,
}

impl FileBlobStore {
    pub fn new(root: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&root).map_err(|error| {
            Error::Storage(format!(
                "cannot create media directory {}: {error}",
                root.display()
            ))
        })?;
        Ok(Self { root })
    }

    fn path_of(&self, sha256: &str) -> Result<PathBuf> {
        if sha256.len() != 64 || !sha256.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(Error::Internal(format!("not a SHA-256: {sha256}")));
        }
        Ok(self
            .root
            .join(&sha256[0..2])
            .join(&sha256[2..4])
            .join(sha256))
    }
}

fn io_error(what: &str, error: std::io::Error) -> Error {
    Error::Storage(format!("{what}: {error}"))
}

impl BlobStore for FileBlobStore {
    fn commit<'a>(&'a self, staged: &'a Path, sha256: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let path = self.path_of(sha256)?;
            if tokio::fs::try_exists(&path).await.unwrap_or(false) {
                let _ = tokio::fs::remove_file(staged).await;
                return Ok(());
            }
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|error| io_error("media directory", error))?;
            }
            // The staging file was synced before; the rename makes it visible atomically.
            tokio::fs::rename(staged, &path)
                .await
                .map_err(|error| io_error("storing media", error))?;
            if let Some(parent) = path.parent()
                && let Ok(directory) = tokio::fs::File::open(parent).await
            {
                let _ = directory.sync_all().await;
            }
            Ok(())
        })
    }

    fn read<'a>(
        &'a self,
        sha256: &'a str,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, Result<Option<BlobRead>>> {
        Box::pin(async move {
            let path = self.path_of(sha256)?;
            let mut file = match tokio::fs::File::open(&path).await {
                Ok(file) => file,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(error) => return Err(io_error("reading media", error)),
            };
            let total_len = file
                .metadata()
                .await
                .map_err(|error| io_error("reading media", error))?
                .len();
            let reader: Pin<Box<dyn AsyncRead + Send>> = match range {
                Some((start, len)) => {
                    file.seek(std::io::SeekFrom::Start(start))
                        .await
                        .map_err(|error| io_error("reading media", error))?;
                    Box::pin(file.take(len))
                }
                None => Box::pin(file),
            };
            Ok(Some(BlobRead { reader, total_len }))
        })
    }

    fn delete<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path_of(sha256)?).await {
                Ok(()) => Ok(()),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(error) => Err(io_error("deleting media", error)),
            }
        })
    }
}
