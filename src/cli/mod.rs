//! The `sigil` command line: `serve` (the default), `users create` and
//! `keys list | rotate | prune`. (The crypto benchmark is a bench target,
//! `tests/bench/crypto.rs`, not part of the product.)
//! `main.rs` parses and dispatches; the work happens in the library.

pub mod keys;
pub mod users;

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
    /// Manage signing keys: list, rotate, prune.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}
