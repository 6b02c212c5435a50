//! `sigil keys list | rotate | prune | import`: the key life cycle from the
//! command line. Output is what a script reads (the listing, the new active kid,
//! pruned kids) on stdout, and summaries for people on stderr.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::config::{ConfigError, KeyArgs, KeySettings};
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
}

/// Flags of `sigil keys list`.
#[derive(Args, Debug)]
pub struct ListKeys {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub keys: KeyArgs,
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
    pub keys: KeyArgs,
}

/// Arguments of `sigil keys import`.
#[derive(Args, Debug)]
pub struct ImportKey {
    /// The unencrypted PKCS#8 PEM private key ("PRIVATE KEY") to import;
    /// /dev/stdin reads it from a pipe, so it need not touch the disk.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub keys: KeyArgs,
}

/// Flags of `sigil keys prune`.
#[derive(Args, Debug)]
pub struct PruneKeys {
    #[command(flatten)]
    pub keys: KeyArgs,
}

/// Why a `keys` command failed: one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The keys folder refused or failed.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// Writing the output failed (e.g. a closed pipe).
    #[error("cannot write the output: {0}")]
    Output(#[from] io::Error),
}

/// Runs a `keys` command, writing what scripts read to `out` and what people
/// read to `err`. Blocking (file I/O, key generation, the folder lock).
pub fn run(
    command: KeysCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), KeysError> {
    match command {
        KeysCommand::List(cmd) => list(&cmd.keys.settings()?, cmd.json, out),
        KeysCommand::Rotate(cmd) => {
            let settings = cmd.keys.settings()?;
            let opts = RotateOptions {
                alg: cmd.alg.unwrap_or(settings.signing_alg),
                rsa_bits: settings.rsa_bits,
                min_next_age: settings.jwks_max_age,
                force: cmd.force,
                grace: settings.key_grace,
            };
            let rotation = KeyFolder::new(&settings.keys_dir).rotate(opts)?;
            write_rotation(&settings, &rotation, err)?;
            writeln!(out, "{}", rotation.active.kid)?;
            Ok(())
        }
        KeysCommand::Prune(cmd) => {
            let settings = cmd.keys.settings()?;
            let folder = KeyFolder::new(&settings.keys_dir);
            let pruned = folder.prune(settings.key_grace, Utc::now())?;
            for meta in &pruned {
                writeln!(out, "{}", meta.kid)?;
            }
            write_prune_summary(&folder, &settings, &pruned, err)
        }
        KeysCommand::Import(cmd) => {
            let settings = cmd.keys.settings()?;
            let import = KeyFolder::new(&settings.keys_dir).import(&cmd.file)?;
            write_import(&settings, &import, err)?;
            writeln!(out, "{}", import.imported.kid)?;
            Ok(())
        }
    }
}

fn write_import(
    settings: &KeySettings,
    import: &Import,
    err: &mut dyn Write,
) -> Result<(), KeysError> {
    let Import { imported, replaced } = import;
    writeln!(err, "imported a key into {}:", settings.keys_dir.display())?;
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
    writeln!(
        err,
        "running servers publish it on SIGHUP or by watching the keys folder"
    )?;
    Ok(())
}

/// The table (or JSON), from the manifest alone; then the folder is loaded
/// as the server would, so a broken key file shows up as an error after the
/// listing that helps to find it.
fn list(settings: &KeySettings, as_json: bool, out: &mut dyn Write) -> Result<(), KeysError> {
    let folder = KeyFolder::new(&settings.keys_dir);
    let mut metas = folder.list()?;
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
    folder.load()?;
    Ok(())
}

fn write_rotation(
    settings: &KeySettings,
    rotation: &Rotation,
    err: &mut dyn Write,
) -> Result<(), KeysError> {
    let Rotation {
        active,
        retired,
        next,
    } = rotation;
    writeln!(err, "rotated the keys in {}:", settings.keys_dir.display())?;
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
    writeln!(
        err,
        "running servers pick this up on SIGHUP or by watching the keys folder"
    )?;
    Ok(())
}

fn write_prune_summary(
    folder: &KeyFolder,
    settings: &KeySettings,
    pruned: &[KeyMeta],
    err: &mut dyn Write,
) -> Result<(), KeysError> {
    if pruned.is_empty() {
        write!(err, "nothing to prune")?;
    } else {
        write!(err, "pruned {} retired key(s)", pruned.len())?;
    }
    let upcoming = folder
        .list()?
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
