//! `zegel admin keys ...`: organisation key and master key rotation.

use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;
use std::sync::Arc;
use zegel_core::service::{RotateOptions, RotationProgress, DEFAULT_ROTATION_BATCH};
use zegel_core::Zegel;
use zegel_crypto::MasterKey;

/// Key rotation.
#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Gives an organisation a new key and re-wraps every message key under it, in batches,
    /// while the server keeps serving; then destroys the old key. Interrupted, run it again:
    /// it carries on where it stopped.
    Rotate {
        /// Organisation slug.
        #[arg(long)]
        org: String,
        /// Message keys re-wrapped per transaction.
        #[arg(long, default_value_t = DEFAULT_ROTATION_BATCH, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch_size: u32,
        /// Tests only: after this many batches, stop and wait (to be killed halfway).
        #[arg(long, hide = true)]
        pause_after_batches: Option<u32>,
    },
    /// Re-wraps every key under the master key (organisation keys, kept derived keys) under a
    /// new master key and replaces the key check, in one transaction. Then restart every node
    /// with the new key file and destroy the old one.
    RotateMaster {
        /// The new master key file (base64 of 32 bytes, like master.key); created with a new
        /// random key (mode 0600) when it does not exist.
        #[arg(long)]
        new_key_file: PathBuf,
    },
    /// Prints an organisation's public signing keys as a JWK Set (to publish).
    Public {
        /// Organisation slug.
        #[arg(long, required_unless_present = "installation")]
        org: Option<String>,
        /// The installation's own key (audit entries of no organisation) instead.
        #[arg(long, conflicts_with = "org")]
        installation: bool,
    },
}

/// Runs one `zegel admin keys` command.
pub async fn run(z: &Arc<Zegel>, cmd: KeysCmd) -> anyhow::Result<()> {
    match cmd {
        KeysCmd::Public { org, installation } => {
            println!(
                "{}",
                crate::receipts::public_keys(z, org.as_deref(), installation).await?
            );
        }
        KeysCmd::Rotate {
            org,
            batch_size,
            pause_after_batches,
        } => {
            let opts = RotateOptions {
                batch_size,
                max_batches: pause_after_batches,
            };
            let mut progress = |p: RotationProgress| {
                println!(
                    "batch {}: {} message keys re-wrapped",
                    p.batches, p.rewrapped
                );
            };
            let r = z.rotate_org_key(&org, opts, &mut progress).await?;
            if !r.finished {
                // The hidden test switch: a crash halfway, at a known point.
                println!(
                    "paused after {} batches; the old key {} is still in use",
                    r.batches,
                    r.old_keys.join(", ")
                );
                std::future::pending::<()>().await;
            }
            println!(
                "organisation {}: {} {} message keys re-wrapped under {}; old key {} destroyed",
                r.org,
                if r.resumed {
                    "rotation resumed,"
                } else {
                    "key rotated,"
                },
                r.rewrapped,
                r.new_key,
                r.old_keys.join(", ")
            );
        }
        KeysCmd::RotateMaster { new_key_file } => {
            if let Some(dir) = new_key_file.parent().filter(|d| !d.as_os_str().is_empty()) {
                anyhow::ensure!(
                    dir.is_dir(),
                    "the directory of {} does not exist",
                    new_key_file.display()
                );
            }
            let (new, created) = MasterKey::load_or_create(&new_key_file)
                .with_context(|| format!("new master key file {}", new_key_file.display()))?;
            let r = z.rotate_master_key(&new).await?;
            if created {
                println!("created the new master key file {}", new_key_file.display());
            }
            println!(
                "master key rotated: {} organisation keys, {} signing keys and {} kept keys re-wrapped",
                r.org_keys.len(),
                r.signing_keys.len(),
                r.derived_keys.len()
            );
            println!(
                "now restart every node with the new key file {} (ZEGEL_MASTER_KEY_FILE, or in \
                 place of master.key) and destroy the old key file",
                new_key_file.display()
            );
        }
    }
    Ok(())
}
