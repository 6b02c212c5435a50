//! Reading one `<kid>.pem` back: into a buffer wiped on drop, with a warning
//! when the file is readable by others, checked against what the manifest
//! says about the key.

use std::fs::File;
use std::io::{ErrorKind, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use zeroize::Zeroizing;

use super::super::{KeyError, KeyMeta, SigningKey};

/// Reads and parses one key file, checking it against `meta`.
pub(super) fn read_key_file(path: &Path, meta: KeyMeta) -> Result<SigningKey, KeyError> {
    let mut file = File::open(path).map_err(|e| KeyError::io("read key file", path, e))?;
    let size = file
        .metadata()
        .map_err(|e| KeyError::io("inspect key file", path, e))
        .map(|m| {
            let mode = m.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "key file is accessible to group or others; chmod 600 it"
                );
            }
            m.len()
        })?;
    // Pre-sized so reading never reallocates and leaves an unwiped copy.
    let capacity = usize::try_from(size).unwrap_or(0).saturating_add(1);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    file.read_to_end(&mut bytes)
        .map_err(|e| KeyError::io("read key file", path, e))?;
    let in_file = |source| KeyError::KeyFile {
        path: path.to_owned(),
        source: Box::new(source),
    };
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| in_file(KeyError::Pem("the file is not text".into())))?;
    SigningKey::from_pkcs8_pem(text, meta).map_err(in_file)
}

/// A key file named by the manifest does not exist.
pub(super) fn is_missing_file(error: &KeyError) -> bool {
    matches!(error, KeyError::Io { source, .. } if source.kind() == ErrorKind::NotFound)
}
