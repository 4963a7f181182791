//! Issuing receipts: the selection and labels a request names, and the routes that sign a
//! receipt (`generate`) or show what it would certify (`preview`).

use axum::extract::State;
use axum::Json;
use tollgate_api::receipts::{GeneratedReceipt, PreviewAnswer, ReceiptRequest, SelectionRecord};
use tollgate_core::time::{format_us, parse_instant, DateEdge};
use tollgate_core::validate::optional_text;
use tollgate_store::Selection;
use uuid::Uuid;

use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Body;
use crate::receipts::{self, Chosen};
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// Most log ids one request may name.
const MAX_LOG_IDS: usize = 10_000;
/// Most tags on one receipt, and the longest tag.
const MAX_TAGS: usize = 32;
const MAX_TAG_CHARS: usize = 64;
const MAX_DESCRIPTION_CHARS: usize = 2000;

fn uuid_of(field: &str, text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text.trim()).map_err(|_| {
        ApiError::invalid_field(field, format!("{field} must be a UUID, not '{text}'"))
    })
}

/// The selection a request asks for; the first mode that applies wins, as in llmring:
/// conversation, then date range (both ends), then a non-empty id list, then uncertified.
fn chosen(req: &ReceiptRequest) -> Result<Chosen, ApiError> {
    let present = |v: &Option<String>| v.as_deref().is_some_and(|t| !t.trim().is_empty());
    if let Some(c) = req
        .conversation_id
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        let id = uuid_of("conversation_id", c)?;
        return Ok(Chosen {
            selection: Selection::Conversation(id),
            described: SelectionRecord::conversation(id.to_string()),
        });
    }
    if present(&req.start_date) && present(&req.end_date) {
        let parse = |field: &str, text: &str, edge| {
            parse_instant(text, edge)
                .map_err(|e| ApiError::invalid_field(field, format!("{field}: {e}")))
        };
        let start_us = parse(
            "start_date",
            req.start_date.as_deref().unwrap_or_default(),
            DateEdge::Start,
        )?;
        let end_us = parse(
            "end_date",
            req.end_date.as_deref().unwrap_or_default(),
            DateEdge::End,
        )?;
        if start_us > end_us {
            return Err(ApiError::invalid_field(
                "start_date",
                "start_date must not be after end_date",
            ));
        }
        return Ok(Chosen {
            selection: Selection::TimeRange { start_us, end_us },
            described: SelectionRecord::date_range(format_us(start_us), format_us(end_us)),
        });
    }
    if let Some(ids) = req.log_ids.as_ref().filter(|ids| !ids.is_empty()) {
        if ids.len() > MAX_LOG_IDS {
            return Err(ApiError::invalid_field(
                "log_ids",
                format!("at most {MAX_LOG_IDS} log ids per receipt; split the list"),
            ));
        }
        let ids = ids
            .iter()
            .enumerate()
            .map(|(i, t)| uuid_of(&format!("log_ids[{i}]"), t))
            .collect::<Result<Vec<_>, _>>()?;
        let n = ids.len();
        return Ok(Chosen {
            selection: Selection::LogIds(ids),
            described: SelectionRecord::log_ids(n as i64),
        });
    }
    if req.since_last_receipt {
        return Ok(Chosen {
            selection: Selection::Uncertified,
            described: SelectionRecord::since_last_receipt(),
        });
    }
    Err(ApiError::new(
        ErrorCode::NoSelection,
        "Must specify one of: conversation_id, date range, log_ids, or since_last_receipt",
    ))
}

fn labels(req: &ReceiptRequest) -> Result<(Option<String>, Vec<String>), ApiError> {
    let description = optional_text(
        "description",
        req.description.as_deref(),
        MAX_DESCRIPTION_CHARS,
    )?;
    let tags = req.tags.clone().unwrap_or_default();
    if tags.len() > MAX_TAGS {
        return Err(ApiError::invalid_field(
            "tags",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    let mut out = Vec::with_capacity(tags.len());
    for (i, t) in tags.iter().enumerate() {
        let field = format!("tags[{i}]");
        match optional_text(&field, Some(t), MAX_TAG_CHARS)? {
            Some(t) => out.push(t),
            None => {
                return Err(ApiError::invalid_field(
                    &field,
                    format!("{field} must not be empty"),
                ))
            }
        }
    }
    Ok((description, out))
}

/// Sign and store a receipt
///
/// Certifies the selected logs: totals, breakdowns, tags and the Merkle root of exactly those
/// logs, signed with Ed25519.
#[utoipa::path(
    post,
    path = "/api/v1/receipts/generate",
    tag = "receipts",
    operation_id = "generate_receipt",
    request_body = ReceiptRequest,
    responses(
        (status = 200, description = "The signed receipt, as stored, and how many logs it certifies", body = GeneratedReceipt),
        (status = 400, description = "No selection (`NO_SELECTION`)"),
        (status = 422, description = "A field is invalid, naming it"),
    )
)]
pub async fn generate(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Body(req): Body<ReceiptRequest>,
) -> Result<Json<GeneratedReceipt>, ApiError> {
    let chosen = chosen(&req)?;
    let (description, tags) = labels(&req)?;
    let (receipt, certified_count) =
        receipts::generate(&state, &auth.tenant_id, &chosen, description, tags).await?;
    Ok(Json(GeneratedReceipt {
        certified_count,
        receipt: receipt.into(),
    }))
}

/// Preview a receipt
///
/// The numbers the same selection would certify; nothing is signed or stored.
#[utoipa::path(
    post,
    path = "/api/v1/receipts/preview",
    tag = "receipts",
    operation_id = "preview_receipt",
    request_body = ReceiptRequest,
    responses(
        (status = 200, description = "The selection's totals and breakdowns, unsigned; `total_logs: 0` and a `message` when it holds no logs", body = PreviewAnswer),
        (status = 400, description = "No selection (`NO_SELECTION`)"),
        (status = 422, description = "A field is invalid, naming it"),
    )
)]
pub async fn preview(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Body(req): Body<ReceiptRequest>,
) -> Result<Json<PreviewAnswer>, ApiError> {
    let chosen = chosen(&req)?;
    Ok(Json(
        receipts::preview(&state, &auth.tenant_id, &chosen).await?,
    ))
}
