//! Token counts and the normalisation of providers' usage objects into them.
//!
//! Tollgate's convention: `input` counts every prompt token, cached reads and cache writes
//! included; `output` counts every generated token, reasoning included. The sub-counts say how
//! many of those were billed at a different rate. Providers disagree (Anthropic reports cache
//! tokens beside its input count, Gemini reports thoughts beside its candidates), so each
//! shape is mapped here, once.

use serde_json::{Map, Value};

use crate::validate::{self, Invalid};

/// The tokens of one call.
///
/// Sub-counts nest inside the totals: `cached_input`, `cache_write` and the uncached media
/// counts (`audio_input`, `image_input`, `video_input`) are parts of `input`; `cache_write_1h`
/// is the part of `cache_write` kept for an hour; `reasoning` and the media outputs
/// (`audio_output`, `image_output`) are parts of `output`. What no sub-count claims is text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// Every prompt token, cached reads and cache writes included.
    pub input: i64,
    /// Every generated token, reasoning included.
    pub output: i64,
    /// Prompt tokens read from the provider's prompt cache.
    pub cached_input: i64,
    /// Prompt tokens written to the provider's prompt cache (every duration).
    pub cache_write: i64,
    /// The part of `cache_write` written to a cache kept for an hour (Anthropic's 1-hour
    /// cache); the rest was written for five minutes.
    pub cache_write_1h: i64,
    /// Generated tokens spent on reasoning (thinking).
    pub reasoning: i64,
    /// Uncached prompt tokens of audio.
    pub audio_input: i64,
    /// Uncached prompt tokens of images.
    pub image_input: i64,
    /// Uncached prompt tokens of video.
    pub video_input: i64,
    /// Generated tokens of audio.
    pub audio_output: i64,
    /// Generated tokens of images.
    pub image_output: i64,
}

/// A kind of token a provider may price on its own. Every token of a call is in exactly one
/// class ([`TokenCounts::by_class`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenClass {
    /// Uncached prompt text.
    Input,
    /// Prompt tokens read from the cache.
    CachedInput,
    /// Prompt tokens written to a cache kept for five minutes.
    CacheWrite,
    /// Prompt tokens written to a cache kept for an hour.
    CacheWrite1h,
    /// Uncached prompt audio.
    AudioInput,
    /// Uncached prompt images.
    ImageInput,
    /// Uncached prompt video.
    VideoInput,
    /// Generated text that is not reasoning.
    Output,
    /// Reasoning (thinking) tokens.
    Reasoning,
    /// Generated audio.
    AudioOutput,
    /// Generated images.
    ImageOutput,
}

impl TokenClass {
    /// Every class, prompt classes first.
    pub const ALL: [TokenClass; 11] = [
        TokenClass::Input,
        TokenClass::CachedInput,
        TokenClass::CacheWrite,
        TokenClass::CacheWrite1h,
        TokenClass::AudioInput,
        TokenClass::ImageInput,
        TokenClass::VideoInput,
        TokenClass::Output,
        TokenClass::Reasoning,
        TokenClass::AudioOutput,
        TokenClass::ImageOutput,
    ];

    /// The name of the class's rate in price files and listings (`cache_write_1h`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::CachedInput => "cached_input",
            Self::CacheWrite => "cache_write",
            Self::CacheWrite1h => "cache_write_1h",
            Self::AudioInput => "audio_input",
            Self::ImageInput => "image_input",
            Self::VideoInput => "video_input",
            Self::Output => "output",
            Self::Reasoning => "reasoning",
            Self::AudioOutput => "audio_output",
            Self::ImageOutput => "image_output",
        }
    }

    /// The class whose rate bills these tokens when a price sets none of its own: prompt
    /// classes fall back to `input` (a 1-hour cache write to the 5-minute one first), output
    /// classes to `output`. `input` and `output` have no fallback: every price sets them.
    pub fn fallback(self) -> Option<TokenClass> {
        match self {
            Self::Input | Self::Output => None,
            Self::CacheWrite1h => Some(Self::CacheWrite),
            Self::CachedInput
            | Self::CacheWrite
            | Self::AudioInput
            | Self::ImageInput
            | Self::VideoInput => Some(Self::Input),
            Self::Reasoning | Self::AudioOutput | Self::ImageOutput => Some(Self::Output),
        }
    }

    /// Whether the class is part of the prompt (the input side of a cost).
    pub fn is_input(self) -> bool {
        self < Self::Output
    }
}

impl TokenCounts {
    /// Checks bounds and that the sub-counts fit inside their totals.
    pub fn validate(self) -> Result<TokenCounts, Invalid> {
        validate::tokens("input_tokens", self.input)?;
        validate::tokens("output_tokens", self.output)?;
        validate::tokens("cached_input_tokens", self.cached_input)?;
        validate::tokens("cache_write_tokens", self.cache_write)?;
        validate::tokens("cache_write_1h_tokens", self.cache_write_1h)?;
        validate::tokens("reasoning_tokens", self.reasoning)?;
        validate::tokens("audio_input_tokens", self.audio_input)?;
        validate::tokens("image_input_tokens", self.image_input)?;
        validate::tokens("video_input_tokens", self.video_input)?;
        validate::tokens("audio_output_tokens", self.audio_output)?;
        validate::tokens("image_output_tokens", self.image_output)?;
        if self.cached_input + self.cache_write > self.input {
            return Err(Invalid::field(
                "cached_input_tokens",
                format!(
                    "cached_input_tokens ({}) plus cache_write_tokens ({}) exceed input_tokens ({}); \
                     input_tokens counts every prompt token, cached ones included",
                    self.cached_input, self.cache_write, self.input
                ),
            ));
        }
        if self.cache_write_1h > self.cache_write {
            return Err(Invalid::field(
                "cache_write_1h_tokens",
                format!(
                    "cache_write_1h_tokens ({}) exceed cache_write_tokens ({}); cache_write_tokens \
                     counts every cache write, 1-hour ones included",
                    self.cache_write_1h, self.cache_write
                ),
            ));
        }
        let media_in = self.audio_input + self.image_input + self.video_input;
        if media_in > self.uncached_input() {
            return Err(Invalid::field(
                "audio_input_tokens",
                format!(
                    "audio_input_tokens, image_input_tokens and video_input_tokens ({media_in} in \
                     all) exceed the uncached prompt tokens ({}); they count uncached prompt \
                     tokens, which input_tokens includes",
                    self.uncached_input()
                ),
            ));
        }
        if self.reasoning > self.output {
            return Err(Invalid::field(
                "reasoning_tokens",
                format!(
                    "reasoning_tokens ({}) exceed output_tokens ({}); output_tokens counts every \
                     generated token, reasoning included",
                    self.reasoning, self.output
                ),
            ));
        }
        let media_out = self.audio_output + self.image_output;
        if media_out > self.output - self.reasoning {
            return Err(Invalid::field(
                "audio_output_tokens",
                format!(
                    "audio_output_tokens and image_output_tokens ({media_out} in all) exceed the \
                     generated tokens that are not reasoning ({}); output_tokens includes them",
                    self.output - self.reasoning
                ),
            ));
        }
        Ok(self)
    }

    /// Prompt tokens that were neither read from nor written to a cache (media included).
    pub fn uncached_input(&self) -> i64 {
        self.input - self.cached_input - self.cache_write
    }

    /// Input plus output: the llmring notion of total tokens.
    pub fn total(&self) -> i64 {
        self.input + self.output
    }

    /// The tokens of each class; together they are every token of the call, once.
    pub fn by_class(&self) -> [(TokenClass, i64); 11] {
        [
            (
                TokenClass::Input,
                self.uncached_input() - self.audio_input - self.image_input - self.video_input,
            ),
            (TokenClass::CachedInput, self.cached_input),
            (
                TokenClass::CacheWrite,
                self.cache_write - self.cache_write_1h,
            ),
            (TokenClass::CacheWrite1h, self.cache_write_1h),
            (TokenClass::AudioInput, self.audio_input),
            (TokenClass::ImageInput, self.image_input),
            (TokenClass::VideoInput, self.video_input),
            (
                TokenClass::Output,
                self.output - self.reasoning - self.audio_output - self.image_output,
            ),
            (TokenClass::Reasoning, self.reasoning),
            (TokenClass::AudioOutput, self.audio_output),
            (TokenClass::ImageOutput, self.image_output),
        ]
    }
}

/// How a provider served a call, which changes its price.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceTier {
    /// The default, on-demand tier.
    #[default]
    Standard,
    /// Asynchronous batch processing (OpenAI Batch, Anthropic Message Batches, Gemini batch).
    Batch,
    /// OpenAI's flex processing: slower, cheaper.
    Flex,
    /// Priority processing: faster, dearer.
    Priority,
}

impl ServiceTier {
    /// Every tier.
    pub const ALL: [ServiceTier; 4] = [Self::Standard, Self::Batch, Self::Flex, Self::Priority];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Batch => "batch",
            Self::Flex => "flex",
            Self::Priority => "priority",
        }
    }

    /// Reads a tier as providers and clients name it: `default` and `auto` (OpenAI's names
    /// for the on-demand tier) are `standard`.
    pub fn parse(field: &str, name: &str) -> Result<ServiceTier, Invalid> {
        match name.trim().to_ascii_lowercase().as_str() {
            "standard" | "default" | "auto" | "on_demand" => Ok(Self::Standard),
            "batch" => Ok(Self::Batch),
            "flex" => Ok(Self::Flex),
            "priority" => Ok(Self::Priority),
            other => Err(Invalid::field(
                field,
                format!("{field} '{other}' is unknown: use standard, batch, flex or priority"),
            )),
        }
    }
}

/// What a provider usage object says about a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedUsage {
    /// The tokens, by class.
    pub tokens: TokenCounts,
    /// Which shape it had.
    pub shape: UsageShape,
    /// The service tier the object names (Anthropic's `service_tier`), if any.
    pub service_tier: Option<ServiceTier>,
    /// Web searches the provider ran and bills per search (Anthropic's
    /// `server_tool_use.web_search_requests`).
    pub web_searches: i64,
}

/// Which provider's usage shape an object has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageShape {
    /// OpenAI Chat Completions (`prompt_tokens`, `completion_tokens`, `*_details`).
    OpenAiChat,
    /// OpenAI Responses, Realtime and Images (`input_tokens`, `output_tokens`,
    /// `*_tokens_details` or `*_token_details`, `total_tokens`).
    OpenAiResponses,
    /// Anthropic Messages, also on Bedrock and Vertex (`input_tokens`, `output_tokens`,
    /// `cache_*_input_tokens`, `cache_creation`).
    Anthropic,
    /// Google Gemini, also on Vertex (`promptTokenCount` or `prompt_token_count`, ...).
    Gemini,
    /// Amazon Bedrock's Converse API (`inputTokens`, `outputTokens`, `cache*InputTokens`).
    BedrockConverse,
}

/// Recognises a provider usage object and maps it, completely, to [`NormalizedUsage`].
///
/// Media counts a provider reports with cached tokens inside them are reduced by the cached
/// part when the provider says it, and never claim more than the uncached prompt: the cached
/// tokens are priced at the cached rate whatever their medium.
pub fn normalize_usage(usage: &Value) -> Result<NormalizedUsage, Invalid> {
    let obj = usage
        .as_object()
        .ok_or_else(|| Invalid::field("usage", "usage must be a JSON object"))?;
    let shape = detect(obj).ok_or_else(|| {
        Invalid::field(
            "usage",
            "usage is not an OpenAI, Anthropic, Gemini or Bedrock usage object (expected \
             prompt_tokens, input_tokens, promptTokenCount or inputTokens)",
        )
    })?;
    let int = |path: &[&str]| count(obj, path).map_err(|e| e.within("usage"));
    let mut service_tier = None;
    let mut web_searches = 0;
    let mut counts = match shape {
        UsageShape::OpenAiChat => {
            // llmring reports Anthropic calls in this shape with the prompt-cache counts
            // beside prompt_tokens (as Anthropic does); LiteLLM and OpenRouter put them inside
            // it and say so in prompt_tokens_details.
            let prompt = int(&["prompt_tokens"])?;
            let read = int(&["cache_read_input_tokens"])?;
            let (write, write_1h) = anthropic_writes(obj)?;
            let details_cached =
                int(&["prompt_tokens_details", "cached_tokens"])?.max(int(&["cached_tokens"])?);
            let details_write = int(&["prompt_tokens_details", "cache_write_tokens"])?
                .max(int(&["prompt_tokens_details", "cache_creation_tokens"])?);
            let inside = obj
                .get("prompt_tokens_details")
                .is_some_and(Value::is_object)
                && prompt
                    >= read
                        .max(details_cached)
                        .saturating_add(write.max(details_write));
            let (input, cached, write) = if inside {
                (prompt, details_cached.max(read), write.max(details_write))
            } else {
                (
                    prompt.saturating_add(read).saturating_add(write),
                    details_cached.saturating_add(read),
                    write,
                )
            };
            let completion = int(&["completion_tokens"])?;
            let reasoning = int(&["completion_tokens_details", "reasoning_tokens"])?
                .max(int(&["reasoning_tokens"])?);
            // xAI counts reasoning beside completion_tokens: its total says so.
            let beside = reasoning > 0
                && obj.get("total_tokens").and_then(Value::as_i64)
                    == Some(prompt.saturating_add(completion).saturating_add(reasoning));
            TokenCounts {
                input,
                output: if beside {
                    completion.saturating_add(reasoning)
                } else {
                    completion
                },
                cached_input: cached,
                cache_write: write,
                cache_write_1h: write_1h.min(write),
                reasoning,
                audio_input: int(&["prompt_tokens_details", "audio_tokens"])?,
                image_input: int(&["prompt_tokens_details", "image_tokens"])?,
                audio_output: int(&["completion_tokens_details", "audio_tokens"])?,
                image_output: int(&["completion_tokens_details", "image_tokens"])?,
                ..TokenCounts::default()
            }
        }
        UsageShape::OpenAiResponses => {
            // Responses says `input_tokens_details`; Realtime says `input_token_details`.
            let details = |side: &str, field: &str| -> Result<i64, Invalid> {
                Ok(int(&[&format!("{side}_tokens_details"), field])?
                    .max(int(&[&format!("{side}_token_details"), field])?))
            };
            let cached_part =
                |field: &str| -> Result<i64, Invalid> {
                    Ok(
                        int(&["input_tokens_details", "cached_tokens_details", field])?.max(int(
                            &["input_token_details", "cached_tokens_details", field],
                        )?),
                    )
                };
            TokenCounts {
                input: int(&["input_tokens"])?,
                output: int(&["output_tokens"])?,
                cached_input: details("input", "cached_tokens")?,
                reasoning: details("output", "reasoning_tokens")?,
                audio_input: details("input", "audio_tokens")?
                    .saturating_sub(cached_part("audio_tokens")?),
                image_input: details("input", "image_tokens")?
                    .saturating_sub(cached_part("image_tokens")?),
                audio_output: details("output", "audio_tokens")?,
                image_output: details("output", "image_tokens")?,
                ..TokenCounts::default()
            }
        }
        UsageShape::Anthropic => {
            let read = int(&["cache_read_input_tokens"])?;
            let (write, write_1h) = anthropic_writes(obj)?;
            web_searches = int(&["server_tool_use", "web_search_requests"])?;
            service_tier = match obj.get("service_tier") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(ServiceTier::parse("usage.service_tier", s)?),
                Some(_) => {
                    return Err(Invalid::field(
                        "usage.service_tier",
                        "usage.service_tier must be a string",
                    ))
                }
            };
            TokenCounts {
                input: int(&["input_tokens"])?
                    .saturating_add(read)
                    .saturating_add(write),
                output: int(&["output_tokens"])?,
                cached_input: read,
                cache_write: write,
                cache_write_1h: write_1h,
                ..TokenCounts::default()
            }
        }
        UsageShape::Gemini => {
            let g = |camel: &str, snake: &str| -> Result<i64, Invalid> {
                Ok(int(&[camel])?.max(int(&[snake])?))
            };
            let thoughts = g("thoughtsTokenCount", "thoughts_token_count")?;
            let prompt = modalities(obj, "promptTokensDetails", "prompt_tokens_details")?;
            let tool = modalities(
                obj,
                "toolUsePromptTokensDetails",
                "tool_use_prompt_tokens_details",
            )?;
            let cache = modalities(obj, "cacheTokensDetails", "cache_tokens_details")?;
            // The Live API says `response*` where generateContent says `candidates*`.
            let candidates =
                modalities(obj, "candidatesTokensDetails", "candidates_tokens_details")?;
            let response = modalities(obj, "responseTokensDetails", "response_tokens_details")?;
            let generated = g("candidatesTokenCount", "candidates_token_count")?
                .max(g("responseTokenCount", "response_token_count")?);
            TokenCounts {
                input: g("promptTokenCount", "prompt_token_count")?
                    .saturating_add(g("toolUsePromptTokenCount", "tool_use_prompt_token_count")?),
                output: generated.saturating_add(thoughts),
                cached_input: g("cachedContentTokenCount", "cached_content_token_count")?,
                reasoning: thoughts,
                audio_input: prompt
                    .audio
                    .saturating_add(tool.audio)
                    .saturating_sub(cache.audio),
                image_input: prompt
                    .image
                    .saturating_add(tool.image)
                    .saturating_sub(cache.image),
                video_input: prompt
                    .video
                    .saturating_add(tool.video)
                    .saturating_sub(cache.video),
                audio_output: candidates.audio.max(response.audio),
                image_output: candidates.image.max(response.image),
                ..TokenCounts::default()
            }
        }
        UsageShape::BedrockConverse => {
            let read = int(&["cacheReadInputTokens"])?;
            let write = int(&["cacheWriteInputTokens"])?;
            TokenCounts {
                input: int(&["inputTokens"])?
                    .saturating_add(read)
                    .saturating_add(write),
                output: int(&["outputTokens"])?,
                cached_input: read,
                cache_write: write,
                ..TokenCounts::default()
            }
        }
    };
    // A provider's media counts never claim more than the tokens they are part of.
    // (Totals that do not hold their cached or reasoning parts are refused below.)
    let uncached = counts.uncached_input().max(0);
    counts.audio_input = counts.audio_input.min(uncached);
    counts.image_input = counts.image_input.min(uncached - counts.audio_input);
    counts.video_input = counts
        .video_input
        .min(uncached - counts.audio_input - counts.image_input);
    let generated = (counts.output - counts.reasoning).max(0);
    counts.audio_output = counts.audio_output.min(generated);
    counts.image_output = counts.image_output.min(generated - counts.audio_output);
    Ok(NormalizedUsage {
        tokens: counts.validate().map_err(|e| e.within("usage"))?,
        shape,
        service_tier,
        web_searches,
    })
}

/// Anthropic's cache writes: the total and the part kept for an hour, from
/// `cache_creation_input_tokens` and the `cache_creation` breakdown by duration.
fn anthropic_writes(obj: &Map<String, Value>) -> Result<(i64, i64), Invalid> {
    let int = |path: &[&str]| count(obj, path).map_err(|e| e.within("usage"));
    let five = int(&["cache_creation", "ephemeral_5m_input_tokens"])?;
    let hour = int(&["cache_creation", "ephemeral_1h_input_tokens"])?;
    let total = int(&["cache_creation_input_tokens"])?.max(five.saturating_add(hour));
    Ok((total, hour.min(total)))
}

/// Token counts by medium, from Gemini's `[{"modality": "AUDIO", "tokenCount": 10}, ...]`.
#[derive(Default)]
struct Media {
    audio: i64,
    image: i64,
    video: i64,
}

fn modalities(obj: &Map<String, Value>, camel: &str, snake: &str) -> Result<Media, Invalid> {
    let (name, list) = match (obj.get(camel), obj.get(snake)) {
        (Some(v), _) if !v.is_null() => (camel, v),
        (_, Some(v)) if !v.is_null() => (snake, v),
        _ => return Ok(Media::default()),
    };
    let field = format!("usage.{name}");
    let items = list
        .as_array()
        .ok_or_else(|| Invalid::field(&field, format!("{field} must be a list")))?;
    let mut media = Media::default();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let item = item
            .as_object()
            .ok_or_else(|| Invalid::field(&at, format!("{at} must be an object")))?;
        let n = count(item, &["tokenCount"])?.max(count(item, &["token_count"])?);
        let slot = match item.get("modality").and_then(Value::as_str) {
            Some(m) if m.eq_ignore_ascii_case("audio") => &mut media.audio,
            Some(m) if m.eq_ignore_ascii_case("image") => &mut media.image,
            Some(m) if m.eq_ignore_ascii_case("video") => &mut media.video,
            // Text, documents (billed as text) and unspecified modalities are text.
            _ => continue,
        };
        *slot = slot.saturating_add(n);
    }
    Ok(media)
}

fn detect(obj: &Map<String, Value>) -> Option<UsageShape> {
    let has = |k: &str| obj.contains_key(k);
    if has("prompt_tokens") || has("completion_tokens") {
        Some(UsageShape::OpenAiChat)
    } else if has("promptTokenCount")
        || has("prompt_token_count")
        || has("candidatesTokenCount")
        || has("responseTokenCount")
    {
        Some(UsageShape::Gemini)
    } else if has("inputTokens") || has("outputTokens") {
        Some(UsageShape::BedrockConverse)
    } else if has("input_tokens") || has("output_tokens") {
        if has("input_tokens_details")
            || has("output_tokens_details")
            || has("input_token_details")
            || has("output_token_details")
            || has("total_tokens")
        {
            Some(UsageShape::OpenAiResponses)
        } else {
            Some(UsageShape::Anthropic)
        }
    } else {
        None
    }
}

/// A non-negative integer at `path`, 0 when absent or null.
fn count(obj: &Map<String, Value>, path: &[&str]) -> Result<i64, Invalid> {
    let mut cur = obj;
    for (i, key) in path.iter().enumerate() {
        let name = path.join(".");
        match cur.get(*key) {
            None | Some(Value::Null) => return Ok(0),
            Some(Value::Object(inner)) if i + 1 < path.len() => cur = inner,
            Some(v) if i + 1 == path.len() => {
                let n = v.as_i64().ok_or_else(|| {
                    Invalid::field(&name, format!("{name} must be a whole number of tokens"))
                })?;
                return validate::tokens(&name, n);
            }
            Some(_) => return Err(Invalid::field(&name, format!("{name} has the wrong type"))),
        }
    }
    Ok(0)
}

/// An estimate of the tokens in `chars` characters of text (about four per token), for calls
/// that arrive without counts; events carrying one are flagged `estimated`.
pub fn estimate_tokens(chars: usize) -> i64 {
    i64::try_from(chars.div_ceil(4))
        .unwrap_or(validate::MAX_TOKENS)
        .min(validate::MAX_TOKENS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_chat_usage_keeps_cached_and_reasoning_inside_the_totals() {
        let NormalizedUsage {
            tokens: t, shape, ..
        } = normalize_usage(&json!({
            "prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 600, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 300}
        }))
        .expect("valid");
        assert_eq!(shape, UsageShape::OpenAiChat);
        assert_eq!(
            t,
            TokenCounts {
                input: 1000,
                output: 500,
                cached_input: 600,
                cache_write: 0,
                reasoning: 300,
                ..Default::default()
            }
        );
        assert_eq!(t.uncached_input(), 400);
    }

    #[test]
    fn llmring_reports_anthropic_cache_tokens_beside_prompt_tokens() {
        let NormalizedUsage {
            tokens: t, shape, ..
        } = normalize_usage(&json!({
            "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
            "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 50
        }))
        .expect("valid");
        assert_eq!(shape, UsageShape::OpenAiChat);
        assert_eq!(
            t,
            TokenCounts {
                input: 1150,
                output: 20,
                cached_input: 1000,
                cache_write: 50,
                reasoning: 0,
                ..Default::default()
            }
        );
    }

    #[test]
    fn openai_responses_usage_is_recognised_by_its_details() {
        let NormalizedUsage {
            tokens: t, shape, ..
        } = normalize_usage(&json!({
            "input_tokens": 100, "output_tokens": 50, "total_tokens": 150,
            "input_tokens_details": {"cached_tokens": 20},
            "output_tokens_details": {"reasoning_tokens": 10}
        }))
        .expect("valid");
        assert_eq!(shape, UsageShape::OpenAiResponses);
        assert_eq!((t.input, t.cached_input, t.reasoning), (100, 20, 10));
    }

    #[test]
    fn anthropic_cache_tokens_are_added_to_the_input() {
        let NormalizedUsage {
            tokens: t, shape, ..
        } = normalize_usage(&json!({
            "input_tokens": 10, "output_tokens": 40,
            "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 500
        }))
        .expect("valid");
        assert_eq!(shape, UsageShape::Anthropic);
        assert_eq!(
            t,
            TokenCounts {
                input: 2510,
                output: 40,
                cached_input: 2000,
                cache_write: 500,
                reasoning: 0,
                ..Default::default()
            }
        );
        assert_eq!(t.uncached_input(), 10);
    }

    #[test]
    fn gemini_thoughts_are_added_to_the_output() {
        let NormalizedUsage {
            tokens: t, shape, ..
        } = normalize_usage(&json!({
            "promptTokenCount": 300, "candidatesTokenCount": 100, "thoughtsTokenCount": 50,
            "cachedContentTokenCount": 200, "totalTokenCount": 450
        }))
        .expect("valid");
        assert_eq!(shape, UsageShape::Gemini);
        assert_eq!(
            t,
            TokenCounts {
                input: 300,
                output: 150,
                cached_input: 200,
                cache_write: 0,
                reasoning: 50,
                ..Default::default()
            }
        );
        let snake = normalize_usage(&json!({"prompt_token_count": 7, "candidates_token_count": 3}))
            .expect("valid")
            .tokens;
        assert_eq!((snake.input, snake.output), (7, 3));
    }

    #[test]
    fn openai_audio_and_image_detail_become_their_own_classes() {
        let chat = normalize_usage(&json!({
            "prompt_tokens": 1000, "completion_tokens": 400,
            "prompt_tokens_details": {"cached_tokens": 100, "audio_tokens": 300},
            "completion_tokens_details": {"audio_tokens": 250, "reasoning_tokens": 0}
        }))
        .expect("valid")
        .tokens;
        assert_eq!((chat.audio_input, chat.audio_output), (300, 250));
        let realtime = normalize_usage(&json!({
            "total_tokens": 900, "input_tokens": 700, "output_tokens": 200,
            "input_token_details": {"text_tokens": 200, "audio_tokens": 500, "cached_tokens": 300,
                "cached_tokens_details": {"text_tokens": 100, "audio_tokens": 200}},
            "output_token_details": {"text_tokens": 50, "audio_tokens": 150}
        }))
        .expect("valid");
        assert_eq!(realtime.shape, UsageShape::OpenAiResponses);
        let t = realtime.tokens;
        // 500 audio prompt tokens, 200 of them read from the cache: 300 uncached audio.
        assert_eq!(
            (t.cached_input, t.audio_input, t.audio_output),
            (300, 300, 150)
        );
        let image = normalize_usage(&json!({
            "total_tokens": 4210, "input_tokens": 50, "output_tokens": 4160,
            "input_tokens_details": {"text_tokens": 40, "image_tokens": 10},
            "output_tokens_details": {"image_tokens": 4160}
        }))
        .expect("valid")
        .tokens;
        assert_eq!((image.image_input, image.image_output), (10, 4160));
    }

    #[test]
    fn anthropic_cache_writes_by_duration_web_searches_and_service_tier_are_kept() {
        let u = normalize_usage(&json!({
            "input_tokens": 20, "output_tokens": 100,
            "cache_creation_input_tokens": 3000, "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
            "server_tool_use": {"web_search_requests": 3},
            "service_tier": "batch"
        }))
        .expect("valid");
        assert_eq!(u.shape, UsageShape::Anthropic);
        assert_eq!(
            (u.tokens.cache_write, u.tokens.cache_write_1h),
            (3000, 2000)
        );
        assert_eq!(u.tokens.input, 3020);
        assert_eq!(u.web_searches, 3);
        assert_eq!(u.service_tier, Some(ServiceTier::Batch));
        let e = normalize_usage(&json!({"input_tokens": 1, "service_tier": "scale"}))
            .expect_err("unknown tier");
        assert_eq!(e.field, "usage.service_tier");
    }

    #[test]
    fn gemini_modalities_split_prompt_and_candidates_by_medium() {
        let t = normalize_usage(&json!({
            "promptTokenCount": 1000, "candidatesTokenCount": 1290, "cachedContentTokenCount": 100,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 400},
                                    {"modality": "AUDIO", "tokenCount": 500},
                                    {"modality": "VIDEO", "tokenCount": 100}],
            "cacheTokensDetails": [{"modality": "AUDIO", "tokenCount": 100}],
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}]
        }))
        .expect("valid")
        .tokens;
        assert_eq!(
            (t.audio_input, t.video_input, t.image_output, t.cached_input),
            (400, 100, 1290, 100)
        );
        let e = normalize_usage(&json!({"promptTokenCount": 1, "promptTokensDetails": {}}))
            .expect_err("not a list");
        assert_eq!(e.field, "usage.promptTokensDetails");
    }

    #[test]
    fn litellm_and_openrouter_keep_cache_tokens_inside_prompt_tokens() {
        // LiteLLM's form of an Anthropic call: reads and writes inside prompt_tokens.
        let t = normalize_usage(&json!({
            "prompt_tokens": 1600, "completion_tokens": 50, "total_tokens": 1650,
            "prompt_tokens_details": {"cached_tokens": 1000},
            "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 500
        }))
        .expect("valid")
        .tokens;
        assert_eq!((t.input, t.cached_input, t.cache_write), (1600, 1000, 500));
        assert_eq!(t.uncached_input(), 100);
        // OpenRouter's: the write count in the details.
        let t = normalize_usage(&json!({
            "prompt_tokens": 1000, "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 200, "cache_write_tokens": 300}
        }))
        .expect("valid")
        .tokens;
        assert_eq!((t.input, t.cached_input, t.cache_write), (1000, 200, 300));
    }

    #[test]
    fn xai_reasoning_beside_completion_tokens_is_added_to_the_output() {
        let t = normalize_usage(&json!({
            "prompt_tokens": 10120, "completion_tokens": 1499, "total_tokens": 14428,
            "completion_tokens_details": {"reasoning_tokens": 2809}
        }))
        .expect("a call that happened is not refused")
        .tokens;
        assert_eq!((t.output, t.reasoning), (4308, 2809));
        // OpenAI's: reasoning inside completion_tokens, as the total says.
        let t = normalize_usage(&json!({
            "prompt_tokens": 100, "completion_tokens": 500, "total_tokens": 600,
            "completion_tokens_details": {"reasoning_tokens": 300}
        }))
        .expect("valid")
        .tokens;
        assert_eq!((t.output, t.reasoning), (500, 300));
    }

    #[test]
    fn gemini_live_response_tokens_are_the_output() {
        let t = normalize_usage(&json!({
            "promptTokenCount": 300, "responseTokenCount": 900, "totalTokenCount": 1200,
            "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 300}],
            "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 900}]
        }))
        .expect("valid")
        .tokens;
        assert_eq!((t.input, t.output), (300, 900));
        assert_eq!((t.audio_input, t.audio_output), (300, 900));
    }

    #[test]
    fn bedrock_converse_cache_tokens_are_added_to_the_input() {
        let u = normalize_usage(&json!({
            "inputTokens": 7, "outputTokens": 5, "totalTokens": 1312,
            "cacheReadInputTokens": 0, "cacheWriteInputTokens": 1300
        }))
        .expect("valid");
        assert_eq!(u.shape, UsageShape::BedrockConverse);
        assert_eq!(
            (u.tokens.input, u.tokens.cache_write, u.tokens.output),
            (1307, 1300, 5)
        );
    }

    #[test]
    fn every_token_is_in_exactly_one_class() {
        let t = TokenCounts {
            input: 1000,
            output: 500,
            cached_input: 100,
            cache_write: 200,
            cache_write_1h: 50,
            reasoning: 100,
            audio_input: 300,
            image_input: 100,
            video_input: 50,
            audio_output: 150,
            image_output: 50,
        }
        .validate()
        .expect("valid");
        let by = t.by_class();
        assert_eq!(by.iter().map(|(_, n)| n).sum::<i64>(), t.total());
        assert!(by.iter().all(|(_, n)| *n >= 0));
        assert_eq!(by[0], (TokenClass::Input, 250));
        assert_eq!(by[7], (TokenClass::Output, 200));
        let e = TokenCounts {
            input: 10,
            audio_input: 11,
            ..Default::default()
        }
        .validate()
        .expect_err("audio over input");
        assert_eq!(e.field, "audio_input_tokens");
        let e = TokenCounts {
            input: 10,
            cache_write: 2,
            cache_write_1h: 3,
            ..Default::default()
        }
        .validate()
        .expect_err("1h over writes");
        assert_eq!(e.field, "cache_write_1h_tokens");
        let e = TokenCounts {
            output: 10,
            reasoning: 5,
            image_output: 6,
            ..Default::default()
        }
        .validate()
        .expect_err("images over output");
        assert_eq!(e.field, "audio_output_tokens");
    }

    #[test]
    fn malformed_usage_objects_are_rejected_with_the_field_named() {
        let e = normalize_usage(&json!({"prompt_tokens": -1})).expect_err("negative");
        assert_eq!(e.field, "usage.prompt_tokens");
        let e = normalize_usage(&json!({"prompt_tokens": 1.5})).expect_err("fraction");
        assert_eq!(e.field, "usage.prompt_tokens");
        assert!(normalize_usage(&json!({"tokens": 3})).is_err());
        assert!(normalize_usage(&json!([1])).is_err());
        let e = normalize_usage(
            &json!({"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": 9}}),
        )
        .expect_err("cached over input");
        assert_eq!(e.field, "usage.cached_input_tokens");
    }

    #[test]
    fn estimates_round_up_to_whole_tokens() {
        assert_eq!(estimate_tokens(0), 0);
        assert_eq!(estimate_tokens(1), 1);
        assert_eq!(estimate_tokens(8), 2);
    }
}
