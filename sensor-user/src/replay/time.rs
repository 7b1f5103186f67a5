//! `@timestamp` as Elasticsearch exports it: RFC 3339 (`2024-05-01T12:00:00Z`,
//! `2024-05-01T12:00:00.123456789+02:00`), one to nine fractional digits, `Z` or a numeric
//! offset, `T` or `t` or a space between date and time. Owns one conversion: such a string to
//! nanoseconds since the Unix epoch (UTC). Rejects anything else, including values outside the
//! `i64` nanosecond range (years 1677 to 2262), rather than guess.

use crate::event::TimestampNs;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// `s` as ns since the Unix epoch, or `None` when it is not an RFC 3339 date-time.
pub fn parse_rfc3339(s: &str) -> Option<TimestampNs> {
    parse_rfc3339_with(s, &mut DateCache::default())
}

/// The date and time of day (the first 19 bytes) of the last string [`parse_rfc3339_with`]
/// parsed, as seconds: consecutive events mostly share them, so only the fraction and offset
/// are read again.
#[derive(Clone, Copy, Debug, Default)]
pub struct DateCache {
    prefix: Option<([u8; 19], i64)>,
}

/// [`parse_rfc3339`], reusing `cache` when `s` has the same first 19 bytes (same answers).
pub fn parse_rfc3339_with(s: &str, cache: &mut DateCache) -> Option<TimestampNs> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let prefix: [u8; 19] = b[..19].try_into().ok()?;
    let local_secs = match cache.prefix {
        Some((cached, secs)) if cached == prefix => secs,
        _ => {
            let secs = date_time_secs(&prefix)?;
            cache.prefix = Some((prefix, secs));
            secs
        }
    };
    with_fraction_and_offset(b, local_secs)
}

/// `YYYY-MM-DDTHH:MM:SS` as seconds since the Unix epoch (before any offset).
fn date_time_secs(b: &[u8; 19]) -> Option<i64> {
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    // 60 is a leap second; like Elasticsearch's parser we do not accept it.
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// The rest of `b` after its first 19 bytes (`local_secs`): fraction, then `Z` or an offset.
fn with_fraction_and_offset(b: &[u8], local_secs: i64) -> Option<TimestampNs> {
    let mut i = 19;
    let mut nanos: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start >= 9 {
                return None;
            }
            nanos = nanos * 10 + i64::from(b[i] - b'0');
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset_secs: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (digits(b, i + 1, 2)?, digits(b, i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let secs = local_secs - offset_secs;
    let total = i128::from(secs) * NANOS_PER_SEC + i128::from(nanos);
    TimestampNs::try_from(total).ok()
}

/// `len` ASCII digits at `at` as a number.
fn digits(b: &[u8], at: usize, len: usize) -> Option<i64> {
    let mut n = 0i64;
    for &c in b.get(at..at + len)? {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(n)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `days_from_civil`: proleptic Gregorian date to days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::time::rfc3339_nanos;

    #[test]
    fn round_trips_what_the_sensor_writes() {
        for ts in [0, 1, 1_700_000_000_123_456_789, -1, i64::MAX, i64::MIN] {
            assert_eq!(parse_rfc3339(&rfc3339_nanos(ts)), Some(ts), "{ts}");
        }
    }

    #[test]
    fn fractions_of_any_length_and_offsets() {
        let base = 1_700_000_000 * 1_000_000_000;
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(base));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.1Z"),
            Some(base + 100_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123Z"),
            Some(base + 123_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14 22:13:20.000000001z"),
            Some(base + 1)
        );
        assert_eq!(parse_rfc3339("2023-11-15T00:13:20+02:00"), Some(base));
        assert_eq!(
            parse_rfc3339("2023-11-14T21:43:20.5-00:30"),
            Some(base + 500_000_000)
        );
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20.1234567890Z",
            "2023-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:13:60Z",
            "2023-11-14T22:13:20+0200",
            "2023-11-14T22:13:20Zjunk",
            "1700000000000",
            "2262-04-12T00:00:00Z",
            "２023-11-14T22:13:20Z",
            "2023/11-14T22:13:20Z",
            "2023-11/14T22:13:20Z",
            "2023-11-14X22:13:20Z",
            "2023-11-14T22-13:20Z",
            "2023-11-14T22:13-20Z",
            "2023-11-14T22:13:20.123",
            "2023-11-14T22:13:20+02000",
            "2023-11-14T22:13:20+24:00",
            "2023-11-14T22:13:20+00:60",
            "2023-00-01T00:00:00Z",
            "2023-11-00T00:00:00Z",
            "2023-04-31T00:00:00Z",
            "2023-11-14T22:60:00Z",
            "1900-02-29T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
    }

    /// The edges of what is accepted, with their exact values: leap days (every fourth year,
    /// not every hundredth, every four hundredth), the last second of a day and of a year, the
    /// largest offsets.
    #[test]
    fn the_edges_have_their_exact_values() {
        let s = 1_000_000_000;
        for (text, secs) in [
            ("2024-02-29T00:00:00Z", 1_709_164_800),
            ("2000-02-29T12:00:00Z", 951_825_600),
            ("2000-03-01T00:00:00Z", 951_868_800),
            ("1900-03-01T00:00:00Z", -2_203_891_200),
            ("2023-12-31T23:59:59Z", 1_704_067_199),
            (
                "2023-12-31T23:59:59+23:59",
                1_704_067_199 - 23 * 3600 - 59 * 60,
            ),
            (
                "2023-12-31T23:59:59-23:59",
                1_704_067_199 + 23 * 3600 + 59 * 60,
            ),
        ] {
            assert_eq!(parse_rfc3339(text), Some(secs * s), "{text}");
        }
    }

    /// One cache across many strings gives each its own answer: reused only for the same date
    /// and time of day.
    #[test]
    fn the_date_cache_gives_the_same_answers() {
        let mut cache = DateCache::default();
        let base = 1_700_000_000 * 1_000_000_000;
        for (s, want) in [
            ("2023-11-14T22:13:20Z", Some(base)),
            ("2023-11-14T22:13:20.5Z", Some(base + 500_000_000)),
            ("2023-11-15T22:13:20Z", Some(base + 86_400 * 1_000_000_000)),
            ("2023-11-15T22:13:2xZ", None),
            ("2023-11-14T22:13:21+00:00", Some(base + 1_000_000_000)),
        ] {
            assert_eq!(parse_rfc3339_with(s, &mut cache), want, "{s}");
        }
    }
}
