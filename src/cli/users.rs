//! `sigil users create`: make an account from the command line, e.g. the first
//! administrator. The password comes from a prompt without echo, or from the
//! first line of standard input when that is not a terminal — never from a flag,
//! where it would land in shell history and `ps`.
//!
//! `sigil users promote EMAIL`: recovery when no administrator can act (the
//! last one forgot their password, or the database was edited by hand). It
//! grants `admin` to an existing account and enables it, straight in the
//! database, so it works with the servers running: they read an account's
//! scopes on every request, and its next login carries `admin`.

use std::io::{BufRead, IsTerminal};

use clap::{Args, Subcommand};
use secrecy::SecretString;

use crate::accounts::{Registration, create_account, scopes};
use crate::config::{ConfigError, DatabaseArgs, HashingArgs};
use crate::password::PasswordHasher;
use crate::store::UserPatch;

/// `sigil users …`
#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Create a user; the password is read from a prompt or standard input.
    Create(CreateUser),
    /// Grant the admin scope to an existing user and enable the account
    /// (recovery); prints the user's id. Safe while servers run; the user's
    /// next login carries the scope.
    Promote(PromoteUser),
}

/// Arguments of `sigil users promote`.
#[derive(Args, Debug)]
pub struct PromoteUser {
    /// The email of the account (any letter case).
    #[arg(value_name = "EMAIL")]
    pub email: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// What `users promote` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// The account's id.
    pub id: uuid::Uuid,
    /// It held `admin` already.
    pub was_admin: bool,
    /// It was disabled, and is enabled now.
    pub was_disabled: bool,
}

impl std::fmt::Display for Promotion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scope = if self.was_admin {
            "already held the admin scope"
        } else {
            "now holds the admin scope"
        };
        let state = if self.was_disabled {
            "was disabled and is enabled now"
        } else {
            "is enabled"
        };
        write!(
            f,
            "user {} {scope} and {state}; it takes effect at their next login",
            self.id
        )
    }
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

/// Runs `sigil users promote`: grants `admin` to the account with this email
/// (keeping its other scopes) and enables it.
pub async fn promote(cmd: PromoteUser) -> Result<Promotion, UsersError> {
    let failed = |e: crate::store::StoreError| UsersError::Failed(e.to_string());
    let store = crate::store::open(&cmd.database.database_url)
        .await
        .map_err(|e| UsersError::Failed(e.to_string()))?;
    let email = cmd.email.trim();
    let no_user = || UsersError::Failed(format!("no user has the email {email:?}"));
    let user = store
        .user_by_email(email)
        .await
        .map_err(failed)?
        .ok_or_else(no_user)?;
    let was_admin = user.scopes.iter().any(|s| s == scopes::ADMIN);
    let was_disabled = user.disabled;
    let mut granted = user.scopes.clone();
    if !was_admin {
        granted.push(scopes::ADMIN.to_owned());
    }
    let patch = UserPatch {
        scopes: Some(granted),
        disabled: Some(false),
    };
    let user = store
        .update_user(user.id, patch)
        .await
        .map_err(failed)?
        .ok_or_else(no_user)?;
    tracing::info!(target: "audit", event = "user_promoted", user_id = %user.id, scopes = %user.scopes.join(" "), by = "command line");
    Ok(Promotion {
        id: user.id,
        was_admin,
        was_disabled,
    })
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
