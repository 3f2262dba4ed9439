//! TURN credentials for VoIP calls, as `/voip/turnServer` hands them out. With a shared secret
//! they follow the TURN REST API convention coturn implements (`use-auth-secret`): the username
//! is `expiry:user_id`, the password the base64 HMAC-SHA1 of the username under the secret.

use base64::Engine as _;
use ruma::UserId;

use crate::config::VoipConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredentials {
    pub username: String,
    pub password: String,
    pub uris: Vec<String>,
    /// Seconds the credentials stay valid.
    pub ttl: u64,
}

/// Credentials for `user_id` at `now_secs`; `None` when no TURN server is configured (or it has
/// neither a shared secret nor fixed credentials).
pub fn turn_credentials(
    config: &VoipConfig,
    user_id: &UserId,
    now_secs: u64,
) -> Option<TurnCredentials> {
    if config.turn_uris.is_empty() {
        return None;
    }
    let ttl = config.turn_user_lifetime_secs;
    let (username, password) = match (
        &config.turn_shared_secret,
        &config.turn_username,
        &config.turn_password,
    ) {
        (Some(secret), _, _) => {
            let username = format!("{}:{user_id}", now_secs + ttl);
            // SHA-1 is what the TURN REST API convention (and coturn) specify.
            let key =
                ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
            let tag = ring::hmac::sign(&key, username.as_bytes());
            let password = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
            (username, password)
        }
        (None, Some(username), Some(password)) => (username.clone(), password.clone()),
        _ => return None,
    };
    Some(TurnCredentials {
        username,
        password,
        uris: config.turn_uris.clone(),
        ttl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> VoipConfig {
        VoipConfig {
            turn_uris: vec!["turn:turn.example.org:3478?transport=udp".into()],
            turn_shared_secret: Some("secret".into()),
            ..VoipConfig::default()
        }
    }

    #[test]
    fn shared_secret_credentials_follow_the_turn_rest_convention() {
        let user = UserId::parse("@alice:example.org").expect("valid test id");
        let credentials = turn_credentials(&config(), &user, 1_000).expect("configured");
        assert_eq!(credentials.username, "87400:@alice:example.org");
        // HMAC-SHA1("secret", "87400:@alice:example.org"), base64: computed independently with
        // `printf %s '87400:@alice:example.org' | openssl dgst -sha1 -hmac secret -binary | base64`.
        assert_eq!(credentials.password, "cSD2WpHEHsXDAHMctViJcN4wxVQ=");
        assert_eq!(credentials.ttl, 86_400);
    }

    #[test]
    fn nothing_without_uris_or_credentials() {
        let user = UserId::parse("@alice:example.org").expect("valid test id");
        assert!(turn_credentials(&VoipConfig::default(), &user, 0).is_none());
        let fixed = VoipConfig {
            turn_shared_secret: None,
            turn_username: Some("u".into()),
            turn_password: Some("p".into()),
            ..config()
        };
        let credentials = turn_credentials(&fixed, &user, 0).expect("fixed credentials");
        assert_eq!(
            (credentials.username.as_str(), credentials.password.as_str()),
            ("u", "p")
        );
        let incomplete = VoipConfig {
            turn_shared_secret: None,
            turn_username: Some("u".into()),
            ..config()
        };
        assert!(turn_credentials(&incomplete, &user, 0).is_none());
    }
}
