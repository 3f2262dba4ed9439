//! `/sync` and simplified sliding sync.
mod render;
pub mod sliding;
pub mod sync_events;

/// A syncing client marks its user present, as `set_presence` says (online by default).
fn mark_syncing(
    state: &crate::AppState,
    identity: &myelin_core::users::Identity,
    set_presence: &str,
) {
    let presence = myelin_core::ephemeral::PresenceState::parse(set_presence)
        .unwrap_or(myelin_core::ephemeral::PresenceState::Online);
    state.services.presence.on_sync(&identity.user_id, presence);
}
