//! `POST /_matrix/client/v3/account/deactivate`

use axum::extract::State;
use ruma::api::client::account::{ThirdPartyIdRemovalStatus, deactivate::v3};

use crate::{ApiError, AppState, Ruma, RumaResponse};

/// # `POST /_matrix/client/v3/account/deactivate`
///
/// As Synapse: the account also leaves its rooms, declines its invites and loses its pushers;
/// with `erase`, its messages are hidden from those who join later.
pub async fn deactivate(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let users = &state.services.users;
    users
        .confirm_password(&identity.user_id, request.auth_json())
        .await?;
    if request.body.erase {
        // The spec's "erased as much as possible", as Synapse does it: what the user sent is
        // served redacted to everyone who was not in the room when it was sent.
        state.services.rooms.erase_sender(&identity.user_id).await?;
    }
    crate::synapse_admin::deactivate::deactivate_everywhere(&state, &identity.user_id).await?;
    // No identity server was ever bound, so there was nothing to unbind.
    Ok(RumaResponse(v3::Response::new(
        ThirdPartyIdRemovalStatus::NoSupport,
    )))
}
