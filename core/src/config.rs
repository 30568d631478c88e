//! Configuration files: TOML with documented defaults, environment overrides, and errors that say
//! which file, which key and why.
//!
//! Every component has a config struct with `#[serde(default, deny_unknown_fields)]`, so an
//! absent key takes its default and a misspelt key is an error rather than silently ignored.
//! An environment variable `<PREFIX>__<KEY>__<SUBKEY>` overrides a key, e.g.
//! `ARGUS_TRANSFER__LISTEN=0.0.0.0:6060` or `ARGUS_TRANSFER__LIMITS__MAX_TAGS=16`.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key has a bad value, or is unknown.
    #[error("config {path}: key `{key}`: {reason}")]
    Invalid {
        /// The file (or `environment`/`defaults`).
        path: String,
        /// The dotted key path.
        key: String,
        /// Why.
        reason: String,
    },
}

/// Loads a configuration of type `T`: defaults, then the file (if any), then environment
/// variables starting with `env_prefix` + `__`.
pub fn load<T: DeserializeOwned>(file: Option<&Path>, env_prefix: &str) -> Result<T, ConfigError> {
    let (mut table, origin) = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Syntax {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?;
            (table, path.display().to_string())
        }
        None => (toml::Table::new(), "defaults".to_string()),
    };
    let overridden = apply_env(&mut table, env_prefix, std::env::vars());
    from_table(table, &origin, &overridden)
}

/// Parses configuration text (for tests and embedded examples).
pub fn from_str<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
    from_table(table, origin, &[])
}

fn from_table<T: DeserializeOwned>(
    table: toml::Table,
    origin: &str,
    env_keys: &[String],
) -> Result<T, ConfigError> {
    let de = toml::Value::Table(table);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let from_env = env_keys.contains(&key);
        ConfigError::Invalid {
            path: if from_env {
                "environment".to_string()
            } else {
                origin.to_string()
            },
            key,
            reason: e.into_inner().to_string(),
        }
    })
}

/// Applies `PREFIX__A__B=value` overrides to `table`; returns the dotted keys it set.
fn apply_env(
    table: &mut toml::Table,
    prefix: &str,
    vars: impl Iterator<Item = (String, String)>,
) -> Vec<String> {
    let head = format!("{prefix}__");
    let mut set = Vec::new();
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix(&head) else {
            continue;
        };
        let parts: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        if parts.iter().any(|p| p.is_empty()) {
            continue;
        }
        // A value that parses as TOML (number, bool, array, quoted string) keeps its type.
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(raw));
        let mut cur = &mut *table;
        for p in &parts[..parts.len() - 1] {
            let entry = cur
                .entry(p.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            cur = entry.as_table_mut().expect("just made a table");
        }
        cur.insert(parts[parts.len() - 1].clone(), value);
        set.push(parts.join("."));
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Default, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Inner {
        max: u32,
    }

    #[derive(Debug, Deserialize, Default, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Conf {
        listen: String,
        inner: Inner,
    }

    #[test]
    fn names_the_key_and_reason() {
        let e = from_str::<Conf>("listen = 'x'\n[inner]\nmax = 'lots'", "a.toml").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("a.toml") && msg.contains("inner.max"), "{msg}");
        let e = from_str::<Conf>("lissen = 'x'", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lissen"), "{e}");
        let e = from_str::<Conf>("listen = ", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid TOML"), "{e}");
    }

    #[test]
    fn missing_file_says_which() {
        let e = load::<Conf>(Some(Path::new("/nonexistent/argus.toml")), "X")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/argus.toml"), "{e}");
    }

    #[test]
    fn env_overrides_keys_with_types() {
        let mut t: toml::Table = "listen = 'a'".parse().unwrap();
        let vars = vec![
            ("P__LISTEN".to_string(), "0.0.0.0:1".to_string()),
            ("P__INNER__MAX".to_string(), "7".to_string()),
            ("OTHER__X".to_string(), "1".to_string()),
        ];
        let set = apply_env(&mut t, "P", vars.into_iter());
        assert_eq!(set, vec!["listen", "inner.max"]);
        let c: Conf = from_table(t, "f", &set).unwrap();
        assert_eq!(
            c,
            Conf {
                listen: "0.0.0.0:1".into(),
                inner: Inner { max: 7 }
            }
        );
    }
}
