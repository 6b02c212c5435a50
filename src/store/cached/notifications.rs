//! How a [`CachedStore`](super::CachedStore) on PostgreSQL hears of
//! changes: the listening task, the confirmations a writer waits for, and
//! the pings that tell a silent listener (the parent module's docs give the
//! protocol and why it keeps "at once").

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;

use super::Cache;
use crate::store::postgres::{Heard, UserChangesListener};
use crate::store::{PostgresStore, USER_CHANGES_CHANNEL};

/// How long a write on PostgreSQL waits for every instance's listener to
/// confirm that it heard it.
pub const CONFIRMATION_WAIT: Duration = Duration::from_secs(1);

/// The prefix of a writer's marker, and of a listener's answer to it.
const WRITTEN: &str = "written ";
const HEARD: &str = "heard ";
/// The prefix of an instance's ping to its own listener.
const PING: &str = "ping ";

/// How often an instance checks that its listener still hears, and how long
/// it waits for its ping: a listener silent for longer turns the cache off.
const PING_EVERY: Duration = Duration::from_secs(5);
const PING_WAIT: Duration = Duration::from_secs(2);

/// Longest pause between two attempts to listen again on PostgreSQL.
const MAX_LISTEN_RETRY: Duration = Duration::from_secs(2);

impl Cache {
    /// A notification arrived: returns the marker id to answer, if it is a
    /// writer's marker; passes an answer, or a ping, to whoever waits for
    /// it; forgets on anything else (a change of a table).
    fn heard(&self, heard: &Heard) -> Option<String> {
        if let Some(id) = heard.payload.strip_prefix(WRITTEN) {
            return Some(id.to_owned());
        }
        let answer = heard
            .payload
            .strip_prefix(HEARD)
            .or_else(|| heard.payload.strip_prefix(PING));
        if let Some(id) = answer {
            if let Some(writer) = self.waiters().get(id) {
                let _ = writer.send(heard.sender);
            }
            return None;
        }
        self.forget();
        None
    }

    fn waiters(&self) -> MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<i32>>> {
        self.waiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Sends a marker and waits, at most [`CONFIRMATION_WAIT`], until every
/// listener on the database answered it (module docs).
pub(super) async fn confirm(postgres: &PostgresStore, cache: &Cache) {
    let id = Uuid::new_v4().simple().to_string();
    let (answers, mut answered) = mpsc::unbounded_channel();
    cache.waiters().insert(id.clone(), answers);
    let all_heard = async {
        // A process that has only just started (a `sigil users …`
        // command) may not listen yet, and answers come back through
        // its own listener. Listening from any moment before the marker
        // is enough: the marker is committed after the change.
        while !cache.is_on() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let listeners = postgres.user_listeners().await.ok()?;
        let mut waiting: HashSet<i32> = listeners.into_iter().collect();
        postgres
            .notify_user_changes(&format!("{WRITTEN}{id}"))
            .await
            .ok()?;
        while !waiting.is_empty() {
            let listener = answered.recv().await?;
            waiting.remove(&listener);
        }
        Some(())
    };
    let confirmed = tokio::time::timeout(CONFIRMATION_WAIT, all_heard).await;
    cache.waiters().remove(&id);
    if !matches!(confirmed, Ok(Some(()))) {
        tracing::warn!(
            "not every instance confirmed a change of users in time; one may answer from memory until it notices that its listener is gone"
        );
    }
}

/// Listens for changes on PostgreSQL for as long as the store lives; the
/// cache is on only while a listening connection is open.
pub(super) async fn listen(postgres: PostgresStore, cache: Arc<Cache>) {
    let mut retry = Duration::from_millis(50);
    loop {
        match postgres.listen_for_user_changes().await {
            Ok(mut listener) => {
                // Listening from here on: what was committed before is
                // forgotten now, what is committed later will be heard.
                cache.switch(true);
                retry = Duration::from_millis(50);
                tokio::select! {
                    () = hear(&mut listener, &cache) => {}
                    () = watch_over(&postgres, &cache) => {}
                }
                cache.switch(false);
                tracing::warn!(
                    channel = USER_CHANGES_CHANNEL,
                    "stopped hearing of changed users; reading them from the database until listening again"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for changed users; reading them from the database");
            }
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_LISTEN_RETRY);
    }
}

/// Hears notifications and answers writers' markers until the listening
/// connection is lost.
async fn hear(listener: &mut UserChangesListener, cache: &Cache) {
    while let Some(heard) = listener.next().await {
        let Some(id) = cache.heard(&heard) else {
            continue;
        };
        if listener.answer(&format!("{HEARD}{id}")).await.is_err() {
            return;
        }
    }
}

/// Returns when the listening connection failed to hear this process's own
/// ping within [`PING_WAIT`]: a connection can go silent without being
/// closed (a network cut with no reset), and nothing else would tell.
async fn watch_over(postgres: &PostgresStore, cache: &Cache) {
    loop {
        tokio::time::sleep(PING_EVERY).await;
        let id = Uuid::new_v4().simple().to_string();
        let (heard, mut hearing) = mpsc::unbounded_channel();
        cache.waiters().insert(id.clone(), heard);
        let pinged = tokio::time::timeout(PING_WAIT, async {
            postgres
                .notify_user_changes(&format!("{PING}{id}"))
                .await
                .ok()?;
            hearing.recv().await
        })
        .await;
        cache.waiters().remove(&id);
        if !matches!(pinged, Ok(Some(_))) {
            return;
        }
    }
}
