//! Keeping a running server's key set current without a restart.
//!
//! The key store is the source of truth: `sigil keys rotate` (or another
//! instance) changes it, and every server notices. With the keys folder: on
//! `SIGHUP`, through a file-system watcher on the folder, and by polling the
//! manifest as a fallback. With the database: through its notifications
//! (`LISTEN`), on `SIGHUP`, and by polling the set's version, every second
//! while the notifications are down. A reload reads and checks the whole
//! set off the request path, and only then swaps the new [`KeySet`] into the
//! [`Keyring`] in one atomic step: a request sees either the old set or the
//! new one, never a mix. A set that fails to load is logged and ignored; the
//! server keeps serving with the set it has.
//!
//! Every `SIGHUP` logs one line at INFO: the `keys_reloaded` audit event, `key
//! set unchanged`, or the error. The watcher, the notifications and the poll
//! log only changes and errors (`key set unchanged` at DEBUG).

mod database;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::key_store::KeyStore;
use crate::keys::{KeyError, KeyFolder, KeySet, Keyring, MANIFEST_FILE, RotateOptions};
use crate::telemetry::metrics::Metrics;

/// How often the manifest is checked when the watcher works (a safety net)…
const POLL_WITH_WATCHER: Duration = Duration::from_secs(5);
/// …and when it does not.
const POLL_WITHOUT_WATCHER: Duration = Duration::from_secs(1);
/// Events arriving this close together cause one reload.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Why a reload happened, for the log line.
#[derive(Debug, Clone, Copy)]
pub enum Trigger {
    /// `SIGHUP`.
    Signal,
    /// The watcher saw the manifest change.
    Watcher,
    /// Polling saw the manifest (or the database's set) change.
    Poll,
    /// The database notified a committed change.
    Notification,
    /// This server rotated the keys itself.
    Rotation,
}

/// Loads the key set and swaps it into the keyring when it changed.
#[derive(Clone)]
pub struct KeyReloader {
    store: Arc<KeyStore>,
    keyring: Arc<Keyring>,
    metrics: Arc<Metrics>,
}

impl KeyReloader {
    /// A reloader for `store` feeding `keyring`, counting in `metrics`.
    pub fn new(store: KeyStore, keyring: Arc<Keyring>, metrics: Arc<Metrics>) -> KeyReloader {
        KeyReloader {
            store: Arc::new(store),
            keyring,
            metrics,
        }
    }

    /// Loads the set (off the async threads); if it loads and differs from
    /// the set being served, swaps it in. Returns whether a swap happened. On
    /// error the served set is left alone and the error is logged; see the
    /// module docs for what is logged when nothing changed.
    pub async fn reload(&self, trigger: Trigger) -> Result<bool, KeyError> {
        let set = match self.store.load().await {
            Ok(set) => set,
            Err(e) => {
                tracing::error!(
                    ?trigger,
                    store = %self.store.describe(),
                    error = %e,
                    "key set could not be loaded; still serving the previous key set"
                );
                self.metrics.key_reload("error");
                return Err(e);
            }
        };
        let current = self.keyring.current();
        if same_set(&current, &set) {
            // An operator who sent SIGHUP wants to see that it arrived; the
            // watcher and the poll may fire on changes that leave the set as
            // it is, and would only add noise.
            let active = current.active().kid();
            if matches!(trigger, Trigger::Signal) {
                tracing::info!(?trigger, active_kid = %active, "key set unchanged");
            } else {
                tracing::debug!(?trigger, active_kid = %active, "key set unchanged");
            }
            return Ok(false);
        }
        let (active, keys, etag) = (
            set.active().kid().to_owned(),
            set.keys().len(),
            set.etag().to_owned(),
        );
        self.keyring.replace(set);
        self.metrics.key_reload("ok");
        tracing::info!(target: "audit", event = "keys_reloaded", ?trigger, active_kid = %active, keys, etag = %etag);
        Ok(true)
    }

    /// The store this reloader reads.
    pub fn store(&self) -> &KeyStore {
        &self.store
    }
}

/// Same published keys, same active key: nothing a client could tell apart.
fn same_set(a: &KeySet, b: &KeySet) -> bool {
    a.etag() == b.etag() && a.active().kid() == b.active().kid()
}

/// Automatic rotation (`SIGIL_KEY_ROTATION_INTERVAL`).
#[derive(Debug, Clone, Copy)]
pub struct AutoRotation {
    /// Rotate when the active key has signed for this long.
    pub interval: Duration,
    /// How to rotate (never forced: the next key must have been published
    /// for the JWKS max-age).
    pub options: RotateOptions,
    /// Retired keys past this grace are pruned on the same timer.
    pub grace: Duration,
}

impl AutoRotation {
    /// How often to check: a twentieth of the interval, between 1 s and 1 min.
    fn check_every(&self) -> Duration {
        (self.interval / 20).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }
}

impl KeyReloader {
    /// One tick of automatic rotation: rotate if due, prune keys past their
    /// grace, and reload if either changed the folder. Several servers sharing
    /// the folder may all tick: the folder lock and the re-check under it let
    /// only one of them rotate per interval.
    pub async fn rotate_if_due(&self, auto: AutoRotation) -> Result<bool, KeyError> {
        let now = chrono::Utc::now();
        let rotated = self
            .store
            .rotate_if_due(auto.interval, auto.options, now)
            .await?
            .is_some();
        let pruned = !self.store.prune(auto.grace, now).await?.is_empty();
        let changed = rotated || pruned;
        if changed {
            self.reload(Trigger::Rotation).await?;
        }
        Ok(changed)
    }
}

/// Starts watching: `SIGHUP`, changes of the store (the folder's watcher and
/// poll, or the database's notifications and poll) all lead to
/// [`KeyReloader::reload`]; with `rotation`, a timer also rotates the keys
/// when due. The signal handler is installed before this returns, so a
/// `SIGHUP` sent right after cannot kill the process.
pub fn spawn(
    reloader: KeyReloader,
    rotation: Option<AutoRotation>,
) -> std::io::Result<JoinHandle<()>> {
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    Ok(match reloader.store().clone() {
        KeyStore::Folder(folder) => tokio::spawn(watch_folder(reloader, folder, rotation, hangup)),
        KeyStore::Database(db) => tokio::spawn(database::watch(reloader, db, rotation, hangup)),
    })
}

/// The folder store's loop: watcher, poll, `SIGHUP`, automatic rotation.
async fn watch_folder(
    reloader: KeyReloader,
    folder: KeyFolder,
    rotation: Option<AutoRotation>,
    mut hangup: tokio::signal::unix::Signal,
) {
    let (tx, mut events) = mpsc::channel::<()>(1);
    let watcher = watch(folder.path().to_owned(), tx);
    let poll_every = if watcher.is_some() {
        POLL_WITH_WATCHER
    } else {
        POLL_WITHOUT_WATCHER
    };
    let manifest = folder.manifest_path();
    // Keep the watcher alive as long as the task runs.
    let _watcher = watcher;
    let mut seen = fingerprint(&manifest);
    let mut poll = tokio::time::interval(poll_every);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rotate_tick = rotation_timer(rotation);
    loop {
        let trigger = tokio::select! {
            _ = rotate_tick.tick(), if rotation.is_some() => {
                rotate_now(&reloader, rotation).await;
                seen = fingerprint(&manifest);
                continue;
            }
            _ = hangup.recv() => Trigger::Signal,
            Some(()) = events.recv() => {
                // Let a burst of events (temp files, renames) settle.
                tokio::time::sleep(DEBOUNCE).await;
                while events.try_recv().is_ok() {}
                Trigger::Watcher
            }
            _ = poll.tick() => {
                let now = fingerprint(&manifest);
                if now == seen {
                    continue;
                }
                Trigger::Poll
            }
        };
        seen = fingerprint(&manifest);
        let _ = reloader.reload(trigger).await;
    }
}

/// The automatic-rotation timer (ticking hourly, unused, without rotation).
fn rotation_timer(rotation: Option<AutoRotation>) -> tokio::time::Interval {
    let mut tick =
        tokio::time::interval(rotation.map_or(Duration::from_secs(3600), |r| r.check_every()));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// One tick of automatic rotation; a refusal or failure is logged and the
/// next tick tries again.
async fn rotate_now(reloader: &KeyReloader, rotation: Option<AutoRotation>) {
    if let Some(auto) = rotation
        && let Err(e) = reloader.rotate_if_due(auto).await
    {
        tracing::warn!(error = %e, "automatic key rotation did not happen this time");
    }
}

/// What polling compares: the manifest's modification time and size.
fn fingerprint(manifest: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(manifest).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// A watcher on the folder that signals when the manifest is written or
/// renamed into place (the commit point of every change). `None` when the
/// platform watcher cannot be created; polling then does the work alone.
fn watch(folder: PathBuf, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let handler = move |event: notify::Result<notify::Event>| {
        let touches_manifest = match &event {
            Ok(e) => e
                .paths
                .iter()
                .any(|p| p.file_name().is_some_and(|n| n == MANIFEST_FILE)),
            Err(_) => true,
        };
        if touches_manifest {
            // A full channel already holds a pending reload: nothing to add.
            let _ = tx.try_send(());
        }
    };
    match notify::recommended_watcher(handler) {
        Ok(mut watcher) => match watcher.watch(&folder, notify::RecursiveMode::NonRecursive) {
            Ok(()) => Some(watcher),
            Err(e) => {
                tracing::warn!(error = %e, folder = %folder.display(), "cannot watch the keys folder; polling it instead");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "no file-system watcher; polling the keys folder instead");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Algorithm;

    /// The integration test `keys::reload` proves that a rotation reaches a
    /// running server without `SIGHUP`; there the poll may win the race. This
    /// proves the watcher alone sees it: nothing polls here.
    #[tokio::test]
    async fn the_watcher_alone_reports_a_rotation_of_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let folder = KeyFolder::new(dir.path().join("keys"));
        folder.load_or_init(Algorithm::EdDsa, 2048).unwrap();
        let (tx, mut events) = mpsc::channel::<()>(1);
        let _watcher = watch(folder.path().to_owned(), tx).expect("a watcher on Linux");
        // Events from setting up the folder, if any arrived, are not the proof.
        tokio::time::sleep(DEBOUNCE).await;
        while events.try_recv().is_ok() {}

        let rotation = tokio::task::spawn_blocking(move || {
            folder.rotate(RotateOptions {
                alg: Algorithm::EdDsa,
                rsa_bits: 2048,
                min_next_age: Duration::ZERO,
                force: true,
                grace: Duration::ZERO,
            })
        })
        .await
        .unwrap();

        rotation.unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;
        assert_eq!(seen, Ok(Some(())), "the watcher reported the new manifest");
    }

    #[tokio::test]
    async fn the_watcher_ignores_files_other_than_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut events) = mpsc::channel::<()>(1);
        let _watcher = watch(dir.path().to_owned(), tx).expect("a watcher on Linux");

        std::fs::write(dir.path().join("notes.txt"), b"not a key").unwrap();
        let quiet = tokio::time::timeout(Duration::from_secs(1), events.recv()).await;
        std::fs::write(dir.path().join(MANIFEST_FILE), b"{}").unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;

        assert!(
            quiet.is_err(),
            "another file in the folder is no reason to reload"
        );
        // And the watcher was live all along: the manifest's write arrives.
        assert_eq!(seen, Ok(Some(())));
    }
}
