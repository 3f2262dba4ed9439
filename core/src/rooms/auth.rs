//! Authorization of events against the rules of their room version (ruma's implementation).

use ruma::room_version_rules::RoomVersionRules;

use super::{PduEvent, Rooms};
use crate::error::{Error, Result};

impl Rooms {
    /// Checks `pdu` against its auth events and against the room's current state.
    pub(crate) fn authorize(&self, rules: &RoomVersionRules, pdu: &PduEvent) -> Result<()> {
        ruma::state_res::check_state_independent_auth_rules(
            &rules.authorization,
            pdu,
            |event_id| self.pdu(event_id).ok().flatten(),
        )
        .map_err(|reason| Error::Forbidden(format!("Event is not allowed: {reason}")))?;
        let room_id = pdu.room();
        ruma::state_res::check_state_dependent_auth_rules(
            &rules.authorization,
            pdu,
            |kind, state_key| {
                self.state_pdu(&room_id, &kind.to_string(), state_key)
                    .ok()
                    .flatten()
            },
        )
        .map_err(|reason| Error::Forbidden(format!("Event is not allowed: {reason}")))
    }
}
