//! The hashing threads: a few dedicated threads at a lower CPU priority than
//! the ones that serve requests, taking jobs from one queue, each keeping its
//! argon2 memory from one job to the next.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::{Argon2Memory, HashError};

/// Work for a hashing thread, given that thread's argon2 memory.
pub(super) type Job = Box<dyn FnOnce(&mut Argon2Memory) + Send>;

/// Niceness of the hashing threads relative to the process.
pub const HASHING_NICENESS: i32 = 10;

/// Starts `count` hashing threads that take jobs from one queue.
pub(super) fn start_hashing_threads(count: usize) -> Result<mpsc::Sender<Job>, HashError> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for n in 0..count {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("sigil-hash-{n}"))
            .spawn(move || {
                lower_priority();
                let mut memory = Argon2Memory::default();
                loop {
                    let next = receiver
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    let Ok(job) = next else { return };
                    // A panicking job fails its own request (its reply is
                    // dropped) and leaves the thread serving the next one.
                    let run = std::panic::AssertUnwindSafe(|| job(&mut memory));
                    if std::panic::catch_unwind(run).is_err() {
                        memory = Argon2Memory::default();
                    }
                }
            })
            .map_err(|e| HashError::Failed(format!("cannot start a hashing thread: {e}")))?;
    }
    Ok(sender)
}

/// Lowers the calling thread's CPU priority by [`HASHING_NICENESS`]. Linux
/// gives each thread its own nice value; elsewhere this does nothing.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let me = Some(rustix::thread::gettid());
        let lowered = getpriority_process(me)
            .and_then(|nice| setpriority_process(me, nice.saturating_add(HASHING_NICENESS)));
        if let Err(e) = lowered {
            tracing::warn!(error = %e, "cannot lower the priority of a hashing thread");
        }
    }
}
