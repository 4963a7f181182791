//! `GET /ui/logs/export.csv`: every call the logs page's filter selects (all its pages), as
//! CSV with the columns of `GET /api/v1/export/usage`. No API route exports a filtered
//! listing, so this pages through `GET /api/v1/logs`'s handler with the viewer's credentials
//! and streams each page as it comes: the server holds one page whatever the export's size.
//!
//! The range ends at the instant the export starts (or the period's end, if earlier), so calls
//! logged while it runs do not shift the pages under it.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use tollgate_core::time::{format_us, now_us, parse_instant, DateEdge};

use super::logs::LogsFilter;
use super::page::ConsoleError;
use super::period::Period;
use super::session::Viewer;
use crate::auth::{need, Auth, Can};
use crate::extract::Params;
use crate::routes::export::{csv_record, csv_rows, COLUMNS};
use crate::routes::logs;
use crate::state::AppState;

/// Calls read per chunk of the body (the logs handler's largest page).
const CHUNK: i64 = 500;

/// Where an export stands between chunks.
struct Cursor {
    state: AppState,
    auth: Auth,
    filter: LogsFilter,
    period: Period,
    /// The export's last instant (RFC 3339).
    end: String,
    offset: i64,
    /// The header row is still to be sent.
    header: bool,
    done: bool,
}

/// `GET /ui/logs/export.csv`: the filter's calls as a CSV download, newest first.
pub async fn export(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(filter): Query<LogsFilter>,
) -> Result<Response, ConsoleError> {
    // Refused before the first byte, as the page would be.
    viewer.may::<need::Read>()?;
    let auth = viewer.auth.clone();
    let period = filter.period();
    let period_end = parse_instant(&period.end, DateEdge::End).unwrap_or(i64::MAX);
    let period_start = parse_instant(&period.start, DateEdge::Start).unwrap_or(i64::MIN);
    let now = now_us();
    let end = format_us(period_end.min(now));
    // A period that has not begun holds no call: the file is its header alone.
    let nothing_yet = period_start > now;
    let name = format!("logs-{}-to-{}.csv", period.start, period.end);
    let first = Cursor {
        state,
        auth,
        filter,
        period,
        end,
        offset: 0,
        header: true,
        done: false,
    };
    let first = Cursor {
        done: nothing_yet,
        ..first
    };
    let body = Body::from_stream(stream::try_unfold(first, next_chunk));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}

async fn next_chunk(mut c: Cursor) -> Result<Option<(Bytes, Cursor)>, std::io::Error> {
    if c.done && !c.header {
        return Ok(None);
    }
    let failed = |e: String| {
        tracing::error!(error = %e, "a console CSV export failed mid-way");
        std::io::Error::other(e)
    };
    let mut out = Vec::new();
    if std::mem::take(&mut c.header) {
        csv_rows(
            &mut out,
            std::iter::once(COLUMNS.map(String::from).to_vec()),
        )
        .map_err(|e| failed(e.to_string()))?;
        if c.done {
            return Ok(Some((Bytes::from(out), c)));
        }
    }
    let query = c
        .filter
        .api_query(&c.period, Some(c.end.clone()), CHUNK, c.offset);
    let can =
        Can::<need::Read>::checked(c.auth.clone()).map_err(|e| failed(e.message().to_string()))?;
    let (_, axum::Json(found)) = logs::logs(
        State(c.state.clone()),
        can,
        Uri::from_static("/api/v1/logs"),
        Params(query),
    )
    .await
    .map_err(|e| failed(e.message().to_string()))?;
    c.offset += found.len() as i64;
    c.done = (found.len() as i64) < CHUNK;
    csv_rows(&mut out, found.iter().map(csv_record)).map_err(|e| failed(e.to_string()))?;
    Ok(Some((Bytes::from(out), c)))
}
