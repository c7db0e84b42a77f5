use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_kit::telemetry::init();
    let config = alert::Config::from_env()?;
    let clients = community_aws::Clients::load().await;
    let alert = alert::Alert::from_clients(&config, &clients, lambda_kit::system_clock()).await?;
    let alert = &alert;
    // Any schedule payload (EventBridge rule or Scheduler) triggers one sweep.
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            alert.handle().await.map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
