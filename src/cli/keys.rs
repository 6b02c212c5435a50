//! `sigil keys list | rotate | prune | import | reseal | migrate`: the key
//! life cycle from the command line, against the key store `SIGIL_KEY_STORE`
//! names (the keys folder, or the database). Output is what a script reads
//! (the listing, the new active kid, pruned kids) on stdout, and summaries
//! for people on stderr.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::config::{
    ConfigError, DatabaseArgs, DatabaseUrl, KeyArgs, KeySettings, KeyStoreSettings, check_database,
};
use crate::key_store::{
    DatabaseKeys, KeyStore, Migration, folder_name, migrate_to_database, migrate_to_folder,
};
use crate::keys::{
    Algorithm, Import, KeyError, KeyFolder, KeyMeta, KeyState, RotateOptions, Rotation,
};

/// `sigil keys …`
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Show every key: kid, algorithm, state, dates, and when retired keys may be pruned.
    List(ListKeys),
    /// Make the next key active, retire the active key, publish a new next key;
    /// prints the new active kid on stdout.
    Rotate(RotateKeys),
    /// Remove retired keys whose grace period has ended; prints their kids
    /// on stdout.
    ///
    /// Each key's grace is the one recorded in the manifest when it was
    /// retired (SIGIL_KEY_GRACE of the process that rotated), whatever
    /// SIGIL_KEY_GRACE says here; only keys retired by an older sigil, which
    /// recorded none, get this process's SIGIL_KEY_GRACE (with a warning).
    Prune(PruneKeys),
    /// Add an existing private key (PKCS#8 PEM: RSA of 2048 bits or more, or
    /// Ed25519) as the next key; prints its kid on stdout.
    ///
    /// The key replaces the current next key, which has never signed and is
    /// removed (key and file). It is published at once and signs from the
    /// following rotation on (`sigil keys rotate`, allowed once it has been
    /// published for the JWK Set max-age, SIGIL_JWKS_MAX_AGE). Its kid is its
    /// RFC 7638 thumbprint, like every key's.
    ///
    /// Refused with one line, changing nothing: an encrypted key (decrypt it
    /// first: `openssl pkey -in FILE -out PLAIN.pem`), PKCS#1 "RSA PRIVATE
    /// KEY" (convert: `openssl pkcs8 -topk8 -nocrypt -in FILE -out KEY.pem`),
    /// a public key or certificate, RSA under 2048 bits or with a public
    /// exponent under 65537, EC and any other key type, a key already in the
    /// set, a file over 64 KiB, anything that is not one PEM private key.
    Import(ImportKey),
    /// Seal every private key in the database under SIGIL_KEY_ENCRYPTION_KEY
    /// (after a new key-encryption key was introduced, the old one given as
    /// SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS); prints how many were resealed.
    ///
    /// Database store only. Kids, states and dates do not change, and no
    /// server stops serving: run it once every instance runs with the new
    /// key and the previous one, then drop SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS.
    Reseal(ResealKeys),
    /// Copy the key set into the store `--to` names, from the other one, every
    /// kid, state and date kept, so no token is invalidated; prints the kids.
    ///
    /// `--to database` copies SIGIL_KEYS_DIR into SIGIL_DATABASE_URL
    /// (PostgreSQL), sealed under SIGIL_KEY_ENCRYPTION_KEY; `--to folder`
    /// copies the database's set into SIGIL_KEYS_DIR. The destination must
    /// hold no key set (or already exactly this one); the source is left
    /// as it was. Then set SIGIL_KEY_STORE on every instance and restart.
    Migrate(MigrateKeys),
}

/// Where the keys are: the keys settings and, for the database store, the
/// database.
#[derive(Args, Debug)]
pub struct StoreArgs {
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

impl StoreArgs {
    fn settings(&self) -> Result<(KeySettings, DatabaseUrl), KeysError> {
        Ok((self.keys.settings()?, self.database.database_url.clone()))
    }
}

/// Flags of `sigil keys reseal`.
#[derive(Args, Debug)]
pub struct ResealKeys {
    #[command(flatten)]
    pub keys: StoreArgs,
}

/// Flags of `sigil keys migrate`.
#[derive(Args, Debug)]
pub struct MigrateKeys {
    /// The store to copy the key set into: `database` (from the keys folder)
    /// or `folder` (from the database).
    #[arg(long, value_name = "database|folder", value_parser = ["database", "folder"])]
    pub to: String,
    #[command(flatten)]
    pub keys: StoreArgs,
}

/// Flags of `sigil keys list`.
#[derive(Args, Debug)]
pub struct ListKeys {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub keys: StoreArgs,
}

/// Flags of `sigil keys rotate`.
#[derive(Args, Debug)]
pub struct RotateKeys {
    /// Algorithm of the new next key: RS256 or EdDSA [default: SIGIL_SIGNING_ALG
    /// (--signing-alg), itself RS256 by default]. The new next key signs from
    /// the following rotation on, so switching algorithms takes two rotations.
    #[arg(long, value_name = "RS256|EdDSA", value_parser = parse_alg)]
    pub alg: Option<Algorithm>,
    /// Rotate even if the next key has been published for less than the JWK
    /// Set max-age (SIGIL_JWKS_MAX_AGE): verifiers that cached the set before
    /// it was published reject new tokens until they fetch it again.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub keys: StoreArgs,
}

/// Arguments of `sigil keys import`.
#[derive(Args, Debug)]
pub struct ImportKey {
    /// The unencrypted PKCS#8 PEM private key ("PRIVATE KEY") to import;
    /// /dev/stdin reads it from a pipe, so it need not touch the disk.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub keys: StoreArgs,
}

/// Flags of `sigil keys prune`.
#[derive(Args, Debug)]
pub struct PruneKeys {
    #[command(flatten)]
    pub keys: StoreArgs,
}

/// Why a `keys` command failed: one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The key store refused or failed.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The database could not be opened.
    #[error("{0}")]
    Database(String),
    /// The command needs something else configured.
    #[error("{0}")]
    Usage(String),
    /// Writing the output failed (e.g. a closed pipe).
    #[error("cannot write the output: {0}")]
    Output(#[from] io::Error),
}

/// Runs a `keys` command, writing what scripts read to `out` and what people
/// read to `err`.
pub async fn run(
    command: KeysCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), KeysError> {
    match command {
        KeysCommand::List(cmd) => {
            let (settings, store) = open(&cmd.keys).await?;
            list(&settings, &store, cmd.json, out).await
        }
        KeysCommand::Rotate(cmd) => {
            let (settings, store) = open(&cmd.keys).await?;
            let opts = RotateOptions {
                alg: cmd.alg.unwrap_or(settings.signing_alg),
                rsa_bits: settings.rsa_bits,
                min_next_age: settings.jwks_max_age,
                force: cmd.force,
                grace: settings.key_grace,
            };
            let rotation = store.rotate(opts).await?;
            write_rotation(&settings, &store, &rotation, err)?;
            writeln!(out, "{}", rotation.active.kid)?;
            Ok(())
        }
        KeysCommand::Prune(cmd) => {
            let (settings, store) = open(&cmd.keys).await?;
            let pruned = store.prune(settings.key_grace, Utc::now()).await?;
            for meta in &pruned {
                writeln!(out, "{}", meta.kid)?;
            }
            write_prune_summary(&store, &settings, &pruned, err).await
        }
        KeysCommand::Import(cmd) => {
            let (settings, store) = open(&cmd.keys).await?;
            let import = store.import(&cmd.file).await?;
            write_import(&settings, &store, &import, err)?;
            writeln!(out, "{}", import.imported.kid)?;
            Ok(())
        }
        KeysCommand::Reseal(cmd) => {
            let (_, store) = open(&cmd.keys).await?;
            let KeyStore::Database(db) = store else {
                return Err(KeysError::Usage(
                    "`sigil keys reseal` works on the database key store (SIGIL_KEY_STORE=database); \
                     the keys folder holds keys as files, not sealed"
                        .into(),
                ));
            };
            let resealed = db.reseal().await?;
            writeln!(out, "{resealed}")?;
            writeln!(
                err,
                "resealed {resealed} key(s) under the current SIGIL_KEY_ENCRYPTION_KEY; \
                 once every instance runs without SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS, the old key can be destroyed"
            )?;
            Ok(())
        }
        KeysCommand::Migrate(cmd) => migrate(&cmd, out, err).await,
    }
}

/// The store the settings name, opened: the database only when it is the
/// key store, so a folder command never creates a database file.
async fn open(args: &StoreArgs) -> Result<(KeySettings, KeyStore), KeysError> {
    let (settings, url) = args.settings()?;
    check_database(&settings.store, &url)?;
    let store = match &settings.store {
        KeyStoreSettings::Folder => KeyStore::Folder(KeyFolder::new(&settings.keys_dir)),
        KeyStoreSettings::Database(keys) => KeyStore::Database(open_database(&url, keys).await?),
    };
    Ok((settings, store))
}

async fn open_database(
    url: &DatabaseUrl,
    keys: &crate::config::KeyEncryptionKeys,
) -> Result<DatabaseKeys, KeysError> {
    if !url.is_postgres() {
        return Err(KeysError::Usage(
            "the database key store needs SIGIL_DATABASE_URL=postgres://…".into(),
        ));
    }
    let store = crate::store::open(url)
        .await
        .map_err(|e| KeysError::Database(e.to_string()))?;
    Ok(DatabaseKeys::connect(store.as_ref(), keys)?)
}

/// `sigil keys migrate --to database|folder`.
async fn migrate(
    cmd: &MigrateKeys,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), KeysError> {
    let (settings, url) = cmd.keys.settings()?;
    let Some(keys) = &settings.encryption_keys else {
        return Err(KeysError::Usage(
            "`sigil keys migrate` needs SIGIL_KEY_ENCRYPTION_KEY: the key that seals (or opens) \
             the keys in the database; make one with `openssl rand -base64 32`"
                .into(),
        ));
    };
    let db = open_database(&url, keys).await?;
    let folder = KeyFolder::new(&settings.keys_dir);
    let (from, to, migration) = if cmd.to == "database" {
        let done = migrate_to_database(&folder, &db).await?;
        (
            folder_name(&settings.keys_dir),
            "the database".to_owned(),
            done,
        )
    } else {
        let done = migrate_to_folder(&db, &folder).await?;
        (
            "the database".to_owned(),
            folder_name(&settings.keys_dir),
            done,
        )
    };
    let (kids, copied) = match &migration {
        Migration::Copied { kids } => (kids, true),
        Migration::AlreadyThere { kids } => (kids, false),
    };
    for kid in kids {
        writeln!(out, "{kid}")?;
    }
    if copied {
        writeln!(
            err,
            "copied {} key(s) from {from} to {to}, every kid kept",
            kids.len()
        )?;
    } else {
        writeln!(
            err,
            "{to} already holds these {} key(s); nothing was written",
            kids.len()
        )?;
    }
    writeln!(
        err,
        "next: set SIGIL_KEY_STORE={} on every instance and restart them; {from} was left as it was",
        cmd.to
    )?;
    Ok(())
}

fn write_import(
    settings: &KeySettings,
    store: &KeyStore,
    import: &Import,
    err: &mut dyn Write,
) -> Result<(), KeysError> {
    let Import { imported, replaced } = import;
    writeln!(err, "imported a key into {}:", store.describe())?;
    writeln!(
        err,
        "  next     {}  {}  published now; signs after the next rotation, allowed in {}",
        imported.kid,
        imported.alg,
        humantime::format_duration(settings.jwks_max_age)
    )?;
    for meta in replaced {
        writeln!(
            err,
            "  removed  {}  {}  the former next key, which never signed",
            meta.kid, meta.alg
        )?;
    }
    writeln!(err, "running servers publish it {}", pickup(store))?;
    Ok(())
}

/// The table (or JSON), from the manifest (or the table's plain columns)
/// alone; then the set is loaded as the server would, so a broken key file
/// or a key that cannot be opened shows up as an error after the listing
/// that helps to find it.
async fn list(
    settings: &KeySettings,
    store: &KeyStore,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), KeysError> {
    let mut metas = store.list().await?;
    metas.sort_by_key(|m| m.state.publish_rank());
    let now = Utc::now();
    if as_json {
        let keys: Vec<_> = metas
            .iter()
            .map(|m| {
                json!({
                    "kid": m.kid,
                    "alg": m.alg,
                    "state": m.state,
                    "created_at": m.created_at,
                    "activated_at": m.activated_at,
                    "retired_at": m.retired_at,
                    "prunable_at": m.prunable_at(settings.key_grace),
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&keys).map_err(io::Error::other)?;
        writeln!(out, "{text}")?;
    } else {
        writeln!(
            out,
            "{:<43}  {:<5}  {:<7}  {:<20}  {:<20}  {:<20}  PRUNABLE",
            "KID", "ALG", "STATE", "CREATED", "ACTIVATED", "RETIRED"
        )?;
        for m in &metas {
            writeln!(
                out,
                "{:<43}  {:<5}  {:<7}  {:<20}  {:<20}  {:<20}  {}",
                m.kid,
                m.alg.as_str(),
                m.state.as_str(),
                time(m.created_at),
                m.activated_at.map_or_else(|| "-".into(), time),
                m.retired_at.map_or_else(|| "-".into(), time),
                prunable(m, settings.key_grace, now),
            )?;
        }
    }
    store.load().await?;
    Ok(())
}

fn write_rotation(
    settings: &KeySettings,
    store: &KeyStore,
    rotation: &Rotation,
    err: &mut dyn Write,
) -> Result<(), KeysError> {
    let Rotation {
        active,
        retired,
        next,
    } = rotation;
    writeln!(err, "rotated the keys in {}:", store.describe())?;
    writeln!(
        err,
        "  active   {}  {}  signs from now on",
        active.kid, active.alg
    )?;
    let until = retired
        .prunable_at(settings.key_grace)
        .map_or_else(|| "its grace period ends".into(), time);
    writeln!(
        err,
        "  retired  {}  {}  still verifies; `sigil keys prune` removes it after {until}",
        retired.kid, retired.alg
    )?;
    writeln!(
        err,
        "  next     {}  {}  published now; may become active in {}",
        next.kid,
        next.alg,
        humantime::format_duration(settings.jwks_max_age)
    )?;
    if next.alg != active.alg {
        writeln!(
            err,
            "  the next key is {} while the active key is {}: the switch completes at the next rotation",
            next.alg, active.alg
        )?;
    }
    writeln!(err, "running servers pick this up {}", pickup(store))?;
    Ok(())
}

/// How running servers learn of a change, for the summaries.
fn pickup(store: &KeyStore) -> &'static str {
    match store {
        KeyStore::Folder(_) => "on SIGHUP or by watching the keys folder",
        KeyStore::Database(_) => "within about a second, through the database's notifications",
    }
}

async fn write_prune_summary(
    store: &KeyStore,
    settings: &KeySettings,
    pruned: &[KeyMeta],
    err: &mut dyn Write,
) -> Result<(), KeysError> {
    if pruned.is_empty() {
        write!(err, "nothing to prune")?;
    } else {
        write!(err, "pruned {} retired key(s)", pruned.len())?;
    }
    let upcoming = store
        .list()
        .await?
        .iter()
        .filter_map(|m| m.prunable_at(settings.key_grace))
        .min();
    match upcoming {
        Some(at) => writeln!(
            err,
            "; the next retired key may be pruned after {}",
            time(at)
        )?,
        None => writeln!(err, "; no retired keys are left")?,
    }
    Ok(())
}

fn prunable(meta: &KeyMeta, grace: Duration, now: DateTime<Utc>) -> String {
    match (meta.state, meta.prunable_at(grace)) {
        (KeyState::Retired, Some(at)) if at <= now => "now".into(),
        (KeyState::Retired, Some(at)) => time(at),
        (KeyState::Retired, None) => "unknown".into(),
        _ => "-".into(),
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_alg(value: &str) -> Result<Algorithm, String> {
    value.parse::<Algorithm>().map_err(|e| e.to_string())
}
