//! Time: UTC microseconds since the Unix epoch, RFC 3339 with `Z` on the wire.
//!
//! Storage keeps instants as `i64` microseconds so that both engines sort, bucket and compare
//! them the same way. Inputs without an offset are UTC; a date alone is the start of that day,
//! or its last microsecond when it ends a range.

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Timelike, Utc,
};

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;

/// Why a time could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a date or time (use RFC 3339, like 2026-01-31T12:00:00Z, or a date, like 2026-01-31)")]
pub struct TimeError(pub String);

/// Which end of a range a date-only input marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateEdge {
    /// A date alone means 00:00:00 of that day.
    Start,
    /// A date alone means the last microsecond of that day.
    End,
}

/// Now, in microseconds.
pub fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

/// Reads an instant: RFC 3339 with any offset, a naive date-time (UTC), or a date alone.
pub fn parse_instant(text: &str, edge: DateEdge) -> Result<i64, TimeError> {
    let t = text.trim();
    let err = || TimeError(text.to_string());
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc).timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(naive.and_utc().timestamp_micros());
        }
    }
    let date = NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| err())?;
    let start = date.and_time(NaiveTime::MIN).and_utc().timestamp_micros();
    Ok(match edge {
        DateEdge::Start => start,
        DateEdge::End => start + DAY_US - 1,
    })
}

/// RFC 3339, microseconds, `Z`: `2026-01-31T12:00:00.000000Z`.
pub fn format_us(us: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default();
    let (date, time) = (t.date_naive(), t.time());
    // As chrono's RFC 3339 writer has it, without going through its formatting items for each
    // of the many instants an ingest writes; years outside 0-9999 (with a sign) are left to it.
    if !(0..=9999).contains(&date.year()) {
        return t.to_rfc3339_opts(SecondsFormat::Micros, true);
    }
    let mut out = String::with_capacity(27);
    let mut digits = |n: u32, width: usize, then: char| {
        let mut buf = [b'0'; 6];
        let mut n = n;
        for b in buf[..width].iter_mut().rev() {
            *b += (n % 10) as u8;
            n /= 10;
        }
        buf[..width].iter().for_each(|&b| out.push(char::from(b)));
        out.push(then);
    };
    digits(date.year().unsigned_abs(), 4, '-');
    digits(date.month(), 2, '-');
    digits(date.day(), 2, 'T');
    digits(time.hour(), 2, ':');
    digits(time.minute(), 2, ':');
    digits(time.second(), 2, '.');
    digits(time.nanosecond() / 1_000, 6, 'Z');
    out
}

/// The UTC day of an instant, as days since 1970-01-01.
pub fn day_of(us: i64) -> i64 {
    us.div_euclid(DAY_US)
}

/// The first microsecond of a day.
pub fn day_start_us(day: i64) -> i64 {
    day * DAY_US
}

/// `YYYY-MM-DD` of a day number.
pub fn day_string(day: i64) -> String {
    let date = DateTime::<Utc>::from_timestamp_micros(day_start_us(day))
        .unwrap_or_default()
        .date_naive();
    // As `%Y-%m-%d` writes it (which years outside 0-9999 need, with their sign), without
    // parsing the format for each of the many days an ingest names.
    if (0..=9999).contains(&date.year()) {
        format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
    } else {
        date.format("%Y-%m-%d").to_string()
    }
}

/// The UTC calendar month of an instant as `yyyymm` (202611).
pub fn month_of(us: i64) -> i64 {
    let dt = DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default();
    i64::from(dt.year()) * 100 + i64::from(dt.month())
}

/// `YYYY-MM` of a `yyyymm` month key.
pub fn month_string(month: i64) -> String {
    format!("{:04}-{:02}", month / 100, month % 100)
}

/// The first microsecond of a `yyyymm` month (0 for a month that does not exist).
pub fn month_start_us(month: i64) -> i64 {
    let (year, m) = (month / 100, month % 100);
    i32::try_from(year)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, u32::try_from(m).ok()?, 1))
        .map(|d| d.and_time(NaiveTime::MIN).and_utc().timestamp_micros())
        .unwrap_or_default()
}

/// The `yyyymm` month after `month`.
pub fn next_month(month: i64) -> i64 {
    if month % 100 == 12 {
        (month / 100 + 1) * 100 + 1
    } else {
        month + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_starts_at_its_first_utc_midnight_and_december_is_followed_by_january() {
        let jan = parse_instant("2026-01-01T00:00:00Z", DateEdge::Start).expect("ok");
        assert_eq!(month_start_us(202601), jan);
        assert_eq!(month_of(month_start_us(202603) - 1), 202602);
        assert_eq!(next_month(202512), 202601);
        assert_eq!(next_month(202601), 202602);
        assert_eq!(month_start_us(202613), 0, "a month that does not exist");
    }

    #[test]
    fn offsets_naive_times_and_dates_all_read_as_utc() {
        let z = parse_instant("2026-01-31T12:00:00Z", DateEdge::Start).expect("ok");
        assert_eq!(
            parse_instant("2026-01-31T14:00:00+02:00", DateEdge::Start),
            Ok(z)
        );
        assert_eq!(parse_instant("2026-01-31T12:00:00", DateEdge::Start), Ok(z));
        assert_eq!(
            parse_instant("2026-01-31 12:00:00.000", DateEdge::Start),
            Ok(z)
        );
        let day = parse_instant("2026-01-31", DateEdge::Start).expect("ok");
        assert_eq!(
            parse_instant("2026-01-31", DateEdge::End),
            Ok(day + DAY_US - 1)
        );
        assert!(parse_instant("yesterday", DateEdge::Start).is_err());
        assert!(parse_instant("2026-02-30", DateEdge::Start).is_err());
    }

    #[test]
    fn formatting_uses_microseconds_and_z() {
        let us = parse_instant("2026-01-31T12:00:00.5Z", DateEdge::Start).expect("ok");
        assert_eq!(format_us(us), "2026-01-31T12:00:00.500000Z");
        assert_eq!(day_string(day_of(us)), "2026-01-31");
        assert_eq!(month_of(us), 202601);
        assert_eq!(month_string(202601), "2026-01");
    }

    #[test]
    fn instants_before_1970_fall_on_the_right_day() {
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_string(-1), "1969-12-31");
    }

    #[test]
    fn days_outside_years_0_to_9999_are_written_with_their_sign() {
        assert_eq!(day_string(0), "1970-01-01");
        assert_eq!(day_string(-719_528), "0000-01-01");
        assert_eq!(day_string(-719_529), "-0001-12-31");
        assert_eq!(day_string(day_of(253_402_300_800_000_000)), "+10000-01-01");
    }

    fn chrono_rfc3339(us: i64) -> String {
        DateTime::<Utc>::from_timestamp_micros(us)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    #[test]
    fn instants_are_written_as_chrono_writes_rfc_3339_at_the_edges_too() {
        for us in [
            0,
            -1,
            1_765_000_000_123_456,
            -62_167_219_200_000_000, // 0000-01-01
            -62_167_219_200_000_001,
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
            253_402_300_800_000_000,
            i64::MIN,
            i64::MAX,
        ] {
            assert_eq!(format_us(us), chrono_rfc3339(us), "{us}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_instant_is_written_as_chrono_writes_rfc_3339(us in proptest::prelude::any::<i64>()) {
            proptest::prop_assert_eq!(format_us(us), chrono_rfc3339(us));
        }

        #[test]
        fn instants_of_years_0_to_9999_are_written_as_chrono_writes_them(
            us in -62_167_219_200_000_000i64..253_402_300_800_000_000
        ) {
            proptest::prop_assert_eq!(format_us(us), chrono_rfc3339(us));
        }
    }
}
