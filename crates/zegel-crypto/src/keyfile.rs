//! The master key file: read its text, or create it once (mode 0600, fsynced). What the text
//! means (a base64 key) is `keys`' business; this module only does the file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::CryptoError;

/// A key file holds 44 base64 characters and a newline; anything far larger is not a key file.
const MAX_KEY_FILE_LEN: usize = 1024;

pub(crate) enum KeyFileError {
    NotFound,
    Other(String),
}

impl KeyFileError {
    pub(crate) fn into_crypto(self, path: &Path) -> CryptoError {
        match self {
            KeyFileError::NotFound => {
                CryptoError::KeyFile(format!("{}: not found", path.display()))
            }
            KeyFileError::Other(msg) => CryptoError::KeyFile(format!("{}: {msg}", path.display())),
        }
    }
}

/// Reads a key file and makes a key of its text with `parse` (which sees the text as it is,
/// whitespace included).
pub(crate) fn read_key_file<K>(
    path: &Path,
    parse: impl FnOnce(&str) -> Option<K>,
) -> Result<K, KeyFileError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(KeyFileError::NotFound),
        Err(e) => return Err(KeyFileError::Other(format!("cannot read: {e}"))),
    };
    // Capacity up front so the buffer never reallocates (which would leave copies behind).
    let mut text = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE_LEN + 1));
    file.take(MAX_KEY_FILE_LEN as u64 + 1)
        .read_to_end(&mut text)
        .map_err(|e| KeyFileError::Other(format!("cannot read: {e}")))?;
    if text.len() > MAX_KEY_FILE_LEN {
        return Err(KeyFileError::Other("too large for a key file".into()));
    }
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(KeyFileError::Other(
            "is empty (an interrupted first start?); if no data was ever encrypted with it, \
             remove it to have a new key created"
                .into(),
        ));
    }
    std::str::from_utf8(&text)
        .ok()
        .and_then(parse)
        .ok_or_else(|| KeyFileError::Other("does not hold a base64-encoded 32-byte key".into()))
}

/// Creates a new key file holding `key` in base64 (fails with `AlreadyExists` when there is one).
pub(crate) fn create_key_file(path: &Path, key: &[u8]) -> io::Result<()> {
    let mut text = Zeroizing::new(String::with_capacity(64));
    STANDARD.encode_string(key, &mut text);
    text.push('\n');

    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    if let Err(e) = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
    {
        drop(file);
        // Do not leave a half-written key file behind; the original error is what matters.
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    drop(file);
    sync_parent_dir(path)
}

/// Makes the new directory entry durable.
fn sync_parent_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(parent)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
