//! How a bad setting is reported: one line that names the setting by its
//! variable and flag and quotes the value (SPEC §1), whether clap refused the
//! value or a rule between two settings did.

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// An invalid setting: names it by its variable and flag, says what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {variable} (--{flag}): {problem}")]
pub struct ConfigError {
    /// The environment variable, e.g. `SIGIL_BIND`.
    pub variable: &'static str,
    /// The flag without dashes, e.g. `bind`.
    pub flag: &'static str,
    /// What is wrong with the value; never contains a secret.
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(
        variable: &'static str,
        flag: &'static str,
        problem: impl Into<String>,
    ) -> Self {
        ConfigError {
            variable,
            flag,
            problem: problem.into(),
        }
    }
}

/// Whether clap's "error" is a request for help or the version, which clap
/// prints itself.
pub fn is_help(err: &clap::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    )
}

/// clap's error as one line. A refused value of a setting reads
/// `invalid setting SIGIL_ACCESS_TTL (--access-ttl): "0s" must be at least 1s`
/// (the variable found in `command`, the tree that was parsed); any other
/// mistake on the command line is clap's own first line.
pub fn one_line(err: &clap::Error, command: &clap::Command) -> String {
    let text = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let value_error = matches!(
        err.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    );
    let flag = text(ContextKind::InvalidArg)
        .and_then(|arg| arg.strip_prefix("--"))
        .map(|arg| arg.split([' ', '=']).next().unwrap_or(arg));
    if let (true, Some(flag)) = (value_error, flag) {
        let value = text(ContextKind::InvalidValue).unwrap_or_default();
        let problem = match std::error::Error::source(err) {
            Some(cause) => cause.to_string(),
            None => match err.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(valid)) if !valid.is_empty() => {
                    format!("{value:?} is not one of {}", valid.join(", "))
                }
                _ => format!("{value:?} is not valid"),
            },
        };
        return match variable_of(command, flag) {
            Some(variable) => format!("invalid setting {variable} (--{flag}): {problem}"),
            None => format!("invalid value for --{flag}: {problem}"),
        };
    }
    let rendered = err.to_string();
    let first = rendered.lines().next().unwrap_or("invalid command line");
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// The `SIGIL_*` variable of flag `--long` anywhere in `command`.
fn variable_of(command: &clap::Command, long: &str) -> Option<String> {
    let here = command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned());
    here.or_else(|| {
        command
            .get_subcommands()
            .find_map(|sub| variable_of(sub, long))
    })
}
