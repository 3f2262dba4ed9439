//! `POST /_matrix/client/v3/login`

use std::time::Duration;

use axum::{extract::State, http::StatusCode};
use myelin_core::{Error, users::SessionRequest};
use ruma::{
    OwnedUserId, UserId,
    api::client::{session::login::v3, uiaa::UserIdentifier},
};
use serde_json::Value as JsonValue;

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// The user named by a password login: `identifier.user` (id or localpart), or the deprecated
/// top-level `user` field old clients still send.
fn named_user(
    state: &AppState,
    identifier: Option<&UserIdentifier>,
    raw: Option<&JsonValue>,
) -> Result<OwnedUserId, ApiError> {
    let given = match identifier {
        Some(UserIdentifier::Matrix(matrix)) => matrix.user.clone(),
        Some(_) => {
            return Err(ApiError::Core(Error::Unsupported(
                "Only m.id.user identifiers are supported".into(),
            )));
        }
        None => raw
            .and_then(|json| json.get("user"))
            .and_then(JsonValue::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::MissingParam("Missing identifier".into()))?,
    };
    let invalid = || ApiError::forbidden("Invalid username or password");
    let user_id = if given.starts_with('@') {
        UserId::parse(given.to_lowercase()).map_err(|_| invalid())?
    } else {
        UserId::parse_with_server_name(given.to_lowercase(), state.services.users.server_name())
            .map_err(|_| invalid())?
    };
    if !state.services.users.is_local(&user_id) {
        return Err(invalid());
    }
    Ok(user_id)
}

/// # `POST /_matrix/client/v3/login`
pub async fn login(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let users = &state.services.users;
    state.limits.login_per_ip.check(&request.client_ip)?;
    let user_id = match &request.body.login_info {
        v3::LoginInfo::Password(password) => {
            let user_id = named_user(&state, password.identifier.as_ref(), request.json.as_ref())?;
            state.limits.login_per_account.check(&user_id.to_string())?;
            users.verify_password(&user_id, &password.password).await?;
            user_id
        }
        v3::LoginInfo::Token(token) => users.consume_login_token(&token.token).await?,
        _ => {
            return Err(ApiError::http(
                StatusCode::BAD_REQUEST,
                "M_UNKNOWN",
                "Unknown login type",
            ));
        }
    };
    let session = users
        .open_session(SessionRequest {
            user_id: user_id.clone(),
            device_id: request.body.device_id.clone(),
            initial_display_name: request.body.initial_device_display_name.clone(),
            refreshable: request.body.refresh_token,
            valid_until_ms: None,
            client_ip: request.client_ip.to_string(),
        })
        .await?;
    tracing::info!(%user_id, device_id = %session.device_id, "logged in");
    let mut response = v3::Response::new(session.user_id, session.access_token, session.device_id);
    response.refresh_token = session.refresh_token;
    response.expires_in = session.expires_in_ms.map(Duration::from_millis);
    #[allow(deprecated)]
    {
        response.home_server = Some(users.server_name().clone());
    }
    Ok(RumaResponse(response))
}
