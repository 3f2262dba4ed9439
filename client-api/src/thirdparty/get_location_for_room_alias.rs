//! `GET /_matrix/client/v3/thirdparty/location?alias=`

use axum::{Json, extract::State};
use ruma::api::client::thirdparty::get_location_for_room_alias::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/thirdparty/location`
pub async fn get_location_for_room_alias(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<Vec<JsonValue>>, ApiError> {
    request.identity()?;
    let path = format!(
        "location?alias={}",
        super::encode(request.body.alias.as_str())
    );
    Ok(Json(super::ask_all(&state, None, path).await?))
}
