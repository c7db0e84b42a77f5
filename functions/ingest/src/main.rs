use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_kit::telemetry::init();
    let config = ingest::Config::from_env()?;
    let clients = community_aws::Clients::load().await;
    let ingest = ingest::Ingest::from_clients(config, &clients, lambda_kit::system_clock()).await?;
    let ingest = &ingest;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            Ok::<_, std::convert::Infallible>(ingest.handle(event.payload).await)
        },
    ))
    .await
}
