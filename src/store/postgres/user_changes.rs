//! Notifications of changed users and revoked access tokens on PostgreSQL:
//! migration 9's triggers send one on [`USER_CHANGES_CHANNEL`] at the commit
//! of every change of either table, whoever made it. The cache of bearer
//! checks ([`CachedStore`](crate::store::CachedStore)) listens on a
//! connection of its own and forgets what it holds on each one.

use std::fmt;

use sqlx::postgres::PgListener;

use super::PostgresStore;
use super::convert::classify;
use crate::store::StoreError;

/// The channel the triggers notify on; the payload names the table (or, for
/// [`PostgresStore::notify_user_changes`], the writer's marker).
pub const USER_CHANGES_CHANNEL: &str = "sigil_user_changes";

/// `application_name` of the listening connection, so that an operator (or
/// a test) can tell it from the pool's connections.
pub const USER_LISTENER_NAME: &str = "sigil-user-listener";

/// A connection listening on [`USER_CHANGES_CHANNEL`].
pub struct UserChangesListener {
    listener: PgListener,
}

impl fmt::Debug for UserChangesListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserChangesListener")
            .finish_non_exhaustive()
    }
}

/// One notification: its payload, and the server process that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    /// What the sender said: a table name, or a marker.
    pub payload: String,
    /// The sending backend's process id (`pg_backend_pid()`).
    pub sender: i32,
}

impl UserChangesListener {
    /// Waits for the next notification. `None`: the connection was lost, so
    /// changes may have been missed; the caller drops this listener and
    /// opens a new one.
    pub async fn next(&mut self) -> Option<Heard> {
        match self.listener.try_recv().await {
            Ok(Some(notification)) => Some(Heard {
                payload: notification.payload().to_owned(),
                sender: i32::try_from(notification.process_id()).unwrap_or(-1),
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "the listener of user changes failed");
                None
            }
        }
    }

    /// Sends `payload` on [`USER_CHANGES_CHANNEL`] from this listening
    /// connection itself, so that its sender is this listener's backend.
    pub async fn answer(&mut self, payload: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(USER_CHANGES_CHANNEL)
            .bind(payload)
            .execute(&mut self.listener)
            .await
            .map_err(classify)?;
        Ok(())
    }
}

impl PostgresStore {
    /// Opens a connection of its own (named [`USER_LISTENER_NAME`]) that
    /// listens on [`USER_CHANGES_CHANNEL`]; when this returns, every change
    /// committed from now on will be announced to it.
    pub async fn listen_for_user_changes(&self) -> Result<UserChangesListener, StoreError> {
        let mut listener = super::connect::named_listener(&self.pool, USER_LISTENER_NAME)
            .await
            .map_err(classify)?;
        // A lost connection is reported, not re-opened behind the caller's
        // back: the caller opens a new listener and then forgets what it
        // holds, since what was committed meanwhile was never announced.
        listener.eager_reconnect(false);
        listener
            .listen(USER_CHANGES_CHANNEL)
            .await
            .map_err(classify)?;
        Ok(UserChangesListener { listener })
    }

    /// The backend process ids of every connection listening for user
    /// changes on this database ([`USER_LISTENER_NAME`]), this process's
    /// own included.
    pub async fn user_listeners(&self) -> Result<Vec<i32>, StoreError> {
        sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity \
             WHERE application_name = $1 AND datname = current_database()",
        )
        .bind(USER_LISTENER_NAME)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)
    }

    /// Sends `marker` on [`USER_CHANGES_CHANNEL`] in a transaction of its
    /// own. Notifications arrive in commit order, so a listener that has
    /// seen `marker` has seen every change this process committed before.
    pub async fn notify_user_changes(&self, marker: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(USER_CHANGES_CHANNEL)
            .bind(marker)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }
}
