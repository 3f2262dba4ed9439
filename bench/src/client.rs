//! The few client-server calls the scenarios need, over plain HTTP.

use serde_json::{Value, json};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

fn check(status: reqwest::StatusCode, body: &Value, what: &str) -> Result<(), Error> {
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{what}: HTTP {status}: {body}").into())
    }
}

impl Client {
    /// Registers `localpart` through open registration (the `m.login.dummy` flow).
    pub async fn register(
        http: &reqwest::Client,
        base: &str,
        localpart: &str,
        password: &str,
    ) -> Result<Self, Error> {
        let body = json!({ "username": localpart, "password": password, "auth": { "type": "m.login.dummy" }, "inhibit_login": false });
        let response = http
            .post(format!("{base}/_matrix/client/v3/register"))
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let value: Value = response.json().await?;
        check(status, &value, "register")?;
        Ok(Self {
            http: http.clone(),
            base: base.to_owned(),
            token: value["access_token"]
                .as_str()
                .ok_or("no access_token")?
                .to_owned(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Error> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let value: Value = response.json().await?;
        check(status, &value, path)?;
        Ok(value)
    }

    pub async fn create_room(&self, public: bool) -> Result<String, Error> {
        let preset = if public {
            "public_chat"
        } else {
            "private_chat"
        };
        let value = self
            .call(
                reqwest::Method::POST,
                "/_matrix/client/v3/createRoom",
                Some(json!({ "preset": preset })),
            )
            .await?;
        Ok(value["room_id"].as_str().ok_or("no room_id")?.to_owned())
    }

    pub async fn join(&self, room_id: &str) -> Result<(), Error> {
        self.call(
            reqwest::Method::POST,
            &format!("/_matrix/client/v3/join/{}", encode(room_id)),
            Some(json!({})),
        )
        .await
        .map(|_| ())
    }

    pub async fn send_text(
        &self,
        room_id: &str,
        txn_id: &str,
        body: &str,
    ) -> Result<String, Error> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{txn_id}",
            encode(room_id)
        );
        let value = self
            .call(
                reqwest::Method::PUT,
                &path,
                Some(json!({ "msgtype": "m.text", "body": body })),
            )
            .await?;
        Ok(value["event_id"].as_str().ok_or("no event_id")?.to_owned())
    }

    /// One `/sync`, retried a few times on connection errors (a thousand simultaneous
    /// connections can overflow a listen backlog); returns the body and its size in bytes.
    pub async fn sync(
        &self,
        since: Option<&str>,
        timeout_ms: u64,
    ) -> Result<(Value, usize), Error> {
        let mut attempt = 0;
        loop {
            match self.sync_once(since, timeout_ms).await {
                Err(error)
                    if attempt < 3
                        && error
                            .downcast_ref::<reqwest::Error>()
                            .is_some_and(|error| error.is_connect() || error.is_request()) =>
                {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn sync_once(
        &self,
        since: Option<&str>,
        timeout_ms: u64,
    ) -> Result<(Value, usize), Error> {
        self.sync_with_query(since, timeout_ms, "").await
    }

    /// A `/sync` with extra query parameters (`&filter=…`).
    pub async fn sync_with_query(
        &self,
        since: Option<&str>,
        timeout_ms: u64,
        extra: &str,
    ) -> Result<(Value, usize), Error> {
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}{extra}");
        if let Some(since) = since {
            path.push_str(&format!("&since={}", encode(since)));
        }
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let value: Value = serde_json::from_slice(&bytes)?;
        check(status, &value, "sync")?;
        Ok((value, bytes.len()))
    }
}

impl Client {
    /// One simplified sliding sync request (MSC4186), and its size.
    pub async fn sliding_sync(
        &self,
        pos: Option<&str>,
        timeout_ms: u64,
        body: &Value,
    ) -> Result<(Value, usize), Error> {
        let mut path = format!(
            "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync?timeout={timeout_ms}"
        );
        if let Some(pos) = pos {
            path.push_str(&format!("&pos={}", encode(pos)));
        }
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let value: Value = serde_json::from_slice(&bytes)?;
        check(status, &value, "sliding sync")?;
        Ok((value, bytes.len()))
    }
}

/// Percent-encodes a path segment (room ids contain `!` and `:`).
pub fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Timeline events of `room_id` in a sync response.
pub fn timeline_events<'a>(sync: &'a Value, room_id: &str) -> impl Iterator<Item = &'a Value> {
    sync["rooms"]["join"][room_id]["timeline"]["events"]
        .as_array()
        .into_iter()
        .flatten()
}

impl Client {
    pub async fn joined_member_count(&self, room_id: &str) -> Result<usize, Error> {
        let value = self
            .call(
                reqwest::Method::GET,
                &format!(
                    "/_matrix/client/v3/rooms/{}/joined_members",
                    encode(room_id)
                ),
                None,
            )
            .await?;
        Ok(value["joined"].as_object().map_or(0, serde_json::Map::len))
    }
}
