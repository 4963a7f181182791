//! Alerts people read: email through an SMTP server, and the unusual-spend rule.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DecimalText;

/// How alerts reach people besides webhooks.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// The SMTP server alert emails are sent through; absent: no email is sent (and tenants
    /// cannot set recipients on this server).
    pub smtp: Option<SmtpSettings>,
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text throughout (a relay on the same host or a trusted network only).
    None,
    /// Plain connection upgraded with STARTTLS before anything else is said; refused if the
    /// server does not offer it (usually port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

/// The SMTP server, checked at start.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Host name (also the name its certificate must carry).
    pub host: String,
    /// Port; default 587 (465 with `tls = "tls"`, 25 with `tls = "none"`).
    #[serde(default)]
    pub port: Option<u16>,
    /// `none`, `starttls` (default) or `tls`.
    #[serde(default)]
    #[schema(default = SmtpTls::default)]
    pub tls: SmtpTls,
    /// User to log in as (AUTH PLAIN, or LOGIN when only that is offered); absent: no login.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password.
    #[serde(default)]
    #[serde(serialize_with = "crate::settings::secret::redacted")]
    #[schema(value_type = Option<String>, format = Password, default = crate::settings::secret::unset)]
    pub password: Option<SecretString>,
    /// The sender: `alerts@example.com` or `Tollgate <alerts@example.com>`.
    pub from: String,
    /// The name given in EHLO; default `localhost`.
    #[serde(default)]
    pub ehlo_name: Option<String>,
    /// How long one message may take, connection to QUIT, in milliseconds.
    #[serde(default = "default_smtp_timeout_ms")]
    #[schema(default = default_smtp_timeout_ms)]
    pub timeout_ms: u64,
}

fn default_smtp_timeout_ms() -> u64 {
    30_000
}

/// Alert rules beyond the billing thresholds.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// `spend.unusual`: a user's hour far above their habit.
    pub unusual_spend: UnusualSpendSettings,
}

/// The unusual-spend rule: a user's spend in the current UTC hour fires `spend.unusual` once
/// when it is more than `multiple` times their average hourly spend over the `window_days`
/// whole UTC days before today (idle hours count as zero) and at least `min_amount`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UnusualSpendSettings {
    /// The multiple, a positive decimal such as 5 or 2.5; absent or "": the rule is off.
    pub multiple: Option<DecimalText>,
    /// The least spend in an hour that may fire, an amount in the spend's currency, so that
    /// small users do not fire on cents.
    pub min_amount: DecimalText,
    /// Whole UTC days before today that make the average (1 to 90; default 7).
    pub window_days: u32,
    /// How often the current hour is checked, in seconds (0: every worker round).
    pub scan_seconds: u64,
}

impl Default for UnusualSpendSettings {
    fn default() -> Self {
        UnusualSpendSettings {
            multiple: None,
            min_amount: "1".into(),
            window_days: 7,
            scan_seconds: 60,
        }
    }
}
