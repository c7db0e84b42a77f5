//! The parts of GitHub webhook payloads the adapter reads. Unknown fields are
//! ignored (GitHub adds fields often); fields GitHub documents as nullable are
//! `Option`.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct User {
    pub login: String,
    pub id: u64,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

impl User {
    /// GitHub Apps act as `Bot` users named `something[bot]`.
    pub fn is_bot(&self) -> bool {
        self.kind.as_deref() == Some("Bot") || self.login.ends_with("[bot]")
    }
}

#[derive(Debug, Deserialize)]
pub struct Repository {
    pub full_name: String,
    #[serde(default)]
    pub html_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Label {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub html_url: String,
    #[serde(default)]
    pub labels: Vec<Label>,
    pub user: User,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub closed_at: Option<String>,
    #[serde(default)]
    pub author_association: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Comment {
    #[serde(default)]
    pub body: Option<String>,
    pub html_url: String,
    pub user: User,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub author_association: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub html_url: String,
    #[serde(default)]
    pub labels: Vec<Label>,
    pub user: User,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merged_at: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub author_association: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Review {
    #[serde(default)]
    pub body: Option<String>,
    pub html_url: String,
    pub user: User,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub submitted_at: Option<String>,
    #[serde(default)]
    pub author_association: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Category {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct Discussion {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub html_url: String,
    pub user: User,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub answer_chosen_at: Option<String>,
    #[serde(default)]
    pub category: Option<Category>,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub author_association: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Release {
    pub tag_name: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    pub html_url: String,
    #[serde(default)]
    pub published_at: Option<String>,
    pub author: User,
}

#[derive(Debug, Deserialize)]
pub struct Forkee {
    pub full_name: String,
    #[serde(default)]
    pub html_url: Option<String>,
    pub owner: User,
    #[serde(default)]
    pub created_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Tier {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Sponsorship {
    pub sponsor: User,
    #[serde(default)]
    pub sponsorable: Option<User>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub tier: Option<Tier>,
}

/// The union of the top-level fields of the events the adapter maps.
#[derive(Debug, Deserialize)]
pub struct Payload {
    #[serde(default)]
    pub sender: Option<User>,
    #[serde(default)]
    pub repository: Option<Repository>,
    #[serde(default)]
    pub issue: Option<Issue>,
    #[serde(default)]
    pub comment: Option<Comment>,
    #[serde(default)]
    pub pull_request: Option<PullRequest>,
    #[serde(default)]
    pub review: Option<Review>,
    #[serde(default)]
    pub discussion: Option<Discussion>,
    #[serde(default)]
    pub answer: Option<Comment>,
    #[serde(default)]
    pub release: Option<Release>,
    #[serde(default)]
    pub forkee: Option<Forkee>,
    #[serde(default)]
    pub member: Option<User>,
    #[serde(default)]
    pub sponsorship: Option<Sponsorship>,
    #[serde(default)]
    pub starred_at: Option<String>,
}
