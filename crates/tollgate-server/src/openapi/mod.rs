//! The OpenAPI 3.1 document of the HTTP API: its frame (info, tags, security schemes), the
//! finishing pass over what the handlers' annotations give (alias paths, the error body), its
//! JSON, and the comparison with a committed copy.
//!
//! The operations come from the router's registration (`routes::api`, which calls [`base`]
//! and [`finish`]; [`crate::openapi_document`] gives the result), never from a list kept here,
//! so the document and the served routes cannot disagree. No server or database needed.

mod drift;

use tollgate_api::{vocabulary, ErrorBody};
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Deprecated, HttpMethod, OpenApi, Ref, RefOr, Required};
use utoipa::{Modify, PartialSchema, ToSchema};

pub use drift::differences;

/// The name of the error body schema and of the shared error response.
const ERROR: &str = "Error";

/// `doc` as pretty JSON ending in a newline: the same document always gives the same text.
pub fn to_json(doc: &OpenApi) -> String {
    let mut text = doc
        .to_pretty_json()
        .expect("an OpenAPI document has string keys only, so it always serializes");
    text.push('\n');
    text
}

/// A second path serving a documented operation.
pub(crate) struct Alias {
    /// The second path.
    pub path: &'static str,
    /// The documented path whose operation it serves.
    pub of: &'static str,
    /// The method of both.
    pub method: HttpMethod,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Tollgate",
        description = "A self-hosted LLM usage ledger: it records every LLM call an application \
makes, prices it exactly and reports usage, and signs receipts a third party can verify. \
It is a drop-in server for the llmring client: same routes, same JSON shapes.\n\n\
Requests authenticate with a tenant API key in `X-API-Key` or `Authorization: Bearer`; the \
tenant always comes from the key. A tenant key has scopes within its own tenant: `ingest`, \
`read`, `admin` (account limits, webhooks) and `billing` (top-ups, refunds, adjustments, account \
limits). An operator key (a deployment-wide role, not a scope) may do everything, manages plans, \
and may act on another tenant named by `X-Tenant-Id`. End users may call the account routes \
(balance, history, usage, authorize, tool executions) with a JWT from the tenant's identity provider. Money is \
an exact decimal string. Every error has the body `Error`."
    ),
    tags(
        (name = "usage", description = "Log calls and read them back: events, statistics, prices"),
        (name = "conversations", description = "llmring conversations with their messages"),
        (name = "mcp", description = "llmring's MCP registry: servers, tools, resources, prompts, and tool executions, metered and charged like LLM calls"),
        (name = "receipts", description = "Signed receipts of usage, their proofs, and the signing keys"),
        (name = "transparency", description = "The tenant log: signed checkpoints, entries and proofs"),
        (name = "authorize", description = "May a call happen: quota, account limits and balance, holds"),
        (name = "billing", description = "Plans and quotas, account balances, the ledger, credits, usage and cost reports"),
        (name = "webhooks", description = "Alert webhooks: endpoints, the events they receive, their delivery logs"),
        (name = "mcp", description = "llmring's MCP registry: a tenant's MCP servers and the tools, resources and prompts they offer"),
        (name = "operate", description = "Health, metrics and this document"),
        (name = "registry", description = "The model registry llmring reads, with the prices Tollgate charges"),
    ),
    modifiers(&Credentials),
    security(("api_key" = []), ("bearer" = [])),
)]
struct Frame;

/// The document before any route is registered: info, tags and security.
pub(crate) fn base() -> OpenApi {
    <Frame as utoipa::OpenApi>::openapi()
}

struct Credentials;

impl Modify for Credentials {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "A tenant API key, as llmring sends it",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A tenant API key, or an end user's JWT (when `auth.jwt` is configured; \
                         account routes only)",
                    ))
                    .build(),
            ),
        );
    }
}

/// Completes what the annotations give: the error body on every operation, then the alias
/// paths as copies of their operations.
pub(crate) fn finish(doc: &mut OpenApi, aliases: &[Alias]) {
    add_errors(doc);
    add_payloads(doc);
    add_query_aliases(doc);
    for alias in aliases {
        add_alias(doc, alias);
    }
}

/// Adds the schemas that travel as JSON inside a string of another schema, which no
/// annotation reaches: a balance stream event's `data` is a `BalanceSnapshot`.
fn add_payloads(doc: &mut OpenApi) {
    use tollgate_api::billing::BalanceSnapshot;
    let components = doc.components.get_or_insert_with(Default::default);
    let mut schemas = vec![(
        BalanceSnapshot::name().into_owned(),
        BalanceSnapshot::schema(),
    )];
    BalanceSnapshot::schemas(&mut schemas);
    components.schemas.extend(schemas);
}

/// Adds the `Error` schema and response, makes the response every operation's `default`,
/// and gives each error status declared without a body the `Error` body.
fn add_errors(doc: &mut OpenApi) {
    let body = || Content::new(Some(Ref::from_schema_name(ERROR)));
    let components = doc.components.get_or_insert_with(Default::default);
    let mut schemas = vec![(ErrorBody::name().into_owned(), ErrorBody::schema())];
    ErrorBody::schemas(&mut schemas);
    components.schemas.extend(schemas);
    components.responses.insert(
        ERROR.into(),
        ResponseBuilder::new()
            .description(
                "An error, in the `Error` shape: 400 malformed query or JSON, 401 no usable \
                 credentials, 403 a missing scope, 404 not found (or another tenant's), 408 \
                 the body did not arrive within `http.body_timeout_ms` (the connection is then \
                 closed), 413 body too large, 422 an invalid field, 503 the database is \
                 unavailable or every connection the server serves at once is busy (with \
                 `Retry-After`)",
            )
            .content("application/json", body())
            .build()
            .into(),
    );
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            for (status, response) in op.responses.responses.iter_mut() {
                if let RefOr::T(r) = response {
                    let error = status.starts_with('4') || status.starts_with('5');
                    if error && r.content.is_empty() {
                        r.content.insert("application/json".into(), body());
                    }
                }
            }
            op.responses.responses.insert(
                "default".into(),
                RefOr::Ref(Ref::new(format!("#/components/responses/{ERROR}"))),
            );
        }
    }
}

/// Lists each alias a query parameter accepts (see [`tollgate_api::vocabulary`]) beside it,
/// as a parameter of its own that says whose alias it is, so clients and the fuzzer know the
/// server takes it.
fn add_query_aliases(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        for op in operations(item) {
            let Some(params) = op.parameters.as_mut() else {
                continue;
            };
            let mut extra = Vec::new();
            for param in params.iter() {
                if param.parameter_in != ParameterIn::Query {
                    continue;
                }
                let Some(idea) = vocabulary::idea_of(path, &param.name) else {
                    continue;
                };
                for name in idea.names().filter(|n| *n != param.name) {
                    let mut alias = param.clone();
                    alias.name = name.to_string();
                    alias.required = Required::False;
                    alias.deprecated = Some(Deprecated::False);
                    alias.description = Some(format!(
                        "Alias of `{}`; give one or the other, not both.",
                        param.name
                    ));
                    extra.push(alias);
                }
            }
            params.extend(extra);
        }
    }
}

/// Documents `alias.path` as a copy of the operation it serves, with its own operation id.
fn add_alias(doc: &mut OpenApi, alias: &Alias) {
    let method = method_name(&alias.method);
    let Some(mut op) = doc
        .paths
        .paths
        .get_mut(alias.of)
        .and_then(|item| slot(item, &alias.method).clone())
    else {
        panic!(
            "the alias {method} {} serves {method} {}, which is not a documented operation",
            alias.path, alias.of
        );
    };
    op.operation_id = op
        .operation_id
        .map(|id| format!("{id}_at_{}", slug(alias.path)));
    let note = format!("Alias of `{method} {}`.", alias.of);
    op.description = Some(match op.description.filter(|d| !d.is_empty()) {
        Some(d) => format!("{note}\n\n{d}"),
        None => note,
    });
    let item = doc.paths.paths.entry(alias.path.to_string()).or_default();
    *slot(item, &alias.method) = Some(op);
}

/// `/api/billing/balance` → `api_billing_balance`.
fn slug(path: &str) -> String {
    let words: Vec<&str> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut slug = words.join("_");
    if path.ends_with('/') {
        slug.push_str("_slash");
    }
    slug
}

/// The operations of a path, in a fixed order.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

fn slot<'a>(item: &'a mut PathItem, method: &HttpMethod) -> &'a mut Option<Operation> {
    match method {
        HttpMethod::Get => &mut item.get,
        HttpMethod::Put => &mut item.put,
        HttpMethod::Post => &mut item.post,
        HttpMethod::Delete => &mut item.delete,
        HttpMethod::Options => &mut item.options,
        HttpMethod::Head => &mut item.head,
        HttpMethod::Patch => &mut item.patch,
        HttpMethod::Trace => &mut item.trace,
    }
}

fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Put => "PUT",
        HttpMethod::Post => "POST",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Head => "HEAD",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Trace => "TRACE",
    }
}
