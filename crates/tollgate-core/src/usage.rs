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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// Every prompt token, cached reads and cache writes included.
    pub input: i64,
    /// Every generated token, reasoning included.
    pub output: i64,
    /// Prompt tokens read from the provider's prompt cache.
    pub cached_input: i64,
    /// Prompt tokens written to the provider's prompt cache.
    pub cache_write: i64,
    /// Generated tokens spent on reasoning (thinking).
    pub reasoning: i64,
}

impl TokenCounts {
    /// Checks bounds and that the sub-counts fit inside their totals.
    pub fn validate(self) -> Result<TokenCounts, Invalid> {
        validate::tokens("input_tokens", self.input)?;
        validate::tokens("output_tokens", self.output)?;
        validate::tokens("cached_input_tokens", self.cached_input)?;
        validate::tokens("cache_write_tokens", self.cache_write)?;
        validate::tokens("reasoning_tokens", self.reasoning)?;
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
        Ok(self)
    }

    /// Prompt tokens billed at the plain input rate.
    pub fn uncached_input(&self) -> i64 {
        self.input - self.cached_input - self.cache_write
    }

    /// Input plus output: the llmring notion of total tokens.
    pub fn total(&self) -> i64 {
        self.input + self.output
    }
}

/// Which provider's usage shape an object has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageShape {
    /// OpenAI Chat Completions (`prompt_tokens`, `completion_tokens`, `*_details`).
    OpenAiChat,
    /// OpenAI Responses (`input_tokens`, `output_tokens`, `*_tokens_details`, `total_tokens`).
    OpenAiResponses,
    /// Anthropic Messages (`input_tokens`, `output_tokens`, `cache_*_input_tokens`).
    Anthropic,
    /// Google Gemini (`promptTokenCount` or `prompt_token_count`, ...).
    Gemini,
}

/// Recognises a provider usage object and maps it to [`TokenCounts`].
pub fn normalize_usage(usage: &Value) -> Result<(TokenCounts, UsageShape), Invalid> {
    let obj = usage
        .as_object()
        .ok_or_else(|| Invalid::field("usage", "usage must be a JSON object"))?;
    let shape = detect(obj).ok_or_else(|| {
        Invalid::field(
            "usage",
            "usage is not an OpenAI, Anthropic or Gemini usage object (expected prompt_tokens, \
             input_tokens or promptTokenCount)",
        )
    })?;
    let int = |path: &[&str]| count(obj, path).map_err(|e| e.within("usage"));
    let counts = match shape {
        UsageShape::OpenAiChat => {
            // llmring reports Anthropic calls in this shape, with the prompt-cache counts
            // beside prompt_tokens (as Anthropic does) rather than inside it.
            let read = int(&["cache_read_input_tokens"])?;
            let write = int(&["cache_creation_input_tokens"])?;
            TokenCounts {
                input: int(&["prompt_tokens"])?
                    .saturating_add(read)
                    .saturating_add(write),
                output: int(&["completion_tokens"])?,
                cached_input: int(&["prompt_tokens_details", "cached_tokens"])?
                    .max(int(&["cached_tokens"])?)
                    .saturating_add(read),
                cache_write: write,
                reasoning: int(&["completion_tokens_details", "reasoning_tokens"])?
                    .max(int(&["reasoning_tokens"])?),
            }
        }
        UsageShape::OpenAiResponses => TokenCounts {
            input: int(&["input_tokens"])?,
            output: int(&["output_tokens"])?,
            cached_input: int(&["input_tokens_details", "cached_tokens"])?,
            cache_write: 0,
            reasoning: int(&["output_tokens_details", "reasoning_tokens"])?,
        },
        UsageShape::Anthropic => {
            let read = int(&["cache_read_input_tokens"])?;
            let write = int(&["cache_creation_input_tokens"])?;
            TokenCounts {
                input: int(&["input_tokens"])?
                    .saturating_add(read)
                    .saturating_add(write),
                output: int(&["output_tokens"])?,
                cached_input: read,
                cache_write: write,
                reasoning: 0,
            }
        }
        UsageShape::Gemini => {
            let g = |camel: &str, snake: &str| -> Result<i64, Invalid> {
                Ok(int(&[camel])?.max(int(&[snake])?))
            };
            let thoughts = g("thoughtsTokenCount", "thoughts_token_count")?;
            TokenCounts {
                input: g("promptTokenCount", "prompt_token_count")?
                    .saturating_add(g("toolUsePromptTokenCount", "tool_use_prompt_token_count")?),
                output: g("candidatesTokenCount", "candidates_token_count")?
                    .saturating_add(thoughts),
                cached_input: g("cachedContentTokenCount", "cached_content_token_count")?,
                cache_write: 0,
                reasoning: thoughts,
            }
        }
    };
    Ok((counts.validate().map_err(|e| e.within("usage"))?, shape))
}

fn detect(obj: &Map<String, Value>) -> Option<UsageShape> {
    let has = |k: &str| obj.contains_key(k);
    if has("prompt_tokens") || has("completion_tokens") {
        Some(UsageShape::OpenAiChat)
    } else if has("promptTokenCount") || has("prompt_token_count") || has("candidatesTokenCount") {
        Some(UsageShape::Gemini)
    } else if has("input_tokens") || has("output_tokens") {
        if has("input_tokens_details") || has("output_tokens_details") || has("total_tokens") {
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
        let (t, shape) = normalize_usage(&json!({
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
                reasoning: 300
            }
        );
        assert_eq!(t.uncached_input(), 400);
    }

    #[test]
    fn llmring_reports_anthropic_cache_tokens_beside_prompt_tokens() {
        let (t, shape) = normalize_usage(&json!({
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
                reasoning: 0
            }
        );
    }

    #[test]
    fn openai_responses_usage_is_recognised_by_its_details() {
        let (t, shape) = normalize_usage(&json!({
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
        let (t, shape) = normalize_usage(&json!({
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
                reasoning: 0
            }
        );
        assert_eq!(t.uncached_input(), 10);
    }

    #[test]
    fn gemini_thoughts_are_added_to_the_output() {
        let (t, shape) = normalize_usage(&json!({
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
                reasoning: 50
            }
        );
        let (snake, _) =
            normalize_usage(&json!({"prompt_token_count": 7, "candidates_token_count": 3}))
                .expect("valid");
        assert_eq!((snake.input, snake.output), (7, 3));
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
