//! Payments in: the payment providers whose webhooks credit accounts.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Payment providers. Each is off until its secret is set.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentSettings {
    /// Stripe webhooks (`POST /api/v1/payments/stripe`).
    pub stripe: StripeSettings,
    /// Paddle Billing webhooks (`POST /api/v1/payments/paddle`).
    pub paddle: PaddleSettings,
    /// Fondy server callbacks (`POST /api/v1/payments/fondy`).
    pub fondy: FondySettings,
}

/// One Fondy merchant, crediting one tenant's accounts.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FondySettings {
    /// The merchant's payment key (its password), which signs callbacks; unset, the route
    /// answers 404.
    #[serde(serialize_with = "crate::settings::secret::redacted")]
    #[schema(value_type = Option<String>, format = Password, default = crate::settings::secret::unset)]
    pub merchant_password: Option<SecretString>,
    /// The merchant id callbacks must name (unset: any).
    pub merchant_id: Option<String>,
    /// The tenant whose accounts the payments credit (its name or id).
    pub tenant: Option<String>,
}

/// One Paddle notification destination, crediting one tenant's accounts.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PaddleSettings {
    /// The destination's secret key (`pdl_ntfset_...`), from Paddle; unset, the route
    /// answers 404.
    #[serde(serialize_with = "crate::settings::secret::redacted")]
    #[schema(value_type = Option<String>, format = Password, default = crate::settings::secret::unset)]
    pub secret_key: Option<SecretString>,
    /// The tenant whose accounts the payments credit (its name or id).
    pub tenant: Option<String>,
    /// How old a signature's timestamp may be, in seconds.
    pub tolerance_seconds: u64,
}

impl Default for PaddleSettings {
    fn default() -> Self {
        PaddleSettings {
            secret_key: None,
            tenant: None,
            tolerance_seconds: 300,
        }
    }
}

/// One Stripe webhook endpoint, crediting one tenant's accounts.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StripeSettings {
    /// The endpoint's signing secret (`whsec_...`), from the Stripe dashboard; unset, the
    /// route answers 404.
    #[serde(serialize_with = "crate::settings::secret::redacted")]
    #[schema(value_type = Option<String>, format = Password, default = crate::settings::secret::unset)]
    pub endpoint_secret: Option<SecretString>,
    /// The tenant whose accounts the payments credit (its name or id).
    pub tenant: Option<String>,
    /// How old a signature's timestamp may be, in seconds (Stripe's default: 300).
    pub tolerance_seconds: u64,
}

impl Default for StripeSettings {
    fn default() -> Self {
        StripeSettings {
            endpoint_secret: None,
            tenant: None,
            tolerance_seconds: 300,
        }
    }
}
