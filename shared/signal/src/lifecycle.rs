//! Contributor lifecycle: newcomer → participant → contributor → regular →
//! champion, from weighted activity over a window with inactivity decay.
//! Pure: the caller supplies a member's recent activity and the time.
//!
//! Points: each activity weighs by its event type and halves every
//! `halfLifeDays`, so a member who stops participating drifts back down.
//! Contributions are counted separately: nobody becomes a contributor by
//! chatting. Thresholds and weights are configuration
//! (`weights/lifecycle@1.json`), replaceable by the deployer.

use std::collections::BTreeMap;

use canonical_event::EventType;
use serde::Deserialize;
use time::OffsetDateTime;

/// The namespace transition ids derive in (any fixed platform would do; the
/// `lifecycle/` prefix keeps them apart from delivered events' ids).
const LIFECYCLE_ID_NAMESPACE: canonical_event::Platform = canonical_event::Platform::Relay;

pub const DEFAULT_LIFECYCLE: &str = include_str!("../weights/lifecycle@1.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Newcomer,
    Participant,
    Contributor,
    Regular,
    Champion,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Newcomer => "newcomer",
            Stage::Participant => "participant",
            Stage::Contributor => "contributor",
            Stage::Regular => "regular",
            Stage::Champion => "champion",
        }
    }

    pub const ALL: [Stage; 5] = [
        Stage::Newcomer,
        Stage::Participant,
        Stage::Contributor,
        Stage::Regular,
        Stage::Champion,
    ];

    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleConfig {
    pub version: String,
    window_days: i64,
    half_life_days: f64,
    weights: BTreeMap<String, f64>,
    contribution_types: Vec<String>,
    stages: Vec<Threshold>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Threshold {
    stage: Stage,
    min_points: f64,
    #[serde(default)]
    min_contributions: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("lifecycle configuration is not valid: {0}")]
    Invalid(String),
}

impl LifecycleConfig {
    /// How far back activity counts; older activity can be forgotten.
    pub fn window_days(&self) -> i64 {
        self.window_days
    }

    pub fn shipped() -> Result<LifecycleConfig, LifecycleError> {
        LifecycleConfig::from_json(DEFAULT_LIFECYCLE)
    }

    pub fn from_json(text: &str) -> Result<LifecycleConfig, LifecycleError> {
        let config: LifecycleConfig =
            serde_json::from_str(text).map_err(|e| LifecycleError::Invalid(e.to_string()))?;
        if config.window_days <= 0
            || !config.half_life_days.is_finite()
            || config.half_life_days <= 0.0
        {
            return Err(LifecycleError::Invalid(
                "windowDays and halfLifeDays must be positive".into(),
            ));
        }
        // Stages must rise: a higher stage never needs less than a lower one.
        let ordered = config.stages.windows(2).all(|w| {
            w[0].stage < w[1].stage
                && w[0].min_points <= w[1].min_points
                && w[0].min_contributions <= w[1].min_contributions
        });
        if !ordered {
            return Err(LifecycleError::Invalid(
                "stages must be listed in order with non-decreasing thresholds".into(),
            ));
        }
        Ok(config)
    }
}

/// One thing a member did.
#[derive(Debug, Clone, Copy)]
pub struct Activity {
    pub event_type: EventType,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub stage: Stage,
    pub points: f64,
    pub contributions: u32,
}

/// Where a member stands `now`, from their activity (any order).
pub fn standing(activity: &[Activity], now: OffsetDateTime, config: &LifecycleConfig) -> Standing {
    let window = time::Duration::days(config.window_days);
    let mut points = 0.0;
    let mut contributions = 0;
    for a in activity {
        let age = now - a.at;
        if age < time::Duration::ZERO || age > window {
            continue;
        }
        let name = a.event_type.as_str();
        let weight = config.weights.get(name).copied().unwrap_or(0.0);
        let age_days = age.as_seconds_f64() / 86_400.0;
        points += weight * 0.5f64.powf(age_days / config.half_life_days);
        if config.contribution_types.iter().any(|t| t == name) {
            contributions += 1;
        }
    }
    let stage = config
        .stages
        .iter()
        .filter(|t| points >= t.min_points && contributions >= t.min_contributions)
        .map(|t| t.stage)
        .max()
        .unwrap_or(Stage::Newcomer);
    Standing {
        stage,
        points: (points * 1000.0).round() / 1000.0,
        contributions,
    }
}

/// A change worth an event: the first contribution ever, or a stage change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    FirstContribution,
    StageUp { from: Stage, to: Stage },
    StageDown { from: Stage, to: Stage },
}

/// What changed between the stored standing and the new one.
/// `ever_contributed` is the member's all-time flag before this activity.
pub fn transitions(before: Stage, after: &Standing, ever_contributed: bool) -> Vec<Transition> {
    let mut out = Vec::new();
    if !ever_contributed && after.contributions > 0 {
        out.push(Transition::FirstContribution);
    }
    if after.stage > before {
        out.push(Transition::StageUp {
            from: before,
            to: after.stage,
        });
    } else if after.stage < before {
        out.push(Transition::StageDown {
            from: before,
            to: after.stage,
        });
    }
    out
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;

/// The event a transition becomes: recorded in the member's history like
/// any other event, routed to recognition when it is a step up (so the
/// recognition sink can thank them) and to analytics when it is a decline.
/// `sequence` is the member's transition count before this one, which makes
/// the id deterministic: re-evaluating after a crash yields the same ids.
pub fn transition_event(
    trigger: &canonical_event::CanonicalEvent,
    transition: &Transition,
    sequence: u32,
    standing: &Standing,
    config_version: &str,
    now: OffsetDateTime,
) -> Result<canonical_event::CanonicalEvent, canonical_event::EventIdError> {
    use canonical_event::{
        CanonicalEvent, Content, EventId, Provenance, Reason, RoutingTarget, SCHEMA_VERSION, Signal,
    };
    let (event_type, name, title, labels, signal, score, target) = match transition {
        Transition::FirstContribution => (
            EventType::FirstContribution,
            "first_contribution",
            "First contribution".to_owned(),
            vec!["milestone:first_contribution".to_owned()],
            Signal::High,
            1.0,
            RoutingTarget::Recognition,
        ),
        Transition::StageUp { from, to } => (
            EventType::StageChanged,
            "stage_up",
            format!("Stage up: {} → {}", from.as_str(), to.as_str()),
            vec![
                format!("stage:{}", to.as_str()),
                format!("from:{}", from.as_str()),
            ],
            Signal::High,
            0.9,
            RoutingTarget::Recognition,
        ),
        Transition::StageDown { from, to } => (
            EventType::StageChanged,
            "stage_down",
            format!("Stage down: {} → {}", from.as_str(), to.as_str()),
            vec![
                format!("stage:{}", to.as_str()),
                format!("from:{}", from.as_str()),
            ],
            Signal::Low,
            0.1,
            RoutingTarget::Analytics,
        ),
    };
    Ok(CanonicalEvent {
        schema_version: SCHEMA_VERSION,
        // Scoped to the member, not to the platform of the trigger: a member
        // with identities on several platforms has one sequence of
        // transitions, and the n-th has one id whichever event caused it.
        event_id: EventId::derive(
            LIFECYCLE_ID_NAMESPACE,
            &format!("lifecycle/{}/{sequence}", trigger.user_id),
            0,
        )?,
        platform: trigger.platform,
        event_type,
        user_id: trigger.user_id.clone(),
        actor: trigger.actor.clone(),
        timestamp: trigger.timestamp,
        received_at: now,
        source: trigger.source.clone(),
        content: Content {
            title: Some(title),
            excerpt: None,
            labels,
        },
        signal_score: score,
        signal,
        reasons: vec![Reason {
            rule: format!("lifecycle:{name}"),
            weight: score,
            detail: format!(
                "{:.1} points and {} contributions in the window; now {}",
                standing.points,
                standing.contributions,
                standing.stage.as_str()
            ),
        }],
        routing_target: target,
        provenance: Provenance {
            delivery_id: trigger.event_id.to_string(),
            index_in_delivery: 0,
            platform_event: format!("lifecycle.{name}"),
            adapter: "lifecycle@1".to_owned(),
            scoring: config_version.to_owned(),
        },
        classification: None,
        moderation: None,
    })
}
