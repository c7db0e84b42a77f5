//! Creates a stack's queues, tables and secret parameters on the emulator,
//! exactly as `template.yaml` declares them, and resolves every function's
//! environment against them.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::template::{Context, Physical, Template, TemplateError};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{operation}: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
}

fn aws<E: std::fmt::Debug>(operation: &'static str) -> impl Fn(E) -> ProvisionError {
    move |e| ProvisionError::Aws {
        operation,
        message: format!("{e:?}"),
    }
}

/// A provisioned stack: the resolved context (physical ids) and environments.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub context: Context,
    /// function logical id → resolved environment
    pub environments: BTreeMap<String, BTreeMap<String, String>>,
}

impl Provisioned {
    /// What `!Ref` gives for a resource: a queue's URL, a table's name.
    pub fn reference(&self, logical_id: &str) -> Result<String, ProvisionError> {
        self.context
            .resources
            .get(logical_id)
            .map(|p| p.reference.clone())
            .ok_or_else(|| {
                ProvisionError::Template(TemplateError::Unresolved(logical_id.to_owned()))
            })
    }

    pub fn environment(&self, function: &str) -> Result<&BTreeMap<String, String>, ProvisionError> {
        self.environments.get(function).ok_or_else(|| {
            ProvisionError::Template(TemplateError::Shape(format!("no function {function}")))
        })
    }
}

/// Resolves names without touching AWS (for env files and checks).
pub fn resolve_offline(
    template: &Template,
    stack_name: &str,
    region: &str,
    account_id: &str,
    endpoint: &str,
    parameter_overrides: &BTreeMap<String, String>,
) -> Result<Provisioned, ProvisionError> {
    let mut context = base_context(
        template,
        stack_name,
        region,
        account_id,
        parameter_overrides,
    );
    for queue in &template.queues {
        let name = context.resolve(&queue.name)?;
        let url = format!("{}/{account_id}/{name}", endpoint.trim_end_matches('/'));
        context.resources.insert(
            queue.logical_id.clone(),
            queue_physical(url, &name, region, account_id),
        );
    }
    for table in &template.tables {
        let name = context.resolve(&table.name)?;
        context.resources.insert(
            table.logical_id.clone(),
            table_physical(&name, region, account_id),
        );
    }
    for topic in &template.topics {
        let arn = format!("arn:aws:sns:{region}:{account_id}:{stack_name}-{topic}");
        context.resources.insert(topic.clone(), topic_physical(arn));
    }
    finish(template, context)
}

fn topic_physical(arn: String) -> Physical {
    Physical {
        attributes: BTreeMap::from([("TopicArn".to_owned(), arn.clone())]),
        reference: arn,
    }
}

fn base_context(
    template: &Template,
    stack_name: &str,
    region: &str,
    account_id: &str,
    overrides: &BTreeMap<String, String>,
) -> Context {
    let mut parameters = template.parameters.clone();
    parameters.extend(overrides.clone());
    Context {
        stack_name: stack_name.to_owned(),
        region: region.to_owned(),
        account_id: account_id.to_owned(),
        parameters,
        resources: BTreeMap::new(),
    }
}

fn queue_physical(url: String, name: &str, region: &str, account_id: &str) -> Physical {
    Physical {
        attributes: BTreeMap::from([
            (
                "Arn".to_owned(),
                format!("arn:aws:sqs:{region}:{account_id}:{name}"),
            ),
            ("QueueName".to_owned(), name.to_owned()),
            ("QueueUrl".to_owned(), url.clone()),
        ]),
        reference: url,
    }
}

fn table_physical(name: &str, region: &str, account_id: &str) -> Physical {
    Physical {
        reference: name.to_owned(),
        attributes: BTreeMap::from([(
            "Arn".to_owned(),
            format!("arn:aws:dynamodb:{region}:{account_id}:table/{name}"),
        )]),
    }
}

fn finish(template: &Template, context: Context) -> Result<Provisioned, ProvisionError> {
    let mut environments = BTreeMap::new();
    for function in &template.functions {
        environments.insert(function.logical_id.clone(), context.environment(function)?);
    }
    Ok(Provisioned {
        context,
        environments,
    })
}

/// Creates (or reuses) every queue and table of the stack on the endpoint the
/// SDK config points at.
pub async fn provision(
    template: &Template,
    sdk: &aws_config::SdkConfig,
    stack_name: &str,
    parameter_overrides: &BTreeMap<String, String>,
) -> Result<Provisioned, ProvisionError> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".to_owned());
    // The emulator's default account; the real account id comes back in ARNs.
    let mut context = base_context(
        template,
        stack_name,
        &region,
        "123456789012",
        parameter_overrides,
    );

    // Dead-letter queues first: source queues' redrive policies name them.
    let mut ordered: Vec<_> = template.queues.iter().collect();
    ordered.sort_by_key(|q| q.redrive.is_some());
    for queue in ordered {
        let name = context.resolve(&queue.name)?;
        let mut request = sqs.create_queue().queue_name(&name);
        if queue.fifo {
            request = request.attributes(QueueAttributeName::FifoQueue, "true");
            request = request.attributes(
                QueueAttributeName::ContentBasedDeduplication,
                queue.content_based_deduplication.to_string(),
            );
        }
        if let Some(v) = queue.visibility_timeout {
            request = request.attributes(QueueAttributeName::VisibilityTimeout, v.to_string());
        }
        if let Some(v) = queue.maximum_message_size {
            request = request.attributes(QueueAttributeName::MaximumMessageSize, v.to_string());
        }
        if let Some(v) = queue.message_retention_period {
            request = request.attributes(QueueAttributeName::MessageRetentionPeriod, v.to_string());
        }
        if let Some((dlq, max)) = &queue.redrive {
            let dlq_arn = context
                .resources
                .get(dlq)
                .and_then(|p| p.attributes.get("Arn"))
                .cloned()
                .ok_or_else(|| TemplateError::Unresolved(format!("dead-letter queue {dlq}")))?;
            let policy = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max.to_string() });
            request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = request
            .send()
            .await
            .map_err(aws("CreateQueue"))?
            .queue_url
            .unwrap_or_default();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(aws("GetQueueAttributes"))?;
        let arn = attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_default();
        if let Some(account) = arn.split(':').nth(4) {
            context.account_id = account.to_owned();
        }
        let mut physical = queue_physical(url, &name, &region, &context.account_id);
        physical.attributes.insert("Arn".to_owned(), arn);
        context.resources.insert(queue.logical_id.clone(), physical);
    }

    for table in &template.tables {
        let name = context.resolve(&table.name)?;
        create_table(&dynamodb, table, &name).await?;
        context.resources.insert(
            table.logical_id.clone(),
            table_physical(&name, &region, &context.account_id),
        );
    }

    // Topics (alerts by email): the emulator keeps what is published.
    let sns = aws_sdk_sns::Client::new(sdk);
    for topic in &template.topics {
        let arn = sns
            .create_topic()
            .name(format!("{stack_name}-{topic}"))
            .send()
            .await
            .map_err(aws("CreateTopic"))?
            .topic_arn
            .unwrap_or_default();
        context.resources.insert(topic.clone(), topic_physical(arn));
    }
    finish(template, context)
}

fn key_schema(
    keys: &[crate::template::KeyElement],
) -> Result<Vec<KeySchemaElement>, ProvisionError> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute)
                .key_type(if k.key_type == "RANGE" {
                    KeyType::Range
                } else {
                    KeyType::Hash
                })
                .build()
                .map_err(aws("KeySchemaElement"))
        })
        .collect()
}

async fn create_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &crate::template::TableSpec,
    name: &str,
) -> Result<(), ProvisionError> {
    let mut request = dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&table.keys)?));
    for (attribute, kind) in &table.attributes {
        let kind = match kind.as_str() {
            "N" => ScalarAttributeType::N,
            "B" => ScalarAttributeType::B,
            _ => ScalarAttributeType::S,
        };
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(kind)
                .build()
                .map_err(aws("AttributeDefinition"))?,
        );
    }
    for index in &table.indexes {
        let projection = match index.projection.as_str() {
            "KEYS_ONLY" => ProjectionType::KeysOnly,
            "INCLUDE" => ProjectionType::Include,
            _ => ProjectionType::All,
        };
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.name)
                .set_key_schema(Some(key_schema(&index.keys)?))
                .projection(Projection::builder().projection_type(projection).build())
                .build()
                .map_err(aws("GlobalSecondaryIndex"))?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(e) => return Err(aws("CreateTable")(e)),
    }
    if let Some(attribute) = &table.ttl_attribute {
        dynamodb
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .map_err(aws("TimeToLiveSpecification"))?,
            )
            .send()
            .await
            .map_err(aws("UpdateTimeToLive"))?;
    }
    Ok(())
}

/// Writes a SecureString parameter (overwriting).
pub async fn put_secret(
    sdk: &aws_config::SdkConfig,
    name: &str,
    value: &str,
) -> Result<(), ProvisionError> {
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .map_err(aws("PutParameter"))?;
    Ok(())
}
