//! The billing rules, as pure functions over the state the store reads under lock: whether a
//! call may happen (quota, account, limits, balance), what a hold reserves and gives back,
//! what a charge does to an account, and which alert thresholds a change of spend or balance
//! crosses.
//!
//! The store locks the rows, reads them into these types, calls these functions and writes
//! what they decide; it decides nothing itself. So the same rules hold on every engine and can
//! be tested without a database.

use crate::{Currency, Nanos};

/// The percentages of a tenant's monthly request quota that raise `quota.threshold`.
pub const QUOTA_THRESHOLDS: [i64; 2] = [80, 100];
/// The percentages of an account's spending limits that raise `limit.threshold`.
pub const LIMIT_THRESHOLDS: [i64; 3] = [75, 90, 100];

/// Why `authorize` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The tenant's plan quota for the month is used up.
    QuotaExceeded,
    /// The account is not active.
    AccountDisabled,
    /// The day's spend plus holds plus the estimate would pass the daily limit.
    DailyLimitExceeded,
    /// The month's spend plus holds plus the estimate would pass the monthly limit.
    MonthlyLimitExceeded,
    /// The balance less open holds does not cover the estimate.
    InsufficientBalance,
    /// A requests- or tokens-per-minute limit of the key, the user or the client IP would be
    /// passed (the decision's rate states say which, and when to retry).
    RateLimited,
}

/// The tenant's quota as a decision saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaState {
    /// Plan name.
    pub plan: String,
    /// Monthly requests allowed (None: unlimited).
    pub limit: Option<i64>,
    /// Requests recorded this month.
    pub used: i64,
    /// Requests open holds reserve.
    pub reserved: i64,
    /// The month (yyyymm, UTC).
    pub month: i64,
}

/// An account as a decision saw it (after the decision's own hold, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    /// User.
    pub user_id: String,
    /// Active.
    pub is_active: bool,
    /// Balance enforced.
    pub billing_enabled: bool,
    /// Currency of the balance below.
    pub currency: Currency,
    /// Balance.
    pub balance: Nanos,
    /// Open holds.
    pub held: Nanos,
    /// Currency of the limits.
    pub limit_currency: Currency,
    /// Daily limit.
    pub daily_limit: Option<Nanos>,
    /// Spent today plus the open holds (which count against both limits until settled).
    pub daily_used: Nanos,
    /// Monthly limit.
    pub monthly_limit: Option<Nanos>,
    /// Spent this month plus the open holds.
    pub monthly_used: Nanos,
    /// How far below zero an admin lets the balance go before calls are refused.
    pub overdraft: Nanos,
    /// Until when an admin lifted the daily and monthly limits (and the user's rate limits).
    pub exempt_until_us: Option<i64>,
}

impl AccountState {
    /// Whether an admin's exemption from limits holds at `now`.
    pub fn exempt_at(&self, now: i64) -> bool {
        self.exempt_until_us.is_some_and(|until| until > now)
    }
}

/// Whether `used + more` passes `limit`.
fn over(limit: Option<Nanos>, used: Nanos, more: Nanos) -> bool {
    limit.is_some_and(|l| used.0.saturating_add(more.0) > l.0)
}

/// Whether a call estimated at `estimate` in `currency` may happen, and if not why, checked in
/// this order: the account is active, the tenant's quota has room (used plus reserved below
/// the limit), the call stays within the daily and then the monthly limit (when the limits
/// are in the call's currency, and the account is not exempt at `now`), and the balance less
/// open holds, plus any overdraft an admin allowed, covers it (when the balance is enforced).
/// Without an account only the quota counts.
pub fn decide(
    quota: &QuotaState,
    account: Option<&AccountState>,
    estimate: Nanos,
    currency: &Currency,
    now: i64,
) -> Option<Refusal> {
    if account.is_some_and(|a| !a.is_active) {
        return Some(Refusal::AccountDisabled);
    }
    if quota
        .limit
        .is_some_and(|l| quota.used.saturating_add(quota.reserved) >= l)
    {
        return Some(Refusal::QuotaExceeded);
    }
    let a = account?;
    if a.limit_currency == *currency && !a.exempt_at(now) {
        if over(a.daily_limit, a.daily_used, estimate) {
            return Some(Refusal::DailyLimitExceeded);
        }
        if over(a.monthly_limit, a.monthly_used, estimate) {
            return Some(Refusal::MonthlyLimitExceeded);
        }
    }
    if a.billing_enabled {
        let available = a
            .balance
            .0
            .saturating_sub(a.held.0)
            .saturating_add(a.overdraft.0);
        if available <= 0 || available < estimate.0 {
            return Some(Refusal::InsufficientBalance);
        }
    }
    None
}

/// What an allowed hold reserves: one request of the quota and, on the account, the estimate
/// against its balance and (in the limits' currency) against both limits until it is settled
/// or released.
pub fn reserve(
    quota: &mut QuotaState,
    account: Option<&mut AccountState>,
    estimate: Nanos,
    currency: &Currency,
) {
    quota.reserved += 1;
    if let Some(a) = account {
        a.held = Nanos(a.held.0.saturating_add(estimate.0));
        if a.limit_currency == *currency {
            a.daily_used = Nanos(a.daily_used.0.saturating_add(estimate.0));
            a.monthly_used = Nanos(a.monthly_used.0.saturating_add(estimate.0));
        }
    }
}

/// Flags a charge's ledger entry carries: what the charge did past a limit or the balance.
/// A charge is never refused (the call already happened); these say so in the ledger.
pub mod ledger_flags {
    /// The charge took the day's spend over the daily limit.
    pub const OVER_DAILY_LIMIT: i64 = 1;
    /// The charge took the month's spend over the monthly limit.
    pub const OVER_MONTHLY_LIMIT: i64 = 2;
    /// The charge took the balance below zero.
    pub const NEGATIVE_BALANCE: i64 = 4;
}

/// An account's books as a charge sees them under lock, in nanos of the balance's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBooks {
    /// Whether the balance is enforced (and charged).
    pub billing_enabled: bool,
    /// The ISO 4217 code of the limits.
    pub limit_currency: String,
    /// Daily limit.
    pub daily_limit: Option<i64>,
    /// Monthly limit.
    pub monthly_limit: Option<i64>,
    /// Balance.
    pub balance: i64,
    /// Open holds.
    pub held: i64,
    /// Spent today in the limit currency, plus the open holds when the balance is in the
    /// limit currency.
    pub daily_used: i64,
    /// The same for this month.
    pub monthly_used: i64,
}

/// What charging a call did to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charged {
    /// [`ledger_flags`] of its ledger entry.
    pub flags: i64,
    /// The balance before, when the balance is enforced and so charged (then a ledger entry
    /// records it); None when it is not.
    pub balance_before: Option<i64>,
    /// Whether the cost counts against the limits (it is in their currency).
    pub against_limits: bool,
}

/// A total past the 64 bits of nanos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// The money an account still holds once a hold of `amount` closes alone (released or
/// expired, with no call to charge); None when the account holds less than the hold, books
/// out of step with their holds.
pub fn held_after_release(held: i64, amount: i64) -> Option<i64> {
    held.checked_sub(amount).filter(|h| *h >= 0)
}

impl AccountBooks {
    /// Whether the account has a daily or monthly limit: only then does charging it compare
    /// what it spent with anything, so only then need the spend be read.
    pub fn has_limit(&self) -> bool {
        self.daily_limit.is_some() || self.monthly_limit.is_some()
    }

    /// Gives back what a hold of `amount` in `currency` reserved on this account, as the hold
    /// closes (settled by its call, released or expired): its amount held, and its share of
    /// both limits when they are in its currency.
    pub fn release(&mut self, amount: i64, currency: &str) {
        self.held -= amount;
        if self.limit_currency == currency {
            self.daily_used -= amount;
            self.monthly_used -= amount;
        }
    }

    /// Charges a call's `cost` in `currency` (the balance's): it counts against both limits
    /// when they are in that currency, and comes off the balance when the balance is
    /// enforced. Passing a limit or the balance is flagged, never refused: the call happened.
    pub fn charge(&mut self, cost: i64, currency: &str) -> Result<Charged, Overflow> {
        let mut flags = 0;
        let against_limits = self.limit_currency == currency;
        if against_limits {
            self.daily_used = self.daily_used.checked_add(cost).ok_or(Overflow)?;
            self.monthly_used = self.monthly_used.checked_add(cost).ok_or(Overflow)?;
            if self.daily_limit.is_some_and(|l| self.daily_used > l) {
                flags |= ledger_flags::OVER_DAILY_LIMIT;
            }
            if self.monthly_limit.is_some_and(|l| self.monthly_used > l) {
                flags |= ledger_flags::OVER_MONTHLY_LIMIT;
            }
        }
        if !self.billing_enabled {
            return Ok(Charged {
                flags,
                balance_before: None,
                against_limits,
            });
        }
        let before = self.balance;
        self.balance = self.balance.checked_sub(cost).ok_or(Overflow)?;
        if self.balance < 0 {
            flags |= ledger_flags::NEGATIVE_BALANCE;
        }
        Ok(Charged {
            flags,
            balance_before: Some(before),
            against_limits,
        })
    }
}

/// The amount `percent`% of `limit` is, rounded up (reaching it means reaching the percent).
fn threshold(limit: i64, percent: i64) -> i64 {
    let t = (i128::from(limit) * i128::from(percent) + 99) / 100;
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// The percents of `limit` that a value going from `before` to `after` reached for the first
/// time: those whose amount is above `before` and at most `after`.
pub fn crossed(before: i64, after: i64, limit: i64, percents: &[i64]) -> Vec<i64> {
    if limit <= 0 || after <= before {
        return Vec::new();
    }
    percents
        .iter()
        .copied()
        .filter(|&p| {
            let t = threshold(limit, p);
            before < t && t <= after
        })
        .collect()
}

/// Whether a balance fell from at or above `low` to below it.
pub fn fell_below(before: i64, after: i64, low: i64) -> bool {
    before >= low && after < low
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::try_from("USD".to_string()).expect("a currency")
    }

    fn quota(limit: Option<i64>, used: i64, reserved: i64) -> QuotaState {
        QuotaState {
            plan: "pro".into(),
            limit,
            used,
            reserved,
            month: 202_601,
        }
    }

    fn account(balance: i64, held: i64) -> AccountState {
        AccountState {
            user_id: "u".into(),
            is_active: true,
            billing_enabled: true,
            currency: usd(),
            balance: Nanos(balance),
            held: Nanos(held),
            limit_currency: usd(),
            daily_limit: Some(Nanos(100)),
            daily_used: Nanos(0),
            monthly_limit: Some(Nanos(1_000)),
            monthly_used: Nanos(0),
            overdraft: Nanos(0),
            exempt_until_us: None,
        }
    }

    #[test]
    fn an_overdraft_lets_calls_through_until_the_balance_would_pass_it() {
        let mut a = account(10, 0);
        a.overdraft = Nanos(30);
        assert_eq!(
            decide(&quota(None, 0, 0), Some(&a), Nanos(40), &usd(), 0),
            None
        );
        assert_eq!(
            decide(&quota(None, 0, 0), Some(&a), Nanos(41), &usd(), 0),
            Some(Refusal::InsufficientBalance)
        );
        let mut below = account(-20, 0);
        below.overdraft = Nanos(30);
        assert_eq!(
            decide(&quota(None, 0, 0), Some(&below), Nanos(10), &usd(), 0),
            None
        );
        assert_eq!(
            decide(&quota(None, 0, 0), Some(&below), Nanos(11), &usd(), 0),
            Some(Refusal::InsufficientBalance)
        );
    }

    #[test]
    fn an_exemption_lifts_the_spending_limits_until_it_ends_but_not_the_balance() {
        let mut a = account(10_000, 0);
        a.daily_used = Nanos(100);
        a.exempt_until_us = Some(1_000);
        assert_eq!(
            decide(&quota(None, 0, 0), Some(&a), Nanos(50), &usd(), 999),
            None
        );
        assert_eq!(
            decide(&quota(None, 0, 0), Some(&a), Nanos(50), &usd(), 1_000),
            Some(Refusal::DailyLimitExceeded)
        );
        assert_eq!(
            decide(&quota(None, 0, 0), Some(&a), Nanos(10_001), &usd(), 999),
            Some(Refusal::InsufficientBalance)
        );
    }

    #[test]
    fn a_hold_closing_alone_gives_back_its_amount_and_never_more_than_is_held() {
        assert_eq!(held_after_release(500, 200), Some(300));
        assert_eq!(held_after_release(200, 200), Some(0));
        assert_eq!(held_after_release(100, 200), None);
        assert_eq!(held_after_release(i64::MIN, 1), None);
    }

    #[test]
    fn a_disabled_account_is_refused_before_anything_else() {
        let mut a = account(0, 0);
        a.is_active = false;
        let q = quota(Some(1), 1, 0);
        assert_eq!(
            decide(&q, Some(&a), Nanos(1), &usd(), 0),
            Some(Refusal::AccountDisabled)
        );
    }

    #[test]
    fn reserved_requests_count_against_the_quota_like_recorded_ones() {
        let a = account(1_000, 0);
        assert_eq!(
            decide(&quota(Some(3), 2, 0), Some(&a), Nanos(1), &usd(), 0),
            None
        );
        assert_eq!(
            decide(&quota(Some(3), 2, 1), Some(&a), Nanos(1), &usd(), 0),
            Some(Refusal::QuotaExceeded)
        );
        assert_eq!(decide(&quota(None, 9, 9), None, Nanos(1), &usd(), 0), None);
    }

    #[test]
    fn limits_bind_in_their_own_currency_only_and_a_limit_may_be_reached_exactly() {
        let mut a = account(1_000_000, 0);
        a.daily_used = Nanos(60);
        assert_eq!(
            decide(&quota(None, 0, 0), Some(&a), Nanos(40), &usd(), 0),
            None
        );
        assert_eq!(
            decide(&quota(None, 0, 0), Some(&a), Nanos(41), &usd(), 0),
            Some(Refusal::DailyLimitExceeded)
        );
        a.daily_used = Nanos(0);
        a.monthly_used = Nanos(990);
        assert_eq!(
            decide(&quota(None, 0, 0), Some(&a), Nanos(11), &usd(), 0),
            Some(Refusal::MonthlyLimitExceeded)
        );
        let eur = Currency::try_from("EUR".to_string()).expect("a currency");
        a.billing_enabled = false;
        assert_eq!(
            decide(&quota(None, 0, 0), Some(&a), Nanos(500), &eur, 0),
            None
        );
    }

    #[test]
    fn open_holds_are_not_available_to_spend() {
        let a = account(100, 60);
        assert_eq!(
            decide(&quota(None, 0, 0), Some(&a), Nanos(40), &usd(), 0),
            None
        );
        assert_eq!(
            decide(&quota(None, 0, 0), Some(&a), Nanos(41), &usd(), 0),
            Some(Refusal::InsufficientBalance)
        );
        let empty = account(60, 60);
        assert_eq!(
            decide(&quota(None, 0, 0), Some(&empty), Nanos(0), &usd(), 0),
            Some(Refusal::InsufficientBalance)
        );
    }

    #[test]
    fn a_hold_reserves_a_request_the_balance_and_both_limits() {
        let mut q = quota(Some(10), 0, 0);
        let mut a = account(100, 0);
        reserve(&mut q, Some(&mut a), Nanos(30), &usd());
        assert_eq!(q.reserved, 1);
        assert_eq!(
            (a.held, a.daily_used, a.monthly_used),
            (Nanos(30), Nanos(30), Nanos(30))
        );
        reserve(&mut q, Some(&mut a), Nanos(30), &usd());
        reserve(&mut q, Some(&mut a), Nanos(30), &usd());
        assert_eq!(
            decide(&q, Some(&a), Nanos(11), &usd(), 0),
            Some(Refusal::DailyLimitExceeded),
            "three holds of 30 leave 10 of the daily 100"
        );
    }

    fn books() -> AccountBooks {
        AccountBooks {
            billing_enabled: true,
            limit_currency: "USD".into(),
            daily_limit: Some(100),
            monthly_limit: Some(150),
            balance: 120,
            held: 30,
            daily_used: 30,
            monthly_used: 30,
        }
    }

    #[test]
    fn settling_a_hold_gives_back_its_reservation_before_the_call_is_charged() {
        let mut b = books();
        b.release(30, "USD");
        assert_eq!((b.held, b.daily_used, b.monthly_used), (0, 0, 0));
        let c = b.charge(25, "USD").expect("no overflow");
        assert_eq!(
            c,
            Charged {
                flags: 0,
                balance_before: Some(120),
                against_limits: true
            }
        );
        assert_eq!((b.balance, b.daily_used, b.monthly_used), (95, 25, 25));
    }

    #[test]
    fn a_charge_past_a_limit_or_the_balance_is_flagged_not_refused() {
        let mut b = books();
        let c = b.charge(130, "USD").expect("no overflow");
        assert_eq!(
            c.flags,
            ledger_flags::OVER_DAILY_LIMIT
                | ledger_flags::OVER_MONTHLY_LIMIT
                | ledger_flags::NEGATIVE_BALANCE
        );
        assert_eq!(b.balance, -10);
    }

    #[test]
    fn a_charge_in_another_currency_leaves_the_limits_and_an_unenforced_balance_alone() {
        let mut b = books();
        b.billing_enabled = false;
        let c = b.charge(500, "EUR").expect("no overflow");
        assert_eq!(
            c,
            Charged {
                flags: 0,
                balance_before: None,
                against_limits: false
            }
        );
        assert_eq!((b.balance, b.daily_used), (120, 30));
        b.release(30, "EUR");
        assert_eq!(
            (b.held, b.daily_used),
            (0, 30),
            "a hold in another currency held no limit"
        );
    }

    #[test]
    fn a_total_past_64_bits_is_an_overflow() {
        let mut b = books();
        b.balance = i64::MIN + 1;
        assert_eq!(b.charge(2, "EUR"), Err(Overflow));
    }

    #[test]
    fn a_jump_past_several_thresholds_reaches_each_of_them() {
        assert_eq!(
            crossed(0, 1_000, 1_000, &LIMIT_THRESHOLDS),
            vec![75, 90, 100]
        );
        assert_eq!(crossed(740, 760, 1_000, &LIMIT_THRESHOLDS), vec![75]);
        assert_eq!(
            crossed(750, 899, 1_000, &LIMIT_THRESHOLDS),
            Vec::<i64>::new()
        );
    }

    #[test]
    fn reaching_a_threshold_exactly_counts_and_staying_on_it_does_not() {
        assert_eq!(crossed(899, 900, 1_000, &LIMIT_THRESHOLDS), vec![90]);
        assert!(crossed(900, 900, 1_000, &LIMIT_THRESHOLDS).is_empty());
    }

    #[test]
    fn no_limit_or_falling_spend_crosses_nothing() {
        assert!(crossed(0, 100, 0, &LIMIT_THRESHOLDS).is_empty());
        assert!(crossed(1_000, 0, 1_000, &LIMIT_THRESHOLDS).is_empty());
    }

    #[test]
    fn a_balance_falls_below_a_level_once_on_the_way_down() {
        assert!(fell_below(100, 99, 100));
        assert!(!fell_below(99, 50, 100));
        assert!(!fell_below(50, 150, 100));
    }

    proptest! {
        /// A decision never lets the spend pass a limit or the holds pass the balance: after
        /// any run of allowed holds, daily use stays within the limit and held within balance.
        #[test]
        fn allowed_holds_never_overshoot(estimates in prop::collection::vec(0i64..60, 1..40)) {
            let mut q = quota(Some(25), 0, 0);
            let mut a = account(500, 0);
            for e in estimates {
                if decide(&q, Some(&a), Nanos(e), &usd(), 0).is_none() {
                    reserve(&mut q, Some(&mut a), Nanos(e), &usd());
                }
                prop_assert!(a.daily_used.0 <= 100);
                prop_assert!(a.held.0 <= a.balance.0);
                prop_assert!(q.reserved <= 25);
            }
        }
    }
}
