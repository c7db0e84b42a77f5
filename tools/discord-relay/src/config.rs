//! Typed configuration from the environment, validated once at start.
//! Every error names the variable to fix; no error echoes a value (the
//! values include the bot token and the signing secret).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use reqwest::Url;
use secrecy::SecretString;
use twilight_model::id::{Id, marker::GuildMarker};

pub const DISCORD_BOT_TOKEN: &str = "DISCORD_BOT_TOKEN";
pub const RELAY_URL: &str = "RELAY_URL";
pub const RELAY_SECRET: &str = "RELAY_SECRET";
pub const DISCORD_GUILD_IDS: &str = "DISCORD_GUILD_IDS";
pub const FORWARD_BOTS: &str = "FORWARD_BOTS";
pub const RELAY_MAX_ATTEMPTS: &str = "RELAY_MAX_ATTEMPTS";
pub const RELAY_DRAIN_TIMEOUT_SECS: &str = "RELAY_DRAIN_TIMEOUT_SECS";

pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
const MAX_MAX_ATTEMPTS: u32 = 50;
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_DRAIN_TIMEOUT_SECS: u64 = 600;

/// Everything the relay needs, parsed and checked. `Debug` shows the secrets
/// as `[REDACTED]` (that is `SecretString`'s own `Debug`).
#[derive(Debug, Clone)]
pub struct Config {
    /// The bot token, without any `Bot ` prefix.
    pub discord_token: SecretString,
    pub relay_url: Url,
    /// The active signing secret: the first line of the value or file.
    pub relay_secret: SecretString,
    /// Guilds to relay; `None` relays every guild the bot is in.
    pub guild_ids: Option<BTreeSet<Id<GuildMarker>>>,
    pub forward_bots: bool,
    pub max_attempts: u32,
    /// How long shutdown waits for the queue to drain.
    pub drain_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is not set: set it, or set {var}_FILE to a file that holds it")]
    Missing { var: &'static str },
    #[error("both {var} and {var}_FILE are set: keep only one")]
    Ambiguous { var: &'static str },
    #[error("{var}_FILE: cannot read {path}: {reason}")]
    UnreadableFile {
        var: &'static str,
        path: String,
        reason: String,
    },
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

impl ConfigError {
    /// The variable the operator has to fix.
    pub fn var(&self) -> &'static str {
        match self {
            ConfigError::Missing { var }
            | ConfigError::Ambiguous { var }
            | ConfigError::UnreadableFile { var, .. }
            | ConfigError::Invalid { var, .. } => var,
        }
    }

    fn invalid(var: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            var,
            reason: reason.into(),
        }
    }
}

impl Config {
    /// Reads the process environment. Values that are not UTF-8 are read
    /// lossily and then fail validation with the variable's name.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Reads variables through `lookup`, so tests need not touch the process
    /// environment. A variable set to the empty string counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let token = secret_value(&get, DISCORD_BOT_TOKEN)?;
        let discord_token = parse_token(&token)?;

        let relay_url =
            parse_relay_url(&get(RELAY_URL).ok_or(ConfigError::Missing { var: RELAY_URL })?)?;

        let secret = secret_value(&get, RELAY_SECRET)?;
        let relay_secret = first_line_secret(&secret)?;

        let guild_ids = get(DISCORD_GUILD_IDS)
            .map(|v| parse_guild_ids(&v))
            .transpose()?;
        let forward_bots = get(FORWARD_BOTS)
            .map(|v| parse_bool(FORWARD_BOTS, &v))
            .transpose()?
            .unwrap_or(true);
        let max_attempts = get(RELAY_MAX_ATTEMPTS)
            .map(|v| parse_in_range(RELAY_MAX_ATTEMPTS, &v, 1, u64::from(MAX_MAX_ATTEMPTS)))
            .transpose()?
            .map_or(DEFAULT_MAX_ATTEMPTS, |n| {
                u32::try_from(n).unwrap_or(DEFAULT_MAX_ATTEMPTS)
            });
        let drain_timeout = get(RELAY_DRAIN_TIMEOUT_SECS)
            .map(|v| parse_in_range(RELAY_DRAIN_TIMEOUT_SECS, &v, 0, MAX_DRAIN_TIMEOUT_SECS))
            .transpose()?
            .map_or(DEFAULT_DRAIN_TIMEOUT, Duration::from_secs);

        Ok(Config {
            discord_token,
            relay_url,
            relay_secret,
            guild_ids,
            forward_bots,
            max_attempts,
            drain_timeout,
        })
    }
}

/// `VAR` or the contents of the file named by `VAR_FILE`, never both.
fn secret_value(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<String, ConfigError> {
    let file_var = format!("{var}_FILE");
    match (get(var), get(&file_var)) {
        (Some(_), Some(_)) => Err(ConfigError::Ambiguous { var }),
        (Some(value), None) => Ok(value),
        (None, Some(path)) => read_secret_file(var, Path::new(path.trim())),
        (None, None) => Err(ConfigError::Missing { var }),
    }
}

fn read_secret_file(var: &'static str, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::UnreadableFile {
        var,
        path: path.display().to_string(),
        // The io error's kind only: its text never contains the file's content,
        // but the kind is all an operator needs ("not found", "permission denied").
        reason: e.kind().to_string(),
    })
}

fn parse_token(raw: &str) -> Result<SecretString, ConfigError> {
    let token = raw.trim();
    // twilight adds the `Bot ` scheme itself; tolerate a pasted one.
    let token = token
        .strip_prefix("Bot")
        .filter(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
        .unwrap_or(token)
        .trim();
    if token.is_empty() {
        return Err(ConfigError::invalid(DISCORD_BOT_TOKEN, "it is empty"));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::invalid(
            DISCORD_BOT_TOKEN,
            "it contains whitespace or several lines; paste the token alone \
             (Developer Portal → your application → Bot → Reset Token)",
        ));
    }
    Ok(SecretString::from(token.to_owned()))
}

/// The first line is the active signing secret; later lines (a secret being
/// rotated in or out) are for the verifying side only.
fn first_line_secret(raw: &str) -> Result<SecretString, ConfigError> {
    let first = raw.lines().next().unwrap_or_default().trim();
    if first.is_empty() {
        return Err(ConfigError::invalid(
            RELAY_SECRET,
            "its first line is empty; the first line is the active signing secret",
        ));
    }
    Ok(SecretString::from(first.to_owned()))
}

fn parse_relay_url(raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| ConfigError::invalid(RELAY_URL, format!("not an absolute URL ({e})")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(ConfigError::invalid(
                RELAY_URL,
                "must be https (plain http is only accepted for localhost): \
                 the body carries message content",
            ));
        }
        _ => return Err(ConfigError::invalid(RELAY_URL, "must be an https URL")),
    }
    if url.host().is_none() {
        return Err(ConfigError::invalid(RELAY_URL, "has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::invalid(
            RELAY_URL,
            "must not carry credentials; requests are authenticated by RELAY_SECRET",
        ));
    }
    Ok(url)
}

fn parse_guild_ids(raw: &str) -> Result<BTreeSet<Id<GuildMarker>>, ConfigError> {
    let mut ids = BTreeSet::new();
    for (index, part) in raw.split(',').map(str::trim).enumerate() {
        if part.is_empty() {
            continue;
        }
        let id = part
            .parse::<u64>()
            .ok()
            .and_then(Id::new_checked)
            .ok_or_else(|| {
                ConfigError::invalid(
                    DISCORD_GUILD_IDS,
                    format!(
                        "entry {} is not a guild id (a non-zero number: Discord → \
                         Server Settings → Widget, or Copy Server ID in developer mode)",
                        index + 1
                    ),
                )
            })?;
        ids.insert(id);
    }
    if ids.is_empty() {
        return Err(ConfigError::invalid(
            DISCORD_GUILD_IDS,
            "lists no guild id; unset it to relay every guild",
        ));
    }
    Ok(ids)
}

fn parse_bool(var: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::invalid(var, "expected true or false")),
    }
}

fn parse_in_range(var: &'static str, raw: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ConfigError::invalid(var, format!("expected a whole number from {min} to {max}"))
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;
    use std::io::Write;

    const TOKEN: &str = "MTA0.abc-DEF.ghi_jkl";

    fn base() -> HashMap<String, String> {
        HashMap::from([
            (DISCORD_BOT_TOKEN.to_owned(), TOKEN.to_owned()),
            (
                RELAY_URL.to_owned(),
                "https://abc.execute-api.eu-west-1.amazonaws.com/webhooks/relay".to_owned(),
            ),
            (RELAY_SECRET.to_owned(), "s3cret-signing-key".to_owned()),
        ])
    }

    fn load(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn with(mut vars: HashMap<String, String>, name: &str, value: &str) -> HashMap<String, String> {
        vars.insert(name.to_owned(), value.to_owned());
        vars
    }

    fn without(mut vars: HashMap<String, String>, name: &str) -> HashMap<String, String> {
        vars.remove(name);
        vars
    }

    fn secret_file(contents: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents.as_bytes()).unwrap();
        file
    }

    #[test]
    fn defaults_apply_when_optional_variables_are_unset() {
        let config = load(&base()).unwrap();
        assert_eq!(config.discord_token.expose_secret(), TOKEN);
        assert_eq!(config.relay_secret.expose_secret(), "s3cret-signing-key");
        assert_eq!(config.relay_url.path(), "/webhooks/relay");
        assert_eq!(config.guild_ids, None);
        assert!(config.forward_bots);
        assert_eq!(config.max_attempts, 8);
        assert_eq!(config.drain_timeout, DEFAULT_DRAIN_TIMEOUT);
    }

    #[test]
    fn optional_variables_are_parsed() {
        let vars = with(
            base(),
            DISCORD_GUILD_IDS,
            " 81384788765712384, ,613425648685547541 ",
        );
        let vars = with(vars, FORWARD_BOTS, "False");
        let vars = with(vars, RELAY_MAX_ATTEMPTS, "3");
        let vars = with(vars, RELAY_DRAIN_TIMEOUT_SECS, "5");
        let config = load(&vars).unwrap();
        let ids: Vec<u64> = config
            .guild_ids
            .unwrap()
            .iter()
            .map(|id| id.get())
            .collect();
        assert_eq!(ids, vec![81_384_788_765_712_384, 613_425_648_685_547_541]);
        assert!(!config.forward_bots);
        assert_eq!(config.max_attempts, 3);
        assert_eq!(config.drain_timeout, Duration::from_secs(5));
    }

    #[test]
    fn each_missing_required_variable_is_named() {
        for var in [DISCORD_BOT_TOKEN, RELAY_URL, RELAY_SECRET] {
            let err = load(&without(base(), var)).unwrap_err();
            assert_eq!(err, ConfigError::Missing { var }, "{var}");
            assert!(err.to_string().contains(var), "{err}");
        }
        // Set but blank counts as missing.
        let err = load(&with(base(), RELAY_SECRET, "  ")).unwrap_err();
        assert_eq!(err.var(), RELAY_SECRET);
    }

    #[test]
    fn invalid_values_name_their_variable_and_do_not_echo_them() {
        let cases = [
            (RELAY_URL, "not a url"),
            (RELAY_URL, "http://relay.example.com/webhooks/relay"),
            (RELAY_URL, "ftp://relay.example.com/"),
            (RELAY_URL, "https://user:hunter2@relay.example.com/"),
            (DISCORD_GUILD_IDS, "123,abc"),
            (DISCORD_GUILD_IDS, "0"),
            (DISCORD_GUILD_IDS, ","),
            (FORWARD_BOTS, "maybe"),
            (RELAY_MAX_ATTEMPTS, "0"),
            (RELAY_MAX_ATTEMPTS, "51"),
            (RELAY_MAX_ATTEMPTS, "eight"),
            (RELAY_DRAIN_TIMEOUT_SECS, "-1"),
            (DISCORD_BOT_TOKEN, "two words"),
            (DISCORD_BOT_TOKEN, "Bot  "),
            (RELAY_SECRET, "\nsecond-line-only"),
        ];
        for (var, value) in cases {
            let Err(err) = load(&with(base(), var, value)) else {
                panic!("{var}={value:?} was accepted");
            };
            assert_eq!(err.var(), var, "{var}={value:?} gave {err}");
            let text = err.to_string();
            assert!(text.contains(var), "{text}");
            assert!(
                !text.contains("hunter2") && !text.contains("two words"),
                "{text}"
            );
        }
    }

    #[test]
    fn loopback_http_is_accepted_for_local_stacks() {
        for url in [
            "http://localhost:9000/webhooks/relay",
            "http://127.0.0.1:9000/webhooks/relay",
            "http://[::1]:9000/webhooks/relay",
        ] {
            let config = load(&with(base(), RELAY_URL, url)).unwrap();
            assert_eq!(config.relay_url.scheme(), "http");
        }
    }

    #[test]
    fn bot_prefix_on_the_token_is_tolerated() {
        let config = load(&with(base(), DISCORD_BOT_TOKEN, &format!("Bot {TOKEN}\n"))).unwrap();
        assert_eq!(config.discord_token.expose_secret(), TOKEN);
    }

    #[test]
    fn secrets_can_come_from_files_and_the_first_line_signs() {
        let secret = secret_file("new-active-secret\nold-secret-still-verified\n");
        let token = secret_file(&format!("{TOKEN}\n"));
        let vars = without(without(base(), RELAY_SECRET), DISCORD_BOT_TOKEN);
        let vars = with(vars, "RELAY_SECRET_FILE", secret.path().to_str().unwrap());
        let vars = with(
            vars,
            "DISCORD_BOT_TOKEN_FILE",
            token.path().to_str().unwrap(),
        );
        let config = load(&vars).unwrap();
        assert_eq!(config.relay_secret.expose_secret(), "new-active-secret");
        assert_eq!(config.discord_token.expose_secret(), TOKEN);

        // The same rule for a multi-line value given directly.
        let config = load(&with(base(), RELAY_SECRET, "first\r\nsecond")).unwrap();
        assert_eq!(config.relay_secret.expose_secret(), "first");
    }

    #[test]
    fn file_variable_errors_name_the_variable() {
        let vars = with(base(), "RELAY_SECRET_FILE", "/x");
        assert_eq!(
            load(&vars).unwrap_err(),
            ConfigError::Ambiguous { var: RELAY_SECRET }
        );

        let vars = with(
            without(base(), DISCORD_BOT_TOKEN),
            "DISCORD_BOT_TOKEN_FILE",
            "/nonexistent/discord-relay/token",
        );
        let err = load(&vars).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::UnreadableFile {
                    var: DISCORD_BOT_TOKEN,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("DISCORD_BOT_TOKEN_FILE"), "{err}");
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let config = load(&base()).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains(TOKEN), "{debug}");
        assert!(!debug.contains("s3cret-signing-key"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
    }
}
