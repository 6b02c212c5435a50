//! Building and running the server: open the database, load or create the keys,
//! bind the listener, wire the routes. Tests call [`Application::build`] with a
//! port-0 address and a fresh database, exactly as `sigil serve` does.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::TcpAcceptor;
use poem::{EndpointExt, Server};
use secrecy::ExposeSecret;

use crate::accounts::{AccountError, Accounts, Registration, scopes};
use crate::config::{CLOCK_LEEWAY, KeyStoreSettings, Settings};
use crate::key_store::{DatabaseKeys, KeyStore};
use crate::keys::RotateOptions;
use crate::keys::{KeyError, KeyFolder, Keyring};
use crate::password::PasswordHasher;
use crate::reload::{self, AutoRotation, KeyReloader};
use crate::store::OpenError;
/// Opens the store a database URL names; kept here for the tests and
/// programs that open the database beside a running server.
pub use crate::store::open as open_store;
use crate::telemetry::metrics::Metrics;
use crate::token::access::{AccessTokens, Validation};

mod pid_file;

/// How long shutdown waits for in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// How often expired refresh families and quiet throttle counters are purged.
const PURGE_EVERY: Duration = Duration::from_secs(10 * 60);

/// Why the server could not start. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] OpenError),
    /// The key set could not be loaded or created.
    #[error("cannot load keys: {0}")]
    Keys(#[from] KeyError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// A bound, ready-to-run server.
pub struct Application {
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
    issuer: String,
    audience: String,
    public_client_id: String,
    app: poem::endpoint::BoxEndpoint<'static>,
    pid_file: Option<PathBuf>,
    reloader: KeyReloader,
    rotation: Option<AutoRotation>,
    accounts: Accounts,
}

impl Application {
    /// Opens the database, loads (or on first start creates) the keys, binds the
    /// listener and wires the routes.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        // Before anything is opened or created: a second server on a live
        // server's pid file stops here.
        if let Some(path) = &settings.pid_file {
            pid_file::check_free(path).map_err(StartupError::Other)?;
        }
        let store = crate::store::open(&settings.database_url).await?;
        // The URL's `Display` masks the password and every query value not
        // known to be harmless.
        tracing::info!(database = %settings.database_url, "database opened");
        let key_store = open_key_store(&settings, store.as_ref()).await?;
        let key_set = key_store
            .load_or_init(settings.signing_alg, settings.rsa_bits)
            .await?;
        tracing::info!(
            store = %key_store.describe(),
            active_kid = %key_set.active().kid(),
            keys = key_set.keys().len(),
            "key set loaded"
        );
        let keyring = Arc::new(Keyring::new(key_set));
        let metrics = Arc::new(Metrics::new());
        let reloader = KeyReloader::new(key_store, keyring.clone(), metrics.clone());
        let rotation = settings.key_rotation_interval.map(|interval| AutoRotation {
            interval,
            options: RotateOptions {
                alg: settings.signing_alg,
                rsa_bits: settings.rsa_bits,
                min_next_age: settings.jwks_max_age,
                force: false,
                grace: settings.key_grace,
            },
            grace: settings.key_grace,
        });
        let hasher = PasswordHasher::start(&settings.hashing)
            .await
            .map_err(|e| StartupError::Other(e.to_string()))?;

        let listener = tokio::net::TcpListener::bind(settings.bind)
            .await
            .map_err(|source| StartupError::Bind {
                addr: settings.bind,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.bind,
            source,
        })?;
        let acceptor = TcpAcceptor::from_tokio(listener).map_err(|source| StartupError::Bind {
            addr: settings.bind,
            source,
        })?;

        let issuer = settings
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{local_addr}"));
        let audience = settings.audience.clone().unwrap_or_else(|| issuer.clone());
        let validation = Validation {
            issuer: issuer.clone(),
            audience,
            leeway: CLOCK_LEEWAY,
        };
        let tokens = AccessTokens {
            validation: validation.clone(),
            ttl: settings.access_ttl,
            public_client_id: settings.clients.public_client_id.clone(),
        };
        let accounts = Accounts::new(store, hasher, tokens, keyring.clone(), settings.refresh_ttl)
            .with_refresh_reuse_interval(settings.refresh_reuse_interval)
            .with_throttles(settings.throttles)
            .with_metrics(metrics.clone())
            .with_clients(&settings.clients);
        bootstrap_admin(&accounts, &settings).await?;

        let app = crate::http::app(crate::http::ApiContext {
            scopes: accounts.scopes().clone(),
            accounts: accounts.clone(),
            keyring,
            issuer: issuer.clone(),
            jwks_max_age: settings.jwks_max_age,
            trusted_proxies: settings.trusted_proxies.clone(),
            metrics,
        })
        .boxed();
        Ok(Application {
            acceptor,
            local_addr,
            issuer,
            audience: validation.audience,
            public_client_id: settings.clients.public_client_id.clone(),
            app,
            pid_file: settings.pid_file,
            reloader,
            rotation,
            accounts,
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// Reloads the key set now, as `SIGHUP` would (for tests and embedding).
    pub fn reloader(&self) -> KeyReloader {
        self.reloader.clone()
    }

    /// The issuer URL in use.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight
    /// requests finish (up to 20 s) and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // The SIGHUP handler must exist before the pid file tells anyone to send one.
        let keys_watch = reload::spawn(self.reloader.clone(), self.rotation)?;
        let housekeeping = tokio::spawn(purge_periodically(self.accounts.clone()));
        if let Some(path) = &self.pid_file {
            pid_file::claim(path)?;
        }
        // What a verifier must be configured with, in the line that says the
        // server is up: `iss`, `aud` and the users' tokens' `client_id`.
        tracing::info!(
            address = %self.local_addr,
            issuer = %self.issuer,
            audience = %self.audience,
            client_id = %self.public_client_id,
            "sigil listening"
        );
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(self.app, shutdown, Some(SHUTDOWN_GRACE))
            .await;
        keys_watch.abort();
        housekeeping.abort();
        if let Some(path) = &self.pid_file {
            pid_file::release(path);
        }
        tracing::info!("sigil stopped");
        result
    }
}

/// Purges what can no longer decide an answer, at start and every
/// [`PURGE_EVERY`]. Every instance may do it: the deletes are idempotent.
async fn purge_periodically(accounts: Accounts) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match accounts.purge_expired().await {
            Ok(purged) if purged != Default::default() => tracing::info!(
                refresh_families = purged.refresh_families,
                throttle_rows = purged.throttle_rows,
                revoked_access_tokens = purged.revoked_access_tokens,
                spent_refresh_tokens = purged.spent_refresh_tokens,
                "purged expired refresh families, quiet throttle counters and expired revocations"
            ),
            Ok(_) => {}
            // Already logged where it happened; the next tick tries again.
            Err(_) => {}
        }
    }
}

/// On first start only (no users yet), creates the administrator named by
/// `SIGIL_BOOTSTRAP_ADMIN_EMAIL` / `SIGIL_BOOTSTRAP_ADMIN_PASSWORD`.
/// The key store the settings name. With the database store, a first start
/// (no key set in the database) beside a keys folder that holds one stops:
/// creating a new set would leave every token of the folder's keys
/// unverifiable; `sigil keys migrate --to database` moves them first.
async fn open_key_store(
    settings: &Settings,
    store: &dyn crate::store::Store,
) -> Result<KeyStore, StartupError> {
    let folder = KeyFolder::new(settings.keys_dir.clone());
    let KeyStoreSettings::Database(keys) = &settings.key_store else {
        return Ok(KeyStore::Folder(folder));
    };
    let db = DatabaseKeys::connect(store, keys)?;
    if db.list().await?.is_empty() && folder.manifest_path().exists() {
        return Err(StartupError::Other(format!(
            "SIGIL_KEY_STORE=database: the database holds no key set, but {} does; \
             run `sigil keys migrate --to database` first so that its keys (and the tokens they \
             signed) carry over, or move the folder away to start with new keys",
            crate::key_store::folder_name(folder.path())
        )));
    }
    Ok(KeyStore::Database(db))
}

async fn bootstrap_admin(accounts: &Accounts, settings: &Settings) -> Result<(), StartupError> {
    let Some(admin) = &settings.bootstrap_admin else {
        return Ok(());
    };
    let fail = |e: AccountError| {
        StartupError::Other(format!(
            "cannot create the bootstrap administrator: {}",
            e.explain()
        ))
    };
    if accounts.user_count().await.map_err(fail)? > 0 {
        tracing::info!("users exist already; SIGIL_BOOTSTRAP_ADMIN_* ignored");
        return Ok(());
    }
    let registration = Registration {
        email: admin.email.clone(),
        password: admin.password.expose_secret().to_owned().into(),
        name: "Administrator".to_owned(),
    };
    match accounts
        .create_user(registration, &[scopes::DEFAULT_SCOPES[0], scopes::ADMIN])
        .await
    {
        Ok(user) => {
            tracing::info!(target: "audit", event = "bootstrap_admin_created", user_id = %user.id);
            Ok(())
        }
        // Another instance created it at the same moment: that is the same outcome.
        Err(AccountError::EmailTaken) => Ok(()),
        Err(e) => Err(fail(e)),
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
