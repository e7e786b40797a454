//! Blob storage for ciphertext: `object_store` on the local filesystem (with fsync) or any
//! S3-compatible service. Blobs only ever hold ciphertext.

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, WriteMultipart};
use std::path::PathBuf;
use std::sync::Arc;

/// Blob errors.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The object store failed.
    #[error("blob store: {0}")]
    Store(#[from] object_store::Error),
    /// Local I/O (fsync) failed.
    #[error("blob io: {0}")]
    Io(#[from] std::io::Error),
    /// Bad configuration.
    #[error("blob config: {0}")]
    Config(String),
}

impl From<BlobError> for crate::Error {
    fn from(e: BlobError) -> Self {
        crate::Error::Internal(e.to_string())
    }
}

/// Part size for multipart writes (S3's minimum is 5 MiB).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight per upload.
const PARTS_IN_FLIGHT: usize = 2;
/// Read size for local blobs.
const READ_SIZE: usize = 1024 * 1024;

/// The blob store.
#[derive(Clone)]
pub struct Blobs {
    inner: Arc<dyn ObjectStore>,
    /// Set for the local filesystem: files are fsynced after they are written.
    local_root: Option<PathBuf>,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blobs({})", self.inner)
    }
}

impl Blobs {
    /// Local directory (created if missing).
    pub fn local(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        let fs = LocalFileSystem::new_with_prefix(&root)?;
        Ok(Blobs {
            inner: Arc::new(fs),
            local_root: Some(root),
        })
    }

    /// An S3-compatible bucket, configured from the usual `AWS_*` variables
    /// (`AWS_ENDPOINT_URL`/`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...).
    pub fn s3(bucket: &str) -> Result<Self, BlobError> {
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        // A local S3-compatible endpoint over plain http is allowed unless said otherwise.
        let http_endpoint =
            std::env::var("AWS_ENDPOINT_URL").is_ok_and(|e| e.starts_with("http://"));
        if http_endpoint && std::env::var("AWS_ALLOW_HTTP").is_err() {
            b = b.with_allow_http(true);
        }
        Ok(Blobs {
            inner: Arc::new(b.build()?),
            local_root: None,
        })
    }

    /// From a `file://` path or `s3://bucket` URL.
    pub fn from_url(url: &str) -> Result<Self, BlobError> {
        if let Some(p) = url.strip_prefix("file://") {
            Self::local(p)
        } else if let Some(b) = url.strip_prefix("s3://") {
            Self::s3(b.trim_end_matches('/'))
        } else {
            Err(BlobError::Config(
                "ZEGEL_BLOB_URL must start with file:// or s3://".into(),
            ))
        }
    }

    /// Starts writing a new blob.
    pub async fn writer(&self, key: &str) -> Result<BlobWriter, BlobError> {
        let path = ObjPath::from(key);
        let upload = self.inner.put_multipart(&path).await?;
        Ok(BlobWriter {
            inner: WriteMultipart::new_with_chunk_size(upload, PART_SIZE),
            key: key.to_string(),
            local_root: self.local_root.clone(),
            written: 0,
        })
    }

    /// Reads a blob as a stream of chunks. On the local filesystem the file is read directly
    /// in 1 MiB pieces (object_store reads 8 KiB per blocking-pool hand-off, which made
    /// downloads several times slower than uploads).
    pub async fn read(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        if let Some(root) = &self.local_root {
            let path = ObjPath::from(key);
            let file = match tokio::fs::File::open(root.join(path.as_ref())).await {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(BlobError::Store(object_store::Error::NotFound {
                        path: key.to_string(),
                        source: Box::new(e),
                    }))
                }
                Err(e) => return Err(e.into()),
            };
            return Ok(futures::stream::try_unfold(file, |mut f| async move {
                use tokio::io::AsyncReadExt;
                let mut buf = bytes::BytesMut::with_capacity(READ_SIZE);
                while buf.len() < READ_SIZE {
                    if f.read_buf(&mut buf).await? == 0 {
                        break;
                    }
                }
                if buf.is_empty() {
                    Ok(None)
                } else {
                    Ok(Some((buf.freeze(), f)))
                }
            })
            .boxed());
        }
        let res = self.inner.get(&ObjPath::from(key)).await?;
        Ok(res
            .into_stream()
            .map(|r| r.map_err(BlobError::from))
            .boxed())
    }

    /// Deletes a blob; a missing blob is fine.
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.inner.delete(&ObjPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a blob exists.
    pub async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        match self.inner.head(&ObjPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// For `/readyz`: the store answers a listing.
    pub async fn ping(&self) -> Result<(), BlobError> {
        let mut s = self.inner.list(Some(&ObjPath::from("ping")));
        if let Some(r) = s.next().await {
            r?;
        }
        Ok(())
    }

    /// Keys under a prefix (for tests and the sweeper).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let mut s = self.inner.list(Some(&ObjPath::from(prefix)));
        let mut out = Vec::new();
        while let Some(r) = s.next().await {
            out.push(r?.location.to_string());
        }
        Ok(out)
    }
}

/// One blob being written. Call `finish` to keep it or `abort` to drop it.
pub struct BlobWriter {
    inner: WriteMultipart,
    key: String,
    local_root: Option<PathBuf>,
    written: u64,
}

impl BlobWriter {
    /// Appends bytes (applying back-pressure when parts are in flight). Owned bytes are
    /// handed over without a copy.
    pub async fn write(&mut self, data: Bytes) -> Result<(), BlobError> {
        self.inner.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        self.written += data.len() as u64;
        self.inner.put(data);
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Completes the blob; on the local filesystem the file and its directory are fsynced.
    pub async fn finish(self) -> Result<(), BlobError> {
        self.inner.finish().await?;
        if let Some(root) = self.local_root {
            let path = root.join(&self.key);
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                std::fs::File::open(&path)?.sync_all()?;
                if let Some(dir) = path.parent() {
                    std::fs::File::open(dir)?.sync_all()?;
                }
                Ok(())
            })
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e)))??;
        }
        Ok(())
    }

    /// Drops the partial blob.
    pub async fn abort(self) -> Result<(), BlobError> {
        self.inner.abort().await?;
        Ok(())
    }
}
