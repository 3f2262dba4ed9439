//! Login sessions: issuing, checking, refreshing and revoking access tokens, and the short-lived
//! `m.login.token` tokens.

use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

use super::{
    Identity, Users,
    devices::{
        DeviceRecord, REFRESHDIGEST_SESSION, TOKENDIGEST_SESSION, USERDEVICEID_DEVICE, device_key,
    },
    encode_digest, now_ms, random_string, secret_digest,
};
use crate::{
    error::{Error, Result},
    storage::WriteBatch,
};

const LOGINDIGEST_USER: &str = "logindigest_user";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionRecord {
    user_id: OwnedUserId,
    device_id: OwnedDeviceId,
    /// Set only for tokens issued with a refresh token.
    expires_at_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoginTokenRecord {
    user_id: OwnedUserId,
    expires_at_ms: u64,
}

/// What a login or registration asks for.
#[derive(Debug, Clone)]
pub struct SessionRequest {
    pub user_id: OwnedUserId,
    pub device_id: Option<OwnedDeviceId>,
    pub initial_display_name: Option<String>,
    pub refreshable: bool,
    /// When the access token stops working (an administrator's login as a user), for tokens
    /// that are not refreshable.
    pub valid_until_ms: Option<u64>,
    /// Where the login came from: a new device counts as seen there and then (some clients,
    /// matrix-nio among them, require `last_seen_ts` on every device).
    pub client_ip: String,
}

/// What a login or registration hands back.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in_ms: Option<u64>,
}

fn new_secret(prefix: &str) -> String {
    format!("{prefix}_{}", random_string(40))
}

impl Users {
    /// Creates a device (or takes over the one named) with fresh tokens.
    #[tracing::instrument(skip_all, fields(user_id = %request.user_id))]
    pub async fn open_session(&self, request: SessionRequest) -> Result<IssuedSession> {
        let device_id = request
            .device_id
            .unwrap_or_else(|| random_string(10).to_uppercase().into());
        let access_token = new_secret("myl");
        let refresh_token = request.refreshable.then(|| new_secret("mylr"));
        let expires_in_ms = if request.refreshable {
            Some(self.config().auth.refreshable_access_token_lifetime_ms)
        } else {
            request
                .valid_until_ms
                .map(|until| until.saturating_sub(now_ms()))
        };

        let _guard = self.inner.write_lock.lock().await;
        if self
            .account(&request.user_id)?
            .is_none_or(|account| account.deactivated)
        {
            return Err(Error::UserDeactivated);
        }
        let mut batch = WriteBatch::new();
        let previous = self.device_record(&request.user_id, &device_id)?;
        if previous.is_some() {
            // Logging in again with an existing device id replaces its tokens, as in Synapse.
            self.remove_device_into(&mut batch, &request.user_id, &device_id)?;
        }
        let record = DeviceRecord {
            display_name: previous
                .as_ref()
                .and_then(|old| old.display_name.clone())
                .or(request.initial_display_name),
            created_ts: previous.as_ref().map_or_else(now_ms, |old| old.created_ts),
            last_seen_ip: Some(request.client_ip),
            last_seen_ts: Some(now_ms()),
            last_seen_user_agent: previous
                .as_ref()
                .and_then(|old| old.last_seen_user_agent.clone()),
            access_token_digest: encode_digest(&secret_digest(&access_token)),
            refresh_token_digest: refresh_token
                .as_deref()
                .map(|token| encode_digest(&secret_digest(token))),
        };
        self.put_session_into(
            &mut batch,
            &request.user_id,
            &device_id,
            &record,
            expires_in_ms,
        );
        self.store().commit(batch).await?;
        Ok(IssuedSession {
            user_id: request.user_id,
            device_id,
            access_token,
            refresh_token,
            expires_in_ms,
        })
    }

    fn put_session_into(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
        record: &DeviceRecord,
        expires_in_ms: Option<u64>,
    ) {
        let session = SessionRecord {
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            expires_at_ms: expires_in_ms.map(|lifetime| now_ms() + lifetime),
        };
        batch.put_json(
            TOKENDIGEST_SESSION,
            record.access_token_digest.clone().into_bytes(),
            &session,
        );
        if let Some(refresh) = &record.refresh_token_digest {
            batch.put_json(
                REFRESHDIGEST_SESSION,
                refresh.clone().into_bytes(),
                &session,
            );
        }
        batch.put_json(USERDEVICEID_DEVICE, device_key(user_id, device_id), record);
    }

    /// Resolves an access token. An expired refreshable token answers `soft_logout: true` so the
    /// client refreshes instead of logging the user out.
    pub fn authenticate(&self, access_token: &str) -> Result<Identity> {
        let digest = encode_digest(&secret_digest(access_token));
        let Some(session) = self
            .store()
            .get_json::<SessionRecord>(TOKENDIGEST_SESSION, digest.as_bytes())?
        else {
            return Err(Error::UnknownToken { soft_logout: false });
        };
        if session
            .expires_at_ms
            .is_some_and(|expiry| expiry <= now_ms())
        {
            return Err(Error::UnknownToken { soft_logout: true });
        }
        Ok(Identity {
            user_id: session.user_id,
            device_id: session.device_id,
            appservice_id: None,
        })
    }

    /// Swaps a refresh token for a new access and refresh token; the old pair stops working.
    pub async fn refresh_session(&self, refresh_token: &str) -> Result<IssuedSession> {
        let digest = encode_digest(&secret_digest(refresh_token));
        let _guard = self.inner.write_lock.lock().await;
        let Some(session) = self
            .store()
            .get_json::<SessionRecord>(REFRESHDIGEST_SESSION, digest.as_bytes())?
        else {
            return Err(Error::UnknownToken { soft_logout: false });
        };
        let Some(mut record) = self.device_record(&session.user_id, &session.device_id)? else {
            return Err(Error::UnknownToken { soft_logout: false });
        };
        let access_token = new_secret("myl");
        let new_refresh = new_secret("mylr");
        let lifetime = self.config().auth.refreshable_access_token_lifetime_ms;
        let mut batch = WriteBatch::new();
        batch.delete(
            TOKENDIGEST_SESSION,
            record.access_token_digest.clone().into_bytes(),
        );
        batch.delete(REFRESHDIGEST_SESSION, digest.into_bytes());
        record.access_token_digest = encode_digest(&secret_digest(&access_token));
        record.refresh_token_digest = Some(encode_digest(&secret_digest(&new_refresh)));
        self.put_session_into(
            &mut batch,
            &session.user_id,
            &session.device_id,
            &record,
            Some(lifetime),
        );
        self.store().commit(batch).await?;
        Ok(IssuedSession {
            user_id: session.user_id,
            device_id: session.device_id,
            access_token,
            refresh_token: Some(new_refresh),
            expires_in_ms: Some(lifetime),
        })
    }

    /// `POST /logout`: the device and its tokens are gone.
    pub async fn logout(&self, identity: &Identity) -> Result<()> {
        self.delete_devices(&identity.user_id, std::slice::from_ref(&identity.device_id))
            .await
    }

    /// `POST /logout/all`.
    pub async fn logout_all(&self, user_id: &UserId) -> Result<()> {
        let device_ids: Vec<_> = self
            .devices(user_id)?
            .into_iter()
            .map(|device| device.device_id)
            .collect();
        self.delete_devices(user_id, &device_ids).await
    }

    /// A single-use `m.login.token` for `user_id`; returns the token and its lifetime.
    pub async fn create_login_token(&self, user_id: &UserId) -> Result<(String, u64)> {
        let token = new_secret("myll");
        let lifetime = self.config().auth.login_token_lifetime_ms;
        let mut batch = WriteBatch::new();
        let record = LoginTokenRecord {
            user_id: user_id.to_owned(),
            expires_at_ms: now_ms() + lifetime,
        };
        batch.put_json(
            LOGINDIGEST_USER,
            encode_digest(&secret_digest(&token)).into_bytes(),
            &record,
        );
        self.store().commit(batch).await?;
        Ok((token, lifetime))
    }

    /// Redeems an `m.login.token`; it works once.
    pub async fn consume_login_token(&self, token: &str) -> Result<OwnedUserId> {
        let key = encode_digest(&secret_digest(token)).into_bytes();
        let _guard = self.inner.write_lock.lock().await;
        let record = self
            .store()
            .get_json::<LoginTokenRecord>(LOGINDIGEST_USER, &key)?;
        let mut batch = WriteBatch::new();
        batch.delete(LOGINDIGEST_USER, key);
        self.store().commit(batch).await?;
        match record {
            Some(record) if record.expires_at_ms > now_ms() => Ok(record.user_id),
            _ => Err(Error::Forbidden("Invalid login token".into())),
        }
    }
}
