//! The explainable category model: which kind of community signal an event
//! is (bug report, feature request, question, contribution, appreciation,
//! chat, noise), how sure the rules are, and why.
//!
//! The rules and their weights live in a versioned JSON file
//! (`weights/categories@1.json`) shipped with the function and replaceable by
//! the deployer; every cue that fires leaves a [`Reason`] naming it, so a
//! classification can always be explained and the weights tuned against the
//! labelled evaluation set (`eval/labelled.jsonl`, gated by macro-F1 in tests).

use std::collections::BTreeMap;

use canonical_event::{EventDraft, Reason};
use serde::Deserialize;

/// The weights shipped with the function.
pub const DEFAULT_WEIGHTS: &str = include_str!("../weights/categories@1.json");

pub use canonical_event::Category;

/// What the event alone does not say.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The category of the thread a reply sits in, when known.
    pub thread_category: Option<Category>,
    /// How many contributions the author made before this one.
    pub prior_contributions: u32,
    /// Files a pull request changes, when the platform says.
    pub changed_paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub category: Category,
    /// The winning category's evidence, capped at 1.
    pub score: f64,
    /// Every cue that supported the winning category, strongest first.
    pub reasons: Vec<Reason>,
    /// The weights file's version, recorded on the event.
    pub weights_version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("weights file is not valid: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Weights {
    pub version: String,
    bot: Fixed,
    thread: Thread,
    question: Question,
    empty: Empty,
    priors: BTreeMap<String, BTreeMap<Category, f64>>,
    cues: Vec<Cue>,
}

#[derive(Debug, Clone, Deserialize)]
struct Fixed {
    category: Category,
    weight: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Thread {
    weight: f64,
    reply_types: Vec<String>,
    inherit: Vec<Category>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Question {
    weight: f64,
    starts: Vec<String>,
    ends_with: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Empty {
    min_text_chars: usize,
    weight: f64,
    types: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Cue {
    id: String,
    category: Category,
    weight: f64,
    #[serde(rename = "in")]
    field: Field,
    #[serde(default)]
    any: Vec<String>,
    #[serde(default)]
    all: Vec<String>,
    detail: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Field {
    Text,
    TextExact,
    Title,
    Labels,
    PathsDocsOnly,
}

impl Weights {
    pub fn shipped() -> Result<Weights, WeightsError> {
        Weights::from_json(DEFAULT_WEIGHTS)
    }

    pub fn from_json(text: &str) -> Result<Weights, WeightsError> {
        let weights: Weights =
            serde_json::from_str(text).map_err(|e| WeightsError::Invalid(e.to_string()))?;
        if weights.version.trim().is_empty() {
            return Err(WeightsError::Invalid("version is empty".into()));
        }
        let all = weights.cues.iter().map(|c| c.weight).chain([
            weights.bot.weight,
            weights.thread.weight,
            weights.question.weight,
        ]);
        if all.into_iter().any(|w| !w.is_finite() || w < 0.0) {
            return Err(WeightsError::Invalid(
                "weights must be finite and non-negative".into(),
            ));
        }
        Ok(weights)
    }
}

/// Classifies one event.
pub fn classify(draft: &EventDraft, context: &Context, weights: &Weights) -> Classification {
    let mut evidence: BTreeMap<Category, Vec<Reason>> = BTreeMap::new();
    let mut add = |category: Category, rule: &str, weight: f64, detail: String| {
        evidence.entry(category).or_default().push(Reason {
            rule: rule.to_owned(),
            weight,
            detail,
        });
    };
    let event_type = draft.event_type.as_str();

    if draft.actor.is_bot {
        add(
            weights.bot.category,
            "actor:bot",
            weights.bot.weight,
            "automated account".into(),
        );
    }
    if let Some(priors) = weights.priors.get(event_type) {
        for (category, weight) in priors {
            add(
                *category,
                &format!("event:{event_type}"),
                *weight,
                format!("a {event_type} event"),
            );
        }
    }

    let text = draft
        .content
        .excerpt
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_lowercase();
    let title = draft
        .content
        .title
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_lowercase();
    let labels: Vec<String> = draft
        .content
        .labels
        .iter()
        .map(|l| l.trim().to_lowercase())
        .collect();

    if text.chars().count() < weights.empty.min_text_chars
        && title.is_empty()
        && weights.empty.types.iter().any(|t| t == event_type)
    {
        add(
            Category::Noise,
            "text:empty",
            weights.empty.weight,
            "no text to speak of".into(),
        );
    }

    // A question: the text (or, without text, the title) asks something.
    let asked = if text.is_empty() { &title } else { &text };
    let q = &weights.question;
    if !asked.is_empty()
        && (asked.ends_with(q.ends_with.as_str())
            || q.starts.iter().any(|s| asked.starts_with(s.as_str())))
    {
        add(
            Category::Question,
            "text:question_form",
            q.weight,
            "phrased as a question".into(),
        );
    }

    if let Some(thread) = context.thread_category
        && weights.thread.inherit.contains(&thread)
        && weights.thread.reply_types.iter().any(|t| t == event_type)
    {
        add(
            thread,
            "thread:context",
            weights.thread.weight,
            format!("a reply in a {} thread", thread.as_str()),
        );
    }

    for cue in &weights.cues {
        let fired = match cue.field {
            Field::Text => contains(&text, cue),
            Field::Title => contains(&title, cue),
            Field::TextExact => cue.any.contains(&text),
            Field::Labels => labels.iter().any(|l| cue.any.iter().any(|a| l == a)),
            Field::PathsDocsOnly => {
                !context.changed_paths.is_empty()
                    && context.changed_paths.iter().all(|p| is_docs_path(p))
            }
        };
        if fired {
            add(cue.category, &cue.id, cue.weight, cue.detail.clone());
        }
    }

    // The category with the most evidence; ties go to the more actionable one.
    let total = |reasons: &Vec<Reason>| reasons.iter().map(|r| r.weight).sum::<f64>();
    let (category, mut reasons) = Category::ALL
        .into_iter()
        .filter_map(|c| evidence.get(&c).map(|r| (c, r.clone())))
        .fold(None::<(Category, Vec<Reason>)>, |best, (c, r)| match best {
            Some((bc, br)) if total(&br) >= total(&r) => Some((bc, br)),
            _ => Some((c, r)),
        })
        .unwrap_or((Category::Chat, Vec::new()));
    let mut score = total(&reasons);
    if category == Category::Contribution {
        if draft.first_time_contributor {
            reasons.push(Reason {
                rule: "author:first_time".into(),
                weight: 0.05,
                detail: "first contribution to this project".into(),
            });
            score += 0.05;
        } else if context.prior_contributions >= 3 {
            reasons.push(Reason {
                rule: "author:regular".into(),
                weight: 0.05,
                detail: format!("{} earlier contributions", context.prior_contributions),
            });
            score += 0.05;
        }
    }
    reasons.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    Classification {
        category,
        score: (score.clamp(0.0, 1.0) * 1000.0).round() / 1000.0,
        reasons,
        weights_version: weights.version.clone(),
    }
}

fn contains(haystack: &str, cue: &Cue) -> bool {
    !haystack.is_empty()
        && (cue.any.is_empty() || cue.any.iter().any(|a| haystack.contains(a.as_str())))
        && cue.all.iter().all(|a| haystack.contains(a.as_str()))
        && !(cue.any.is_empty() && cue.all.is_empty())
}

/// Documentation files: the paths a docs-only pull request touches.
pub fn is_docs_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.starts_with("docs/")
        || lower.starts_with("doc/")
        || lower.contains("/docs/")
        || lower.ends_with(".md")
        || lower.ends_with(".mdx")
        || lower.ends_with(".rst")
        || lower.ends_with(".adoc")
        || lower
            .rsplit('/')
            .next()
            .is_some_and(|f| f.starts_with("readme"))
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
