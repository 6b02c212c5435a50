//! The `sigil` command line: `serve` (the default), `users create | promote`,
//! `clients create | list | disable | rotate-secret` and
//! `keys list | rotate | prune | import | reseal | migrate`. (The crypto benchmark is a bench target,
//! `tests/bench/crypto.rs`, not part of the product.)
//! `main.rs` parses and dispatches; the work happens in the library.

pub mod clients;
pub mod keys;
pub mod users;

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use crate::config::ServeArgs;

/// sigil: a token issuer with rotating, published signing keys.
#[derive(Parser, Debug)]
#[command(name = "sigil", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server.
    Serve(Box<ServeArgs>),
    /// Manage user accounts.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage confidential clients (service accounts).
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
    /// Manage signing keys: list, rotate, prune, import, reseal, migrate.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

/// The command named by `args` (the program name first); no command means
/// `serve`. A mistake comes back as clap's error: [`crate::config::one_line`]
/// turns it into the one line an operator sees.
pub fn parse(args: impl IntoIterator<Item = impl Into<OsString>>) -> Result<Command, clap::Error> {
    let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if let Some(command) = Cli::try_parse_from(&args)?.command {
        return Ok(command);
    }
    args.push("serve".into());
    let command = Cli::try_parse_from(&args)?.command;
    Ok(command.unwrap_or_else(|| unreachable!("serve was given")))
}
