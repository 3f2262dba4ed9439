//! The CLI's way to a running server. The server holds the store's lock while it runs, so the
//! account, registration-token, report and media commands go through its admin API (Synapse's, on the
//! client listener) instead: with an administrator's access token (`--admin-token` or
//! `MYELIN_ADMIN_TOKEN`), or, for `user create`, with the configured
//! `registration_shared_secret` as Synapse's `register_new_matrix_user` does.

use myelin_core::config::Config;
use reqwest::Method;
use serde_json::{Value as JsonValue, json};

use crate::failure::Failure;

pub struct AdminClient {
    base: String,
    token: Option<String>,
    shared_secret: Option<String>,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client of the server `config` describes, on its client listener (loopback when it
    /// listens on every address).
    pub fn new(config: &Config, token: Option<String>) -> Self {
        let bind = config.client.bind;
        let host = if bind.ip().is_unspecified() {
            format!("127.0.0.1:{}", bind.port())
        } else {
            bind.to_string()
        };
        // reqwest is built without a default TLS backend in this workspace.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            base: format!("http://{host}"),
            token,
            shared_secret: config.registration.registration_shared_secret.clone(),
            http: reqwest::Client::new(),
        }
    }

    /// Whether this client can do anything at all.
    pub fn usable(&self) -> bool {
        self.token.is_some() || self.shared_secret.is_some()
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<JsonValue>,
    ) -> Result<JsonValue, Failure> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|error| {
            Failure::Other(format!("cannot reach the server at {}: {error}", self.base))
        })?;
        let status = response.status();
        let answer: JsonValue = response.json().await.unwrap_or_default();
        if status.is_success() {
            Ok(answer)
        } else {
            Err(Failure::Other(format!(
                "the server refused: {} {}",
                answer["errcode"].as_str().unwrap_or(status.as_str()),
                answer["error"].as_str().unwrap_or_default()
            )))
        }
    }

    fn require_token(&self) -> Result<(), Failure> {
        if self.token.is_none() {
            return Err(Failure::Other(
                "the server is running: give an administrator's access token with --admin-token \
                 or MYELIN_ADMIN_TOKEN"
                    .into(),
            ));
        }
        Ok(())
    }

    pub async fn create_user(
        &self,
        user_id: &str,
        password: &str,
        admin: bool,
    ) -> Result<(), Failure> {
        if self.token.is_some() {
            let path = format!("/_synapse/admin/v2/users/{user_id}");
            if self.call(Method::GET, &path, None).await.is_ok() {
                return Err(Failure::Other(format!("{user_id} already exists")));
            }
            self.call(
                Method::PUT,
                &path,
                Some(json!({ "password": password, "admin": admin })),
            )
            .await?;
            return Ok(());
        }
        let Some(secret) = &self.shared_secret else {
            return self.require_token();
        };
        let nonce = self
            .call(Method::GET, "/_synapse/admin/v1/register", None)
            .await?;
        let nonce = nonce["nonce"].as_str().unwrap_or_default().to_owned();
        let localpart = user_id
            .trim_start_matches('@')
            .split(':')
            .next()
            .unwrap_or_default();
        let mac = synapse_admin_api::register_users::shared_secret_register::v1::hmac(
            secret, &nonce, localpart, password, admin,
        )
        .map_err(|error| Failure::Other(error.to_string()))?;
        self.call(
            Method::POST,
            "/_synapse/admin/v1/register",
            Some(
                json!({ "nonce": nonce, "username": localpart, "password": password,
                         "admin": admin, "mac": mac }),
            ),
        )
        .await?;
        Ok(())
    }

    /// Every account with its state: `admin`, `active` or `deactivated`.
    pub async fn list_users(&self) -> Result<Vec<(String, &'static str)>, Failure> {
        self.require_token()?;
        let mut users = Vec::new();
        let mut from = 0;
        loop {
            let page = self
                .call(
                    Method::GET,
                    &format!("/_synapse/admin/v3/users?from={from}&limit=1000"),
                    None,
                )
                .await?;
            for user in page["users"].as_array().into_iter().flatten() {
                let state = if user["deactivated"] == true {
                    "deactivated"
                } else if user["admin"] == true {
                    "admin"
                } else {
                    "active"
                };
                users.push((user["name"].as_str().unwrap_or_default().to_owned(), state));
            }
            match page["next_token"]
                .as_str()
                .and_then(|next| next.parse().ok())
            {
                Some(next) => from = next,
                None => return Ok(users),
            }
        }
    }

    pub async fn deactivate(&self, user_id: &str) -> Result<(), Failure> {
        self.require_token()?;
        self.call(
            Method::POST,
            &format!("/_synapse/admin/v1/deactivate/{user_id}"),
            Some(json!({})),
        )
        .await
        .map(|_| ())
    }

    pub async fn reset_password(&self, user_id: &str, password: &str) -> Result<(), Failure> {
        self.require_token()?;
        self.call(
            Method::POST,
            &format!("/_synapse/admin/v1/reset_password/{user_id}"),
            Some(json!({ "new_password": password, "logout_devices": true })),
        )
        .await
        .map(|_| ())
    }

    pub async fn create_token(
        &self,
        uses: Option<u32>,
        expiry_ms: Option<u64>,
    ) -> Result<String, Failure> {
        self.require_token()?;
        let made = self
            .call(
                Method::POST,
                "/_synapse/admin/v1/registration_tokens/new",
                Some(json!({ "uses_allowed": uses, "expiry_time": expiry_ms, "length": 24 })),
            )
            .await?;
        Ok(made["token"].as_str().unwrap_or_default().to_owned())
    }

    /// Tokens as `(token, completed, uses_allowed, expiry_time)`.
    pub async fn list_tokens(
        &self,
    ) -> Result<Vec<(String, u64, Option<u64>, Option<u64>)>, Failure> {
        self.require_token()?;
        let listing = self
            .call(Method::GET, "/_synapse/admin/v1/registration_tokens", None)
            .await?;
        Ok(listing["registration_tokens"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|token| {
                (
                    token["token"].as_str().unwrap_or_default().to_owned(),
                    token["completed"].as_u64().unwrap_or(0),
                    token["uses_allowed"].as_u64(),
                    token["expiry_time"].as_u64(),
                )
            })
            .collect())
    }

    pub async fn delete_token(&self, token: &str) -> Result<(), Failure> {
        self.require_token()?;
        self.call(
            Method::DELETE,
            &format!("/_synapse/admin/v1/registration_tokens/{token}"),
            None,
        )
        .await
        .map(|_| ())
    }

    /// Reports of events, then of rooms, then of users, each oldest first.
    pub async fn reports(&self) -> Result<Vec<JsonValue>, Failure> {
        self.require_token()?;
        let mut reports = Vec::new();
        for (path, key) in [
            ("event_reports", "event_reports"),
            ("room_reports", "room_reports"),
            ("user_reports", "user_reports"),
        ] {
            let listing = self
                .call(
                    Method::GET,
                    &format!("/_synapse/admin/v1/{path}?dir=f&limit=100000"),
                    None,
                )
                .await?;
            reports.extend(listing[key].as_array().cloned().unwrap_or_default());
        }
        Ok(reports)
    }

    /// Deletes cached remote media and local media not accessed since the times given;
    /// answers how many of each went.
    pub async fn purge_media(
        &self,
        remote_before: Option<u64>,
        local_before: Option<u64>,
    ) -> Result<(u64, u64), Failure> {
        self.require_token()?;
        let mut local = 0;
        let mut remote = 0;
        if let Some(before) = local_before {
            let answer = self
                .call(
                    Method::POST,
                    &format!("/_synapse/admin/v1/media/delete?before_ts={before}"),
                    Some(json!({})),
                )
                .await?;
            local = answer["total"].as_u64().unwrap_or(0);
        }
        if let Some(before) = remote_before {
            let answer = self
                .call(
                    Method::POST,
                    &format!("/_synapse/admin/v1/purge_media_cache?before_ts={before}"),
                    Some(json!({})),
                )
                .await?;
            remote = answer["deleted"].as_u64().unwrap_or(0);
        }
        Ok((local, remote))
    }
}
