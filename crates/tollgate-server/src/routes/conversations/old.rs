//! Deleting old messages (llmring's C7): the caller's tenant's messages older than a number of
//! days, by message time. It needs the `admin` scope.
//!
//! Conversations stay: each one's `message_count` and `last_message_at` are recounted from the
//! messages left; its token and cost totals (its calls', which the usage log keeps) and its
//! `updated_at` do not change. The retention job's `retention.message_content_days` is the
//! gentler tool: it drops content and keeps the messages.

use axum::extract::State;
use axum::Json;
use tollgate_api::conversations::{OldMessagesDeleted, OldMessagesQuery};
use tollgate_core::time::{now_us, DAY_US};

use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Params;
use crate::state::AppState;

/// `retention_days`: a whole number, 1 or more. Missing or wrong, it is a 422 naming it, as
/// llmring's server answers a bad query parameter.
fn retention_days(raw: Option<&str>) -> Result<i64, ApiError> {
    let bad = |what: String| ApiError::invalid_field("retention_days", what);
    let raw = raw.ok_or_else(|| {
        bad("retention_days is required: a whole number of days, 1 or more".into())
    })?;
    match raw.trim().parse::<i64>() {
        Ok(days) if days >= 1 => Ok(days),
        _ => Err(bad(format!(
            "retention_days must be a whole number of days, 1 or more, got '{raw}'"
        ))),
    }
}

/// Delete old messages
///
/// Deletes the tenant's messages older than `retention_days` days (by message time) and
/// keeps their conversations, recounting each one's `message_count` and `last_message_at`
/// from the messages left; token and cost totals, which count calls, stay.
#[utoipa::path(
    delete,
    path = "/api/v1/conversations/old-messages",
    tag = "conversations",
    operation_id = "delete_old_messages",
    params(OldMessagesQuery),
    responses(
        (status = 200, description = "How many messages were deleted", body = OldMessagesDeleted),
        (status = 403, description = "The key lacks the `admin` scope"),
        (status = 422, description = "`retention_days` is missing, not a whole number, or less than 1 (`INVALID_FIELD`, naming it)"),
    )
)]
pub async fn delete_old_messages(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    Params(q): Params<OldMessagesQuery>,
) -> Result<Json<OldMessagesDeleted>, ApiError> {
    let days = retention_days(q.retention_days.as_deref())?;
    let before = now_us().saturating_sub(days.saturating_mul(DAY_US));
    let deleted_count = state
        .store()
        .delete_old_messages(&auth.tenant_id, before)
        .await?;
    Ok(Json(OldMessagesDeleted {
        deleted_count,
        retention_days: days,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_days_is_a_whole_number_of_one_or_more() {
        assert_eq!(retention_days(Some("30")).ok(), Some(30));
        for bad in [None, Some("0"), Some("-3"), Some("1.5"), Some("week")] {
            assert!(retention_days(bad).is_err(), "{bad:?}");
        }
    }
}
