//! CloudWatch Embedded Metric Format: metrics written as one JSON log line,
//! which CloudWatch Logs turns into metrics asynchronously. No
//! `PutMetricData` call on the request path, no extra permission, no client,
//! and the numbers stay readable in the log next to the run that made them.
//!
//! ```text
//! {"_aws":{"Timestamp":1764000000000,"CloudWatchMetrics":[{"Namespace":"CommunityEvents",
//!   "Dimensions":[["Function"]],"Metrics":[{"Name":"DeadLetters","Unit":"Count"}]}]},
//!  "Function":"alert","DeadLetters":2}
//! ```
//!
//! The document's rules (spec: "Specification: Embedded metric format" in
//! the CloudWatch user guide) enforced here: at most 100 metric definitions
//! per directive (more are split over several lines, each carrying the
//! dimensions), at most 30 dimensions per dimension set, values finite
//! numbers, names and dimension values non-empty ASCII within CloudWatch's
//! lengths.

use std::io::Write;

/// CloudWatch's limit on metric definitions in one directive.
pub const MAX_METRICS_PER_DOCUMENT: usize = 100;
/// CloudWatch's limit on dimensions in one dimension set.
pub const MAX_DIMENSIONS: usize = 30;
const MAX_NAME_CHARS: usize = 255;
const MAX_DIMENSION_VALUE_CHARS: usize = 1024;
const MAX_NAMESPACE_CHARS: usize = 255;

/// The namespace every function's metrics go to (the dashboard reads it).
pub const NAMESPACE: &str = "CommunityEvents";

/// The units CloudWatch accepts (a subset: those a function would report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    CountPerSecond,
    Seconds,
    Milliseconds,
    Microseconds,
    Bytes,
    Kilobytes,
    Megabytes,
    Percent,
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::CountPerSecond => "Count/Second",
            Unit::Seconds => "Seconds",
            Unit::Milliseconds => "Milliseconds",
            Unit::Microseconds => "Microseconds",
            Unit::Bytes => "Bytes",
            Unit::Kilobytes => "Kilobytes",
            Unit::Megabytes => "Megabytes",
            Unit::Percent => "Percent",
            Unit::None => "None",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Metric {
    name: String,
    value: f64,
    unit: Unit,
}

/// A builder of one set of metrics sharing a namespace and dimensions.
///
/// ```
/// use lambda_kit::emf::{Emf, Unit};
/// let line = Emf::new("CommunityEvents")
///     .dimension("Function", "alert")
///     .count("DeadLetters", 2)
///     .millis("SweepDuration", 840.0)
///     .value("ConversionRate", 12.5, Unit::Percent)
///     .to_json(1_764_000_000_000);
/// assert!(line.starts_with('{') && !line.contains('\n'));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Emf {
    namespace: String,
    dimensions: Vec<(String, String)>,
    metrics: Vec<Metric>,
}

impl Emf {
    pub fn new(namespace: &str) -> Emf {
        Emf {
            namespace: sanitize_namespace(namespace),
            dimensions: Vec::new(),
            metrics: Vec::new(),
        }
    }

    /// Adds a dimension (or replaces the value of one of the same name).
    /// Beyond [`MAX_DIMENSIONS`] further dimensions are ignored: CloudWatch
    /// would reject the whole document.
    pub fn dimension(mut self, name: &str, value: &str) -> Emf {
        let name = sanitize_dimension_name(name);
        let value = sanitize(value, MAX_DIMENSION_VALUE_CHARS, "none");
        if let Some(existing) = self.dimensions.iter_mut().find(|(n, _)| *n == name) {
            existing.1 = value;
        } else if self.dimensions.len() < MAX_DIMENSIONS {
            self.dimensions.push((name, value));
        }
        self
    }

    /// A count (unit `Count`).
    pub fn count(self, name: &str, value: i64) -> Emf {
        // Counts beyond 2^53 lose precision in JSON numbers anyway.
        self.value(name, value as f64, Unit::Count)
    }

    /// A duration in milliseconds.
    pub fn millis(self, name: &str, value: f64) -> Emf {
        self.value(name, value, Unit::Milliseconds)
    }

    /// Any value with its unit. A second value of the same name replaces the
    /// first. A value that is not finite is dropped: JSON cannot carry it and
    /// CloudWatch would reject the document.
    pub fn value(mut self, name: &str, value: f64, unit: Unit) -> Emf {
        if !value.is_finite() {
            return self;
        }
        let name = sanitize(name, MAX_NAME_CHARS, "unnamed");
        if let Some(existing) = self.metrics.iter_mut().find(|m| m.name == name) {
            existing.value = value;
            existing.unit = unit;
        } else {
            self.metrics.push(Metric { name, value, unit });
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The EMF documents, one per [`MAX_METRICS_PER_DOCUMENT`] metrics, each
    /// a single-line JSON object. None when there are no metrics.
    pub fn documents(&self, timestamp_ms: i64) -> Vec<String> {
        let dimension_names: Vec<&str> = self.dimensions.iter().map(|(n, _)| n.as_str()).collect();
        self.metrics
            .chunks(MAX_METRICS_PER_DOCUMENT)
            .map(|chunk| {
                let mut root = serde_json::Map::new();
                for (name, value) in &self.dimensions {
                    root.insert(name.clone(), serde_json::Value::from(value.as_str()));
                }
                let mut definitions = Vec::with_capacity(chunk.len());
                for metric in chunk {
                    // A metric must not overwrite a dimension's (or the
                    // metadata's) member: it gets its own name.
                    let mut key = metric.name.clone();
                    while key == "_aws" || dimension_names.contains(&key.as_str()) {
                        key.push_str("_value");
                    }
                    definitions.push(serde_json::json!({
                        "Name": key,
                        "Unit": metric.unit.as_str(),
                    }));
                    root.insert(key, serde_json::Value::from(metric.value));
                }
                root.insert(
                    "_aws".to_owned(),
                    serde_json::json!({
                        "Timestamp": timestamp_ms,
                        "CloudWatchMetrics": [{
                            "Namespace": self.namespace,
                            "Dimensions": [dimension_names],
                            "Metrics": definitions,
                        }],
                    }),
                );
                serde_json::Value::Object(root).to_string()
            })
            .collect()
    }

    /// The documents, one per line (a single line for up to
    /// [`MAX_METRICS_PER_DOCUMENT`] metrics); empty when there are none.
    pub fn to_json(&self, timestamp_ms: i64) -> String {
        self.documents(timestamp_ms).join("\n")
    }

    /// Writes the documents to stdout, stamped now. Lambda hands stdout
    /// lines to CloudWatch Logs, which extracts the metrics. The lock keeps
    /// each line whole between concurrent log writers.
    pub fn emit(&self) {
        if !enabled() {
            return;
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut out = std::io::stdout().lock();
        for document in self.documents(now_ms) {
            // Metrics are best effort: a closed or full stdout must not fail
            // the run that measured them, and there is nowhere else to say so.
            writeln!(out, "{document}").ok();
        }
        out.flush().ok();
    }
}

/// Whether metrics go to stdout: inside Lambda (where CloudWatch Logs reads
/// them), or when `EMF_STDOUT=1` asks for them elsewhere. Off in the local
/// stack and tests, whose stdout is for people.
fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| {
        std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
            || std::env::var("EMF_STDOUT").is_ok_and(|v| v == "1")
    })
}

/// Printable ASCII only (CloudWatch's rule for names and dimension values),
/// trimmed, at most `max` characters; `fallback` when nothing is left.
fn sanitize(text: &str, max: usize, fallback: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed: String = cleaned.trim().chars().take(max).collect();
    let trimmed = trimmed.trim_end();
    if trimmed.is_empty() {
        fallback.to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Dimension names also may not start with a colon.
fn sanitize_dimension_name(name: &str) -> String {
    let name = sanitize(name, MAX_NAME_CHARS, "Dimension");
    match name.strip_prefix(':') {
        Some(rest) => format!("_{rest}"),
        None => name,
    }
}

/// Namespaces allow letters, digits and `.-_/#:` and spaces, and may not
/// start with `AWS/` (reserved for AWS's own).
fn sanitize_namespace(namespace: &str) -> String {
    let cleaned: String = namespace
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_/#: ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = sanitize(&cleaned, MAX_NAMESPACE_CHARS, "Default");
    if cleaned.starts_with("AWS/") {
        format!("Custom/{cleaned}")
    } else {
        cleaned
    }
}

/// One count for one function, broken down by one dimension (e.g. ingest's
/// `Rejected` by `Reason`): the shape every function's per-event metrics take.
pub fn count_by(function: &str, dimension: &str, value: &str, metric: &str, count: i64) {
    Emf::new(NAMESPACE)
        .dimension("Function", function)
        .dimension(dimension, value)
        .count(metric, count)
        .emit();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

    use serde_json::{Value, json};

    use super::*;

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn a_document_carries_metadata_values_and_dimensions() {
        let line = Emf::new("CommunityEvents")
            .dimension("Function", "alert")
            .count("DeadLetters", 3)
            .millis("SweepDuration", 840.5)
            .value("ConversionRate", 12.5, Unit::Percent)
            .to_json(1_764_000_000_000);
        assert!(!line.contains('\n'));
        let doc = parse(&line);
        assert_eq!(
            doc["_aws"],
            json!({
                "Timestamp": 1_764_000_000_000_i64,
                "CloudWatchMetrics": [{
                    "Namespace": "CommunityEvents",
                    "Dimensions": [["Function"]],
                    "Metrics": [
                        {"Name": "DeadLetters", "Unit": "Count"},
                        {"Name": "SweepDuration", "Unit": "Milliseconds"},
                        {"Name": "ConversionRate", "Unit": "Percent"},
                    ],
                }],
            })
        );
        assert_eq!(doc["Function"], "alert");
        assert_eq!(doc["DeadLetters"], 3.0);
        assert_eq!(doc["SweepDuration"], 840.5);
        assert_eq!(doc["ConversionRate"], 12.5);
        assert_eq!(doc.as_object().unwrap().len(), 5);
    }

    #[test]
    fn every_referenced_member_exists_at_the_root() {
        let doc = parse(
            &Emf::new("ns")
                .dimension("Function", "alert")
                .dimension("Stage", "dev")
                .count("a", 1)
                .to_json(0),
        );
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        for name in directive["Dimensions"][0].as_array().unwrap() {
            assert!(doc[name.as_str().unwrap()].is_string());
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            assert!(doc[metric["Name"].as_str().unwrap()].is_number());
        }
    }

    #[test]
    fn without_dimensions_the_set_is_empty() {
        let doc = parse(&Emf::new("ns").count("a", 1).to_json(0));
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }

    #[test]
    fn more_than_a_hundred_metrics_split_into_documents_with_the_dimensions() {
        let mut emf = Emf::new("ns").dimension("Function", "alert");
        for i in 0..250 {
            emf = emf.count(&format!("m{i}"), i);
        }
        let text = emf.to_json(7);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let docs: Vec<Value> = lines.iter().map(|l| parse(l)).collect();
        let sizes: Vec<usize> = docs
            .iter()
            .map(|d| {
                d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(sizes, [100, 100, 50]);
        for doc in &docs {
            assert_eq!(doc["Function"], "alert");
            assert_eq!(doc["_aws"]["Timestamp"], 7);
        }
        assert_eq!(docs[2]["m249"], 249.0);
        assert!(docs[2].get("m0").is_none());
        assert_eq!(emf.documents(7).len(), 3);
    }

    #[test]
    fn names_and_values_are_sanitized() {
        let doc = parse(
            &Emf::new("AWS/Lambda ✓")
                .dimension(":Func\ttion", "  ålert\n ")
                .dimension("Empty", "   ")
                .count(" Dead\u{0}Letters ", 1)
                .count("", 2)
                .count(&"x".repeat(300), 3)
                .to_json(0),
        );
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Custom/AWS/Lambda _");
        assert_eq!(directive["Dimensions"], json!([["_Func_tion", "Empty"]]));
        assert_eq!(doc["_Func_tion"], "_lert_");
        assert_eq!(doc["Empty"], "none");
        assert_eq!(doc["Dead_Letters"], 1.0);
        assert_eq!(doc["unnamed"], 2.0);
        assert_eq!(doc["x".repeat(255).as_str()], 3.0);
        for (key, _) in doc.as_object().unwrap() {
            assert!(key.is_ascii());
        }
    }

    #[test]
    fn duplicates_replace_and_non_finite_values_are_dropped() {
        let emf = Emf::new("ns")
            .dimension("Function", "a")
            .dimension("Function", "b")
            .count("n", 1)
            .count("n", 2)
            .value("nan", f64::NAN, Unit::None)
            .value("inf", f64::INFINITY, Unit::None);
        let doc = parse(&emf.to_json(0));
        assert_eq!(doc["Function"], "b");
        assert_eq!(doc["n"], 2.0);
        assert!(doc.get("nan").is_none() && doc.get("inf").is_none());
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "n", "Unit": "Count"}])
        );
    }

    #[test]
    fn a_metric_named_like_a_dimension_keeps_both() {
        let doc = parse(
            &Emf::new("ns")
                .dimension("Function", "alert")
                .count("Function", 4)
                .count("_aws", 5)
                .to_json(0),
        );
        assert_eq!(doc["Function"], "alert");
        assert_eq!(doc["Function_value"], 4.0);
        assert_eq!(doc["_aws_value"], 5.0);
        assert!(doc["_aws"].is_object());
    }

    #[test]
    fn dimensions_stop_at_the_limit() {
        let mut emf = Emf::new("ns").count("a", 1);
        for i in 0..40 {
            emf = emf.dimension(&format!("d{i}"), "v");
        }
        let doc = parse(&emf.to_json(0));
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
                .as_array()
                .unwrap()
                .len(),
            MAX_DIMENSIONS
        );
        assert!(doc.get("d30").is_none());
    }

    #[test]
    fn nothing_to_write_without_metrics() {
        let emf = Emf::new("ns").dimension("Function", "alert");
        assert!(emf.is_empty());
        assert!(emf.documents(0).is_empty());
        assert_eq!(emf.to_json(0), "");
    }
}
