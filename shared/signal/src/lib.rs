//! Signal: what kind of community signal an event is, how strong, whether a
//! human must look at it first, and where it goes. All pure.
//!
//! [`assess`] runs the category model ([`classify`]), maps the category to a
//! band and a routing target, then moderation ([`moderation`]): a held event
//! is routed to `review` and keeps the target a reviewer's approval releases
//! it to.
//!
//! Bands: `low` < 0.4 ≤ `medium` < 0.7 ≤ `high`. Bug reports, feature
//! requests and questions are `medium` (one ticket each in the backlog);
//! contributions are `high` (recognition); appreciation, chat and noise are
//! `low` (analytics). Within a band the score grows with the category model's
//! evidence, so the strongest reports sort first. Bots always go to
//! analytics with score 0 and are not moderated.

pub mod classify;
pub mod evaluation;
pub mod lifecycle;
pub mod moderation;
pub mod similarity;

use canonical_event::{
    Assessment, Category, Classification, EventDraft, Moderation, ModerationFlag, Reason,
    RoutingTarget, Signal,
};

pub const MEDIUM_AT: f64 = 0.4;
pub const HIGH_AT: f64 = 0.7;

/// Everything [`assess`] needs besides the draft, loaded once per cold start.
#[derive(Debug, Clone)]
pub struct Models {
    pub weights: classify::Weights,
    pub lexicon: moderation::Lexicon,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Weights(#[from] classify::WeightsError),
    #[error(transparent)]
    Lexicon(#[from] moderation::LexiconError),
}

impl Models {
    /// The weights and lexicon shipped with the function.
    pub fn shipped() -> Result<Models, ModelError> {
        Ok(Models {
            weights: classify::Weights::shipped()?,
            lexicon: moderation::Lexicon::shipped()?,
        })
    }
}

/// What the event alone does not say, looked up by the caller (normalize).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub classify: classify::Context,
    pub moderation: moderation::Context,
}

/// The band a category belongs to.
pub fn band_of(category: Category) -> Signal {
    match category {
        Category::BugReport | Category::FeatureRequest | Category::Question => Signal::Medium,
        Category::Contribution => Signal::High,
        Category::Appreciation | Category::Chat | Category::Noise => Signal::Low,
    }
}

/// Where a band goes when moderation holds nothing.
pub fn target_of(signal: Signal) -> RoutingTarget {
    match signal {
        Signal::Low => RoutingTarget::Analytics,
        Signal::Medium => RoutingTarget::ProductBacklog,
        Signal::High => RoutingTarget::Recognition,
    }
}

/// Classifies, bands, moderates and routes one draft.
pub fn assess(draft: &EventDraft, facts: &Facts, models: &Models) -> Assessment {
    let classification = classify::classify(draft, &facts.classify, &models.weights);
    let mut reasons = classification.reasons.clone();
    if draft.actor.is_bot {
        reasons.push(Reason {
            rule: "actor:bot".into(),
            weight: 0.0,
            detail: "automated account; kept for audit, not community signal".into(),
        });
        return Assessment {
            signal_score: 0.0,
            signal: Signal::Low,
            reasons,
            routing_target: RoutingTarget::Analytics,
            scoring: classification.weights_version.clone(),
            classification: Some(record(&classification)),
            moderation: None,
        };
    }
    let signal = band_of(classification.category);
    let evidence = classification.score.clamp(0.0, 1.0);
    let score = match signal {
        Signal::Low => evidence * (MEDIUM_AT - 0.01),
        Signal::Medium => MEDIUM_AT + evidence * (HIGH_AT - MEDIUM_AT - 0.01),
        Signal::High => HIGH_AT + evidence * (1.0 - HIGH_AT),
    };
    // Rounded so the same inputs print and compare the same everywhere.
    let score = (score * 1000.0).round() / 1000.0;
    let release_target = target_of(signal);

    let verdict = moderation::moderate(&moderated_text(draft), &facts.moderation, &models.lexicon);
    let moderation = (!verdict.flags.is_empty()).then(|| Moderation {
        held: verdict.hold,
        flags: verdict
            .flags
            .iter()
            .map(|flag| ModerationFlag {
                kind: flag.kind,
                score: flag.score.clamp(0.0, 1.0),
                reasons: flag.reasons.clone(),
            })
            .collect(),
        release_target,
        lexicon_version: verdict.lexicon_version.clone(),
    });
    let routing_target = if verdict.hold {
        reasons.push(Reason {
            rule: "moderation:held".into(),
            weight: 0.0,
            detail: format!(
                "held for human review ({}); released to {release_target} if approved",
                verdict
                    .flags
                    .iter()
                    .map(|f| f.kind.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
        RoutingTarget::Review
    } else {
        release_target
    };
    Assessment {
        signal_score: score,
        signal,
        reasons,
        routing_target,
        scoring: classification.weights_version.clone(),
        classification: Some(record(&classification)),
        moderation,
    }
}

/// The text moderation reads: the title and the body.
pub fn moderated_text(draft: &EventDraft) -> String {
    [
        draft.content.title.as_deref(),
        draft.content.excerpt.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("\n")
}

fn record(classification: &classify::Classification) -> Classification {
    Classification {
        category: classification.category,
        score: (classification.score.clamp(0.0, 1.0) * 1000.0).round() / 1000.0,
        weights_version: classification.weights_version.clone(),
    }
}

pub fn band(score: f64) -> Signal {
    if score >= HIGH_AT {
        Signal::High
    } else if score >= MEDIUM_AT {
        Signal::Medium
    } else {
        Signal::Low
    }
}

#[cfg(test)]
mod tests;
