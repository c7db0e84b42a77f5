//! Whether two reports ask for the same thing: normalised titles compared as
//! sets of content words (Sørensen–Dice). Used to collapse a second bug
//! report or feature request onto the open ticket it repeats, so the team
//! sees one ticket with several askers instead of several tickets.
//!
//! Deliberately simple and explainable: lower-cased words, punctuation and
//! stopwords dropped, a light suffix strip so "crash", "crashes" and
//! "crashing" meet. The threshold is the deployer's (SIMILARITY_THRESHOLD).

use std::collections::BTreeSet;

/// Words that carry no meaning about *what* is reported.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "been", "but", "by", "can", "cannot", "could", "did", "do", "does", "doesn", "don",
    "for", "from", "get", "gets", "getting", "got", "had", "has", "have", "having", "hey", "hi",
    "how", "i", "if", "in", "into", "is", "isn", "it", "its", "just", "me", "my", "no", "not",
    "now", "of", "on", "or", "our", "please", "same", "seems", "so", "some", "still", "t", "than",
    "that", "the", "their", "them", "then", "there", "these", "this", "to", "too", "up", "us",
    "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "why", "will",
    "with", "would", "you", "your",
];

/// The content words of a title, normalised.
pub fn title_terms(title: &str) -> BTreeSet<String> {
    title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| stem(&w))
        .collect()
}

/// Strips one common English suffix from longer words.
fn stem(word: &str) -> String {
    for suffix in ["ing", "es", "ed", "s"] {
        if let Some(root) = word.strip_suffix(suffix)
            && root.chars().count() >= 3
        {
            return root.to_owned();
        }
    }
    word.to_owned()
}

/// Sørensen–Dice coefficient of two term sets, 0.0 (nothing shared) to 1.0.
pub fn similarity(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.intersection(b).count();
    (2 * shared) as f64 / (a.len() + b.len()) as f64
}

/// The most similar candidate at or above `threshold`, by index (ties: the
/// first, which callers order oldest first so reports gather on one ticket).
pub fn best_match<'a, I>(title: &str, candidates: I, threshold: f64) -> Option<(usize, f64)>
where
    I: IntoIterator<Item = &'a str>,
{
    let terms = title_terms(title);
    let mut best: Option<(usize, f64)> = None;
    for (index, candidate) in candidates.into_iter().enumerate() {
        let score = similarity(&terms, &title_terms(candidate));
        if score >= threshold && best.is_none_or(|(_, s)| score > s) {
            best = Some((index, score));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewordings_of_one_report_match() {
        let a = title_terms("CSV export crashes with a stack trace");
        let b = title_terms("Export to CSV is crashing for me too");
        assert!(similarity(&a, &b) >= 0.6, "{}", similarity(&a, &b));
    }

    #[test]
    fn different_reports_do_not_match() {
        let a = title_terms("CSV export crashes with a stack trace");
        let b = title_terms("Login page rejects valid passwords");
        assert_eq!(similarity(&a, &b), 0.0);
        let c = title_terms("Dark mode for the dashboard");
        let d = title_terms("Export the dashboard as PDF");
        assert!(similarity(&c, &d) < 0.6, "{}", similarity(&c, &d));
    }

    #[test]
    fn stopwords_and_case_and_punctuation_are_ignored() {
        assert_eq!(
            title_terms("The Webhook, it FAILS!"),
            title_terms("webhook fails")
        );
        assert!(title_terms("the of and").is_empty());
        assert_eq!(similarity(&title_terms(""), &title_terms("anything")), 0.0);
    }

    #[test]
    fn best_match_picks_the_closest_above_the_threshold() {
        let candidates = [
            "Dashboard loads slowly",
            "CSV export crashes",
            "CSV export crashes on large files",
        ];
        let best = best_match("csv export crash", candidates, 0.6);
        assert_eq!(best.map(|(i, _)| i), Some(1));
        assert_eq!(best_match("password reset email", candidates, 0.6), None);
    }

    proptest::proptest! {
        #[test]
        fn similarity_is_symmetric_and_bounded(a in ".{0,60}", b in ".{0,60}") {
            let (ta, tb) = (title_terms(&a), title_terms(&b));
            let s = similarity(&ta, &tb);
            proptest::prop_assert!((0.0..=1.0).contains(&s));
            proptest::prop_assert_eq!(s, similarity(&tb, &ta));
            if !ta.is_empty() {
                proptest::prop_assert_eq!(similarity(&ta, &ta), 1.0);
            }
        }
    }
}
