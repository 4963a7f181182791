//! `GET /api/v1/export/receipt/{receipt_id}?format=csv`: one receipt as an accounting CSV,
//! read from the receipt exactly as it was signed.
//!
//! One line per model and currency (date, receipt, description, model, calls, tokens, cost,
//! currency, unpriced calls) and one `Total` line per currency whose cost is the receipt's own
//! `amounts.<currency>.total_cost`. The lines of a currency add up to its total because both
//! are sums of the same stored integers. `unpriced_calls` says how many of a line's calls are
//! in its cost at zero for want of a price; it is empty for a receipt issued before receipts
//! stated it (`tollgate.receipt/v1` and `v2`), never a zero that was not signed.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tollgate_api::receipts::Receipt;
use tollgate_core::Nanos;

use super::export::spreadsheet_text;
use super::receipts::{owned, stored_document};
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{Params, PathParam};
use crate::state::AppState;

const COLUMNS: [&str; 11] = [
    "date",
    "receipt_id",
    "description",
    "model",
    "calls",
    "input_tokens",
    "output_tokens",
    "tokens",
    "cost",
    "currency",
    "unpriced_calls",
];

/// Query of the receipt export.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReceiptExportQuery {
    /// `csv`, the only format (default).
    pub(crate) format: Option<String>,
}

/// One model's line in one currency.
struct Line {
    model: String,
    calls: i64,
    input: i64,
    output: i64,
    cost: Nanos,
    /// None when the receipt does not state it.
    unpriced: Option<i64>,
}

/// A count the receipt may not state: empty then.
fn stated(n: Option<i64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

/// A receipt as accounting CSV
///
/// One line per model and currency (date, description, model, calls, tokens, cost, and how
/// many of the calls are unpriced, at zero) and a `Total` line per currency equal to the
/// signed receipt's total, to import into an accounting tool. `unpriced_calls` is empty for
/// receipts that do not state it (issued before `tollgate.receipt/v3`).
#[utoipa::path(
    get,
    path = "/api/v1/export/receipt/{receipt_id}",
    tag = "receipts",
    operation_id = "export_receipt",
    params(("receipt_id" = String, Path, description = "The receipt's id"), ReceiptExportQuery),
    responses(
        (status = 200, description = "The CSV: a header row, a row per model and currency, and a `Total` row per currency", body = String, content_type = "text/csv"),
        (status = 400, description = "An unknown `format`"),
        (status = 404, description = "No such receipt in this tenant"),
    )
)]
pub async fn receipt(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
    Params(q): Params<ReceiptExportQuery>,
) -> Result<Response, ApiError> {
    match q.format.as_deref().map(str::trim).unwrap_or("csv") {
        "csv" | "" => {}
        other => {
            return Err(ApiError::invalid_query(
                "format",
                format!("format must be csv, not '{other}'"),
            ))
        }
    }
    let r = owned(&state, &auth.tenant_id, &id).await?;
    let receipt = stored_document(&r)?.receipt;
    let csv = render(&receipt).map_err(ApiError::internal)?;
    let disposition = format!("attachment; filename=\"{}.csv\"", r.id);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv,
    )
        .into_response())
}

fn money(text: &str, what: &str) -> Result<Nanos, String> {
    Nanos::parse_exact(text).map_err(|_| format!("the receipt's {what} is not a decimal string"))
}

/// The CSV of a signed receipt.
fn render(receipt: &Receipt) -> Result<Vec<u8>, String> {
    let id = receipt.receipt_id.as_str();
    let date = receipt.timestamp.get(..10).unwrap_or(&receipt.timestamp);
    let description = spreadsheet_text(receipt.description.as_deref().unwrap_or("LLM usage"));
    let mut lines: BTreeMap<String, Vec<Line>> = BTreeMap::new();
    for (model, m) in &receipt.batch_summary.by_model {
        // A model charged in several currencies keeps its calls and tokens on the line of
        // the first one, so that each column still adds up to the receipt's count.
        for (i, (currency, cost)) in m.amounts.iter().enumerate() {
            let counted = |n: i64| if i == 0 { n } else { 0 };
            lines.entry(currency.clone()).or_default().push(Line {
                model: model.clone(),
                calls: counted(m.calls),
                input: counted(m.input_tokens),
                output: counted(m.output_tokens),
                cost: money(cost, "cost of a model")?,
                unpriced: m.unpriced_calls.map(counted),
            });
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| format!("writing CSV: {e}");
    w.write_record(COLUMNS).map_err(fail)?;
    for (currency, lines) in &lines {
        let (mut calls, mut input, mut output) = (0i64, 0i64, 0i64);
        let mut unpriced = Some(0i64);
        for l in lines {
            calls += l.calls;
            input += l.input;
            output += l.output;
            unpriced = unpriced.zip(l.unpriced).map(|(a, b)| a + b);
            w.write_record([
                date,
                id,
                &description,
                &spreadsheet_text(&l.model),
                &l.calls.to_string(),
                &l.input.to_string(),
                &l.output.to_string(),
                &(l.input + l.output).to_string(),
                &l.cost.to_string(),
                currency,
                &stated(l.unpriced),
            ])
            .map_err(fail)?;
        }
        let total = receipt
            .amounts
            .get(currency)
            .ok_or_else(|| format!("the receipt has no {currency} total"))?;
        let total = money(&total.total_cost, "total")?;
        w.write_record([
            date,
            id,
            "Total",
            "",
            &calls.to_string(),
            &input.to_string(),
            &output.to_string(),
            &(input + output).to_string(),
            &total.to_string(),
            currency,
            &stated(unpriced),
        ])
        .map_err(fail)?;
    }
    w.into_inner().map_err(|e| format!("writing CSV: {e}"))
}
