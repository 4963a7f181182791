//! `GET /ui/`: spend, requests and tokens of a period, a chart per day, breakdowns, unpriced
//! calls and the plan's quota. Every number comes from the API's own handlers
//! (`/api/v1/stats`, `/api/v1/billing/limits`) called with the viewer's credentials, so the
//! page and the API cannot disagree, and both read the daily rollups, not the events.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tollgate_api::billing::TenantLimits;
use tollgate_api::usage::{GroupStats, StatsQuery, UsageStats};
use tollgate_core::Nanos;

use super::chart::{self, DayChart};
use super::fmt::{count, instant, money};
use super::page::{render, Chrome, ConsoleError};
use super::period::{Period, PeriodQuery};
use super::session::Viewer;
use crate::auth::need;
use crate::extract::Params;
use crate::routes::{billing, stats};
use crate::state::AppState;

/// Rows shown per breakdown before "and N more".
const TOP: usize = 10;

/// The overview's query: a period and, optionally, a dimension to break down by.
#[derive(Debug, Default, Deserialize)]
pub struct OverviewQuery {
    #[serde(flatten)]
    period: PeriodQuery,
    /// `kb_id` or one of the deployment's dimensions.
    #[serde(default)]
    dimension: Option<String>,
}

/// A headline number.
struct Tile {
    label: &'static str,
    value: String,
    note: String,
}

/// One row of a breakdown.
struct Row {
    key: String,
    requests: String,
    tokens: String,
    cost: String,
    unpriced: String,
}

/// A breakdown table.
struct Breakdown {
    title: &'static str,
    column: &'static str,
    rows: Vec<Row>,
    more: usize,
}

/// The quota bar.
struct Quota {
    plan: String,
    used: i64,
    max: i64,
    /// Where the bar turns to a warning: nine tenths of `max`.
    high: i64,
    text: String,
    resets: String,
    unlimited: bool,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    period: Period,
    tiles: Vec<Tile>,
    chart: DayChart,
    chart_rows: Vec<(String, String, String)>,
    currency: String,
    breakdowns: Vec<Breakdown>,
    dimensions: Vec<String>,
    dimension: Option<String>,
    by_dimension: Option<Breakdown>,
    unpriced: i64,
    unpriced_models: Vec<Row>,
    quota: Quota,
    logs_query: String,
}

fn row(key: &str, g: &GroupStats, currency: &str) -> Row {
    Row {
        key: if key.is_empty() {
            "(none)".into()
        } else {
            key.to_string()
        },
        requests: count(g.requests),
        tokens: count(g.input_tokens + g.output_tokens),
        cost: money(&g.cost, currency),
        unpriced: if g.unpriced_requests > 0 {
            count(g.unpriced_requests)
        } else {
            String::new()
        },
    }
}

/// The top rows of a breakdown, by cost then requests.
fn breakdown<'a>(
    title: &'static str,
    column: &'static str,
    groups: impl Iterator<Item = (&'a String, &'a GroupStats)>,
    currency: &str,
) -> Breakdown {
    let mut all: Vec<(&String, &GroupStats)> = groups.collect();
    let cost = |g: &GroupStats| Nanos::parse_exact(&g.cost).map_or(0, |n| n.0);
    all.sort_by(|a, b| {
        cost(b.1)
            .cmp(&cost(a.1))
            .then(b.1.requests.cmp(&a.1.requests))
            .then(a.0.cmp(b.0))
    });
    let more = all.len().saturating_sub(TOP);
    Breakdown {
        title,
        column,
        rows: all
            .into_iter()
            .take(TOP)
            .map(|(k, g)| row(k, g, currency))
            .collect(),
        more,
    }
}

fn quota(l: &TenantLimits) -> Quota {
    let (max, unlimited) = match l.limit {
        Some(limit) => (limit.max(1), false),
        None => (l.used.max(1), true),
    };
    let text = match l.limit {
        Some(limit) => format!(
            "{} of {} requests used in {} (UTC){}",
            count(l.used),
            count(limit),
            l.month,
            if l.reserved > 0 {
                format!(", {} held by open authorizations", count(l.reserved))
            } else {
                String::new()
            }
        ),
        None => format!(
            "{} requests in {} (UTC); no monthly limit",
            count(l.used),
            l.month
        ),
    };
    Quota {
        plan: l.plan.clone(),
        used: l.used.clamp(0, max),
        max,
        high: max / 10 * 9,
        text,
        resets: instant(&l.resets_at),
        unlimited,
    }
}

/// `GET /ui/`: the overview (an end user sees their own account instead).
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<OverviewQuery>,
) -> Result<Response, ConsoleError> {
    if viewer.is_user() {
        return super::account::own(state, viewer).await;
    }
    if !viewer.can(tollgate_store::Scope::Read) {
        // A key without `read` lands on the first page it may use instead of a refusal.
        let chrome = Chrome::new(&viewer, "Overview", "/ui/");
        if let Some(first) = chrome.nav.first() {
            return Ok(axum::response::Redirect::to(first.href).into_response());
        }
        return Err(crate::error::ApiError::forbidden(
            "the console shows what a key with the read or admin scope may see; this key has neither",
        )
        .into());
    }
    let period = Period::from_query(&q.period);
    let query = |group_by: &str, dimension: Option<String>| StatsQuery {
        start_date: Some(period.start.clone()),
        end_date: Some(period.end.clone()),
        group_by: Some(group_by.into()),
        dimension,
    };
    let axum::Json(s) = stats::stats(
        State(state.clone()),
        viewer.may::<need::Read>()?,
        Params(query("day", None)),
    )
    .await?;
    let dimension = q
        .dimension
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let by_dimension = match &dimension {
        Some(name) => {
            let axum::Json(d) = stats::stats(
                State(state.clone()),
                viewer.may::<need::Read>()?,
                Params(query("dimension", Some(name.clone()))),
            )
            .await?;
            let groups: Vec<(String, GroupStats)> =
                d.groups.into_iter().map(|g| (g.key, g.stats)).collect();
            Some(breakdown(
                "By dimension",
                "value",
                groups.iter().map(|(k, g)| (k, g)),
                &d.summary.currency,
            ))
        }
        None => None,
    };
    let axum::Json(limits) =
        billing::limits(State(state.clone()), viewer.may::<need::Read>()?).await?;
    let mut dimensions = vec![tollgate_core::event::KB_ID.to_string()];
    dimensions.extend(state.settings().dimensions.iter().cloned());
    let page = overview(
        &viewer,
        period,
        s,
        &limits,
        dimensions,
        dimension,
        by_dimension,
    );
    render(&page)
}

fn overview(
    viewer: &Viewer,
    period: Period,
    s: UsageStats,
    limits: &TenantLimits,
    dimensions: Vec<String>,
    dimension: Option<String>,
    by_dimension: Option<Breakdown>,
) -> OverviewPage {
    let currency = s.summary.currency.clone();
    let sum = &s.summary;
    let other_currencies: Vec<String> = sum
        .costs_by_currency
        .iter()
        .filter(|(c, _)| **c != currency)
        .map(|(c, a)| money(a, c))
        .collect();
    let tiles = vec![
        Tile {
            label: "Spend",
            value: money(&sum.total_cost, &currency),
            note: if other_currencies.is_empty() {
                String::new()
            } else {
                format!("and {}", other_currencies.join(", "))
            },
        },
        Tile {
            label: "Requests",
            value: count(sum.total_requests),
            note: if sum.cached_responses > 0 {
                format!("{} from a response cache", count(sum.cached_responses))
            } else {
                String::new()
            },
        },
        Tile {
            label: "Tokens",
            value: count(sum.total_tokens),
            note: format!(
                "{} in, {} out",
                count(sum.total_input_tokens),
                count(sum.total_output_tokens)
            ),
        },
        Tile {
            label: "Unpriced calls",
            value: count(sum.unpriced_requests),
            note: if sum.unpriced_requests > 0 {
                "counted at 0 until priced".into()
            } else {
                "every call had a price".into()
            },
        },
    ];
    let mut days: Vec<(String, i64, String)> = s
        .by_day
        .iter()
        .map(|d| {
            let n = Nanos::parse_exact(&d.stats.cost).map_or(0, |n| n.0);
            (d.date.clone(), n, money(&d.stats.cost, &currency))
        })
        .collect();
    days.sort();
    let chart = chart::days(&period.start, &period.end, &days);
    let chart_rows = s
        .by_day
        .iter()
        .map(|d| {
            (
                d.date.clone(),
                count(d.stats.requests),
                money(&d.stats.cost, &currency),
            )
        })
        .collect();
    let breakdowns = vec![
        breakdown("By model", "model", s.by_model.iter(), &currency),
        breakdown("By provider", "provider", s.by_provider.iter(), &currency),
        breakdown("By alias", "alias", s.by_alias.iter(), &currency),
        breakdown("By user", "user", s.by_user.iter(), &currency),
        breakdown("By tool", "tool", s.by_tool.iter(), &currency),
    ];
    let unpriced_models = s
        .by_model
        .iter()
        .filter(|(_, g)| g.unpriced_requests > 0)
        .map(|(k, g)| row(k, g, &currency))
        .collect();
    OverviewPage {
        chrome: Chrome::new(viewer, "Overview", "/ui/"),
        logs_query: format!("start={}&end={}", period.start, period.end),
        period,
        tiles,
        chart,
        chart_rows,
        currency,
        breakdowns,
        dimensions,
        dimension,
        by_dimension,
        unpriced: s.summary.unpriced_requests,
        unpriced_models,
        quota: quota(limits),
    }
}
