//! Typed configuration from a key lookup (the process environment in Lambda,
//! the template-derived map in the local stack), with errors that name the
//! missing or bad variable.

use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("missing required setting {0}")]
    Missing(&'static str),
    #[error("setting {name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

/// Reads settings by name; `Env` reads the process environment.
pub trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Env;

impl Lookup for Env {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Lookup for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

impl Lookup for std::collections::BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::BTreeMap::get(self, name).cloned()
    }
}

/// A non-empty string setting.
pub fn required(source: &dyn Lookup, name: &'static str) -> Result<String, ConfigError> {
    source
        .get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

/// An optional string setting; empty counts as absent.
pub fn optional(source: &dyn Lookup, name: &'static str) -> Option<String> {
    source
        .get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A parsed setting with a default, bounded to `range`.
pub fn number<T>(
    source: &dyn Lookup,
    name: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Copy + std::fmt::Display,
{
    let value = match optional(source, name) {
        None => default,
        Some(text) => text.parse::<T>().map_err(|_| ConfigError::Invalid {
            name,
            why: format!("`{text}` is not a number"),
        })?,
    };
    if !range.contains(&value) {
        return Err(ConfigError::Invalid {
            name,
            why: format!("{value} is outside {}..={}", range.start(), range.end()),
        });
    }
    Ok(value)
}

/// A comma-separated list; empty items are ignored.
pub fn list(source: &dyn Lookup, name: &'static str) -> Vec<String> {
    optional(source, name)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn errors_name_the_setting() {
        let m = map(&[("A", " "), ("N", "abc"), ("BIG", "99")]);
        assert_eq!(required(&m, "A"), Err(ConfigError::Missing("A")));
        assert_eq!(required(&m, "B"), Err(ConfigError::Missing("B")));
        assert!(matches!(
            number(&m, "N", 1u32, 1..=10),
            Err(ConfigError::Invalid { name: "N", .. })
        ));
        assert!(matches!(
            number(&m, "BIG", 1u32, 1..=10),
            Err(ConfigError::Invalid { name: "BIG", .. })
        ));
        assert_eq!(number(&m, "UNSET", 7u32, 1..=10), Ok(7));
    }

    #[test]
    fn lists_skip_blanks() {
        let m = map(&[("L", "a, ,b,")]);
        assert_eq!(list(&m, "L"), vec!["a", "b"]);
        assert!(list(&m, "NONE").is_empty());
    }
}
