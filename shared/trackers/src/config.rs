//! Which tracker to use, from one JSON document (an SSM SecureString):
//!
//! ```json
//! {"tracker":"linear","apiKey":"…","teamId":"…","apiUrl":"…","labelIds":["…"]}
//! {"tracker":"jira","baseUrl":"…","email":"…","apiToken":"…","projectKey":"…","issueType":"Bug"}
//! {"tracker":"github","token":"…","owner":"…","repo":"…","apiUrl":"…"}
//! ```
//!
//! `apiUrl` is optional (the tracker's public API), as are `labelIds` and
//! `issueType` (default `Task`). Secrets become `SecretString`s at once and
//! no `Debug` output or error message ever contains one: serde's messages
//! are only passed on when they name fields, never values.

use std::fmt;
use std::sync::Arc;

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::github::{GithubConfig, GithubSink};
use crate::jira::{JiraConfig, JiraSink};
use crate::linear::{LinearConfig, LinearSink};
use crate::{TicketSink, Tracker};

/// Jira issue type when the document names none.
pub const DEFAULT_JIRA_ISSUE_TYPE: &str = "Task";

/// One tracker, configured.
#[derive(Clone, Deserialize)]
#[serde(try_from = "RawConfig")]
pub enum TrackerConfig {
    Linear(LinearConfig),
    Jira(JiraConfig),
    Github(GithubConfig),
}

/// Why a tracker document was refused. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("tracker config is unreadable: {0}")]
    Malformed(String),
    #[error("tracker config field `{field}` {problem}")]
    Invalid {
        field: &'static str,
        problem: &'static str,
    },
}

impl TrackerConfig {
    /// Parses and validates the document.
    pub fn from_json(document: &str) -> Result<TrackerConfig, ConfigError> {
        let raw: RawConfig = serde_json::from_str(document)
            .map_err(|error| ConfigError::Malformed(describe_serde_error(&error)))?;
        TrackerConfig::try_from(raw)
    }

    /// [`TrackerConfig::from_json`] on a secret as fetched from SSM.
    pub fn from_secret(document: &SecretString) -> Result<TrackerConfig, ConfigError> {
        TrackerConfig::from_json(document.expose_secret())
    }

    pub fn tracker(&self) -> Tracker {
        match self {
            TrackerConfig::Linear(_) => Tracker::Linear,
            TrackerConfig::Jira(_) => Tracker::Jira,
            TrackerConfig::Github(_) => Tracker::Github,
        }
    }

    /// The sink for this tracker, sharing `http` (build it once per cold
    /// start; per-request timeouts come from each call's deadline).
    pub fn sink(&self, http: reqwest::Client) -> Arc<dyn TicketSink> {
        match self {
            TrackerConfig::Linear(config) => Arc::new(LinearSink::new(http, config.clone())),
            TrackerConfig::Jira(config) => Arc::new(JiraSink::new(http, config.clone())),
            TrackerConfig::Github(config) => Arc::new(GithubSink::new(http, config.clone())),
        }
    }
}

impl fmt::Debug for TrackerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Each config redacts its own secret.
        match self {
            TrackerConfig::Linear(config) => config.fmt(f),
            TrackerConfig::Jira(config) => config.fmt(f),
            TrackerConfig::Github(config) => config.fmt(f),
        }
    }
}

/// The document as written; plain strings live only until validation.
#[derive(Deserialize)]
#[serde(tag = "tracker", rename_all = "lowercase")]
enum RawConfig {
    Linear(RawLinear),
    Jira(RawJira),
    Github(RawGithub),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawLinear {
    api_key: String,
    team_id: String,
    api_url: Option<String>,
    #[serde(default)]
    label_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawJira {
    base_url: String,
    email: String,
    api_token: String,
    project_key: String,
    issue_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawGithub {
    token: String,
    owner: String,
    repo: String,
    api_url: Option<String>,
}

impl TryFrom<RawConfig> for TrackerConfig {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<TrackerConfig, ConfigError> {
        match raw {
            RawConfig::Linear(raw) => {
                let api_key = secret("apiKey", raw.api_key)?;
                let team_id = required("teamId", raw.team_id)?;
                let api_url = api_url("apiUrl", raw.api_url, LinearConfig::DEFAULT_API_URL)?;
                let label_ids = raw
                    .label_ids
                    .into_iter()
                    .map(|id| required("labelIds", id))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(TrackerConfig::Linear(LinearConfig {
                    api_url,
                    api_key,
                    team_id,
                    label_ids,
                }))
            }
            RawConfig::Jira(raw) => {
                let api_token = secret("apiToken", raw.api_token)?;
                let base_url = api_url("baseUrl", Some(raw.base_url), "")?;
                let email = required("email", raw.email)?;
                if !email.contains('@') {
                    return Err(ConfigError::Invalid {
                        field: "email",
                        problem: "is not an email address",
                    });
                }
                let project_key = required("projectKey", raw.project_key)?;
                let key_shape = project_key.starts_with(|c: char| c.is_ascii_uppercase())
                    && project_key
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if !key_shape {
                    return Err(ConfigError::Invalid {
                        field: "projectKey",
                        problem: "must be upper-case letters, digits or `_`, starting with a letter",
                    });
                }
                let issue_type = match raw.issue_type {
                    Some(issue_type) => required("issueType", issue_type)?,
                    None => DEFAULT_JIRA_ISSUE_TYPE.to_owned(),
                };
                Ok(TrackerConfig::Jira(JiraConfig {
                    base_url,
                    email,
                    api_token,
                    project_key,
                    issue_type,
                }))
            }
            RawConfig::Github(raw) => {
                let token = secret("token", raw.token)?;
                let owner = repository_part("owner", raw.owner)?;
                let repo = repository_part("repo", raw.repo)?;
                let api_url = api_url("apiUrl", raw.api_url, GithubConfig::DEFAULT_API_URL)?;
                Ok(TrackerConfig::Github(GithubConfig {
                    api_url,
                    token,
                    owner,
                    repo,
                }))
            }
        }
    }
}

fn required(field: &'static str, value: String) -> Result<String, ConfigError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ConfigError::Invalid {
            field,
            problem: "is empty",
        });
    }
    Ok(value.to_owned())
}

fn secret(field: &'static str, value: String) -> Result<SecretString, ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::Invalid {
            field,
            problem: "is empty",
        });
    }
    if value.trim() != value || value.contains(char::is_control) {
        return Err(ConfigError::Invalid {
            field,
            problem: "has surrounding whitespace or control characters",
        });
    }
    Ok(SecretString::from(value))
}

/// An https URL (http only for a local stack on localhost).
fn api_url(
    field: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    let Some(value) = value else {
        return Ok(default.to_owned());
    };
    let value = required(field, value)?;
    let url = Url::parse(&value).map_err(|_| ConfigError::Invalid {
        field,
        problem: "is not a URL",
    })?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let acceptable = url.scheme() == "https" || (url.scheme() == "http" && local);
    if !acceptable || url.cannot_be_a_base() {
        return Err(ConfigError::Invalid {
            field,
            problem: "must be an https URL",
        });
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(ConfigError::Invalid {
            field,
            problem: "must not carry credentials or a query",
        });
    }
    Ok(value.trim_end_matches('/').to_owned())
}

fn repository_part(field: &'static str, value: String) -> Result<String, ConfigError> {
    let value = required(field, value)?;
    let valid = value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(ConfigError::Invalid {
            field,
            problem: "must be letters, digits, `-`, `_` or `.`",
        });
    }
    Ok(value)
}

/// serde's message when it names fields or the tracker; otherwise only the
/// kind of problem and where (a type error would quote the value, and the
/// value may be a secret).
fn describe_serde_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let names_fields = [
        "missing field",
        "unknown field",
        "unknown variant",
        "duplicate field",
    ]
    .iter()
    .any(|prefix| message.starts_with(prefix));
    if names_fields {
        return message;
    }
    let kind = match error.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not valid JSON",
        serde_json::error::Category::Data => "a field has the wrong type",
        serde_json::error::Category::Io => "could not be read",
    };
    format!("{kind} at line {} column {}", error.line(), error.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_document_with_defaults() {
        let config = TrackerConfig::from_json(
            r#"{"tracker":"linear","apiKey":"lin_api_SECRET","teamId":"team-1"}"#,
        )
        .unwrap();
        assert_eq!(config.tracker(), Tracker::Linear);
        let TrackerConfig::Linear(linear) = &config else {
            panic!("not linear: {config:?}");
        };
        assert_eq!(linear.api_url, "https://api.linear.app/graphql");
        assert_eq!(linear.team_id, "team-1");
        assert_eq!(linear.api_key.expose_secret(), "lin_api_SECRET");
        assert!(!format!("{config:?}").contains("SECRET"));
    }

    #[test]
    fn jira_document() {
        let config = TrackerConfig::from_json(
            r#"{"tracker":"jira","baseUrl":"https://example.atlassian.net/","email":"bot@example.org",
                "apiToken":"ATATT-SECRET","projectKey":"COMM","issueType":"Bug"}"#,
        )
        .unwrap();
        let TrackerConfig::Jira(jira) = &config else {
            panic!("not jira: {config:?}");
        };
        assert_eq!(jira.base_url, "https://example.atlassian.net");
        assert_eq!(jira.issue_type, "Bug");
        assert!(!format!("{config:?}").contains("SECRET"));
        let defaulted = TrackerConfig::from_json(
            r#"{"tracker":"jira","baseUrl":"https://example.atlassian.net","email":"bot@example.org",
                "apiToken":"t","projectKey":"COMM"}"#,
        )
        .unwrap();
        let TrackerConfig::Jira(jira) = defaulted else {
            panic!("not jira");
        };
        assert_eq!(jira.issue_type, "Task");
    }

    #[test]
    fn github_document() {
        let config = TrackerConfig::from_json(
            r#"{"tracker":"github","token":"ghp_SECRET","owner":"octo-org","repo":"community","apiUrl":"https://ghe.example.com/api/v3"}"#,
        )
        .unwrap();
        let TrackerConfig::Github(github) = &config else {
            panic!("not github: {config:?}");
        };
        assert_eq!(github.api_url, "https://ghe.example.com/api/v3");
        assert!(!format!("{config:?}").contains("SECRET"));
        let sink = config.sink(reqwest::Client::new());
        assert_eq!(sink.tracker(), Tracker::Github);
    }

    #[test]
    fn missing_fields_are_named() {
        let error = TrackerConfig::from_json(r#"{"tracker":"linear","apiKey":"k"}"#).unwrap_err();
        assert!(
            error.to_string().contains("missing field `teamId`"),
            "{error}"
        );
        let error = TrackerConfig::from_json(r#"{"apiKey":"k"}"#).unwrap_err();
        assert!(
            error.to_string().contains("missing field `tracker`"),
            "{error}"
        );
        let error = TrackerConfig::from_json(r#"{"tracker":"trello"}"#).unwrap_err();
        assert!(
            error.to_string().contains("unknown variant `trello`"),
            "{error}"
        );
        let error = TrackerConfig::from_json(
            r#"{"tracker":"github","token":"t","owner":"o","repo":"r","apikey":"x"}"#,
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("unknown field `apikey`"),
            "{error}"
        );
    }

    #[test]
    fn invalid_values_are_named_without_quoting_them() {
        let error = TrackerConfig::from_json(r#"{"tracker":"linear","apiKey":"  ","teamId":"t"}"#)
            .unwrap_err();
        assert_eq!(
            error,
            ConfigError::Invalid {
                field: "apiKey",
                problem: "is empty"
            }
        );
        let error = TrackerConfig::from_json(
            r#"{"tracker":"github","token":"t","owner":"o","repo":"r","apiUrl":"http://api.github.com"}"#,
        )
        .unwrap_err();
        assert!(matches!(
            error,
            ConfigError::Invalid {
                field: "apiUrl",
                ..
            }
        ));
        let error = TrackerConfig::from_json(
            r#"{"tracker":"jira","baseUrl":"https://x.atlassian.net","email":"bot@example.org","apiToken":"t","projectKey":"comm"}"#,
        )
        .unwrap_err();
        assert!(matches!(
            error,
            ConfigError::Invalid {
                field: "projectKey",
                ..
            }
        ));
        // A secret of the wrong type must not be echoed by serde's message.
        let error =
            TrackerConfig::from_json(r#"{"tracker":"linear","apiKey":987654321,"teamId":"t"}"#)
                .unwrap_err();
        assert!(!error.to_string().contains("987654321"), "{error}");
        let error = TrackerConfig::from_json("{not json").unwrap_err();
        assert!(matches!(error, ConfigError::Malformed(_)));
    }

    #[test]
    fn serde_deserialization_validates_too() {
        let config: TrackerConfig =
            serde_json::from_str(r#"{"tracker":"github","token":"t","owner":"o","repo":"r"}"#)
                .unwrap();
        assert_eq!(config.tracker(), Tracker::Github);
        let refused = serde_json::from_str::<TrackerConfig>(
            r#"{"tracker":"github","token":"t","owner":"../o","repo":"r"}"#,
        );
        assert!(refused.is_err());
    }

    #[test]
    fn local_stack_may_use_http_on_localhost() {
        let config = TrackerConfig::from_json(
            r#"{"tracker":"github","token":"t","owner":"o","repo":"r","apiUrl":"http://localhost:4010"}"#,
        )
        .unwrap();
        assert_eq!(config.tracker(), Tracker::Github);
    }
}
