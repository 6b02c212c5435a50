//! The settings as `sigil serve` parses them: defaults, one-line refusals,
//! the rules between two settings.

use std::time::Duration;

use clap::{Args as _, FromArgMatches as _};

use super::*;

/// `sigil serve ARGS` as the binary parses it, minus the environment (which
/// other tests in this process must not be able to change).
fn serve(args: &[&str]) -> Result<Settings, String> {
    let command =
        ServeArgs::augment_args(clap::Command::new("serve")).mut_args(|arg| arg.env(None::<&str>));
    let with_variables = ServeArgs::augment_args(clap::Command::new("serve"));
    let matches = command
        .try_get_matches_from(std::iter::once(&"serve").chain(args))
        .map_err(|e| one_line(&e, &with_variables))?;
    let args = ServeArgs::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    args.settings().map_err(|e| e.to_string())
}

#[test]
fn settings_new_is_what_sigil_serve_with_only_bind_parses_to() {
    let parsed = serve(&["--bind", "127.0.0.1:0"]).unwrap();
    let mut new = Settings::new(parsed.database_url.clone(), parsed.keys_dir.clone());
    new.bind = "127.0.0.1:0".parse().unwrap();

    assert_eq!(parsed.pid_file, Some(PathBuf::from("data/sigil.pid")));
    assert_eq!(new.pid_file, None, "the one documented difference");
    let parsed = Settings {
        pid_file: None,
        ..parsed
    };
    assert_eq!(format!("{new:?}"), format!("{parsed:?}"));
}

#[test]
fn the_defaults_are_the_documented_ones() {
    let s = Settings::new(DatabaseUrl::parse("sqlite::memory:").unwrap(), "keys");
    assert_eq!(s.bind, "127.0.0.1:8080".parse().unwrap());
    assert_eq!((s.issuer.as_deref(), s.audience.as_deref()), (None, None));
    assert_eq!(s.signing_alg, Algorithm::Rs256);
    assert_eq!(s.rsa_bits, 2048);
    assert_eq!(s.access_ttl, Duration::from_secs(15 * 60));
    assert_eq!(s.refresh_ttl, Duration::from_secs(7 * 86_400));
    assert_eq!(s.jwks_max_age, Duration::from_secs(300));
    assert_eq!(s.key_grace, Duration::from_secs(15 * 60) + CLOCK_LEEWAY);
    assert_eq!(s.key_rotation_interval, None);
    assert_eq!(s.hashing.cost, Argon2Cost::default());
    assert_eq!(
        (
            s.hashing.cost.memory_kib,
            s.hashing.cost.iterations,
            s.hashing.cost.parallelism
        ),
        (19_456, 2, 1)
    );
    assert_eq!(s.hashing.queue, 64);
    assert_eq!(s.throttles, Throttles::default());
    assert_eq!(s.trusted_proxies, TrustedProxies::default());
    assert_eq!(s.log_format, LogFormat::Text);
    assert!(s.bootstrap_admin.is_none());
}

#[test]
fn a_refused_value_is_one_line_naming_the_variable_and_the_flag() {
    assert_eq!(
        serve(&["--access-ttl", "0s"]).unwrap_err(),
        r#"invalid setting SIGIL_ACCESS_TTL (--access-ttl): "0s" must be at least 1s"#
    );
    let err = serve(&["--access-ttl", "soon"]).unwrap_err();
    assert!(
        err.starts_with("invalid setting SIGIL_ACCESS_TTL (--access-ttl): \"soon\""),
        "{err}"
    );
    assert_eq!(
        serve(&["--log-format", "xml"]).unwrap_err(),
        r#"invalid setting SIGIL_LOG_FORMAT (--log-format): "xml" is not one of text, json"#
    );
    assert_eq!(
        serve(&["--argon2-parallelism", "65"]).unwrap_err(),
        r#"invalid setting SIGIL_ARGON2_PARALLELISM (--argon2-parallelism): "65" is not a whole number from 1 to 64"#
    );
    for args in [
        ["--bind", "localhost"],
        ["--rsa-bits", "1024"],
        ["--signing-alg", "HS256"],
        ["--issuer", "id.example.com"],
        ["--trusted-proxies", "10.0.0.0/8, nonsense"],
        ["--login-free-attempts", "0"],
        ["--login-max-backoff", "2d"],
        ["--access-ttl", "25h"],
        ["--key-rotation-interval", "soon"],
    ] {
        let err = serve(&args).unwrap_err();
        assert!(err.starts_with("invalid setting SIGIL_"), "{args:?}: {err}");
        assert!(err.contains(&format!("({})", args[0])), "{args:?}: {err}");
        assert!(!err.contains('\n'), "{args:?}: {err}");
    }
}

#[test]
fn a_refused_database_url_is_reported_without_its_password() {
    let err = serve(&["--database-url", "mysql://root:hunter2@localhost/db"]).unwrap_err();
    assert!(
        err.starts_with("invalid setting SIGIL_DATABASE_URL"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn rules_between_two_settings_name_the_one_at_fault() {
    let err = serve(&["--access-ttl", "2h", "--refresh-ttl", "1h"]).unwrap_err();
    assert!(
        err.starts_with("invalid setting SIGIL_REFRESH_TTL"),
        "{err}"
    );
    let err = serve(&["--access-ttl", "1h", "--key-grace", "30m"]).unwrap_err();
    assert!(err.starts_with("invalid setting SIGIL_KEY_GRACE"), "{err}");
    let err = serve(&["--jwks-max-age", "1h", "--key-rotation-interval", "2h"]).unwrap_err();
    assert!(
        err.starts_with("invalid setting SIGIL_KEY_ROTATION_INTERVAL"),
        "{err}"
    );
    let err = serve(&["--argon2-memory-kib", "8", "--argon2-parallelism", "2"]).unwrap_err();
    assert!(
        err.starts_with("invalid setting SIGIL_ARGON2_MEMORY_KIB"),
        "{err}"
    );
    let err = serve(&["--bootstrap-admin-email", "root@example.com"]).unwrap_err();
    assert!(
        err.starts_with("invalid setting SIGIL_BOOTSTRAP_ADMIN_PASSWORD"),
        "{err}"
    );
}

#[test]
fn typed_flags_reach_the_settings() {
    let s = serve(&[
        "--log-format",
        "JSON",
        "--key-rotation-interval",
        "30d",
        "--trusted-proxies",
        "10.0.0.0/8",
        "--login-max-backoff",
        "1h",
        "--pid-file",
        "",
        "--issuer",
        "https://id.example.com/",
    ])
    .unwrap();
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(
        s.key_rotation_interval,
        Some(Duration::from_secs(30 * 86_400))
    );
    assert!(s.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
    assert_eq!(s.throttles.account.max, Duration::from_secs(3600));
    assert_eq!(s.throttles.address.max, Duration::from_secs(3600));
    assert_eq!(s.pid_file, None);
    assert_eq!(s.issuer.as_deref(), Some("https://id.example.com"));
    assert_eq!(
        serve(&["--key-rotation-interval", "off"])
            .unwrap()
            .key_rotation_interval,
        None
    );
}

#[test]
fn the_bootstrap_password_never_shows_in_the_debug_output_of_the_arguments() {
    let command =
        ServeArgs::augment_args(clap::Command::new("serve")).mut_args(|arg| arg.env(None::<&str>));
    let matches = command
        .try_get_matches_from([
            "serve",
            "--bootstrap-admin-email",
            "root@example.com",
            "--bootstrap-admin-password",
            "hunter2-correct-horse",
        ])
        .unwrap();
    let args = ServeArgs::from_arg_matches(&matches).unwrap();

    let debug = format!("{args:?}");

    assert!(debug.contains("root@example.com"), "{debug}");
    assert!(!debug.contains("hunter2-correct-horse"), "{debug}");
    let settings = args.settings().unwrap();
    let admin = settings.bootstrap_admin.expect("an admin to create");
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&admin.password),
        "hunter2-correct-horse"
    );
}

#[test]
fn the_refresh_reuse_interval_defaults_to_10s_may_be_off_and_stays_well_below_the_refresh_ttl() {
    let defaults = Settings::new(DatabaseUrl::parse("sqlite::memory:").unwrap(), "keys");
    assert_eq!(defaults.refresh_reuse_interval, Duration::from_secs(10));
    for off in ["0", "0s", " 0 "] {
        let s = serve(&["--refresh-reuse-interval", off]).unwrap();
        assert_eq!(s.refresh_reuse_interval, Duration::ZERO, "{off:?}");
    }
    let s = serve(&["--refresh-reuse-interval", "1500ms"]).unwrap();
    assert_eq!(s.refresh_reuse_interval, Duration::from_millis(1500));
    let s = serve(&["--refresh-ttl", "1h", "--refresh-reuse-interval", "6m"]).unwrap();
    assert_eq!(s.refresh_reuse_interval, Duration::from_secs(360));

    assert_eq!(
        serve(&["--refresh-ttl", "1h", "--refresh-reuse-interval", "7m"]).unwrap_err(),
        "invalid setting SIGIL_REFRESH_REUSE_INTERVAL (--refresh-reuse-interval): \
         must be well below SIGIL_REFRESH_TTL (at most a tenth of it)"
    );
    let err = serve(&["--refresh-reuse-interval", "soon"]).unwrap_err();
    assert!(
        err.starts_with(
            "invalid setting SIGIL_REFRESH_REUSE_INTERVAL (--refresh-reuse-interval): \"soon\""
        ),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
}

/// Database URLs with the password in each form sqlx reads it from.
const SECRET_URLS: [&str; 4] = [
    "postgres://u:hunter2-xyz@127.0.0.1:1/db",
    "postgres://u@127.0.0.1:1/db?password=hunter2-xyz",
    "postgresql://u@db.internal/db?sslmode=require&password=hunter2-xyz&application_name=sigil",
    "postgres://u@db.internal/db?pass%77ord=hunter2-xyz",
];

#[test]
fn debug_of_the_arguments_and_settings_never_shows_a_database_or_admin_password() {
    for url in SECRET_URLS {
        let command = ServeArgs::augment_args(clap::Command::new("serve"))
            .mut_args(|arg| arg.env(None::<&str>));
        let matches = command
            .try_get_matches_from([
                "serve",
                "--database-url",
                url,
                "--bootstrap-admin-email",
                "root@example.com",
                "--bootstrap-admin-password",
                "hunter2-xyz-admin",
            ])
            .unwrap();
        let args = ServeArgs::from_arg_matches(&matches).unwrap();
        let settings = args.settings().unwrap();

        for (what, text) in [
            ("ServeArgs", format!("{args:?}")),
            ("ServeArgs (pretty)", format!("{args:#?}")),
            ("DatabaseArgs", format!("{:?}", args.database)),
            ("Settings", format!("{settings:?}")),
            ("DatabaseUrl", format!("{}", settings.database_url)),
            ("redacted", settings.database_url.redacted()),
        ] {
            assert!(!text.contains("hunter2"), "{what} of {url}: {text}");
            assert!(
                text.contains("db"),
                "{what} still names the database: {text}"
            );
        }
        assert_eq!(
            settings.database_url.expose(),
            url,
            "the driver gets it whole"
        );
    }
}

#[test]
fn every_duration_has_a_ceiling_and_an_absurd_one_is_one_line_naming_it() {
    for (flag, variable) in [
        ("--access-ttl", "SIGIL_ACCESS_TTL"),
        ("--refresh-ttl", "SIGIL_REFRESH_TTL"),
        ("--refresh-reuse-interval", "SIGIL_REFRESH_REUSE_INTERVAL"),
        ("--key-grace", "SIGIL_KEY_GRACE"),
        ("--jwks-max-age", "SIGIL_JWKS_MAX_AGE"),
        ("--key-rotation-interval", "SIGIL_KEY_ROTATION_INTERVAL"),
        ("--login-max-backoff", "SIGIL_LOGIN_MAX_BACKOFF"),
        ("--client-secret-overlap", "SIGIL_CLIENT_SECRET_OVERLAP"),
    ] {
        for value in ["1000000000d", "18446744073709551615s", "20000y"] {
            let err = serve(&[flag, value]).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid setting {variable} ({flag}): ")),
                "{flag} {value}: {err}"
            );
            assert!(!err.contains('\n'), "{flag} {value}: {err}");
        }
    }
}

#[test]
fn the_longest_durations_allowed_are_accepted_and_keep_every_date_far_from_year_9999() {
    let s = serve(&[
        "--access-ttl",
        "24h",
        "--refresh-ttl",
        "1y",
        "--refresh-reuse-interval",
        "1d",
        "--key-grace",
        "1y",
        "--jwks-max-age",
        "7d",
        "--key-rotation-interval",
        "10y",
    ])
    .unwrap();

    let far_future = chrono::DateTime::parse_from_rfc3339("9000-01-01T00:00:00Z").unwrap();
    for d in [
        s.access_ttl,
        s.refresh_ttl,
        s.refresh_reuse_interval,
        s.key_grace,
        s.jwks_max_age,
        s.key_rotation_interval.unwrap(),
    ] {
        let later = chrono::Utc::now() + chrono::TimeDelta::from_std(d).unwrap();
        assert!(later < far_future, "{d:?}");
    }
    for (flag, just_over) in [
        ("--refresh-ttl", "366d"),
        ("--key-grace", "366d"),
        ("--jwks-max-age", "8d"),
        ("--key-rotation-interval", "11y"),
        ("--refresh-reuse-interval", "25h"),
    ] {
        let args = match flag {
            "--refresh-ttl" => vec![flag, just_over],
            _ => vec!["--refresh-ttl", "1y", flag, just_over],
        };
        let err = serve(&args).unwrap_err();
        assert!(
            err.contains(&format!("({flag})")),
            "{flag} {just_over}: {err}"
        );
        assert!(err.contains("at most"), "{flag} {just_over}: {err}");
    }
}
