//! `devstack`: the local stack behind `make dev` (see the README).
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use devstack::{Stack, StackOptions, fixtures, secrets::DevSecrets, stack, template::Template};

#[derive(Parser)]
#[command(about = "The community-events pipeline on the local AWS emulator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Provision the stack, serve POST /webhooks/{platform}, run normalize and
    /// route from their queues and alert on an interval, until Ctrl-C.
    Up {
        #[arg(long, default_value = "community-events")]
        stack_name: String,
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Post the events/ fixtures and show what each became.
        #[arg(long)]
        demo: bool,
        /// Seconds between alert sweeps.
        #[arg(long, default_value_t = 30)]
        alert_interval: u64,
        /// Stop after the demo instead of serving.
        #[arg(long)]
        exit_after_demo: bool,
        /// Leave the trackers and Slack unconfigured instead of pointing them
        /// at the local Linear and Slack stand-ins.
        #[arg(long)]
        no_standins: bool,
    },
    /// Create the stack's queues, tables and secret parameters and print
    /// every function's environment (dotenv), e.g. for `cargo lambda watch`.
    Provision {
        #[arg(long, default_value = "community-events")]
        stack_name: String,
    },
    /// Cold start of each release binary (target/release) against a local
    /// Lambda Runtime API, with the stack provisioned on the emulator.
    Coldstart {
        #[arg(long, default_value_t = 20)]
        runs: usize,
        #[arg(long, default_value = "coldstart")]
        stack_name: String,
    },
    /// Peak RSS of each release binary (target/release) over a replay of
    /// distinct events: one warm sandbox per function, in pipeline order.
    Rss {
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        /// Scheduled alert sweeps once the tables hold the replay.
        #[arg(long, default_value_t = 100)]
        alert_sweeps: usize,
        /// Events per window: after each, the emulator is reset and the
        /// stack provisioned again, because moto slows down (and keeps a copy
        /// of the table per transaction) as queues and tables grow.
        #[arg(long, default_value_t = 200)]
        window: usize,
        /// Variants of each fixture person (1: the fixtures' people only).
        #[arg(long, default_value_t = 50)]
        actor_variants: usize,
        /// Default rss-<unix time>: a rerun starts from empty tables.
        #[arg(long)]
        stack_name: Option<String>,
    },
    /// Regenerate events/ from events/payloads (or --check that it is current).
    Fixtures {
        #[arg(long)]
        check: bool,
        /// Instead, write the timestamped fixtures (Slack, Discord, relay)
        /// re-signed now into DIR, for invoking them after their 5-minute window.
        #[arg(long, value_name = "DIR", conflicts_with = "check")]
        fresh_dir: Option<std::path::PathBuf>,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    lambda_kit::telemetry::init_stderr();
    let cli = Cli::parse();
    let root = devstack::repo_root();
    match cli.command {
        Command::Fixtures {
            fresh_dir: Some(dir),
            ..
        } => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let files = fixtures::fresh(&root, &DevSecrets::from_env(), now)?;
            std::fs::create_dir_all(&dir)?;
            for (name, content) in &files {
                std::fs::write(dir.join(name), content)?;
            }
            println!("re-signed {} fixtures into {}", files.len(), dir.display());
        }
        Command::Fixtures { check, .. } => {
            let files = fixtures::generate(&root, &DevSecrets::default())?;
            if check {
                let stale = fixtures::stale(&root, &files);
                if !stale.is_empty() {
                    return Err(format!(
                        "stale fixtures (run `make fixtures`): {}",
                        stale.join(", ")
                    )
                    .into());
                }
                println!("{} fixture files are current", files.len());
            } else {
                fixtures::write(&root, &files)?;
                println!("wrote {} fixture files", files.len());
            }
        }
        Command::Coldstart { runs, stack_name } => {
            let template = Template::load(&root.join("template.yaml"))?;
            let sdk = devstack::sdk_config().await;
            let stack = Stack::start(&template, &sdk, StackOptions::new(stack_name)).await?;
            let aws: Vec<(String, String)> = std::env::vars()
                .filter(|(k, _)| k.starts_with("AWS_"))
                .collect();
            println!(
                "| function | ready (exec → first `next`) median | p90 | first response median | p90 |"
            );
            println!("|---|---|---|---|---|");
            for (function, binary, event) in [
                (stack::INGEST, "ingest", "events/ingest/github-ping.json"),
                (
                    stack::NORMALIZE,
                    "normalize",
                    "events/normalize/sqs-raw-events.json",
                ),
                (
                    stack::ROUTE,
                    "route",
                    "events/route/sqs-normalized-events.json",
                ),
                (stack::ALERT, "alert", "events/alert/schedule.json"),
            ] {
                let mut environment = stack.provisioned.environment(function)?.clone();
                environment.extend(aws.iter().cloned());
                let event = std::fs::read_to_string(root.join(event))?;
                let path = root.join("target/release").join(binary);
                let mut ready = Vec::new();
                let mut first = Vec::new();
                for _ in 0..runs.max(1) {
                    let m = devstack::coldstart::measure(&path, &environment, &event).await?;
                    ready.push(m.ready);
                    first.push(m.first_response);
                }
                ready.sort();
                first.sort();
                let pick = |v: &[Duration], q: f64| {
                    v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0
                };
                println!(
                    "| {binary} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
                    pick(&ready, 0.5),
                    pick(&ready, 0.9),
                    pick(&first, 0.5),
                    pick(&first, 0.9)
                );
            }
        }
        Command::Rss {
            events,
            alert_sweeps,
            window,
            actor_variants,
            stack_name,
        } => {
            let options = devstack::rss::Options {
                events,
                alert_sweeps,
                window,
                actor_variants,
                stack_name: stack_name.unwrap_or_else(|| {
                    format!("rss-{}", time::OffsetDateTime::now_utc().unix_timestamp())
                }),
                binaries: root.join("target/release"),
            };
            let run = devstack::rss::run(&root, &options, &mut |line| println!("{line}")).await?;
            for line in devstack::rss::table(&run) {
                println!("{line}");
            }
        }
        Command::Provision { stack_name } => {
            let template = Template::load(&root.join("template.yaml"))?;
            let sdk = devstack::sdk_config().await;
            let stack = Stack::start(&template, &sdk, StackOptions::new(stack_name)).await?;
            let mut merged = std::collections::BTreeMap::new();
            for environment in stack.provisioned.environments.values() {
                merged.extend(environment.clone());
            }
            for (k, v) in merged {
                println!("{k}={v}");
            }
        }
        Command::Up {
            stack_name,
            port,
            demo,
            alert_interval,
            exit_after_demo,
            no_standins,
        } => {
            let template = Template::load(&root.join("template.yaml"))?;
            let sdk = devstack::sdk_config().await;
            let mut options = StackOptions::new(stack_name.clone());
            // Linear and Slack answered locally, unless asked not to.
            let standins = if no_standins {
                None
            } else {
                let standins = devstack::standins::StandIns::start().await?;
                for (parameter, name, value) in
                    standins.stack_parameters(&format!("/{stack_name}/dev"))
                {
                    devstack::provision::put_secret(&sdk, &name, &value).await?;
                    options.parameter_overrides.insert(parameter, name);
                }
                println!(
                    "Linear and Slack stand-ins: {}/_standins/state",
                    standins.base_url
                );
                // For other shells (README): where the stand-ins listen.
                std::fs::create_dir_all(root.join(".dev"))?;
                std::fs::write(root.join(".dev/standins-url"), &standins.base_url)?;
                Some(standins)
            };
            let stack = Arc::new(Stack::start(&template, &sdk, options).await?);
            println!(
                "stack {stack_name} provisioned on {}",
                std::env::var("AWS_ENDPOINT_URL").unwrap_or_default()
            );

            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            println!("webhooks: POST http://127.0.0.1:{port}/webhooks/github");
            let metrics_auth = devstack::http::metrics_auth(&stack).await?;
            println!("metrics: GET http://127.0.0.1:{port}/metrics");
            let server = tokio::spawn(
                axum::serve(
                    listener,
                    devstack::http::router_with_auth(stack.clone(), metrics_auth),
                )
                .into_future(),
            );
            // The pollers and the alert sweep run in this task (not spawned):
            // the handlers' futures borrow the stack and need no 'static bound.
            let background = async {
                tokio::join!(
                    pump_forever(&stack),
                    alert_forever(&stack, Duration::from_secs(alert_interval.max(1)))
                );
            };
            let foreground = async {
                if demo {
                    devstack::demo::run(&stack, &root, port, standins.as_ref()).await?;
                }
                if !(demo && exit_after_demo) {
                    println!("\nserving until Ctrl-C …");
                    tokio::signal::ctrl_c().await?;
                }
                Ok::<(), Box<dyn std::error::Error>>(())
            };
            let outcome = tokio::select! {
                result = foreground => result,
                () = background => Ok(()),
            };
            server.abort();
            outcome?;
            println!("stopped");
        }
    }
    Ok(())
}

async fn pump_forever(stack: &Stack) {
    loop {
        if let Err(error) = stack.pump_once().await {
            tracing::warn!(error = %error, "event-source poll failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn alert_forever(stack: &Stack, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if let Err(error) = stack.alert.handle().await {
            tracing::warn!(function = stack::ALERT, error = %error, "alert sweep failed");
        }
    }
}
