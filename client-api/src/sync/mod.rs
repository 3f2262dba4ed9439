//! `/sync` and simplified sliding sync.
pub(crate) mod lazy;
pub(crate) mod render;
pub mod sliding;
pub mod sync_events;

/// A syncing client marks its user present, as `set_presence` says (online by default).
async fn mark_syncing(
    state: &crate::AppState,
    identity: &myelin_core::users::Identity,
    set_presence: &str,
) -> myelin_core::Result<()> {
    let presence = myelin_core::ephemeral::PresenceState::parse(set_presence)
        .unwrap_or(myelin_core::ephemeral::PresenceState::Online);
    state
        .services
        .presence
        .on_sync(&identity.user_id, presence)
        .await
}

/// Stream and ephemeral positions a long-poll has looked through and found nothing in.
#[derive(Debug, Clone, Copy)]
struct Checked {
    events: u64,
    ephemeral: u64,
}

/// Whether nothing after `checked` concerns the user, for `/sync` and sliding sync alike: no
/// stream item in a room they are or were in, no account data or key change, no typing in their
/// joined rooms, no presence they may see (when `presence` is given: the `/sync` filter), no
/// to-device message (when `to_device`). Advances `checked` when so. Every event on the server
/// wakes every long-poll; this is what tells most of them that it was someone else's.
fn quiet(
    state: &crate::AppState,
    identity: &myelin_core::users::Identity,
    checked: &mut Checked,
    presence: Option<&ruma::api::client::filter::FilterDefinition>,
    to_device: bool,
) -> Result<bool, crate::ApiError> {
    let rooms = &state.services.rooms;
    let user_id = &identity.user_id;
    let ephemeral = state.services.typing.serial();
    let now = state.services.notifier.current();
    let changes = rooms.changes_between(user_id, checked.events, now)?;
    if !changes.account_data.is_empty() || !changes.device_key_users.is_empty() {
        return Ok(false);
    }
    for room_id in changes.rooms.iter().chain(changes.receipts.keys()) {
        if rooms.membership(room_id, user_id)?.is_some() {
            return Ok(false);
        }
    }
    for room_id in state.services.typing.rooms_changed_since(checked.ephemeral) {
        if rooms.is_joined(&room_id, user_id)? {
            return Ok(false);
        }
    }
    if let Some(filter) = presence
        && !sync_events::presence_changes(
            state,
            identity,
            filter,
            Some(checked.ephemeral),
            &Default::default(),
        )?
        .is_empty()
    {
        return Ok(false);
    }
    if to_device
        && !state
            .services
            .users
            .to_device_messages(user_id, &identity.device_id, now)?
            .is_empty()
    {
        return Ok(false);
    }
    *checked = Checked {
        events: now,
        ephemeral,
    };
    Ok(true)
}
