//! `DELETE /_matrix/client/v3/directory/room/{roomAlias}`

use axum::extract::State;
use ruma::api::client::alias::delete_alias::v3;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `DELETE /_matrix/client/v3/directory/room/{roomAlias}`
pub async fn delete_alias(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    state
        .services
        .rooms
        .delete_local_alias(&request.body.room_alias, &identity.user_id)
        .await?;
    Ok(RumaResponse(v3::Response::new()))
}
