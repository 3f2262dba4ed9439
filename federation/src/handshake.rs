//! The membership handshakes with other servers' rooms (`make_*`/`send_*` for joins, knocks and
//! leaves), trying each server that may be in the room until one answers.

use std::collections::BTreeSet;

use myelin_core::{
    Error, Result,
    rooms::{MemberProfile, Membership, RemoteEvent, SUPPORTED_ROOM_VERSIONS},
};
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, MilliSecondsSinceUnixEpoch, OwnedRoomId,
    OwnedServerName, RoomId, RoomVersionId, ServerName, UserId,
    api::federation::membership::{
        create_join_event, create_knock_event, create_leave_event, prepare_join_event,
        prepare_knock_event, prepare_leave_event,
    },
};
use serde_json::{Value as JsonValue, value::to_raw_value};

use crate::{Federation, server::stripped_event};

pub(crate) fn template_object(raw: &serde_json::value::RawValue) -> Result<CanonicalJsonObject> {
    serde_json::from_str(raw.get())
        .map_err(|error| Error::BadJson(format!("Unusable event template: {error}")))
}

pub(crate) fn member_content(
    membership: Membership,
    profile: &MemberProfile,
    reason: Option<&str>,
    template: &CanonicalJsonObject,
) -> CanonicalJsonValue {
    let mut content = CanonicalJsonObject::new();
    for (key, value) in &profile.extra {
        if myelin_core::rooms::SERVER_MEMBER_KEYS.contains(&key.as_str())
            || key == "displayname"
            || key == "avatar_url"
            || key == "reason"
        {
            continue;
        }
        if let Ok(value) = CanonicalJsonValue::try_from(value.clone()) {
            content.insert(key.clone(), value);
        }
    }
    content.insert("membership".into(), membership.as_str().into());
    if let Some(name) = &profile.displayname {
        content.insert("displayname".into(), name.clone().into());
    }
    if let Some(avatar) = &profile.avatar_url {
        content.insert("avatar_url".into(), avatar.clone().into());
    }
    if let Some(reason) = reason {
        content.insert("reason".into(), reason.into());
    }
    // The resident's choice of authoriser for a restricted join stays.
    if let Some(CanonicalJsonValue::Object(old)) = template.get("content")
        && let Some(authoriser) = old.get("join_authorised_via_users_server")
    {
        content.insert(
            "join_authorised_via_users_server".into(),
            authoriser.clone(),
        );
    }
    CanonicalJsonValue::Object(content)
}

impl Federation {
    /// Fills a template from `server` for `user_id` and signs it.
    pub(crate) fn fill_template(
        &self,
        room_version: &RoomVersionId,
        mut template: CanonicalJsonObject,
        user_id: &UserId,
        content: CanonicalJsonValue,
    ) -> Result<RemoteEvent> {
        let sender_ok = template.get("sender").and_then(CanonicalJsonValue::as_str)
            == Some(user_id.as_str())
            && template
                .get("state_key")
                .and_then(CanonicalJsonValue::as_str)
                == Some(user_id.as_str())
            && template.get("type").and_then(CanonicalJsonValue::as_str) == Some("m.room.member");
        if !sender_ok {
            return Err(Error::BadJson(
                "The template is not a membership event of this user".into(),
            ));
        }
        template.insert("content".into(), content);
        template.insert(
            "origin_server_ts".into(),
            CanonicalJsonValue::Integer(MilliSecondsSinceUnixEpoch::now().0.into()),
        );
        template.remove("origin");
        self.services.rooms.sign_template(room_version, template)
    }

    pub(crate) async fn join_through(
        &self,
        server: &ServerName,
        user_id: &UserId,
        room_id: &RoomId,
        profile: &MemberProfile,
        reason: Option<&str>,
    ) -> Result<OwnedRoomId> {
        let mut request =
            prepare_join_event::v1::Request::new(room_id.to_owned(), user_id.to_owned());
        request.ver = SUPPORTED_ROOM_VERSIONS.to_vec();
        let response = self.client.send(server, request).await?;
        let version = response.room_version.unwrap_or(RoomVersionId::V1);
        if !SUPPORTED_ROOM_VERSIONS.contains(&version) {
            return Err(Error::UnsupportedRoomVersion(format!(
                "The room has version {version}, which this server does not support"
            )));
        }
        let rules = version
            .rules()
            .ok_or_else(|| Error::UnsupportedRoomVersion(version.to_string()))?;
        let template = template_object(&response.event)?;
        let content = member_content(Membership::Join, profile, reason, &template);
        let join = self.fill_template(&version, template, user_id, content)?;
        let pdu = to_raw_value(&join.object).map_err(|error| Error::Internal(error.to_string()))?;
        let request =
            create_join_event::v2::Request::new(room_id.to_owned(), join.event_id.clone(), pdu);
        let response = self.client.send(server, request).await?;
        let room_state = response.room_state;

        // The resident may have co-signed the join (restricted rooms).
        let join = match &room_state.event {
            Some(event) => {
                let value: JsonValue = serde_json::from_str(event.get())
                    .map_err(|error| Error::BadJson(error.to_string()))?;
                let signed = self.check_pdu(&value, &rules).await?;
                if signed.event_id != join.event_id {
                    return Err(Error::Forbidden(format!(
                        "{server} returned another join event"
                    )));
                }
                signed
            }
            None => join,
        };
        let parse = |raws: &[Box<serde_json::value::RawValue>]| -> Vec<JsonValue> {
            raws.iter()
                .filter_map(|raw| serde_json::from_str(raw.get()).ok())
                .collect()
        };
        let verified = |results: Vec<Result<RemoteEvent>>, what: &str| -> Vec<RemoteEvent> {
            results
                .into_iter()
                .filter_map(|result| {
                    result
                        .map_err(|error| tracing::info!(%server, %error, "dropping a bad {what} event from send_join"))
                        .ok()
                })
                .collect()
        };
        let state = verified(
            self.check_pdus(&parse(&room_state.state), &rules).await,
            "state",
        );
        let auth_chain = verified(
            self.check_pdus(&parse(&room_state.auth_chain), &rules)
                .await,
            "auth chain",
        );
        let join_pdu = join.pdu()?;
        let room = join_pdu.room();
        let deferred = self.services.notifier.defer();
        // A room this server was in before (a user left and joins again): what happened while
        // it was away is fetched first, so that the timeline has it before the join, as
        // Synapse's rejoin does [Complement TestMessagesOverFederation, re-joining].
        if self
            .services
            .rooms
            .room_info(&room)?
            .is_some_and(|info| !info.forward_extremities.is_empty())
            && !self
                .services
                .rooms
                .missing_prev_events(&join_pdu)?
                .is_empty()
        {
            self.fetch_missing_prevs(&deferred, server, &room, &join_pdu, 0)
                .await;
        }
        // Its durable commit covers the missing events placed lazily before it; `deferred`
        // makes them readable when it goes.
        self.services
            .rooms
            .join_remote_room(version, join, state, auth_chain)
            .await?;
        Ok(room)
    }

    pub(crate) async fn knock_through(
        &self,
        server: &ServerName,
        user_id: &UserId,
        room_id: &RoomId,
        profile: &MemberProfile,
        reason: Option<&str>,
    ) -> Result<(RemoteEvent, Vec<JsonValue>, RoomVersionId)> {
        let mut request =
            prepare_knock_event::v1::Request::new(room_id.to_owned(), user_id.to_owned());
        request.ver = SUPPORTED_ROOM_VERSIONS.to_vec();
        let response = self.client.send(server, request).await?;
        let version = response.room_version;
        if !SUPPORTED_ROOM_VERSIONS.contains(&version) {
            return Err(Error::UnsupportedRoomVersion(format!(
                "The room has version {version}, which this server does not support"
            )));
        }
        let template = template_object(&response.event)?;
        let content = member_content(Membership::Knock, profile, reason, &template);
        let knock = self.fill_template(&version, template, user_id, content)?;
        let pdu =
            to_raw_value(&knock.object).map_err(|error| Error::Internal(error.to_string()))?;
        let response = self
            .client
            .send(
                server,
                create_knock_event::v1::Request::new(
                    room_id.to_owned(),
                    knock.event_id.clone(),
                    pdu,
                ),
            )
            .await?;
        let state = response
            .knock_room_state
            .iter()
            .filter_map(stripped_event)
            .collect();
        Ok((knock, state, version))
    }

    pub(crate) async fn leave_through(
        &self,
        server: &ServerName,
        user_id: &UserId,
        room_id: &RoomId,
        reason: Option<&str>,
    ) -> Result<RemoteEvent> {
        let response = self
            .client
            .send(
                server,
                prepare_leave_event::v1::Request::new(room_id.to_owned(), user_id.to_owned()),
            )
            .await?;
        let version = response.room_version.unwrap_or(RoomVersionId::V1);
        let template = template_object(&response.event)?;
        let content = member_content(
            Membership::Leave,
            &MemberProfile::default(),
            reason,
            &template,
        );
        let leave = self.fill_template(&version, template, user_id, content)?;
        let pdu =
            to_raw_value(&leave.object).map_err(|error| Error::Internal(error.to_string()))?;
        self.client
            .send(
                server,
                create_leave_event::v2::Request::new(
                    room_id.to_owned(),
                    leave.event_id.clone(),
                    pdu,
                ),
            )
            .await?;
        Ok(leave)
    }

    /// Runs `attempt` against each server in turn until one succeeds; the last error otherwise.
    pub(crate) async fn through_any<T, F, Fut>(
        &self,
        servers: Vec<OwnedServerName>,
        what: &str,
        room_id: &RoomId,
        attempt: F,
    ) -> Result<T>
    where
        F: Fn(OwnedServerName) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut last_error = Error::NotFound(
            "No known server is in this room; give one with server_name/via".into(),
        );
        for server in servers {
            match attempt(server.clone()).await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    tracing::info!(%server, %room_id, %error, "remote {what} failed");
                    last_error = error;
                }
            }
        }
        Err(last_error)
    }

    /// Candidate servers to reach a room through: the hints, then the room id's server (room
    /// versions before 12 carry one), then the server of whoever invited the user.
    pub(crate) fn candidate_servers(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        via: Vec<OwnedServerName>,
    ) -> Vec<OwnedServerName> {
        let mut servers = via;
        if let Some(server) = room_id.server_name() {
            servers.push(server.to_owned());
        }
        if let Ok(Some(invite)) = self.services.rooms.membership_event(room_id, user_id) {
            servers.push(invite.sender.server_name().to_owned());
        }
        if let Ok(joined) = self.services.rooms.joined_servers(room_id) {
            servers.extend(joined);
        }
        let own = self.services.rooms.server_name();
        let mut seen = BTreeSet::new();
        servers.retain(|server| server != own && seen.insert(server.clone()));
        servers
    }
}
