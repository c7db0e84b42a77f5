//! Identity resolution rules, pure: given two identities a member might
//! have on different platforms, is there a link, by which rule, and is it
//! certain enough to merge automatically or only a suggestion for review?
//!
//! Certain: the same verified email; a GitHub no-reply commit email naming
//! the GitHub login; an explicit link made by a person. Suggestions (never
//! merged automatically): a Slack or Discourse profile field that names a
//! GitHub handle (anyone can type any handle), or the same handle on two
//! platforms. Bots are recognised so they can be excluded from community
//! metrics.

use canonical_event::Platform;
use serde::{Deserialize, Serialize};

/// One identity of a member, as the platforms describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub platform: Platform,
    pub platform_user_id: String,
    pub handle: String,
    /// Emails the platform says the person verified (never guessed ones).
    #[serde(default)]
    pub verified_emails: Vec<String>,
    /// Free-text profile fields (Slack profile fields, Discourse bio/website)
    /// that may name a GitHub account.
    #[serde(default)]
    pub profile_fields: Vec<String>,
    #[serde(default)]
    pub is_bot: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    SameVerifiedEmail,
    GithubNoreplyEmail,
    ProfileNamesGithub,
    SameHandle,
    Explicit,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::SameVerifiedEmail => "same_verified_email",
            Rule::GithubNoreplyEmail => "github_noreply_email",
            Rule::ProfileNamesGithub => "profile_names_github",
            Rule::SameHandle => "same_handle",
            Rule::Explicit => "explicit",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Merge automatically (recorded, reversible).
    Certain,
    /// Offer to a reviewer; never merged on its own.
    Suggestion,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub rule: Rule,
    pub confidence: Confidence,
    /// Why, for the merge record and the reviewer. Never contains an email.
    pub why: String,
}

/// The strongest link between two identities, if any.
pub fn link(a: &Identity, b: &Identity) -> Option<Link> {
    if a.platform == b.platform && a.platform_user_id == b.platform_user_id {
        return None;
    }
    if a.is_bot != b.is_bot {
        // A person and a bot are never one member.
        return None;
    }
    let emails = |i: &Identity| -> Vec<String> {
        i.verified_emails
            .iter()
            .filter_map(|e| normalize_email(e))
            .collect()
    };
    let (ea, eb) = (emails(a), emails(b));
    if ea
        .iter()
        .any(|e| eb.contains(e) && github_login_from_noreply(e).is_none())
    {
        return Some(Link {
            rule: Rule::SameVerifiedEmail,
            confidence: Confidence::Certain,
            why: format!("{} and {} share a verified email", describe(a), describe(b)),
        });
    }
    for (github, other, other_emails) in [(a, b, &eb), (b, a, &ea)] {
        if github.platform != Platform::Github {
            continue;
        }
        let login = github.handle.to_ascii_lowercase();
        if other_emails
            .iter()
            .filter_map(|e| github_login_from_noreply(e))
            .any(|l| l == login)
        {
            return Some(Link {
                rule: Rule::GithubNoreplyEmail,
                confidence: Confidence::Certain,
                why: format!(
                    "{} has GitHub's no-reply email of {}",
                    describe(other),
                    describe(github)
                ),
            });
        }
        if other
            .profile_fields
            .iter()
            .filter_map(|f| github_handle_in(f))
            .any(|h| h == login)
        {
            return Some(Link {
                rule: Rule::ProfileNamesGithub,
                confidence: Confidence::Suggestion,
                why: format!(
                    "{}'s profile names the GitHub account {}",
                    describe(other),
                    github.handle
                ),
            });
        }
    }
    if a.platform != b.platform && a.handle.len() >= 3 && a.handle.eq_ignore_ascii_case(&b.handle) {
        return Some(Link {
            rule: Rule::SameHandle,
            confidence: Confidence::Suggestion,
            why: format!("{} and {} use the same handle", describe(a), describe(b)),
        });
    }
    None
}

fn describe(i: &Identity) -> String {
    format!("{}:{}", i.platform.as_str(), i.handle)
}

/// Lower-cased, trimmed, and plausibly an address; `None` otherwise.
pub fn normalize_email(email: &str) -> Option<String> {
    let e = email.trim().to_ascii_lowercase();
    let (local, domain) = e.split_once('@')?;
    (!local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !e.contains(' '))
        .then_some(e)
}

/// The login in a GitHub no-reply address: `login@users.noreply.github.com`
/// or `12345+login@users.noreply.github.com`.
pub fn github_login_from_noreply(email: &str) -> Option<String> {
    let e = normalize_email(email)?;
    let local = e.strip_suffix("@users.noreply.github.com")?;
    let login = local.split_once('+').map_or(local, |(_, l)| l);
    is_github_login(login).then(|| login.to_owned())
}

/// A GitHub handle named in free text: `github.com/login`,
/// `https://github.com/login/`, `gh: login`, `GitHub: @login`.
pub fn github_handle_in(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if let Some(at) = lower.find("github.com/") {
        let rest = &lower[at + "github.com/".len()..];
        let login: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        return is_github_login(&login).then_some(login);
    }
    for prefix in ["github:", "gh:"] {
        if let Some(rest) = lower.trim().strip_prefix(prefix) {
            let login = rest.trim().trim_start_matches('@');
            let login: String = login
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            return is_github_login(&login).then_some(login);
        }
    }
    None
}

/// GitHub's login rules: 1–39 alphanumerics or single hyphens, not at the ends.
pub fn is_github_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= 39
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !login.starts_with('-')
        && !login.ends_with('-')
        && !login.contains("--")
        // Paths that are not accounts.
        && !["orgs", "settings", "sponsors", "features", "about", "login"].contains(&login)
}

/// Whether an identity is automated: the platform says so, GitHub's `[bot]`
/// suffix, or the deployer's list (`platform:handle` or `handle`).
pub fn is_bot(identity: &Identity, configured: &[String]) -> bool {
    identity.is_bot
        || (identity.platform == Platform::Github && identity.handle.ends_with("[bot]"))
        || configured.iter().any(|entry| match entry.split_once(':') {
            Some((platform, handle)) => {
                platform == identity.platform.as_str()
                    && handle.eq_ignore_ascii_case(&identity.handle)
            }
            None => entry.eq_ignore_ascii_case(&identity.handle),
        })
}

#[cfg(test)]
mod tests;
