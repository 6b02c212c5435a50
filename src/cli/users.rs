//! `sigil users create`: make an account from the command line, e.g. the first
//! administrator. The password comes from a prompt without echo, or from the
//! first line of standard input when that is not a terminal — never from a flag,
//! where it would land in shell history and `ps`.

use std::io::{BufRead, IsTerminal};

use clap::{Args, Subcommand};
use secrecy::SecretString;

use crate::accounts::{Registration, create_account, scopes};
use crate::config::{ConfigError, DatabaseArgs, HashingArgs};
use crate::password::PasswordHasher;

/// `sigil users …`
#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Create a user; the password is read from a prompt or standard input.
    Create(CreateUser),
}

/// Flags of `sigil users create`.
#[derive(Args, Debug)]
pub struct CreateUser {
    /// The new user's email.
    #[arg(long)]
    pub email: String,
    /// The new user's display name.
    #[arg(long)]
    pub name: String,
    /// Grant the `admin` scope.
    #[arg(long)]
    pub admin: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub hashing: HashingArgs,
}

/// Why `users create` failed: one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// Runs `sigil users create` and returns the new user's id.
pub async fn create(cmd: CreateUser) -> Result<uuid::Uuid, UsersError> {
    let hashing = cmd.hashing.settings()?;
    let password = read_password()?;
    let store = crate::store::open(&cmd.database.database_url)
        .await
        .map_err(|e| UsersError::Failed(e.to_string()))?;
    let hasher = PasswordHasher::start(&hashing)
        .await
        .map_err(|e| UsersError::Failed(e.to_string()))?;
    let granted: &[&str] = if cmd.admin {
        &["profile", scopes::ADMIN]
    } else {
        scopes::DEFAULT_SCOPES
    };
    let registration = Registration {
        email: cmd.email,
        password,
        name: cmd.name,
    };
    let user = create_account(store.as_ref(), &hasher, registration, granted)
        .await
        .map_err(|e| UsersError::Failed(e.explain()))?;
    Ok(user.id)
}

fn read_password() -> Result<SecretString, UsersError> {
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| UsersError::Failed(e.to_string()))?;
        let second = rpassword::prompt_password("Repeat password: ")
            .map_err(|e| UsersError::Failed(e.to_string()))?;
        if first != second {
            return Err(UsersError::Failed("the passwords do not match".into()));
        }
        first
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| UsersError::Failed(e.to_string()))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if line.is_empty() {
        return Err(UsersError::Failed(
            "no password given on standard input".into(),
        ));
    }
    Ok(SecretString::from(line))
}
