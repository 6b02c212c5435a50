//! The `sigil` binary: read `.env`, parse the command line, dispatch.

use std::process::ExitCode;

use clap::Parser;
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
    // `sigil` alone means `sigil serve`.
    let cli = if std::env::args_os().len() <= 1 {
        Cli::parse_from(["sigil", "serve"])
    } else {
        Cli::parse()
    };
    let command =
        cli.command
            .unwrap_or_else(|| match Cli::parse_from(["sigil", "serve"]).command {
                Some(c) => c,
                None => unreachable!("serve was given"),
            });
    match command {
        Command::Serve(args) => {
            let settings = match args.settings() {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            sigil::telemetry::init(settings.log_format);
            let app = match Application::build(settings).await {
                Ok(app) => app,
                Err(e) => {
                    tracing::error!(error = %e, "start-up failed");
                    return fail(e);
                }
            };
            match app.run_until_stopped(shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Command::Keys(cmd) => {
            sigil::telemetry::init(LogFormat::Text);
            let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
            match sigil::cli::keys::run(cmd, &mut stdout.lock(), &mut stderr.lock()) {
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
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("sigil: {e}");
    ExitCode::from(2)
}
