//! Telemetry: log output (this file: `tracing` with a human-readable or JSON
//! formatter on stderr) and Prometheus [`metrics`].
//! Filtering follows `RUST_LOG`, defaulting to `info`.
//!
//! The server writes its log through a background thread ([`init_server`]):
//! a request appends its formatted line to a shared buffer and goes on (no
//! allocation once the buffer has grown, no system call, no wake-up); the
//! thread writes what has gathered to stderr in one `write` every
//! [`FLUSH_EVERY`], or at once when [`WAKE_BYTES`] have gathered. Nothing is
//! dropped: past [`MAX_PENDING_BYTES`] a request waits for the thread
//! (backpressure), and the [`LogFlush`] guard, held by `main` until the
//! process ends, writes out every pending line before exit. The command-line
//! tools log straight to stderr ([`init`]), in order with what they print.

mod clock;
pub mod metrics;

use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// The target of the access log, one line per request ("request finished"):
/// `RUST_LOG=info,sigil::access=off` turns exactly that line off.
pub const ACCESS_TARGET: &str = "sigil::access";

/// How long a line may wait in memory before the writer thread writes it.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// Pending bytes at which a request wakes the writer thread early.
pub const WAKE_BYTES: usize = 64 * 1024;

/// Pending bytes at which requests wait for the writer thread (stderr is
/// not keeping up): lines are never dropped.
pub const MAX_PENDING_BYTES: usize = 1024 * 1024;

/// Keeps the background log writer running; dropping it writes out every
/// pending line and stops the writer (later lines go straight to stderr).
/// Hold it until the process ends.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogFlush {
    queue: Arc<Queue>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for LogFlush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogFlush").finish_non_exhaustive()
    }
}

impl Drop for LogFlush {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            // The thread's last round writes out everything pending.
            let _ = thread.join();
        }
    }
}

/// Installs the global subscriber for a command-line tool: every line is
/// written to stderr before the logging call returns. Call once, from the
/// binary.
pub fn init(format: LogFormat) {
    install(format, std::io::stderr);
}

/// Installs the global subscriber for the server: lines go to stderr through
/// a background thread, and none is ever dropped. Call once, from the
/// binary, and keep the guard until the process ends.
pub fn init_server(format: LogFormat) -> LogFlush {
    let (writer, guard) = background(std::io::stderr());
    install(format, writer);
    guard
}

/// A writer of whole lines to `out` through a thread of its own, and the
/// guard that stops it.
fn background(out: impl Write + Send + 'static) -> (Background, LogFlush) {
    let queue = Arc::new(Queue::default());
    let thread = std::thread::Builder::new()
        .name("sigil-log".to_owned())
        .spawn({
            let queue = Arc::clone(&queue);
            move || write_pending(&queue, out)
        })
        .expect("the log writer thread starts");
    let writer = Background {
        queue: Arc::clone(&queue),
        thread: thread.thread().clone(),
    };
    (
        writer,
        LogFlush {
            queue,
            thread: Some(thread),
        },
    )
}

/// The lines waiting for the writer thread.
#[derive(Default)]
struct Queue {
    pending: Mutex<Pending>,
    /// Signalled each time the thread takes the pending lines.
    taken: Condvar,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// The guard was dropped: the thread takes its last round.
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The writer thread: every [`FLUSH_EVERY`] (or when woken), takes what is
/// pending and writes it; after the guard is dropped, one last round.
fn write_pending(queue: &Queue, mut out: impl Write) {
    // Two buffers that trade places, so neither is ever reallocated once
    // grown.
    let mut taken = Vec::new();
    loop {
        std::thread::park_timeout(FLUSH_EVERY);
        let closed = {
            let mut pending = queue.lock();
            std::mem::swap(&mut pending.bytes, &mut taken);
            pending.closed
        };
        queue.taken.notify_all();
        if !taken.is_empty() {
            // Nowhere to report a failing stderr; the lines are gone.
            let _ = out.write_all(&taken).and_then(|()| out.flush());
            taken.clear();
        }
        if closed {
            return;
        }
    }
}

/// What the subscriber writes each formatted line to.
#[derive(Clone)]
struct Background {
    queue: Arc<Queue>,
    thread: std::thread::Thread,
}

impl<'a> MakeWriter<'a> for Background {
    type Writer = &'a Background;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

impl Write for &Background {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.queue.lock();
        while pending.bytes.len() >= MAX_PENDING_BYTES && !pending.closed {
            self.thread.unpark();
            pending = self
                .queue
                .taken
                .wait(pending)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if pending.closed {
            // After the guard: no thread any more, straight to stderr.
            drop(pending);
            return std::io::stderr().write_all(line).map(|()| line.len());
        }
        pending.bytes.extend_from_slice(line);
        let wake = pending.bytes.len() >= WAKE_BYTES;
        drop(pending);
        if wake {
            self.thread.unpark();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn install<W>(format: LogFormat, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, never into files or pipes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_timer(clock::Timestamp)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// A client address as a log field: the address, or `-` when none is known
/// (the command line, the first-start bootstrap).
pub fn client_field(client: Option<IpAddr>) -> String {
    ClientField(client).to_string()
}

/// [`client_field`] without the `String`: formats straight into the line.
#[derive(Debug, Clone, Copy)]
pub struct ClientField(pub Option<IpAddr>);

impl fmt::Display for ClientField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => fmt::Display::fmt(&ip.to_canonical(), f),
            None => f.write_str("-"),
        }
    }
}
