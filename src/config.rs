//! Loading the configuration: a TOML file (optional), then `MYELIN_SECTION__KEY` environment
//! variables on top, then validation. Every failure is one line naming the source, the key and
//! the reason.

use std::{fmt, path::Path};

use myelin_core::config::Config;

/// Environment variables that steer the binary itself rather than a config key.
const NOT_CONFIG_KEYS: &[&str] = &["MYELIN_CONFIG", "MYELIN_LOG"];

/// A configuration problem, printed as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or the environment variable, the bad value came from.
    pub source: String,
    pub key: Option<String>,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{}: key `{key}`: {}", self.source, self.reason),
            None => write!(f, "{}: {}", self.source, self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads `path` (if any), applies the `MYELIN_*` variables from `environment`, validates.
pub fn load(
    path: Option<&Path>,
    environment: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let file_label = path.map_or_else(
        || "built-in defaults".to_owned(),
        |path| path.display().to_string(),
    );
    // Start from the defaults so that an override of one nested key (a bucket's `burst`) keeps
    // its siblings.
    let mut table = toml::Table::try_from(Config::default()).map_err(|error| ConfigError {
        source: file_label.clone(),
        key: None,
        reason: format!("cannot serialise the defaults: {error}"),
    })?;
    if let Some(path) = path {
        merge(&mut table, read_table(path)?);
    }
    let mut overridden = Vec::new();
    for (name, value) in environment {
        let Some(rest) = name.strip_prefix("MYELIN_") else {
            continue;
        };
        if NOT_CONFIG_KEYS.contains(&name.as_str()) || !rest.contains("__") {
            continue;
        }
        let key_path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        // The key's type decides: a string key takes the text as it is, so
        // `MYELIN_ROOMS__DEFAULT_ROOM_VERSION=10` is the string "10", not the number 10.
        let parsed = match (existing(&table, &key_path), parse_env_value(&value)) {
            (Some(toml::Value::String(_)), parsed) if !parsed.is_str() => {
                toml::Value::String(value.clone())
            }
            (_, parsed) => parsed,
        };
        insert(&mut table, &key_path, parsed).map_err(|reason| ConfigError {
            source: format!("environment variable {name}"),
            key: Some(key_path.join(".")),
            reason,
        })?;
        overridden.push((key_path.join("."), name));
    }
    let config: Config =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|error| {
            let key = error.path().to_string();
            let reason = error.inner().message().to_owned();
            let source = overridden
                .iter()
                .find(|(overridden_key, _)| {
                    key.starts_with(overridden_key.as_str()) || overridden_key.starts_with(&key)
                })
                .map_or_else(
                    || file_label.clone(),
                    |(_, variable)| format!("environment variable {variable}"),
                );
            ConfigError {
                source,
                key: (key != ".").then_some(key),
                reason,
            }
        })?;
    config.validate().map_err(|(key, reason)| ConfigError {
        source: file_label,
        key: Some(key),
        reason,
    })?;
    Ok(config)
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
        source: source.clone(),
        key: None,
        reason: format!("cannot read: {error}"),
    })?;
    toml::from_str::<toml::Table>(&text).map_err(|error| {
        let line = error
            .span()
            .map(|span| text[..span.start].lines().count().max(1));
        let reason = match line {
            Some(line) => format!("line {line}: {}", error.message().trim()),
            None => error.message().trim().to_owned(),
        };
        ConfigError {
            source,
            key: None,
            reason,
        }
    })
}

/// The value at `key_path` in `table`, if there is one.
fn existing<'a>(table: &'a toml::Table, key_path: &[String]) -> Option<&'a toml::Value> {
    let (last, parents) = key_path.split_last()?;
    let mut current = table;
    for key in parents {
        current = current.get(key)?.as_table()?;
    }
    current.get(last)
}

/// `true`, `8`, `["127.0.0.0/8"]` are read as TOML; anything that is not TOML is a string, so
/// `MYELIN_SERVER__NAME=example.org` needs no quotes.
fn parse_env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("value = {raw}"))
        .ok()
        .and_then(|mut table| table.remove("value"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base_table)), toml::Value::Table(overlay_table)) => {
                merge(base_table, overlay_table)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn insert(table: &mut toml::Table, key_path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = key_path.split_last().ok_or("empty key")?;
    let mut current = table;
    for part in parents {
        let entry = current
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{part}` is not a section"))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), text).expect("write");
        file
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_no_file() {
        let config = load(None, Vec::new()).expect("defaults");
        assert_eq!(config.server.name, "localhost");
        assert_eq!(config.client.bind.to_string(), "127.0.0.1:8008");
        assert!(!config.registration.open);
        assert!(config.rate_limits.enabled);
    }

    #[test]
    fn unknown_key_is_named() {
        let file = write("[server]\nnmae = \"x\"\n");
        let error = load(Some(file.path()), Vec::new()).expect_err("unknown key");
        assert_eq!(error.key.as_deref(), Some("server.nmae"));
        assert!(error.reason.contains("unknown field"), "{error}");
        assert!(!error.to_string().contains('\n'));
    }

    #[test]
    fn environment_overrides_file() {
        let file = write("[server]\nname = \"file.example\"\n[registration]\nopen = false\n");
        let config = load(
            Some(file.path()),
            env(&[
                ("MYELIN_SERVER__NAME", "env.example"),
                ("MYELIN_REGISTRATION__OPEN", "true"),
                ("MYELIN_CLIENT__BIND", "127.0.0.1:0"),
                ("MYELIN_RATE_LIMITS__LOGIN_PER_IP__BURST", "9"),
                ("MYELIN_LOG", "debug"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.server.name, "env.example");
        assert!(config.registration.open);
        assert_eq!(config.client.bind.port(), 0);
        assert_eq!(config.rate_limits.login_per_ip.burst, 9);
    }

    #[test]
    fn environment_values_take_the_type_of_their_key() {
        let config = load(
            None,
            env(&[
                ("MYELIN_ROOMS__DEFAULT_ROOM_VERSION", "10"),
                ("MYELIN_SERVER__NAME", "true"),
                ("MYELIN_CLIENT__MAX_REQUEST_BYTES", "2048"),
                ("MYELIN_REGISTRATION__OPEN", "true"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.rooms.default_room_version, "10");
        assert_eq!(config.server.name, "true");
        assert_eq!(config.client.max_request_bytes, 2048);
        assert!(config.registration.open);
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let error =
            load(None, env(&[("MYELIN_RATE_LIMITS__ENABLED", "perhaps")])).expect_err("bad bool");
        assert_eq!(
            error.source,
            "environment variable MYELIN_RATE_LIMITS__ENABLED"
        );
        assert_eq!(error.key.as_deref(), Some("rate_limits.enabled"));
    }

    #[test]
    fn wrong_type_and_invalid_value_are_reported_with_key() {
        let file = write("[client]\nbind = 8008\n");
        let error = load(Some(file.path()), Vec::new()).expect_err("wrong type");
        assert_eq!(error.key.as_deref(), Some("client.bind"));
        let file = write("[server]\nname = \"bad name!\"\n");
        let error = load(Some(file.path()), Vec::new()).expect_err("invalid name");
        assert_eq!(error.key.as_deref(), Some("server.name"));
    }

    #[test]
    fn syntax_error_gives_the_line() {
        let file = write("[server]\nname = \n");
        let error = load(Some(file.path()), Vec::new()).expect_err("syntax");
        assert!(error.reason.starts_with("line 2"), "{error}");
    }

    #[test]
    fn example_config_parses_and_documents_every_key() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let config = load(Some(&example), Vec::new()).expect("config.example.toml must parse");
        // Every key of the defaults must appear in the example, so none goes undocumented.
        let defaults = toml::Table::try_from(Config::default()).expect("serialise defaults");
        let text = std::fs::read_to_string(&example).expect("read example");
        let example_table: toml::Table = toml::from_str(&text).expect("toml");
        for (section, keys) in &defaults {
            let Some(keys) = keys.as_table() else {
                continue;
            };
            for key in keys.keys() {
                let documented = example_table
                    .get(section)
                    .and_then(|s| s.get(key))
                    .is_some()
                    || text.contains(&format!("# {key} ="));
                assert!(
                    documented,
                    "config.example.toml does not document {section}.{key}"
                );
            }
        }
        assert_eq!(config.server.name, "localhost");
    }
}
