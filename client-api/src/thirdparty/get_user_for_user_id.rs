//! `GET /_matrix/client/v3/thirdparty/user?userid=`

use axum::{Json, extract::State};
use ruma::api::client::thirdparty::get_user_for_user_id::v3;
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma};

/// # `GET /_matrix/client/v3/thirdparty/user`
pub async fn get_user_for_user_id(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<Vec<JsonValue>>, ApiError> {
    request.identity()?;
    let path = format!(
        "user?userid={}",
        super::encode(request.body.userid.as_str())
    );
    Ok(Json(super::ask_all(&state, None, path).await?))
}
