//! Token estimates for calls logged without counts: the model family's tokenizer where one
//! ships offline (OpenAI's `o200k_base` and `cl100k_base`), else one token per four
//! characters. It owns the choice of method and the counting; it does not decide when a call
//! may be estimated (the ingest code does) and keeps none of the text.

use crate::usage::estimate_tokens;
use crate::validate;

/// How an event's token counts were estimated; its name is stored with the event and is part
/// of its canonical entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimateMethod {
    /// One token per four characters, rounded up: every model without a tokenizer here, and
    /// every count estimated from a length rather than from text.
    CharsPerFour,
    /// OpenAI's `o200k_base` encoding (GPT-4o, GPT-4.1, GPT-4.5, GPT-5, the o-series).
    O200kBase,
    /// OpenAI's `cl100k_base` encoding (GPT-4, GPT-3.5).
    Cl100kBase,
}

impl EstimateMethod {
    /// The stored name (`chars/4`, `o200k_base`, `cl100k_base`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CharsPerFour => "chars/4",
            Self::O200kBase => "o200k_base",
            Self::Cl100kBase => "cl100k_base",
        }
    }

    /// The method for text sent for `model`: its family's tokenizer when there is one here,
    /// else [`EstimateMethod::CharsPerFour`]. A provider prefix (`openai/gpt-4o`) is ignored.
    pub fn for_model(model: &str) -> EstimateMethod {
        let name = model
            .rsplit('/')
            .next()
            .unwrap_or(model)
            .to_ascii_lowercase();
        let o_series = name.starts_with('o') && name[1..].starts_with(|c: char| c.is_ascii_digit());
        if o_series
            || [
                "gpt-4o",
                "chatgpt-4o",
                "gpt-4.1",
                "gpt-4.5",
                "gpt-5",
                "gpt-oss",
            ]
            .iter()
            .any(|p| name.starts_with(p))
        {
            Self::O200kBase
        } else if ["gpt-4", "gpt-3.5", "gpt-35"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            Self::Cl100kBase
        } else {
            Self::CharsPerFour
        }
    }

    /// The tokens this method counts in `text` (special-token markers count as plain text).
    /// The tokenizer's vocabulary is loaded on first use and kept for the process.
    pub fn count(self, text: &str) -> i64 {
        let n = match self {
            Self::CharsPerFour => return estimate_tokens(text.chars().count()),
            Self::O200kBase => tiktoken_rs::o200k_base_singleton()
                .encode_ordinary(text)
                .len(),
            Self::Cl100kBase => tiktoken_rs::cl100k_base_singleton()
                .encode_ordinary(text)
                .len(),
        };
        i64::try_from(n)
            .unwrap_or(validate::MAX_TOKENS)
            .min(validate::MAX_TOKENS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_families_get_their_encoding_and_every_other_model_chars_over_four() {
        for m in [
            "gpt-4o",
            "gpt-4o-mini",
            "openai/gpt-4.1",
            "gpt-5",
            "o1",
            "o3-mini",
            "o4-mini",
        ] {
            assert_eq!(
                EstimateMethod::for_model(m),
                EstimateMethod::O200kBase,
                "{m}"
            );
        }
        for m in ["gpt-4", "gpt-4-turbo", "gpt-3.5-turbo"] {
            assert_eq!(
                EstimateMethod::for_model(m),
                EstimateMethod::Cl100kBase,
                "{m}"
            );
        }
        for m in ["claude-sonnet-4", "gemini-2.5-pro", "omni", "o", "llama-3"] {
            assert_eq!(
                EstimateMethod::for_model(m),
                EstimateMethod::CharsPerFour,
                "{m}"
            );
        }
    }

    #[test]
    fn each_method_counts_the_tokens_of_its_encoding() {
        let text = "Hello there, how are you today? Tell me about Rust.";
        assert_eq!(EstimateMethod::O200kBase.count(text), 13);
        assert_eq!(EstimateMethod::Cl100kBase.count(text), 13);
        assert_eq!(EstimateMethod::CharsPerFour.count(text), 13);
        assert_eq!(EstimateMethod::O200kBase.count("hello"), 1);
        assert_eq!(EstimateMethod::CharsPerFour.count("hello"), 2);
        assert_eq!(EstimateMethod::O200kBase.count(""), 0);
        assert_eq!(EstimateMethod::CharsPerFour.as_str(), "chars/4");
    }
}
