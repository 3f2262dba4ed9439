//! `POST /_matrix/client/v3/register`

use axum::{Json, extract::State};
use myelin_core::{
    Error,
    users::{STAGE_DUMMY, STAGE_REGISTRATION_TOKEN, SessionRequest, UiaFlow},
};
use ruma::api::client::account::register::{RegistrationKind, v3};

use serde_json::{Value as JsonValue, json};

use crate::{ApiError, AppState, Ruma};

/// # `POST /_matrix/client/v3/register`
///
/// Open registration offers `m.login.dummy`; otherwise `m.login.registration_token`. Guests are
/// refused. As in Synapse, the username is checked before authentication starts, so clients
/// learn that a name is taken without completing the flow.
pub async fn register(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let users = &state.services.users;
    let appservice_flow = request
        .json
        .as_ref()
        .and_then(|json| json.get("type"))
        .and_then(serde_json::Value::as_str)
        == Some("m.login.application_service");
    if appservice_flow {
        return register_for_appservice(&state, &request).await;
    }
    state.limits.registration_per_ip.check(&request.client_ip)?;
    if request.body.kind == RegistrationKind::Guest {
        return Err(Error::GuestAccessForbidden.into());
    }
    let config = &state.services.config.registration;
    let flows = if config.open {
        vec![UiaFlow::single(STAGE_DUMMY)]
    } else if !config.tokens.is_empty() || !users.registration_tokens()?.is_empty() {
        vec![UiaFlow::single(STAGE_REGISTRATION_TOKEN)]
    } else {
        return Err(ApiError::forbidden("Registration has been disabled"));
    };
    let requested_user = match request.body.username.as_deref() {
        Some(localpart) => Some(users.check_username_available(&localpart.to_lowercase())?),
        None => None,
    };
    if let Some(user_id) = &requested_user
        && let Some(owner) = state.services.appservices.exclusive_user_owner(user_id)
    {
        return Err(Error::Exclusive(format!(
            "{user_id} is reserved by the appservice {}",
            owner.id()
        ))
        .into());
    }
    if let Some(password) = request.body.password.as_deref() {
        users.check_password_policy(password)?;
    }
    // The flows come first: Element Web's first probe is a body with nothing but
    // `initial_device_display_name`, and it shows the form only on a 401 with the flows. The
    // password is asked for once the stages are done, as Synapse does.
    let outcome = users
        .user_interactive_auth(flows, request.auth_json(), None)
        .await?;
    let Some(password) = request.body.password.as_deref() else {
        return Err(Error::MissingParam("Missing params: password".into()).into());
    };
    let user_id = match requested_user {
        Some(user_id) => user_id,
        None => users.generate_user_id()?,
    };
    users
        .create_account(
            &user_id,
            Some(password),
            false,
            outcome.registration_token.as_deref(),
        )
        .await?;
    tracing::info!(%user_id, "registered a new account");
    registered(&state, &request, user_id, request.body.refresh_token).await
}

/// The answer to a registration: the user id, and a session unless `inhibit_login`.
async fn registered(
    state: &AppState,
    request: &Ruma<v3::Request>,
    user_id: ruma::OwnedUserId,
    refreshable: bool,
) -> Result<Json<JsonValue>, ApiError> {
    if request.body.inhibit_login {
        // Only the user id: no `access_token` or `device_id` keys at all, not nulls.
        return Ok(Json(json!({ "user_id": user_id })));
    }
    let session = state
        .services
        .users
        .open_session(SessionRequest {
            user_id: user_id.clone(),
            device_id: request.body.device_id.clone(),
            initial_display_name: request.body.initial_device_display_name.clone(),
            refreshable,
            valid_until_ms: None,
            client_ip: request.client_ip.to_string(),
        })
        .await?;
    let mut response = json!({
        "user_id": user_id,
        "access_token": session.access_token,
        "device_id": session.device_id,
    });
    if let Some(refresh_token) = session.refresh_token {
        response["refresh_token"] = refresh_token.into();
    }
    if let Some(expires_in_ms) = session.expires_in_ms {
        response["expires_in_ms"] = expires_in_ms.into();
    }
    Ok(Json(response))
}

/// `m.login.application_service`: an appservice (by its `as_token`) registers a user in its
/// namespace; no password, no UIA, no rate limit.
async fn register_for_appservice(
    state: &AppState,
    request: &Ruma<v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let Some(identity) = request.identity.as_ref() else {
        return Err(Error::MissingToken.into());
    };
    let Some(appservice) = identity
        .appservice_id
        .as_deref()
        .and_then(|id| state.services.appservices.by_id(id))
    else {
        return Err(ApiError::forbidden(
            "Only application services can use m.login.application_service",
        ));
    };
    let users = &state.services.users;
    let Some(localpart) = request.body.username.as_deref() else {
        return Err(Error::MissingParam("Missing params: username".into()).into());
    };
    let user_id = users.check_username_available(&localpart.to_lowercase())?;
    if !appservice.user_in_namespace(&user_id, false) {
        return Err(Error::Exclusive(format!(
            "{user_id} is not in the namespace of the appservice {}",
            appservice.id()
        ))
        .into());
    }
    users
        .create_appservice_account(&user_id, appservice.id())
        .await?;
    tracing::info!(%user_id, appservice = appservice.id(), "registered an appservice user");
    // Appservice sessions do not expire: bridges keep their ghosts' tokens.
    registered(state, request, user_id, false).await
}
