//! User-interactive authentication: sessions kept in memory (they last minutes), stages
//! `m.login.dummy`, `m.login.password` and `m.login.registration_token`.

use std::{collections::HashMap, sync::Mutex};

use ruma::{OwnedUserId, UserId};
use serde_json::{Value as JsonValue, json};

use super::{Users, now_ms, random_string};
use crate::error::{Error, Result};

pub const STAGE_DUMMY: &str = "m.login.dummy";
pub const STAGE_PASSWORD: &str = "m.login.password";
pub const STAGE_REGISTRATION_TOKEN: &str = "m.login.registration_token";

/// One acceptable sequence of stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiaFlow {
    pub stages: Vec<&'static str>,
}

impl UiaFlow {
    pub fn single(stage: &'static str) -> Self {
        Self {
            stages: vec![stage],
        }
    }
}

/// A finished authentication.
#[derive(Debug, Clone, Default)]
pub struct UiaOutcome {
    /// The registration token that was presented, to be consumed by the registration.
    pub registration_token: Option<String>,
}

struct UiaSession {
    flows: Vec<UiaFlow>,
    completed: Vec<String>,
    user_id: Option<OwnedUserId>,
    registration_token: Option<String>,
    created_ms: u64,
}

pub(crate) struct UiaSessions {
    sessions: Mutex<HashMap<String, UiaSession>>,
    lifetime_ms: u64,
}

impl UiaSessions {
    pub(crate) fn new(lifetime_ms: u64) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            lifetime_ms,
        }
    }
}

fn info(session_id: &str, session: &UiaSession) -> JsonValue {
    json!({
        "flows": session.flows.iter().map(|flow| json!({ "stages": flow.stages })).collect::<Vec<_>>(),
        "params": {},
        "session": session_id,
        "completed": session.completed,
    })
}

fn password_stage_user(auth: &JsonValue) -> Option<&str> {
    match auth.get("identifier") {
        Some(identifier)
            if identifier.get("type").and_then(JsonValue::as_str) == Some("m.id.user") =>
        {
            identifier.get("user").and_then(JsonValue::as_str)
        }
        Some(_) => None,
        None => auth.get("user").and_then(JsonValue::as_str),
    }
}

impl Users {
    /// The UIA round of endpoints that only need the user to confirm their password (changing
    /// it, deleting devices, deactivating, login tokens, replacing cross-signing keys).
    pub async fn confirm_password(&self, user_id: &UserId, auth: Option<&JsonValue>) -> Result<()> {
        self.user_interactive_auth(vec![UiaFlow::single(STAGE_PASSWORD)], auth, Some(user_id))
            .await
            .map(|_| ())
    }

    /// Runs one round of user-interactive authentication. `auth` is the request's `auth` object,
    /// `user_id` the account being acted on (for `m.login.password`). Returns `Error::Uia` until
    /// one flow is complete.
    pub async fn user_interactive_auth(
        &self,
        flows: Vec<UiaFlow>,
        auth: Option<&JsonValue>,
        user_id: Option<&UserId>,
    ) -> Result<UiaOutcome> {
        let sessions = &self.inner.uia;
        let now = now_ms();
        let session_id = auth
            .and_then(|auth| auth.get("session"))
            .and_then(JsonValue::as_str)
            .map(str::to_owned);
        let session_id = {
            let mut map = sessions
                .sessions
                .lock()
                .map_err(|_| Error::Internal("uia lock poisoned".into()))?;
            map.retain(|_, session| now.saturating_sub(session.created_ms) < sessions.lifetime_ms);
            match session_id {
                Some(id) => match map.get(&id) {
                    Some(existing) if existing.user_id.as_deref() != user_id => {
                        return Err(Error::Forbidden(
                            "This session belongs to another user".into(),
                        ));
                    }
                    Some(_) => id,
                    None => {
                        return Err(Error::InvalidParam(
                            "Unknown user-interactive authentication session".into(),
                        ));
                    }
                },
                None => {
                    let id = random_string(24);
                    let session = UiaSession {
                        flows,
                        completed: Vec::new(),
                        user_id: user_id.map(ToOwned::to_owned),
                        registration_token: None,
                        created_ms: now,
                    };
                    map.insert(id.clone(), session);
                    id
                }
            }
        };
        // Authenticating as someone else is no failed stage to retry but a refusal: 403, as
        // Synapse answers [Complement TestDeviceManagement].
        if let (Some(auth), Some(user_id)) = (auth, user_id)
            && auth.get("type").and_then(JsonValue::as_str) == Some(STAGE_PASSWORD)
            && let Some(given) = password_stage_user(auth)
            && given != user_id.as_str()
            && given != user_id.localpart()
        {
            return Err(Error::Forbidden(
                "You may only authenticate as yourself".into(),
            ));
        }
        let stage_error = match auth {
            Some(auth) => self.attempt_stage(&session_id, auth, user_id).await.err(),
            None => None,
        };
        let mut map = sessions
            .sessions
            .lock()
            .map_err(|_| Error::Internal("uia lock poisoned".into()))?;
        let session = map
            .get(&session_id)
            .ok_or_else(|| Error::InvalidParam("Session expired".into()))?;
        let done = session.flows.iter().any(|flow| {
            flow.stages
                .iter()
                .all(|stage| session.completed.iter().any(|done| done == stage))
        });
        if done && stage_error.is_none() {
            let session = map
                .remove(&session_id)
                .expect("the session was just looked up under the same lock");
            return Ok(UiaOutcome {
                registration_token: session.registration_token,
            });
        }
        Err(Error::Uia {
            info: info(&session_id, session),
            stage_error: stage_error.map(Box::new),
        })
    }

    async fn attempt_stage(
        &self,
        session_id: &str,
        auth: &JsonValue,
        user_id: Option<&UserId>,
    ) -> Result<()> {
        let stage = auth
            .get("type")
            .and_then(JsonValue::as_str)
            .ok_or_else(|| Error::BadJson("auth.type is missing".into()))?;
        let allowed = {
            let map = self
                .inner
                .uia
                .sessions
                .lock()
                .map_err(|_| Error::Internal("uia lock poisoned".into()))?;
            map.get(session_id).is_some_and(|session| {
                session
                    .flows
                    .iter()
                    .any(|flow| flow.stages.contains(&stage))
            })
        };
        if !allowed {
            return Err(Error::BadJson(format!("Stage {stage} is not offered here")));
        }
        let mut token = None;
        match stage {
            STAGE_DUMMY => {}
            STAGE_PASSWORD => {
                let user_id = user_id.ok_or_else(|| {
                    Error::Forbidden("No account to check a password against".into())
                })?;
                let given = password_stage_user(auth)
                    .ok_or_else(|| Error::BadJson("auth.identifier is missing".into()))?;
                let matches_account = given == user_id.as_str() || given == user_id.localpart();
                let password = auth
                    .get("password")
                    .and_then(JsonValue::as_str)
                    .unwrap_or_default();
                if !matches_account {
                    return Err(Error::Forbidden("Invalid username or password".into()));
                }
                self.verify_password(user_id, password).await?;
            }
            STAGE_REGISTRATION_TOKEN => {
                let given = auth
                    .get("token")
                    .and_then(JsonValue::as_str)
                    .unwrap_or_default();
                if !self.registration_token_valid(given)? {
                    return Err(Error::Unauthorized("Invalid registration token".into()));
                }
                token = Some(given.to_owned());
            }
            _ => return Err(Error::BadJson(format!("Unknown stage {stage}"))),
        }
        let mut map = self
            .inner
            .uia
            .sessions
            .lock()
            .map_err(|_| Error::Internal("uia lock poisoned".into()))?;
        if let Some(session) = map.get_mut(session_id) {
            if !session.completed.iter().any(|done| done == stage) {
                session.completed.push(stage.to_owned());
            }
            if token.is_some() {
                session.registration_token = token;
            }
        }
        Ok(())
    }
}
