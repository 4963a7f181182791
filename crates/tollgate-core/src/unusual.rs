//! The unusual-spend rule, as a pure decision: is this hour's spend out of line with the
//! account's recent habit?
//!
//! An hour is unusual when its spend is at least the floor and more than `multiple` times the
//! average hourly spend of the window before it. The average counts every hour of the window,
//! idle ones too, so a user who spends in one burst a day has a low average and a burst twice
//! as large as usual still stands out. The comparison is exact (no division): `spent × hours >
//! multiple × window_total`.

use rust_decimal::Decimal;

/// Whether `spent` (this hour, nanos) is unusual against `window_total` (nanos spent over
/// `window_hours` hours before it), for `multiple` and the floor `min_amount` (nanos).
pub fn is_unusual(
    spent: i64,
    window_total: i64,
    window_hours: i64,
    multiple: Decimal,
    min_amount: i64,
) -> bool {
    if spent <= 0 || spent < min_amount || window_hours <= 0 {
        return false;
    }
    let lhs = Decimal::from(spent).checked_mul(Decimal::from(window_hours));
    let rhs = multiple.checked_mul(Decimal::from(window_total.max(0)));
    match (lhs, rhs) {
        (Some(l), Some(r)) => l > r,
        // Out of Decimal's range: only an absurd multiple gets here; treat it as never.
        _ => false,
    }
}

/// The average hourly spend of the window, rounded half-even to whole nanos (for people).
pub fn hourly_average(window_total: i64, window_hours: i64) -> i64 {
    if window_hours <= 0 {
        return 0;
    }
    let avg = (Decimal::from(window_total) / Decimal::from(window_hours))
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointNearestEven);
    i64::try_from(avg).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOURS: i64 = 7 * 24;

    #[test]
    fn a_burst_past_the_multiple_of_a_steady_average_is_unusual() {
        // 1 an hour for a week: an average of 1.
        let week = HOURS * 1_000;
        assert!(
            !is_unusual(5_000, week, HOURS, Decimal::from(5), 0),
            "5× is not more than 5×"
        );
        assert!(is_unusual(5_001, week, HOURS, Decimal::from(5), 0));
    }

    #[test]
    fn spend_under_the_floor_never_fires_even_without_history() {
        assert!(!is_unusual(999, 0, HOURS, Decimal::from(5), 1_000));
        assert!(is_unusual(1_000, 0, HOURS, Decimal::from(5), 1_000));
        assert!(!is_unusual(0, 0, HOURS, Decimal::from(5), 0));
    }

    #[test]
    fn a_fractional_multiple_is_compared_exactly() {
        let m: Decimal = "2.5".parse().expect("decimal");
        // Average 2 an hour: 5 is not more than 2.5×2, 6 is.
        assert!(!is_unusual(5, 2 * HOURS, HOURS, m, 0));
        assert!(is_unusual(6, 2 * HOURS, HOURS, m, 0));
        assert_eq!(hourly_average(2 * HOURS, HOURS), 2);
    }
}
