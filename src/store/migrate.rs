//! Migrations compiled into the binary.
//!
//! Each backend lists its `.sql` files with `include_str!` in an
//! [`EmbeddedMigrations`]; that list is handed to sqlx's `Migrator`, which
//! records applied versions (with checksums) in `_sqlx_migrations` and runs
//! each pending one in its own transaction. This avoids sqlx's `migrate!`
//! macro, which needs the `macros` feature.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

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
