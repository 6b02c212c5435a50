//! The timestamp at the head of every log line, formatted as
//! `tracing-subscriber`'s default timer formats it
//! (`2026-11-30T17:06:24.123456Z`), with the date and time of day formatted
//! once per second per thread: the server logs a line per request, and
//! formatting the calendar date each time was a quarter of the line's cost.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// UTC, microseconds, the same text as `tracing_subscriber`'s `SystemTime`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Timestamp;

thread_local! {
    /// The second last formatted on this thread, and its text up to the
    /// seconds (`2026-11-30T17:06:24`).
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for Timestamp {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write_timestamp(SystemTime::now(), w)
    }
}

fn write_timestamp(at: SystemTime, w: &mut impl fmt::Write) -> fmt::Result {
    let Ok(since_epoch) = at.duration_since(UNIX_EPOCH) else {
        // A clock set before 1970: not worth a cache.
        return write!(
            w,
            "{}",
            chrono::DateTime::<chrono::Utc>::from(at).format("%Y-%m-%dT%H:%M:%S%.6fZ")
        );
    };
    let second = since_epoch.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != second {
            text.clear();
            let whole = UNIX_EPOCH + std::time::Duration::from_secs(second);
            write!(
                text,
                "{}",
                chrono::DateTime::<chrono::Utc>::from(whole).format("%Y-%m-%dT%H:%M:%S")
            )?;
            *cached = second;
        }
        w.write_str(text)
    })?;
    let mut micros = since_epoch.subsec_micros();
    let mut tail = *b".000000Z";
    for digit in tail[1..7].iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    // Only ASCII digits, a dot and a letter were written.
    w.write_str(std::str::from_utf8(&tail).map_err(|_| fmt::Error)?)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use tracing_subscriber::fmt::time::FormatTime;

    use super::write_timestamp;

    /// What `tracing_subscriber`'s default timer writes now.
    fn reference_now() -> String {
        let mut text = String::new();
        tracing_subscriber::fmt::time::SystemTime
            .format_time(&mut tracing_subscriber::fmt::format::Writer::new(&mut text))
            .unwrap();
        text
    }

    fn ours(at: SystemTime) -> String {
        let mut text = String::new();
        write_timestamp(at, &mut text).unwrap();
        text
    }

    #[test]
    fn the_text_is_the_default_timers_to_the_second_and_its_shape_to_the_microsecond() {
        let theirs = reference_now();
        let mine = ours(SystemTime::now());
        assert_eq!(theirs.len(), mine.len(), "{theirs} / {mine}");
        // Same second unless the clock ticked over between the two calls.
        if theirs[..19] != mine[..19] {
            let again = (reference_now(), ours(SystemTime::now()));
            assert_eq!(again.0[..19], again.1[..19]);
        }
        assert!(mine.ends_with('Z') && mine.as_bytes()[19] == b'.');
    }

    #[test]
    fn microseconds_and_seconds_are_written_exactly_across_a_second_boundary() {
        let base = UNIX_EPOCH + Duration::from_secs(1_796_065_584); // 2026-12-01T…
        let cases = [
            (base + Duration::from_micros(999_999), ".999999Z"),
            (
                base + Duration::from_secs(1) + Duration::from_micros(7),
                ".000007Z",
            ),
            (base + Duration::from_micros(120_000), ".120000Z"),
        ];
        for (at, tail) in cases {
            let text = ours(at);
            assert!(text.ends_with(tail), "{text}");
            let expected = chrono::DateTime::<chrono::Utc>::from(at)
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string();
            assert_eq!(text, expected);
        }
    }
}
