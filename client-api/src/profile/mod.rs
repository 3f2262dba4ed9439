//! Profiles.
pub mod delete_profile_field;
pub mod get_profile;
pub mod get_profile_field;
pub mod set_profile_field;

use ruma::UserId;

use crate::AppState;

/// After a display name or avatar change, the user's member events in every joined room follow
/// (Synapse does so before answering; the spec says servers should). Other fields stay in the
/// profile only.
pub(crate) async fn propagate_to_rooms(state: &AppState, user_id: &UserId, field: &str) {
    if !matches!(field, "displayname" | "avatar_url") {
        return;
    }
    let profile = crate::room::member_profile(state, user_id);
    if let Err(error) = state
        .services
        .rooms
        .update_member_profile(user_id, &profile)
        .await
    {
        tracing::warn!(%user_id, %error, "profile change not sent into the user's rooms");
    }
}
