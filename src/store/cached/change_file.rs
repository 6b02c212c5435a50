//! The change file of a SQLite database: `<database>-changes`, beside it.
//!
//! Every process that changes a user or revokes an access token appends one
//! byte to it after its transaction committed and before it answers (a
//! `sigil users …` command: before it exits). A process holding users in
//! memory looks at the file's metadata (`stat`, no database round trip)
//! before each answer from memory, and forgets everything when it differs
//! from what it saw last. That is why a change is seen at once: the byte is
//! written after the commit, so whoever sees the new metadata and then reads
//! the database reads the change; and it is written before the writer
//! answers or exits, so any request made after that sees the new metadata.
//!
//! The size alone decides: appends only ever make it grow (a modification
//! time can repeat within the kernel's clock tick, a size cannot). The file
//! grows by one byte per change of a user or revocation of an access token,
//! which are rare; deleting it is harmless (every process forgets once).
//! Changes made with other tools (`sqlite3` by hand) do not touch it: such a
//! change reaches a running server's bearer checks only after a restart.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// What the file's metadata says: changed whenever a writer appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Signature {
    /// No file yet: nothing has been changed since it was created.
    Missing,
    /// The file with this inode and size.
    Present { inode: u64, size: u64 },
}

/// The change file of one database.
#[derive(Debug, Clone)]
pub(super) struct ChangeFile {
    path: PathBuf,
}

impl ChangeFile {
    /// The change file of the database file at `database`.
    pub(super) fn beside(database: &std::path::Path) -> ChangeFile {
        let mut name = database.as_os_str().to_owned();
        name.push("-changes");
        ChangeFile {
            path: PathBuf::from(name),
        }
    }

    /// The file's current signature; `None` if it cannot be read (then
    /// nothing may be answered from memory).
    pub(super) fn signature(&self) -> Option<Signature> {
        match std::fs::metadata(&self.path) {
            Ok(meta) => Some(Signature::Present {
                inode: meta.ino(),
                size: meta.len(),
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Some(Signature::Missing),
            Err(_) => None,
        }
    }

    /// Tells every process on the database that something changed.
    pub(super) fn bump(&self) {
        let appended = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut file| file.write_all(b"."));
        if let Err(e) = appended {
            tracing::error!(
                error = %e,
                path = %self.path.display(),
                "cannot announce a change of users to other processes"
            );
        }
    }
}
