//! Durations have upper bounds: an absurd value of any duration setting is
//! refused at start-up with one line naming it, before anything could
//! overflow (a date past year 9999, a panic on the first token).

use super::secret_masking::run_sigil;

#[test]
fn an_absurdly_long_duration_is_refused_at_start_up_with_one_line_and_no_panic() {
    for (variable, value) in [
        ("SIGIL_REFRESH_TTL", "1000000000d"),
        ("SIGIL_REFRESH_TTL", "18446744073709551615s"),
        ("SIGIL_KEY_GRACE", "1000000000d"),
        ("SIGIL_JWKS_MAX_AGE", "1000000000d"),
        ("SIGIL_KEY_ROTATION_INTERVAL", "1000000000d"),
        ("SIGIL_REFRESH_REUSE_INTERVAL", "1000000000d"),
        ("SIGIL_CLIENT_SECRET_OVERLAP", "1000000000d"),
        ("SIGIL_LOGIN_MAX_BACKOFF", "1000000000d"),
    ] {
        let printed = run_sigil(&["serve", "--bind", "127.0.0.1:0"], &[(variable, value)]);

        assert_eq!(
            printed.code,
            Some(2),
            "{variable}={value}: {}",
            printed.stderr
        );
        assert_eq!(
            printed.stderr.lines().count(),
            1,
            "{variable}={value}: {}",
            printed.stderr
        );
        assert!(
            printed
                .stderr
                .starts_with(&format!("sigil: invalid setting {variable} ")),
            "{variable}={value}: {}",
            printed.stderr
        );
        assert!(!printed.stderr.contains("panicked"), "{}", printed.stderr);
        assert!(printed.stdout.is_empty(), "{}", printed.stdout);
    }
}
