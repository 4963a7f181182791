//! Usage: logging calls (`POST /api/v1/log`, `/api/v1/log/batch`) and reading them back
//! (`GET /api/v1/logs`), with the statistics ([`stats`]), prices ([`pricing`]), cost reports
//! ([`costs`]) and the usage export ([`export`]).
//!
//! llmring fixes `UsageLogBody`'s llmring members, the `log_id`, `cost` (a float) and
//! `timestamp` of [`Logged`], and the members of [`LogEntry`] that llmring 1.4.0's
//! `server logs` reads; every other member is Tollgate's.

pub mod costs;
pub mod export;
pub mod pricing;
pub mod stats;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::ErrorDetail;

pub use costs::{
    CostPeriod, CostTotals, DailyCosts, DailyCostsQuery, DayCosts, MonthlyCosts, MonthlyCostsQuery,
    TokenTotals,
};
pub use export::{ExportFormat, UsageExportLine, UsageExportQuery};
pub use pricing::{
    CoverageQuery, FallbackClass, Price, PriceFileFormat, PriceImport, PriceImported, PriceList,
    PriceRates, PriceSource, PriceTier, PriceUnit, PricingCoverage, RepriceAdjustment,
    RepriceRequest, Repriced, ServiceTierPrice, StillUnpriced, UnpricedModel, UnpricedServiceTier,
};
pub use stats::{
    DayStats, GroupStats, KeyedStats, OriginStats, StatsGroupBy, StatsQuery, StatsSummary,
    UsageStats,
};

/// `POST /api/v1/log`: llmring's `UsageLogRequest` plus Tollgate's optional fields. Any other
/// member is refused (422 naming it), so a misspelled one (`userid`) is never dropped.
// Fields left `None` are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageLogBody {
    /// Model name.
    pub model: String,
    /// Provider name.
    pub provider: String,
    /// Prompt tokens (every one, cached included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<i64>,
    /// Generated tokens (every one, reasoning included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<i64>,
    /// Prompt tokens read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_tokens: Option<i64>,
    /// Prompt tokens written to the cache (every duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<i64>,
    /// The part of `cache_write_tokens` written to a cache kept for an hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h_tokens: Option<i64>,
    /// Reasoning tokens (part of `output_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<i64>,
    /// Uncached prompt tokens of audio (part of `input_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_input_tokens: Option<i64>,
    /// Uncached prompt tokens of images (part of `input_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_input_tokens: Option<i64>,
    /// Uncached prompt tokens of video (part of `input_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_input_tokens: Option<i64>,
    /// Generated tokens of audio (part of `output_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_output_tokens: Option<i64>,
    /// Generated tokens of images (part of `output_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_output_tokens: Option<i64>,
    /// How the provider served the call: `standard` (also `default`, `auto`), `batch`,
    /// `flex` or `priority`; priced at that tier's rates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Quantities priced per unit: `{"web_search": 2, "image:1024x1024:hd": 1}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantities: Option<BTreeMap<String, i64>>,
    /// The knowledge base the call answered from: the `kb_id` dimension (also accepted in
    /// `dimensions`, not in both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kb_id: Option<String>,
    /// The call's dimensions, name to value: `kb_id` and the deployment's own (the
    /// `dimensions` setting, such as `feature` or `team`). Values are strings of 1 to 255
    /// bytes; an unknown name is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>, example = json!({"kb_id": "kb_42", "feature": "search"}))]
    pub dimensions: Option<Map<String, Value>>,
    /// llmring alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// llmring profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The digest of the llmring lockfile the call was made under (at most 128 bytes);
    /// receipts report the digests their calls recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_digest: Option<String>,
    /// Calling application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The caller's id for the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_at_origin: Option<String>,
    /// The client's cost (used per the client-cost policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<i64>,
    /// Free-form metadata object (any members: llmring sends `model_alias`, `finish_reason`
    /// and `conversation_id`). It is the caller's own, so it has no fixed shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Idempotency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// End user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The hold `POST /api/v1/authorize` placed for this call, settled by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_id: Option<String>,
    /// Conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Event time (RFC 3339; without offset, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The prompt's text, when `input_tokens` is not known: its tokens are estimated (with the
    /// model family's tokenizer where Tollgate has one, else one per four characters) and the
    /// call is flagged `estimated`. Not stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The completion's text, when `output_tokens` is not known; estimated like `prompt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<String>,
    /// The prompt's length in characters, when neither `input_tokens` nor `prompt` is sent:
    /// estimated at one token per four characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_chars: Option<i64>,
    /// The completion's length in characters, when neither `output_tokens` nor `completion`
    /// is sent: estimated at one token per four characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_chars: Option<i64>,
    /// Served from a response cache: recorded with zero tokens and cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_response: Option<bool>,
    /// A provider usage object (OpenAI Chat, Responses or Realtime; Anthropic; Gemini; Bedrock
    /// Converse), normalised with its audio, image and video detail, cache writes by
    /// duration, service tier and web searches. Its shape is the provider's, so it stays
    /// free-form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub usage: Option<Value>,
}

/// Body of `POST /api/v1/log/batch`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogBatchBody {
    /// The calls, each as `POST /api/v1/log` takes it.
    pub events: Vec<UsageLogBody>,
}

/// Something special about an event's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventFlag {
    /// Served from a response cache: zero tokens and zero cost recorded.
    CachedResponse,
    /// Priced at the cost the client sent (no price was known).
    ClientCost,
    /// Tokens estimated from the content (the client sent no counts).
    Estimated,
    /// No price was known and the client's cost did not count: recorded at zero.
    Unpriced,
}

impl EventFlag {
    /// The name on the wire (`cached_response`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventFlag::CachedResponse => "cached_response",
            EventFlag::ClientCost => "client_cost",
            EventFlag::Estimated => "estimated",
            EventFlag::Unpriced => "unpriced",
        }
    }
}

/// The answer to `POST /api/v1/log`: llmring's `log_id`, `cost` and `timestamp`, then
/// Tollgate's exact cost and the event's place in the tenant log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Logged {
    /// The call's log id (the first one's, for a repeat).
    #[schema(format = "uuid")]
    pub log_id: String,
    /// The cost as a float, as llmring reads it (derived from `cost_exact`).
    pub cost: f64,
    /// The event time.
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// The exact cost.
    #[schema(format = "decimal", example = "0.000022500")]
    pub cost_exact: String,
    /// The cost's currency (ISO 4217).
    #[schema(example = "USD")]
    pub currency: String,
    /// The call's position in the tenant's log.
    pub seq: i64,
    /// The price it was charged at; null when no price was known.
    #[schema(required = true, example = "builtin:openai/gpt-4o@2024-08-06")]
    pub price_version: Option<String>,
    /// What is special about its numbers, in a fixed order.
    pub flags: Vec<EventFlag>,
    /// True when the call had been recorded before and nothing new was written.
    pub duplicate: bool,
}

/// What became of one event of a batch, by `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LogBatchResult {
    /// Recorded now.
    Recorded(LoggedEvent),
    /// Recorded before (the same `request_id`): counted once.
    Duplicate(LoggedEvent),
    /// Invalid: nothing recorded.
    Rejected(RejectedEvent),
}

impl LogBatchResult {
    /// The event's index in `events`.
    pub fn index(&self) -> u64 {
        match self {
            LogBatchResult::Recorded(e) | LogBatchResult::Duplicate(e) => e.index,
            LogBatchResult::Rejected(e) => e.index,
        }
    }
}

/// An event of a batch that was recorded (now or before).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoggedEvent {
    /// The event's index in `events`.
    pub index: u64,
    /// The answer `POST /api/v1/log` would give.
    #[serde(flatten)]
    pub logged: Logged,
}

/// An event of a batch that was invalid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RejectedEvent {
    /// The event's index in `events`.
    pub index: u64,
    /// Why; its `field` is the path in the whole body (`events[3].userid`).
    pub error: ErrorDetail,
}

/// The answer to `POST /api/v1/log/batch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogBatchResponse {
    /// One result per event, by index.
    pub results: Vec<LogBatchResult>,
    /// How many were recorded now.
    pub recorded: u64,
    /// How many had been recorded before.
    pub duplicates: u64,
    /// How many were invalid.
    pub rejected: u64,
}

/// Query of `GET /api/v1/logs`. Fields left `None` are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// How many, 1 to 500 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// How many to skip (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// First day or instant (RFC 3339; a date alone starts at midnight UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Last day or instant (a date alone ends at the end of that day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// Only this llmring alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Only this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Only this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Only this origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Only this end user's calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Only this conversation's calls (a UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// `true`: only calls no price was known for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpriced: Option<bool>,
    /// With `value`: only calls that recorded this dimension (`kb_id`, or one of the
    /// deployment's `dimensions`) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<String>,
    /// ... with this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Where a logged call came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    /// `POST /api/v1/log` (or its batch form, or the CLI).
    Usage,
    /// The call of a `POST /api/v1/conversations/log`.
    Conversation,
    /// An MCP tool execution (`POST /api/v1/mcp/tools/{id}/execute`): provider `mcp`, model
    /// `<server>/<tool>`.
    Tool,
    /// A repricing (`POST /api/v1/pricing/reprice`): the cost of the unpriced call named by
    /// `adjusts` at the price now known for its time. Same labels and time as that call, no
    /// tokens; totals add its cost but never count it as a request.
    Adjustment,
}

/// A logged call as `GET /api/v1/logs` lists it (llmring 1.4.0's log item, with Tollgate's
/// fields). Optional members are null, never absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogEntry {
    /// Log id.
    #[schema(format = "uuid")]
    pub id: String,
    /// The event time.
    #[schema(format = DateTime)]
    pub logged_at: String,
    /// When it was written.
    #[schema(format = DateTime)]
    pub recorded_at: String,
    /// Position in the tenant's log.
    pub seq: i64,
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// llmring alias.
    #[schema(required = true)]
    pub alias: Option<String>,
    /// llmring profile (`default` when none was sent).
    pub profile: String,
    /// Calling application.
    #[schema(required = true)]
    pub origin: Option<String>,
    /// The caller's id for the call.
    #[schema(required = true)]
    pub id_at_origin: Option<String>,
    /// End user.
    #[schema(required = true)]
    pub user_id: Option<String>,
    /// Conversation.
    #[schema(required = true, format = "uuid")]
    pub conversation_id: Option<String>,
    /// Idempotency key.
    #[schema(required = true)]
    pub request_id: Option<String>,
    /// Prompt tokens, cached included.
    pub input_tokens: i64,
    /// Generated tokens, reasoning included.
    pub output_tokens: i64,
    /// Prompt tokens read from the cache.
    pub cached_input_tokens: i64,
    /// Prompt tokens written to the cache (every duration).
    pub cache_write_tokens: i64,
    /// The part of `cache_write_tokens` written to a cache kept for an hour.
    pub cache_write_1h_tokens: i64,
    /// Reasoning tokens.
    pub reasoning_tokens: i64,
    /// Uncached prompt tokens of audio.
    pub audio_input_tokens: i64,
    /// Uncached prompt tokens of images.
    pub image_input_tokens: i64,
    /// Uncached prompt tokens of video.
    pub video_input_tokens: i64,
    /// Generated tokens of audio.
    pub audio_output_tokens: i64,
    /// Generated tokens of images.
    pub image_output_tokens: i64,
    /// How the provider served the call: `standard`, `batch`, `flex` or `priority`.
    #[schema(example = "standard")]
    pub service_tier: String,
    /// Quantities priced per unit (`web_search`, `image:1024x1024:hd`, ...); empty for none.
    pub quantities: BTreeMap<String, i64>,
    /// The quantity a tool execution reported, priced per unit; null for LLM calls.
    #[schema(required = true)]
    pub units: Option<i64>,
    /// Latency.
    #[schema(required = true)]
    pub latency_ms: Option<i64>,
    /// The cost as a float, as llmring reads it (derived from `cost_exact`).
    pub cost: f64,
    /// The exact cost.
    #[schema(format = "decimal", example = "0.000022500")]
    pub cost_exact: String,
    /// The cost's currency (ISO 4217).
    #[schema(example = "USD")]
    pub currency: String,
    /// The price it was charged at; null when no price was known.
    #[schema(required = true)]
    pub price_version: Option<String>,
    /// What is special about its numbers.
    pub flags: Vec<EventFlag>,
    /// Which route logged it.
    pub source: LogSource,
    /// For an `adjustment`, the log id of the call it prices; null otherwise.
    #[serde(default)]
    #[schema(required = true, format = "uuid")]
    pub adjusts: Option<String>,
    /// How the counts of an `estimated` call were estimated (`chars/4`, `o200k_base`,
    /// `cl100k_base`); null when they were reported.
    #[serde(default)]
    #[schema(required = true, example = "chars/4")]
    pub estimate_method: Option<String>,
    /// The call's dimensions (`kb_id`, `feature`, ...), name to value; empty for none.
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// The caller's metadata object, as sent (free-form: it is the caller's own).
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

/// The paging headers of `GET /api/v1/logs`, whose body is a bare array of [`LogEntry`] (what
/// llmring 1.4.0's `server logs` iterates).
pub mod logs_headers {
    /// The page size the server used.
    pub const LIMIT: &str = "x-page-limit";
    /// How many it skipped.
    pub const OFFSET: &str = "x-page-offset";
    /// The start of the range searched, when a range applied (RFC 3339).
    pub const RANGE_START: &str = "x-range-start";
    /// The end of the range searched, when a range applied (RFC 3339).
    pub const RANGE_END: &str = "x-range-end";
}

/// A page of `GET /api/v1/logs` as a client reads it: the calls from the body, newest first,
/// and the rest from the paging headers ([`logs_headers`]; a full page also carries a `Link`
/// to the next one, `rel="next"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogsPage {
    /// The calls.
    pub logs: Vec<LogEntry>,
    /// The page size asked for.
    pub limit: i64,
    /// How many were skipped.
    pub offset: i64,
    /// How many are on this page.
    pub count: u64,
    /// The start of the range searched; null when no range applied.
    pub start_date: Option<String>,
    /// The end of the range searched; null when no range applied.
    pub end_date: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usage_log_sends_only_the_fields_it_sets() {
        let body = UsageLogBody {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            input_tokens: Some(10),
            output_tokens: Some(5),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&body).expect("serializes"),
            r#"{"model":"gpt-4o","provider":"openai","input_tokens":10,"output_tokens":5}"#
        );
    }

    #[test]
    fn every_flag_is_sent_by_its_wire_name() {
        for flag in [
            EventFlag::CachedResponse,
            EventFlag::ClientCost,
            EventFlag::Estimated,
            EventFlag::Unpriced,
        ] {
            let json = serde_json::to_string(&flag).expect("serializes");
            assert_eq!(json, format!("\"{}\"", flag.as_str()));
        }
    }

    #[test]
    fn a_misspelt_usage_log_member_is_refused() {
        let e =
            serde_json::from_str::<UsageLogBody>(r#"{"model":"m","provider":"p","userid":"u"}"#)
                .expect_err("refused");
        assert!(e.to_string().contains("userid"), "{e}");
    }

    #[test]
    fn a_rejected_batch_event_carries_its_error_and_no_logged_fields() {
        let text = r#"{"status":"rejected","index":2,"error":{"code":"INVALID_FIELD","message":"no","field":"events[2].model"}}"#;
        let r: LogBatchResult = serde_json::from_str(text).expect("a result");
        assert!(
            matches!(&r, LogBatchResult::Rejected(e) if e.error.field.as_deref() == Some("events[2].model"))
        );
        assert_eq!(r.index(), 2);
        assert_eq!(serde_json::to_string(&r).expect("serializes"), text);
    }

    #[test]
    fn a_recorded_batch_event_carries_the_fields_of_a_single_log() {
        let logged = Logged {
            log_id: "0190b6a0-0000-7000-8000-000000000000".into(),
            cost: 0.0000225,
            timestamp: "2026-03-01T00:00:00Z".into(),
            cost_exact: "0.000022500".into(),
            currency: "USD".into(),
            seq: 7,
            price_version: None,
            flags: vec![EventFlag::ClientCost],
            duplicate: true,
        };
        let r = LogBatchResult::Duplicate(LoggedEvent {
            index: 0,
            logged: logged.clone(),
        });
        let v = serde_json::to_value(&r).expect("serializes");
        assert_eq!(v["status"], "duplicate");
        assert_eq!(v["log_id"], logged.log_id.as_str());
        assert_eq!(v["price_version"], Value::Null, "null, not absent");
        assert_eq!(v["flags"], serde_json::json!(["client_cost"]));
        assert!(v.get("error").is_none());
        let back: LogBatchResult = serde_json::from_value(v).expect("reads back");
        assert_eq!(back, r);
    }
}
