//! Scoring the category model against a labelled set: per-category precision
//! and recall, macro-F1, and the confusion between categories. Pure; the
//! labelled examples live in `eval/labelled.jsonl`.

use std::collections::BTreeMap;

use canonical_event::{
    Actor, Content, EXCERPT_MAX_CHARS, EventDraft, EventId, EventType, Platform, Source, excerpt,
};
use serde::Deserialize;

use crate::classify::{Category, Context, Weights, classify};

/// The labelled set shipped with the crate.
pub const LABELLED: &str = include_str!("../eval/labelled.jsonl");
/// The macro-F1 the current weights must not fall below.
pub const BASELINE: &str = include_str!("../eval/baseline.json");

/// One labelled example.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Example {
    pub id: String,
    pub platform: String,
    pub event_type: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub first_time_contributor: bool,
    #[serde(default)]
    pub thread_category: Option<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    pub category: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("line {line}: {why}")]
    Example { line: usize, why: String },
}

pub fn parse_examples(text: &str) -> Result<Vec<Example>, EvalError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let example: Example = serde_json::from_str(l).map_err(|e| EvalError::Example {
                line: i + 1,
                why: e.to_string(),
            })?;
            let known = Category::parse(&example.category).is_some()
                && EventType::parse(&example.event_type).is_some()
                && Platform::parse(&example.platform).is_some()
                && example
                    .thread_category
                    .as_deref()
                    .is_none_or(|c| Category::parse(c).is_some());
            if known {
                Ok(example)
            } else {
                Err(EvalError::Example {
                    line: i + 1,
                    why: "unknown category, event type, platform or thread category".into(),
                })
            }
        })
        .collect()
}

/// The draft and context an example stands for.
pub fn draft_of(example: &Example) -> Result<(EventDraft, Context), EvalError> {
    let platform = Platform::parse(&example.platform).unwrap_or(Platform::Relay);
    let at = time::OffsetDateTime::UNIX_EPOCH;
    let draft = EventDraft {
        event_id: EventId::derive(platform, &format!("eval/{}", example.id), 0).map_err(|e| {
            EvalError::Example {
                line: 0,
                why: e.to_string(),
            }
        })?,
        platform,
        event_type: EventType::parse(&example.event_type).unwrap_or(EventType::MessagePosted),
        actor: Actor {
            platform_user_id: "u".into(),
            handle: "u".into(),
            display_name: None,
            is_bot: example.is_bot,
        },
        timestamp: at,
        received_at: at,
        source: Source::default(),
        content: Content {
            title: example.title.clone(),
            excerpt: example
                .text
                .as_deref()
                .and_then(|t| excerpt(t, EXCERPT_MAX_CHARS)),
            labels: example.labels.clone(),
        },
        first_time_contributor: example.first_time_contributor,
        delivery_id: example.id.clone(),
        index_in_delivery: 0,
        platform_event: example.event_type.clone(),
        adapter: "eval".into(),
        identity_hints: Default::default(),
    };
    let context = Context {
        thread_category: example.thread_category.as_deref().and_then(Category::parse),
        prior_contributions: 0,
        changed_paths: example.paths.clone(),
    };
    Ok((draft, context))
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CategoryScore {
    pub support: usize,
    pub predicted: usize,
    pub correct: usize,
}

impl CategoryScore {
    pub fn precision(&self) -> f64 {
        ratio(self.correct, self.predicted)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.correct, self.support)
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub examples: usize,
    pub per_category: BTreeMap<Category, CategoryScore>,
    /// (expected, predicted) → count, mistakes only.
    pub confusions: BTreeMap<(Category, Category), usize>,
    pub mistakes: Vec<(String, Category, Category)>,
}

impl Report {
    pub fn macro_f1(&self) -> f64 {
        let scores: Vec<f64> = Category::ALL
            .iter()
            .filter_map(|c| self.per_category.get(c))
            .filter(|s| s.support > 0)
            .map(CategoryScore::f1)
            .collect();
        if scores.is_empty() {
            0.0
        } else {
            scores.iter().sum::<f64>() / scores.len() as f64
        }
    }

    pub fn accuracy(&self) -> f64 {
        let correct: usize = self.per_category.values().map(|s| s.correct).sum();
        ratio(correct, self.examples)
    }

    /// The table for BENCHMARKS.md.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| category | examples | predicted | precision | recall | F1 |\n|---|---|---|---|---|---|\n",
        );
        for category in Category::ALL {
            let s = self
                .per_category
                .get(&category)
                .cloned()
                .unwrap_or_default();
            out.push_str(&format!(
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} |\n",
                category.as_str(),
                s.support,
                s.predicted,
                s.precision(),
                s.recall(),
                s.f1()
            ));
        }
        out.push_str(&format!(
            "| **macro** | {} | | | | **{:.4}** (accuracy {:.3}) |\n",
            self.examples,
            self.macro_f1(),
            self.accuracy()
        ));
        out
    }
}

/// Classifies every example with `weights` and scores the result.
pub fn evaluate(examples: &[Example], weights: &Weights) -> Report {
    let mut report = Report {
        examples: examples.len(),
        ..Report::default()
    };
    for example in examples {
        let Some(expected) = Category::parse(&example.category) else {
            continue;
        };
        let Ok((draft, context)) = draft_of(example) else {
            continue;
        };
        let predicted = classify(&draft, &context, weights).category;
        report.per_category.entry(expected).or_default().support += 1;
        report.per_category.entry(predicted).or_default().predicted += 1;
        if expected == predicted {
            report.per_category.entry(expected).or_default().correct += 1;
        } else {
            *report.confusions.entry((expected, predicted)).or_default() += 1;
            report
                .mistakes
                .push((example.id.clone(), expected, predicted));
        }
    }
    report
}

/// The recorded baseline macro-F1.
pub fn baseline_macro_f1() -> Result<f64, EvalError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Baseline {
        macro_f1: f64,
    }
    serde_json::from_str::<Baseline>(BASELINE)
        .map(|b| b.macro_f1)
        .map_err(|e| EvalError::Example {
            line: 0,
            why: e.to_string(),
        })
}
