//! The webhook secrets of the local stack: from the environment when set,
//! else documented dev defaults (never used outside the emulator).

/// Dev defaults, documented in the README. Test fixtures in `events/` are
/// signed with these.
pub const DEV_GITHUB_WEBHOOK_SECRET: &str = "dev-github-webhook-secret";
pub const DEV_SLACK_SIGNING_SECRET: &str = "dev-slack-signing-secret";
/// Hex Ed25519 public key of the dev key pair (seed = 32 bytes of 0x01).
pub const DEV_DISCORD_PUBLIC_KEY: &str =
    "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
pub const DEV_DISCOURSE_WEBHOOK_SECRET: &str = "dev-discourse-webhook-secret";
pub const DEV_RELAY_WEBHOOK_SECRET: &str = "dev-relay-webhook-secret";

#[derive(Clone)]
pub struct DevSecrets {
    pub github: String,
    pub slack: String,
    pub discord_public_key: String,
    pub discourse: String,
    pub relay: String,
}

impl std::fmt::Debug for DevSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DevSecrets(..)")
    }
}

impl Default for DevSecrets {
    fn default() -> Self {
        DevSecrets {
            github: DEV_GITHUB_WEBHOOK_SECRET.to_owned(),
            slack: DEV_SLACK_SIGNING_SECRET.to_owned(),
            discord_public_key: DEV_DISCORD_PUBLIC_KEY.to_owned(),
            discourse: DEV_DISCOURSE_WEBHOOK_SECRET.to_owned(),
            relay: DEV_RELAY_WEBHOOK_SECRET.to_owned(),
        }
    }
}

impl DevSecrets {
    /// `GITHUB_WEBHOOK_SECRET`, `SLACK_SIGNING_SECRET`, `DISCORD_PUBLIC_KEY`,
    /// `DISCOURSE_WEBHOOK_SECRET`, `RELAY_WEBHOOK_SECRET`, each falling back
    /// to its dev default.
    pub fn from_env() -> DevSecrets {
        let pick = |name: &str, default: String| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or(default)
        };
        let d = DevSecrets::default();
        DevSecrets {
            github: pick("GITHUB_WEBHOOK_SECRET", d.github),
            slack: pick("SLACK_SIGNING_SECRET", d.slack),
            discord_public_key: pick("DISCORD_PUBLIC_KEY", d.discord_public_key),
            discourse: pick("DISCOURSE_WEBHOOK_SECRET", d.discourse),
            relay: pick("RELAY_WEBHOOK_SECRET", d.relay),
        }
    }

    /// (SSM parameter name, value) for every secret. GitHub's name comes from
    /// the template's parameter; the others are where later platforms read.
    pub fn parameters(&self, github_parameter: &str, prefix: &str) -> Vec<(String, String)> {
        vec![
            (github_parameter.to_owned(), self.github.clone()),
            (format!("{prefix}/slack-signing-secret"), self.slack.clone()),
            (
                format!("{prefix}/discord-public-key"),
                self.discord_public_key.clone(),
            ),
            (
                format!("{prefix}/discourse-webhook-secret"),
                self.discourse.clone(),
            ),
            (format!("{prefix}/relay-webhook-secret"), self.relay.clone()),
        ]
    }
}
