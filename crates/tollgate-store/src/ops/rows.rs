//! The engine-independent half of the append transaction: which items are repeats, which
//! sequence numbers the rest get, and the column values of every row to write. Both the
//! PostgreSQL executor (`append`) and the SQLite one (`sqlite_append`) write exactly these.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use tollgate_core::time::{day_of, month_of};
use tollgate_core::usage::ServiceTier;
use tollgate_core::{Currency, EventFlags, EventSource, Nanos, TokenCounts};
use tollgate_receipts::leaf_hash;
use uuid::Uuid;

use super::charges::AccountView;
use super::decode::uuid;
use crate::db::{row, Arg, FromRow as _, Row};
use crate::model::{AccountState, AppendItem, Dedupe, NewConversation, NewMessage, Recorded};
use crate::StoreError;

/// Groups item positions by tenant, in tenant id order (so that concurrent batches lock
/// tenants in the same order).
pub(crate) fn by_tenant(items: &[AppendItem]) -> BTreeMap<&str, Vec<usize>> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        groups
            .entry(item.event.tenant_id.as_str())
            .or_default()
            .push(i);
    }
    groups
}

/// Unwraps the outcomes once every item has one.
pub(crate) fn finished(outcomes: Vec<Option<Recorded>>) -> Result<Vec<Recorded>, StoreError> {
    outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| StoreError::Invariant("an item got no outcome".into())))
        .collect()
}

/// Calls already recorded, by how repeats are recognised.
#[derive(Default)]
pub(crate) struct Earlier {
    pub(crate) by_request: HashMap<String, Recorded>,
    pub(crate) by_call: HashMap<Uuid, ConversationCall>,
}

/// A call recorded by `/api/v1/conversations/log`, which llmring posts again to
/// `/api/v1/log`. The second post is matched to it once, and only if it describes the same
/// call (provider, model, output tokens); anything else naming the conversation is a new call.
pub(crate) struct ConversationCall {
    pub(crate) recorded: Recorded,
    pub(crate) provider: String,
    pub(crate) model: String,
    pub(crate) output_tokens: i64,
    pub(crate) claimed: bool,
}

impl ConversationCall {
    fn matches(&self, e: &tollgate_core::UsageEvent) -> bool {
        !self.claimed
            && self.provider.eq_ignore_ascii_case(&e.provider)
            && self.model.eq_ignore_ascii_case(&e.model)
            && self.output_tokens == e.tokens.output
    }
}

/// Extra columns read for a conversation call (beside [`RECORDED_COLUMNS`]).
pub(crate) const CALL_COLUMNS: &str = "e.provider, e.model, e.output_tokens, c.companion_claimed";

/// What [`assign`] decided.
pub(crate) struct Assigned {
    /// Items to write, with their sequence numbers.
    pub(crate) fresh: Vec<(usize, i64)>,
    /// The log size after them.
    pub(crate) size: i64,
    /// Conversations whose llmring second post this batch matched.
    pub(crate) claims: Vec<Uuid>,
}

/// The request ids and conversation calls among `indexes` that may be repeats.
pub(crate) fn dedupe_keys(items: &[AppendItem], indexes: &[usize]) -> (Vec<String>, Vec<String>) {
    let mut requests = Vec::new();
    let mut calls = Vec::new();
    for &i in indexes {
        match &items[i].dedupe {
            Dedupe::RequestId(r) => requests.push(r.clone()),
            Dedupe::ConversationCall(c) => calls.push(c.to_string()),
            Dedupe::None => {}
        }
    }
    (requests, calls)
}

/// Decides every item: a repeat answers with the first outcome; anything else gets the next
/// sequence number.
pub(crate) fn assign(
    items: &[AppendItem],
    indexes: &[usize],
    mut size: i64,
    earlier: &mut Earlier,
    outcomes: &mut [Option<Recorded>],
) -> Assigned {
    let mut fresh = Vec::with_capacity(indexes.len());
    let mut claims = Vec::new();
    for &i in indexes {
        let item = &items[i];
        let first = match &item.dedupe {
            Dedupe::RequestId(r) => earlier.by_request.get(r).cloned(),
            Dedupe::ConversationCall(c) => match earlier.by_call.get_mut(c) {
                Some(call) if call.matches(&item.event) => {
                    call.claimed = true;
                    claims.push(*c);
                    Some(call.recorded.clone())
                }
                _ => None,
            },
            Dedupe::None => None,
        };
        if let Some(first) = first {
            outcomes[i] = Some(Recorded {
                duplicate: true,
                ..first
            });
            continue;
        }
        let seq = size;
        size += 1;
        let e = &item.event;
        let rec = Recorded {
            log_id: e.log_id,
            seq,
            timestamp_us: e.timestamp_us,
            cost: e.cost,
            currency: e.currency.clone(),
            flags: e.flags,
            price_version: e.price_version.clone(),
            conversation_id: e.conversation_id,
            message_id: item.conversation.as_ref().map(|c| c.response_message_id),
            duplicate: false,
        };
        if let Dedupe::RequestId(r) = &item.dedupe {
            earlier.by_request.insert(r.clone(), rec.clone());
        }
        if let Some(c) = &item.conversation {
            earlier.by_call.insert(
                c.id,
                ConversationCall {
                    recorded: rec.clone(),
                    provider: e.provider.clone(),
                    model: e.model.clone(),
                    output_tokens: e.tokens.output,
                    claimed: false,
                },
            );
        }
        outcomes[i] = Some(rec);
        fresh.push((i, seq));
    }
    Assigned {
        fresh,
        size,
        claims,
    }
}

/// Columns a repeat's first outcome is read from (`e` = usage_events, `c` = conversations).
pub(crate) const RECORDED_COLUMNS: &str =
    "e.log_id, e.seq, e.ts_us, e.cost_nanos, e.currency, e.flags, \
     e.price_version, e.conversation_id, c.response_message_id";

row! {
    /// The values of [`RECORDED_COLUMNS`].
    struct RecordedRow {
        log_id: String,
        seq: i64,
        ts_us: i64,
        cost_nanos: i64,
        currency: String,
        flags: i64,
        price_version: Option<String>,
        conversation_id: Option<String>,
        response_message_id: Option<String>,
    }
}

impl RecordedRow {
    /// A repeat's answer: the first outcome, marked a duplicate.
    fn into_recorded(self) -> Result<Recorded, StoreError> {
        Ok(Recorded {
            log_id: uuid(&self.log_id)?,
            seq: self.seq,
            timestamp_us: self.ts_us,
            cost: Nanos(self.cost_nanos),
            currency: Currency::try_from(self.currency).map_err(StoreError::Invariant)?,
            flags: EventFlags::from_bits(self.flags),
            price_version: self.price_version,
            conversation_id: self.conversation_id.as_deref().map(uuid).transpose()?,
            message_id: self.response_message_id.as_deref().map(uuid).transpose()?,
            duplicate: true,
        })
    }
}

/// The first outcome of a recorded call, from a row of [`RECORDED_COLUMNS`].
pub(crate) fn recorded(row: &Row) -> Result<Recorded, StoreError> {
    RecordedRow::from_row(row)?.into_recorded()
}

row! {
    /// The values of [`CALL_COLUMNS`].
    struct CallRow {
        provider: String,
        model: String,
        output_tokens: i64,
        companion_claimed: bool,
    }
}

/// A conversation call and its conversation, from a row of [`RECORDED_COLUMNS`] and
/// [`CALL_COLUMNS`]; None for an event that names no conversation.
pub(crate) fn conversation_call(row: &Row) -> Result<Option<(Uuid, ConversationCall)>, StoreError> {
    let recorded = recorded(row)?;
    let Some(id) = recorded.conversation_id else {
        return Ok(None);
    };
    let call = CallRow::from_row(row)?;
    Ok(Some((
        id,
        ConversationCall {
            recorded,
            provider: call.provider,
            model: call.model,
            output_tokens: call.output_tokens,
            claimed: call.companion_claimed,
        },
    )))
}

row! {
    /// An account's books as `charges::ACCOUNT_VIEW` reads them (the PostgreSQL lock of an
    /// account reads these columns too).
    pub(crate) struct AccountViewRow {
        billing_enabled: bool,
        limit_currency: String,
        daily_limit_nanos: Option<i64>,
        monthly_limit_nanos: Option<i64>,
        balance_nanos: i64,
        held_nanos: i64,
    }
}

impl From<AccountViewRow> for AccountView {
    /// The books before the period spend is added.
    fn from(r: AccountViewRow) -> AccountView {
        AccountView {
            billing_enabled: r.billing_enabled,
            limit_currency: r.limit_currency,
            daily_limit: r.daily_limit_nanos,
            monthly_limit: r.monthly_limit_nanos,
            balance: r.balance_nanos,
            held: r.held_nanos,
            daily_used: 0,
            monthly_used: 0,
        }
    }
}

row! {
    /// An account as `authorize::ACCOUNT_STATE` reads it (the PostgreSQL lock of an account
    /// reads these columns too).
    pub(crate) struct AccountStateRow {
        is_active: bool,
        billing_enabled: bool,
        pub(crate) limit_currency: String,
        daily_limit_nanos: Option<i64>,
        monthly_limit_nanos: Option<i64>,
        balance_nanos: i64,
        held_nanos: i64,
        overdraft_nanos: i64,
        exempt_until_us: Option<i64>,
    }
}

impl AccountStateRow {
    /// The state of `user_id`'s balance in `currency`, before the period spend is added.
    pub(crate) fn into_state(
        self,
        user_id: String,
        currency: &str,
    ) -> Result<AccountState, StoreError> {
        let currency_of = |code: String| Currency::try_from(code).map_err(StoreError::Invariant);
        Ok(AccountState {
            user_id,
            is_active: self.is_active,
            billing_enabled: self.billing_enabled,
            currency: currency_of(currency.to_string())?,
            balance: Nanos(self.balance_nanos),
            held: Nanos(self.held_nanos),
            limit_currency: currency_of(self.limit_currency)?,
            daily_limit: self.daily_limit_nanos.map(Nanos),
            daily_used: Nanos::ZERO,
            monthly_limit: self.monthly_limit_nanos.map(Nanos),
            monthly_used: Nanos::ZERO,
            overdraft: Nanos(self.overdraft_nanos),
            exempt_until_us: self.exempt_until_us,
        })
    }
}

pub(crate) const EVENT_TABLE_COLUMNS: &str =
    "tenant_id, seq, log_id, request_id, ts_us, recorded_us, provider, model, \
     alias, profile, origin, id_at_origin, user_id, conversation_id, input_tokens, output_tokens, \
     cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms, cost_nanos, currency, \
     price_version, flags, source, metadata, entry, leaf_hash, input_cost_nanos, lock_digest, units, \
     cache_write_1h_tokens, audio_input_tokens, image_input_tokens, video_input_tokens, \
     audio_output_tokens, image_output_tokens, service_tier, quantities, adjusts, estimate_method, \
     dimensions";

/// One `usage_events` row: the event, its canonical entry and leaf hash.
pub(crate) fn event_row(item: &AppendItem, seq: i64, recorded_us: i64) -> Vec<Arg> {
    let e = &item.event;
    let entry = e.canonical_entry(seq);
    let leaf = leaf_hash(&entry).to_vec();
    let metadata =
        (!e.metadata.is_empty()).then(|| serde_json::to_string(&e.metadata).unwrap_or_default());
    vec![
        e.tenant_id.as_str().into(),
        seq.into(),
        e.log_id.to_string().into(),
        e.request_id.clone().into(),
        e.timestamp_us.into(),
        recorded_us.into(),
        e.provider.as_str().into(),
        e.model.as_str().into(),
        e.alias.clone().into(),
        e.profile.as_str().into(),
        e.origin.clone().into(),
        e.id_at_origin.clone().into(),
        e.user_id.clone().into(),
        e.conversation_id.map(|c| c.to_string()).into(),
        e.tokens.input.into(),
        e.tokens.output.into(),
        e.tokens.cached_input.into(),
        e.tokens.cache_write.into(),
        e.tokens.reasoning.into(),
        e.latency_ms.into(),
        e.cost.0.into(),
        e.currency.as_str().into(),
        e.price_version.clone().into(),
        e.flags.bits().into(),
        e.source.as_str().into(),
        metadata.into(),
        entry.into(),
        leaf.into(),
        e.input_cost.map(|c| c.0).into(),
        e.lock_digest.clone().into(),
        e.units.into(),
        e.tokens.cache_write_1h.into(),
        e.tokens.audio_input.into(),
        e.tokens.image_input.into(),
        e.tokens.video_input.into(),
        e.tokens.audio_output.into(),
        e.tokens.image_output.into(),
        (e.service_tier != ServiceTier::Standard)
            .then(|| e.service_tier.as_str())
            .into(),
        (!e.quantities.is_empty())
            .then(|| serde_json::to_string(&e.quantities).unwrap_or_default())
            .into(),
        e.adjusts.map(|a| a.to_string()).into(),
        e.estimate_method.clone().into(),
        (!e.dimensions.is_empty())
            .then(|| serde_json::to_string(&e.dimensions).unwrap_or_default())
            .into(),
    ]
}

pub(crate) const CONVERSATION_TABLE_COLUMNS: &str = "tenant_id, id, title, system_prompt, model_alias, temperature, \
     max_tokens, message_count, total_input_tokens, total_output_tokens, total_cost_nanos, currency, \
     response_message_id, created_us, updated_us, last_message_us";

/// The `conversations` row of a conversation call.
pub(crate) fn conversation_row(item: &AppendItem, conv: &NewConversation) -> Vec<Arg> {
    let e = &item.event;
    vec![
        e.tenant_id.as_str().into(),
        conv.id.to_string().into(),
        conv.title.clone().into(),
        conv.system_prompt.clone().into(),
        conv.model_alias.as_str().into(),
        conv.temperature.into(),
        conv.max_tokens.into(),
        (conv.messages.len() as i64).into(),
        e.tokens.input.into(),
        e.tokens.output.into(),
        e.cost.0.into(),
        e.currency.as_str().into(),
        conv.response_message_id.to_string().into(),
        e.timestamp_us.into(),
        e.timestamp_us.into(),
        conv.messages.iter().map(|m| m.ts_us).max().into(),
    ]
}

pub(crate) const MESSAGE_TABLE_COLUMNS: &str =
    "tenant_id, conversation_id, position, id, role, content, content_hash, \
     input_tokens, output_tokens, tool_calls, tool_results, metadata, ts_us";

/// One `messages` row: the message at `position` of conversation `conversation` (the append's
/// and the conversation routes' alike).
pub(crate) fn message_row(
    tenant: &str,
    conversation: Uuid,
    position: i64,
    m: &NewMessage,
) -> Vec<Arg> {
    let json = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
    let metadata =
        (!m.metadata.is_empty()).then(|| serde_json::to_string(&m.metadata).unwrap_or_default());
    vec![
        tenant.into(),
        conversation.to_string().into(),
        position.into(),
        m.id.to_string().into(),
        m.role.as_str().into(),
        json(&m.content).into(),
        m.content_hash.clone().into(),
        m.input_tokens.into(),
        m.output_tokens.into(),
        json(&m.tool_calls).into(),
        json(&m.tool_results).into(),
        metadata.into(),
        m.ts_us.into(),
    ]
}

/// The measures a rollup row adds up.
#[derive(Default, Clone, Copy)]
struct Measures {
    requests: i64,
    tokens: TokenCounts,
    cost: i64,
    cached_responses: i64,
    unpriced: i64,
}

impl Measures {
    /// Adds an event. An adjustment is not a call: it adds its cost and no request, and the
    /// call it prices stops counting as unpriced (it is in the same row unless the price is in
    /// another currency than the call's zero).
    fn add(&mut self, item: &AppendItem) {
        let e = &item.event;
        let call = e.source != EventSource::Adjustment;
        self.requests += i64::from(call);
        self.tokens.input += e.tokens.input;
        self.tokens.output += e.tokens.output;
        self.tokens.cached_input += e.tokens.cached_input;
        self.tokens.cache_write += e.tokens.cache_write;
        self.tokens.reasoning += e.tokens.reasoning;
        self.cost += e.cost.0;
        self.cached_responses += i64::from(e.flags.cached_response);
        self.unpriced += if call {
            i64::from(e.flags.unpriced)
        } else {
            -i64::from(e.adjusts.is_some())
        };
    }

    fn args(&self) -> [Arg; 9] {
        [
            self.requests.into(),
            self.tokens.input.into(),
            self.tokens.output.into(),
            self.tokens.cached_input.into(),
            self.tokens.cache_write.into(),
            self.tokens.reasoning.into(),
            self.cost.into(),
            self.cached_responses.into(),
            self.unpriced.into(),
        ]
    }
}

const MEASURE_COLUMNS: &str =
    "requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, \
     reasoning_tokens, cost_nanos, cached_responses, unpriced";

fn measure_updates(table: &str) -> String {
    MEASURE_COLUMNS
        .split(", ")
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `INSERT INTO table (columns) VALUES (?, ...)` and `tail`, for one row.
pub(crate) fn insert_one(table: &str, columns: &str, tail: &str) -> String {
    let n = columns.split(',').count();
    format!(
        "INSERT INTO {table} ({columns}) VALUES ({}){tail}",
        vec!["?"; n].join(", ")
    )
}

/// A rollup table's columns and the conflict clause that adds to existing rows, written once
/// for the life of the process: every commit uses them.
pub(crate) struct RollupTable {
    pub(crate) table: &'static str,
    pub(crate) columns: String,
    pub(crate) on_conflict: String,
    /// The statement that adds one row, as SQLite runs it for each.
    pub(crate) insert_one: String,
}

impl RollupTable {
    /// `key` is the table's primary key: the columns before the measures.
    fn new(table: &'static str, key: &str) -> RollupTable {
        let columns = format!("{key}, {MEASURE_COLUMNS}");
        let on_conflict = format!(
            " ON CONFLICT ({key}) DO UPDATE SET {}",
            measure_updates(table)
        );
        RollupTable {
            insert_one: insert_one(table, &columns, &on_conflict),
            table,
            columns,
            on_conflict,
        }
    }
}

static DAILY: LazyLock<RollupTable> = LazyLock::new(|| {
    RollupTable::new(
        "usage_daily",
        "tenant_id, day, provider, model, alias, origin, user_id, currency",
    )
});
static MONTHLY: LazyLock<RollupTable> = LazyLock::new(|| {
    RollupTable::new(
        "usage_monthly",
        "tenant_id, month, provider, model, currency",
    )
});
static BY_DIMENSION: LazyLock<RollupTable> = LazyLock::new(|| {
    RollupTable::new(
        "usage_daily_dimensions",
        "tenant_id, day, name, value, provider, model, currency",
    )
});

/// Rows to add to a rollup table.
pub(crate) struct Rollup {
    pub(crate) table: &'static RollupTable,
    pub(crate) rows: Vec<Vec<Arg>>,
}

/// The daily and monthly rollup rows that add the `fresh` items, and the daily rows per
/// dimension when any of them has dimensions.
pub(crate) fn rollups(tenant: &str, items: &[AppendItem], fresh: &[(usize, i64)]) -> Vec<Rollup> {
    type DayKey<'a> = (i64, &'a str, &'a str, &'a str, &'a str, &'a str, &'a str);
    type MonthKey<'a> = (i64, &'a str, &'a str, &'a str);
    type DimensionKey<'a> = (i64, &'a str, &'a str, &'a str, &'a str, &'a str);
    let mut daily: BTreeMap<DayKey, Measures> = BTreeMap::new();
    let mut monthly: BTreeMap<MonthKey, Measures> = BTreeMap::new();
    let mut by_dimension: BTreeMap<DimensionKey, Measures> = BTreeMap::new();
    for &(i, _) in fresh {
        let e = &items[i].event;
        for (name, value) in &e.dimensions {
            let key = (
                day_of(e.timestamp_us),
                name.as_str(),
                value.as_str(),
                e.provider.as_str(),
                e.model.as_str(),
                e.currency.as_str(),
            );
            by_dimension.entry(key).or_default().add(&items[i]);
        }
        let day = (
            day_of(e.timestamp_us),
            e.provider.as_str(),
            e.model.as_str(),
            e.alias.as_deref().unwrap_or_default(),
            e.origin.as_deref().unwrap_or_default(),
            e.user_id.as_deref().unwrap_or_default(),
            e.currency.as_str(),
        );
        daily.entry(day).or_default().add(&items[i]);
        let month = (
            month_of(e.timestamp_us),
            e.provider.as_str(),
            e.model.as_str(),
            e.currency.as_str(),
        );
        monthly.entry(month).or_default().add(&items[i]);
    }
    let daily_rows = daily
        .into_iter()
        .map(
            |((day, provider, model, alias, origin, user, currency), m)| {
                let mut args: Vec<Arg> = vec![
                    tenant.into(),
                    day.into(),
                    provider.into(),
                    model.into(),
                    alias.into(),
                    origin.into(),
                    user.into(),
                    currency.into(),
                ];
                args.extend(m.args());
                args
            },
        )
        .collect();
    let monthly_rows = monthly
        .into_iter()
        .map(|((month, provider, model, currency), m)| {
            let mut args: Vec<Arg> = vec![
                tenant.into(),
                month.into(),
                provider.into(),
                model.into(),
                currency.into(),
            ];
            args.extend(m.args());
            args
        })
        .collect();
    let mut all = vec![
        Rollup {
            table: &DAILY,
            rows: daily_rows,
        },
        Rollup {
            table: &MONTHLY,
            rows: monthly_rows,
        },
    ];
    if !by_dimension.is_empty() {
        let rows = by_dimension
            .into_iter()
            .map(|((day, name, value, provider, model, currency), m)| {
                let mut args: Vec<Arg> = vec![
                    tenant.into(),
                    day.into(),
                    name.into(),
                    value.into(),
                    provider.into(),
                    model.into(),
                    currency.into(),
                ];
                args.extend(m.args());
                args
            })
            .collect();
        all.push(Rollup {
            table: &BY_DIMENSION,
            rows,
        });
    }
    all
}
