//! Profiles: `displayname`, `avatar_url` and custom fields, one JSON object per user.

use ruma::UserId;
use serde_json::{Map, Value as JsonValue};

use super::Users;
use crate::{
    error::{Error, Result},
    storage::WriteBatch,
};

pub(crate) const USERID_PROFILE: &str = "userid_profile";

/// The spec caps a whole profile at 64 KiB and a field name at 255 bytes.
const MAX_PROFILE_BYTES: usize = 64 * 1024;
const MAX_FIELD_NAME_BYTES: usize = 255;
/// Synapse's `MAX_AVATAR_URL_LEN`.
const MAX_AVATAR_URL_BYTES: usize = 1000;

impl Users {
    /// The whole profile of a local user; `NotFound` for users that do not exist.
    pub fn profile(&self, user_id: &UserId) -> Result<Map<String, JsonValue>> {
        if self.account(user_id)?.is_none() {
            return Err(Error::NotFound("Profile was not found".into()));
        }
        Ok(self
            .store()
            .get_json(USERID_PROFILE, user_id.as_bytes())?
            .unwrap_or_default())
    }

    pub fn profile_field(&self, user_id: &UserId, field: &str) -> Result<JsonValue> {
        self.profile(user_id)?
            .remove(field)
            .ok_or_else(|| Error::NotFound("Profile field was not found".into()))
    }

    /// Sets (`Some`) or removes (`None`) one field of the user's own profile.
    #[tracing::instrument(skip_all, fields(%user_id, field))]
    pub async fn set_profile_field(
        &self,
        user_id: &UserId,
        field: &str,
        value: Option<JsonValue>,
    ) -> Result<()> {
        if field.len() > MAX_FIELD_NAME_BYTES {
            return Err(Error::KeyTooLarge(
                "Profile field names may be at most 255 bytes".into(),
            ));
        }
        match (field, &value) {
            ("displayname", Some(JsonValue::String(name))) if name.chars().count() > 256 => {
                return Err(Error::InvalidParam(
                    "displayname may be at most 256 characters".into(),
                ));
            }
            ("displayname" | "avatar_url", Some(value)) if !value.is_string() => {
                return Err(Error::BadJson(format!("{field} must be a string")));
            }
            // Any string, as Synapse (Complement TestAvatarUrlUpdate sets a non-mxc URL), up
            // to Synapse's length limit.
            ("avatar_url", Some(JsonValue::String(url))) if url.len() > MAX_AVATAR_URL_BYTES => {
                return Err(Error::InvalidParam(format!(
                    "avatar_url may be at most {MAX_AVATAR_URL_BYTES} bytes"
                )));
            }
            _ => {}
        }
        let _guard = self.inner.write_lock.lock().await;
        let mut profile = self.profile(user_id)?;
        match value {
            Some(value) => profile.insert(field.to_owned(), value),
            None => profile.remove(field),
        };
        let encoded =
            serde_json::to_vec(&profile).map_err(|error| Error::Internal(error.to_string()))?;
        if encoded.len() > MAX_PROFILE_BYTES {
            return Err(Error::ProfileTooLarge(
                "The profile would exceed 64 KiB".into(),
            ));
        }
        let mut batch = WriteBatch::new();
        batch.put(USERID_PROFILE, user_id.as_bytes().to_vec(), encoded);
        self.store().commit(batch).await
    }
}
