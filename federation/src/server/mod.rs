//! The federation listener's routes. Paths come from ruma's endpoint metadata.

mod e2ee;
mod error;
mod events;
mod extract;
mod keys;
mod media;
mod membership;
mod query;
mod send;

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    handler::Handler,
    response::{IntoResponse, Response},
    routing::{MethodFilter, on},
};
use bytes::BytesMut;
use myelin_core::Error;
use ruma::api::{
    Metadata, OutgoingResponse, OutgoingResponseExt as _, federation as f,
    path_builder::PathBuilder as _,
};

pub(crate) use self::{
    error::{FedError, FedResult},
    extract::{Signed, Unsigned},
    membership::stripped_event,
};
use crate::Federation;

/// Wraps a ruma response so handlers can return it directly.
pub struct RumaResponse<T>(pub T);

impl<T: OutgoingResponse> IntoResponse for RumaResponse<T> {
    fn into_response(self) -> Response {
        match self.0.try_into_http_response::<BytesMut>() {
            Ok(response) => response
                .map(|body| Body::from(body.freeze()))
                .into_response(),
            Err(error) => FedError(Error::Internal(format!(
                "encoding a response failed: {error}"
            )))
            .into_response(),
        }
    }
}

type State = Arc<Federation>;

fn route<T, H, X>(mut router: Router<State>, handler: H) -> Router<State>
where
    T: Metadata,
    H: Handler<X, State> + Clone,
    X: 'static,
{
    let method =
        MethodFilter::try_from(T::METHOD).expect("ruma endpoints only use standard HTTP methods");
    for path in T::PATH_BUILDER.all_paths() {
        router = router.route(path, on(method, handler.clone()));
    }
    router
}

/// The federation listener's router.
pub fn router(federation: Arc<Federation>) -> Router {
    let limit = federation.services.config.federation.max_request_bytes;
    let mut router = Router::new();
    router = route::<f::discovery::get_server_version::v1::Request, _, _>(router, keys::version);
    router = route::<f::discovery::get_server_keys::v2::Request, _, _>(router, keys::server_keys);
    router =
        route::<f::discovery::get_remote_server_keys::v2::Request, _, _>(router, keys::query_keys);
    router = route::<f::discovery::get_remote_server_keys_batch::v2::Request, _, _>(
        router,
        keys::query_keys_batch,
    );
    router = route::<f::transactions::send_transaction_message::v1::Request, _, _>(
        router,
        send::send_transaction,
    );
    router = route::<f::membership::prepare_join_event::v1::Request, _, _>(
        router,
        membership::make_join,
    );
    router =
        route::<f::membership::create_join_event::v2::Request, _, _>(router, membership::send_join);
    router = router.route(
        "/_matrix/federation/v1/send_join/{room_id}/{event_id}",
        axum::routing::put(membership::send_join_v1),
    );
    router = router.route(
        "/_matrix/federation/v1/send_leave/{room_id}/{event_id}",
        axum::routing::put(membership::send_leave_v1),
    );
    router = route::<f::membership::prepare_leave_event::v1::Request, _, _>(
        router,
        membership::make_leave,
    );
    router = route::<f::membership::create_leave_event::v2::Request, _, _>(
        router,
        membership::send_leave,
    );
    router = route::<f::membership::prepare_knock_event::v1::Request, _, _>(
        router,
        membership::make_knock,
    );
    router = route::<f::membership::create_knock_event::v1::Request, _, _>(
        router,
        membership::send_knock,
    );
    router =
        route::<f::membership::create_invite::v2::Request, _, _>(router, membership::invite_v2);
    router =
        route::<f::membership::create_invite::v1::Request, _, _>(router, membership::invite_v1);
    router = route::<f::event::get_event::v1::Request, _, _>(router, events::get_event);
    router = route::<f::event::get_room_state::v1::Request, _, _>(router, events::get_state);
    router =
        route::<f::event::get_room_state_ids::v1::Request, _, _>(router, events::get_state_ids);
    router = route::<f::backfill::get_backfill::v1::Request, _, _>(router, events::backfill);
    router = route::<f::event::get_missing_events::v1::Request, _, _>(
        router,
        events::get_missing_events,
    );
    router = route::<f::authorization::get_event_authorization::v1::Request, _, _>(
        router,
        events::event_auth,
    );
    router = route::<f::event::get_event_by_timestamp::v1::Request, _, _>(
        router,
        events::timestamp_to_event,
    );
    router = route::<f::query::get_profile_information::v1::Request, _, _>(router, query::profile);
    router = route::<f::query::get_room_information::v1::Request, _, _>(router, query::directory);
    router = route::<f::keys::get_keys::v1::Request, _, _>(router, e2ee::query_keys);
    router = route::<f::keys::claim_keys::v1::Request, _, _>(router, e2ee::claim_keys);
    router = route::<f::device::get_devices::v1::Request, _, _>(router, e2ee::devices);
    router =
        route::<f::authenticated_media::get_content::v1::Request, _, _>(router, media::download);
    router = route::<f::authenticated_media::get_content_thumbnail::v1::Request, _, _>(
        router,
        media::thumbnail,
    );
    router = route::<f::space::get_hierarchy::v1::Request, _, _>(router, query::hierarchy);
    router =
        route::<f::openid::get_openid_userinfo::v1::Request, _, _>(router, query::openid_userinfo);
    router =
        route::<f::directory::get_public_rooms::v1::Request, _, _>(router, query::public_rooms);
    router = route::<f::directory::get_public_rooms_filtered::v1::Request, _, _>(
        router,
        query::public_rooms_filtered,
    );
    router
        .fallback(|| async {
            (
                axum::http::StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({ "errcode": "M_UNRECOGNIZED", "error": "Unrecognized request" })),
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(federation)
}
