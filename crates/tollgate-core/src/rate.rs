//! Rate limits: requests and tokens per minute, weighed over a sliding window.
//!
//! Counts are kept per UTC minute. A decision at `elapsed` into the current minute weighs the
//! current minute's count whole and the previous minute's by the share of it still inside the
//! last 60 seconds: `used = current + ceil(previous × (60 s − elapsed) / 60 s)`. This assumes
//! the previous minute's calls were spread evenly across it; it never lets through a burst of
//! twice the limit across a minute boundary, as fixed windows do, and needs two counters per
//! subject instead of a timestamp per call.

/// One minute, in microseconds: the window.
pub const WINDOW_US: i64 = 60_000_000;

/// The minute (since 1970-01-01, UTC) an instant falls in.
pub fn minute_of(us: i64) -> i64 {
    us.div_euclid(WINDOW_US)
}

/// Requests and tokens counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls.
    pub requests: i64,
    /// Tokens.
    pub tokens: i64,
}

/// A subject's limits; None: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: Option<i64>,
    /// Tokens per minute.
    pub tpm: Option<i64>,
}

impl Limits {
    /// Whether either limit is set.
    pub fn any(&self) -> bool {
        self.rpm.is_some() || self.tpm.is_some()
    }

    /// These limits, each replaced by `other`'s where `other` sets it.
    pub fn overridden_by(self, other: Limits) -> Limits {
        Limits {
            rpm: other.rpm.or(self.rpm),
            tpm: other.tpm.or(self.tpm),
        }
    }
}

/// Which limit a call would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Requests per minute.
    Requests,
    /// Tokens per minute.
    Tokens,
}

/// A limit a call would pass, and when it could pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    /// The limit passed.
    pub measure: Measure,
    /// Whole seconds until the same call would be admitted, if no other call comes first;
    /// None when it never will (it alone is more than the limit).
    pub retry_after_seconds: Option<i64>,
}

/// One subject's counts in the current and the previous minute, with its limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// Its limits.
    pub limits: Limits,
    /// The minute the counts are of: `current` is this minute's, `previous` the one before.
    pub minute: i64,
    /// The previous minute's counts.
    pub previous: Counts,
    /// The current minute's counts.
    pub current: Counts,
}

/// `current + ceil(previous × (W − elapsed) / W)`.
fn weighted(previous: i64, current: i64, elapsed: i64) -> i64 {
    let share = i128::from(previous) * i128::from(WINDOW_US - elapsed);
    let w = i128::from(WINDOW_US);
    let carried = (share + w - 1) / w;
    current.saturating_add(i64::try_from(carried).unwrap_or(i64::MAX))
}

/// Microseconds from `elapsed` into a minute until `need` more fits under `limit`, with
/// `previous` and `current` counted; None when `need` alone passes the limit.
fn wait_us(limit: i64, need: i64, previous: i64, current: i64, elapsed: i64) -> Option<i64> {
    if need > limit {
        return None;
    }
    let w = i128::from(WINDOW_US);
    // Within this minute: the previous minute's share shrinks as the minute goes on.
    let room = i128::from(limit - need) - i128::from(current);
    if room >= 0 {
        if previous == 0 {
            return Some(0);
        }
        // ceil(P × (W − e − t) / W) ≤ room  ⟺  P × (W − e − t) ≤ room × W.
        let t = (w - i128::from(elapsed)) - room * w / i128::from(previous);
        return Some(i64::try_from(t.max(0)).unwrap_or(i64::MAX));
    }
    // Next minute: this minute's count becomes the previous one, and shrinks in its turn.
    let room = i128::from(limit - need);
    let into_next = (w - room * w / i128::from(current.max(1))).max(0);
    let t = (w - i128::from(elapsed)) + into_next;
    Some(i64::try_from(t).unwrap_or(i64::MAX))
}

impl Window {
    /// The counts at `now`, carried to `now`'s minute when the window is older.
    fn at(&self, now: i64) -> (Counts, Counts, i64) {
        let minute = minute_of(now);
        let elapsed = now - minute * WINDOW_US;
        match minute - self.minute {
            0 => (self.previous, self.current, elapsed),
            1 => (self.current, Counts::default(), elapsed),
            _ => (Counts::default(), Counts::default(), elapsed),
        }
    }

    /// What counts against the limits at `now`.
    pub fn used(&self, now: i64) -> Counts {
        let (previous, current, elapsed) = self.at(now);
        Counts {
            requests: weighted(previous.requests, current.requests, elapsed),
            tokens: weighted(previous.tokens, current.tokens, elapsed),
        }
    }

    /// Whether one more call of `tokens` fits at `now`. When both limits would be passed, the
    /// answer names requests and waits for both: retrying when only one fits is no use.
    pub fn admits(&self, now: i64, tokens: i64) -> Result<(), Exceeded> {
        let used = self.used(now);
        let (previous, current, elapsed) = self.at(now);
        // None: fits; Some(wait), the wait in µs (None: never fits).
        let over = |limit: Option<i64>, used: i64, need: i64, p: i64, c: i64| match limit {
            Some(limit) if used.saturating_add(need) > limit => {
                Some(wait_us(limit, need, p, c, elapsed))
            }
            _ => None,
        };
        let requests = over(
            self.limits.rpm,
            used.requests,
            1,
            previous.requests,
            current.requests,
        );
        let tokens = if tokens > 0 {
            over(
                self.limits.tpm,
                used.tokens,
                tokens,
                previous.tokens,
                current.tokens,
            )
        } else {
            None
        };
        let (measure, wait) = match (requests, tokens) {
            (None, None) => return Ok(()),
            (Some(r), None) => (Measure::Requests, r),
            (None, Some(t)) => (Measure::Tokens, t),
            (Some(r), Some(t)) => (Measure::Requests, r.zip(t).map(|(r, t)| r.max(t))),
        };
        Err(Exceeded {
            measure,
            retry_after_seconds: wait.map(|us| ((us + 999_999) / 1_000_000).max(1)),
        })
    }

    /// Counts one call of `tokens` at `now`.
    pub fn add(&mut self, now: i64, tokens: i64) {
        let (previous, current, _) = self.at(now);
        self.minute = minute_of(now);
        self.previous = previous;
        self.current = Counts {
            requests: current.requests.saturating_add(1),
            tokens: current.tokens.saturating_add(tokens.max(0)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 29_000_000; // a minute since 1970, in minutes

    fn at(seconds: i64) -> i64 {
        M * WINDOW_US + seconds * 1_000_000
    }

    fn window(rpm: i64, previous: i64, current: i64) -> Window {
        Window {
            limits: Limits {
                rpm: Some(rpm),
                tpm: None,
            },
            minute: M,
            previous: Counts {
                requests: previous,
                tokens: 0,
            },
            current: Counts {
                requests: current,
                tokens: 0,
            },
        }
    }

    #[test]
    fn the_previous_minute_counts_by_the_share_of_it_still_in_the_window() {
        let w = window(100, 60, 10);
        assert_eq!(w.used(at(0)).requests, 70);
        assert_eq!(w.used(at(30)).requests, 40);
        assert_eq!(w.used(at(59)).requests, 11);
        // A minute later the current minute is the previous one.
        assert_eq!(w.used(at(90)).requests, 5);
        assert_eq!(w.used(at(180)).requests, 0);
    }

    #[test]
    fn a_call_is_admitted_up_to_the_limit_and_not_one_more() {
        let mut w = window(3, 0, 0);
        for _ in 0..3 {
            assert_eq!(w.admits(at(5), 0), Ok(()));
            w.add(at(5), 0);
        }
        let refused = w.admits(at(5), 0).expect_err("the fourth call");
        assert_eq!(refused.measure, Measure::Requests);
        // Three calls this minute: the window lets one more in once a third of them (in the
        // next minute, a third of the way through) has slid out.
        assert_eq!(refused.retry_after_seconds, Some(55 + 20));
    }

    #[test]
    fn retry_after_is_when_the_previous_minute_has_slid_far_enough_out() {
        // 60 last minute, none this one, limit 30: at 0 s 60 count; one more fits once the
        // carried share is 29, after 60 × (1 − 29/60) = 31 s.
        let w = window(30, 60, 0);
        let refused = w.admits(at(0), 0).expect_err("over");
        assert_eq!(refused.retry_after_seconds, Some(31));
        assert_eq!(w.admits(at(31), 0), Ok(()));
        assert!(w.admits(at(30), 0).is_err());
    }

    #[test]
    fn tokens_are_weighed_after_requests_and_a_call_larger_than_the_limit_never_fits() {
        let w = Window {
            limits: Limits {
                rpm: Some(10),
                tpm: Some(1_000),
            },
            minute: M,
            previous: Counts::default(),
            current: Counts {
                requests: 1,
                tokens: 900,
            },
        };
        assert_eq!(w.admits(at(10), 100), Ok(()));
        let refused = w.admits(at(10), 101).expect_err("over");
        assert_eq!(refused.measure, Measure::Tokens);
        assert!(refused.retry_after_seconds.is_some());
        let never = w.admits(at(10), 1_001).expect_err("alone over");
        assert_eq!(never.retry_after_seconds, None);
    }

    #[test]
    fn when_both_limits_are_passed_the_wait_is_for_both() {
        let w = Window {
            limits: Limits {
                rpm: Some(2),
                tpm: Some(100),
            },
            minute: M,
            previous: Counts::default(),
            current: Counts {
                requests: 2,
                tokens: 100,
            },
        };
        let requests_only = w.admits(at(0), 0).expect_err("over").retry_after_seconds;
        let both = w.admits(at(0), 90).expect_err("over");
        assert_eq!(both.measure, Measure::Requests);
        // Requests fit again after 60 + 30 s; 90 more tokens only after 60 + 54 s.
        assert_eq!(requests_only, Some(90));
        assert_eq!(both.retry_after_seconds, Some(114));
    }

    #[test]
    fn a_limit_of_zero_admits_nothing_ever() {
        let w = window(0, 0, 0);
        assert_eq!(
            w.admits(at(1), 0),
            Err(Exceeded {
                measure: Measure::Requests,
                retry_after_seconds: None,
            })
        );
    }

    #[test]
    fn an_override_replaces_only_the_limits_it_sets() {
        let plan = Limits {
            rpm: Some(60),
            tpm: Some(10_000),
        };
        let own = Limits {
            rpm: Some(600),
            tpm: None,
        };
        assert_eq!(
            plan.overridden_by(own),
            Limits {
                rpm: Some(600),
                tpm: Some(10_000),
            }
        );
    }
}
