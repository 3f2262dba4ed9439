//! OpenID tokens (`/user/{userId}/openid/request_token`): short-lived proofs of identity a user
//! hands to a third party (widgets, Element Call's token service), which asks this server who
//! the token belongs to (`/_matrix/federation/v1/openid/userinfo`). Stored as digests, like
//! every other secret.

use ruma::{OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

use super::{Users, now_ms, random_string, secret_digest};
use crate::{error::Result, storage::WriteBatch};

const OPENIDTOKEN_USER: &str = "openidtoken_user";
/// Synapse's lifetime for these tokens: one hour.
pub const OPENID_TOKEN_LIFETIME_MS: u64 = 3_600_000;

#[derive(Serialize, Deserialize)]
struct OpenIdRecord {
    user_id: OwnedUserId,
    expires_ms: u64,
}

impl Users {
    /// A new OpenID token for `user_id`, valid for [`OPENID_TOKEN_LIFETIME_MS`].
    pub async fn issue_openid_token(&self, user_id: &UserId) -> Result<String> {
        let token = random_string(32);
        let record = OpenIdRecord {
            user_id: user_id.to_owned(),
            expires_ms: now_ms() + OPENID_TOKEN_LIFETIME_MS,
        };
        let mut batch = WriteBatch::new();
        batch.put_json(OPENIDTOKEN_USER, secret_digest(&token), &record);
        // Expired tokens go as new ones are made, so the table stays small.
        let now = now_ms();
        for (key, value) in self
            .store()
            .scan_prefix(OPENIDTOKEN_USER, b"", usize::MAX)?
        {
            if serde_json::from_slice::<OpenIdRecord>(&value)
                .is_ok_and(|record| record.expires_ms <= now)
            {
                batch.delete(OPENIDTOKEN_USER, key);
            }
        }
        self.store().commit(batch).await?;
        Ok(token)
    }

    /// Whose the token is, while it has not expired.
    pub fn openid_user(&self, token: &str) -> Result<Option<OwnedUserId>> {
        let record: Option<OpenIdRecord> = self
            .store()
            .get_json(OPENIDTOKEN_USER, &secret_digest(token))?;
        Ok(record
            .filter(|record| record.expires_ms > now_ms())
            .map(|record| record.user_id))
    }
}
