//! `import`: an operator's own key (from a key ceremony, or the key of the
//! issuer being migrated from) joins the set as its `next` key, so that it
//! signs from the following rotation on.
//!
//! The `next` key(s) it replaces never signed anything, so no token can
//! depend on them: they leave the set and their files are deleted, as
//! `prune` deletes retired keys. The import commits like every transition
//! (lock, key file, manifest last). Everything about the file and the key is
//! checked before the lock is taken, and the kid against the set under it,
//! so a refused import changes no byte of the folder.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;

use zeroize::Zeroizing;

use super::super::{KeyError, KeyFolder, KeyMeta, KeyState, SigningKey};
use super::plan_import;

/// The largest file `import` reads: an RSA-8192 PKCS#8 PEM is about 6.5 KiB.
pub const MAX_IMPORT_FILE_BYTES: usize = 64 * 1024;

/// What an import changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// The imported key, now the `next` key.
    pub imported: KeyMeta,
    /// The former `next` keys, which never signed: removed from the set.
    pub replaced: Vec<KeyMeta>,
}

impl KeyFolder {
    /// Adds the PKCS#8 PEM private key in the file `source` (RSA of 2048 to
    /// 8192 bits, or Ed25519) as the set's `next` key, in place of the
    /// current `next` key(s); its kid is its RFC 7638 thumbprint and its
    /// `created_at`, from which `rotate` counts its time published, is now.
    ///
    /// Refuses, changing nothing: a file that is unreadable, not text or
    /// over [`MAX_IMPORT_FILE_BYTES`], anything but one unencrypted
    /// `PRIVATE KEY` block of a supported, strong key
    /// ([`SigningKey::import_pkcs8_pem`]), a key already in the set
    /// ([`KeyError::AlreadyInSet`]), a folder without a key set.
    ///
    /// Blocking: file I/O and waiting for the folder lock.
    pub fn import(&self, source: &Path) -> Result<Import, KeyError> {
        let key = read_import_file(source)?;
        let lock = self.lock_existing()?;
        let listing = self.read_listing()?;
        let keys = self.read_keys(&listing)?;
        let plan = plan_import(keys, key)?;
        self.write(&lock, &plan.keys().iter().collect::<Vec<_>>())?;
        let gone = plan.replaced().iter().map(|meta| meta.kid.as_str());
        self.remove_unlisted_files(&listing, gone, "replaced next key");
        Ok(plan.committed())
    }
}

/// Reads at most [`MAX_IMPORT_FILE_BYTES`] (plus one, to tell a larger
/// file) into a buffer wiped on drop, pre-sized so it never reallocates.
/// Reads and checks the key file an operator imports, before any store is
/// touched: every refusal of `sigil keys import` about the file itself.
pub fn read_import_file(source: &Path) -> Result<SigningKey, KeyError> {
    let bytes = read_source(source)?;
    parse_source(&bytes).map_err(|e| KeyError::Import {
        path: source.to_owned(),
        source: Box::new(e),
    })
}

fn read_source(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let read_error = |e| KeyError::io("read the file to import", path, e);
    let file = File::open(path).map_err(read_error)?;
    let limit = MAX_IMPORT_FILE_BYTES + 1;
    let mut bytes = Zeroizing::new(Vec::with_capacity(limit));
    file.take(limit as u64)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    Ok(bytes)
}

/// The key in the file's bytes, in state `next`.
fn parse_source(bytes: &[u8]) -> Result<SigningKey, KeyError> {
    if bytes.len() > MAX_IMPORT_FILE_BYTES {
        return Err(KeyError::Pem(format!(
            "the file is larger than {} KiB, far more than a PEM private key",
            MAX_IMPORT_FILE_BYTES / 1024
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        KeyError::Pem(
            "the file is not text; for a DER key, convert it first: \
             `openssl pkey -inform DER -in FILE -out KEY.pem`"
                .into(),
        )
    })?;
    SigningKey::import_pkcs8_pem(text, KeyState::Next)
}

#[cfg(test)]
mod tests;
