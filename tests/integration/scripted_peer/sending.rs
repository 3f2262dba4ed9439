//! What the peer sends: requests to a Myelin's federation listener signed with the peer's key,
//! `/send` transactions among them.

use std::net::SocketAddr;

use reqwest::{Method, StatusCode};
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedServerName,
    api::federation::authentication::{XMatrix, XMatrixSigningInput},
};
use serde_json::{Value, json};

use super::{ScriptedPeer, room::random_string};
use crate::common::TestServer;

/// A request for [`ScriptedPeer::send_signed`].
pub(super) struct SignedRequest<'a> {
    pub destination: &'a str,
    pub address: SocketAddr,
    pub method: Method,
    pub path: &'a str,
    pub body: Vec<u8>,
}

impl ScriptedPeer {
    /// Sends a `/send` transaction to `destination`, signed by the peer.
    pub(crate) async fn send_transaction(
        &self,
        destination: &TestServer,
        pdus: Vec<Value>,
        edus: Vec<Value>,
    ) -> (StatusCode, Value) {
        let body = json!({
            "origin": self.server_name(),
            "origin_server_ts": MilliSecondsSinceUnixEpoch::now(),
            "pdus": pdus,
            "edus": edus,
        });
        let path = format!("/_matrix/federation/v1/send/peer{}", random_string(12));
        self.signed_request(destination, Method::PUT, &path, Some(&body))
            .await
    }

    /// A request to `destination`'s federation listener, signed by the peer; (status, body).
    pub(crate) async fn signed_request(
        &self,
        destination: &TestServer,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let address = destination.server().federation_addr.expect("federation");
        let signed = SignedRequest {
            destination: &destination.server_name(),
            address,
            method,
            path,
            body: body.map_or_else(Vec::new, |body| serde_json::to_vec(body).expect("json")),
        };
        self.send_signed(signed, |_| {}).await
    }

    /// Signs a request, lets `alter` change it (to send something else than was signed), and
    /// sends it.
    pub(super) async fn send_signed(
        &self,
        signed: SignedRequest<'_>,
        alter: impl FnOnce(&mut http::Request<Vec<u8>>),
    ) -> (StatusCode, Value) {
        let SignedRequest {
            destination,
            address,
            method,
            path,
            body,
        } = signed;
        let destination_name = OwnedServerName::try_from(destination).expect("server name");
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("https://{address}{path}"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .expect("request");
        let input = XMatrixSigningInput::new(
            self.inner.server_name.clone(),
            destination_name,
            &self.inner.key_pair,
        );
        let xmatrix = XMatrix::sign_http_request(&request, input).expect("signed");
        request.headers_mut().insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from(&xmatrix),
        );
        alter(&mut request);
        let response = self
            .inner
            .http
            .execute(reqwest::Request::try_from(request).expect("reqwest request"))
            .await
            .expect("sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}
