//! `Signed<T>`: the extractor of every authenticated federation endpoint. It reads the body
//! within the configured limit, checks the `X-Matrix` signature against the origin's keys (and
//! that the request is addressed to us), applies the domain lists, and decodes the ruma request.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{FromRequest, Path},
    http::Request,
};
use myelin_core::Error;
use ruma::{
    OwnedServerName,
    api::{
        IncomingRequest, IncomingRequestExt as _,
        error::{DeserializationError, FromHttpRequestError},
        federation::authentication::XMatrix,
    },
};

use super::error::FedError;
use crate::Federation;

/// A verified request from another server.
pub struct Signed<T> {
    pub origin: OwnedServerName,
    pub body: T,
}

/// An unauthenticated request (key endpoints, version).
pub struct Unsigned<T>(pub T);

async fn read(
    request: Request<Body>,
    state: &Arc<Federation>,
) -> Result<(http::request::Parts, Vec<u8>, Vec<String>), FedError> {
    let (mut parts, body) = request.into_parts();
    let path_args = match <Path<Vec<String>> as axum::extract::FromRequestParts<Arc<Federation>>>::from_request_parts(&mut parts, state).await {
        Ok(Path(args)) => args,
        Err(_) => Vec::new(),
    };
    let limit = state.services.config.federation.max_request_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|error| {
        let too_large = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        FedError(if too_large {
            Error::TooLarge(format!("Request body is larger than {limit} bytes"))
        } else {
            Error::BadJson(format!("Could not read the request body: {error}"))
        })
    })?;
    // Duplicate keys are refused too: no canonical JSON has them, and with them the event a
    // signature covers is not the one read.
    if !bytes.is_empty()
        && let Err(error) = myelin_core::strict_json::parse(&bytes)
    {
        return Err(FedError(Error::BadJson(format!(
            "Body is not valid JSON: {error}"
        ))));
    }
    Ok((parts, bytes.to_vec(), path_args))
}

fn decode<T: IncomingRequest>(
    parts: http::request::Parts,
    bytes: &[u8],
    path_args: &[String],
) -> Result<T, FedError> {
    let request = Request::from_parts(parts, bytes);
    let args: Vec<&str> = path_args.iter().map(String::as_str).collect();
    // ruma's decoders can panic on some malformed bodies: the sender's mistake, answered as one.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        T::try_from_http_request(request, &args)
    }))
    .map_err(|_| {
        FedError(Error::BadJson(
            "The request body does not have the expected shape".into(),
        ))
    })?;
    decoded.map_err(|error| {
        FedError(match error {
            FromHttpRequestError::Deserialization(DeserializationError::Json(error)) => {
                Error::BadJson(error.to_string())
            }
            other => Error::InvalidParam(format!("Invalid request: {other}")),
        })
    })
}

impl<T> FromRequest<Arc<Federation>> for Signed<T>
where
    T: IncomingRequest + Send,
{
    type Rejection = FedError;

    async fn from_request(
        request: Request<Body>,
        state: &Arc<Federation>,
    ) -> Result<Self, Self::Rejection> {
        let xmatrix = XMatrix::extract_from_http_headers(request.headers()).map_err(|error| {
            FedError(Error::Unauthorized(format!(
                "Missing or malformed X-Matrix authorization: {error}"
            )))
        })?;
        let (parts, bytes, path_args) = read(request, state).await?;
        if !state.client.policy().server_allowed(&xmatrix.origin) {
            return Err(FedError(Error::Forbidden(format!(
                "Federation with {} is not allowed",
                xmatrix.origin
            ))));
        }
        let check = {
            let mut builder = http::Request::builder()
                .method(parts.method.clone())
                .uri(parts.uri.clone());
            for (name, value) in &parts.headers {
                builder = builder.header(name, value);
            }
            builder
                .body(bytes.clone())
                .map_err(|error| FedError(Error::BadJson(error.to_string())))?
        };
        state.keys.verify_request(&xmatrix, &check).await?;
        // The origin is talking to us, so it is up: retry what waits for it now.
        state.sender.destination_is_up(&xmatrix.origin);
        let body = decode::<T>(parts, &bytes, &path_args)?;
        Ok(Signed {
            origin: xmatrix.origin,
            body,
        })
    }
}

impl<T> FromRequest<Arc<Federation>> for Unsigned<T>
where
    T: IncomingRequest + Send,
{
    type Rejection = FedError;

    async fn from_request(
        request: Request<Body>,
        state: &Arc<Federation>,
    ) -> Result<Self, Self::Rejection> {
        let (parts, bytes, path_args) = read(request, state).await?;
        Ok(Unsigned(decode::<T>(parts, &bytes, &path_args)?))
    }
}
