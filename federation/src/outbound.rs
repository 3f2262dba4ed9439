//! What the client API asks of other servers (`myelin_core::ports::Federation`): joining and
//! leaving their rooms, inviting their users, reading their profiles, aliases and directories.

use myelin_core::{
    Error, Result,
    ports::{self, BoxFuture},
    rooms::{MemberProfile, Membership, RemoteEvent},
    storage::WriteBatch,
};
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, OwnedRoomAliasId, OwnedRoomId, OwnedServerName,
    RoomId, RoomVersionId, ServerName, UserId,
    api::federation::{
        backfill::get_backfill,
        directory::get_public_rooms_filtered,
        membership::{RawStrippedState, create_invite},
        query::{get_profile_information, get_room_information},
        space::get_hierarchy,
    },
};
use serde_json::{Value as JsonValue, value::to_raw_value};

use crate::Federation;

/// Events asked for per backfill request.
const BACKFILL_LIMIT: u32 = 100;

impl ports::Federation for Federation {
    fn destinations(&self) -> Vec<ports::DestinationStatus> {
        self.sender.destinations()
    }

    fn reset_connection(&self, destination: &ServerName) -> bool {
        self.sender.reset_connection(destination)
    }

    fn join_remote<'a>(
        &'a self,
        user_id: &'a UserId,
        room_id: &'a RoomId,
        via: Vec<OwnedServerName>,
        profile: MemberProfile,
        reason: Option<String>,
    ) -> BoxFuture<'a, Result<OwnedRoomId>> {
        Box::pin(async move {
            let servers = self.candidate_servers(user_id, room_id, via);
            self.through_any(servers, "join", room_id, |server| {
                let (profile, reason) = (&profile, reason.as_deref());
                async move {
                    self.join_through(&server, user_id, room_id, profile, reason)
                        .await
                }
            })
            .await
        })
    }

    fn knock_remote<'a>(
        &'a self,
        user_id: &'a UserId,
        room_id: &'a RoomId,
        via: Vec<OwnedServerName>,
        profile: MemberProfile,
        reason: Option<String>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let servers = self.candidate_servers(user_id, room_id, via);
            let (knock, state, version) = self
                .through_any(servers, "knock", room_id, |server| {
                    let (profile, reason) = (&profile, reason.as_deref());
                    async move {
                        self.knock_through(&server, user_id, room_id, profile, reason)
                            .await
                    }
                })
                .await?;
            self.services
                .rooms
                .store_remote_membership(
                    &knock.event_id,
                    &knock.object,
                    state,
                    Membership::Knock,
                    &version,
                )
                .await
        })
    }

    fn leave_remote<'a>(
        &'a self,
        user_id: &'a UserId,
        room_id: &'a RoomId,
        reason: Option<String>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let servers = self.candidate_servers(user_id, room_id, Vec::new());
            let leave = self
                .through_any(servers, "leave", room_id, |server| {
                    let reason = reason.as_deref();
                    async move { self.leave_through(&server, user_id, room_id, reason).await }
                })
                .await?;
            self.services.rooms.store_membership_outlier(&leave).await?;
            self.services
                .rooms
                .record_membership(
                    WriteBatch::new(),
                    room_id,
                    user_id,
                    Membership::Leave,
                    &leave.event_id,
                )
                .await
        })
    }

    fn invite_remote<'a>(
        &'a self,
        room_version: &'a RoomVersionId,
        event_id: &'a ruma::EventId,
        object: &'a ruma::CanonicalJsonObject,
        invite_room_state: Vec<JsonValue>,
    ) -> BoxFuture<'a, Result<CanonicalJsonObject>> {
        Box::pin(async move {
            let event = RemoteEvent {
                event_id: event_id.to_owned(),
                object: object.clone(),
            };
            let pdu = event.pdu()?;
            let invitee = pdu
                .state_key
                .as_deref()
                .and_then(|key| UserId::parse(key).ok())
                .ok_or_else(|| Error::BadJson("An invite needs a user id as state_key".into()))?;
            let stripped = invite_room_state
                .iter()
                .filter_map(|pdu| to_raw_value(pdu).ok().map(RawStrippedState::Pdu))
                .collect();
            let raw_event =
                to_raw_value(&event.object).map_err(|error| Error::Internal(error.to_string()))?;
            let request = create_invite::v2::Request::new(
                pdu.room(),
                event.event_id.clone(),
                room_version.clone(),
                raw_event,
                stripped,
            );
            let response = self.client.send(invitee.server_name(), request).await?;
            let mut signed: CanonicalJsonObject = serde_json::from_str(response.event.get())
                .map_err(|error| Error::BadJson(format!("Unreadable signed invite: {error}")))?;
            let rules = room_version
                .rules()
                .ok_or_else(|| Error::UnsupportedRoomVersion(room_version.to_string()))?;
            if rules.event_id_format != ruma::room_version_rules::EventIdFormatVersion::V1 {
                signed.remove("event_id");
            }
            if myelin_core::rooms::event_id_of(&signed, &rules)? != event.event_id {
                return Err(Error::Forbidden(format!(
                    "{} changed the invite while signing it",
                    invitee.server_name()
                )));
            }
            let has_signature = signed
                .get("signatures")
                .and_then(CanonicalJsonValue::as_object)
                .is_some_and(|signatures| signatures.contains_key(invitee.server_name().as_str()));
            if !has_signature {
                return Err(Error::Forbidden(format!(
                    "{} did not sign the invite",
                    invitee.server_name()
                )));
            }
            Ok(signed)
        })
    }

    fn backfill<'a>(&'a self, room_id: &'a RoomId) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            let rooms = &self.services.rooms;
            let Some(from) = rooms.backfill_point(room_id)? else {
                return Ok(0);
            };
            let rules = self.room_rules(room_id)?;
            let own = rooms.server_name().clone();
            let servers: Vec<OwnedServerName> = rooms
                .joined_servers(room_id)?
                .into_iter()
                .filter(|server| *server != own)
                .collect();
            for server in servers {
                let request = get_backfill::v1::Request::new(
                    room_id.to_owned(),
                    vec![from.clone()],
                    BACKFILL_LIMIT.into(),
                );
                let response = match self.client.send(&server, request).await {
                    Ok(response) => response,
                    Err(error) => {
                        tracing::info!(%server, %room_id, %error, "backfill failed");
                        continue;
                    }
                };
                let values: Vec<JsonValue> = response
                    .pdus
                    .iter()
                    .filter_map(|raw| serde_json::from_str(raw.get()).ok())
                    .collect();
                let mut events = Vec::new();
                // Auth events fetched for the page are stored as outliers: no stream positions,
                // nothing to hold back.
                let deferred = self.services.notifier.defer();
                for checked in self.check_pdus(&values, &rules).await {
                    match checked {
                        Ok(event) => {
                            let pdu = event.pdu()?;
                            if let Err(error) = self
                                .fetch_auth_events(&deferred, &server, room_id, &pdu, &rules)
                                .await
                            {
                                tracing::info!(%error, "a backfilled event's auth events are out of reach");
                                continue;
                            }
                            events.push(event);
                        }
                        Err(error) => {
                            tracing::info!(%server, %error, "dropping a bad backfilled event")
                        }
                    }
                }
                return rooms.store_backfilled(room_id, events).await;
            }
            Ok(0)
        })
    }

    fn query_profile<'a>(
        &'a self,
        user_id: &'a UserId,
        field: Option<&'a str>,
    ) -> BoxFuture<'a, Result<JsonValue>> {
        Box::pin(async move {
            let mut request = get_profile_information::v1::Request::new(user_id.to_owned());
            request.field = field.map(Into::into);
            let response = self.client.send(user_id.server_name(), request).await?;
            serde_json::to_value(&response.data).map_err(|error| Error::Internal(error.to_string()))
        })
    }

    fn query_directory<'a>(
        &'a self,
        alias: &'a OwnedRoomAliasId,
    ) -> BoxFuture<'a, Result<(OwnedRoomId, Vec<OwnedServerName>)>> {
        Box::pin(async move {
            let response = self
                .client
                .send(
                    alias.server_name(),
                    get_room_information::v1::Request::new(alias.clone()),
                )
                .await?;
            Ok((response.room_id, response.servers))
        })
    }

    fn hierarchy<'a>(
        &'a self,
        servers: &'a [OwnedServerName],
        room_id: &'a RoomId,
        suggested_only: bool,
    ) -> BoxFuture<'a, Result<JsonValue>> {
        Box::pin(async move {
            self.through_any(
                servers.to_vec(),
                "hierarchy",
                room_id,
                |server| async move {
                    let mut request = get_hierarchy::v1::Request::new(room_id.to_owned());
                    request.suggested_only = suggested_only;
                    let response = self.client.send(&server, request).await?;
                    Ok(serde_json::json!({
                        "room": response.room,
                        "children": response.children,
                        "inaccessible_children": response.inaccessible_children,
                    }))
                },
            )
            .await
        })
    }

    fn query_keys<'a>(
        &'a self,
        server: &'a ServerName,
        device_keys: std::collections::BTreeMap<ruma::OwnedUserId, Vec<ruma::OwnedDeviceId>>,
    ) -> BoxFuture<'a, Result<JsonValue>> {
        Box::pin(async move {
            let response = self
                .client
                .send(
                    server,
                    ruma::api::federation::keys::get_keys::v1::Request::new(device_keys),
                )
                .await?;
            Ok(serde_json::json!({
                "device_keys": response.device_keys,
                "master_keys": response.master_keys,
                "self_signing_keys": response.self_signing_keys,
            }))
        })
    }

    fn claim_keys<'a>(
        &'a self,
        server: &'a ServerName,
        claims: std::collections::BTreeMap<
            ruma::OwnedUserId,
            std::collections::BTreeMap<ruma::OwnedDeviceId, ruma::OneTimeKeyAlgorithm>,
        >,
    ) -> BoxFuture<'a, Result<JsonValue>> {
        Box::pin(async move {
            let response = self
                .client
                .send(
                    server,
                    ruma::api::federation::keys::claim_keys::v1::Request::new(claims),
                )
                .await?;
            Ok(serde_json::json!({ "one_time_keys": response.one_time_keys }))
        })
    }

    fn public_rooms<'a>(
        &'a self,
        server: &'a ServerName,
        request: JsonValue,
    ) -> BoxFuture<'a, Result<JsonValue>> {
        Box::pin(async move {
            let mut outbound = get_public_rooms_filtered::v1::Request::new();
            outbound.limit = request
                .get("limit")
                .and_then(JsonValue::as_u64)
                .and_then(|limit| limit.try_into().ok());
            outbound.since = request
                .get("since")
                .and_then(JsonValue::as_str)
                .map(str::to_owned);
            outbound.filter.generic_search_term = request
                .pointer("/filter/generic_search_term")
                .and_then(JsonValue::as_str)
                .map(str::to_owned);
            let response = self.client.send(server, outbound).await?;
            let mut answer = serde_json::json!({
                "chunk": response.chunk,
            });
            if let Some(next) = response.next_batch {
                answer["next_batch"] = next.into();
            }
            if let Some(prev) = response.prev_batch {
                answer["prev_batch"] = prev.into();
            }
            if let Some(total) = response.total_room_count_estimate {
                answer["total_room_count_estimate"] = u64::from(total).into();
            }
            Ok(answer)
        })
    }

    fn fetch_media<'a>(
        &'a self,
        server: &'a ServerName,
        media_id: &'a str,
    ) -> BoxFuture<'a, Result<myelin_core::media::RemoteContent>> {
        Box::pin(async move {
            use ruma::api::federation::authenticated_media::{FileOrLocation, get_content};
            let limit = self.services.media.max_upload_bytes();
            let response = self
                .client
                .send_limited(
                    server,
                    get_content::v1::Request::new(media_id.to_owned()),
                    // Room for the multipart framing around the content.
                    limit.saturating_add(64 * 1024),
                )
                .await?;
            match response.content {
                FileOrLocation::File(content) => Ok(myelin_core::media::RemoteContent {
                    bytes: content.file,
                    content_type: content.content_type,
                    filename: content
                        .content_disposition
                        .and_then(|disposition| disposition.filename),
                }),
                FileOrLocation::Location(url) => self.client.fetch_location(&url, limit).await,
                _ => Err(myelin_core::Error::Unavailable(format!(
                    "{server} answered a media download with something unknown"
                ))),
            }
        })
    }
}
