//! What the client API asks of appservices: does this user or alias in your namespace exist
//! (`GET /_matrix/app/v1/users/{userId}`, `/rooms/{alias}`), and the ping.

use std::time::Instant;

use std::sync::Arc;

use myelin_core::{Error, Result, appservice::Appservices, ports::BoxFuture};
use ruma::{RoomAliasId, UserId};
use serde_json::json;

/// Holds the registrations, not the services: it is plugged into the services, which must not
/// keep themselves alive through it.
pub struct Queries {
    appservices: Arc<Appservices>,
    http: reqwest::Client,
}

impl Queries {
    pub(crate) fn new(appservices: Arc<Appservices>, http: reqwest::Client) -> Self {
        Self { appservices, http }
    }

    fn appservice(&self, id: &str) -> Result<Arc<myelin_core::appservice::Appservice>> {
        self.appservices
            .by_id(id)
            .ok_or_else(|| Error::NotFound(format!("No appservice {id}")))
    }

    /// A query's answer: 2xx means the appservice has (now) got it, 404 that it has not.
    async fn exists(&self, id: &str, path: String) -> Result<bool> {
        let appservice = self.appservice(id)?;
        if appservice.registration.url.is_none() {
            return Ok(false);
        }
        let (status, _) =
            crate::call(&self.http, &appservice, reqwest::Method::GET, &path, None).await?;
        Ok(status.is_success())
    }
}

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a path segment (user ids and aliases carry `@`, `#` and `:`).
fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, COMPONENT).to_string()
}

impl myelin_core::ports::AppserviceQueries for Queries {
    fn query_user<'a>(
        &'a self,
        appservice_id: &'a str,
        user_id: &'a UserId,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.exists(
            appservice_id,
            format!("/_matrix/app/v1/users/{}", segment(user_id.as_str())),
        ))
    }

    fn query_alias<'a>(
        &'a self,
        appservice_id: &'a str,
        alias: &'a RoomAliasId,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.exists(
            appservice_id,
            format!("/_matrix/app/v1/rooms/{}", segment(alias.as_str())),
        ))
    }

    fn thirdparty<'a>(
        &'a self,
        appservice_id: &'a str,
        path_and_query: String,
    ) -> BoxFuture<'a, Result<serde_json::Value>> {
        Box::pin(async move {
            let appservice = self.appservice(appservice_id)?;
            let (status, answer) = crate::call(
                &self.http,
                &appservice,
                reqwest::Method::GET,
                &format!("/_matrix/app/v1/thirdparty/{path_and_query}"),
                None,
            )
            .await?;
            if !status.is_success() {
                return Err(Error::Unavailable(format!(
                    "appservice {appservice_id} answered {status}"
                )));
            }
            Ok(answer)
        })
    }

    fn ping<'a>(
        &'a self,
        appservice_id: &'a str,
        transaction_id: Option<String>,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let appservice = self.appservice(appservice_id)?;
            let mut body = json!({});
            if let Some(transaction_id) = transaction_id {
                body["transaction_id"] = transaction_id.into();
            }
            let started = Instant::now();
            let (status, answer) = crate::call(
                &self.http,
                &appservice,
                reqwest::Method::POST,
                "/_matrix/app/v1/ping",
                Some(&body),
            )
            .await?;
            if !status.is_success() {
                return Err(Error::Unavailable(format!(
                    "the appservice answered the ping with {status}: {answer}"
                )));
            }
            Ok(started.elapsed().as_millis() as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(super::segment("@a_b:x.org"), "%40a_b%3Ax.org");
        assert_eq!(super::segment("#room:x"), "%23room%3Ax");
    }
}
