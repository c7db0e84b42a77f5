//! Structured JSON logs on stdout, one object per line, with timestamps (a
//! long-running process, unlike a Lambda, gets none from its runtime). Ids
//! go in fields; message content, tokens and emails are never logged.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. The level comes from `RUST_LOG`, else `info`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(false)
        .flatten_event(true)
        .with_writer(std::io::stdout)
        .finish();
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        tracing::debug!("telemetry already initialised");
    }
}
