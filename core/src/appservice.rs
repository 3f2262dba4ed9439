//! Application-service registrations: the YAML files bridges generate, loaded at startup from
//! `appservices.registration_files` and checked (unique ids and tokens, valid regexes, the
//! sender in the server's namespace), and the namespace questions everything else asks: whose
//! token is this, which appservice owns this user or alias, is this event of interest to it.

use std::{
    path::Path,
    sync::{Arc, RwLock},
};

use regex::Regex;
use ruma::{OwnedUserId, RoomAliasId, RoomId, ServerName, UserId};
use serde::Deserialize;

use crate::error::{Error, Result};

/// One namespace entry of a registration.
#[derive(Debug, Clone, Deserialize)]
pub struct NamespaceEntry {
    #[serde(default)]
    pub exclusive: bool,
    pub regex: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Namespaces {
    #[serde(default)]
    pub users: Vec<NamespaceEntry>,
    #[serde(default)]
    pub aliases: Vec<NamespaceEntry>,
    #[serde(default)]
    pub rooms: Vec<NamespaceEntry>,
}

/// A registration file as bridges write it (unknown keys are ignored, as Synapse does).
#[derive(Debug, Clone, Deserialize)]
pub struct Registration {
    pub id: String,
    /// Where transactions go; `null` for an appservice that only acts (no pushes).
    pub url: Option<String>,
    pub as_token: String,
    pub hs_token: String,
    pub sender_localpart: String,
    #[serde(default)]
    pub namespaces: Namespaces,
    pub rate_limited: Option<bool>,
    #[serde(default)]
    pub protocols: Vec<String>,
    #[serde(default)]
    pub receive_ephemeral: bool,
    #[serde(default)]
    pub push_ephemeral: bool,
    #[serde(default, rename = "de.sorunome.msc2409.push_ephemeral")]
    pub msc2409_push_ephemeral: bool,
    /// MSC3202: device masquerading (`device_id=`) and device lists for the bridge.
    #[serde(default, rename = "org.matrix.msc3202")]
    pub msc3202: bool,
}

/// A compiled namespace regex and whether it is exclusive.
#[derive(Debug)]
struct Matcher {
    regex: Regex,
    exclusive: bool,
}

impl Matcher {
    fn compile(entries: &[NamespaceEntry], id: &str, kind: &str) -> Result<Vec<Self>> {
        entries
            .iter()
            .map(|entry| {
                // Anchored at the start like Synapse's `re.match`; bridges write `.*` suffixes.
                Regex::new(&format!("^(?:{})", entry.regex))
                    .map(|regex| Self {
                        regex,
                        exclusive: entry.exclusive,
                    })
                    .map_err(|error| {
                        Error::InvalidParam(format!(
                            "appservice {id}: bad {kind} regex {:?}: {error}",
                            entry.regex
                        ))
                    })
            })
            .collect()
    }
}

fn matches(matchers: &[Matcher], text: &str, exclusive_only: bool) -> bool {
    matchers
        .iter()
        .any(|matcher| (!exclusive_only || matcher.exclusive) && matcher.regex.is_match(text))
}

/// A loaded, checked registration.
#[derive(Debug)]
pub struct Appservice {
    pub registration: Registration,
    pub sender: OwnedUserId,
    users: Vec<Matcher>,
    aliases: Vec<Matcher>,
    rooms: Vec<Matcher>,
}

impl Appservice {
    fn new(registration: Registration, server_name: &ServerName) -> Result<Self> {
        let id = registration.id.clone();
        let sender = UserId::parse(format!("@{}:{server_name}", registration.sender_localpart))
            .map_err(|error| {
                Error::InvalidParam(format!("appservice {id}: bad sender_localpart: {error}"))
            })?;
        Ok(Self {
            users: Matcher::compile(&registration.namespaces.users, &id, "users")?,
            aliases: Matcher::compile(&registration.namespaces.aliases, &id, "aliases")?,
            rooms: Matcher::compile(&registration.namespaces.rooms, &id, "rooms")?,
            registration,
            sender,
        })
    }

    pub fn id(&self) -> &str {
        &self.registration.id
    }

    /// Whether the appservice may act as `user_id`: its sender or a user in its namespace.
    pub fn may_act_as(&self, user_id: &UserId) -> bool {
        user_id == self.sender || matches(&self.users, user_id.as_str(), false)
    }

    pub fn user_in_namespace(&self, user_id: &UserId, exclusive_only: bool) -> bool {
        matches(&self.users, user_id.as_str(), exclusive_only)
    }

    pub fn alias_in_namespace(&self, alias: &RoomAliasId, exclusive_only: bool) -> bool {
        matches(&self.aliases, alias.as_str(), exclusive_only)
    }

    pub fn room_in_namespace(&self, room_id: &RoomId) -> bool {
        matches(&self.rooms, room_id.as_str(), false)
    }

    /// Rate limits apply unless the registration says `rate_limited: false`.
    pub fn rate_limited(&self) -> bool {
        self.registration.rate_limited.unwrap_or(true)
    }

    /// Whether typing, receipts and presence go to the appservice too.
    pub fn wants_ephemeral(&self) -> bool {
        self.registration.receive_ephemeral
            || self.registration.push_ephemeral
            || self.registration.msc2409_push_ephemeral
    }
}

/// Every registration of the server (replaced as a whole when the files are reloaded).
#[derive(Debug, Default)]
pub struct Appservices {
    all: RwLock<Vec<Arc<Appservice>>>,
}

impl Appservices {
    /// Loads and checks the registration files; every problem names its file.
    pub fn load(files: &[impl AsRef<Path>], server_name: &ServerName) -> Result<Self> {
        Ok(Self {
            all: RwLock::new(Self::read(files, server_name)?),
        })
    }

    /// Reads the files again (SIGHUP): on success they replace the registrations, and the ids
    /// added and removed are returned; on any problem nothing changes.
    pub fn reload(
        &self,
        files: &[impl AsRef<Path>],
        server_name: &ServerName,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let fresh = Self::read(files, server_name)?;
        let mut all = self
            .all
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ids = |list: &[Arc<Appservice>]| -> Vec<String> {
            list.iter()
                .map(|appservice| appservice.id().to_owned())
                .collect()
        };
        let (old_ids, new_ids) = (ids(&all), ids(&fresh));
        let added = new_ids
            .iter()
            .filter(|id| !old_ids.contains(id))
            .cloned()
            .collect();
        let removed = old_ids
            .iter()
            .filter(|id| !new_ids.contains(id))
            .cloned()
            .collect();
        *all = fresh;
        Ok((added, removed))
    }

    fn read(files: &[impl AsRef<Path>], server_name: &ServerName) -> Result<Vec<Arc<Appservice>>> {
        let mut all: Vec<Arc<Appservice>> = Vec::new();
        for file in files {
            let path = file.as_ref();
            let text = std::fs::read_to_string(path).map_err(|error| {
                Error::InvalidParam(format!(
                    "appservice registration {}: {error}",
                    path.display()
                ))
            })?;
            let registration: Registration = serde_yaml::from_str(&text).map_err(|error| {
                Error::InvalidParam(format!(
                    "appservice registration {}: {error}",
                    path.display()
                ))
            })?;
            let appservice = Appservice::new(registration, server_name)
                .map_err(|error| Error::InvalidParam(format!("{} ({})", error, path.display())))?;
            Self::check_unique(&all, &appservice, path)?;
            all.push(Arc::new(appservice));
        }
        Ok(all)
    }

    fn check_unique(all: &[Arc<Appservice>], new: &Appservice, path: &Path) -> Result<()> {
        let registration = &new.registration;
        if registration.as_token == registration.hs_token {
            return Err(Error::InvalidParam(format!(
                "appservice {}: as_token and hs_token must differ ({})",
                registration.id,
                path.display()
            )));
        }
        for other in all {
            let clash = if other.registration.id == registration.id {
                Some("id")
            } else if other.registration.as_token == registration.as_token {
                Some("as_token")
            } else if other.registration.hs_token == registration.hs_token {
                Some("hs_token")
            } else if other.sender == new.sender {
                Some("sender_localpart")
            } else {
                None
            };
            if let Some(what) = clash {
                return Err(Error::InvalidParam(format!(
                    "appservices {} and {} share their {what} ({})",
                    other.registration.id,
                    registration.id,
                    path.display()
                )));
            }
        }
        Ok(())
    }

    /// The current registrations.
    pub fn all(&self) -> Vec<Arc<Appservice>> {
        self.all
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The appservice an access token belongs to.
    pub fn by_token(&self, token: &str) -> Option<Arc<Appservice>> {
        use subtle::ConstantTimeEq as _;
        self.all().into_iter().find(|appservice| {
            bool::from(
                appservice
                    .registration
                    .as_token
                    .as_bytes()
                    .ct_eq(token.as_bytes()),
            )
        })
    }

    pub fn by_id(&self, id: &str) -> Option<Arc<Appservice>> {
        self.all()
            .into_iter()
            .find(|appservice| appservice.id() == id)
    }

    /// The appservice that claims `user_id` exclusively, if any.
    pub fn exclusive_user_owner(&self, user_id: &UserId) -> Option<Arc<Appservice>> {
        self.all().into_iter().find(|appservice| {
            appservice.sender == user_id || appservice.user_in_namespace(user_id, true)
        })
    }

    /// The appservice that claims `alias` exclusively, if any.
    pub fn exclusive_alias_owner(&self, alias: &RoomAliasId) -> Option<Arc<Appservice>> {
        self.all()
            .into_iter()
            .find(|appservice| appservice.alias_in_namespace(alias, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    const BRIDGE: &str = r#"
id: bridge
url: http://127.0.0.1:29333
as_token: as-secret
hs_token: hs-secret
sender_localpart: bridgebot
rate_limited: false
namespaces:
  users:
    - exclusive: true
      regex: '@bridge_.*:example\.org'
  aliases:
    - exclusive: false
      regex: '#bridge_.*'
de.sorunome.msc2409.push_ephemeral: true
"#;

    #[test]
    fn registrations_load_and_answer_namespace_questions() {
        let dir = tempfile::tempdir().expect("dir");
        let file = write(dir.path(), "bridge.yaml", BRIDGE);
        let server = <&ServerName>::try_from("example.org").expect("name");
        let appservices = Appservices::load(&[file], server).expect("loads");
        let bridge = appservices.by_token("as-secret").expect("by token");
        assert!(appservices.by_token("hs-secret").is_none());
        assert_eq!(bridge.sender.as_str(), "@bridgebot:example.org");
        assert!(!bridge.rate_limited());
        assert!(bridge.wants_ephemeral());
        let ghost = <&UserId>::try_from("@bridge_alice:example.org").expect("user");
        let normal = <&UserId>::try_from("@alice:example.org").expect("user");
        assert!(bridge.may_act_as(ghost) && !bridge.may_act_as(normal));
        assert!(appservices.exclusive_user_owner(ghost).is_some());
        assert!(appservices.exclusive_user_owner(normal).is_none());
        let alias = <&RoomAliasId>::try_from("#bridge_room:example.org").expect("alias");
        assert!(bridge.alias_in_namespace(alias, false));
        assert!(
            appservices.exclusive_alias_owner(alias).is_none(),
            "not exclusive"
        );
    }

    #[test]
    fn bad_registrations_are_refused_with_their_file_named() {
        let dir = tempfile::tempdir().expect("dir");
        let server = <&ServerName>::try_from("example.org").expect("name");
        let first = write(dir.path(), "a.yaml", BRIDGE);
        let same_token = write(
            dir.path(),
            "b.yaml",
            &BRIDGE
                .replace("id: bridge", "id: other")
                .replace("hs-secret", "hs-2")
                .replace("bridgebot", "otherbot"),
        );
        let error = Appservices::load(&[first.clone(), same_token], server).expect_err("clash");
        assert!(
            error.to_string().contains("as_token") && error.to_string().contains("b.yaml"),
            "{error}"
        );
        let bad_regex = write(
            dir.path(),
            "c.yaml",
            &BRIDGE.replace("'@bridge_.*:example\\.org'", "'@bridge_(:example'"),
        );
        let error = Appservices::load(&[bad_regex], server).expect_err("bad regex");
        assert!(error.to_string().contains("regex"), "{error}");
        let missing = write(dir.path(), "d.yaml", "id: x\nurl: null\n");
        let error = Appservices::load(&[missing], server).expect_err("missing fields");
        assert!(error.to_string().contains("d.yaml"), "{error}");
    }
}
