//! A running local stack: the four handlers, wired exactly as in Lambda
//! (`Config::from_lookup` over the template-derived environment, then the
//! same `from_clients` wiring), plus the event-source mappings that feed them.

use std::collections::BTreeMap;
use std::time::Duration;

use community_aws::ports::QueueStats;
use lambda_kit::Clock;

use crate::ProvisionError;
use crate::provision::{self, Provisioned};
use crate::pump::{Mapping, Polled};
use crate::secrets::DevSecrets;
use crate::template::Template;

pub const INGEST: &str = "IngestFunction";
pub const NORMALIZE: &str = "NormalizeFunction";
pub const ROUTE: &str = "RouteFunction";
pub const ALERT: &str = "AlertFunction";

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error("{function} config: {source}")]
    Config {
        function: &'static str,
        source: lambda_kit::config::ConfigError,
    },
    #[error("ingest cold start: {0}")]
    Ingest(#[from] ingest::InitError),
    #[error("normalize cold start: {0}")]
    Normalize(String),
    #[error("route cold start: {0}")]
    Route(#[from] route::InitError),
    #[error("alert cold start: {0}")]
    Alert(#[from] alert::AlertError),
    #[error("pipeline did not settle within {0:?}")]
    Timeout(Duration),
}

#[derive(Debug, Clone)]
pub struct StackOptions {
    pub stack_name: String,
    pub secrets: DevSecrets,
    pub parameter_overrides: BTreeMap<String, String>,
    pub retry_after_seconds: i32,
    pub wait_seconds: i32,
    /// Where the functions' AWS clients send their requests, when not
    /// straight to the emulator (a fault-injecting or counting proxy).
    pub function_endpoint: Option<String>,
    /// Where the event-source mappings (Lambda's own pollers) send theirs.
    pub service_endpoint: Option<String>,
    /// The functions' SDK attempts per call, when not the SDK's default (3):
    /// fewer lets injected faults reach the pipeline's own retries.
    pub function_max_attempts: Option<u32>,
}

impl StackOptions {
    pub fn new(stack_name: impl Into<String>) -> StackOptions {
        StackOptions {
            stack_name: stack_name.into(),
            secrets: DevSecrets::from_env(),
            parameter_overrides: BTreeMap::new(),
            retry_after_seconds: 1,
            wait_seconds: 1,
            function_endpoint: None,
            service_endpoint: None,
            function_max_attempts: None,
        }
    }
}

pub struct Stack {
    pub provisioned: Provisioned,
    /// The functions' clients.
    pub clients: community_aws::Clients,
    /// The event-source mappings' clients (Lambda's side of the queues).
    pub service: community_aws::Clients,
    pub ingest: ingest::Ingest,
    pub normalize: normalize::Normalize,
    pub route: route::Route,
    pub alert: alert::Alert,
    pub raw_events: Mapping,
    pub normalized_events: Mapping,
    pub options: StackOptions,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("stack_name", &self.options.stack_name)
            .finish_non_exhaustive()
    }
}

fn config<T>(
    function: &'static str,
    provisioned: &Provisioned,
    build: impl Fn(&dyn lambda_kit::config::Lookup) -> Result<T, lambda_kit::config::ConfigError>,
) -> Result<T, StackError> {
    let environment = provisioned.environment(function)?;
    build(environment).map_err(|source| StackError::Config { function, source })
}

impl Stack {
    /// Provisions the stack on the emulator and builds the handlers.
    pub async fn start(
        template: &Template,
        sdk: &aws_config::SdkConfig,
        options: StackOptions,
    ) -> Result<Stack, StackError> {
        Stack::start_with_clock(template, sdk, options, lambda_kit::system_clock()).await
    }

    pub async fn start_with_clock(
        template: &Template,
        sdk: &aws_config::SdkConfig,
        options: StackOptions,
        clock: Clock,
    ) -> Result<Stack, StackError> {
        let provisioned = provision::provision(
            template,
            sdk,
            &options.stack_name,
            &options.parameter_overrides,
        )
        .await?;
        for (name, value) in options.secrets.parameters(&provisioned.context.parameters) {
            provision::put_secret(sdk, &name, &value).await?;
        }

        let function_sdk = match options.function_max_attempts {
            Some(attempts) => sdk
                .to_builder()
                .retry_config(
                    aws_config::retry::RetryConfig::standard().with_max_attempts(attempts),
                )
                .build(),
            None => sdk.clone(),
        };
        let clients = clients_through(&function_sdk, options.function_endpoint.as_deref());
        let service = clients_through(sdk, options.service_endpoint.as_deref());
        let ingest_config = config(INGEST, &provisioned, |e| ingest::Config::from_lookup(e))?;
        let normalize_config = config(NORMALIZE, &provisioned, |e| {
            normalize::Config::from_lookup(e)
        })?;
        let route_config = config(ROUTE, &provisioned, |e| route::Config::from_lookup(e))?;
        let alert_config = config(ALERT, &provisioned, |e| alert::Config::from_lookup(e))?;

        let ingest = ingest::Ingest::from_clients(ingest_config, &clients, clock.clone()).await?;
        let parameters = community_aws::ssm::SsmSecrets::new(clients.ssm.clone());
        let models = normalize::load_models(&normalize_config, &parameters)
            .await
            .map_err(|e| StackError::Normalize(e.to_string()))?;
        let normalize =
            normalize::Normalize::from_clients(&normalize_config, &clients, models, clock.clone());
        let route = route::Route::from_clients(&route_config, &clients, clock.clone()).await?;
        let alert = alert::Alert::from_clients(&alert_config, &clients, clock).await?;

        let raw_events = mapping(template, &provisioned, NORMALIZE, &options)?;
        let normalized_events = mapping(template, &provisioned, ROUTE, &options)?;
        Ok(Stack {
            provisioned,
            clients,
            service,
            ingest,
            normalize,
            route,
            alert,
            raw_events,
            normalized_events,
            options,
        })
    }

    /// One poll of each event-source mapping, in pipeline order.
    pub async fn pump_once(&self) -> Result<(Polled, Polled), StackError> {
        let normalized = self
            .raw_events
            .poll_once(&self.service.sqs, |event| self.normalize.handle(event))
            .await?;
        let routed = self
            .normalized_events
            .poll_once(&self.service.sqs, |event| self.route.handle(event))
            .await?;
        Ok((normalized, routed))
    }

    /// Pumps until both source queues are empty (nothing visible or in flight).
    pub async fn drain(&self, timeout: Duration) -> Result<(), StackError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.pump_once().await?;
            let raw = self
                .service
                .sqs
                .depth(&self.raw_events.queue_url)
                .await
                .map_err(aws)?;
            let normalized = self
                .service
                .sqs
                .depth(&self.normalized_events.queue_url)
                .await
                .map_err(aws)?;
            if raw.visible + raw.in_flight + normalized.visible + normalized.in_flight == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StackError::Timeout(timeout));
            }
        }
    }

    /// A resource's physical id: a queue's URL, a table's name.
    pub fn reference(&self, logical_id: &str) -> Result<String, StackError> {
        Ok(self.provisioned.reference(logical_id)?)
    }
}

/// Clients sending to `endpoint` instead of the configured one. Set on each
/// service's own config: the SDK prefers `AWS_ENDPOINT_URL` from the
/// environment over an endpoint set on the shared `SdkConfig`.
fn clients_through(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> community_aws::Clients {
    let Some(url) = endpoint else {
        return community_aws::Clients::from_config(sdk);
    };
    community_aws::Clients {
        sqs: aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(sdk)
                .endpoint_url(url)
                .build(),
        ),
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(sdk)
                .endpoint_url(url)
                .build(),
        ),
        ssm: aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(sdk)
                .endpoint_url(url)
                .build(),
        ),
        secretsmanager: aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(sdk)
                .endpoint_url(url)
                .build(),
        ),
        sns: aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(sdk)
                .endpoint_url(url)
                .build(),
        ),
    }
}

fn aws(e: community_aws::AwsError) -> StackError {
    StackError::Provision(ProvisionError::Aws {
        operation: e.operation,
        message: e.message,
    })
}

fn mapping(
    template: &Template,
    provisioned: &Provisioned,
    function: &str,
    options: &StackOptions,
) -> Result<Mapping, StackError> {
    let spec = template.function(function).map_err(ProvisionError::from)?;
    let source = spec.sqs_sources.first().ok_or_else(|| {
        ProvisionError::Template(crate::template::TemplateError::Shape(format!(
            "{function} has no SQS event"
        )))
    })?;
    let physical = provisioned
        .context
        .resources
        .get(&source.queue_logical_id)
        .ok_or_else(|| {
            ProvisionError::Template(crate::template::TemplateError::Unresolved(
                source.queue_logical_id.clone(),
            ))
        })?;
    Ok(Mapping {
        queue_url: physical.reference.clone(),
        queue_arn: physical.attributes.get("Arn").cloned().unwrap_or_default(),
        batch_size: source.batch_size,
        region: provisioned.context.region.clone(),
        retry_after_seconds: options.retry_after_seconds,
        wait_seconds: options.wait_seconds,
        invocations: Default::default(),
    })
}
