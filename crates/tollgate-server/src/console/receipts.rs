//! The receipts pages: `GET /ui/receipts` (the list, newest first) and `GET /ui/receipts/{id}`
//! (one receipt: its amounts, breakdowns, certified set, selection and signature, with its JSON
//! and accounting CSV to download and a check of it in the browser), and the JSON the check
//! fetches with the session: the proof of one log and the server's own verdict.
//!
//! Every answer is an API handler's (`list`, `get`, `proof`, `verify`, `export_receipt`)
//! called with the viewer's credentials; the downloads are those handlers' bodies unchanged,
//! so the JSON a person saves is byte for byte what `GET /api/v1/receipts/{id}` serves.

use std::collections::BTreeMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_DISPOSITION;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tollgate_api::receipts::{PageQuery, ProofQuery, ReceiptBreakdown, SelectionRecord};
use tollgate_receipts::receipt::{Receipt, ReceiptAmounts, SelectionMode};

use super::fmt::{count, instant, money};
use super::page::{render, Chrome, ConsoleError};
use super::session::Viewer;
use crate::auth::{need, MaybeAuth};
use crate::error::ApiError;
use crate::extract::{Params, PathParam, RawBody};
use crate::routes::export_receipt::{self, ReceiptExportQuery};
use crate::routes::receipts;
use crate::state::AppState;

/// Receipts per page of the list.
const PAGE: i64 = 25;

/// The list's query: where the page starts, and a tag to filter by.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    offset: Option<i64>,
    #[serde(default)]
    tag: Option<String>,
}

/// One row of the list.
struct ListRow {
    id: String,
    issued: String,
    kind: &'static str,
    logs: String,
    cost: String,
    unpriced: String,
    tags: String,
    description: String,
}

#[derive(Template)]
#[template(path = "console/receipts.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<ListRow>,
    total: String,
    one: bool,
    shown: String,
    tag: String,
    previous: Option<String>,
    next: Option<String>,
    may_generate: bool,
}

/// Every exact amount of a currency map, as `1.25 USD, 3.00 EUR`.
fn amounts<'a>(by_currency: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    let all: Vec<String> = by_currency.map(|(c, a)| money(a, c)).collect();
    if all.is_empty() {
        "0".into()
    } else {
        all.join(", ")
    }
}

/// How many calls are unpriced, or that an older receipt does not say.
fn unpriced(n: Option<i64>) -> String {
    n.map_or_else(|| "not stated".into(), count)
}

/// A link to the list at `offset` (with the tag kept).
fn list_href(offset: i64, tag: &str) -> String {
    if tag.is_empty() {
        format!("/ui/receipts?offset={offset}")
    } else {
        format!(
            "/ui/receipts?offset={offset}&tag={}",
            super::session::url_encode(tag)
        )
    }
}

/// `GET /ui/receipts`: the tenant's receipts, newest first, a page at a time.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let tag = q
        .tag
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    let offset = q.offset.unwrap_or(0).max(0);
    let Json(found) = receipts::list(
        State(state),
        viewer.may::<need::Read>()?,
        Params(PageQuery {
            limit: Some(PAGE),
            offset: Some(offset),
            tag: (!tag.is_empty()).then(|| tag.clone()),
        }),
    )
    .await?;
    let rows: Vec<ListRow> = found
        .receipts
        .iter()
        .map(|d| {
            let r = &d.receipt;
            ListRow {
                id: r.receipt_id.clone(),
                issued: instant(&r.timestamp),
                kind: r.receipt_type.as_str(),
                logs: count(r.certified.count),
                cost: amounts(r.amounts.iter().map(|(c, a)| (c, &a.total_cost))),
                unpriced: unpriced(r.unpriced_events),
                tags: r.tags.clone().unwrap_or_default().join(", "),
                description: r.description.clone().unwrap_or_default(),
            }
        })
        .collect();
    let end = offset + rows.len() as i64;
    let chrome = Chrome::new(&viewer, "Receipts", "/ui/receipts");
    let page = ListPage {
        shown: if rows.is_empty() {
            "none".into()
        } else {
            format!("{} to {}", count(offset + 1), count(end))
        },
        total: count(found.total),
        one: found.total == 1,
        previous: (offset > 0).then(|| list_href((offset - PAGE).max(0), &tag)),
        next: (end < found.total).then(|| list_href(end, &tag)),
        may_generate: viewer.may::<need::Read>().is_ok(),
        chrome,
        rows,
        tag,
    };
    render(&page)
}

/// One row of a breakdown.
pub(super) struct Line {
    pub(super) key: String,
    pub(super) calls: String,
    pub(super) tokens: String,
    pub(super) cost: String,
    pub(super) unpriced: String,
}

/// A breakdown table.
pub(super) struct Table {
    pub(super) title: String,
    pub(super) column: String,
    pub(super) lines: Vec<Line>,
}

/// The rows of a breakdown map, in the receipt's (sorted) order.
pub(super) fn table(
    title: impl Into<String>,
    column: impl Into<String>,
    groups: &BTreeMap<String, ReceiptBreakdown>,
) -> Table {
    Table {
        title: title.into(),
        column: column.into(),
        lines: groups
            .iter()
            .map(|(k, b)| Line {
                key: k.clone(),
                calls: count(b.calls),
                tokens: count(b.tokens),
                cost: amounts(b.amounts.iter()),
                unpriced: unpriced(b.unpriced_calls),
            })
            .collect(),
    }
}

/// The tables of a receipt or a preview: by model, by alias, then one per dimension.
pub(super) fn tables(
    by_model: &BTreeMap<String, ReceiptBreakdown>,
    by_alias: &BTreeMap<String, ReceiptBreakdown>,
    by_dimension: Option<&BTreeMap<String, BTreeMap<String, ReceiptBreakdown>>>,
) -> Vec<Table> {
    let mut all = vec![
        table("By model", "model", by_model),
        table("By alias", "alias", by_alias),
    ];
    for (name, values) in by_dimension.into_iter().flatten() {
        all.push(table(format!("By dimension {name}"), name.clone(), values));
    }
    all
}

/// A selection in words.
/// A receipt's (or a preview's) exact totals, a row per currency: input, output and total.
pub(super) fn amount_rows(
    amounts: &BTreeMap<String, ReceiptAmounts>,
) -> Vec<(String, String, String, String)> {
    amounts
        .iter()
        .map(|(c, a)| {
            (
                c.clone(),
                money(&a.input_cost, c),
                money(&a.output_cost, c),
                money(&a.total_cost, c),
            )
        })
        .collect()
}

pub(super) fn selection(s: &SelectionRecord) -> String {
    match s.mode {
        SelectionMode::SinceLastReceipt => "every log no receipt certified before".into(),
        SelectionMode::Conversation => format!(
            "every log of conversation {}",
            s.conversation_id.as_deref().unwrap_or("?")
        ),
        SelectionMode::DateRange => format!(
            "every log from {} to {}",
            instant(s.start_date.as_deref().unwrap_or("?")),
            instant(s.end_date.as_deref().unwrap_or("?"))
        ),
        SelectionMode::LogIds => {
            format!("logs by id ({} asked for)", count(s.requested.unwrap_or(0)))
        }
    }
}

#[derive(Template)]
#[template(path = "console/receipt.html")]
struct ReceiptPage {
    chrome: Chrome,
    notice: Option<&'static str>,
    r: Receipt,
    issued: String,
    period: String,
    amounts: Vec<(String, String, String, String)>,
    tables: Vec<Table>,
    dimensions_stated: bool,
    unpriced: String,
    selection: String,
    logs: String,
    tokens: String,
    checkpoint_size: String,
    /// The log whose inclusion the page's check proves.
    proof_log: String,
}

/// The query of a receipt's page.
#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

/// `GET /ui/receipts/{id}`, `…/{id}.json` and `…/{id}.csv`: the page, the signed document, or
/// the accounting CSV, both downloads exactly as the API serves them.
pub async fn one(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    if let Some(id) = name.strip_suffix(".json") {
        let Json(doc) = receipts::get(
            State(state),
            viewer.may::<need::Read>()?,
            PathParam(id.to_string()),
        )
        .await?;
        let response = Json(doc).into_response();
        return Ok(attachment(response, id, "json"));
    }
    if let Some(id) = name.strip_suffix(".csv") {
        // The API's export already names itself an attachment.
        return Ok(export_receipt::receipt(
            State(state),
            viewer.may::<need::Read>()?,
            PathParam(id.to_string()),
            Params(ReceiptExportQuery { format: None }),
        )
        .await?);
    }
    let Json(doc) =
        receipts::get(State(state), viewer.may::<need::Read>()?, PathParam(name)).await?;
    let r = doc.receipt;
    let page = ReceiptPage {
        chrome: Chrome::new(&viewer, format!("Receipt {}", r.receipt_id), "/ui/receipts"),
        notice: super::Notice::read(q.notice.as_deref()),
        issued: instant(&r.timestamp),
        period: format!(
            "{} to {}",
            instant(&r.batch_summary.start_date),
            instant(&r.batch_summary.end_date)
        ),
        amounts: amount_rows(&r.amounts),
        tables: tables(
            &r.batch_summary.by_model,
            &r.batch_summary.by_alias,
            r.batch_summary.by_dimension.as_ref(),
        ),
        dimensions_stated: r.batch_summary.by_dimension.is_some(),
        unpriced: unpriced(r.unpriced_events),
        selection: selection(&r.selection),
        logs: count(r.certified.count),
        tokens: format!(
            "{} ({} in, {} out)",
            count(r.total_tokens),
            count(r.prompt_tokens),
            count(r.completion_tokens)
        ),
        checkpoint_size: count(r.checkpoint.size),
        proof_log: r.batch_summary.log_ids.first().cloned().unwrap_or_default(),
        r,
    };
    render(&page)
}

/// `response` as a download named `<id>.<ext>`.
fn attachment(mut response: Response, id: &str, ext: &str) -> Response {
    // A receipt id is `rcpt_` and base32; anything else was refused by the handler already,
    // but the header is built only from safe characters all the same.
    let safe: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}.{ext}\"")) {
        response.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    response
}

/// `GET /ui/receipts/{id}/proof?log_id=`: the API's inclusion proof, for the page's check.
pub async fn proof(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<ProofQuery>,
) -> Result<Response, ApiError> {
    let answer = receipts::proof(
        State(state),
        viewer.may::<need::Read>()?,
        PathParam(id),
        Params(q),
    )
    .await?;
    Ok(answer.into_response())
}

/// `GET /ui/receipts/{id}/server-check`: the server's own verdict on the stored receipt (the
/// API's verify with the owner's credentials), for a browser that cannot check it itself.
pub async fn server_check(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let can = viewer.may::<need::Read>()?;
    let body = serde_json::json!({ "receipt_id": id }).to_string();
    let answer = receipts::verify(
        State(state),
        MaybeAuth(Some(can.0)),
        RawBody(Bytes::from(body)),
    )
    .await?;
    Ok(answer.into_response())
}
