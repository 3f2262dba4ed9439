//! Cross-signing: a user's master, self-signing and user-signing keys, and the signatures
//! users upload on their own devices, their own master key and other users' master keys.
//! Every uploaded key and signature is verified before it is kept; the server never signs.
//!
//! Visibility follows the spec: master and self-signing keys and a user's signatures on their
//! own keys are public; the user-signing key, and signatures made with it on other users'
//! master keys, are shown only to their owner.

use std::collections::BTreeMap;

use ruma::{CanonicalJsonObject, DeviceId, OwnedUserId, UserId, serde::Base64};
use serde_json::{Value as JsonValue, json};

use super::Users;
use crate::{
    error::{Error, Result},
    storage::{WriteBatch, compound_key, split_key},
    stream::StreamItem,
};

/// `(user, usage)` → the key (usage is `master`, `self_signing` or `user_signing`).
const USERUSAGE_CROSSSIGNINGKEY: &str = "userusage_crosssigningkey";
/// `(target user, target key, signer user, signer key id)` → signature. The target key is a
/// device id for device keys, the public key for master keys.
const TARGETSIGNER_SIGNATURE: &str = "targetkeysigner_signature";
/// User → until when (milliseconds) their cross-signing keys may be replaced without
/// user-interactive authentication (an administrator's grant).
const USERID_XSIGNINGREPLACEABLEUNTIL: &str = "userid_xsigningreplaceableuntil";

/// The three kinds of cross-signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsage {
    Master,
    SelfSigning,
    UserSigning,
}

impl KeyUsage {
    fn as_str(self) -> &'static str {
        match self {
            KeyUsage::Master => "master",
            KeyUsage::SelfSigning => "self_signing",
            KeyUsage::UserSigning => "user_signing",
        }
    }
}

/// The cross-signing keys a client uploads in one request.
#[derive(Debug, Default)]
pub struct CrossSigningUpload {
    pub master: Option<JsonValue>,
    pub self_signing: Option<JsonValue>,
    pub user_signing: Option<JsonValue>,
}

/// The single `ed25519:<public key>` entry of a cross-signing key: (key id, public key).
fn single_key(key: &JsonValue) -> Result<(String, String)> {
    let keys = key
        .get("keys")
        .and_then(JsonValue::as_object)
        .filter(|keys| keys.len() == 1)
        .ok_or_else(|| Error::InvalidParam("A cross-signing key holds exactly one key".into()))?;
    let (key_id, public) = keys.iter().next().expect("checked: one entry");
    let public = public
        .as_str()
        .ok_or_else(|| Error::InvalidParam("Keys are strings".into()))?;
    if key_id.strip_prefix("ed25519:") != Some(public) {
        return Err(Error::InvalidParam(format!(
            "Key id {key_id} must be ed25519:<public key>"
        )));
    }
    Base64::<ruma::serde::base64::Standard>::parse(public)
        .ok()
        .filter(|bytes| bytes.as_bytes().len() == 32)
        .ok_or_else(|| Error::InvalidParam("Not an ed25519 public key".into()))?;
    Ok((key_id.clone(), public.to_owned()))
}

/// The public key of a well-formed cross-signing key (its single `ed25519:<key>` entry).
pub fn cross_signing_public_key(key: &JsonValue) -> Option<String> {
    single_key(key).ok().map(|(_, public)| public)
}

/// Checks the shape of an uploaded cross-signing key.
fn check_key(user_id: &UserId, key: &JsonValue, usage: KeyUsage) -> Result<(String, String)> {
    if key.get("user_id").and_then(JsonValue::as_str) != Some(user_id.as_str()) {
        return Err(Error::InvalidParam(format!(
            "The {} key must name {user_id}",
            usage.as_str()
        )));
    }
    let usages = key.get("usage").and_then(JsonValue::as_array);
    if !usages.is_some_and(|usages| usages.iter().any(|u| u.as_str() == Some(usage.as_str()))) {
        return Err(Error::InvalidParam(format!(
            "The {} key must have usage {}",
            usage.as_str(),
            usage.as_str()
        )));
    }
    single_key(key)
}

/// Verifies that `object` carries a valid signature of `signer` with `key_id`, whose public
/// key is `public_key` (unpadded base64). Other signatures on the object are ignored.
pub(crate) fn verify_signature(
    object: &JsonValue,
    signer: &str,
    key_id: &str,
    public_key: &str,
) -> Result<()> {
    let signature = object
        .get("signatures")
        .and_then(|signatures| signatures.get(signer))
        .and_then(|by_signer| by_signer.get(key_id))
        .cloned()
        .ok_or_else(|| Error::InvalidSignature(format!("No signature by {key_id} of {signer}")))?;
    let mut only_that = object.clone();
    only_that["signatures"] = json!({ signer: { key_id: signature } });
    let canonical: CanonicalJsonObject = serde_json::from_value(only_that)
        .map_err(|error| Error::BadJson(format!("Not canonical JSON: {error}")))?;
    let public = Base64::parse(public_key)
        .map_err(|_| Error::InvalidParam(format!("Bad public key {key_id}")))?;
    let map = ruma::signatures::PublicKeyMap::from([(
        signer.to_owned(),
        BTreeMap::from([(key_id.to_owned(), public)]),
    )]);
    ruma::signatures::verify_json(&map, &canonical)
        .map_err(|error| Error::InvalidSignature(format!("Bad signature by {key_id}: {error}")))
}

/// The object without `signatures` and `unsigned`: what a signature covers, for comparing an
/// uploaded copy with the stored one.
fn signed_part(object: &JsonValue) -> JsonValue {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("signatures");
        map.remove("unsigned");
    }
    copy
}

impl Users {
    /// A user's stored cross-signing key of `usage`, without added signatures.
    fn stored_cross_signing_key(
        &self,
        user_id: &UserId,
        usage: KeyUsage,
    ) -> Result<Option<JsonValue>> {
        self.store().get_json(
            USERUSAGE_CROSSSIGNINGKEY,
            &compound_key(&[user_id.as_bytes(), usage.as_str().as_bytes()]),
        )
    }

    /// Whether uploading `upload` must pass user-interactive authentication: replacing an
    /// existing master key does; the first upload and re-uploading the same keys do not (spec
    /// v1.11, MSC3967; Synapse behaves the same).
    pub fn cross_signing_upload_needs_auth(
        &self,
        user_id: &UserId,
        upload: &CrossSigningUpload,
    ) -> Result<bool> {
        let Some(stored_master) = self.stored_cross_signing_key(user_id, KeyUsage::Master)? else {
            return Ok(false);
        };
        if self
            .cross_signing_replaceable_until(user_id)?
            .is_some_and(|until| crate::clock::now_ms() < until)
        {
            return Ok(false);
        }
        let same = |usage: KeyUsage, uploaded: &Option<JsonValue>| -> Result<bool> {
            Ok(match uploaded {
                None => true,
                Some(key) => self
                    .stored_cross_signing_key(user_id, usage)?
                    .is_some_and(|stored| signed_part(&stored) == signed_part(key)),
            })
        };
        let master_same = upload
            .master
            .as_ref()
            .is_none_or(|master| signed_part(master) == signed_part(&stored_master));
        Ok(!(master_same
            && same(KeyUsage::SelfSigning, &upload.self_signing)?
            && same(KeyUsage::UserSigning, &upload.user_signing)?))
    }

    /// Stores a user's cross-signing keys after checking their shape and that the
    /// self-signing and user-signing keys are signed by the (new or stored) master key.
    pub async fn upload_cross_signing_keys(
        &self,
        user_id: &UserId,
        upload: CrossSigningUpload,
    ) -> Result<()> {
        let _guard = self.inner.write_lock.lock().await;
        let master = match &upload.master {
            Some(master) => Some(master.clone()),
            None => self.stored_cross_signing_key(user_id, KeyUsage::Master)?,
        };
        let mut batch = WriteBatch::new();
        let mut keys = Vec::new();
        if let Some(key) = &upload.master {
            check_key(user_id, key, KeyUsage::Master)?;
            keys.push((KeyUsage::Master, key));
        }
        for (usage, key) in [
            (KeyUsage::SelfSigning, &upload.self_signing),
            (KeyUsage::UserSigning, &upload.user_signing),
        ] {
            let Some(key) = key else { continue };
            check_key(user_id, key, usage)?;
            let Some(master) = &master else {
                return Err(Error::InvalidParam(format!(
                    "The {} key needs a master key to sign it",
                    usage.as_str()
                )));
            };
            let (master_id, master_public) = single_key(master)?;
            verify_signature(key, user_id.as_str(), &master_id, &master_public)?;
            keys.push((usage, key));
        }
        if keys.is_empty() {
            return Ok(());
        }
        for (usage, key) in keys {
            batch.put_json(
                USERUSAGE_CROSSSIGNINGKEY,
                compound_key(&[user_id.as_bytes(), usage.as_str().as_bytes()]),
                key,
            );
        }
        let pending = self.inner.notifier.next();
        pending.record(
            &mut batch,
            &StreamItem::SigningKeys {
                user_id: user_id.to_owned(),
            },
        );
        self.store().commit(batch).await
    }

    /// A user's cross-signing key of `usage` as `viewer` may see it, with the signatures
    /// uploaded for it (`None` when the user has none, or it is the user-signing key of someone
    /// else).
    pub fn cross_signing_key(
        &self,
        user_id: &UserId,
        usage: KeyUsage,
        viewer: Option<&UserId>,
    ) -> Result<Option<JsonValue>> {
        if usage == KeyUsage::UserSigning && viewer != Some(user_id) {
            return Ok(None);
        }
        let Some(mut key) = self.stored_cross_signing_key(user_id, usage)? else {
            return Ok(None);
        };
        if usage == KeyUsage::Master {
            let (_, public) = single_key(&key)?;
            self.add_signatures(&mut key, user_id, &public, viewer)?;
        }
        Ok(Some(key))
    }

    /// Adds the kept signatures on `(target_user, target_key)` to `object`: the owner's own,
    /// and those of `viewer`.
    pub fn add_signatures(
        &self,
        object: &mut JsonValue,
        target_user: &UserId,
        target_key: &str,
        viewer: Option<&UserId>,
    ) -> Result<()> {
        let prefix = compound_key(&[target_user.as_bytes(), target_key.as_bytes(), b""]);
        for (row, value) in self
            .store()
            .scan_prefix(TARGETSIGNER_SIGNATURE, &prefix, usize::MAX)?
        {
            let parts = split_key(&row);
            let (Some(signer), Some(key_id)) = (
                parts.get(2).and_then(|part| std::str::from_utf8(part).ok()),
                parts.get(3).and_then(|part| std::str::from_utf8(part).ok()),
            ) else {
                continue;
            };
            if signer != target_user.as_str() && viewer.is_none_or(|viewer| viewer != signer) {
                continue;
            }
            let signature: JsonValue = serde_json::from_slice(&value).map_err(Error::storage)?;
            if !object.get("signatures").is_some_and(JsonValue::is_object) {
                object["signatures"] = json!({});
            }
            if !object["signatures"]
                .get(signer)
                .is_some_and(JsonValue::is_object)
            {
                object["signatures"][signer] = json!({});
            }
            object["signatures"][signer][key_id] = signature;
        }
        Ok(())
    }

    /// Checks and keeps signatures `uploader` made: with their self-signing key on their
    /// devices, with a device on their master key, with their user-signing key on other users'
    /// master keys. Returns what was refused, per user and key.
    pub async fn upload_signatures(
        &self,
        uploader: &UserId,
        signed: BTreeMap<OwnedUserId, BTreeMap<String, JsonValue>>,
    ) -> Result<BTreeMap<OwnedUserId, BTreeMap<String, Error>>> {
        let _guard = self.inner.write_lock.lock().await;
        let mut failures: BTreeMap<OwnedUserId, BTreeMap<String, Error>> = BTreeMap::new();
        let mut batch = WriteBatch::new();
        let mut changed_devices = Vec::new();
        let mut master_changed = false;
        for (target_user, objects) in signed {
            for (target_key, object) in objects {
                let outcome = if target_user == uploader {
                    self.check_own_signature(uploader, &target_key, &object)
                } else {
                    self.check_other_signature(uploader, &target_user, &target_key, &object)
                };
                match outcome {
                    Ok((signer_key_id, signature, is_device)) => {
                        batch.put_json(
                            TARGETSIGNER_SIGNATURE,
                            compound_key(&[
                                target_user.as_bytes(),
                                target_key.as_bytes(),
                                uploader.as_bytes(),
                                signer_key_id.as_bytes(),
                            ]),
                            &signature,
                        );
                        if target_user == uploader {
                            if is_device {
                                changed_devices.push((target_key.as_str().into(), false));
                            } else {
                                master_changed = true;
                            }
                        }
                    }
                    Err(error) => {
                        failures
                            .entry(target_user.clone())
                            .or_default()
                            .insert(target_key, error);
                    }
                }
            }
        }
        if batch.is_empty() {
            return Ok(failures);
        }
        // Others re-query the uploader's keys when told they changed.
        let pending_devices = (!changed_devices.is_empty()).then(|| {
            let pending = self.inner.notifier.next();
            pending.record(
                &mut batch,
                &StreamItem::DeviceKeys {
                    user_id: uploader.to_owned(),
                    devices: changed_devices,
                },
            );
            pending
        });
        let pending_master = master_changed.then(|| {
            let pending = self.inner.notifier.next();
            pending.record(
                &mut batch,
                &StreamItem::SigningKeys {
                    user_id: uploader.to_owned(),
                },
            );
            pending
        });
        self.store().commit(batch).await?;
        drop((pending_devices, pending_master));
        Ok(failures)
    }

    /// A signature of the uploader on one of their own keys: a device (signed by the
    /// self-signing key) or the master key (signed by a device). Returns the signer's key id,
    /// the signature and whether the target is a device.
    fn check_own_signature(
        &self,
        user_id: &UserId,
        target_key: &str,
        object: &JsonValue,
    ) -> Result<(String, JsonValue, bool)> {
        let master = self.stored_cross_signing_key(user_id, KeyUsage::Master)?;
        if let Some(master) = master
            && single_key(&master)?.1 == target_key
        {
            if signed_part(&master) != signed_part(object) {
                return Err(Error::InvalidSignature(
                    "The signed object is not the stored master key".into(),
                ));
            }
            // Signed by one of the user's devices, with its ed25519 key.
            let devices = self.device_keys(user_id, &[])?;
            for (key_id, _) in object["signatures"][user_id.as_str()]
                .as_object()
                .into_iter()
                .flatten()
            {
                let Some(device_id) = key_id.strip_prefix("ed25519:") else {
                    continue;
                };
                let Some(public) = devices
                    .get(device_id)
                    .and_then(|keys| keys["keys"][key_id.as_str()].as_str())
                else {
                    continue;
                };
                verify_signature(object, user_id.as_str(), key_id, public)?;
                let signature = object["signatures"][user_id.as_str()][key_id.as_str()].clone();
                return Ok((key_id.clone(), signature, false));
            }
            return Err(Error::InvalidSignature(
                "The master key must be signed by one of the user's devices".into(),
            ));
        }
        let device_id: &DeviceId = target_key.into();
        let Some(stored) = self
            .device_keys(user_id, &[device_id.to_owned()])?
            .remove(target_key)
        else {
            return Err(Error::NotFound(format!("Unknown device {target_key}")));
        };
        if signed_part(&stored) != signed_part(object) {
            return Err(Error::InvalidSignature(
                "The signed object is not the device's stored keys".into(),
            ));
        }
        let Some(self_signing) = self.stored_cross_signing_key(user_id, KeyUsage::SelfSigning)?
        else {
            return Err(Error::InvalidSignature(
                "Upload a self-signing key before signing devices".into(),
            ));
        };
        let (key_id, public) = single_key(&self_signing)?;
        verify_signature(object, user_id.as_str(), &key_id, &public)?;
        let signature = object["signatures"][user_id.as_str()][key_id.as_str()].clone();
        Ok((key_id, signature, true))
    }

    /// A signature of the uploader's user-signing key on another user's master key. For local
    /// users the key must be their current master key; for users elsewhere the uploader's own
    /// signature is what is checked (their server holds the key).
    fn check_other_signature(
        &self,
        uploader: &UserId,
        target_user: &UserId,
        target_key: &str,
        object: &JsonValue,
    ) -> Result<(String, JsonValue, bool)> {
        if self.is_local(target_user) {
            let master = self
                .stored_cross_signing_key(target_user, KeyUsage::Master)?
                .ok_or_else(|| Error::NotFound(format!("{target_user} has no master key")))?;
            if single_key(&master)?.1 != target_key {
                return Err(Error::InvalidParam(
                    "Only another user's master key can be signed".into(),
                ));
            }
            if signed_part(&master) != signed_part(object) {
                return Err(Error::InvalidSignature(
                    "The signed object is not the user's master key".into(),
                ));
            }
        } else {
            check_key(target_user, object, KeyUsage::Master).map_err(|_| {
                Error::InvalidParam("Only another user's master key can be signed".into())
            })?;
            if single_key(object)?.1 != target_key {
                return Err(Error::InvalidParam(
                    "The key id does not match the signed master key".into(),
                ));
            }
        }
        let user_signing = self
            .stored_cross_signing_key(uploader, KeyUsage::UserSigning)?
            .ok_or_else(|| {
                Error::InvalidSignature("Upload a user-signing key before signing others".into())
            })?;
        let (key_id, public) = single_key(&user_signing)?;
        verify_signature(object, uploader.as_str(), &key_id, &public)?;
        let signature = object["signatures"][uploader.as_str()][key_id.as_str()].clone();
        Ok((key_id, signature, false))
    }

    /// Forgets the signatures made on a deleted device (added to the batch that deletes it).
    pub(crate) fn remove_device_signatures_into(
        &self,
        batch: &mut WriteBatch,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<()> {
        let prefix = compound_key(&[user_id.as_bytes(), device_id.as_bytes(), b""]);
        for (key, _) in self
            .store()
            .scan_prefix(TARGETSIGNER_SIGNATURE, &prefix, usize::MAX)?
        {
            batch.delete(TARGETSIGNER_SIGNATURE, key);
        }
        Ok(())
    }
}

impl Users {
    /// Until when the user's cross-signing keys may be replaced without user-interactive
    /// authentication, if an administrator allowed it.
    pub fn cross_signing_replaceable_until(&self, user_id: &UserId) -> Result<Option<u64>> {
        Ok(self
            .store()
            .get(USERID_XSIGNINGREPLACEABLEUNTIL, user_id.as_bytes())?
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            .map(u64::from_be_bytes))
    }

    /// Lets the user replace their cross-signing keys without user-interactive authentication
    /// for the next `window_ms` (Synapse's admin grant, for users who lost their password or
    /// sign in elsewhere); `NotFound` when they have no master key to replace.
    pub async fn allow_cross_signing_replacement(
        &self,
        user_id: &UserId,
        window_ms: u64,
    ) -> Result<u64> {
        if self
            .stored_cross_signing_key(user_id, KeyUsage::Master)?
            .is_none()
        {
            return Err(Error::NotFound("No master key found".into()));
        }
        let until = crate::clock::now_ms() + window_ms;
        let mut batch = WriteBatch::new();
        batch.put(
            USERID_XSIGNINGREPLACEABLEUNTIL,
            user_id.as_bytes().to_vec(),
            until.to_be_bytes().to_vec(),
        );
        self.store().commit(batch).await?;
        Ok(until)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    /// An ed25519 public key in the unpadded base64 the key APIs use.
    fn encode_public(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
    }

    #[test]
    fn single_key_requires_id_matching_the_public_key() {
        let public = encode_public(&[7u8; 32]);
        let good = json!({ "keys": { format!("ed25519:{public}"): public } });
        assert_eq!(single_key(&good).expect("valid test data").1, public);
        let mismatched = json!({ "keys": { "ed25519:other": public } });
        assert!(matches!(
            single_key(&mismatched),
            Err(Error::InvalidParam(_))
        ));
        let short = json!({ "keys": { "ed25519:AAAA": "AAAA" } });
        assert!(single_key(&short).is_err());
        let two = json!({ "keys": { format!("ed25519:{public}"): public, "ed25519:x": "x" } });
        assert!(single_key(&two).is_err());
    }

    #[test]
    fn signatures_from_ruma_keys_verify_and_tampering_fails() {
        let pair = ruma::signatures::Ed25519KeyPair::from_der(
            &ruma::signatures::Ed25519KeyPair::generate(),
            "KEY".into(),
        )
        .expect("valid test data");
        let public = encode_public(&pair.public_key());
        let mut object: CanonicalJsonObject =
            serde_json::from_value(json!({ "user_id": "@a:x", "usage": ["self_signing"] }))
                .expect("valid test data");
        ruma::signatures::sign_json("@a:x", &pair, &mut object).expect("valid test data");
        let signed = serde_json::to_value(&object).expect("valid test data");
        verify_signature(&signed, "@a:x", "ed25519:KEY", &public).expect("valid test data");
        let mut tampered = signed.clone();
        tampered["usage"] = json!(["master"]);
        assert!(matches!(
            verify_signature(&tampered, "@a:x", "ed25519:KEY", &public),
            Err(Error::InvalidSignature(_))
        ));
        assert!(verify_signature(&signed, "@b:x", "ed25519:KEY", &public).is_err());
    }
}
