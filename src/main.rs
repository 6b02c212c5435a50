//! The `sigil` binary: read `.env`, parse the command line, dispatch.

use std::process::ExitCode;

use clap::CommandFactory;
use sigil::cli::{Cli, Command, users::UsersCommand};
use sigil::config::LogFormat;
use sigil::startup::{Application, shutdown_signal};

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is reported and ignored.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("sigil: ignoring .env: {e}");
    }
    // A bad flag or variable is one line; help and version are clap's own.
    let command = match sigil::cli::parse(std::env::args_os()) {
        Ok(command) => command,
        Err(e) if sigil::config::is_help(&e) => e.exit(),
        Err(e) => return fail(sigil::config::one_line(&e, &Cli::command())),
    };
    match command {
        Command::Serve(args) => {
            let settings = match args.settings() {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            // Held to the end of this arm: dropping it writes out every
            // queued log line, before the last words on stderr below and
            // before the process exits (every way out of `serve` returns
            // through here; nothing calls `process::exit`).
            let log = sigil::telemetry::init_server(settings.log_format);
            let app = match Application::build(settings).await {
                Ok(app) => app,
                Err(e) => {
                    tracing::error!(error = %e, "start-up failed");
                    drop(log);
                    return fail(e);
                }
            };
            let result = app.run_until_stopped(shutdown_signal()).await;
            drop(log);
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Command::Keys(cmd) => {
            sigil::telemetry::init(LogFormat::Text);
            // Not locked across the await: the key work runs on other
            // threads, and its log lines need stderr too.
            let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
            match sigil::cli::keys::run(cmd, &mut stdout, &mut stderr).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Command::Clients(cmd) => {
            sigil::telemetry::init(LogFormat::Text);
            // Unlocked, as for `keys`: hashing threads may log meanwhile.
            let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
            let result = sigil::cli::clients::run(cmd, &mut stdout, &mut stderr).await;
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Command::Users(UsersCommand::Create(cmd)) => {
            sigil::telemetry::init(LogFormat::Text);
            match sigil::cli::users::create(cmd).await {
                Ok(id) => {
                    println!("{id}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Users(UsersCommand::Promote(cmd)) => {
            sigil::telemetry::init(LogFormat::Text);
            match sigil::cli::users::promote(cmd).await {
                Ok(promotion) => {
                    eprintln!("sigil: {promotion}");
                    println!("{}", promotion.id);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("sigil: {e}");
    ExitCode::from(2)
}
