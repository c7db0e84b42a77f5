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

use std::collections::BTreeSet;

use canonical_event::Platform;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

    /// The rule named by [`Rule::as_str`].
    pub fn parse(name: &str) -> Option<Rule> {
        [
            Rule::SameVerifiedEmail,
            Rule::GithubNoreplyEmail,
            Rule::ProfileNamesGithub,
            Rule::SameHandle,
            Rule::Explicit,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
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
    link_facts(&LinkFacts::of(a), &LinkFacts::of(b))
}

/// What the link rules need to know about an identity, with every email
/// replaced by what can be stored: the SHA-256 of a verified address, or the
/// GitHub login a no-reply address names. Two stored identities are compared
/// through these, never through plaintext addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkFacts {
    pub platform: Option<Platform>,
    pub platform_user_id: String,
    /// The handle; for GitHub, the login the rules compare with.
    pub handle: String,
    /// [`email_hash`] of every verified address that is not a GitHub
    /// no-reply address.
    #[serde(default)]
    pub email_hashes: BTreeSet<String>,
    /// Lower-case GitHub logins named by verified no-reply addresses.
    #[serde(default)]
    pub noreply_logins: BTreeSet<String>,
    /// Lower-case GitHub logins named in profile fields (unverified).
    #[serde(default)]
    pub github_handles: BTreeSet<String>,
    #[serde(default)]
    pub is_bot: bool,
}

impl LinkFacts {
    /// The storable facts of an identity; its emails are hashed here.
    pub fn of(identity: &Identity) -> LinkFacts {
        let mut facts = LinkFacts {
            platform: Some(identity.platform),
            platform_user_id: identity.platform_user_id.clone(),
            handle: identity.handle.clone(),
            is_bot: identity.is_bot,
            ..LinkFacts::default()
        };
        facts.add_hints(&identity.verified_emails, &identity.profile_fields);
        facts
    }

    /// Adds what a payload's hints say (emails hashed, handles extracted).
    pub fn add_hints(&mut self, verified_emails: &[String], profile_fields: &[String]) {
        for email in verified_emails {
            if let Some(login) = github_login_from_noreply(email) {
                self.noreply_logins.insert(login);
            } else if let Some(hash) = email_hash(email) {
                self.email_hashes.insert(hash);
            }
        }
        self.github_handles
            .extend(profile_fields.iter().filter_map(|f| github_handle_in(f)));
    }

    /// Whether these facts say anything the rules could link on.
    pub fn has_hints(&self) -> bool {
        !self.email_hashes.is_empty()
            || !self.noreply_logins.is_empty()
            || !self.github_handles.is_empty()
    }

    /// Whether `other` adds a hash or handle these facts lack.
    pub fn lacks_any_of(&self, other: &LinkFacts) -> bool {
        !other.email_hashes.is_subset(&self.email_hashes)
            || !other.noreply_logins.is_subset(&self.noreply_logins)
            || !other.github_handles.is_subset(&self.github_handles)
    }

    fn same_identity(&self, other: &LinkFacts) -> bool {
        self.platform == other.platform && self.platform_user_id == other.platform_user_id
    }

    fn describe(&self) -> String {
        format!(
            "{}:{}",
            self.platform.map_or("unknown", Platform::as_str),
            self.handle
        )
    }
}

/// The lower-case SHA-256 hex digest of a normalized address, or `None` when
/// it is not plausibly an address. What is stored instead of the address.
pub fn email_hash(email: &str) -> Option<String> {
    let normalized = normalize_email(email)?;
    Some(hex::encode(Sha256::digest(normalized.as_bytes())))
}

/// The strongest link between two identities' stored facts, if any: the
/// same rules as [`link`], comparing email hashes instead of addresses.
pub fn link_facts(a: &LinkFacts, b: &LinkFacts) -> Option<Link> {
    if a.same_identity(b) {
        return None;
    }
    if a.is_bot != b.is_bot {
        // A person and a bot are never one member.
        return None;
    }
    if !a.email_hashes.is_disjoint(&b.email_hashes) {
        return Some(Link {
            rule: Rule::SameVerifiedEmail,
            confidence: Confidence::Certain,
            why: format!(
                "{} and {} share a verified email",
                a.describe(),
                b.describe()
            ),
        });
    }
    for (github, other) in [(a, b), (b, a)] {
        if github.platform != Some(Platform::Github) {
            continue;
        }
        let login = github.handle.to_ascii_lowercase();
        if other.noreply_logins.contains(&login) {
            return Some(Link {
                rule: Rule::GithubNoreplyEmail,
                confidence: Confidence::Certain,
                why: format!(
                    "{} has GitHub's no-reply email of {}",
                    other.describe(),
                    github.describe()
                ),
            });
        }
        if other.github_handles.contains(&login) {
            return Some(Link {
                rule: Rule::ProfileNamesGithub,
                confidence: Confidence::Suggestion,
                why: format!(
                    "{}'s profile names the GitHub account {}",
                    other.describe(),
                    github.handle
                ),
            });
        }
    }
    if a.platform != b.platform && a.handle.len() >= 3 && a.handle.eq_ignore_ascii_case(&b.handle) {
        return Some(Link {
            rule: Rule::SameHandle,
            confidence: Confidence::Suggestion,
            why: format!("{} and {} use the same handle", a.describe(), b.describe()),
        });
    }
    None
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
