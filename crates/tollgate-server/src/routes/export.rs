//! `GET /api/v1/export/usage`: every usage event of the tenant in a time range, in log
//! (`seq`) order, as CSV or JSON lines, streamed a page at a time.
//!
//! The body is not one JSON document, so the handler answers a stream, not a `Json` of an
//! API type: `text/csv` (a header row, then a row per event) or, with `format=jsonl`,
//! `application/x-ndjson` (one [`UsageExportLine`] per line). Its query is
//! [`UsageExportQuery`].
//!
//! The range's size and last position are fixed before the first byte is sent (and the count
//! goes out in `X-Export-Count`), so events appended during a long export do not change it.
//! The body is read from the store by keyset on `seq`, one page per chunk, so the server
//! holds one page whatever the export's size. A database failure mid-way aborts the
//! response, which the client sees as a truncated transfer, never as a complete file.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use tollgate_api::usage::{EventFlag, LogEntry, LogSource, UsageExportLine, UsageExportQuery};
use tollgate_core::time::{parse_instant, DateEdge};
use tollgate_core::EventSource;
use tollgate_store::{ExportPage, ExportedEvent, StoreError};

use super::logs::log_entry;
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Params;
use crate::receipts::b64;
use crate::state::AppState;

/// The header that carries how many events an export holds.
pub const COUNT_HEADER: &str = "x-export-count";

/// Events read from the store per chunk of the body.
const PAGE: i64 = 1000;

/// The CSV columns of a usage export, in order.
pub(crate) const COLUMNS: [&str; 40] = [
    "seq",
    "id",
    "timestamp",
    "recorded_at",
    "provider",
    "model",
    "alias",
    "profile",
    "origin",
    "id_at_origin",
    "user_id",
    "conversation_id",
    "request_id",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost",
    "currency",
    "price_version",
    "cached_response",
    "unpriced",
    "estimated",
    "client_cost",
    "latency_ms",
    "source",
    "tool",
    "units",
    "cache_write_1h_tokens",
    "audio_input_tokens",
    "image_input_tokens",
    "video_input_tokens",
    "audio_output_tokens",
    "image_output_tokens",
    "service_tier",
    "quantities",
    "adjusts",
    "estimate_method",
    "dimensions",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Jsonl,
}

fn bound(field: &str, text: Option<&str>, edge: DateEdge) -> Result<Option<i64>, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => parse_instant(t, edge)
            .map(Some)
            .map_err(|e| ApiError::invalid_query(field, format!("{field}: {e}"))),
    }
}

/// Export usage events
///
/// Streams every usage event of the range in `seq` order, in constant memory: CSV with a
/// header row, or JSON lines, each the event as `/api/v1/logs` lists it plus its leaf `index`,
/// its canonical `entry` exactly as stored and its `leaf_hash`, so receipts can be verified
/// offline against the file. The `X-Export-Count` header says how many events follow; events
/// logged after the export starts are not in it.
#[utoipa::path(
    get,
    path = "/api/v1/export/usage",
    tag = "usage",
    operation_id = "export_usage",
    params(UsageExportQuery),
    responses(
        (status = 200, description = "The events, streamed: `text/csv` (a header row, then a row per event), or with `format=jsonl` `application/x-ndjson`, one `UsageExportLine` object per line",
            headers(("X-Export-Count" = u64, description = "How many events the export holds")),
            content(
                (String = "text/csv"),
                (UsageExportLine = "application/x-ndjson"),
            )),
        (status = 400, description = "A bad `start`, `end`, `format`, `dimension` or `value` (`INVALID_QUERY`, field named)"),
    )
)]
pub async fn usage(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<UsageExportQuery>,
) -> Result<Response, ApiError> {
    let format = match q.format.as_deref().map(str::trim).unwrap_or("csv") {
        "csv" | "" => Format::Csv,
        "jsonl" => Format::Jsonl,
        other => {
            return Err(ApiError::invalid_query(
                "format",
                format!("format must be csv or jsonl, not '{other}'"),
            ))
        }
    };
    let start_us = bound("start", q.start.as_deref(), DateEdge::Start)?.unwrap_or(i64::MIN);
    let end_us = bound("end", q.end.as_deref(), DateEdge::End)?.unwrap_or(i64::MAX);
    if start_us > end_us {
        return Err(ApiError::invalid_query(
            "start",
            "start must not be after end",
        ));
    }
    let dimension = super::costs::dimension_match(&state, q.dimension.as_deref(), q.value)?;
    let span = state
        .store()
        .export_span(&auth.tenant_id, start_us, end_us, dimension.as_ref())
        .await?;
    let first = Cursor {
        state: state.clone(),
        tenant: auth.tenant_id.clone(),
        format,
        header: format == Format::Csv,
        page: span
            .first_seq
            .zip(span.last_seq)
            .map(|(first, last)| ExportPage {
                start_us,
                end_us,
                after_seq: first - 1,
                last_seq: last,
                limit: PAGE,
                dimension,
            }),
    };
    let body = Body::from_stream(stream::try_unfold(first, next_chunk));
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Jsonl => ("application/x-ndjson", "jsonl"),
    };
    let disposition = format!("attachment; filename=\"usage.{extension}\"");
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response();
    response
        .headers_mut()
        .insert(COUNT_HEADER, HeaderValue::from(span.count));
    Ok(response)
}

/// Where an export stands between chunks.
struct Cursor {
    state: AppState,
    tenant: String,
    format: Format,
    /// The CSV header row is still to be sent.
    header: bool,
    /// The next page to read; None once every event has been sent.
    page: Option<ExportPage>,
}

async fn next_chunk(mut c: Cursor) -> Result<Option<(Bytes, Cursor)>, StoreError> {
    let mut out = Vec::new();
    if std::mem::take(&mut c.header) {
        csv_rows(
            &mut out,
            std::iter::once(COLUMNS.map(String::from).to_vec()),
        )?;
    }
    let Some(mut page) = c.page.take() else {
        return Ok((!out.is_empty()).then(|| (Bytes::from(out), c)));
    };
    let events = c
        .state
        .store()
        .export_page(&c.tenant, &page)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "usage export failed mid-way"))?;
    if let Some(last) = events.last() {
        page.after_seq = last.event.seq;
        if page.after_seq < page.last_seq {
            c.page = Some(page);
        }
    }
    match c.format {
        Format::Csv => csv_rows(
            &mut out,
            events.iter().map(|x| csv_record(&log_entry(&x.event))),
        )?,
        Format::Jsonl => {
            for e in &events {
                json_line(&mut out, e)?;
            }
        }
    }
    Ok(Some((Bytes::from(out), c)))
}

/// Appends `rows` to `out` as CSV.
pub(crate) fn csv_rows(
    out: &mut Vec<u8>,
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<(), StoreError> {
    let mut w = csv::Writer::from_writer(out);
    for row in rows {
        w.write_record(&row)
            .map_err(|e| StoreError::Invariant(format!("writing CSV: {e}")))?;
    }
    w.flush()
        .map_err(|e| StoreError::Invariant(format!("writing CSV: {e}")))
}

/// Free text as a spreadsheet shows it, not runs it: text a client sent that starts like a
/// formula (`=`, `+`, `-`, `@`, tab or carriage return) gets a leading apostrophe. Numbers,
/// amounts and times never pass through here; the JSON-lines form keeps every value exact.
pub(super) fn spreadsheet_text(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    }
}

/// One CSV row of a call, in [`COLUMNS`] order, from the call as `GET /api/v1/logs` lists
/// it: the usage export and the console's export of a filter write the same rows.
pub(crate) fn csv_record(e: &LogEntry) -> Vec<String> {
    let text = |v: &Option<String>| spreadsheet_text(v.as_deref().unwrap_or_default());
    let flag = |f: EventFlag| {
        if e.flags.contains(&f) {
            "true"
        } else {
            "false"
        }
        .to_string()
    };
    let optional = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    vec![
        e.seq.to_string(),
        e.id.clone(),
        e.logged_at.clone(),
        e.recorded_at.clone(),
        spreadsheet_text(&e.provider),
        spreadsheet_text(&e.model),
        text(&e.alias),
        spreadsheet_text(&e.profile),
        text(&e.origin),
        text(&e.id_at_origin),
        text(&e.user_id),
        e.conversation_id.clone().unwrap_or_default(),
        text(&e.request_id),
        e.input_tokens.to_string(),
        e.output_tokens.to_string(),
        e.cached_input_tokens.to_string(),
        e.cache_write_tokens.to_string(),
        e.reasoning_tokens.to_string(),
        e.cost_exact.clone(),
        e.currency.clone(),
        text(&e.price_version),
        flag(EventFlag::CachedResponse),
        flag(EventFlag::Unpriced),
        flag(EventFlag::Estimated),
        flag(EventFlag::ClientCost),
        optional(e.latency_ms),
        source_name(e.source).to_string(),
        match e.source {
            LogSource::Tool => spreadsheet_text(&e.model),
            _ => String::new(),
        },
        optional(e.units),
        e.cache_write_1h_tokens.to_string(),
        e.audio_input_tokens.to_string(),
        e.image_input_tokens.to_string(),
        e.video_input_tokens.to_string(),
        e.audio_output_tokens.to_string(),
        e.image_output_tokens.to_string(),
        e.service_tier.clone(),
        if e.quantities.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&e.quantities).unwrap_or_default()
        },
        e.adjusts.clone().unwrap_or_default(),
        e.estimate_method.clone().unwrap_or_default(),
        if e.dimensions.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&e.dimensions).unwrap_or_default()
        },
    ]
}

/// The stored name of where a call came from, as the CSV's `source` column writes it.
fn source_name(source: LogSource) -> &'static str {
    match source {
        LogSource::Usage => EventSource::Usage,
        LogSource::Conversation => EventSource::Conversation,
        LogSource::Tool => EventSource::Tool,
        LogSource::Adjustment => EventSource::Adjustment,
    }
    .as_str()
}

/// One JSON line: the event as `/api/v1/logs` lists it, plus its leaf `index` in the tenant
/// log (its `seq`), its canonical `entry` exactly as stored and that entry's `leaf_hash`.
fn json_line(out: &mut Vec<u8>, x: &ExportedEvent) -> Result<(), StoreError> {
    let entry = std::str::from_utf8(&x.entry)
        .map_err(|_| StoreError::Invariant(format!("the entry at {} is not UTF-8", x.event.seq)))?;
    let line = UsageExportLine {
        log: log_entry(&x.event),
        index: x.event.seq,
        entry: entry.to_string(),
        leaf_hash: b64(&x.leaf_hash),
    };
    serde_json::to_writer(&mut *out, &line)
        .map_err(|e| StoreError::Invariant(format!("writing JSON: {e}")))?;
    out.push(b'\n');
    Ok(())
}
