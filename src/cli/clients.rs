//! `sigil clients create | list | disable | rotate-secret`: confidential
//! clients (service accounts) from the command line, straight on the
//! database, with the same rules as `/admin/clients`. A secret is printed
//! once, on stdout, when it is made; the audit events name the actor `cli`.

use std::io::Write;

use clap::{Args, Subcommand};
use secrecy::ExposeSecret;

use crate::accounts::clients::{
    self, ClientChanges, ClientRequest, create_client, list_clients, rotate_client_secret,
    update_client,
};
use crate::accounts::scopes::Scopes;
use crate::config::{ClientArgs, DatabaseArgs};
use crate::store::Store;

/// The actor of the audit events of these commands.
const ACTOR: &str = "cli";
/// Clients listed per database query.
const PAGE: u32 = 500;

/// `sigil clients …`
#[derive(Subcommand, Debug)]
pub enum ClientsCommand {
    /// Create a client; prints its client_id and client_secret (shown once).
    Create(CreateClient),
    /// List clients: id, name, scopes, audience, state, creation time.
    List(ListClients),
    /// Disable a client: its next token request and its tokens are refused.
    Disable(ClientId),
    /// Give a client a new secret (printed once); the previous one keeps
    /// working for SIGIL_CLIENT_SECRET_OVERLAP.
    RotateSecret(ClientId),
}

/// Flags of `sigil clients create`.
#[derive(Args, Debug)]
pub struct CreateClient {
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// Scopes the client may be granted, space-separated (may be repeated);
    /// each built-in or declared in SIGIL_SCOPES.
    #[arg(long = "scope", value_name = "SCOPES")]
    pub scope: Vec<String>,
    /// `aud` of the client's tokens [default: SIGIL_AUDIENCE].
    #[arg(long)]
    pub audience: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub clients: ClientArgs,
}

/// Flags of `sigil clients list`.
#[derive(Args, Debug)]
pub struct ListClients {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// A client named by its id.
#[derive(Args, Debug)]
pub struct ClientId {
    /// The client id.
    pub id: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub clients: ClientArgs,
}

/// Why a `clients` command failed: one line for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClientsError(String);

async fn open(database: &DatabaseArgs) -> Result<std::sync::Arc<dyn Store>, ClientsError> {
    crate::store::open(&database.database_url)
        .await
        .map_err(|e| ClientsError(e.to_string()))
}

fn failed(e: crate::accounts::AccountError) -> ClientsError {
    ClientsError(e.explain())
}

fn write(out: &mut dyn Write, text: std::fmt::Arguments) -> Result<(), ClientsError> {
    out.write_fmt(text)
        .map_err(|e| ClientsError(format!("cannot write the output: {e}")))
}

/// Runs a `sigil clients` command, writing what scripts read to `out`
/// and notes for people to `err`.
pub async fn run(
    command: ClientsCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), ClientsError> {
    match command {
        ClientsCommand::Create(cmd) => {
            let settings = cmd.clients.settings();
            let store = open(&cmd.database).await?;
            let request = ClientRequest {
                name: cmd.name,
                scopes: cmd
                    .scope
                    .iter()
                    .flat_map(|s| s.split(' '))
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                audience: cmd.audience,
            };
            let created = create_client(
                store.as_ref(),
                &Scopes::new(&settings.scopes),
                request,
                ACTOR,
            )
            .await
            .map_err(failed)?;
            write(out, format_args!("client_id: {}\n", created.client.id))?;
            write(
                out,
                format_args!("client_secret: {}\n", created.secret.expose_secret()),
            )?;
            write(
                err,
                format_args!("Keep the secret now: it is never shown again.\n"),
            )
        }
        ClientsCommand::List(cmd) => {
            let store = open(&cmd.database).await?;
            let mut all = Vec::new();
            loop {
                let page = list_clients(store.as_ref(), PAGE, all.len() as u32)
                    .await
                    .map_err(failed)?;
                let done = page.len() < PAGE as usize;
                all.extend(page);
                if done {
                    break;
                }
            }
            if cmd.json {
                let listed: Vec<_> = all.iter().map(as_json).collect();
                write(out, format_args!("{}\n", serde_json::Value::Array(listed)))
            } else {
                for client in &all {
                    write(
                        out,
                        format_args!(
                            "{}\t{}\t{}\t{}\t{}\t{}\n",
                            client.id,
                            client.name,
                            client.scopes.join(" "),
                            client.audience.as_deref().unwrap_or("-"),
                            if client.disabled {
                                "disabled"
                            } else {
                                "enabled"
                            },
                            client.created_at.to_rfc3339(),
                        ),
                    )?;
                }
                Ok(())
            }
        }
        ClientsCommand::Disable(cmd) => {
            let settings = cmd.clients.settings();
            let store = open(&cmd.database).await?;
            let changes = ClientChanges {
                scopes: None,
                disabled: Some(true),
            };
            let client = update_client(
                store.as_ref(),
                &Scopes::new(&settings.scopes),
                &cmd.id,
                changes,
                ACTOR,
            )
            .await
            .map_err(failed)?;
            write(err, format_args!("client {} is disabled\n", client.id))
        }
        ClientsCommand::RotateSecret(cmd) => {
            let settings = cmd.clients.settings();
            let store = open(&cmd.database).await?;
            let rotated =
                rotate_client_secret(store.as_ref(), &cmd.id, settings.secret_overlap, ACTOR)
                    .await
                    .map_err(failed)?;
            write(out, format_args!("client_id: {}\n", rotated.client_id))?;
            write(
                out,
                format_args!("client_secret: {}\n", rotated.secret.expose_secret()),
            )?;
            write(
                err,
                format_args!(
                    "Keep the secret now: it is never shown again. The previous secret works until {}.\n",
                    rotated.previous_valid_until.to_rfc3339()
                ),
            )
        }
    }
}

fn as_json(client: &clients::Client) -> serde_json::Value {
    serde_json::json!({
        "client_id": client.id,
        "name": client.name,
        "scopes": client.scopes,
        "audience": client.audience,
        "disabled": client.disabled,
        "created_at": client.created_at.to_rfc3339(),
    })
}
