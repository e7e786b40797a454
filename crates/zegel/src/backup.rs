//! `zegel backup --to DIR` and `zegel restore --from DIR` for an installation on SQLite and
//! local blob files (the default). PostgreSQL and S3 have their own, better tools (`pg_dump`
//! or continuous archiving, and the bucket's versioning): for those, `zegel backup` refuses
//! and says so (README "Backup and restore").
//!
//! A backup is a directory: `zegel.db` (a consistent copy of the database at one instant,
//! taken with SQLite's `VACUUM INTO` while the server goes on serving), `blobs/` (the
//! encrypted attachment blobs that copy still refers to) and `manifest.json` (format, time,
//! and the size and SHA-256 of every file, checked on restore). The master key is never in
//! a backup: it is what makes the backup worthless to whoever steals it, so it is kept
//! apart (README).
//!
//! Blobs are copied after the database: a blob is written before the row that refers to it
//! commits, so every blob of the copy exists, unless its message was destroyed (revoked or
//! expired) and swept between the copy and the blob: such keys are listed as `missing` in
//! the manifest; their messages were destroyed anyway.

use crate::config::{Config, DatabaseUrl, MasterKeySource};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use zegel_core::store::SignInStore;
use zegel_store_sqlite::SqliteStore;

/// The manifest's format name.
const FORMAT: &str = "zegel-backup/1";
/// The database file of a backup.
const DB_FILE: &str = "zegel.db";
/// The manifest file of a backup.
const MANIFEST: &str = "manifest.json";

/// What a backup holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// `zegel-backup/1`.
    pub format: String,
    /// When the backup was made (RFC 3339, UTC).
    pub created_at: String,
    /// The Zegel version that made it.
    pub zegel_version: String,
    /// The database copy.
    pub database: FileSum,
    /// Every blob, by key (its path under `blobs/`).
    pub blobs: Vec<BlobSum>,
    /// Blobs the copy refers to that were gone (destroyed and swept during the backup).
    pub missing: Vec<String>,
    /// Always "not included": where the master key must come from on restore.
    pub master_key: String,
}

/// Size and SHA-256 (hex) of a file.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileSum {
    /// Bytes.
    pub bytes: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// A blob of the backup.
#[derive(Debug, Serialize, Deserialize)]
pub struct BlobSum {
    /// The blob key (also its relative path under `blobs/`).
    pub key: String,
    /// Size and checksum.
    #[serde(flatten)]
    pub sum: FileSum,
}

/// What `zegel backup` says when the installation is not SQLite with local blobs.
pub const NOT_SQLITE_ADVICE: &str = "zegel backup copies SQLite and local blob files only. \
With PostgreSQL, back up the database with pg_dump (or continuous WAL archiving) and the \
blobs with your S3 bucket's versioning or replication; see README, \"Backup and restore\". \
Keep the master key apart from both.";

/// The SQLite file and blob directory of a configuration, or the advice why not.
fn local_paths(cfg: &Config) -> anyhow::Result<(PathBuf, PathBuf)> {
    let db = match &cfg.database {
        DatabaseUrl::Sqlite(p) => p.clone(),
        DatabaseUrl::Postgres(_) => bail!(NOT_SQLITE_ADVICE),
    };
    let Some(blobs) = cfg.blob_url.strip_prefix("file://") else {
        bail!(NOT_SQLITE_ADVICE);
    };
    Ok((db, PathBuf::from(blobs)))
}

/// A blob key as a relative path: plain segments only (no `..`, no root), so neither a
/// backup nor a manifest can write outside its directory.
fn key_path(key: &str) -> anyhow::Result<PathBuf> {
    let p = Path::new(key);
    let plain = !key.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        bail!("refusing the blob key {key:?}: not a plain relative path");
    }
    Ok(p.to_path_buf())
}

/// Copies `from` to `to` (a new file, parents created), streaming, and returns its sum.
fn copy_summed(from: &Path, to: &Path) -> anyhow::Result<FileSum> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut src =
        std::fs::File::open(from).with_context(|| format!("reading {}", from.display()))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .with_context(|| format!("creating {}", to.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
        bytes += n as u64;
    }
    dst.sync_all()?;
    Ok(FileSum {
        bytes,
        sha256: hex(&hasher.finalize()),
    })
}

/// The sum of a file, streaming.
fn sum_of(path: &Path) -> anyhow::Result<FileSum> {
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(FileSum {
        bytes,
        sha256: hex(&hasher.finalize()),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `dir` is missing or an empty directory.
fn empty_or_missing(dir: &Path) -> anyhow::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

/// `zegel backup --to DIR`: a consistent copy of the database and the blobs it refers to,
/// with a manifest; the server may go on serving. Returns the manifest.
pub async fn backup(cfg: &Config, to: &Path) -> anyhow::Result<Manifest> {
    let (db_path, blob_root) = local_paths(cfg)?;
    if !db_path.exists() {
        bail!("no database at {}", db_path.display());
    }
    if !empty_or_missing(to)? {
        bail!(
            "{} is not empty: a backup goes into a new or empty directory",
            to.display()
        );
    }
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let result = write_backup(&db_path, &blob_root, to).await;
    if result.is_err() {
        // Nothing half-made is left to be mistaken for a backup.
        let _ = std::fs::remove_dir_all(to);
    }
    result
}

async fn write_backup(db_path: &Path, blob_root: &Path, to: &Path) -> anyhow::Result<Manifest> {
    let live = SqliteStore::connect(&db_path.to_string_lossy())
        .await
        .with_context(|| format!("opening {}", db_path.display()))?;
    // The backup is an audit entry (NEN 7513), inside the snapshot it describes.
    live.record_account_event(&zegel_core::signin::AccountEvent {
        user_id: None,
        kind: zegel_core::signin::AccountEventKind::BackupMade,
        at: zegel_core::model::Ts::now(),
        ip: None,
        user_agent: None,
        detail: Some("zegel backup".into()),
    })
    .await
    .context("recording the backup in the audit trail")?;
    let copy = to.join(DB_FILE);
    live.snapshot_into(&copy)
        .await
        .context("copying the database (VACUUM INTO)")?;
    live.close().await;
    // The blobs the copy refers to, read from the copy itself.
    let snapshot = SqliteStore::connect(&copy.to_string_lossy()).await?;
    let keys = snapshot.live_blob_keys().await?;
    snapshot.close().await;
    // The copy was opened: fold its WAL back in so the file alone is the database.
    for ext in ["-wal", "-shm"] {
        let side = to.join(format!("{DB_FILE}{ext}"));
        if side.exists() {
            std::fs::remove_file(&side)?;
        }
    }
    let mut blobs = Vec::with_capacity(keys.len());
    let mut missing = Vec::new();
    for key in keys {
        let rel = key_path(&key)?;
        let src = blob_root.join(&rel);
        if !src.exists() {
            missing.push(key);
            continue;
        }
        let sum = copy_summed(&src, &to.join("blobs").join(&rel))?;
        blobs.push(BlobSum { key, sum });
    }
    let manifest = Manifest {
        format: FORMAT.to_string(),
        created_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        zegel_version: env!("CARGO_PKG_VERSION").to_string(),
        database: sum_of(&copy)?,
        blobs,
        missing,
        master_key: "not included".to_string(),
    };
    let json = serde_json::to_vec_pretty(&manifest)?;
    let mut f = std::fs::File::create(to.join(MANIFEST))?;
    f.write_all(&json)?;
    f.sync_all()?;
    Ok(manifest)
}

/// `zegel restore --from DIR`: checks every file against the manifest, then puts the
/// database and blobs where the configuration says, into an installation that has neither
/// yet. The master key must be in place first (it is never in a backup); the restored data
/// is opened with it before the restore is called done. On any failure nothing is left
/// behind.
pub async fn restore(cfg: &Config, from: &Path) -> anyhow::Result<Manifest> {
    let (db_path, blob_root) = local_paths(cfg)?;
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(from.join(MANIFEST))
            .with_context(|| format!("reading {}", from.join(MANIFEST).display()))?,
    )
    .context("the backup's manifest.json does not parse")?;
    if manifest.format != FORMAT {
        bail!("unknown backup format {:?}", manifest.format);
    }
    if db_path.exists() {
        bail!(
            "{} exists: restore goes into a new installation (move the old data away first)",
            db_path.display()
        );
    }
    if !empty_or_missing(&blob_root)? {
        bail!(
            "{} is not empty: restore goes into a new installation",
            blob_root.display()
        );
    }
    if let MasterKeySource::File(key) = &cfg.master {
        if !key.exists() {
            bail!(
                "the master key is never in a backup: put the key file at {} (or set \
                 ZEGEL_MASTER_KEY) before restoring",
                key.display()
            );
        }
    }
    // Every file whole before anything is written.
    if sum_of(&from.join(DB_FILE))? != manifest.database {
        bail!("{DB_FILE} of the backup does not match its manifest");
    }
    for b in &manifest.blobs {
        let p = from.join("blobs").join(key_path(&b.key)?);
        if sum_of(&p)? != b.sum {
            bail!(
                "the blob {} of the backup does not match its manifest",
                b.key
            );
        }
    }
    let result = put_back(cfg, from, &manifest, &db_path, &blob_root).await;
    if result.is_err() {
        let _ = std::fs::remove_file(&db_path);
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(PathBuf::from(format!("{}{ext}", db_path.display())));
        }
        let _ = std::fs::remove_dir_all(&blob_root);
    }
    result.map(|()| manifest)
}

async fn put_back(
    cfg: &Config,
    from: &Path,
    manifest: &Manifest,
    db_path: &Path,
    blob_root: &Path,
) -> anyhow::Result<()> {
    for b in &manifest.blobs {
        let rel = key_path(&b.key)?;
        let sum = copy_summed(&from.join("blobs").join(&rel), &blob_root.join(&rel))?;
        if sum != b.sum {
            bail!("the blob {} changed while it was restored", b.key);
        }
    }
    let tmp = PathBuf::from(format!("{}.restoring", db_path.display()));
    let _ = std::fs::remove_file(&tmp);
    let sum = copy_summed(&from.join(DB_FILE), &tmp)?;
    if sum != manifest.database {
        let _ = std::fs::remove_file(&tmp);
        bail!("{DB_FILE} changed while it was restored");
    }
    std::fs::rename(&tmp, db_path)?;
    // Opened with the configured master key: a wrong key is found now, not at the next start.
    crate::app::open(cfg)
        .await
        .context("the restored data does not open with this master key")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_keys_stay_inside_the_backup() {
        assert!(key_path("att/2026/abc").is_ok());
        for bad in ["", "../x", "/etc/passwd", "a/../../b", "./x"] {
            assert!(key_path(bad).is_err(), "{bad:?}");
        }
    }
}
