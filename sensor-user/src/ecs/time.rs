//! RFC 3339 timestamps for ECS `date` fields. Owns one conversion: nanoseconds since the Unix
//! epoch (UTC) to `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, always with nine fractional digits so the
//! kernel's nanosecond precision survives (Elasticsearch `date_nanos` keeps it; `date` parses
//! it and keeps milliseconds). Times before 1970 are valid instants and are formatted as such;
//! every `i64` nanosecond value (years 1677 to 2262) has a four-digit year, so there is no
//! error case.

use crate::event::TimestampNs;

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// `ts` (ns since the Unix epoch, UTC) as RFC 3339 with nanoseconds and a `Z` offset.
pub fn rfc3339_nanos(ts: TimestampNs) -> String {
    let secs = ts.div_euclid(NANOS_PER_SEC);
    let nanos = ts.rem_euclid(NANOS_PER_SEC);
    let days = secs.div_euclid(SECS_PER_DAY);
    let sec_of_day = secs.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sec_of_day / 3600,
        (sec_of_day % 3600) / 60,
        sec_of_day % 60,
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day): Howard Hinnant's
/// `civil_from_days`, exact for every `i64` day count this module can produce.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn nanosecond_digits_are_kept_and_zero_padded() {
        assert_eq!(rfc3339_nanos(1), "1970-01-01T00:00:00.000000001Z");
        assert_eq!(rfc3339_nanos(123_456_789), "1970-01-01T00:00:00.123456789Z");
        assert_eq!(
            rfc3339_nanos(1_700_000_000 * NANOS_PER_SEC + 10),
            "2023-11-14T22:13:20.000000010Z"
        );
    }

    #[test]
    fn leap_day_2024() {
        // 2024-02-29T12:34:56.5Z = 1709210096.5 s
        assert_eq!(
            rfc3339_nanos(1_709_210_096 * NANOS_PER_SEC + 500_000_000),
            "2024-02-29T12:34:56.500000000Z"
        );
        // The last nanosecond of the leap day, and the day after it.
        assert_eq!(
            rfc3339_nanos(1_709_251_200 * NANOS_PER_SEC - 1),
            "2024-02-29T23:59:59.999999999Z"
        );
        assert_eq!(
            rfc3339_nanos(1_709_251_200 * NANOS_PER_SEC),
            "2024-03-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn century_rules() {
        // 2000 is a leap year (divisible by 400), 2100 is not.
        assert_eq!(
            rfc3339_nanos(951_782_400 * NANOS_PER_SEC),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(
            rfc3339_nanos(4_107_542_400 * NANOS_PER_SEC),
            "2100-03-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn negative_timestamps_are_instants_before_the_epoch() {
        assert_eq!(rfc3339_nanos(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            rfc3339_nanos(-NANOS_PER_SEC),
            "1969-12-31T23:59:59.000000000Z"
        );
        assert_eq!(
            rfc3339_nanos(-SECS_PER_DAY * NANOS_PER_SEC * 365),
            "1969-01-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn extremes_of_i64_have_four_digit_years() {
        assert_eq!(rfc3339_nanos(i64::MAX), "2262-04-11T23:47:16.854775807Z");
        assert_eq!(rfc3339_nanos(i64::MIN), "1677-09-21T00:12:43.145224192Z");
    }

    #[test]
    fn every_day_of_a_four_century_cycle_round_trips() {
        // days_from_civil, the inverse, written independently: checks civil_from_days over
        // 1970..2370 (146097 days) without trusting it.
        fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
            let y = if m <= 2 { y - 1 } else { y };
            let era = y.div_euclid(400);
            let yoe = y.rem_euclid(400);
            let mp = (m + 9) % 12;
            let doy = (153 * mp + 2) / 5 + d - 1;
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
            era * 146_097 + doe - 719_468
        }
        for days in 0..146_097 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }
}
