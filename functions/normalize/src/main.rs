use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_kit::telemetry::init();
    let config = normalize::Config::from_env()?;
    let clients = community_aws::Clients::load().await;
    let parameters = community_aws::ssm::SsmSecrets::new(clients.ssm.clone());
    let models = normalize::load_models(&config, &parameters).await?;
    let normalize =
        normalize::Normalize::from_clients(&config, &clients, models, lambda_kit::system_clock());
    let normalize = &normalize;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        normalize
            .handle(event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
