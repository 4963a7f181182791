//! Prefixed, sortable identifiers: `tnt_…`, `key_…`, `rcpt_…` and friends.
//!
//! The part after the prefix is a UUIDv7 in Crockford base32 (26 characters), so ids sort by
//! creation time as strings. Usage logs and conversations keep bare UUIDs because the llmring
//! wire contract expects them.

use uuid::Uuid;

/// What an id names; the prefix tells a reader at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A tenant (project or organisation).
    Tenant,
    /// An API key.
    Key,
    /// A signed receipt.
    Receipt,
    /// A ledger transaction.
    Transaction,
    /// A reserve-then-settle hold.
    Hold,
    /// A webhook endpoint.
    Webhook,
    /// An alert event (the `webhook-id` of its deliveries).
    Event,
    /// One event's delivery to one endpoint.
    Delivery,
}

impl IdKind {
    /// The prefix, underscore included.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Tenant => "tnt_",
            Self::Key => "key_",
            Self::Receipt => "rcpt_",
            Self::Transaction => "txn_",
            Self::Hold => "hold_",
            Self::Webhook => "whk_",
            Self::Event => "evt_",
            Self::Delivery => "dlv_",
        }
    }

    /// Whether `id` has this kind's prefix and a well-formed body.
    pub fn matches(self, id: &str) -> bool {
        id.strip_prefix(self.prefix())
            .is_some_and(|body| body.len() == 26 && body.bytes().all(|b| ALPHABET.contains(&b)))
    }
}

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A new id of `kind`, time-ordered.
pub fn new_id(kind: IdKind) -> String {
    let mut out = String::with_capacity(kind.prefix().len() + 26);
    out.push_str(kind.prefix());
    out.push_str(&encode(Uuid::now_v7().as_u128()));
    out
}

/// Crockford base32 of 128 bits, 26 characters, most significant first.
fn encode(mut value: u128) -> String {
    let mut buf = [0u8; 26];
    for slot in buf.iter_mut().rev() {
        *slot = ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    buf.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_sort_by_creation() {
        let a = new_id(IdKind::Tenant);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id(IdKind::Tenant);
        assert!(IdKind::Tenant.matches(&a), "{a}");
        assert!(!IdKind::Key.matches(&a));
        assert!(a < b);
    }

    #[test]
    fn encoding_is_fixed_width() {
        assert_eq!(encode(0), "0".repeat(26));
        assert_eq!(encode(u128::MAX).len(), 26);
        assert!(encode(u128::MAX).starts_with('7'));
    }
}
