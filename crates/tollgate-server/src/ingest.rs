//! From wire bodies to priced events: validation, provider-usage normalisation and pricing,
//! all before the store is touched. Nothing here does I/O. The bodies themselves are
//! `tollgate-api`'s ([`UsageLogBody`], [`ConversationLogBody`]); what they mean is decided
//! here.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tollgate_api::conversations::ConversationLogBody;
use tollgate_api::usage::UsageLogBody;
use tollgate_core::estimate::EstimateMethod;
use tollgate_core::pricing::{check_quantity_name, CostSplit, Metered, PriceBook};
use tollgate_core::time::{parse_instant, DateEdge, DAY_US};
use tollgate_core::usage::{estimate_tokens, normalize_usage, ServiceTier};
use tollgate_core::validate::{optional_text, required_text};
use tollgate_core::{Currency, EventFlags, EventSource, Invalid, Nanos, TokenCounts, UsageEvent};
use tollgate_store::{AccountDefaults, AppendItem, Charge, Dedupe, NewConversation, NewMessage};
use uuid::Uuid;

use crate::settings::{ClientCostPolicy, LoggingLevel};

/// Largest client metadata object, serialised.
const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Largest client cost accepted for one call.
const MAX_CLIENT_COST: f64 = 10_000.0;
/// Earliest event time accepted (2000-01-01).
const EARLIEST_US: i64 = 946_684_800_000_000;

/// What ingestion needs besides the body.
pub struct IngestContext<'a> {
    /// The tenant, from the credentials.
    pub tenant_id: &'a str,
    /// Now.
    pub now_us: i64,
    /// The price book in force.
    pub book: &'a PriceBook,
    /// When a client cost counts.
    pub client_cost: ClientCostPolicy,
    /// What is kept of message content.
    pub logging_level: LoggingLevel,
    /// Charge calls with a user to the user's account, created with these defaults.
    pub billing: Option<Arc<AccountDefaults>>,
    /// Raise `balance.low` when a charge takes a balance below this.
    pub balance_low: Option<Nanos>,
    /// The deployment's own dimensions, besides `kb_id`.
    pub dimensions: &'a [String],
}

/// Fields common to both routes, validated.
struct Common {
    provider: String,
    model: String,
    alias: Option<String>,
    profile: String,
    origin: Option<String>,
    timestamp_us: i64,
    request_id: Option<String>,
    user_id: Option<String>,
}

/// The raw fields both routes share.
struct CallFields<'a> {
    provider: &'a str,
    model: &'a str,
    alias: Option<&'a str>,
    profile: Option<&'a str>,
    origin: Option<&'a str>,
    timestamp: Option<&'a str>,
    request_id: Option<&'a str>,
    user_id: Option<&'a str>,
}

fn common(f: CallFields<'_>, now_us: i64) -> Result<Common, Invalid> {
    let timestamp_us = match f.timestamp {
        None => now_us,
        Some(t) => {
            let us = parse_instant(t, DateEdge::Start)
                .map_err(|e| Invalid::field("timestamp", e.to_string()))?;
            if !(EARLIEST_US..=now_us + DAY_US).contains(&us) {
                return Err(Invalid::field("timestamp", "timestamp must be after 2000-01-01 and at most a day ahead of the server's clock"));
            }
            us
        }
    };
    let provider = required_text("provider", f.provider, 64)?;
    if provider.eq_ignore_ascii_case(tollgate_core::pricing::TOOL_PROVIDER) {
        return Err(Invalid::field(
            "provider",
            "provider 'mcp' is reserved for MCP tool executions; record them with POST /api/v1/mcp/tools/{id}/execute",
        ));
    }
    Ok(Common {
        provider,
        model: required_text("model", f.model, 255)?,
        alias: optional_text("alias", f.alias, 128)?,
        profile: optional_text("profile", f.profile, 64)?.unwrap_or_else(|| "default".to_string()),
        origin: optional_text("origin", f.origin, 255)?,
        timestamp_us,
        request_id: crate::reprice::unreserved(optional_text("request_id", f.request_id, 255)?)?,
        user_id: optional_text("user_id", f.user_id, 255)?,
    })
}

/// The caller's metadata object (absent: empty), at most [`MAX_METADATA_BYTES`] of JSON.
pub(crate) fn metadata(value: Option<Map<String, Value>>) -> Result<Map<String, Value>, Invalid> {
    let map = value.unwrap_or_default();
    if !map.is_empty() && longer_than(&map, MAX_METADATA_BYTES) {
        return Err(Invalid::field(
            "metadata",
            format!("metadata must be at most {MAX_METADATA_BYTES} bytes of JSON"),
        ));
    }
    Ok(map)
}

/// Whether `map` as compact JSON (as it is stored) is longer than `limit` bytes, counted as it
/// is written rather than by building the text, and no further than the limit.
fn longer_than(map: &Map<String, Value>, limit: usize) -> bool {
    struct Count {
        written: usize,
        limit: usize,
    }
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.written += bytes.len();
            if self.written > self.limit {
                return Err(std::io::Error::other("over the limit"));
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // Writing a map of JSON values fails only when the writer does.
    serde_json::to_writer(&mut Count { written: 0, limit }, map).is_err()
}

fn client_cost(field: &str, cost: Option<f64>) -> Result<Option<Nanos>, Invalid> {
    let Some(c) = cost else { return Ok(None) };
    if !c.is_finite() || !(0.0..=MAX_CLIENT_COST).contains(&c) {
        return Err(Invalid::field(
            field,
            format!("{field} must be a number from 0 to {MAX_CLIENT_COST}"),
        ));
    }
    Nanos::from_f64(c)
        .map(Some)
        .map_err(|e| Invalid::field(field, e.to_string()))
}

/// The most units of one quantity a call may report.
const MAX_QUANTITY: i64 = 1_000_000_000;

/// Quantities priced per unit, checked: known-shaped names, whole numbers in range.
fn quantities(q: Option<BTreeMap<String, i64>>) -> Result<BTreeMap<String, i64>, Invalid> {
    let q = q.unwrap_or_default();
    if q.len() > 32 {
        return Err(Invalid::field(
            "quantities",
            "at most 32 quantities per call",
        ));
    }
    for (name, n) in &q {
        let field = format!("quantities.{name}");
        check_quantity_name(name).map_err(|m| Invalid::field("quantities", m))?;
        if !(0..=MAX_QUANTITY).contains(n) {
            return Err(Invalid::field(
                &field,
                format!("{field} must be a whole number from 0 to {MAX_QUANTITY}"),
            ));
        }
    }
    Ok(q.into_iter().filter(|(_, n)| *n > 0).collect())
}

/// A call's dimensions: `kb_id` given on its own or in `dimensions`, and the deployment's
/// own; each value a string of 1 to 255 bytes without control characters.
pub(crate) fn dimensions(
    kb_id: Option<&str>,
    given: Option<Map<String, Value>>,
    configured: &[String],
) -> Result<BTreeMap<String, String>, Invalid> {
    let mut out = BTreeMap::new();
    for (name, value) in given.unwrap_or_default() {
        let field = format!("dimensions.{name}");
        if name != tollgate_core::event::KB_ID && !configured.contains(&name) {
            let mut known = vec![tollgate_core::event::KB_ID.to_string()];
            known.extend(configured.iter().cloned());
            return Err(Invalid::field(
                &field,
                format!(
                    "'{name}' is not a dimension of this deployment (it has: {}); add it to the \
                     `dimensions` setting to record it",
                    known.join(", ")
                ),
            ));
        }
        let Value::String(text) = value else {
            return Err(Invalid::field(
                &field,
                format!("{field} must be a string, such as \"kb_42\""),
            ));
        };
        let text = optional_text(&field, Some(&text), 255)?
            .ok_or_else(|| Invalid::field(&field, format!("{field} cannot be empty")))?;
        out.insert(name, text);
    }
    if let Some(kb) = kb_id {
        if out.contains_key(tollgate_core::event::KB_ID) {
            return Err(Invalid::field(
                "kb_id",
                "kb_id is given twice: send it on its own or in dimensions, not both",
            ));
        }
        let kb = optional_text("kb_id", Some(kb), 255)?
            .ok_or_else(|| Invalid::field("kb_id", "kb_id cannot be empty"))?;
        out.insert(tollgate_core::event::KB_ID.to_string(), kb);
    }
    Ok(out)
}

fn uuid_field(field: &str, value: Option<&str>) -> Result<Option<Uuid>, Invalid> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            Uuid::parse_str(v).map_err(|_| Invalid::field(field, format!("{field} must be a UUID")))
        })
        .transpose()
}

/// How the call is billed: to its user's account (when billing is on), settling `hold_id`.
pub(crate) fn charge(
    ctx: &IngestContext<'_>,
    hold_id: Option<&str>,
) -> Result<Option<Charge>, Invalid> {
    let hold_id = optional_text("hold_id", hold_id, 64)?;
    Ok(ctx.billing.as_ref().map(|defaults| Charge {
        hold_id,
        defaults: defaults.clone(),
        balance_low: ctx.balance_low,
    }))
}

/// The cost of a call: the price book's, else the client's (per policy), else zero and
/// flagged unpriced.
struct Priced {
    cost: Nanos,
    /// The input side of `cost`, when known.
    input: Option<Nanos>,
    currency: Currency,
    version: Option<String>,
    unpriced: bool,
    client: bool,
}

/// A cost the client sent: the total and, when it split it, the input side.
#[derive(Clone, Copy)]
struct ClientCost {
    total: Nanos,
    input: Option<Nanos>,
}

/// A call's cost at the price book's price, when the book has one.
pub(crate) struct BookPrice {
    /// The cost and its input side.
    pub(crate) cost: CostSplit,
    /// The price's currency.
    pub(crate) currency: Currency,
    /// The price entry's version.
    pub(crate) version: String,
}

/// The cost of `call` of `provider`'s `model` at `at_us` for `tenant_id`, at the price
/// in force then (the tenant's own, then the database's, the file's, the built-in list's;
/// model names matched as llmring writes them, a bare model name by the one provider pricing
/// it); None when the book has none. Ingestion and repricing both price this way.
pub(crate) fn book_price(
    book: &PriceBook,
    tenant_id: &str,
    provider: &str,
    model: &str,
    at_us: i64,
    call: &Metered<'_>,
) -> Result<Option<BookPrice>, Invalid> {
    let Some(m) = book.find(tenant_id, provider, model, at_us) else {
        return Ok(None);
    };
    let cost = m
        .entry
        .rates
        .cost_split(call)
        .map_err(|e| Invalid::field("input_tokens", e.to_string()))?;
    Ok(Some(BookPrice {
        cost,
        currency: m.entry.currency.clone(),
        version: m.version.to_string(),
    }))
}

fn price(
    ctx: &IngestContext<'_>,
    c: &Common,
    call: &Metered<'_>,
    client: Option<ClientCost>,
) -> Result<Priced, Invalid> {
    if let Some(p) = book_price(
        ctx.book,
        ctx.tenant_id,
        &c.provider,
        &c.model,
        c.timestamp_us,
        call,
    )? {
        return Ok(Priced {
            // A quantity the price has no unit price for is billed at nothing: the call is
            // not fully priced, and says so.
            unpriced: !p.cost.unpriced_quantities.is_empty(),
            cost: p.cost.total,
            input: Some(p.cost.input),
            currency: p.currency,
            version: Some(p.version),
            client: false,
        });
    }
    match (client, ctx.client_cost) {
        (Some(cost), ClientCostPolicy::WhenUnpriced) => Ok(Priced {
            cost: cost.total,
            input: cost.input.filter(|i| *i <= cost.total),
            currency: Currency::usd(),
            version: None,
            unpriced: false,
            client: true,
        }),
        _ => Ok(Priced {
            cost: Nanos::ZERO,
            input: Some(Nanos::ZERO),
            currency: Currency::usd(),
            version: None,
            unpriced: true,
            client: false,
        }),
    }
}

/// Validates, normalises and prices a usage log.
pub fn usage_item(body: UsageLogBody, ctx: &IngestContext<'_>) -> Result<AppendItem, Invalid> {
    let charge = charge(ctx, body.hold_id.as_deref())?;
    let c = common(
        CallFields {
            provider: &body.provider,
            model: &body.model,
            alias: body.alias.as_deref(),
            profile: body.profile.as_deref(),
            origin: body.origin.as_deref(),
            timestamp: body.timestamp.as_deref(),
            request_id: body.request_id.as_deref(),
            user_id: body.user_id.as_deref(),
        },
        ctx.now_us,
    )?;
    let cached_response = body.cached_response.unwrap_or(false);
    let mut service_tier = body
        .service_tier
        .as_deref()
        .map(|t| ServiceTier::parse("service_tier", t))
        .transpose()?;
    let mut quantities = quantities(body.quantities)?;
    let mut estimate_method = None;
    // Text to estimate from means nothing beside a usage object or a cached response: refused
    // rather than silently ignored.
    if cached_response || body.usage.is_some() {
        let given = [
            ("prompt", body.prompt.is_some()),
            ("completion", body.completion.is_some()),
            ("prompt_chars", body.prompt_chars.is_some()),
            ("completion_chars", body.completion_chars.is_some()),
        ];
        if let Some((field, _)) = given.iter().find(|(_, set)| *set) {
            let beside = if cached_response {
                "cached_response (which records no tokens)"
            } else {
                "usage (whose counts are the provider's)"
            };
            return Err(Invalid::field(
                *field,
                format!("{field} estimates missing counts; it has no use beside {beside}"),
            ));
        }
    }
    let tokens = if cached_response {
        TokenCounts::default()
    } else if let Some(usage) = &body.usage {
        let n = normalize_usage(usage)?;
        service_tier = match (service_tier, n.service_tier) {
            (Some(a), Some(b)) if a != b => {
                return Err(Invalid::field(
                    "service_tier",
                    format!(
                        "service_tier '{}' differs from the usage object's '{}'",
                        a.as_str(),
                        b.as_str()
                    ),
                ))
            }
            (a, b) => a.or(b),
        };
        if n.web_searches > 0 {
            quantities
                .entry("web_search".to_string())
                .or_insert(n.web_searches);
        }
        n.tokens
    } else {
        let (input, output, method) = counts_or_estimates(
            &body.model,
            Side {
                count: body.input_tokens,
                text: body.prompt.as_deref(),
                chars: body.prompt_chars,
                names: ["input_tokens", "prompt", "prompt_chars"],
            },
            Side {
                count: body.output_tokens,
                text: body.completion.as_deref(),
                chars: body.completion_chars,
                names: ["output_tokens", "completion", "completion_chars"],
            },
        )?;
        estimate_method = method;
        TokenCounts {
            input,
            output,
            cached_input: body.cached_input_tokens.unwrap_or(0),
            cache_write: body.cache_write_tokens.unwrap_or(0),
            cache_write_1h: body.cache_write_1h_tokens.unwrap_or(0),
            reasoning: body.reasoning_tokens.unwrap_or(0),
            audio_input: body.audio_input_tokens.unwrap_or(0),
            image_input: body.image_input_tokens.unwrap_or(0),
            video_input: body.video_input_tokens.unwrap_or(0),
            audio_output: body.audio_output_tokens.unwrap_or(0),
            image_output: body.image_output_tokens.unwrap_or(0),
        }
        .validate()?
    };
    if cached_response {
        quantities.clear();
    }
    let service_tier = service_tier.unwrap_or_default();
    let client = client_cost("cost", body.cost)?.map(|total| ClientCost { total, input: None });
    let latency_ms = body.latency_ms.map(|l| {
        if (0..=86_400_000).contains(&l) {
            Ok(l)
        } else {
            Err(Invalid::field(
                "latency_ms",
                "latency_ms must be between 0 and 86400000",
            ))
        }
    });
    let latency_ms = latency_ms.transpose()?;
    let meta = metadata(body.metadata)?;
    let id_at_origin = optional_text("id_at_origin", body.id_at_origin.as_deref(), 255)?;
    let lock_digest = optional_text("lock_digest", body.lock_digest.as_deref(), 128)?;
    let dims = dimensions(body.kb_id.as_deref(), body.dimensions, ctx.dimensions)?;
    let explicit_conversation = uuid_field("conversation_id", body.conversation_id.as_deref())?;

    // The llmring client posts each call twice when it logs conversations: first to
    // /conversations/log, then here with the returned id as id_at_origin and
    // metadata.conversation_id. That second post is the same call.
    let llmring_conversation = meta
        .get("conversation_id")
        .and_then(Value::as_str)
        .filter(|m| Some(*m) == id_at_origin.as_deref())
        .and_then(|m| Uuid::parse_str(m).ok());
    let dedupe = match (&c.request_id, llmring_conversation, explicit_conversation) {
        (Some(r), _, _) => Dedupe::RequestId(r.clone()),
        (None, Some(conv), None) => Dedupe::ConversationCall(conv),
        _ => Dedupe::None,
    };

    let priced = if cached_response {
        Priced {
            cost: Nanos::ZERO,
            input: Some(Nanos::ZERO),
            currency: Currency::usd(),
            version: None,
            unpriced: false,
            client: false,
        }
    } else {
        let call = Metered {
            tokens: &tokens,
            service_tier,
            quantities: &quantities,
            units: None,
        };
        price(ctx, &c, &call, client)?
    };
    Ok(AppendItem {
        event: UsageEvent {
            log_id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id.to_string(),
            request_id: c.request_id,
            timestamp_us: c.timestamp_us,
            provider: c.provider,
            model: c.model,
            alias: c.alias,
            profile: c.profile,
            lock_digest,
            units: None,
            service_tier,
            quantities,
            origin: c.origin,
            id_at_origin,
            user_id: c.user_id,
            conversation_id: explicit_conversation.or(llmring_conversation),
            tokens,
            latency_ms,
            cost: priced.cost,
            input_cost: priced.input,
            currency: priced.currency,
            price_version: priced.version,
            flags: EventFlags {
                cached_response,
                unpriced: priced.unpriced,
                estimated: estimate_method.is_some(),
                client_cost: priced.client,
            },
            source: EventSource::Usage,
            metadata: meta,
            adjusts: None,
            estimate_method: estimate_method.map(|m| m.as_str().to_string()),
            dimensions: dims,
        },
        dedupe,
        execution: None,
        conversation: None,
        charge,
    })
}

/// One side (input or output) of a call sent without a usage object: its count, or the text
/// or length to estimate it from, and the field names to report.
struct Side<'a> {
    count: Option<i64>,
    text: Option<&'a str>,
    chars: Option<i64>,
    names: [&'static str; 3],
}

impl Side<'_> {
    /// Refuses a side with nothing to count, or with both a text and a length.
    fn check(&self) -> Result<(), Invalid> {
        let [count, text, chars] = self.names;
        if self.count.is_some() {
            // A count wins; text sent beside it would be silently ignored, so it is refused.
            return match (self.text, self.chars) {
                (None, None) => Ok(()),
                (Some(_), _) => Err(Invalid::field(
                    text,
                    format!("send {count} or {text} to estimate it, not both"),
                )),
                (None, Some(_)) => Err(Invalid::field(
                    chars,
                    format!("send {count} or {chars} to estimate it, not both"),
                )),
            };
        }
        match (self.text, self.chars) {
            (None, None) => Err(Invalid::field(
                count,
                format!(
                    "{count} is required: send it, the provider's usage object as usage, or \
                     the text as {text} (or its length in characters as {chars}) to estimate it"
                ),
            )),
            (Some(_), Some(_)) => Err(Invalid::field(
                chars,
                format!("send {text} or {chars}, not both"),
            )),
            (None, Some(c)) if !(0..=MAX_ESTIMATED_CHARS).contains(&c) => Err(Invalid::field(
                chars,
                format!("{chars} must be a whole number between 0 and {MAX_ESTIMATED_CHARS}"),
            )),
            _ => Ok(()),
        }
    }

    /// The count, else the estimate by `method`.
    fn tokens(&self, method: Option<EstimateMethod>) -> i64 {
        match (self.count, method, self.text) {
            (Some(n), _, _) => n,
            (None, Some(m), Some(t)) => m.count(t),
            (None, _, _) => estimate_tokens(usize::try_from(self.chars.unwrap_or(0)).unwrap_or(0)),
        }
    }
}

/// The input and output tokens of a call sent without a usage object: each side's count, else
/// an estimate from its text (`prompt`, `completion`) or its length (`prompt_chars`,
/// `completion_chars`), with the method used when any side was estimated. A side sent as a
/// length is counted at four characters a token, and then so is the other, so one call has one
/// method. A side with none of them is refused, naming its count.
fn counts_or_estimates(
    model: &str,
    input: Side<'_>,
    output: Side<'_>,
) -> Result<(i64, i64, Option<EstimateMethod>), Invalid> {
    input.check()?;
    output.check()?;
    let sides = [&input, &output];
    let method = if sides.iter().all(|s| s.count.is_some()) {
        None
    } else if sides.iter().any(|s| s.count.is_none() && s.text.is_none()) {
        Some(EstimateMethod::CharsPerFour)
    } else {
        Some(EstimateMethod::for_model(model))
    };
    Ok((input.tokens(method), output.tokens(method), method))
}

/// The longest text length, in characters, a call may ask to be estimated from (a billion
/// characters, far beyond any context window).
const MAX_ESTIMATED_CHARS: i64 = 1_000_000_000;

/// The most messages one call (or one batch of messages) may carry.
pub(crate) const MAX_MESSAGES: usize = 1000;
const MAX_ROLE: usize = 32;

fn content_hash(content: &Value) -> String {
    let text = match content {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn content_chars(content: Option<&Value>) -> usize {
    match content {
        Some(Value::String(s)) => s.chars().count(),
        Some(Value::Null) | None => 0,
        Some(other) => other.to_string().chars().count(),
    }
}

/// What `level` keeps of a message's content: the content and its hash (`full`), the hash
/// (`metadata`) or neither (`none`). Every route that stores messages goes through here.
pub(crate) fn kept(content: Option<Value>, level: LoggingLevel) -> (Option<Value>, Option<String>) {
    match content.filter(|c| !c.is_null()) {
        None => (None, None),
        Some(c) => match level {
            LoggingLevel::Full => {
                let h = content_hash(&c);
                (Some(c), Some(h))
            }
            LoggingLevel::Metadata => (None, Some(content_hash(&c))),
            LoggingLevel::None => (None, None),
        },
    }
}

/// Validates a conversation log and turns it into one call with its conversation.
pub fn conversation_item(
    mut body: ConversationLogBody,
    ctx: &IngestContext<'_>,
) -> Result<AppendItem, Invalid> {
    let charge = charge(ctx, body.hold_id.as_deref())?;
    let m = &body.metadata;
    let c = common(
        CallFields {
            provider: &m.provider,
            model: &m.model,
            alias: m.alias.as_deref(),
            profile: m.profile.as_deref(),
            origin: m.origin.as_deref(),
            timestamp: body.timestamp.as_deref(),
            request_id: body.request_id.as_deref(),
            user_id: body.user_id.as_deref(),
        },
        ctx.now_us,
    )
    .map_err(|e| {
        if e.field == "timestamp" || e.field == "request_id" || e.field == "user_id" {
            e
        } else {
            e.within("metadata")
        }
    })?;
    let dims = dimensions(
        body.kb_id.as_deref(),
        body.dimensions.take(),
        ctx.dimensions,
    )?;
    if body.messages.len() > MAX_MESSAGES {
        return Err(Invalid::field(
            "messages",
            format!("at most {MAX_MESSAGES} messages per call"),
        ));
    }

    for (field, value) in [
        ("input_tokens", m.input_tokens),
        ("output_tokens", m.output_tokens),
        ("cached_tokens", m.cached_tokens),
    ] {
        if let Some(v) = value {
            tollgate_core::validate::tokens(field, v).map_err(|e| e.within("metadata"))?;
        }
    }
    // Tokens: the response's usage object (it carries cache and reasoning counts), else the
    // metadata's counts, else an estimate from the content.
    let mut estimated = false;
    let usage = body
        .response
        .usage
        .as_ref()
        .filter(|u| u.as_object().is_some_and(|o| !o.is_empty()));
    let mut service_tier = ServiceTier::Standard;
    let mut quantities = BTreeMap::new();
    let tokens = match (usage, m.input_tokens, m.output_tokens) {
        (Some(usage), _, _) => {
            let n = normalize_usage(usage).map_err(|e| e.within("response"))?;
            service_tier = n.service_tier.unwrap_or_default();
            if n.web_searches > 0 {
                quantities.insert("web_search".to_string(), n.web_searches);
            }
            n.tokens
        }
        (None, Some(input), Some(output)) => TokenCounts {
            input,
            output,
            cached_input: m.cached_tokens.unwrap_or(0),
            ..Default::default()
        }
        .validate()
        .map_err(|e| e.within("metadata"))?,
        _ => {
            estimated = true;
            let input: usize = body
                .messages
                .iter()
                .map(|msg| content_chars(msg.content.as_ref()))
                .sum();
            TokenCounts {
                input: estimate_tokens(input),
                output: estimate_tokens(content_chars(body.response.content.as_ref())),
                ..Default::default()
            }
        }
    };
    // The client's total includes cache, reasoning and long-context costs that its
    // input/output split leaves out, so the total wins.
    let input = client_cost("metadata.input_cost", m.input_cost)?;
    let output = client_cost("metadata.output_cost", m.output_cost)?;
    let client = match client_cost("metadata.cost", m.cost)? {
        Some(total) => Some(ClientCost { total, input }),
        None => match (input, output) {
            (Some(i), Some(o)) => i.checked_add(o).map(|total| ClientCost {
                total,
                input: Some(i),
            }),
            _ => None,
        },
    };
    let call = Metered {
        tokens: &tokens,
        service_tier,
        quantities: &quantities,
        units: None,
    };
    let priced = price(ctx, &c, &call, client)?;

    let conversation_id = Uuid::now_v7();
    let mut messages = Vec::with_capacity(body.messages.len() + 1);
    for (i, msg) in body.messages.into_iter().enumerate() {
        let field = format!("messages[{i}]");
        let role = optional_text("role", msg.role.as_deref(), MAX_ROLE)
            .map_err(|e| e.within(&field))?
            .unwrap_or_else(|| "user".to_string());
        let (content, hash) = kept(msg.content, ctx.logging_level);
        messages.push(NewMessage {
            id: Uuid::now_v7(),
            role,
            content,
            content_hash: hash,
            input_tokens: None,
            output_tokens: None,
            tool_calls: msg.tool_calls,
            tool_results: msg.tool_results,
            metadata: metadata(msg.metadata).map_err(|e| e.within(&field))?,
            ts_us: c.timestamp_us,
        });
    }
    let answer_id = Uuid::now_v7();
    let (content, hash) = kept(body.response.content, ctx.logging_level);
    let mut answer_meta = Map::new();
    answer_meta.insert("provider".into(), Value::String(c.provider.clone()));
    answer_meta.insert(
        "model".into(),
        Value::String(
            body.response
                .model
                .clone()
                .unwrap_or_else(|| c.model.clone()),
        ),
    );
    if let Some(f) = &body.response.finish_reason {
        answer_meta.insert("finish_reason".into(), Value::String(f.clone()));
    }
    if let Some(u) = &body.response.usage {
        answer_meta.insert("usage".into(), u.clone());
    }
    answer_meta.insert("cost".into(), serde_json::json!(priced.cost.to_f64()));
    answer_meta.insert("cost_exact".into(), Value::String(priced.cost.to_string()));
    messages.push(NewMessage {
        id: answer_id,
        role: "assistant".into(),
        content,
        content_hash: hash,
        input_tokens: Some(tokens.input),
        output_tokens: Some(tokens.output),
        tool_calls: body.response.tool_calls,
        tool_results: None,
        metadata: answer_meta,
        ts_us: c.timestamp_us,
    });

    let model_alias = c
        .alias
        .clone()
        .unwrap_or_else(|| format!("{}:{}", c.provider, c.model));
    let title = format!("{} conversation", c.alias.as_deref().unwrap_or(&c.model));
    let dedupe = match &c.request_id {
        Some(r) => Dedupe::RequestId(r.clone()),
        None => Dedupe::None,
    };
    Ok(AppendItem {
        event: UsageEvent {
            log_id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id.to_string(),
            request_id: c.request_id,
            timestamp_us: c.timestamp_us,
            provider: c.provider,
            model: c.model,
            alias: c.alias,
            profile: c.profile,
            lock_digest: None,
            units: None,
            service_tier,
            quantities,
            origin: c.origin,
            id_at_origin: None,
            user_id: c.user_id,
            conversation_id: Some(conversation_id),
            tokens,
            latency_ms: None,
            cost: priced.cost,
            input_cost: priced.input,
            currency: priced.currency,
            price_version: priced.version,
            flags: EventFlags {
                cached_response: false,
                unpriced: priced.unpriced,
                estimated,
                client_cost: priced.client,
            },
            source: EventSource::Conversation,
            metadata: Map::new(),
            adjusts: None,
            estimate_method: estimated.then(|| EstimateMethod::CharsPerFour.as_str().to_string()),
            dimensions: dims,
        },
        dedupe,
        execution: None,
        conversation: Some(NewConversation {
            id: conversation_id,
            title: Some(title),
            system_prompt: None,
            model_alias,
            temperature: 0.7,
            max_tokens: None,
            messages,
            response_message_id: answer_id,
        }),
        charge,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    use super::{metadata, MAX_METADATA_BYTES};

    /// A metadata object whose compact JSON is exactly `len` bytes.
    fn object_of(len: usize) -> Map<String, Value> {
        // `{"k":"` and `"}` around the value.
        let Value::Object(map) = json!({"k": "x".repeat(len - 8)}) else {
            unreachable!()
        };
        assert_eq!(Value::Object(map.clone()).to_string().len(), len);
        map
    }

    #[test]
    fn metadata_up_to_the_limit_is_kept_and_one_byte_more_is_refused_naming_the_field() {
        let kept = metadata(Some(object_of(MAX_METADATA_BYTES))).expect("at the limit");
        assert_eq!(kept, object_of(MAX_METADATA_BYTES));
        let refused = metadata(Some(object_of(MAX_METADATA_BYTES + 1))).expect_err("too long");
        assert_eq!(refused.field, "metadata");
        assert!(metadata(None).expect("absent").is_empty());
    }
}
