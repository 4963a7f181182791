//! Exact money: an integer count of nano-units (10^-9) of a currency.
//!
//! Costs are worked out in `Decimal` and rounded once, half-even, to nanos; from then on every
//! total is a sum of stored integers. On the wire money is a decimal string with nine places.

use std::fmt;
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Nano-units per whole unit of a currency.
pub const NANOS_PER_UNIT: i64 = 1_000_000_000;

/// An amount of money in nano-units of some currency.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Nanos(pub i64);

/// Why an amount could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a decimal number.
    #[error("'{0}' is not a decimal number")]
    NotDecimal(String),
    /// More than nine decimal places.
    #[error("'{0}' has more than 9 decimal places")]
    TooPrecise(String),
    /// Outside what an amount can hold.
    #[error("'{0}' is out of range")]
    OutOfRange(String),
    /// NaN or infinite.
    #[error("the amount is not a finite number")]
    NotFinite,
}

impl Nanos {
    /// Zero.
    pub const ZERO: Nanos = Nanos(0);

    /// Rounds an exact amount, half-even, to nanos.
    pub fn from_decimal_rounded(amount: Decimal) -> Result<Nanos, MoneyError> {
        let scaled = amount
            .checked_mul(Decimal::from(NANOS_PER_UNIT))
            .ok_or_else(|| MoneyError::OutOfRange(amount.to_string()))?
            .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven);
        scaled
            .to_i64()
            .map(Nanos)
            .ok_or_else(|| MoneyError::OutOfRange(amount.to_string()))
    }

    /// Reads a decimal string exactly; more than nine places is an error, not a rounding.
    pub fn parse_exact(text: &str) -> Result<Nanos, MoneyError> {
        let trimmed = text.trim();
        let amount = Decimal::from_str(trimmed)
            .or_else(|_| Decimal::from_scientific(trimmed))
            .map_err(|_| MoneyError::NotDecimal(text.to_string()))?;
        if amount.normalize().scale() > 9 {
            return Err(MoneyError::TooPrecise(text.to_string()));
        }
        Self::from_decimal_rounded(amount)
    }

    /// Takes a float from a client (llmring sends `cost` as a JSON number), through its
    /// shortest decimal form, rounded half-even to nanos.
    pub fn from_f64(value: f64) -> Result<Nanos, MoneyError> {
        if !value.is_finite() {
            return Err(MoneyError::NotFinite);
        }
        let text = format!("{value}");
        let amount = Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| MoneyError::OutOfRange(text.clone()))?;
        Self::from_decimal_rounded(amount)
    }

    /// The exact amount as a `Decimal`.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 9)
    }

    /// The nearest float, for wire fields the llmring contract types as numbers: the float
    /// the exact decimal text parses to.
    pub fn to_f64(self) -> f64 {
        tollgate_receipts::receipt::float(self.0)
    }

    /// Adds, failing on overflow instead of wrapping.
    pub fn checked_add(self, other: Nanos) -> Option<Nanos> {
        self.0.checked_add(other.0).map(Nanos)
    }
}

impl fmt::Display for Nanos {
    /// Nine decimal places, always: `0.000022500`, `-1.500000000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let per = NANOS_PER_UNIT as u64;
        write!(f, "{sign}{}.{:09}", abs / per, abs % per)
    }
}

/// An ISO 4217 currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    /// US dollars, the price book's default currency.
    pub fn usd() -> Currency {
        Currency("USD".to_string())
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = String;

    fn try_from(code: String) -> Result<Self, Self::Error> {
        let upper = code.trim().to_ascii_uppercase();
        if upper.len() == 3 && upper.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency(upper))
        } else {
            Err(format!(
                "'{code}' is not an ISO 4217 currency code (three letters, like USD)"
            ))
        }
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_print_with_nine_places() {
        assert_eq!(Nanos(22_500).to_string(), "0.000022500");
        assert_eq!(Nanos(-1_500_000_000).to_string(), "-1.500000000");
        assert_eq!(Nanos(0).to_string(), "0.000000000");
    }

    #[test]
    fn rounding_is_half_even_at_the_nano() {
        let half = Decimal::from_str("0.0000000025").expect("decimal");
        assert_eq!(Nanos::from_decimal_rounded(half).expect("fits"), Nanos(2));
        let half_up = Decimal::from_str("0.0000000035").expect("decimal");
        assert_eq!(
            Nanos::from_decimal_rounded(half_up).expect("fits"),
            Nanos(4)
        );
    }

    #[test]
    fn exact_parsing_refuses_a_tenth_decimal_place() {
        assert_eq!(
            Nanos::parse_exact("10.5").expect("ok"),
            Nanos(10_500_000_000)
        );
        assert!(matches!(
            Nanos::parse_exact("0.0000000001"),
            Err(MoneyError::TooPrecise(_))
        ));
        assert!(matches!(
            Nanos::parse_exact("ten"),
            Err(MoneyError::NotDecimal(_))
        ));
    }

    #[test]
    fn client_floats_go_through_their_shortest_decimal_form() {
        assert_eq!(Nanos::from_f64(0.0001).expect("ok"), Nanos(100_000));
        assert_eq!(Nanos::from_f64(1.5e-7).expect("ok"), Nanos(150));
        assert!(Nanos::from_f64(f64::NAN).is_err());
        assert!(Nanos::from_f64(1e300).is_err());
    }

    #[test]
    fn currency_codes_are_three_letters() {
        assert_eq!(
            Currency::try_from("uah".to_string()).expect("ok").as_str(),
            "UAH"
        );
        assert!(Currency::try_from("US".to_string()).is_err());
        assert!(Currency::try_from("U$D".to_string()).is_err());
    }

    proptest! {
        #[test]
        fn receipts_print_and_round_amounts_as_nanos_do(n in any::<i64>()) {
            // The receipt builder works below this crate, on bare nanos.
            prop_assert_eq!(tollgate_receipts::receipt::decimal(n), Nanos(n).to_string());
            let parsed: f64 = Nanos(n).to_string().parse().expect("a decimal");
            prop_assert_eq!(Nanos(n).to_f64().to_bits(), parsed.to_bits());
        }

        #[test]
        fn display_and_exact_parse_round_trip(n in any::<i64>()) {
            prop_assert_eq!(Nanos::parse_exact(&Nanos(n).to_string()).expect("parses"), Nanos(n));
        }
    }
}
