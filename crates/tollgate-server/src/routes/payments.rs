//! Payments in: a payment provider's webhook credits (or, for a refund, debits) an account
//! of the tenant the endpoint is configured for. The provider's signature is checked before
//! anything is read; a payment is posted once, however often its events arrive.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tollgate_api::payments::{PaymentOutcome, PaymentReceived};
use tollgate_api::ErrorCode;
use tollgate_core::time::now_us;
use tollgate_core::{Currency, Nanos};
use tollgate_store::{LedgerKind, NewCredit, StoreError};

use crate::error::ApiError;
use crate::state::AppState;

/// Stripe's currencies without minor units, and with three: an amount in the smallest unit
/// is scaled by these (every other currency has two decimals).
const ZERO_DECIMAL: [&str; 16] = [
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];
const THREE_DECIMAL: [&str; 5] = ["BHD", "JOD", "KWD", "OMR", "TND"];

/// An amount in a currency's smallest unit (Stripe's `amount`), as nanos.
pub(crate) fn minor_units(amount: i64, currency: &Currency) -> Option<Nanos> {
    let c = currency.as_str();
    let scale: i64 = if ZERO_DECIMAL.contains(&c) {
        1_000_000_000
    } else if THREE_DECIMAL.contains(&c) {
        1_000_000
    } else {
        10_000_000
    };
    amount.checked_mul(scale).filter(|n| *n >= 0).map(Nanos)
}

/// How a provider signs a webhook: a header of `{ts_key}={unix seconds}` and one or more
/// `{sig_key}={hex HMAC-SHA256}` parts split by `split`, the MAC being over the timestamp, `join`
/// and the raw body, keyed by the secret as written.
struct SignatureRule {
    header: &'static str,
    split: char,
    ts_key: &'static str,
    sig_key: &'static str,
    join: char,
}

const STRIPE: SignatureRule = SignatureRule {
    header: "Stripe-Signature",
    split: ',',
    ts_key: "t",
    sig_key: "v1",
    join: '.',
};

const PADDLE: SignatureRule = SignatureRule {
    header: "Paddle-Signature",
    split: ';',
    ts_key: "ts",
    sig_key: "h1",
    join: ':',
};

impl SignatureRule {
    fn refused(&self, why: &str) -> ApiError {
        ApiError::new(
            ErrorCode::InvalidSignature,
            format!("{} does not verify: {why}", self.header),
        )
        .with_field(self.header)
    }

    /// Checks `header` over `body`: a signature equal in constant time to the MAC, with a
    /// timestamp within `tolerance` seconds of `now_s`.
    fn verify(
        &self,
        header: &str,
        body: &[u8],
        secret: &str,
        tolerance: u64,
        now_s: i64,
    ) -> Result<(), ApiError> {
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(self.split) {
            match part.trim().split_once('=') {
                Some((k, t)) if k == self.ts_key => timestamp = t.parse::<i64>().ok(),
                Some((k, sig)) if k == self.sig_key => signatures.push(sig),
                _ => {}
            }
        }
        let t =
            timestamp.ok_or_else(|| self.refused(&format!("no timestamp ({}=)", self.ts_key)))?;
        if signatures.is_empty() {
            return Err(self.refused(&format!("no {} signature", self.sig_key)));
        }
        if now_s.abs_diff(t) > tolerance {
            return Err(self.refused(&format!(
                "its timestamp is more than {tolerance} seconds from now"
            )));
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| self.refused("the secret is unusable"))?;
        mac.update(format!("{t}{}", self.join).as_bytes());
        mac.update(body);
        // `verify_slice` compares in constant time.
        let matches = signatures.iter().any(|sig| {
            hex::decode(sig).is_ok_and(|given| mac.clone().verify_slice(&given).is_ok())
        });
        if matches {
            Ok(())
        } else {
            Err(self.refused(&format!("no {} signature matches the secret", self.sig_key)))
        }
    }

    /// The header's value, or a refusal when it is missing.
    fn header<'a>(&self, headers: &'a HeaderMap) -> Result<&'a str, ApiError> {
        headers
            .get(self.header)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.refused("the header is missing"))
    }
}

/// What a Stripe event asks of the ledger.
#[derive(Debug, PartialEq)]
enum Move {
    /// Credit the account.
    Credit { payment: String, amount: i64 },
    /// Debit it by a refund (`total` refunded so far on the charge).
    Refund {
        payment: String,
        amount: i64,
        total: i64,
    },
    /// Nothing: why.
    Nothing(String),
}

fn text<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str)
}

/// Reads what an event of `kind` with `object` moves.
fn stripe_move(kind: &str, object: &Value, previous: Option<&Value>) -> Result<Move, ApiError> {
    let int = |key: &str| {
        object.get(key).and_then(Value::as_i64).ok_or_else(|| {
            ApiError::invalid_field(
                &format!("data.object.{key}"),
                format!("data.object.{key} must be a whole number of the currency's smallest unit"),
            )
        })
    };
    let id = |key: &str| {
        text(object, key).map(str::to_string).ok_or_else(|| {
            ApiError::invalid_field(
                &format!("data.object.{key}"),
                format!("data.object.{key} is missing"),
            )
        })
    };
    Ok(match kind {
        "checkout.session.completed" => {
            if text(object, "payment_status") != Some("paid") {
                return Ok(Move::Nothing(
                    "the checkout session is not paid yet (payment_status is not \"paid\")".into(),
                ));
            }
            let payment = text(object, "payment_intent")
                .map(str::to_string)
                .map_or_else(|| id("id"), Ok)?;
            Move::Credit {
                payment,
                amount: int("amount_total")?,
            }
        }
        "payment_intent.succeeded" => Move::Credit {
            payment: id("id")?,
            amount: int("amount_received")?,
        },
        "charge.refunded" => {
            let total = int("amount_refunded")?;
            let before = previous
                .and_then(|p| p.get("amount_refunded"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let payment = text(object, "payment_intent")
                .map(str::to_string)
                .map_or_else(|| id("id"), Ok)?;
            Move::Refund {
                payment,
                amount: total - before,
                total,
            }
        }
        other => Move::Nothing(format!("event type {other} moves no money")),
    })
}

/// Stripe webhook
///
/// A Stripe event, verified by its `Stripe-Signature` against `payments.stripe.endpoint_secret`
/// before anything is read. `checkout.session.completed` (paid) and
/// `payment_intent.succeeded` credit the account named by the object's `metadata.user_id`
/// (none: the tenant's own) in its currency; `charge.refunded` debits what was refunded since
/// the last refund event. A payment is credited once, whichever of its events arrives and
/// however often; other event types are acknowledged and ignored.
#[utoipa::path(
    post,
    path = "/api/v1/payments/stripe",
    tag = "billing",
    operation_id = "payments_stripe",
    params(("Stripe-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256>`, as Stripe sends it")),
    request_body(content = Object, description = "A Stripe event, as Stripe sends it"),
    responses(
        (status = 200, description = "Received: what it posted, or why nothing", body = PaymentReceived),
        (status = 400, description = "The signature does not verify (`INVALID_SIGNATURE`) or the body is not a Stripe event; nothing is posted"),
        (status = 404, description = "Stripe payments are not configured"),
        (status = 422, description = "A money event lacks an amount, currency or id, naming it"),
    ),
    security(()),
)]
pub async fn stripe(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PaymentReceived>, ApiError> {
    let settings = &state.settings().payments.stripe;
    let (Some(secret), Some(tenant)) =
        (settings.endpoint_secret.as_ref(), settings.tenant.as_ref())
    else {
        return Err(ApiError::not_found(
            "Stripe payment endpoint (payments.stripe)",
        ));
    };
    STRIPE.verify(
        STRIPE.header(&headers)?,
        &body,
        secret.expose_secret(),
        settings.tolerance_seconds,
        now_us().div_euclid(1_000_000),
    )?;
    let event: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the event is not JSON: {e}"),
        )
    })?;
    let event_id = text(&event, "id")
        .ok_or_else(|| ApiError::invalid_field("id", "a Stripe event has an id"))?
        .to_string();
    let event_type = text(&event, "type")
        .ok_or_else(|| ApiError::invalid_field("type", "a Stripe event has a type"))?
        .to_string();
    let object = event
        .pointer("/data/object")
        .cloned()
        .unwrap_or(Value::Null);
    let head = Event {
        provider: "stripe",
        id: event_id,
        kind: event_type,
    };
    let money = match stripe_move(
        &head.kind,
        &object,
        event.pointer("/data/previous_attributes"),
    )? {
        Move::Nothing(why) => {
            return Ok(Json(head.answer(PaymentOutcome::Ignored, None, Some(why))))
        }
        Move::Credit { payment, amount } => Money {
            key: format!("stripe:payment:{payment}"),
            payment,
            amount,
            amount_field: "data.object.amount",
            debit: false,
        },
        Move::Refund {
            payment,
            amount,
            total,
        } => Money {
            key: format!("stripe:refund:{payment}:{total}"),
            payment,
            amount,
            amount_field: "data.object.amount_refunded",
            debit: true,
        },
    };
    let currency = text(&object, "currency").ok_or_else(|| {
        ApiError::invalid_field("data.object.currency", "data.object.currency is missing")
    })?;
    let user_id = object.pointer("/metadata/user_id").and_then(Value::as_str);
    post_money(
        &state,
        tenant,
        head,
        money,
        ("data.object.currency", currency),
        user_id,
    )
    .await
}

/// A whole number Paddle writes as a string (`"1050"`), at `path` of `data`.
fn paddle_amount(data: &Value, path: &str, field: &str) -> Result<i64, ApiError> {
    data.pointer(path)
        .and_then(|v| match v {
            Value::String(s) => s.parse::<i64>().ok(),
            other => other.as_i64(),
        })
        .ok_or_else(|| {
            ApiError::invalid_field(
                field,
                format!("{field} must be a whole number of the currency's smallest unit"),
            )
        })
}

/// Paddle webhook
///
/// A Paddle Billing notification, verified by its `Paddle-Signature` against
/// `payments.paddle.secret_key` before anything is read. `transaction.completed` (and
/// `transaction.paid`) credit the account named by the transaction's `custom_data.user_id`
/// (none: the tenant's own) with its grand total; an approved refund adjustment
/// (`adjustment.created` or `adjustment.updated`, `action` `refund`) debits the account its
/// transaction credited. Each payment and each refund is posted once; other types are
/// acknowledged and ignored.
#[utoipa::path(
    post,
    path = "/api/v1/payments/paddle",
    tag = "billing",
    operation_id = "payments_paddle",
    params(("Paddle-Signature" = String, Header, description = "`ts=<unix seconds>;h1=<hex HMAC-SHA256>`, as Paddle sends it")),
    request_body(content = Object, description = "A Paddle notification, as Paddle sends it"),
    responses(
        (status = 200, description = "Received: what it posted, or why nothing", body = PaymentReceived),
        (status = 400, description = "The signature does not verify (`INVALID_SIGNATURE`) or the body is not JSON; nothing is posted"),
        (status = 404, description = "Paddle payments are not configured"),
        (status = 422, description = "A money event lacks an amount, currency or id, naming it"),
    ),
    security(()),
)]
pub async fn paddle(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PaymentReceived>, ApiError> {
    let settings = &state.settings().payments.paddle;
    let (Some(secret), Some(tenant)) = (settings.secret_key.as_ref(), settings.tenant.as_ref())
    else {
        return Err(ApiError::not_found(
            "Paddle payment endpoint (payments.paddle)",
        ));
    };
    PADDLE.verify(
        PADDLE.header(&headers)?,
        &body,
        secret.expose_secret(),
        settings.tolerance_seconds,
        now_us().div_euclid(1_000_000),
    )?;
    let event: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the notification is not JSON: {e}"),
        )
    })?;
    let head = Event {
        provider: "paddle",
        id: text(&event, "event_id")
            .ok_or_else(|| {
                ApiError::invalid_field("event_id", "a Paddle notification has an event_id")
            })?
            .to_string(),
        kind: text(&event, "event_type")
            .ok_or_else(|| {
                ApiError::invalid_field("event_type", "a Paddle notification has an event_type")
            })?
            .to_string(),
    };
    let data = event.get("data").cloned().unwrap_or(Value::Null);
    let id = |key: &str| {
        text(&data, key).map(str::to_string).ok_or_else(|| {
            ApiError::invalid_field(&format!("data.{key}"), format!("data.{key} is missing"))
        })
    };
    let currency = text(&data, "currency_code").ok_or_else(|| {
        ApiError::invalid_field("data.currency_code", "data.currency_code is missing")
    });
    match head.kind.as_str() {
        "transaction.completed" | "transaction.paid" => {
            let payment = id("id")?;
            let money = Money {
                key: format!("paddle:payment:{payment}"),
                amount: paddle_amount(
                    &data,
                    "/details/totals/grand_total",
                    "data.details.totals.grand_total",
                )?,
                amount_field: "data.details.totals.grand_total",
                payment,
                debit: false,
            };
            let user = data.pointer("/custom_data/user_id").and_then(Value::as_str);
            post_money(
                &state,
                tenant,
                head,
                money,
                ("data.currency_code", currency?),
                user,
            )
            .await
        }
        "adjustment.created" | "adjustment.updated" => {
            if text(&data, "action") != Some("refund") || text(&data, "status") != Some("approved")
            {
                return Ok(Json(head.answer(
                    PaymentOutcome::Ignored,
                    None,
                    Some("only an approved refund adjustment moves money".into()),
                )));
            }
            let adjustment = id("id")?;
            let payment = id("transaction_id")?;
            // A refund names the transaction, not the account: the account its payment
            // credited.
            let Some(account) = credited_account(&state, tenant, "paddle", &payment).await? else {
                return Ok(Json(head.answer(
                    PaymentOutcome::Ignored,
                    None,
                    Some(format!(
                        "no payment {payment} was credited, so there is nothing to refund"
                    )),
                )));
            };
            let user = account.user_id.clone();
            let money = Money {
                key: format!("paddle:refund:{adjustment}"),
                amount: paddle_amount(&data, "/totals/total", "data.totals.total")?,
                amount_field: "data.totals.total",
                payment,
                debit: true,
            };
            post_money(
                &state,
                tenant,
                head,
                money,
                ("data.currency_code", currency?),
                Some(&user),
            )
            .await
        }
        other => {
            let why = format!("event type {other} moves no money");
            Ok(Json(head.answer(PaymentOutcome::Ignored, None, Some(why))))
        }
    }
}

/// A Fondy value as its signature reads it: a string as it is, a number as its JSON text;
/// None for what the signature leaves out (empty or null).
fn fondy_value(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Checks a Fondy callback's `signature`: SHA-1, hex, of the merchant password and the values
/// of every other non-empty parameter (but `response_signature_string`) in the order of their
/// names, joined by `|`; compared in constant time.
pub(crate) fn verify_fondy(fields: &Map<String, Value>, password: &str) -> Result<(), ApiError> {
    use sha1::Sha1;
    let given = fields
        .get("signature")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidSignature, "the callback has no signature")
                .with_field("signature")
        })?;
    let mut keys: Vec<&String> = fields
        .keys()
        .filter(|k| *k != "signature" && *k != "response_signature_string")
        .collect();
    keys.sort();
    let mut text = password.to_string();
    for k in keys {
        if let Some(v) = fondy_value(&fields[k]) {
            text.push('|');
            text.push_str(&v);
        }
    }
    let expected = hex::encode(Sha1::digest(text.as_bytes()));
    let given = given.to_ascii_lowercase();
    let same = expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidSignature,
            "the callback's signature does not verify with the merchant password",
        )
        .with_field("signature"))
    }
}

/// Fondy callback
///
/// A Fondy server callback (JSON), verified by its `signature` against
/// `payments.fondy.merchant_password` before anything is read. An `approved` order credits the
/// account named by `merchant_data` (a JSON object with `user_id`; none: the tenant's own)
/// with `amount` in `currency`; a `reversed` one debits what was reversed since the last
/// callback (`reversal_amount` is the order's total) from the account its payment credited.
/// Each is posted once; other statuses are acknowledged and ignored.
#[utoipa::path(
    post,
    path = "/api/v1/payments/fondy",
    tag = "billing",
    operation_id = "payments_fondy",
    request_body(content = Object, description = "A Fondy callback, as Fondy sends it (flat, or inside `response`)"),
    responses(
        (status = 200, description = "Received: what it posted, or why nothing", body = PaymentReceived),
        (status = 400, description = "The signature does not verify (`INVALID_SIGNATURE`) or the body is not JSON; nothing is posted"),
        (status = 404, description = "Fondy payments are not configured"),
        (status = 422, description = "A money callback lacks an amount, currency or order id, naming it"),
    ),
    security(()),
)]
pub async fn fondy(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<PaymentReceived>, ApiError> {
    let settings = &state.settings().payments.fondy;
    let (Some(password), Some(tenant)) = (
        settings.merchant_password.as_ref(),
        settings.tenant.as_ref(),
    ) else {
        return Err(ApiError::not_found(
            "Fondy payment endpoint (payments.fondy)",
        ));
    };
    let root: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the callback is not JSON: {e}"),
        )
    })?;
    let fields = root
        .get("response")
        .unwrap_or(&root)
        .as_object()
        .cloned()
        .ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidBody, "a Fondy callback is a JSON object")
        })?;
    verify_fondy(&fields, password.expose_secret())?;
    let data = Value::Object(fields);
    if let Some(merchant) = settings.merchant_id.as_deref() {
        if data.get("merchant_id").and_then(fondy_value).as_deref() != Some(merchant) {
            return Err(ApiError::invalid_field(
                "merchant_id",
                "the callback names another merchant than payments.fondy.merchant_id",
            ));
        }
    }
    let order = text(&data, "order_id")
        .ok_or_else(|| ApiError::invalid_field("order_id", "the callback has no order_id"))?
        .to_string();
    let status = data
        .get("order_status")
        .and_then(fondy_value)
        .unwrap_or_default();
    let head = Event {
        provider: "fondy",
        id: format!(
            "{order}:{status}:{}",
            data.get("reversal_amount")
                .and_then(fondy_value)
                .unwrap_or_default()
        ),
        kind: format!("order.{status}"),
    };
    let whole = |key: &str| {
        data.get(key)
            .and_then(fondy_value)
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| {
                ApiError::invalid_field(
                    key,
                    format!("{key} must be a whole number of the currency's smallest unit"),
                )
            })
    };
    let currency = text(&data, "currency")
        .ok_or_else(|| ApiError::invalid_field("currency", "the callback has no currency"));
    match status.as_str() {
        "approved" => {
            let user = data
                .get("merchant_data")
                .and_then(Value::as_str)
                .and_then(|m| serde_json::from_str::<Value>(m).ok())
                .and_then(|m| m.get("user_id").and_then(Value::as_str).map(str::to_string));
            let money = Money {
                key: format!("fondy:payment:{order}"),
                amount: whole("amount")?,
                amount_field: "amount",
                payment: order,
                debit: false,
            };
            post_money(
                &state,
                tenant,
                head,
                money,
                ("currency", currency?),
                user.as_deref(),
            )
            .await
        }
        "reversed" => {
            let total = whole("reversal_amount")?;
            let Some(account) = credited_account(&state, tenant, "fondy", &order).await? else {
                return Ok(Json(head.answer(
                    PaymentOutcome::Ignored,
                    None,
                    Some(format!(
                        "no payment of order {order} was credited, so there is nothing to reverse"
                    )),
                )));
            };
            let currency = Currency::try_from(currency?.to_ascii_uppercase())
                .map_err(|e| ApiError::invalid_field("currency", e))?;
            let reversed = minor_units(total, &currency).ok_or_else(|| {
                ApiError::invalid_field("reversal_amount", "reversal_amount is out of range")
            })?;
            // `reversal_amount` is the order's total reversed; what this callback adds is what
            // the ledger has not debited yet.
            let new = reversed.0 - account.debited.0;
            if new <= 0 {
                return Ok(Json(head.answer(
                    PaymentOutcome::AlreadyPosted,
                    None,
                    Some("the reversal was debited before".into()),
                )));
            }
            let scale = minor_units(1, &currency).map_or(1, |n| n.0);
            let money = Money {
                key: format!("fondy:refund:{order}:{total}"),
                amount: new / scale,
                amount_field: "reversal_amount",
                payment: order,
                debit: true,
            };
            let user = account.user_id.clone();
            post_money(
                &state,
                tenant,
                head,
                money,
                ("currency", currency.as_str()),
                Some(&user),
            )
            .await
        }
        other => {
            let why = format!("an order {other} moves no money");
            Ok(Json(head.answer(PaymentOutcome::Ignored, None, Some(why))))
        }
    }
}

/// The id of the tenant a provider's settings name; 503 when they name none (the provider
/// retries once the operator fixes it).
async fn tenant_of(state: &AppState, tenant: &str, provider: &str) -> Result<String, ApiError> {
    Ok(state
        .store()
        .find_tenant(tenant)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unavailable,
                format!("payments.{provider}.tenant '{tenant}' names no tenant"),
            )
        })?
        .id)
}

/// The account `provider`'s payment `payment` credited, for a refund that names the payment
/// and not the account; None when it was never credited.
async fn credited_account(
    state: &AppState,
    tenant: &str,
    provider: &str,
    payment: &str,
) -> Result<Option<tollgate_store::PaymentTotals>, ApiError> {
    let tenant_id = tenant_of(state, tenant, provider).await?;
    let paid = state
        .store()
        .payment_totals(&tenant_id, provider, payment)
        .await?;
    Ok(paid.into_iter().find(|p| p.credited.0 > 0))
}

/// A provider's event, as the answer names it.
struct Event {
    provider: &'static str,
    id: String,
    kind: String,
}

impl Event {
    fn answer(
        &self,
        outcome: PaymentOutcome,
        transaction_id: Option<String>,
        reason: Option<String>,
    ) -> PaymentReceived {
        PaymentReceived {
            received: true,
            event_id: self.id.clone(),
            event_type: self.kind.clone(),
            outcome,
            transaction_id,
            reason,
        }
    }
}

/// Money an event moves: `amount` in the currency's smallest unit, credited (or debited) once
/// per `key`.
struct Money {
    payment: String,
    amount: i64,
    /// The field that gave the amount.
    amount_field: &'static str,
    debit: bool,
    key: String,
}

/// Posts `money` to the account of `user_id` (none: the tenant's own) of `tenant` in
/// `currency` (the field that named it, and its code): a top-up, or a debit adjustment for a
/// refund; once per `money.key`.
async fn post_money(
    state: &AppState,
    tenant: &str,
    event: Event,
    money: Money,
    (currency_field, currency): (&str, &str),
    user_id: Option<&str>,
) -> Result<Json<PaymentReceived>, ApiError> {
    let currency = Currency::try_from(currency.to_ascii_uppercase())
        .map_err(|e| ApiError::invalid_field(currency_field, e))?;
    let nanos = minor_units(money.amount, &currency)
        .filter(|n| n.0 > 0)
        .ok_or_else(|| {
            ApiError::invalid_field(
                money.amount_field,
                format!(
                    "the amount {} is not a positive amount of {currency} in its smallest unit",
                    money.amount
                ),
            )
        })?;
    let user_id = user_id.map(str::trim).unwrap_or("").to_string();
    let tenant_id = tenant_of(state, tenant, event.provider).await?;
    let mut metadata = Map::new();
    metadata.insert("event_id".into(), Value::String(event.id.clone()));
    metadata.insert("event_type".into(), Value::String(event.kind.clone()));
    let provider = event.provider;
    let description = if money.debit {
        format!("{provider} refund of {}", money.payment)
    } else {
        format!("{provider} payment {}", money.payment)
    };
    // The hash covers what the payment is, not which of its events carried it, so a second
    // event of the same payment is a repeat, not a conflict.
    let understood = json!({"user_id": user_id, "amount": nanos.to_string(), "currency": currency,
                            "debit": money.debit, "payment": money.payment});
    let mut hasher = Sha256::new();
    hasher.update(understood.to_string().as_bytes());
    let credit = NewCredit {
        tenant_id,
        user_id,
        kind: if money.debit {
            LedgerKind::Adjustment
        } else {
            LedgerKind::Topup
        },
        amount: nanos,
        delta: if money.debit { Nanos(-nanos.0) } else { nanos },
        currency,
        description: Some(description),
        payment_provider: Some(provider.to_string()),
        payment_id: Some(money.payment),
        log_id: None,
        metadata,
        idempotency_key: Some(money.key),
        request_hash: hex::encode(hasher.finalize()),
        balance_low: state.billing().balance_low,
    };
    match state
        .store()
        .post_credit(&credit, &state.billing().defaults)
        .await
    {
        Ok((entry, replayed)) => {
            let outcome = if replayed {
                PaymentOutcome::AlreadyPosted
            } else {
                PaymentOutcome::Posted
            };
            Ok(Json(event.answer(outcome, Some(entry.id), None)))
        }
        // The same payment posted before with another amount: the first stands.
        Err(StoreError::Conflict(why)) => Ok(Json(event.answer(
            PaymentOutcome::AlreadyPosted,
            None,
            Some(format!("the payment was posted before; {why}")),
        ))),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{t}.{body}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn a_stripe_signature_verifies_with_any_of_its_v1_signatures_within_the_tolerance() {
        let body = r#"{"id":"evt_1"}"#;
        let good = sign("whsec_abc", 1000, body);
        let header = format!("t=1000,v1=deadbeef,v1={good},v0=ignored");
        let verify =
            |h: &str, b: &[u8], secret: &str, now: i64| STRIPE.verify(h, b, secret, 300, now);
        assert!(verify(&header, body.as_bytes(), "whsec_abc", 1200).is_ok());
        assert!(verify(&header, body.as_bytes(), "whsec_other", 1200).is_err());
        assert!(verify(&header, b"{}", "whsec_abc", 1200).is_err());
        assert!(
            verify(&header, body.as_bytes(), "whsec_abc", 1400).is_err(),
            "too old"
        );
        assert!(verify("v1=abc", body.as_bytes(), "whsec_abc", 1000).is_err());
    }

    #[test]
    fn minor_units_follow_the_currencys_decimals() {
        let c = |s: &str| Currency::try_from(s.to_string()).expect("currency");
        assert_eq!(minor_units(1000, &c("USD")), Some(Nanos(10_000_000_000)));
        assert_eq!(minor_units(1000, &c("JPY")), Some(Nanos(1_000_000_000_000)));
        assert_eq!(minor_units(1000, &c("KWD")), Some(Nanos(1_000_000_000)));
        assert_eq!(minor_units(i64::MAX, &c("USD")), None);
    }
}
