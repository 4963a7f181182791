//! The usage event: one LLM call, validated, normalised and priced, ready to append to its
//! tenant's log; and its canonical log entry, the bytes the tenant log hashes and receipts
//! prove.

use std::collections::BTreeMap;
use std::io::Write as _;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::money::{Currency, Nanos};
use crate::time;
use crate::usage::{ServiceTier, TokenCounts};

/// The version of the canonical entry layout. A new layout gets a new number; stored entries
/// are never rewritten.
pub const ENTRY_VERSION: i64 = 1;

/// Which route recorded an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    /// `POST /api/v1/log` (or its batch form, or the CLI).
    Usage,
    /// The call of a `POST /api/v1/conversations/log`.
    Conversation,
    /// An MCP tool execution (`POST /api/v1/mcp/tools/{id}/execute`): provider `mcp`, model
    /// `<server>/<tool>`, no tokens, priced per call and per unit.
    Tool,
    /// A repricing (`POST /api/v1/pricing/reprice`): the cost an earlier unpriced call has at
    /// the price now known for its time, appended as its own entry (the log is never
    /// rewritten). It names that call ([`UsageEvent::adjusts`]), copies its labels and time,
    /// has no tokens, and is not a call: totals add its cost, never a request.
    Adjustment,
}

impl EventSource {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Usage => "usage",
            Self::Conversation => "conversation",
            Self::Tool => "tool",
            Self::Adjustment => "adjustment",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> EventSource {
        match s {
            "conversation" => Self::Conversation,
            "tool" => Self::Tool,
            "adjustment" => Self::Adjustment,
            _ => Self::Usage,
        }
    }
}

/// What is special about an event's numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventFlags {
    /// Served from a response cache: no provider call, zero tokens and zero cost recorded.
    pub cached_response: bool,
    /// No price was found and the client sent no usable cost: recorded at zero, to be priced.
    pub unpriced: bool,
    /// Token counts were estimated from the content, not reported by the provider.
    pub estimated: bool,
    /// The cost is the one the client sent (the model is not in the price book).
    pub client_cost: bool,
}

impl EventFlags {
    /// The flag names that are set, in a fixed order.
    pub fn names(&self) -> Vec<&'static str> {
        self.each_name().collect()
    }

    /// The names of the set flags, in the order of [`EventFlags::names`].
    fn each_name(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.cached_response, "cached_response"),
            (self.client_cost, "client_cost"),
            (self.estimated, "estimated"),
            (self.unpriced, "unpriced"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
    }

    /// Packs the flags into an integer for storage.
    pub fn bits(&self) -> i64 {
        i64::from(self.cached_response)
            | i64::from(self.unpriced) << 1
            | i64::from(self.estimated) << 2
            | i64::from(self.client_cost) << 3
    }

    /// Unpacks stored flags.
    pub fn from_bits(bits: i64) -> EventFlags {
        EventFlags {
            cached_response: bits & 1 != 0,
            unpriced: bits & 2 != 0,
            estimated: bits & 4 != 0,
            client_cost: bits & 8 != 0,
        }
    }
}

/// One priced LLM call of one tenant. Everything is validated before a value is built; the
/// store adds only the sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEvent {
    /// The log id (a bare UUID, as llmring expects).
    pub log_id: Uuid,
    /// The tenant, from the credentials.
    pub tenant_id: String,
    /// The client's idempotency key, unique per tenant.
    pub request_id: Option<String>,
    /// When the call happened (UTC microseconds).
    pub timestamp_us: i64,
    /// Provider name as sent (`openai`).
    pub provider: String,
    /// Model name as sent (`gpt-4o`).
    pub model: String,
    /// llmring alias.
    pub alias: Option<String>,
    /// llmring profile (`default` when absent).
    pub profile: String,
    /// The digest of the llmring lockfile the call was made under, when the client sent one
    /// (at most 128 bytes). In the canonical entry only when present, so the entries of
    /// events without one are what they were before it existed.
    pub lock_digest: Option<String>,
    /// The application or service that made the call.
    pub origin: Option<String>,
    /// The caller's own id for the call.
    pub id_at_origin: Option<String>,
    /// The end user the call is billed to.
    pub user_id: Option<String>,
    /// The conversation it belongs to.
    pub conversation_id: Option<Uuid>,
    /// Token counts. The classes beyond the first five (1-hour cache writes, audio, image and
    /// video tokens) are in the canonical entry only when not zero, so entries of events
    /// without them are what they were before they existed.
    pub tokens: TokenCounts,
    /// How the provider served the call; in the canonical entry only when not standard.
    pub service_tier: ServiceTier,
    /// Quantities priced per unit (`web_search`: 2), in the canonical entry as
    /// `quantity:<name>` members only when present.
    pub quantities: BTreeMap<String, i64>,
    /// The quantity a tool execution reported (pages, queries, ...), priced per unit. In the
    /// canonical entry only when present, so entries of events without one are unchanged.
    pub units: Option<i64>,
    /// Latency reported by the client.
    pub latency_ms: Option<i64>,
    /// Exact cost.
    pub cost: Nanos,
    /// The input side of `cost` (prompt tokens), when known; the rest is output. Not part of
    /// the canonical entry (version 1 carries the total only).
    pub input_cost: Option<Nanos>,
    /// Currency of `cost`.
    pub currency: Currency,
    /// The price entry that priced it (`builtin:openai/gpt-4o@2024-08-06`).
    pub price_version: Option<String>,
    /// Flags.
    pub flags: EventFlags,
    /// Which route recorded it.
    pub source: EventSource,
    /// Client metadata (a JSON object), stored but not part of the canonical entry.
    pub metadata: Map<String, Value>,
    /// For an [`EventSource::Adjustment`], the log id of the call it prices. In the canonical
    /// entry only when present, so the entries of every other event are unchanged.
    pub adjusts: Option<Uuid>,
    /// How the token counts of an `estimated` event were estimated (`chars/4`, or a
    /// tokenizer's name such as `o200k_base`). In the canonical entry only when present, so
    /// the entries of events without an estimate are unchanged.
    pub estimate_method: Option<String>,
    /// The call's dimensions (`kb_id`, and the deployment's own, such as `feature` or
    /// `team`): name to value. Names are lowercase identifiers (see [`dimension_name`]), so
    /// they sort and print the same everywhere. In the canonical entry as `dimension:<name>`
    /// members, only when present, so the entries of events without them are unchanged.
    pub dimensions: BTreeMap<String, String>,
}

/// The dimension every deployment has: the knowledge base a call answered from.
pub const KB_ID: &str = "kb_id";

/// Checks a dimension's name: 1 to 32 characters, a lowercase ASCII letter then lowercase
/// letters, digits or `_`.
pub fn dimension_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok
        || name.len() > 32
        || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(format!(
            "'{name}' is not a dimension name: 1 to 32 characters, a lowercase letter then lowercase letters, digits or _"
        ));
    }
    Ok(())
}

impl UsageEvent {
    /// The canonical entry of this event at position `seq` of its tenant's log: RFC 8785 JSON
    /// of strings and integers only. Absent optional fields are left out. Client metadata is
    /// not part of it: the entry certifies what was billed, not free-form annotations.
    ///
    /// This is the ingestion hot path, so the object is written directly, keys in the RFC
    /// 8785 order (all ASCII, so byte order); a test checks it against the generic
    /// canonicaliser.
    pub fn canonical_entry(&self, seq: i64) -> Vec<u8> {
        let mut w = EntryWriter(Vec::with_capacity(512));
        let (mut conversation, mut adjusts, mut log_id) = (
            Uuid::encode_buffer(),
            Uuid::encode_buffer(),
            Uuid::encode_buffer(),
        );
        let conversation = self
            .conversation_id
            .map(|c| &*c.hyphenated().encode_lower(&mut conversation));
        let adjusts = self
            .adjusts
            .map(|a| &*a.hyphenated().encode_lower(&mut adjusts));
        w.0.push(b'{');
        let t = &self.tokens;
        w.opt("adjusts", adjusts);
        w.opt("alias", self.alias.as_deref());
        w.nonzero("audio_input_tokens", t.audio_input);
        w.nonzero("audio_output_tokens", t.audio_output);
        w.nonzero("cache_write_1h_tokens", t.cache_write_1h);
        w.int("cache_write_tokens", self.tokens.cache_write);
        w.int("cached_input_tokens", self.tokens.cached_input);
        w.opt("conversation_id", conversation);
        // A decimal string: digits, a point and a sign, nothing to escape.
        w.key("cost");
        let _ = write!(w.0, "\"{}\"", self.cost);
        w.str("currency", self.currency.as_str());
        for (name, value) in &self.dimensions {
            w.str(&format!("dimension:{name}"), value);
        }
        w.opt("estimate_method", self.estimate_method.as_deref());
        w.key("flags");
        w.0.push(b'[');
        for (i, name) in self.flags.each_name().enumerate() {
            if i > 0 {
                w.0.push(b',');
            }
            tollgate_receipts::write_string(&mut w.0, name);
        }
        w.0.push(b']');
        w.opt("id_at_origin", self.id_at_origin.as_deref());
        w.nonzero("image_input_tokens", t.image_input);
        w.nonzero("image_output_tokens", t.image_output);
        w.int("input_tokens", self.tokens.input);
        w.opt("lock_digest", self.lock_digest.as_deref());
        w.str("log_id", self.log_id.hyphenated().encode_lower(&mut log_id));
        w.str("model", &self.model);
        w.opt("origin", self.origin.as_deref());
        w.int("output_tokens", self.tokens.output);
        w.opt("price_version", self.price_version.as_deref());
        w.str("profile", &self.profile);
        w.str("provider", &self.provider);
        for (name, n) in &self.quantities {
            w.int(&format!("quantity:{name}"), *n);
        }
        w.int("reasoning_tokens", self.tokens.reasoning);
        w.opt("request_id", self.request_id.as_deref());
        w.int("seq", seq);
        if self.service_tier != ServiceTier::Standard {
            w.str("service_tier", self.service_tier.as_str());
        }
        w.str("source", self.source.as_str());
        w.str("tenant", &self.tenant_id);
        w.str("time", &time::format_us(self.timestamp_us));
        if let Some(units) = self.units {
            w.int("units", units);
        }
        w.opt("user_id", self.user_id.as_deref());
        w.int("v", ENTRY_VERSION);
        w.nonzero("video_input_tokens", t.video_input);
        w.0.push(b'}');
        w.0
    }
}

/// Writes the members of one JSON object in the order they are given. Writing into a `Vec`
/// cannot fail, so the results of `write!` are let go.
struct EntryWriter(Vec<u8>);

impl EntryWriter {
    /// Keys are fixed ASCII identifiers that need no escaping, so they are copied as they are.
    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(b',');
        }
        self.0.push(b'"');
        self.0.extend_from_slice(key.as_bytes());
        self.0.extend_from_slice(b"\":");
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        tollgate_receipts::write_string(&mut self.0, value);
    }

    fn opt(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    fn int(&mut self, key: &str, value: i64) {
        debug_assert!(value.unsigned_abs() <= tollgate_receipts::canonical::MAX_SAFE_INTEGER);
        self.key(key);
        if value < 0 {
            self.0.push(b'-');
        }
        let mut digits = [0u8; 20];
        let mut n = value.unsigned_abs();
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.0.extend_from_slice(&digits[start..]);
    }

    fn nonzero(&mut self, key: &str, value: i64) {
        if value != 0 {
            self.int(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> UsageEvent {
        UsageEvent {
            log_id: Uuid::nil(),
            tenant_id: "tnt_x".into(),
            request_id: None,
            timestamp_us: 1_700_000_000_000_000,
            provider: "openai".into(),
            model: "gpt-4o".into(),
            alias: Some("chat".into()),
            profile: "default".into(),
            lock_digest: None,
            units: None,
            service_tier: ServiceTier::Standard,
            quantities: BTreeMap::new(),
            origin: None,
            id_at_origin: None,
            user_id: None,
            conversation_id: None,
            tokens: TokenCounts {
                input: 10,
                output: 5,
                ..Default::default()
            },
            latency_ms: Some(120),
            cost: Nanos(75_000),
            input_cost: None,
            currency: Currency::usd(),
            price_version: Some("builtin:openai/gpt-4o@2024-08-06".into()),
            flags: EventFlags {
                unpriced: false,
                ..Default::default()
            },
            source: EventSource::Usage,
            metadata: Map::new(),
            adjusts: None,
            estimate_method: None,
            dimensions: BTreeMap::new(),
        }
    }

    #[test]
    fn dimensions_are_in_the_entry_in_name_order_only_when_present() {
        let mut e = event();
        let plain = e.canonical_entry(7);
        e.dimensions.insert("team".into(), "search".into());
        e.dimensions.insert(KB_ID.into(), "kb_42".into());
        let entry = String::from_utf8(e.canonical_entry(7)).expect("utf-8");
        assert!(
            entry.contains(
                r#""currency":"USD","dimension:kb_id":"kb_42","dimension:team":"search","flags""#
            ),
            "{entry}"
        );
        e.dimensions.clear();
        assert_eq!(e.canonical_entry(7), plain);
    }

    #[test]
    fn a_dimension_name_is_a_lowercase_identifier() {
        for good in ["kb_id", "team", "f2", "a"] {
            assert_eq!(dimension_name(good), Ok(()), "{good}");
        }
        for bad in ["", "Team", "2f", "kb-id", "team name", &"x".repeat(33)] {
            assert!(dimension_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_canonical_entry_is_sorted_compact_and_leaves_out_absent_fields() {
        let text = String::from_utf8(event().canonical_entry(7)).expect("utf-8");
        assert_eq!(
            text,
            r#"{"alias":"chat","cache_write_tokens":0,"cached_input_tokens":0,"cost":"0.000075000","currency":"USD","flags":[],"input_tokens":10,"log_id":"00000000-0000-0000-0000-000000000000","model":"gpt-4o","output_tokens":5,"price_version":"builtin:openai/gpt-4o@2024-08-06","profile":"default","provider":"openai","reasoning_tokens":0,"seq":7,"source":"usage","tenant":"tnt_x","time":"2023-11-14T22:13:20.000000Z","v":1}"#
        );
    }

    #[test]
    fn a_lock_digest_is_in_the_entry_only_when_the_call_recorded_one() {
        let mut e = event();
        let without = e.canonical_entry(7);
        e.lock_digest = Some("sha256:ab12".into());
        let with = String::from_utf8(e.canonical_entry(7)).expect("utf-8");
        assert!(
            with.contains(r#""input_tokens":10,"lock_digest":"sha256:ab12","log_id""#),
            "{with}"
        );
        assert_eq!(
            with.replace(r#""lock_digest":"sha256:ab12","#, ""),
            String::from_utf8(without).expect("utf-8")
        );
    }

    #[test]
    fn a_tool_execution_entry_carries_its_source_and_units() {
        let mut e = event();
        e.source = EventSource::Tool;
        e.units = Some(3);
        let entry = String::from_utf8(e.canonical_entry(7)).expect("utf-8");
        assert!(
            entry.contains(r#""source":"tool","tenant":"tnt_x","time":"2023-11-14T22:13:20.000000Z","units":3,"v":1}"#),
            "{entry}"
        );
        assert_eq!(EventSource::parse("tool"), EventSource::Tool);
    }

    #[test]
    fn an_adjustment_entry_names_the_call_it_prices_and_other_entries_are_unchanged() {
        let mut e = event();
        let plain = e.canonical_entry(7);
        e.source = EventSource::Adjustment;
        e.adjusts = Some(Uuid::max());
        let entry = String::from_utf8(e.canonical_entry(7)).expect("utf-8");
        assert!(
            entry.starts_with(r#"{"adjusts":"ffffffff-ffff-ffff-ffff-ffffffffffff","alias""#),
            "{entry}"
        );
        assert!(entry.contains(r#""source":"adjustment""#), "{entry}");
        e.source = EventSource::Usage;
        e.adjusts = None;
        assert_eq!(e.canonical_entry(7), plain);
        assert_eq!(EventSource::parse("adjustment"), EventSource::Adjustment);
    }

    #[test]
    fn an_estimate_method_is_in_the_entry_only_when_the_counts_were_estimated() {
        let mut e = event();
        let plain = e.canonical_entry(7);
        e.flags.estimated = true;
        e.estimate_method = Some("chars/4".into());
        let entry = String::from_utf8(e.canonical_entry(7)).expect("utf-8");
        assert!(
            entry.contains(r#""currency":"USD","estimate_method":"chars/4","flags":["estimated"]"#),
            "{entry}"
        );
        e.flags.estimated = false;
        e.estimate_method = None;
        assert_eq!(e.canonical_entry(7), plain);
    }

    /// The generic form of the entry, for checking the direct writer.
    fn generic_entry(e: &UsageEvent, seq: i64) -> Vec<u8> {
        let mut v = json!({
            "v": ENTRY_VERSION, "tenant": e.tenant_id, "seq": seq, "log_id": e.log_id.to_string(),
            "time": time::format_us(e.timestamp_us), "provider": e.provider, "model": e.model,
            "profile": e.profile, "input_tokens": e.tokens.input, "output_tokens": e.tokens.output,
            "cached_input_tokens": e.tokens.cached_input, "cache_write_tokens": e.tokens.cache_write,
            "reasoning_tokens": e.tokens.reasoning, "cost": e.cost.to_string(),
            "currency": e.currency.as_str(), "flags": e.flags.names(), "source": e.source.as_str(),
        });
        let obj = v.as_object_mut().expect("object");
        for (k, val) in [
            ("alias", e.alias.clone()),
            ("origin", e.origin.clone()),
            ("id_at_origin", e.id_at_origin.clone()),
            ("user_id", e.user_id.clone()),
            ("conversation_id", e.conversation_id.map(|c| c.to_string())),
            ("request_id", e.request_id.clone()),
            ("price_version", e.price_version.clone()),
            ("lock_digest", e.lock_digest.clone()),
            ("adjusts", e.adjusts.map(|a| a.to_string())),
            ("estimate_method", e.estimate_method.clone()),
        ] {
            if let Some(val) = val {
                obj.insert(k.into(), Value::String(val));
            }
        }
        if let Some(units) = e.units {
            obj.insert("units".into(), units.into());
        }
        let t = &e.tokens;
        for (k, n) in [
            ("cache_write_1h_tokens", t.cache_write_1h),
            ("audio_input_tokens", t.audio_input),
            ("image_input_tokens", t.image_input),
            ("video_input_tokens", t.video_input),
            ("audio_output_tokens", t.audio_output),
            ("image_output_tokens", t.image_output),
        ] {
            if n != 0 {
                obj.insert(k.into(), n.into());
            }
        }
        if e.service_tier != ServiceTier::Standard {
            obj.insert("service_tier".into(), e.service_tier.as_str().into());
        }
        for (name, value) in &e.dimensions {
            obj.insert(format!("dimension:{name}"), value.clone().into());
        }
        for (name, n) in &e.quantities {
            obj.insert(format!("quantity:{name}"), (*n).into());
        }
        tollgate_receipts::canonicalize(&v).expect("canonical")
    }

    proptest::proptest! {
        #[test]
        fn the_direct_writer_matches_the_generic_canonicaliser(
            text in "\\PC{0,12}",
            control in "[\\u{0}-\\u{1f}\"\\\\a-z]{0,6}",
            present in proptest::collection::vec(proptest::prelude::any::<bool>(), 10),
            tokens in 0i64..1_000_000_000,
            seq in 0i64..(1 << 40),
            bits in 0i64..16,
            units in proptest::option::of(0i64..1_000_000),
            media in proptest::collection::vec(0i64..3, 6),
            tier in 0usize..4,
            quantities in proptest::collection::btree_map("[a-z_:0-9x]{1,12}", 0i64..100, 0..3),
            dimensions in proptest::collection::btree_map("[a-z][a-z_0-9]{0,8}", "\\PC{0,6}", 0..3),
        ) {
            let mut e = event();
            let opt = |i: usize, s: String| present[i].then_some(s);
            e.alias = opt(0, text.clone());
            e.origin = opt(1, control.clone());
            e.id_at_origin = opt(2, format!("{text}{control}"));
            e.user_id = opt(3, control.clone());
            e.conversation_id = present[4].then(Uuid::nil);
            e.request_id = opt(5, text.clone());
            e.price_version = opt(6, "builtin:x@2024-01-01".into());
            e.lock_digest = opt(7, format!("sha256:{text}"));
            e.adjusts = present[8].then(Uuid::max);
            e.estimate_method = opt(9, format!("{control}_base"));
            e.model = format!("m{control}");
            e.tokens = TokenCounts { input: tokens, output: tokens / 2, cached_input: tokens / 3, reasoning: tokens / 4, ..TokenCounts::default() };
            e.flags = EventFlags::from_bits(bits);
            e.units = units;
            e.tokens.cache_write = media[0] * 2;
            e.tokens.cache_write_1h = media[0];
            e.tokens.audio_input = media[1];
            e.tokens.image_input = media[2];
            e.tokens.video_input = media[3];
            e.tokens.audio_output = media[4];
            e.tokens.image_output = media[5];
            e.service_tier = ServiceTier::ALL[tier];
            e.quantities = quantities;
            e.dimensions = dimensions;
            proptest::prop_assert_eq!(e.canonical_entry(seq), generic_entry(&e, seq));
        }
    }

    #[test]
    fn flags_round_trip_through_their_bits() {
        let f = EventFlags {
            cached_response: true,
            unpriced: false,
            estimated: true,
            client_cost: true,
        };
        assert_eq!(EventFlags::from_bits(f.bits()), f);
        assert_eq!(
            f.names(),
            vec!["cached_response", "client_cost", "estimated"]
        );
    }
}
