//! The value parsers behind the flags: each turns one flag's text into its
//! type or says, in one phrase that quotes the value, why it cannot. clap
//! calls them for flags and `SIGIL_*` variables alike, so a value is checked
//! once, where it is read.
//!
//! Every duration has a ceiling. Far below any overflow of a date (`now +
//! refresh TTL` stays centuries before year 9999), each is what a sane
//! deployment could want, so a typo such as `1000000000d` stops start-up
//! with one line instead of panicking on the first token or publishing
//! nonsense.

use std::str::FromStr;
use std::time::Duration;

/// Longest access-token lifetime, login back-off and refresh reuse interval.
pub const ONE_DAY: Duration = Duration::from_secs(24 * 3600);
/// A year as humantime counts it (365.25 days), so that `1y` is accepted.
const YEAR_SECS: u64 = 31_557_600;
/// Longest refresh-token lifetime and key grace: a year.
pub const MAX_LONG_LIVED_SECS: u64 = YEAR_SECS;
/// Longest JWK Set `max-age`: a week.
pub const MAX_JWKS_MAX_AGE_SECS: u64 = 7 * 24 * 3600;
/// Longest automatic rotation interval: ten years.
pub const MAX_ROTATION_INTERVAL_SECS: u64 = 10 * YEAR_SECS;

/// A duration in humantime's syntax (`15m`, `7d`, `300s`, `1h 30m`); at least one second.
pub fn duration(value: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(value.trim())
        .map_err(|e| format!("{value:?} is not a duration like 15m or 7d ({e})"))?;
    if d < Duration::from_secs(1) {
        return Err(format!("{value:?} must be at least 1s"));
    }
    Ok(d)
}

/// A duration of at least one second and at most `MAX_SECS` seconds.
pub fn duration_at_most<const MAX_SECS: u64>(value: &str) -> Result<Duration, String> {
    at_most(value, duration(value)?, Duration::from_secs(MAX_SECS))
}

/// `d`, the value of `value`, unless it is longer than `max`.
fn at_most(value: &str, d: Duration, max: Duration) -> Result<Duration, String> {
    if d > max {
        return Err(format!(
            "{value:?} is too long: at most {}",
            humantime::format_duration(max)
        ));
    }
    Ok(d)
}

/// A duration in humantime's syntax that may be zero (`0`, `0s`: off), e.g.
/// `10s` or `1500ms`; at most a day.
pub fn duration_or_zero(value: &str) -> Result<Duration, String> {
    let d = match value.trim() {
        "0" => Duration::ZERO,
        trimmed => humantime::parse_duration(trimmed)
            .map_err(|e| format!("{value:?} is not a duration like 10s, or 0 ({e})"))?,
    };
    at_most(value, d, ONE_DAY)
}

/// A duration of at most a day.
pub fn duration_up_to_a_day(value: &str) -> Result<Duration, String> {
    let d = duration(value)?;
    if d > ONE_DAY {
        return Err(format!("{value:?} must be at most 24h"));
    }
    Ok(d)
}

/// The access-token lifetime: access tokens cannot be revoked, so at most a day.
pub fn access_ttl(value: &str) -> Result<Duration, String> {
    let d = duration(value)?;
    if d > ONE_DAY {
        return Err(format!(
            "{value:?} is too long: access tokens cannot be revoked, so their lifetime is capped at 24h"
        ));
    }
    Ok(d)
}

/// A rotation interval, or `off` (also the empty value): no automatic rotation.
pub fn rotation_interval(value: &str) -> Result<RotationInterval, String> {
    match value.trim() {
        "" | "off" => Ok(RotationInterval(None)),
        _ => {
            duration_at_most::<MAX_ROTATION_INTERVAL_SECS>(value).map(|d| RotationInterval(Some(d)))
        }
    }
}

/// `SIGIL_KEY_ROTATION_INTERVAL`: `None` is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotationInterval(pub Option<Duration>);

/// A whole number in `MIN..=MAX`.
pub fn number_in<T, const MIN: u64, const MAX: u64>(value: &str) -> Result<T, String>
where
    T: TryFrom<u64>,
{
    let n = u64::from_str(value.trim())
        .ok()
        .filter(|n| (MIN..=MAX).contains(n))
        .and_then(|n| T::try_from(n).ok());
    n.ok_or_else(|| format!("{value:?} is not a whole number from {MIN} to {MAX}"))
}

/// A whole number, at least 1.
pub fn at_least_one<T: TryFrom<u64>>(value: &str) -> Result<T, String> {
    number_in::<T, 1, { u32::MAX as u64 }>(value)
}

/// A whole number, 0 included.
pub fn whole<T: TryFrom<u64>>(value: &str) -> Result<T, String> {
    number_in::<T, 0, { u32::MAX as u64 }>(value)
}

/// An RSA modulus size sigil generates.
pub fn rsa_bits(value: &str) -> Result<usize, String> {
    match value.trim() {
        "2048" => Ok(2048),
        "3072" => Ok(3072),
        "4096" => Ok(4096),
        _ => Err(format!("{value:?} is not 2048, 3072 or 4096")),
    }
}

/// An `http(s)` URL without query or fragment, trailing `/` removed.
pub fn http_url(value: &str) -> Result<String, String> {
    let v = value.trim().trim_end_matches('/');
    let ok = (v.starts_with("https://") || v.starts_with("http://"))
        && v.split("://").nth(1).is_some_and(|rest| !rest.is_empty())
        && !v.contains(['?', '#', ' ']);
    if ok {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "{value:?} is not an http(s) URL without query or fragment"
        ))
    }
}

/// Any text but the empty one.
pub fn not_empty(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(value.to_owned())
    }
}

/// A file path; the empty one too (which some settings read as "none").
pub fn path(value: &str) -> Result<std::path::PathBuf, String> {
    Ok(value.into())
}

/// A socket address like `127.0.0.1:8080`.
pub fn socket_addr(value: &str) -> Result<std::net::SocketAddr, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not an address like 127.0.0.1:8080"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_the_spec_forms_and_refuse_zero() {
        assert_eq!(duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(duration("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(duration("300s").unwrap(), Duration::from_secs(300));
        assert_eq!(duration("0s").unwrap_err(), r#""0s" must be at least 1s"#);
        assert!(duration("soon").is_err());
    }

    #[test]
    fn durations_with_a_ceiling_refuse_what_is_longer_and_say_so() {
        assert_eq!(duration_at_most::<60>("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(
            duration_at_most::<60>("61s").unwrap_err(),
            r#""61s" is too long: at most 1m"#
        );
        assert_eq!(
            duration_at_most::<MAX_LONG_LIVED_SECS>("1y"),
            Ok(Duration::from_secs(YEAR_SECS))
        );
        assert!(duration_at_most::<MAX_LONG_LIVED_SECS>("1000000000d").is_err());
        assert!(duration_at_most::<MAX_LONG_LIVED_SECS>("18446744073709551615s").is_err());
        assert_eq!(duration_or_zero("24h"), Ok(ONE_DAY));
        assert!(
            duration_or_zero("25h")
                .unwrap_err()
                .contains("at most 1day")
        );
        assert!(rotation_interval("10y").is_ok());
        assert!(
            rotation_interval("11y")
                .unwrap_err()
                .contains("at most 10years")
        );
    }

    #[test]
    fn numbers_are_checked_against_their_range_and_quoted_when_refused() {
        assert_eq!(number_in::<u32, 1, 64>("64"), Ok(64));
        assert_eq!(
            number_in::<u32, 1, 64>("65").unwrap_err(),
            r#""65" is not a whole number from 1 to 64"#
        );
        assert!(number_in::<u32, 1, 64>("0").is_err());
        assert!(number_in::<u32, 1, 64>("-1").is_err());
        assert!(at_least_one::<u32>("0").is_err());
        assert_eq!(whole::<usize>("0"), Ok(0));
    }

    #[test]
    fn rotation_is_off_when_empty_or_off_and_a_duration_otherwise() {
        assert_eq!(rotation_interval("off"), Ok(RotationInterval(None)));
        assert_eq!(rotation_interval(""), Ok(RotationInterval(None)));
        assert_eq!(
            rotation_interval("30d"),
            Ok(RotationInterval(Some(Duration::from_secs(30 * 86_400))))
        );
    }

    #[test]
    fn urls_lose_their_trailing_slash_and_may_not_carry_a_query() {
        assert_eq!(
            http_url("https://id.example.com/").unwrap(),
            "https://id.example.com"
        );
        assert!(http_url("https://id.example.com/?x=1").is_err());
        assert!(http_url("ftp://id.example.com").is_err());
    }
}
