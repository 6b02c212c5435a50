//! The pid file, where `scripts/rotate-keys.sh` finds the server to signal.
//!
//! One file names one live server. A start that finds the file naming
//! another running sigil is refused: two servers would overwrite each
//! other's pid, the script would signal only the last one, and the first to
//! stop would delete the other's file. A file naming a process that is gone,
//! or that is not sigil (a pid reused after a crash or a reboot), is stale
//! and taken over. "Running sigil" is read from `/proc/<pid>/cmdline` (the
//! program's file name contains `sigil`, as the script checks it); where
//! there is no `/proc`, every file counts as stale.
//!
//! The file is written whole (a temporary file beside it, then a rename), so
//! the script never reads half a pid, and removed at exit only while it
//! still holds this process's pid.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

/// Fails, in one line, when `path` names another running sigil.
pub(super) fn check_free(path: &Path) -> Result<(), String> {
    match read_pid(path) {
        Some(pid) if pid != std::process::id() && is_running_sigil(pid) => Err(format!(
            "the pid file {} (SIGIL_PID_FILE) names sigil process {pid}, which is running; \
             give each server its own SIGIL_PID_FILE and SIGIL_BIND, or stop that one first",
            path.display()
        )),
        _ => Ok(()),
    }
}

/// Writes this process's pid to `path`, unless another running sigil holds it.
pub(super) fn claim(path: &Path) -> io::Result<()> {
    check_free(path).map_err(|e| io::Error::new(io::ErrorKind::AlreadyExists, e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let pid = std::process::id();
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{pid}.tmp"));
    std::fs::write(&temporary, format!("{pid}\n"))?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// Removes `path` if it still holds this process's pid; another server's
/// file (it took the file over meanwhile) is left alone.
pub(super) fn release(path: &Path) {
    if read_pid(path) == Some(std::process::id()) {
        let _ = std::fs::remove_file(path);
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether `pid` is a live process whose program's file name contains
/// `sigil`. A zombie has an empty command line, so it is not.
fn is_running_sigil(pid: u32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    Path::new(OsStr::from_bytes(program))
        .file_name()
        .is_some_and(|name| name.as_bytes().windows(5).any(|w| w == b"sigil"))
}
