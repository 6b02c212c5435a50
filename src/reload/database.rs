//! The database store's loop: a listener task turns `NOTIFY`s of committed
//! changes into reloads; a poll of the set's version finds what the
//! notifications missed, every [`POLL_WITH_NOTIFICATIONS`] while they are
//! connected and every [`POLL_WITHOUT_NOTIFICATIONS`] while they are not.
//!
//! A notification connection can die silently (a NAT or a proxy dropping
//! it), and then nothing arrives on it. So when the poll finds a change that
//! no notification announced, the listener is told to reconnect; after any
//! reconnection the set is read again, since notifications may have been
//! lost in between.

use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::Signal;
use tokio::sync::{Notify, mpsc};

use super::{AutoRotation, KeyReloader, Trigger, rotate_now, rotation_timer};
use crate::key_store::DatabaseKeys;

/// How often the version is read while notifications arrive (a safety net)…
const POLL_WITH_NOTIFICATIONS: Duration = Duration::from_secs(5);
/// …and while they do not.
const POLL_WITHOUT_NOTIFICATIONS: Duration = Duration::from_secs(1);
/// Wait between attempts to reconnect the listener.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// What the listener task reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    /// Listening (again): changes may have been missed until now.
    Connected,
    /// A change was committed, with this version.
    Changed(i64),
    /// The listener is down; it keeps trying.
    Disconnected,
}

pub(super) async fn watch(
    reloader: KeyReloader,
    db: DatabaseKeys,
    rotation: Option<AutoRotation>,
    mut hangup: Signal,
) {
    let (tx, mut heard) = mpsc::channel::<Heard>(16);
    let reconnect = Arc::new(Notify::new());
    let listener = tokio::spawn(listen(db.clone(), tx, reconnect.clone()));
    let _stop_listener = AbortOnDrop(listener);

    let mut connected = false;
    reloader.metrics.key_notifications_connected(false);
    // The version of the set being served, as far as this loop knows.
    let mut seen = db.version().await.ok();
    let mut poll = poll_timer(connected);
    let mut rotate_tick = rotation_timer(rotation);
    loop {
        tokio::select! {
            _ = rotate_tick.tick(), if rotation.is_some() => {
                rotate_now(&reloader, rotation).await;
            }
            _ = hangup.recv() => {
                let _ = reloader.reload(Trigger::Signal).await;
            }
            Some(event) = heard.recv() => match event {
                Heard::Changed(version) => {
                    if seen.is_some_and(|v| v >= version) {
                        continue;
                    }
                    if reloader.reload(Trigger::Notification).await.is_ok() {
                        seen = Some(version);
                    }
                }
                Heard::Connected => {
                    if !connected {
                        connected = true;
                        reloader.metrics.key_notifications_connected(true);
                        poll = poll_timer(connected);
                        tracing::info!("listening for key set changes in the database");
                    }
                    // Whatever was committed while nobody listened.
                    seen = reread(&reloader, &db, seen, Trigger::Poll).await;
                }
                Heard::Disconnected => {
                    if connected {
                        connected = false;
                        reloader.metrics.key_notifications_connected(false);
                        poll = poll_timer(connected);
                        tracing::warn!(
                            every = ?POLL_WITHOUT_NOTIFICATIONS,
                            "lost the database's key set notifications; polling for changes until they are back"
                        );
                    }
                }
            },
            _ = poll.tick() => {
                let before = seen;
                seen = reread(&reloader, &db, seen, Trigger::Poll).await;
                if connected && before.is_some() && seen != before {
                    // A change the notifications did not bring: the
                    // connection may be dead without knowing it.
                    tracing::warn!("a key set change arrived by polling, not by notification; reconnecting the listener");
                    reconnect.notify_one();
                }
            }
        }
    }
}

/// Reloads when the version differs from `seen`; returns the version now
/// served (unchanged if the read or the reload failed, so the next poll
/// tries again).
async fn reread(
    reloader: &KeyReloader,
    db: &DatabaseKeys,
    seen: Option<i64>,
    trigger: Trigger,
) -> Option<i64> {
    let version = match db.version().await {
        Ok(version) => version,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the key set's version; trying again");
            return seen;
        }
    };
    if seen == Some(version) {
        return seen;
    }
    match reloader.reload(trigger).await {
        Ok(_) => Some(version),
        Err(_) => seen,
    }
}

fn poll_timer(connected: bool) -> tokio::time::Interval {
    let every = if connected {
        POLL_WITH_NOTIFICATIONS
    } else {
        POLL_WITHOUT_NOTIFICATIONS
    };
    let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll
}

/// The listener task: listens, reports, reconnects — forever, until the
/// loop that owns it ends.
async fn listen(db: DatabaseKeys, tx: mpsc::Sender<Heard>, reconnect: Arc<Notify>) {
    loop {
        match db.listen().await {
            Ok(mut changes) => {
                if tx.send(Heard::Connected).await.is_err() {
                    return;
                }
                loop {
                    let next = tokio::select! {
                        next = changes.next() => next,
                        () = reconnect.notified() => break,
                    };
                    let event = match next {
                        Ok(Some(version)) => Heard::Changed(version),
                        // Lost and re-established: re-read.
                        Ok(None) => Heard::Connected,
                        Err(e) => {
                            tracing::debug!(error = %e, "the key set listener lost its connection");
                            break;
                        }
                    };
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot listen for key set changes; trying again");
            }
        }
        if tx.send(Heard::Disconnected).await.is_err() {
            return;
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// Stops the listener task with the loop that started it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
