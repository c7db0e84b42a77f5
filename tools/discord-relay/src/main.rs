use std::process::ExitCode;

use discord_relay::app::{self, AppError};
use discord_relay::config::Config;

/// Exit codes: 0 stopped by a signal, 1 runtime failure, 2 bad configuration,
/// 3 Discord refused the session for good (token, intents): restarting
/// will not help until the operator fixes it.
#[tokio::main]
async fn main() -> ExitCode {
    discord_relay::telemetry::init();
    // rustls needs one process-wide crypto provider; aws-lc-rs is the one
    // reqwest already links.
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(error = %e, variable = e.var(), "invalid configuration");
            return ExitCode::from(2);
        }
    };
    match app::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "discord-relay stopped");
            match e {
                AppError::Gateway(_) => ExitCode::from(3),
                AppError::Config(_) => ExitCode::from(2),
                AppError::Forward(_) => ExitCode::FAILURE,
            }
        }
    }
}
