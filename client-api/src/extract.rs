//! `Ruma<T>`: the extractor every endpoint uses. It authenticates the caller as the endpoint's
//! ruma metadata demands, enforces the body limit, tells unparsable JSON (`M_NOT_JSON`) from
//! JSON of the wrong shape (`M_BAD_JSON`), and decodes the ruma request type.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    body::Body,
    extract::{ConnectInfo, FromRequest, Path},
    http::{Method, Request, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::BytesMut;
use myelin_core::{Error, users::Identity};
use ruma::api::{
    IncomingRequest, IncomingRequestExt as _, OutgoingResponse, OutgoingResponseExt as _,
    auth_scheme::{
        AccessToken, AccessTokenOptional, AppserviceToken, AppserviceTokenOptional, NoAccessToken,
        NoAuthentication,
    },
    error::{DeserializationError, FromHttpRequestError},
};
use serde_json::Value as JsonValue;

use crate::{AppState, error::ApiError};

/// How an endpoint's ruma auth scheme translates to Myelin's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthPolicy {
    /// No token is looked at.
    None,
    /// A token may be given; if given it must be valid.
    Optional,
    /// A valid token is required.
    Required,
    /// Only an appservice's token is looked at (registration of its users); any other token
    /// is unknown here.
    AppserviceOptional,
}

pub trait EndpointAuth {
    const POLICY: AuthPolicy;
}

impl EndpointAuth for NoAuthentication {
    const POLICY: AuthPolicy = AuthPolicy::None;
}
impl EndpointAuth for NoAccessToken {
    const POLICY: AuthPolicy = AuthPolicy::None;
}
impl EndpointAuth for AccessToken {
    const POLICY: AuthPolicy = AuthPolicy::Required;
}
impl EndpointAuth for AccessTokenOptional {
    const POLICY: AuthPolicy = AuthPolicy::Optional;
}
impl EndpointAuth for AppserviceToken {
    const POLICY: AuthPolicy = AuthPolicy::Required;
}
impl EndpointAuth for AppserviceTokenOptional {
    const POLICY: AuthPolicy = AuthPolicy::AppserviceOptional;
}

/// A decoded request with its caller.
pub struct Ruma<T> {
    pub body: T,
    pub identity: Option<Identity>,
    /// The JSON body as sent, for fields ruma does not model (UIA `auth` dictionaries).
    pub json: Option<JsonValue>,
    pub client_ip: IpAddr,
}

impl<T> Ruma<T> {
    /// The authenticated caller; only call on endpoints whose policy is `Required`.
    pub fn identity(&self) -> Result<&Identity, ApiError> {
        self.identity
            .as_ref()
            .ok_or(ApiError::Core(Error::MissingToken))
    }

    /// The request's UIA `auth` object, if any.
    pub fn auth_json(&self) -> Option<&JsonValue> {
        self.json
            .as_ref()
            .and_then(|json| json.get("auth"))
            .filter(|auth| auth.is_object())
    }
}

fn access_token(request: &Request<Body>) -> Option<String> {
    access_token_of(request.headers(), request.uri())
}

fn access_token_of(headers: &axum::http::HeaderMap, uri: &axum::http::Uri) -> Option<String> {
    if let Some(header) = headers.get(axum::http::header::AUTHORIZATION) {
        let value = header.to_str().ok()?;
        return value
            .strip_prefix("Bearer ")
            .map(|token| token.trim().to_owned());
    }
    let query = uri.query()?;
    url_query_value(query, "access_token")
}

/// Authenticates a request by its access token, for handlers that read their body themselves
/// (media uploads stream theirs to disk instead of buffering it).
pub(crate) fn authenticate_parts(
    parts: &axum::http::request::Parts,
    state: &AppState,
) -> Result<Identity, ApiError> {
    let token = access_token_of(&parts.headers, &parts.uri).ok_or(Error::MissingToken)?;
    let identity = authenticate_token(state, &token, &parts.uri, false)?;
    let client_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |info| info.0.ip());
    state.services.users.record_last_seen(
        &identity,
        client_ip.to_string(),
        user_agent(&parts.headers),
    );
    Ok(identity)
}

/// The identity behind an access token: a user's session, or an appservice acting as its
/// sender or (with `?user_id=`) as a user in its namespace it registered, on a device named by
/// `?device_id=` when the registration opts into MSC3202.
fn authenticate_token(
    state: &AppState,
    token: &str,
    uri: &axum::http::Uri,
    registering: bool,
) -> Result<Identity, ApiError> {
    let Some(appservice) = state.services.appservices.by_token(token) else {
        let identity = state.services.users.authenticate(token)?;
        // A locked account may only log out (spec 1.18).
        let logging_out = uri.path().ends_with("/logout") || uri.path().ends_with("/logout/all");
        if !logging_out && state.services.users.restrictions(&identity.user_id).locked {
            return Err(Error::UserLocked.into());
        }
        return Ok(identity);
    };
    let user_id = match query_parameter(uri, "user_id") {
        Some(user) => ruma::UserId::parse(user.as_str())
            .map_err(|error| Error::InvalidParam(format!("Bad user_id: {error}")))?,
        None => appservice.sender.clone(),
    };
    if !appservice.may_act_as(&user_id) {
        // 403 M_FORBIDDEN, as Synapse answers.
        return Err(Error::Forbidden(format!(
            "Application service cannot masquerade as {user_id}"
        ))
        .into());
    }
    if !registering
        && user_id != appservice.sender
        && state.services.users.account(&user_id)?.is_none()
    {
        return Err(
            Error::Forbidden(format!("Application service has not registered {user_id}")).into(),
        );
    }
    // `device_id` masquerading: every appservice since spec v1.17 (MSC4326), as MSC3202
    // registrations could before.
    let device_id = match query_parameter(uri, "device_id") {
        Some(device) => {
            let device: ruma::OwnedDeviceId = device.into();
            if state.services.users.device(&user_id, &device)?.is_none() {
                return Err(Error::Forbidden(format!("{user_id} has no device {device}")).into());
            }
            device
        }
        // Appservice requests have no device of their own; one fixed id per appservice keeps
        // transaction-id deduplication per sender working.
        None => format!("appservice:{}", appservice.id()).into(),
    };
    Ok(Identity {
        user_id,
        device_id,
        appservice_id: Some(appservice.id().to_owned()),
    })
}

/// The value of a query parameter, percent-decoded.
pub(crate) fn query_parameter(uri: &axum::http::Uri, name: &str) -> Option<String> {
    let axum::extract::Query(mut pairs) =
        axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(uri)
            .ok()?;
    pairs.remove(name)
}

/// The request's `User-Agent`, when it is text.
fn user_agent(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
}

/// Every value of a query parameter that may repeat (`?a=1&a=2`), decoded.
pub(crate) fn query_parameters(uri: &axum::http::Uri, name: &str) -> Vec<String> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|axum::extract::Query(pairs)| {
            pairs
                .into_iter()
                .filter(|(key, _)| key == name)
                .map(|(_, value)| value)
                .collect()
        })
        .unwrap_or_default()
}

fn url_query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}

fn decoding_error(error: FromHttpRequestError) -> ApiError {
    match error {
        FromHttpRequestError::Deserialization(DeserializationError::Json(error)) => {
            ApiError::bad_json(error.to_string())
        }
        FromHttpRequestError::Deserialization(error) => ApiError::Core(Error::InvalidParam(
            format!("Invalid request parameter: {error}"),
        )),
        FromHttpRequestError::MethodMismatch { .. } => ApiError::http(
            StatusCode::METHOD_NOT_ALLOWED,
            "M_UNRECOGNIZED",
            "Unrecognized request method",
        ),
        other => ApiError::bad_json(other.to_string()),
    }
}

impl<T> FromRequest<AppState> for Ruma<T>
where
    T: IncomingRequest + Send,
    T::Authentication: EndpointAuth,
{
    type Rejection = ApiError;

    async fn from_request(
        request: Request<Body>,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client_ip = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |info| info.0.ip());
        let identity = match (
            <T::Authentication as EndpointAuth>::POLICY,
            access_token(&request),
        ) {
            (AuthPolicy::None, _)
            | (AuthPolicy::Optional | AuthPolicy::AppserviceOptional, None) => None,
            // `/login` and `/register` look only at appservice tokens; any other token (a
            // client's stale session) is ignored, as Synapse does [Complement TestLogin].
            (AuthPolicy::AppserviceOptional, Some(token)) => {
                if state.services.appservices.by_token(&token).is_none() {
                    None
                } else {
                    // Registering the very user named by `?user_id=` (mautrix sends it).
                    Some(authenticate_token(state, &token, request.uri(), true)?)
                }
            }
            (AuthPolicy::Required, None) => return Err(Error::MissingToken.into()),
            (AuthPolicy::Optional | AuthPolicy::Required, Some(token)) => {
                let identity = authenticate_token(state, &token, request.uri(), false)?;
                state.services.users.record_last_seen(
                    &identity,
                    client_ip.to_string(),
                    user_agent(request.headers()),
                );
                Some(identity)
            }
        };

        let (mut parts, body) = request.into_parts();
        let path_args: Vec<String> = match <Path<Vec<String>> as axum::extract::FromRequestParts<
            AppState,
        >>::from_request_parts(&mut parts, state)
        .await
        {
            Ok(Path(args)) => args,
            Err(_) => Vec::new(),
        };
        let limit = state.services.config.client.max_request_bytes;
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|error| {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::Core(Error::TooLarge(format!(
                    "Request body is larger than {limit} bytes"
                )))
            } else {
                ApiError::bad_json(format!("Could not read the request body: {error}"))
            }
        })?;
        let json = if bytes.is_empty() {
            None
        } else {
            Some(parse_json_body(&bytes)?)
        };
        // Synapse accepts an empty body where a JSON object is expected (matrix-nio joins rooms
        // that way), so an empty body reads as `{}`.
        let body: &[u8] = if bytes.is_empty() && matches!(parts.method, Method::POST | Method::PUT)
        {
            b"{}"
        } else {
            &bytes[..]
        };
        let request = Request::from_parts(parts, body);
        let mut args: Vec<&str> = path_args.iter().map(String::as_str).collect();
        // Routes registered without their last segment (an empty state key) get it back here.
        if args.len() + 1 == crate::routing::path_parameter_count::<T>() {
            args.push("");
        }
        // ruma's decoders can panic on some malformed bodies (its `LoginInfo` indexes the body
        // for `type`): such a body is the client's mistake, answered like any other bad JSON.
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            T::try_from_http_request(request, &args)
        }))
        .map_err(|_| ApiError::bad_json("The request body does not have the expected shape"))?;
        let body = decoded.map_err(decoding_error)?;
        Ok(Ruma {
            body,
            identity,
            json,
            client_ip,
        })
    }
}

/// Parses a request body as JSON: unparsable is `M_NOT_JSON`; an object naming a key twice is
/// `M_BAD_JSON`, because ruma's decoding would silently take the last value (a body with
/// `"password"` twice logged in with the second).
pub fn parse_json_body(bytes: &[u8]) -> Result<JsonValue, ApiError> {
    myelin_core::strict_json::parse(bytes).map_err(|error| {
        let message = format!("Body is not valid JSON: {error}");
        if error.is_data() {
            ApiError::bad_json(message)
        } else {
            ApiError::not_json(message)
        }
    })
}

/// Wraps a ruma response so handlers can return it directly.
pub struct RumaResponse<T>(pub T);

impl<T: OutgoingResponse> IntoResponse for RumaResponse<T> {
    fn into_response(self) -> Response {
        match self.0.try_into_http_response::<BytesMut>() {
            Ok(response) => response
                .map(|body| Body::from(body.freeze()))
                .into_response(),
            Err(error) => ApiError::Core(Error::Internal(format!(
                "encoding a response failed: {error}"
            )))
            .into_response(),
        }
    }
}
