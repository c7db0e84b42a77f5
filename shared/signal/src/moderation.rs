//! Moderation before routing: spam and toxicity as pure, explainable scorers.
//!
//! Nothing here deletes anything: a verdict only says whether an event should
//! be *held for human review* and why. The lexicon and thresholds live in a
//! versioned JSON file (`weights/moderation@1.json`) that a deployer can
//! replace. The counters behind "the same text repeated by one member within
//! a window" live in DynamoDB; the caller passes their value in.

use canonical_event::Reason;
use serde::Deserialize;

pub const DEFAULT_LEXICON: &str = include_str!("../weights/moderation@1.json");

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lexicon {
    pub version: String,
    toxicity: Toxicity,
    spam: Spam,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Toxicity {
    hold_at: f64,
    terms: Vec<Term>,
    second_person: SecondPerson,
}

#[derive(Debug, Clone, Deserialize)]
struct Term {
    term: String,
    weight: f64,
    kind: String,
}

#[derive(Debug, Clone, Deserialize)]
struct SecondPerson {
    weight: f64,
    words: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spam {
    hold_at: f64,
    phrases: Vec<Phrase>,
    link_density: LinkDensity,
    new_member_links: NewMemberLinks,
    repeated: Repeated,
    shortened_links: ShortenedLinks,
}

#[derive(Debug, Clone, Deserialize)]
struct Phrase {
    phrase: String,
    weight: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkDensity {
    links_per_word_at: f64,
    min_links: usize,
    weight: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewMemberLinks {
    max_age_hours: u64,
    weight: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Repeated {
    at_least: u32,
    weight: f64,
}

#[derive(Debug, Clone, Deserialize)]
struct ShortenedLinks {
    hosts: Vec<String>,
    weight: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error("moderation lexicon is not valid: {0}")]
    Invalid(String),
}

impl Lexicon {
    pub fn shipped() -> Result<Lexicon, LexiconError> {
        Lexicon::from_json(DEFAULT_LEXICON)
    }

    pub fn from_json(text: &str) -> Result<Lexicon, LexiconError> {
        let lexicon: Lexicon =
            serde_json::from_str(text).map_err(|e| LexiconError::Invalid(e.to_string()))?;
        let thresholds = [lexicon.toxicity.hold_at, lexicon.spam.hold_at];
        if thresholds.iter().any(|t| !(t.is_finite() && *t > 0.0)) {
            return Err(LexiconError::Invalid("thresholds must be positive".into()));
        }
        Ok(lexicon)
    }
}

/// What the event alone does not say about its author.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// Hours since the member was first seen (None: unknown).
    pub member_age_hours: Option<u64>,
    /// How often this member posted this same text within the window,
    /// this time included (from the repeat counter).
    pub same_text_count: u32,
}

pub use canonical_event::FlagKind;

#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub kind: FlagKind,
    pub score: f64,
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Hold for human review (routing target `review`); never deletion.
    pub hold: bool,
    /// Every scorer that found something, held or not.
    pub flags: Vec<Flag>,
    pub lexicon_version: String,
}

/// Scores a text for toxicity and spam.
pub fn moderate(text: &str, context: &Context, lexicon: &Lexicon) -> Verdict {
    let normalized = normalize(text);
    let words: Vec<&str> = normalized.split(' ').filter(|w| !w.is_empty()).collect();
    let mut flags = Vec::new();
    let mut hold = false;

    let toxicity = toxicity(&words, lexicon);
    if !toxicity.reasons.is_empty() {
        hold |= toxicity.score >= lexicon.toxicity.hold_at;
        flags.push(toxicity);
    }
    let spam = spam(text, &normalized, &words, context, lexicon);
    if !spam.reasons.is_empty() {
        hold |= spam.score >= lexicon.spam.hold_at;
        flags.push(spam);
    }
    Verdict {
        hold,
        flags,
        lexicon_version: lexicon.version.clone(),
    }
}

fn toxicity(words: &[&str], lexicon: &Lexicon) -> Flag {
    let mut reasons = Vec::new();
    // Letter runs collapsed on both sides, so "idiooooot" meets "idiot".
    let joined = format!(" {} ", collapse_runs(&words.join(" ")));
    for term in &lexicon.toxicity.terms {
        // Whole words only: "class" is not "ass", "skill" is not "kill".
        if joined.contains(&format!(" {} ", collapse_runs(&term.term))) {
            reasons.push(Reason {
                rule: format!("toxicity:{}", term.kind),
                weight: term.weight,
                // The matched term is the reason a reviewer needs; it is a
                // lexicon entry, not the member's text.
                detail: format!("\"{}\"", term.term),
            });
        }
    }
    let mut score: f64 = reasons.iter().map(|r| r.weight).sum();
    // Insults aimed at someone ("you idiot") weigh more than swearing at a bug.
    let aimed = words
        .iter()
        .any(|w| lexicon.toxicity.second_person.words.iter().any(|p| p == w));
    if !reasons.is_empty() && aimed {
        score += lexicon.toxicity.second_person.weight;
        reasons.push(Reason {
            rule: "toxicity:aimed_at_someone".into(),
            weight: lexicon.toxicity.second_person.weight,
            detail: "addressed to a person".into(),
        });
    }
    Flag {
        kind: FlagKind::Toxicity,
        score: round(score.min(1.0)),
        reasons,
    }
}

fn spam(raw: &str, normalized: &str, words: &[&str], context: &Context, lexicon: &Lexicon) -> Flag {
    let s = &lexicon.spam;
    let mut reasons = Vec::new();
    let lower = raw.to_lowercase();
    for phrase in &s.phrases {
        if lower.contains(&phrase.phrase) || normalized.contains(&phrase.phrase) {
            reasons.push(Reason {
                rule: "spam:phrase".into(),
                weight: phrase.weight,
                detail: format!("known spam phrase \"{}\"", phrase.phrase),
            });
        }
    }
    let links: Vec<&str> = lower
        .split_whitespace()
        .filter(|w| w.contains("http://") || w.contains("https://") || w.starts_with("www."))
        .collect();
    let word_count = raw.split_whitespace().count().max(1);
    if links.len() >= s.link_density.min_links
        && links.len() as f64 / word_count as f64 >= s.link_density.links_per_word_at
    {
        reasons.push(Reason {
            rule: "spam:link_density".into(),
            weight: s.link_density.weight,
            detail: format!("{} links in {word_count} words", links.len()),
        });
    }
    if !links.is_empty()
        && context
            .member_age_hours
            .is_some_and(|h| h <= s.new_member_links.max_age_hours)
    {
        reasons.push(Reason {
            rule: "spam:new_member_links".into(),
            weight: s.new_member_links.weight,
            detail: "links from a member first seen in the last two days".into(),
        });
    }
    if links.iter().any(|l| {
        s.shortened_links
            .hosts
            .iter()
            .any(|h| l.contains(h.as_str()))
    }) {
        reasons.push(Reason {
            rule: "spam:shortened_link".into(),
            weight: s.shortened_links.weight,
            detail: "uses a link shortener".into(),
        });
    }
    if context.same_text_count >= s.repeated.at_least && !words.is_empty() {
        reasons.push(Reason {
            rule: "spam:repeated".into(),
            weight: s.repeated.weight,
            detail: format!(
                "the same text {} times within the window",
                context.same_text_count
            ),
        });
    }
    let score: f64 = reasons.iter().map(|r| r.weight).sum();
    Flag {
        kind: FlagKind::Spam,
        score: round(score.min(1.0)),
        reasons,
    }
}

/// Lower case, common obfuscations undone (`1d10t` → `idiot`, `i.d.i.o.t`,
/// `idiooooot`), punctuation to spaces, single spaces.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last: Option<char> = None;
    let mut repeats = 0;
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = match c {
            '0' => 'o',
            '1' => 'i',
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            c if c.is_alphanumeric() || c == '\'' => c,
            // Separators inside a word ("i.d.i.o.t", "f*ck") vanish; others split.
            '.' | '*' | '-' | '_' => continue,
            _ => ' ',
        };
        if Some(c) == last {
            repeats += 1;
            // "idiooooot" → "idioot": keeps real double letters ("moron" has none,
            // "kill" keeps its two).
            if repeats >= 2 {
                continue;
            }
        } else {
            repeats = 0;
        }
        if c == ' ' && last == Some(' ') {
            continue;
        }
        out.push(c);
        last = Some(c);
    }
    out.trim().to_owned()
}

/// Every run of one letter reduced to one ("kill" → "kil", "ooo" → "o").
fn collapse_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = None;
    for c in text.chars() {
        if Some(c) != last {
            out.push(c);
        }
        last = Some(c);
    }
    out
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
#[path = "moderation_tests.rs"]
mod tests;
