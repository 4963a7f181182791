//! The period a console page reports on: today, the last 7 days, this month, or a custom
//! range of whole UTC days, each including exactly its first and last day.

use serde::Deserialize;
use tollgate_core::time::{day_of, day_string, now_us, parse_instant, DateEdge, DAY_US};

/// The period chosen in a page's query (`period`, and `start`/`end` for a custom one).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PeriodQuery {
    /// `today`, `7d`, `month` or `custom`.
    #[serde(default)]
    pub period: Option<String>,
    /// First day of a custom range, `YYYY-MM-DD`.
    #[serde(default)]
    pub start: Option<String>,
    /// Last day of a custom range, `YYYY-MM-DD` (included).
    #[serde(default)]
    pub end: Option<String>,
}

/// A resolved period: whole UTC days from `start` to `end`, both included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// Which choice it is (`today`, `7d`, `month`, `custom`).
    pub kind: &'static str,
    /// First day, `YYYY-MM-DD`.
    pub start: String,
    /// Last day, `YYYY-MM-DD`.
    pub end: String,
    /// How the page names it ("the last 7 days (2026-12-01 to 2026-12-07, UTC)").
    pub label: String,
    /// Why a custom range was not taken, when it was not.
    pub problem: Option<String>,
}

impl Period {
    /// The period `q` asks for, on `today` (a UTC day number); a custom range that does not
    /// read falls back to the last 7 days, with the reason.
    pub fn resolve(q: &PeriodQuery, today: i64) -> Period {
        let span = |kind, first: i64, last: i64, name: &str| Period {
            kind,
            start: day_string(first),
            end: day_string(last),
            label: if first == last {
                format!("{name} ({}, UTC)", day_string(first))
            } else {
                format!(
                    "{name} ({} to {}, UTC)",
                    day_string(first),
                    day_string(last)
                )
            },
            problem: None,
        };
        let month_start = {
            let date = day_string(today);
            let first = format!("{}-01", &date[..7]);
            parse_instant(&first, DateEdge::Start).map_or(today, day_of)
        };
        match q.period.as_deref().unwrap_or("7d") {
            "today" => span("today", today, today, "today"),
            "month" => span("month", month_start, today, "this month"),
            "custom" => match custom(q) {
                Ok((first, last)) => span("custom", first, last, "the chosen days"),
                Err(problem) => Period {
                    problem: Some(problem),
                    ..span("7d", today - 6, today, "the last 7 days")
                },
            },
            _ => span("7d", today - 6, today, "the last 7 days"),
        }
    }

    /// Today's period choice, on the current UTC day.
    pub fn from_query(q: &PeriodQuery) -> Period {
        Period::resolve(q, now_us().div_euclid(DAY_US))
    }
}

/// The days of a custom range, or why it does not read.
fn custom(q: &PeriodQuery) -> Result<(i64, i64), String> {
    let day = |field: &str, text: Option<&str>| -> Result<i64, String> {
        let text = text
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("a custom range needs its {field} day (YYYY-MM-DD)"))?;
        if text.len() != 10 {
            return Err(format!(
                "the {field} day '{text}' is not a date such as 2026-03-01"
            ));
        }
        parse_instant(text, DateEdge::Start)
            .map(day_of)
            .map_err(|e| format!("the {field} day: {e}"))
    };
    let first = day("first", q.start.as_deref())?;
    let last = day("last", q.end.as_deref())?;
    if first > last {
        return Err("the first day of the range is after its last day".into());
    }
    if last - first > 3660 {
        return Err("a range covers at most ten years".into());
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(period: &str, start: &str, end: &str) -> PeriodQuery {
        PeriodQuery {
            period: Some(period.into()),
            start: Some(start.into()),
            end: Some(end.into()),
        }
    }

    /// 2026-12-06.
    fn today() -> i64 {
        day_of(parse_instant("2026-12-06", DateEdge::Start).expect("a date"))
    }

    #[test]
    fn the_last_seven_days_include_today_and_six_days_before_it() {
        let p = Period::resolve(&PeriodQuery::default(), today());
        assert_eq!(
            (p.start.as_str(), p.end.as_str()),
            ("2026-11-30", "2026-12-06")
        );
    }

    #[test]
    fn this_month_runs_from_its_first_day_to_today() {
        let p = Period::resolve(&q("month", "", ""), today());
        assert_eq!(
            (p.start.as_str(), p.end.as_str()),
            ("2026-12-01", "2026-12-06")
        );
    }

    #[test]
    fn a_custom_range_includes_exactly_its_first_and_last_days() {
        let p = Period::resolve(&q("custom", "2026-02-27", "2026-03-01"), today());
        assert_eq!(
            (p.start.as_str(), p.end.as_str()),
            ("2026-02-27", "2026-03-01")
        );
        assert_eq!(p.problem, None);
    }

    #[test]
    fn a_backwards_or_unreadable_range_says_why_and_shows_the_last_seven_days() {
        for (start, end) in [
            ("2026-03-02", "2026-03-01"),
            ("2026-3-1", "2026-03-02"),
            ("", ""),
        ] {
            let p = Period::resolve(&q("custom", start, end), today());
            assert!(p.problem.is_some(), "{start}..{end}");
            assert_eq!(p.kind, "7d");
        }
    }
}
