//! The date functions' calendar arithmetic (UTC, proleptic Gregorian).

use chrono::{DateTime, Datelike, Timelike};

/// Which field a date function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateField {
    DayOfMonth,
    DayOfWeek,
    DayOfYear,
    DaysInMonth,
    Hour,
    Minute,
    Month,
    Year,
}

impl DateField {
    /// The field of the date function `name`, if it is one.
    pub(crate) fn of(name: &str) -> Option<DateField> {
        Some(match name {
            "day_of_month" => DateField::DayOfMonth,
            "day_of_week" => DateField::DayOfWeek,
            "day_of_year" => DateField::DayOfYear,
            "days_in_month" => DateField::DaysInMonth,
            "hour" => DateField::Hour,
            "minute" => DateField::Minute,
            "month" => DateField::Month,
            "year" => DateField::Year,
            _ => return None,
        })
    }
}

/// Converts a sample value (Unix seconds) to whole seconds as Go's `int64(v)` does on amd64:
/// truncation towards zero, and the "integer indefinite" value `i64::MIN` for NaN and values
/// out of range (where Rust's `as` would saturate).
pub(crate) fn go_f64_to_i64(v: f64) -> i64 {
    // 2^63 as f64 (exact).
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&v) {
        v as i64
    } else {
        i64::MIN
    }
}

/// `field` of the instant `secs` (Unix seconds).
pub(crate) fn date_field(secs: i64, field: DateField) -> f64 {
    let Some(t) = DateTime::from_timestamp(secs, 0) else {
        // Beyond chrono's years (only from absurd sample values, NaN among them): follow Go.
        return go_date_field(secs, field);
    };
    let v = match field {
        DateField::DayOfMonth => t.day() as i64,
        DateField::DayOfWeek => t.weekday().num_days_from_sunday() as i64,
        DateField::DayOfYear => t.ordinal() as i64,
        DateField::DaysInMonth => days_in_month(t.year() as i64, t.month() as i64),
        DateField::Hour => t.hour() as i64,
        DateField::Minute => t.minute() as i64,
        DateField::Month => t.month() as i64,
        DateField::Year => t.year() as i64,
    };
    v as f64
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

const SECS_PER_DAY: u64 = 86_400;
const DAYS_PER_400_YEARS: u64 = 365 * 400 + 97;
const DAYS_PER_100_YEARS: u64 = 365 * 100 + 24;
const DAYS_PER_4_YEARS: u64 = 365 * 4 + 1;
/// Go's calendar counts from this year (its "absolute" epoch).
const ABSOLUTE_ZERO_YEAR: i64 = -292_277_022_399;
/// Seconds from Go's absolute epoch to the Unix epoch.
const UNIX_TO_ABSOLUTE: i64 = 62_135_596_800 + 9_223_371_966_579_724_800;

/// Go's `time.Unix(secs, 0).UTC()` fields, with its wrapping 64-bit arithmetic, for instants
/// chrono cannot represent.
fn go_date_field(secs: i64, field: DateField) -> f64 {
    let abs = secs.wrapping_add(UNIX_TO_ABSOLUTE) as u64;
    let v = match field {
        DateField::Hour => ((abs % SECS_PER_DAY) / 3600) as i64,
        DateField::Minute => ((abs % 3600) / 60) as i64,
        // Go's absolute epoch fell on a Monday.
        DateField::DayOfWeek => {
            ((abs.wrapping_add(SECS_PER_DAY) % (7 * SECS_PER_DAY)) / SECS_PER_DAY) as i64
        }
        _ => {
            let (year, yday) = go_abs_year(abs);
            let (month, day) = month_day(year, yday);
            match field {
                DateField::Year => year,
                DateField::DayOfYear => yday + 1,
                DateField::Month => month,
                DateField::DayOfMonth => day,
                _ => days_in_month(year, month),
            }
        }
    };
    v as f64
}

/// Year and zero-based day of year of Go's absolute time `abs`.
fn go_abs_year(abs: u64) -> (i64, i64) {
    let mut d = abs / SECS_PER_DAY;
    let mut n = d / DAYS_PER_400_YEARS;
    let mut y = 400 * n;
    d -= DAYS_PER_400_YEARS * n;
    n = d / DAYS_PER_100_YEARS;
    n -= n >> 2;
    y += 100 * n;
    d -= DAYS_PER_100_YEARS * n;
    n = d / DAYS_PER_4_YEARS;
    y += 4 * n;
    d -= DAYS_PER_4_YEARS * n;
    n = d / 365;
    n -= n >> 2;
    y += n;
    d -= 365 * n;
    ((y as i64).wrapping_add(ABSOLUTE_ZERO_YEAR), d as i64)
}

/// Month (1-12) and day of month of the zero-based day `yday` of `year`.
fn month_day(year: i64, yday: i64) -> (i64, i64) {
    let mut day = yday;
    let mut month = 1;
    while day >= days_in_month(year, month) && month < 12 {
        day -= days_in_month(year, month);
        month += 1;
    }
    (month, day + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Go-style fallback agrees with chrono wherever both apply.
    #[test]
    fn go_fallback_matches_chrono() {
        let fields = [
            DateField::DayOfMonth,
            DateField::DayOfWeek,
            DateField::DayOfYear,
            DateField::DaysInMonth,
            DateField::Hour,
            DateField::Minute,
            DateField::Month,
            DateField::Year,
        ];
        let mut secs = -80_000_000_000i64;
        while secs < 80_000_000_000 {
            for f in fields {
                assert_eq!(go_date_field(secs, f), date_field(secs, f), "{secs} {f:?}");
            }
            secs += 7_777_777;
        }
        // 2024-02-29 23:59:59 UTC.
        for (f, want) in [(DateField::DayOfMonth, 29.0), (DateField::DayOfYear, 60.0)] {
            assert_eq!(go_date_field(1_709_251_199, f), want);
        }
    }

    #[test]
    fn go_conversion_of_nan_and_infinities() {
        assert_eq!(go_f64_to_i64(f64::NAN), i64::MIN);
        assert_eq!(go_f64_to_i64(f64::INFINITY), i64::MIN);
        assert_eq!(go_f64_to_i64(-1.9), -1);
        // Far outside chrono's range the fallback still answers.
        assert!(date_field(i64::MIN, DateField::Year).is_finite());
    }
}
