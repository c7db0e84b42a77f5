//! Reads `template.yaml` so the local stack is built from the same
//! declarations as the deployed one: queue names and attributes, redrive
//! policies, table keys, indexes and TTL, parameter defaults, each function's
//! binary, environment and SQS event source. Nothing here is a second copy of
//! the template; a change there changes the local stack.
//!
//! Only the intrinsic functions the template uses are understood (`Ref`,
//! `Fn::GetAtt`, `Fn::Sub` string form), in short (`!Ref`) and long form.

use std::collections::BTreeMap;

use serde_yaml::Value;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("template: {0}")]
    Shape(String),
    #[error("cannot resolve {0}")]
    Unresolved(String),
}

fn shape(what: impl Into<String>) -> TemplateError {
    TemplateError::Shape(what.into())
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    pub logical_id: String,
    /// Unresolved `QueueName` (resolved per stack name).
    pub name: Value,
    pub fifo: bool,
    pub content_based_deduplication: bool,
    pub visibility_timeout: Option<i64>,
    pub message_retention_period: Option<i64>,
    pub maximum_message_size: Option<i64>,
    /// (dead-letter queue logical id, maxReceiveCount)
    pub redrive: Option<(String, i64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyElement {
    pub attribute: String,
    /// HASH or RANGE
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndexSpec {
    pub name: String,
    pub keys: Vec<KeyElement>,
    pub projection: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    pub logical_id: String,
    pub name: Value,
    /// attribute name → S / N / B
    pub attributes: BTreeMap<String, String>,
    pub keys: Vec<KeyElement>,
    pub indexes: Vec<IndexSpec>,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SqsSource {
    pub queue_logical_id: String,
    pub batch_size: i32,
    pub report_batch_item_failures: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    pub logical_id: String,
    pub binary: String,
    pub timeout_seconds: i64,
    pub environment: BTreeMap<String, Value>,
    pub sqs_sources: Vec<SqsSource>,
    pub http_paths: Vec<String>,
    pub schedules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// parameter → default (as text; "" when absent)
    pub parameters: BTreeMap<String, String>,
    pub queues: Vec<QueueSpec>,
    pub tables: Vec<TableSpec>,
    pub functions: Vec<FunctionSpec>,
    /// SNS topics (logical ids): created by name `<stack>-<logical id>`.
    pub topics: Vec<String>,
}

/// Where a resolved stack lives.
#[derive(Debug, Clone)]
pub struct Context {
    pub stack_name: String,
    pub region: String,
    pub account_id: String,
    /// Parameter values (defaults overridden by the caller).
    pub parameters: BTreeMap<String, String>,
    /// Physical values of resources: logical id → (Ref value, attributes).
    pub resources: BTreeMap<String, Physical>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Physical {
    /// What `!Ref` returns (queue URL, table name, …).
    pub reference: String,
    /// `!GetAtt X.Attr` values.
    pub attributes: BTreeMap<String, String>,
}

impl Template {
    pub fn load(path: &std::path::Path) -> Result<Template, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Template::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let root: Value = serde_yaml::from_str(text)?;
        let mut parameters = BTreeMap::new();
        if let Some(map) = root.get("Parameters").and_then(Value::as_mapping) {
            for (name, spec) in map {
                let name = name.as_str().ok_or_else(|| shape("parameter name"))?;
                parameters.insert(
                    name.to_owned(),
                    spec.get("Default").map(scalar_text).unwrap_or_default(),
                );
            }
        }
        let resources = root
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| shape("no Resources"))?;
        let mut template = Template {
            parameters,
            queues: Vec::new(),
            tables: Vec::new(),
            functions: Vec::new(),
            topics: Vec::new(),
        };
        for (id, resource) in resources {
            let id = id.as_str().ok_or_else(|| shape("resource id"))?.to_owned();
            let kind = resource.get("Type").and_then(Value::as_str).unwrap_or("");
            let props = resource.get("Properties").cloned().unwrap_or(Value::Null);
            match kind {
                "AWS::SQS::Queue" => template.queues.push(queue_spec(id, &props)?),
                "AWS::DynamoDB::Table" => template.tables.push(table_spec(id, &props)?),
                "AWS::Serverless::Function" => template
                    .functions
                    .push(function_spec(id, resource, &props)?),
                "AWS::SNS::Topic" => template.topics.push(id),
                _ => {}
            }
        }
        Ok(template)
    }

    pub fn function(&self, logical_id: &str) -> Result<&FunctionSpec, TemplateError> {
        self.functions
            .iter()
            .find(|f| f.logical_id == logical_id)
            .ok_or_else(|| shape(format!("no function {logical_id}")))
    }

    pub fn queue(&self, logical_id: &str) -> Result<&QueueSpec, TemplateError> {
        self.queues
            .iter()
            .find(|q| q.logical_id == logical_id)
            .ok_or_else(|| shape(format!("no queue {logical_id}")))
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    v.and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    })
}

fn boolean(v: Option<&Value>) -> bool {
    v.and_then(|v| v.as_bool().or_else(|| v.as_str().map(|s| s == "true")))
        .unwrap_or(false)
}

fn queue_spec(logical_id: String, props: &Value) -> Result<QueueSpec, TemplateError> {
    let redrive = match props.get("RedrivePolicy") {
        None => None,
        Some(policy) => {
            let target = policy
                .get("deadLetterTargetArn")
                .ok_or_else(|| shape("RedrivePolicy without deadLetterTargetArn"))?;
            let (dlq, attr) = get_att(target)
                .ok_or_else(|| shape("deadLetterTargetArn must be !GetAtt Queue.Arn"))?;
            if attr != "Arn" {
                return Err(shape("deadLetterTargetArn must be !GetAtt Queue.Arn"));
            }
            let max = int(policy.get("maxReceiveCount")).ok_or_else(|| shape("maxReceiveCount"))?;
            Some((dlq, max))
        }
    };
    Ok(QueueSpec {
        name: props
            .get("QueueName")
            .cloned()
            .ok_or_else(|| shape(format!("{logical_id} has no QueueName")))?,
        fifo: boolean(props.get("FifoQueue")),
        content_based_deduplication: boolean(props.get("ContentBasedDeduplication")),
        visibility_timeout: int(props.get("VisibilityTimeout")),
        message_retention_period: int(props.get("MessageRetentionPeriod")),
        maximum_message_size: int(props.get("MaximumMessageSize")),
        redrive,
        logical_id,
    })
}

fn key_elements(v: Option<&Value>) -> Result<Vec<KeyElement>, TemplateError> {
    let list = v
        .and_then(Value::as_sequence)
        .ok_or_else(|| shape("KeySchema"))?;
    list.iter()
        .map(|k| {
            Ok(KeyElement {
                attribute: k
                    .get("AttributeName")
                    .and_then(Value::as_str)
                    .ok_or_else(|| shape("AttributeName"))?
                    .to_owned(),
                key_type: k
                    .get("KeyType")
                    .and_then(Value::as_str)
                    .ok_or_else(|| shape("KeyType"))?
                    .to_owned(),
            })
        })
        .collect()
}

fn table_spec(logical_id: String, props: &Value) -> Result<TableSpec, TemplateError> {
    let mut attributes = BTreeMap::new();
    for a in props
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .ok_or_else(|| shape("AttributeDefinitions"))?
    {
        attributes.insert(
            a.get("AttributeName")
                .and_then(Value::as_str)
                .ok_or_else(|| shape("AttributeName"))?
                .to_owned(),
            a.get("AttributeType")
                .and_then(Value::as_str)
                .ok_or_else(|| shape("AttributeType"))?
                .to_owned(),
        );
    }
    let mut indexes = Vec::new();
    if let Some(list) = props
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
    {
        for index in list {
            indexes.push(IndexSpec {
                name: index
                    .get("IndexName")
                    .and_then(Value::as_str)
                    .ok_or_else(|| shape("IndexName"))?
                    .to_owned(),
                keys: key_elements(index.get("KeySchema"))?,
                projection: index
                    .get("Projection")
                    .and_then(|p| p.get("ProjectionType"))
                    .and_then(Value::as_str)
                    .unwrap_or("ALL")
                    .to_owned(),
            });
        }
    }
    let ttl_attribute = props
        .get("TimeToLiveSpecification")
        .filter(|t| boolean(t.get("Enabled")))
        .and_then(|t| t.get("AttributeName"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(TableSpec {
        name: props
            .get("TableName")
            .cloned()
            .ok_or_else(|| shape(format!("{logical_id} has no TableName")))?,
        attributes,
        keys: key_elements(props.get("KeySchema"))?,
        indexes,
        ttl_attribute,
        logical_id,
    })
}

fn function_spec(
    logical_id: String,
    resource: &Value,
    props: &Value,
) -> Result<FunctionSpec, TemplateError> {
    let binary = resource
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            shape(format!(
                "{logical_id} has no Metadata.BuildProperties.Binary"
            ))
        })?
        .to_owned();
    let mut environment = BTreeMap::new();
    if let Some(vars) = props
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
    {
        for (k, v) in vars {
            environment.insert(
                k.as_str().ok_or_else(|| shape("variable name"))?.to_owned(),
                v.clone(),
            );
        }
    }
    let mut sqs_sources = Vec::new();
    let mut http_paths = Vec::new();
    let mut schedules = Vec::new();
    if let Some(events) = props.get("Events").and_then(Value::as_mapping) {
        for (_, event) in events {
            let p = event.get("Properties").cloned().unwrap_or(Value::Null);
            match event.get("Type").and_then(Value::as_str) {
                Some("SQS") => {
                    let (queue, _) = p
                        .get("Queue")
                        .and_then(get_att)
                        .ok_or_else(|| shape("SQS Queue must be !GetAtt Queue.Arn"))?;
                    let report = p
                        .get("FunctionResponseTypes")
                        .and_then(Value::as_sequence)
                        .is_some_and(|l| {
                            l.iter()
                                .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
                        });
                    sqs_sources.push(SqsSource {
                        queue_logical_id: queue,
                        batch_size: int(p.get("BatchSize")).unwrap_or(10) as i32,
                        report_batch_item_failures: report,
                    });
                }
                Some("HttpApi") => http_paths.push(
                    p.get("Path")
                        .and_then(Value::as_str)
                        .unwrap_or("/")
                        .to_owned(),
                ),
                Some("Schedule" | "ScheduleV2") => schedules.push(
                    p.get("ScheduleExpression")
                        .map(|v| format!("{v:?}"))
                        .unwrap_or_default(),
                ),
                _ => {}
            }
        }
    }
    Ok(FunctionSpec {
        binary,
        timeout_seconds: int(props.get("Timeout")).unwrap_or(3),
        environment,
        sqs_sources,
        http_paths,
        schedules,
        logical_id,
    })
}

/// `!GetAtt X.Attr`, `!GetAtt [X, Attr]` or `{Fn::GetAtt: …}` → (X, Attr).
fn get_att(v: &Value) -> Option<(String, String)> {
    let inner = match v {
        Value::Tagged(t) if t.tag == "GetAtt" => &t.value,
        Value::Mapping(m) => m.get("Fn::GetAtt")?,
        _ => return None,
    };
    match inner {
        Value::String(s) => s.split_once('.').map(|(a, b)| (a.to_owned(), b.to_owned())),
        Value::Sequence(parts) if parts.len() == 2 => {
            Some((parts[0].as_str()?.to_owned(), parts[1].as_str()?.to_owned()))
        }
        _ => None,
    }
}

impl Context {
    /// Resolves a property value to text.
    pub fn resolve(&self, v: &Value) -> Result<String, TemplateError> {
        match v {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(scalar_text(v)),
            Value::Tagged(t) => {
                self.intrinsic(t.tag.to_string().trim_start_matches('!'), &t.value, v)
            }
            Value::Mapping(m) if m.len() == 1 => {
                let (k, inner) = m
                    .iter()
                    .next()
                    .ok_or_else(|| TemplateError::Unresolved(format!("{v:?}")))?;
                let name = k.as_str().unwrap_or("");
                let name = name.strip_prefix("Fn::").unwrap_or(name);
                self.intrinsic(name, inner, v)
            }
            _ => Err(TemplateError::Unresolved(format!("{v:?}"))),
        }
    }

    fn intrinsic(&self, name: &str, inner: &Value, whole: &Value) -> Result<String, TemplateError> {
        match name {
            "Ref" => self.reference(
                inner
                    .as_str()
                    .ok_or_else(|| TemplateError::Unresolved(format!("{whole:?}")))?,
            ),
            "GetAtt" => {
                let (id, attr) = get_att(whole)
                    .ok_or_else(|| TemplateError::Unresolved(format!("{whole:?}")))?;
                self.attribute(&id, &attr)
            }
            "Sub" => self.substitute(
                inner
                    .as_str()
                    .ok_or_else(|| TemplateError::Unresolved(format!("{whole:?}")))?,
            ),
            other => Err(TemplateError::Unresolved(format!("intrinsic {other}"))),
        }
    }

    fn pseudo(&self, name: &str) -> Option<String> {
        Some(match name {
            "AWS::StackName" => self.stack_name.clone(),
            "AWS::Region" => self.region.clone(),
            "AWS::AccountId" => self.account_id.clone(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            _ => return None,
        })
    }

    fn reference(&self, name: &str) -> Result<String, TemplateError> {
        if let Some(value) = self.pseudo(name) {
            return Ok(value);
        }
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.clone());
        }
        self.resources
            .get(name)
            .map(|p| p.reference.clone())
            .ok_or_else(|| TemplateError::Unresolved(format!("!Ref {name}")))
    }

    fn attribute(&self, id: &str, attr: &str) -> Result<String, TemplateError> {
        self.resources
            .get(id)
            .and_then(|p| p.attributes.get(attr))
            .cloned()
            .ok_or_else(|| TemplateError::Unresolved(format!("!GetAtt {id}.{attr}")))
    }

    fn substitute(&self, text: &str) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| TemplateError::Unresolved(format!("!Sub {text}")))?;
            let name = &after[..end];
            let value = match name.split_once('.') {
                Some((id, attr)) if !name.starts_with("AWS::") => self.attribute(id, attr)?,
                _ => self.reference(name)?,
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Every environment variable of a function, resolved.
    pub fn environment(
        &self,
        function: &FunctionSpec,
    ) -> Result<BTreeMap<String, String>, TemplateError> {
        function
            .environment
            .iter()
            .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Template {
        Template::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"),
        )
        .unwrap()
    }

    #[test]
    fn the_real_template_declares_the_pipeline() {
        let t = template();
        let raw = t.queue("RawEventsQueue").unwrap();
        assert!(raw.fifo && !raw.content_based_deduplication);
        let (dlq, max) = raw.redrive.clone().unwrap();
        assert_eq!(dlq, "RawEventsDeadLetterQueue");
        assert!((1..=5).contains(&max), "a small maxReceiveCount");
        let normalize = t.function("NormalizeFunction").unwrap();
        assert_eq!(normalize.binary, "normalize");
        assert_eq!(normalize.sqs_sources[0].queue_logical_id, "RawEventsQueue");
        assert!(normalize.sqs_sources[0].report_batch_item_failures);
        // Visibility timeout must be at least six times the consumer's timeout.
        for f in &t.functions {
            for source in &f.sqs_sources {
                let queue = t.queue(&source.queue_logical_id).unwrap();
                assert!(
                    queue.visibility_timeout.unwrap_or(30) >= 6 * f.timeout_seconds,
                    "{} visibility vs {} timeout",
                    queue.logical_id,
                    f.logical_id
                );
                assert!(
                    source.report_batch_item_failures,
                    "{} must report batch item failures",
                    f.logical_id
                );
            }
        }
        assert!(
            t.function("IngestFunction")
                .unwrap()
                .http_paths
                .contains(&"/webhooks/{platform}".to_owned())
        );
        assert!(!t.function("AlertFunction").unwrap().schedules.is_empty());
        let events = t
            .tables
            .iter()
            .find(|x| x.logical_id == "EventsTable")
            .unwrap();
        assert_eq!(events.ttl_attribute.as_deref(), Some("expiresAt"));
        let index_names: Vec<_> = events.indexes.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(index_names, ["byMember", "byType", "byDay"]);
    }

    #[test]
    fn sub_ref_and_getatt_resolve() {
        let mut ctx = Context {
            stack_name: "s".into(),
            region: "us-east-1".into(),
            account_id: "123".into(),
            parameters: BTreeMap::from([("P".to_owned(), "/x".to_owned())]),
            resources: BTreeMap::new(),
        };
        ctx.resources.insert(
            "Q".into(),
            Physical {
                reference: "http://q".into(),
                attributes: BTreeMap::from([("Arn".to_owned(), "arn:q".to_owned())]),
            },
        );
        let v: Value =
            serde_yaml::from_str(r#"!Sub "${AWS::StackName}-${Q}-${Q.Arn}-${P}""#).unwrap();
        assert_eq!(ctx.resolve(&v).unwrap(), "s-http://q-arn:q-/x");
        let v: Value = serde_yaml::from_str("{Ref: Q}").unwrap();
        assert_eq!(ctx.resolve(&v).unwrap(), "http://q");
        let v: Value = serde_yaml::from_str("!GetAtt Q.Arn").unwrap();
        assert_eq!(ctx.resolve(&v).unwrap(), "arn:q");
        let v: Value = serde_yaml::from_str("!Ref Missing").unwrap();
        assert!(ctx.resolve(&v).is_err());
    }
}
