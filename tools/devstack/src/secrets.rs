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
/// The relay secret bound to the `discord-gateway` source (the Gateway relay's).
pub const DEV_RELAY_DISCORD_GATEWAY_SECRET: &str = "dev-discord-gateway-relay-secret";

#[derive(Clone)]
pub struct DevSecrets {
    pub github: String,
    pub slack: String,
    pub discord_public_key: String,
    pub discourse: String,
    pub relay: String,
    pub relay_discord_gateway: String,
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
            relay_discord_gateway: DEV_RELAY_DISCORD_GATEWAY_SECRET.to_owned(),
        }
    }
}

impl DevSecrets {
    /// `GITHUB_WEBHOOK_SECRET`, `SLACK_SIGNING_SECRET`, `DISCORD_PUBLIC_KEY`,
    /// `DISCOURSE_WEBHOOK_SECRET`, `RELAY_WEBHOOK_SECRET`,
    /// `RELAY_DISCORD_GATEWAY_SECRET`, each falling back
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
            relay_discord_gateway: pick("RELAY_DISCORD_GATEWAY_SECRET", d.relay_discord_gateway),
        }
    }

    /// (SSM parameter name, value) for every platform: the names are the
    /// template's `*Param` parameters (as overridden for this stack), else
    /// their documented defaults.
    pub fn parameters(
        &self,
        template_parameters: &std::collections::BTreeMap<String, String>,
    ) -> Vec<(String, String)> {
        let name = |parameter: &str, default: &str| {
            template_parameters
                .get(parameter)
                .filter(|v| v.starts_with('/'))
                .cloned()
                .unwrap_or_else(|| default.to_owned())
        };
        vec![
            (
                name(
                    "GithubWebhookSecretParam",
                    "/community-events/dev/github-webhook-secret",
                ),
                self.github.clone(),
            ),
            (
                name(
                    "SlackSigningSecretParam",
                    "/community-events/dev/slack-signing-secret",
                ),
                self.slack.clone(),
            ),
            (
                name(
                    "DiscordPublicKeyParam",
                    "/community-events/dev/discord-public-key",
                ),
                self.discord_public_key.clone(),
            ),
            (
                name(
                    "DiscourseWebhookSecretParam",
                    "/community-events/dev/discourse-webhook-secret",
                ),
                self.discourse.clone(),
            ),
            (
                name(
                    "RelayWebhookSecretParam",
                    "/community-events/dev/relay-webhook-secret",
                ),
                // One unbound secret (Actions, bots) and one bound to the Gateway relay.
                format!(
                    "{}\ndiscord-gateway={}",
                    self.relay, self.relay_discord_gateway
                ),
            ),
        ]
    }
}
