//! Migrations compiled into the binary, one list per backend.
//!
//! Each backend's `.sql` files under `migrations/<backend>/` are listed here
//! with `include_str!` in an [`EmbeddedMigrations`]; that list is handed to
//! sqlx's `Migrator`, which records applied versions (with checksums) in
//! `_sqlx_migrations` and runs each pending one in its own transaction. On
//! PostgreSQL the migrator first takes a session-level advisory lock
//! (`pg_advisory_lock`, keyed by the database name), so instances starting at
//! the same moment migrate one after the other. This avoids sqlx's `migrate!`
//! macro, which needs the `macros` feature.
//!
//! Both lists carry the same versions with the same meaning: version N
//! creates the same tables on either backend, each in its native types. The
//! one exception is 8, the key set of the database key store, which exists on
//! PostgreSQL only: SQLite's 8 changes nothing; and 9, the notifications of
//! changed users, which SQLite does without (its 9 changes nothing either);
//! and 10, the one-statement refresh of PostgreSQL (SQLite's 10 changes
//! nothing).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{MigrateError, Migration, MigrationSource, MigrationType, Migrator};

use super::StoreError;

/// The SQLite schema, oldest first.
pub(crate) const SQLITE: EmbeddedMigrations = EmbeddedMigrations(&[
    EmbeddedMigration {
        version: 1,
        description: "init",
        sql: include_str!("migrations/sqlite/0001_init.sql"),
    },
    EmbeddedMigration {
        version: 2,
        description: "login throttle",
        sql: include_str!("migrations/sqlite/0002_login_throttle.sql"),
    },
    EmbeddedMigration {
        version: 3,
        description: "sessions",
        sql: include_str!("migrations/sqlite/0003_sessions.sql"),
    },
    EmbeddedMigration {
        version: 4,
        description: "clients",
        sql: include_str!("migrations/sqlite/0004_clients.sql"),
    },
    EmbeddedMigration {
        version: 5,
        description: "revoked access",
        sql: include_str!("migrations/sqlite/0005_revoked_access.sql"),
    },
    EmbeddedMigration {
        version: 6,
        description: "login sources",
        sql: include_str!("migrations/sqlite/0006_login_sources.sql"),
    },
    EmbeddedMigration {
        version: 7,
        description: "spent refresh tokens",
        sql: include_str!("migrations/sqlite/0007_spent_refresh_tokens.sql"),
    },
    EmbeddedMigration {
        version: 8,
        description: "signing keys",
        sql: include_str!("migrations/sqlite/0008_signing_keys.sql"),
    },
    EmbeddedMigration {
        version: 9,
        description: "user changes",
        sql: include_str!("migrations/sqlite/0009_user_changes.sql"),
    },
    EmbeddedMigration {
        version: 10,
        description: "refresh in one round trip",
        sql: include_str!("migrations/sqlite/0010_refresh_in_one_round_trip.sql"),
    },
]);

/// The PostgreSQL schema, oldest first.
pub(crate) const POSTGRES: EmbeddedMigrations = EmbeddedMigrations(&[
    EmbeddedMigration {
        version: 1,
        description: "init",
        sql: include_str!("migrations/postgres/0001_init.sql"),
    },
    EmbeddedMigration {
        version: 2,
        description: "login throttle",
        sql: include_str!("migrations/postgres/0002_login_throttle.sql"),
    },
    EmbeddedMigration {
        version: 3,
        description: "sessions",
        sql: include_str!("migrations/postgres/0003_sessions.sql"),
    },
    EmbeddedMigration {
        version: 4,
        description: "clients",
        sql: include_str!("migrations/postgres/0004_clients.sql"),
    },
    EmbeddedMigration {
        version: 5,
        description: "revoked access",
        sql: include_str!("migrations/postgres/0005_revoked_access.sql"),
    },
    EmbeddedMigration {
        version: 6,
        description: "login sources",
        sql: include_str!("migrations/postgres/0006_login_sources.sql"),
    },
    EmbeddedMigration {
        version: 7,
        description: "spent refresh tokens",
        sql: include_str!("migrations/postgres/0007_spent_refresh_tokens.sql"),
    },
    EmbeddedMigration {
        version: 8,
        description: "signing keys",
        sql: include_str!("migrations/postgres/0008_signing_keys.sql"),
    },
    EmbeddedMigration {
        version: 9,
        description: "user changes",
        sql: include_str!("migrations/postgres/0009_user_changes.sql"),
    },
    EmbeddedMigration {
        version: 10,
        description: "refresh in one round trip",
        sql: include_str!("migrations/postgres/0010_refresh_in_one_round_trip.sql"),
    },
]);

/// One migration script: its version, a short description and its SQL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmbeddedMigration {
    /// Strictly increasing version number, from the file name.
    pub(crate) version: i64,
    /// Short description, from the file name.
    pub(crate) description: &'static str,
    /// The script itself.
    pub(crate) sql: &'static str,
}

/// An ordered list of migrations built into the binary.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmbeddedMigrations(pub(crate) &'static [EmbeddedMigration]);

impl MigrationSource<'static> for EmbeddedMigrations {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        Box::pin(async move {
            let mut migrations: Vec<Migration> = self
                .0
                .iter()
                .map(|m| {
                    Migration::new(
                        m.version,
                        Cow::Borrowed(m.description),
                        MigrationType::Simple,
                        Cow::Borrowed(m.sql),
                        false,
                    )
                })
                .collect();
            migrations.sort_by_key(|m| m.version);
            Ok(migrations)
        })
    }
}

impl EmbeddedMigrations {
    /// Builds the sqlx `Migrator` for this list.
    pub(crate) async fn migrator(self) -> Result<Migrator, sqlx::Error> {
        Migrator::new(self)
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))
    }
}

/// Maps a migrator failure onto [`StoreError`]: a database error while running
/// a script goes through the backend's `classify` (so an unreachable server
/// stays [`StoreError::Unavailable`]); anything else (a changed or missing
/// script, a dirty version) is [`StoreError::Other`].
pub(crate) fn migrate_error(
    e: MigrateError,
    classify: fn(sqlx::Error) -> StoreError,
) -> StoreError {
    match e {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => classify(e),
        other => StoreError::Other(sqlx::Error::Migrate(Box::new(other))),
    }
}
