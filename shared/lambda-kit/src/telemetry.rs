//! Structured JSON logs. Lambda's JSON log format expects one JSON object per
//! line on stdout; ids go in fields, never whole payloads, headers or emails.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once. The level comes from `RUST_LOG`, else
/// from Lambda's `AWS_LAMBDA_LOG_LEVEL` (set by the template's LoggingConfig),
/// else `info`.
pub fn init() {
    init_with(std::io::stdout);
}

/// The same JSON logs on stderr, for command-line tools whose stdout is
/// their output (an env file, JSON lines).
pub fn init_stderr() {
    init_with(std::io::stderr);
}

fn init_with<W>(writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|l| l.to_lowercase())
        })
        .unwrap_or_else(|| "info".to_owned());
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::new(filter))
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .flatten_event(true)
        // Lambda adds its own timestamp and request id to every line.
        .without_time()
        .with_writer(writer)
        .finish();
    // A second init (tests, the local stack running several handlers) keeps the first.
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        tracing::debug!("telemetry already initialised");
    }
}
