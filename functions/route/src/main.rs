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
        // Stop starting work (and tracker calls) 12 s before the function
        // would be killed: a Slack post (10 s timeout) and the ledger write
        // still fit, and the batch response is always returned.
        let deadline = lambda_kit::deadline(
            event.context.deadline,
            std::time::Duration::from_secs(12),
            route::DEFAULT_BUDGET,
        );
        route
            .handle_until(event.payload, tokio::time::Instant::from_std(deadline))
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
