//! Plans, account defaults and the authorization queue.
//!
//! Plans and the default plan live in the database; at start the settings add plans and set
//! what no operator has set ([`seed_plans`]), and warn where they disagree with an operator.
//! A stored plan becomes its wire shape in one place ([`plan_view`]), for the API and the CLI.
//!
//! Authorizations are decided in batches: requests hand themselves to one task, which decides
//! whatever has arrived while the previous batch ran in one transaction (see the store's
//! `authorize`), so the cost of a commit is shared and decisions on one account are taken one
//! after another against its locked state.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tollgate_api::plans::{Plan as PlanView, PlanSource as Source};
use tollgate_core::time::{format_us, now_us};
use tollgate_core::validate::{monthly_requests, plan_name};
use tollgate_core::{Currency, Nanos};
use tollgate_store::{
    AccountDefaults, AuthorizeRequest, Decision, Plan, PlanSeed, PlanSource, Seeded, Seeding,
    Store, StoreError,
};

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::settings::BillingSettings;
use tollgate_api::ErrorCode;

/// Billing configuration, checked at start.
#[derive(Debug, Clone)]
pub struct Billing {
    /// The default plan the settings choose at start (`billing.default_plan`), like `seeds`;
    /// decisions read the database's choice, never this.
    pub default_plan: Option<String>,
    /// The plans of the settings (`billing.plans`), applied at start (see [`seed_plans`]).
    pub seeds: Vec<PlanSeed>,
    /// What new accounts start with.
    pub defaults: Arc<AccountDefaults>,
    /// Hold lifetime when a request does not ask for one.
    pub hold_ttl: Duration,
    /// The longest hold lifetime a request may ask for.
    pub max_hold_ttl: Duration,
    /// A charge or debit that takes a balance below this raises `balance.low` (`webhooks.balance_low`).
    pub balance_low: Option<Nanos>,
}

fn limit(field: &str, text: Option<&str>) -> Result<Option<Nanos>, String> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => match Nanos::parse_exact(t) {
            Ok(n) if n.0 >= 0 => Ok(Some(n)),
            _ => Err(format!(
                "billing.account.{field} must be a non-negative decimal amount like \"10\" or \"99.50\", not '{t}'"
            )),
        },
    }
}

impl Billing {
    /// Checks and resolves the settings.
    pub fn from_settings(s: &BillingSettings) -> Result<Billing, String> {
        let mut seeds = Vec::with_capacity(s.plans.len());
        for (name, plan) in &s.plans {
            let checked = plan_name("name", name)
                .map_err(|e| format!("billing.plans: plan '{name}': {}", e.message))?;
            let quota = monthly_requests("monthly_requests", plan.monthly_requests)
                .map_err(|e| format!("billing.plans.{name}.{}", e.message))?;
            seeds.push(PlanSeed {
                name: checked,
                monthly_requests: quota,
            });
        }
        let default_plan = match &s.default_plan {
            Some(name) => Some(
                plan_name("default_plan", name).map_err(|e| format!("billing.{}", e.message))?,
            ),
            None => None,
        };
        let currency = Currency::try_from(s.account.currency.clone())
            .map_err(|e| format!("billing.account.currency: {e}"))?;
        if s.hold_ttl_seconds == 0 || s.hold_ttl_seconds > s.max_hold_ttl_seconds {
            return Err(
                "billing.hold_ttl_seconds must be at least 1 and at most max_hold_ttl_seconds"
                    .into(),
            );
        }
        Ok(Billing {
            default_plan,
            seeds,
            defaults: Arc::new(AccountDefaults {
                is_active: s.account.is_active,
                billing_enabled: s.account.billing_enabled,
                limit_currency: currency,
                daily_limit: limit("daily_limit", s.account.daily_limit.as_deref())?,
                monthly_limit: limit("monthly_limit", s.account.monthly_limit.as_deref())?,
            }),
            hold_ttl: Duration::from_secs(s.hold_ttl_seconds),
            max_hold_ttl: Duration::from_secs(s.max_hold_ttl_seconds),
            balance_low: None,
        })
    }
}

/// A stored plan as the API and `tollgate plans --json` show it.
pub fn plan_view(p: &Plan) -> PlanView {
    PlanView {
        name: p.name.clone(),
        monthly_requests: p.monthly_requests,
        default: p.default,
        source: match p.source {
            PlanSource::Builtin => Source::Builtin,
            PlanSource::Settings => Source::Settings,
            PlanSource::Operator => Source::Operator,
        },
        tenants: p.tenants,
        created_at: format_us(p.created_us),
        updated_at: format_us(p.updated_us),
        rate_limits: crate::routes::rate_limits::plan_rates_out(&p.rates),
    }
}

/// "500 requests" or "unlimited requests", for sentences about a monthly quota.
pub fn quota_text(monthly_requests: Option<i64>) -> String {
    monthly_requests.map_or("unlimited requests".to_string(), |n| {
        format!("{n} requests")
    })
}

/// At start: applies the settings' plans and default plan to the database by the store's
/// rule (what an operator set stays; the rest follows the settings), logs what changed, warns
/// where an operator's value differs from the settings, and stops when the settings' default
/// plan is not a plan.
pub async fn seed_plans(store: &dyn Store, billing: &Billing) -> Result<(), String> {
    let seeding = store
        .seed_plans(&billing.seeds, billing.default_plan.as_deref())
        .await
        .map_err(|e| format!("cannot apply the plans of the settings: {e}"))?;
    let (plans, default) = match seeding {
        Seeding::Done { plans, default } => (plans, default),
        Seeding::UnknownDefault { known } => {
            return Err(format!(
                "billing.default_plan '{name}' is not a plan in the database (plans: {}). \
                 Choose one of those, or add it: `tollgate plans set {name} --monthly-requests \
                 N`, or [billing.plans.{name}] in tollgate.toml",
                known.join(", "),
                name = billing.default_plan.as_deref().unwrap_or_default(),
            ));
        }
    };
    for (seed, outcome) in billing.seeds.iter().zip(plans) {
        let name = &seed.name;
        let wanted = quota_text(seed.monthly_requests);
        match outcome {
            Seeded::Added => {
                tracing::info!(plan = %name, "added plan {name} of the settings: {wanted} a month")
            }
            Seeded::Applied { was } => tracing::info!(
                plan = %name,
                "plan {name} follows the settings (no operator has set it): {wanted} a month, \
                 was {}",
                quota_text(was)
            ),
            Seeded::Unchanged => {}
            Seeded::Kept { stored } => tracing::warn!(
                plan = %name,
                "billing.plans.{name} in the settings says {wanted} a month, but an operator \
                 set it to {} a month: the database's plan applies, on every instance, and the \
                 settings never change it. To change it: `tollgate plans set {name} \
                 --monthly-requests N` (or `--unlimited`), or PUT /api/v1/plans/{name}",
                quota_text(stored)
            ),
        }
    }
    let wanted = billing.default_plan.as_deref().unwrap_or_default();
    match default {
        None | Some(Seeded::Unchanged) | Some(Seeded::Added) => {}
        Some(Seeded::Applied { was }) => tracing::info!(
            "the default plan follows the settings (no operator has chosen it): '{wanted}', \
             was '{was}'"
        ),
        Some(Seeded::Kept { stored }) => tracing::warn!(
            "billing.default_plan in the settings says '{wanted}', but an operator chose \
             '{stored}': the database's default plan applies, on every instance, and the \
             settings never change it. To change it: `tollgate plans default NAME`, or PUT \
             /api/v1/plans/NAME with {{\"default\": true}}"
        ),
    }
    Ok(())
}

type Reply = oneshot::Sender<Result<Decision, StoreError>>;

/// The handle requests use to be authorized.
#[derive(Clone)]
pub struct Authorizer {
    tx: mpsc::Sender<(AuthorizeRequest, Reply)>,
}

impl Authorizer {
    /// Starts the deciding task; it ends when every handle is dropped.
    pub fn start(
        store: Arc<dyn Store>,
        billing: Arc<Billing>,
        max_batch: usize,
    ) -> (Authorizer, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(max_batch.max(1) * 8);
        let handle = tokio::spawn(run(store, billing, rx, max_batch.max(1)));
        (Authorizer { tx }, handle)
    }

    /// Decides one request (with the others queued beside it).
    pub async fn authorize(&self, request: AuthorizeRequest) -> Result<Decision, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((request, reply))
            .await
            .map_err(|_| unavailable("the server is shutting down"))?;
        match answer.await {
            Ok(result) => result.map_err(ApiError::from),
            Err(_) => Err(unavailable("the decision was interrupted; retry")),
        }
    }
}

fn unavailable(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, message)
}

async fn run(
    store: Arc<dyn Store>,
    billing: Arc<Billing>,
    mut rx: mpsc::Receiver<(AuthorizeRequest, Reply)>,
    max_batch: usize,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (requests, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let result = store
            .authorize(&requests, &billing.defaults, now_us())
            .await;
        match result {
            Ok(decisions) => {
                for (reply, d) in replies.into_iter().zip(decisions) {
                    let _ = reply.send(Ok(d));
                }
            }
            Err(e) if replies.len() == 1 || matches!(e, StoreError::Unavailable(_)) => {
                // Nothing was committed: every request gets the error (and may retry).
                let message = e.to_string();
                let mut first = Some(e);
                for reply in replies {
                    let err = first
                        .take()
                        .unwrap_or_else(|| StoreError::Unavailable(message.clone()));
                    let _ = reply.send(Err(err));
                }
            }
            Err(e) => {
                // One request's problem (an unknown tenant) must not fail the others.
                tracing::warn!(error = %e, "an authorization batch failed; deciding one by one");
                for (request, reply) in requests.into_iter().zip(replies) {
                    let one = store
                        .authorize(std::slice::from_ref(&request), &billing.defaults, now_us())
                        .await
                        .map(|mut d| d.remove(0));
                    let _ = reply.send(one);
                }
            }
        }
    }
}

/// Releases expired holds every `every`, until aborted, and keeps the open-holds gauge.
pub fn expire_every(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
        // The first tick is immediate: skip it, nothing has expired at start-up that cannot
        // wait one period.
        tick.tick().await;
        loop {
            tick.tick().await;
            loop {
                match store.expire_holds(now_us(), 500).await {
                    Ok(n) => {
                        metrics.holds_expired.fetch_add(n as u64, Ordering::Relaxed);
                        if n < 500 {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not release expired holds; retrying");
                        break;
                    }
                }
            }
            match store.open_holds().await {
                Ok(n) => metrics.holds_open.store(n.max(0) as u64, Ordering::Relaxed),
                Err(e) => tracing::warn!(error = %e, "could not count open holds"),
            }
        }
    })
}
