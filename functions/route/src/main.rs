use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_kit::telemetry::init();
    let config = route::Config::from_env()?;
    let clients = community_aws::Clients::load().await;
    let route = route::Route::from_clients(&config, &clients, lambda_kit::system_clock()).await?;
    let route = &route;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        route
            .handle(event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
