use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_kit::telemetry::init();
    let config = alert::Config::from_env()?;
    let clients = community_aws::Clients::load().await;
    let alert = alert::Alert::from_clients(&config, &clients, lambda_kit::system_clock()).await?;
    let auth =
        alert::http::MetricsAuth::from_ssm(&clients.ssm, config.metrics_token_param.as_deref())
            .await?;
    let (alert, auth) = (&alert, &auth);
    // An HTTP API request is `GET /metrics`; any other payload (EventBridge
    // Scheduler) triggers one sweep.
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            if event.payload.get("routeKey").is_some() {
                let request: ApiGatewayV2httpRequest = serde_json::from_value(event.payload)?;
                let response = alert::http::respond(alert, auth, &request).await;
                return Ok(serde_json::to_value(response)?);
            }
            let summary = alert.handle().await?;
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(summary)?)
        },
    ))
    .await
}
