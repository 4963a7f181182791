//! `GET /api/v1/stats`: llmring's `UsageStats` shape, computed from the rollups, with exact
//! decimal strings and a working `group_by`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use tollgate_api::usage::{
    DayStats, GroupStats, KeyedStats, OriginStats, StatsGroupBy, StatsQuery, StatsSummary,
    UsageStats,
};
use tollgate_core::pricing::TOOL_PROVIDER;
use tollgate_core::time::{
    day_string, format_us, month_string, now_us, parse_instant, DateEdge, DAY_US,
};
use tollgate_core::{Nanos, TokenCounts};
use tollgate_store::UsageRow;

use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Params;
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// Reads a `[start, end]` range of query dates: end defaults to now, start to 30 days before
/// end; a date alone ends at the end of that day; start after end is an error.
pub(crate) fn date_range(
    start: Option<&str>,
    end: Option<&str>,
    default_days: i64,
) -> Result<(i64, i64), ApiError> {
    let parse = |field: &str, text: &str, edge| {
        parse_instant(text, edge)
            .map_err(|e| ApiError::new(ErrorCode::InvalidQuery, format!("{field}: {e}")))
    };
    // Without dates the range is whole UTC days (today and the days before it), so it is
    // answered from the daily rollups alone.
    let end_us = match end {
        Some(t) if !t.trim().is_empty() => parse("end_date", t, DateEdge::End)?,
        _ => (now_us().div_euclid(DAY_US) + 1) * DAY_US - 1,
    };
    let start_us = match start {
        Some(t) if !t.trim().is_empty() => parse("start_date", t, DateEdge::Start)?,
        _ => (end_us.div_euclid(DAY_US) - (default_days - 1)) * DAY_US,
    };
    if start_us > end_us {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "start_date must not be after end_date",
        ));
    }
    Ok((start_us, end_us))
}

#[derive(Default, Clone)]
struct Agg {
    requests: i64,
    tokens: TokenCounts,
    cost: i64,
    unpriced: i64,
}

impl Agg {
    fn add(&mut self, r: &UsageRow, counts_cost: bool) {
        self.requests += r.requests;
        self.unpriced += r.unpriced;
        self.tokens.input += r.tokens.input;
        self.tokens.output += r.tokens.output;
        self.tokens.cached_input += r.tokens.cached_input;
        self.tokens.cache_write += r.tokens.cache_write;
        self.tokens.reasoning += r.tokens.reasoning;
        if counts_cost {
            self.cost += r.cost.0;
        }
    }

    fn stats(&self) -> GroupStats {
        GroupStats {
            requests: self.requests,
            cost: Nanos(self.cost).to_string(),
            input_tokens: self.tokens.input,
            output_tokens: self.tokens.output,
            cached_input_tokens: self.tokens.cached_input,
            cache_write_tokens: self.tokens.cache_write,
            reasoning_tokens: self.tokens.reasoning,
            unpriced_requests: self.unpriced,
        }
    }
}

/// Usage statistics of a range
///
/// llmring's `UsageStats`, with exact decimal strings and a working `group_by`, which can
/// also be a dimension (`group_by=dimension&dimension=kb_id`).
#[utoipa::path(
    get,
    path = "/api/v1/stats",
    tag = "usage",
    operation_id = "usage_stats",
    params(StatsQuery),
    responses(
        (status = 200, description = "Totals of the range and its breakdowns", body = UsageStats),
        (status = 400, description = "A bad `group_by`, `dimension` or date (`INVALID_QUERY`)"),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<StatsQuery>,
) -> Result<Json<UsageStats>, ApiError> {
    let name = q
        .group_by
        .as_deref()
        .unwrap_or("day")
        .trim()
        .to_ascii_lowercase();
    let group_by = StatsGroupBy::parse(&name).ok_or_else(|| {
        let names: Vec<&str> = StatsGroupBy::ALL.iter().map(|g| g.as_str()).collect();
        ApiError::new(
            ErrorCode::InvalidQuery,
            format!("group_by must be one of {}", names.join(", ")),
        )
    })?;
    let dimension = match (group_by, q.dimension.as_deref().map(str::trim)) {
        (StatsGroupBy::Dimension, Some(name)) if !name.is_empty() => {
            Some(super::costs::dimension_name(&state, name)?)
        }
        (StatsGroupBy::Dimension, _) => {
            return Err(ApiError::invalid_query(
                "dimension",
                "group_by=dimension needs the dimension to group by, such as dimension=kb_id",
            ))
        }
        (_, Some(_)) => {
            return Err(ApiError::invalid_query(
                "dimension",
                "dimension is for group_by=dimension",
            ))
        }
        (_, None) => None,
    };
    let (start_us, end_us) = date_range(q.start_date.as_deref(), q.end_date.as_deref(), 30)?;
    let rows = state
        .store()
        .usage_rows(&auth.tenant_id, start_us, end_us)
        .await?;
    let keyed = match &dimension {
        Some(name) => {
            state
                .store()
                .dimension_rows(&auth.tenant_id, name, start_us, end_us)
                .await?
        }
        None => Vec::new(),
    };
    let mut stats = summarise(&rows, &keyed, group_by, start_us, end_us);
    stats.dimension = dimension;
    Ok(Json(stats))
}

/// The stats of `rows`, grouped by `group_by`; with [`StatsGroupBy::Dimension`], `groups` is
/// made of `keyed` (the rows of the dimension's values) instead.
fn summarise(
    rows: &[UsageRow],
    keyed: &[(String, UsageRow)],
    group_by: StatsGroupBy,
    start_us: i64,
    end_us: i64,
) -> UsageStats {
    // Costs in different currencies never add up: the llmring fields carry the primary
    // currency (USD when present, else the largest), and by_currency lists every one.
    let mut by_currency: BTreeMap<&str, i64> = BTreeMap::new();
    for r in rows {
        *by_currency.entry(r.currency.as_str()).or_default() += r.cost.0;
    }
    let primary = if by_currency.contains_key("USD") || by_currency.is_empty() {
        "USD".to_string()
    } else {
        by_currency
            .iter()
            .max_by_key(|(_, c)| **c)
            .map(|(k, _)| k.to_string())
            .unwrap_or_default()
    };

    let mut total = Agg::default();
    let mut days: BTreeMap<String, Agg> = BTreeMap::new();
    let mut models: BTreeMap<String, Agg> = BTreeMap::new();
    let mut aliases: BTreeMap<String, Agg> = BTreeMap::new();
    let mut origins: BTreeMap<String, Agg> = BTreeMap::new();
    let mut providers: BTreeMap<String, Agg> = BTreeMap::new();
    let mut users: BTreeMap<String, Agg> = BTreeMap::new();
    let mut tools: BTreeMap<String, Agg> = BTreeMap::new();
    let mut groups: BTreeMap<String, Agg> = BTreeMap::new();
    let mut day_models: BTreeMap<i64, BTreeMap<&str, i64>> = BTreeMap::new();
    let (mut cached_responses, mut unpriced) = (0, 0);
    // Most rows add to a group that exists: its key is allocated only the first time.
    let add = |map: &mut BTreeMap<String, Agg>, key: &str, r: &UsageRow, c: bool| match map
        .get_mut(key)
    {
        Some(a) => a.add(r, c),
        None => map.entry(key.to_string()).or_default().add(r, c),
    };
    for r in rows {
        let c = r.currency == primary;
        total.add(r, c);
        cached_responses += r.cached_responses;
        unpriced += r.unpriced;
        let day = day_string(r.day);
        add(&mut days, &day, r, c);
        *day_models
            .entry(r.day)
            .or_default()
            .entry(r.model.as_str())
            .or_default() += r.requests;
        add(&mut models, &r.model, r, c);
        add(&mut providers, &r.provider, r, c);
        if !r.alias.is_empty() {
            add(&mut aliases, &r.alias, r, c);
        }
        if !r.origin.is_empty() {
            add(&mut origins, &r.origin, r, c);
        }
        if !r.user_id.is_empty() {
            add(&mut users, &r.user_id, r, c);
        }
        let tool = r.provider == TOOL_PROVIDER;
        if tool {
            add(&mut tools, &r.model, r, c);
        }
        let key = match group_by {
            StatsGroupBy::Day => day,
            StatsGroupBy::Month => month_string(tollgate_core::time::month_of(r.day * DAY_US)),
            StatsGroupBy::Model => r.model.clone(),
            StatsGroupBy::Provider => r.provider.clone(),
            StatsGroupBy::Alias => r.alias.clone(),
            StatsGroupBy::Origin => r.origin.clone(),
            StatsGroupBy::User => r.user_id.clone(),
            StatsGroupBy::Tool if tool => r.model.clone(),
            StatsGroupBy::Tool | StatsGroupBy::Dimension => continue,
        };
        add(&mut groups, &key, r, c);
    }
    for (value, r) in keyed {
        add(&mut groups, value, r, r.currency == primary);
    }
    let by_day: Vec<DayStats> = days
        .iter()
        .rev()
        .map(|(date, a)| {
            let day = parse_instant(date, DateEdge::Start)
                .map(|us| us / DAY_US)
                .unwrap_or_default();
            let top = day_models.get(&day).and_then(|m| {
                m.iter()
                    .max_by(|x, y| x.1.cmp(y.1).then(y.0.cmp(x.0)))
                    .map(|(k, _)| k.to_string())
            });
            DayStats {
                date: date.clone(),
                stats: a.stats(),
                top_model: top,
            }
        })
        .collect();
    let map_of = |m: &BTreeMap<String, Agg>| -> BTreeMap<String, GroupStats> {
        m.iter().map(|(k, a)| (k.clone(), a.stats())).collect()
    };
    let by_origin: BTreeMap<String, OriginStats> = origins
        .iter()
        .map(|(k, a)| {
            let s = a.stats();
            let origin = OriginStats {
                requests: s.requests,
                cost: Nanos(a.cost).to_f64(),
                input_tokens: s.input_tokens,
                output_tokens: s.output_tokens,
                cached_input_tokens: s.cached_input_tokens,
                cache_write_tokens: s.cache_write_tokens,
                reasoning_tokens: s.reasoning_tokens,
                cost_exact: s.cost,
            };
            (k.clone(), origin)
        })
        .collect();
    let mut group_rows: Vec<(String, Agg)> = groups.into_iter().collect();
    if matches!(group_by, StatsGroupBy::Day | StatsGroupBy::Month) {
        group_rows.reverse();
    } else {
        group_rows.sort_by(|a, b| {
            b.1.cost
                .cmp(&a.1.cost)
                .then(b.1.requests.cmp(&a.1.requests))
                .then(a.0.cmp(&b.0))
        });
    }
    UsageStats {
        summary: StatsSummary {
            total_requests: total.requests,
            total_cost: Nanos(total.cost).to_string(),
            total_tokens: total.tokens.total(),
            unique_models: models.len() as u64,
            unique_origins: origins.len() as u64,
            total_input_tokens: total.tokens.input,
            total_output_tokens: total.tokens.output,
            cached_input_tokens: total.tokens.cached_input,
            cache_write_tokens: total.tokens.cache_write,
            reasoning_tokens: total.tokens.reasoning,
            cached_responses,
            unpriced_requests: unpriced,
            currency: primary,
            costs_by_currency: by_currency
                .iter()
                .map(|(k, v)| (k.to_string(), Nanos(*v).to_string()))
                .collect(),
        },
        by_day,
        by_model: map_of(&models),
        by_origin,
        by_alias: map_of(&aliases),
        by_provider: map_of(&providers),
        by_user: map_of(&users),
        by_tool: map_of(&tools),
        group_by,
        dimension: None,
        groups: group_rows
            .into_iter()
            .map(|(key, a)| KeyedStats {
                stats: a.stats(),
                key,
            })
            .collect(),
        start_date: format_us(start_us),
        end_date: format_us(end_us),
    }
}
