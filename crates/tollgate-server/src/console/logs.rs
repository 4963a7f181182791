//! `GET /ui/logs`: the logged calls of a period, newest first, a page at a time, filtered as
//! `GET /api/v1/logs` filters them (model, provider, alias, user, origin, unpriced only). The
//! rows are that handler's answer, called with the viewer's credentials; the filter lives in
//! the URL, so a page, its neighbours and its CSV export all select the same calls.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::Response;
use serde::Deserialize;
use tollgate_api::usage::{EventFlag, LogEntry, LogSource, LogsQuery};

use super::fmt::{count, instant, money};
use super::page::{render, Chrome, ConsoleError};
use super::period::{Period, PeriodQuery};
use super::session::Viewer;
use crate::auth::need;
use crate::extract::Params;
use crate::routes::logs;
use crate::state::AppState;

/// Calls per page.
pub const PAGE: i64 = 50;

/// The filter of the logs page, its neighbours and its export, as the URL carries it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogsFilter {
    #[serde(flatten)]
    period: PeriodQuery,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    origin: Option<String>,
    /// `true` (or a ticked box's `on`): only calls recorded without a price.
    #[serde(default)]
    unpriced: Option<String>,
    /// With `value`: only calls that recorded this dimension.
    #[serde(default)]
    dimension: Option<String>,
    /// The dimension's value.
    #[serde(default)]
    value: Option<String>,
    /// How many newer calls the page skips.
    #[serde(default)]
    offset: Option<String>,
}

/// A filter value as sent, trimmed; None when empty.
fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

impl LogsFilter {
    /// The period chosen. Days without a period choice (as the overview's "list them" link
    /// sends) are a custom range.
    pub fn period(&self) -> Period {
        let mut q = self.period.clone();
        let has_days = given(&q.start).is_some() || given(&q.end).is_some();
        if given(&q.period).is_none() && has_days {
            q.period = Some("custom".into());
        }
        Period::from_query(&q)
    }

    /// Whether only unpriced calls are asked for.
    pub fn unpriced_only(&self) -> bool {
        matches!(
            self.unpriced.as_deref().map(str::trim),
            Some("true" | "on" | "1")
        )
    }

    /// How many calls the page skips (never negative; text that is no number is 0).
    pub fn offset(&self) -> i64 {
        self.offset
            .as_deref()
            .and_then(|o| o.trim().parse::<i64>().ok())
            .unwrap_or(0)
            .max(0)
    }

    /// What `GET /api/v1/logs` is asked: the filter over the period's whole days, or up to
    /// `end` (an RFC 3339 instant) when given.
    pub fn api_query(
        &self,
        period: &Period,
        end: Option<String>,
        limit: i64,
        offset: i64,
    ) -> LogsQuery {
        LogsQuery {
            limit: Some(limit),
            offset: Some(offset),
            start_date: Some(period.start.clone()),
            end_date: Some(end.unwrap_or_else(|| period.end.clone())),
            alias: given(&self.alias),
            model: given(&self.model),
            provider: given(&self.provider),
            origin: given(&self.origin),
            user_id: given(&self.user),
            conversation_id: None,
            unpriced: self.unpriced_only().then_some(true),
            // Asked for only with its value: a dimension chosen without one filters nothing.
            dimension: given(&self.value).and(given(&self.dimension)),
            value: given(&self.dimension).and(given(&self.value)),
        }
    }

    /// The filter as a query string over `period`, at `offset` when it is not the first page.
    pub fn query_string(&self, period: &Period, offset: i64) -> String {
        let mut pairs: Vec<(&str, String)> = vec![
            ("period", period.kind.to_string()),
            ("start", period.start.clone()),
            ("end", period.end.clone()),
        ];
        for (name, value) in [
            ("model", &self.model),
            ("provider", &self.provider),
            ("alias", &self.alias),
            ("user", &self.user),
            ("origin", &self.origin),
            ("dimension", &self.dimension),
            ("value", &self.value),
        ] {
            if let Some(v) = given(value) {
                pairs.push((name, v));
            }
        }
        if self.unpriced_only() {
            pairs.push(("unpriced", "true".into()));
        }
        if offset > 0 {
            pairs.push(("offset", offset.to_string()));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

/// The filter's text fields, as the form shows them back.
struct Fields {
    model: String,
    provider: String,
    alias: String,
    user: String,
    origin: String,
    unpriced: bool,
    /// The dimensions to choose from (`kb_id` and the deployment's), and the chosen one.
    dimensions: Vec<String>,
    dimension: String,
    value: String,
}

/// One call of the table, written for people.
struct Row {
    href: String,
    time: String,
    provider: String,
    model: String,
    user: String,
    alias: String,
    tool: String,
    dimensions: String,
    tokens_in: String,
    tokens_out: String,
    cost: String,
    flags: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "console/logs.html")]
struct LogsPage {
    chrome: Chrome,
    period: Period,
    fields: Fields,
    rows: Vec<Row>,
    first: i64,
    last: i64,
    previous: Option<String>,
    next: Option<String>,
    export: String,
}

/// What a call's flags and source say, in words.
pub fn flag_words(e: &LogEntry) -> Vec<&'static str> {
    let mut words: Vec<&'static str> = e
        .flags
        .iter()
        .map(|f| match f {
            EventFlag::Unpriced => "unpriced",
            EventFlag::Estimated => "estimated",
            EventFlag::CachedResponse => "cached response",
            EventFlag::ClientCost => "client's cost",
        })
        .collect();
    if e.source == LogSource::Adjustment {
        words.push("repricing");
    }
    words
}

/// A call's dimensions as `name=value, …`.
pub fn dimension_text(e: &LogEntry) -> String {
    e.dimensions
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn row(e: &LogEntry) -> Row {
    let tool = e.source == LogSource::Tool;
    Row {
        href: format!("/ui/logs/{}", e.id),
        time: instant(&e.logged_at),
        provider: e.provider.clone(),
        model: e.model.clone(),
        user: e.user_id.clone().unwrap_or_default(),
        alias: e.alias.clone().unwrap_or_default(),
        tool: if tool { e.model.clone() } else { String::new() },
        dimensions: dimension_text(e),
        tokens_in: count(e.input_tokens),
        tokens_out: count(e.output_tokens),
        cost: money(&e.cost_exact, &e.currency),
        flags: flag_words(e),
    }
}

/// `GET /ui/logs`: one page of the filter's calls.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(f): Query<LogsFilter>,
) -> Result<Response, ConsoleError> {
    let period = f.period();
    let offset = f.offset();
    // One more than a page tells whether a next page exists without counting them all.
    let (_, axum::Json(mut found)) = logs::logs(
        State(state.clone()),
        viewer.may::<need::Read>()?,
        Uri::from_static("/api/v1/logs"),
        Params(f.api_query(&period, None, PAGE + 1, offset)),
    )
    .await?;
    let more = found.len() as i64 > PAGE;
    found.truncate(PAGE as usize);
    let shown = found.len() as i64;
    let page = LogsPage {
        chrome: Chrome::new(&viewer, "Logs", "/ui/logs"),
        fields: Fields {
            model: given(&f.model).unwrap_or_default(),
            provider: given(&f.provider).unwrap_or_default(),
            alias: given(&f.alias).unwrap_or_default(),
            user: given(&f.user).unwrap_or_default(),
            origin: given(&f.origin).unwrap_or_default(),
            unpriced: f.unpriced_only(),
            dimensions: std::iter::once(tollgate_core::event::KB_ID.to_string())
                .chain(state.settings().dimensions.iter().cloned())
                .collect(),
            dimension: given(&f.dimension).unwrap_or_default(),
            value: given(&f.value).unwrap_or_default(),
        },
        rows: found.iter().map(row).collect(),
        first: if shown > 0 { offset + 1 } else { 0 },
        last: offset + shown,
        previous: (offset > 0).then(|| {
            format!(
                "/ui/logs?{}",
                f.query_string(&period, (offset - PAGE).max(0))
            )
        }),
        next: more.then(|| format!("/ui/logs?{}", f.query_string(&period, offset + PAGE))),
        export: format!("/ui/logs/export.csv?{}", f.query_string(&period, 0)),
        period,
    };
    render(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(query: &str) -> LogsFilter {
        serde_urlencoded::from_str(query).expect("a query")
    }

    #[test]
    fn days_without_a_period_choice_are_a_custom_range() {
        let p = filter("unpriced=true&start=2026-11-02&end=2026-11-04").period();
        assert_eq!(p.kind, "custom");
        assert_eq!(
            (p.start.as_str(), p.end.as_str()),
            ("2026-11-02", "2026-11-04")
        );
    }

    #[test]
    fn the_query_string_keeps_every_filter_and_reads_back_the_same() {
        let f = filter("period=custom&start=2026-11-02&end=2026-11-04&model=gpt%204o&user=a%26b&unpriced=on&offset=50");
        let p = f.period();
        let text = f.query_string(&p, 100);
        let back = filter(&text);
        assert_eq!(back.model.as_deref(), Some("gpt 4o"));
        assert_eq!(back.user.as_deref(), Some("a&b"));
        assert!(back.unpriced_only());
        assert_eq!(back.offset(), 100);
        assert_eq!(back.period(), p);
        assert!(!f.query_string(&p, 0).contains("offset"));
    }

    #[test]
    fn an_offset_that_is_no_number_or_negative_is_the_first_page() {
        assert_eq!(filter("offset=x").offset(), 0);
        assert_eq!(filter("offset=-5").offset(), 0);
        assert_eq!(filter("").offset(), 0);
    }
}
