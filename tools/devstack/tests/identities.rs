//! Identity resolution on the emulator: the link rules applied through the
//! members table's lookup items, merges and their reversal, suggestions,
//! blocks after an unmerge, and bots.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use canonical_event::{Actor, IdentityHints, Platform};
use community_aws::members::{self, DynamoMembers, MemberRow, MembersError};
use community_aws::ports::{IdentityStore, ResolvedMember};
use time::{Duration, OffsetDateTime};

struct Members {
    client: aws_sdk_dynamodb::Client,
    table: String,
    store: DynamoMembers,
    _stack: devstack::Stack,
}

async fn members(bot_handles: &[&str]) -> Members {
    let stack = common::stack("ident").await;
    let table = format!("{}-members", stack.options.stack_name);
    let client = stack.clients.dynamodb.clone();
    let store = DynamoMembers::new(client.clone(), table.clone())
        .with_bot_handles(bot_handles.iter().map(|h| h.to_string()).collect());
    Members {
        client,
        table,
        store,
        _stack: stack,
    }
}

fn actor(id: &str, handle: &str) -> Actor {
    Actor {
        platform_user_id: id.into(),
        handle: handle.into(),
        display_name: None,
        is_bot: false,
    }
}

fn emails(emails: &[&str]) -> IdentityHints {
    IdentityHints {
        verified_emails: emails.iter().map(|e| e.to_string()).collect(),
        profile_fields: Vec::new(),
    }
}

fn fields(fields: &[&str]) -> IdentityHints {
    IdentityHints {
        verified_emails: Vec::new(),
        profile_fields: fields.iter().map(|f| f.to_string()).collect(),
    }
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl Members {
    async fn resolve(
        &self,
        platform: Platform,
        actor: &Actor,
        hints: &IdentityHints,
        at: OffsetDateTime,
    ) -> ResolvedMember {
        self.store
            .resolve(platform, actor, hints, at)
            .await
            .unwrap()
    }

    /// What route does when it records a contribution.
    async fn contribute(&self, member_id: &str, count: i64) {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(members::member_key(member_id)))
            .update_expression("ADD contributions :n SET lastContributionAt = :at")
            .expression_attribute_values(":n", AttributeValue::N(count.to_string()))
            .expression_attribute_values(":at", AttributeValue::S("2026-01-01T00:00:00Z".into()))
            .send()
            .await
            .unwrap();
    }

    async fn list(&self) -> Vec<MemberRow> {
        members::list(&self.client, &self.table).await.unwrap()
    }

    async fn row(&self, member_id: &str) -> Option<MemberRow> {
        self.list()
            .await
            .into_iter()
            .find(|r| r.member_id == member_id)
    }

    async fn items(&self) -> Vec<community_aws::Item> {
        community_aws::scan_all(&self.client, &self.table, None)
            .await
            .unwrap()
    }

    async fn count(&self, prefix: &str) -> usize {
        community_aws::scan_all(&self.client, &self.table, Some(prefix))
            .await
            .unwrap()
            .len()
    }
}

/// What an unmerge must restore: identities, contributions, and no merges.
fn shape(row: &MemberRow) -> (Vec<String>, i64, Vec<String>, bool) {
    (
        row.identities.clone(),
        row.contributions,
        row.merged_members.clone(),
        row.is_bot,
    )
}

#[tokio::test]
async fn a_shared_verified_email_merges_automatically_and_no_address_is_stored() {
    let m = members(&[]).await;
    let now = t0();
    let slack = m
        .resolve(
            Platform::Slack,
            &actor("U1", "ada"),
            &emails(&["Ada@Example.com"]),
            now,
        )
        .await;
    m.contribute(&slack.member_id, 2).await;
    let discourse = m
        .resolve(
            Platform::Discourse,
            &actor("7", "ada_l"),
            &emails(&[" ada@example.com"]),
            now + Duration::seconds(5),
        )
        .await;
    assert_eq!(
        discourse.member_id, slack.member_id,
        "the later identity joins the older member"
    );
    assert_eq!(discourse.contributions, 2);

    let rows = m.list().await;
    assert_eq!(rows.len(), 1, "the merged member is hidden: {rows:?}");
    assert_eq!(
        rows[0].identities,
        vec!["discourse:7".to_owned(), "slack:U1".to_owned()]
    );
    assert_eq!(rows[0].merged_members.len(), 1);

    let history = members::history(&m.client, &m.table, &slack.member_id, now)
        .await
        .unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    let merge = &history[0];
    assert_eq!(
        (merge.kind.as_str(), merge.rule.as_str(), merge.by.as_str()),
        ("merge", "same_verified_email", "rule:same_verified_email")
    );
    assert_eq!(merge.identities_moved, vec!["discourse:7".to_owned()]);
    assert_eq!(merge.status.as_deref(), Some("active"));
    assert!(
        merge.why.contains("share a verified email"),
        "{}",
        merge.why
    );

    for item in m.items().await {
        let text = format!("{item:?}").to_ascii_lowercase();
        assert!(
            !text.contains("example.com"),
            "plaintext email stored: {text}"
        );
    }
}

#[tokio::test]
async fn a_github_noreply_email_merges_in_either_order_and_an_unmerge_blocks_the_rule() {
    let m = members(&[]).await;
    let now = t0();
    // GitHub first, then Slack with the no-reply address.
    let github = m
        .resolve(
            Platform::Github,
            &actor("12345", "Ada"),
            &IdentityHints::default(),
            now,
        )
        .await;
    let slack_actor = actor("U2", "ada");
    let slack = m
        .resolve(
            Platform::Slack,
            &slack_actor,
            &emails(&["12345+ada@users.noreply.github.com"]),
            now + Duration::seconds(1),
        )
        .await;
    assert_eq!(slack.member_id, github.member_id);
    let history = members::history(&m.client, &m.table, &github.member_id, now)
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].rule, "github_noreply_email");
    assert_eq!(history[0].by, "rule:github_noreply_email");

    // Slack first, then the GitHub account the address names.
    let early = m
        .resolve(
            Platform::Discourse,
            &actor("31", "bo"),
            &emails(&["bo-dev@users.noreply.github.com"]),
            now,
        )
        .await;
    let late_github = m
        .resolve(
            Platform::Github,
            &actor("999", "bo-dev"),
            &IdentityHints::default(),
            now + Duration::seconds(2),
        )
        .await;
    assert_eq!(late_github.member_id, early.member_id);

    // A person separates Ada's identities; the rule must not merge them
    // again, even when the Slack identity brings new hints.
    let undone = members::unmerge(
        &m.client,
        &m.table,
        &history[0].merge_id,
        "kim",
        "two people share a laptop",
        now + Duration::seconds(3),
    )
    .await
    .unwrap();
    assert_eq!(undone.status, "undone");
    let again = m
        .resolve(
            Platform::Slack,
            &slack_actor,
            &IdentityHints {
                verified_emails: vec![
                    "12345+ada@users.noreply.github.com".into(),
                    "ada@work.example".into(),
                ],
                profile_fields: vec![],
            },
            now + Duration::seconds(4),
        )
        .await;
    assert_ne!(
        again.member_id, github.member_id,
        "re-merged after an unmerge"
    );
    assert_eq!(
        m.count("BLOCK#").await,
        2,
        "the member pair and the identity pair that triggered the merge"
    );
    assert_eq!(
        members::history(&m.client, &m.table, &github.member_id, now)
            .await
            .unwrap()
            .len(),
        2,
        "the merge and its undoing, nothing more"
    );
}

#[tokio::test]
async fn a_profile_field_naming_a_github_handle_is_only_a_suggestion() {
    let m = members(&[]).await;
    let now = t0();
    let github = m
        .resolve(
            Platform::Github,
            &actor("12345", "ada"),
            &IdentityHints::default(),
            now,
        )
        .await;
    let slack_actor = actor("U3", "ada.l");
    let hints = fields(&["Code: https://github.com/Ada"]);
    let slack = m
        .resolve(
            Platform::Slack,
            &slack_actor,
            &hints,
            now + Duration::seconds(1),
        )
        .await;
    assert_ne!(
        slack.member_id, github.member_id,
        "a suggestion never merges"
    );
    // The same hints again: still one suggestion.
    m.resolve(
        Platform::Slack,
        &slack_actor,
        &hints,
        now + Duration::seconds(2),
    )
    .await;
    let suggestions = members::suggestions(&m.client, &m.table).await.unwrap();
    assert_eq!(suggestions.len(), 1, "{suggestions:?}");
    let suggestion = &suggestions[0];
    assert_eq!(suggestion.rule, "profile_names_github");
    assert_eq!(suggestion.status, "open");
    let mut pair = [suggestion.identity_a.clone(), suggestion.identity_b.clone()];
    pair.sort();
    assert_eq!(pair, ["github:12345".to_owned(), "slack:U3".to_owned()]);
    assert_eq!(m.list().await.len(), 2);

    // A person accepts it by linking the pair.
    let record = members::link_explicit(
        &m.client,
        &m.table,
        (Platform::Slack, "U3"),
        (Platform::Github, "12345"),
        "kim",
        "",
        now + Duration::seconds(3),
    )
    .await
    .unwrap();
    assert_eq!(record.survivor, github.member_id);
    assert_eq!(
        (record.rule.as_str(), record.by.as_str()),
        ("explicit", "kim")
    );
    assert_eq!(record.why, "linked by kim");
    let suggestions = members::suggestions(&m.client, &m.table).await.unwrap();
    assert_eq!(suggestions[0].status, "accepted");
}

#[tokio::test]
async fn an_explicit_link_and_its_unmerge_restore_both_members_exactly() {
    let m = members(&[]).await;
    let now = t0();
    let github_actor = actor("501", "kim");
    let slack_actor = actor("U5", "kim");
    let github = m
        .resolve(
            Platform::Github,
            &github_actor,
            &IdentityHints::default(),
            now,
        )
        .await;
    let slack = m
        .resolve(
            Platform::Slack,
            &slack_actor,
            &IdentityHints::default(),
            now + Duration::seconds(1),
        )
        .await;
    m.contribute(&github.member_id, 3).await;
    m.contribute(&slack.member_id, 2).await;
    let before_github = shape(&m.row(&github.member_id).await.unwrap());
    let before_slack = shape(&m.row(&slack.member_id).await.unwrap());

    let unknown = members::link_explicit(
        &m.client,
        &m.table,
        (Platform::Slack, "U404"),
        (Platform::Github, "501"),
        "ops",
        "",
        now,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(unknown, MembersError::UnknownIdentity(ref i) if i == "slack:U404"),
        "{unknown}"
    );

    let merge = members::link_explicit(
        &m.client,
        &m.table,
        (Platform::Slack, "U5"),
        (Platform::Github, "501"),
        "ops",
        "same person, confirmed in a call",
        now + Duration::seconds(2),
    )
    .await
    .unwrap();
    assert_eq!(
        (merge.survivor.as_str(), merge.merged.as_str()),
        (github.member_id.as_str(), slack.member_id.as_str()),
        "the older member survives"
    );
    assert_eq!(merge.contributions_moved, 2);
    let merged_row = m.row(&github.member_id).await.unwrap();
    assert_eq!(merged_row.contributions, 5);
    assert_eq!(
        merged_row.identities,
        vec!["github:501".to_owned(), "slack:U5".to_owned()]
    );
    assert!(
        m.row(&slack.member_id).await.is_none(),
        "merged away: hidden"
    );
    let resolved = m
        .resolve(
            Platform::Slack,
            &slack_actor,
            &IdentityHints::default(),
            now + Duration::seconds(3),
        )
        .await;
    assert_eq!(resolved.member_id, github.member_id);
    assert_eq!(resolved.contributions, 5);
    let again = members::link_explicit(
        &m.client,
        &m.table,
        (Platform::Github, "501"),
        (Platform::Slack, "U5"),
        "ops",
        "",
        now,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(again, MembersError::AlreadyOneMember { .. }),
        "{again}"
    );

    let undone = members::unmerge(
        &m.client,
        &m.table,
        &merge.merge_id,
        "ops",
        "wrong person",
        now + Duration::seconds(4),
    )
    .await
    .unwrap();
    assert_eq!(undone.undone_by.as_deref(), Some("ops"));
    assert_eq!(
        shape(&m.row(&github.member_id).await.unwrap()),
        before_github
    );
    assert_eq!(shape(&m.row(&slack.member_id).await.unwrap()), before_slack);
    let resolved = m
        .resolve(
            Platform::Slack,
            &slack_actor,
            &IdentityHints::default(),
            now + Duration::seconds(5),
        )
        .await;
    assert_eq!(resolved.member_id, slack.member_id);
    assert_eq!(resolved.contributions, 2);

    for member in [&github.member_id, &slack.member_id] {
        let history = members::history(&m.client, &m.table, member, now)
            .await
            .unwrap();
        let kinds: Vec<_> = history.iter().map(|h| h.kind.as_str()).collect();
        assert_eq!(kinds, ["merge", "unmerge"], "{history:?}");
        assert_eq!(history[0].status.as_deref(), Some("undone"));
        assert_eq!(history[0].why, "same person, confirmed in a call");
        assert_eq!(history[1].why, "wrong person");
        assert_eq!(history[1].merge_id, merge.merge_id);
    }

    let second = members::unmerge(
        &m.client,
        &m.table,
        &merge.merge_id,
        "ops",
        "",
        now + Duration::seconds(6),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(second, MembersError::AlreadyUndone { ref by, .. } if by == "ops"),
        "{second}"
    );
    assert!(!second.is_retryable());
    let missing = members::unmerge(&m.client, &m.table, "nope", "ops", "", now)
        .await
        .unwrap_err();
    assert!(
        matches!(missing, MembersError::UnknownMerge(_)),
        "{missing}"
    );
    // Nothing moved by the failed attempts.
    assert_eq!(shape(&m.row(&slack.member_id).await.unwrap()), before_slack);

    // A person may link them again later: a new merge, not the old one.
    let relinked = members::link_explicit(
        &m.client,
        &m.table,
        (Platform::Slack, "U5"),
        (Platform::Github, "501"),
        "ops",
        "it was them after all",
        now + Duration::seconds(7),
    )
    .await
    .unwrap();
    assert_ne!(relinked.merge_id, merge.merge_id);
    assert_eq!(m.row(&github.member_id).await.unwrap().contributions, 5);
}

#[tokio::test]
async fn member_ids_of_covers_every_member_merged_in_and_unmerges_go_in_order() {
    let m = members(&[]).await;
    let now = t0();
    let a = m
        .resolve(
            Platform::Github,
            &actor("1", "aa"),
            &IdentityHints::default(),
            now,
        )
        .await;
    let b = m
        .resolve(
            Platform::Slack,
            &actor("U1", "bb"),
            &IdentityHints::default(),
            now + Duration::seconds(1),
        )
        .await;
    let c = m
        .resolve(
            Platform::Discord,
            &actor("77", "cc"),
            &IdentityHints::default(),
            now + Duration::seconds(2),
        )
        .await;
    let c_into_b = members::link_explicit(
        &m.client,
        &m.table,
        (Platform::Discord, "77"),
        (Platform::Slack, "U1"),
        "ops",
        "",
        now,
    )
    .await
    .unwrap();
    assert_eq!(c_into_b.survivor, b.member_id);
    let b_into_a = members::link_explicit(
        &m.client,
        &m.table,
        (Platform::Slack, "U1"),
        (Platform::Github, "1"),
        "ops",
        "",
        now,
    )
    .await
    .unwrap();
    assert_eq!(b_into_a.survivor, a.member_id);
    assert_eq!(b_into_a.identities_moved.len(), 2, "B's own and C's");

    let mut ids = members::member_ids_of(&m.client, &m.table, &a.member_id, now)
        .await
        .unwrap();
    assert_eq!(ids[0], a.member_id, "the member itself first");
    ids.sort();
    let mut expected = vec![
        a.member_id.clone(),
        b.member_id.clone(),
        c.member_id.clone(),
    ];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(
        members::member_ids_of(&m.client, &m.table, &c.member_id, now)
            .await
            .unwrap(),
        vec![c.member_id.clone()]
    );
    assert_eq!(
        members::history(&m.client, &m.table, &a.member_id, now)
            .await
            .unwrap()
            .len(),
        2,
        "A's history includes what was merged into B"
    );

    // C cannot leave B while B is inside A: undo the later merge first.
    let early = members::unmerge(&m.client, &m.table, &c_into_b.merge_id, "ops", "", now)
        .await
        .unwrap_err();
    assert!(matches!(early, MembersError::MergedSince { .. }), "{early}");
    members::unmerge(&m.client, &m.table, &b_into_a.merge_id, "ops", "", now)
        .await
        .unwrap();
    members::unmerge(&m.client, &m.table, &c_into_b.merge_id, "ops", "", now)
        .await
        .unwrap();
    assert_eq!(m.list().await.len(), 3);
    let resolved = m
        .resolve(
            Platform::Discord,
            &actor("77", "cc"),
            &IdentityHints::default(),
            now,
        )
        .await;
    assert_eq!(resolved.member_id, c.member_id);
}

#[tokio::test]
async fn concurrent_first_sightings_with_hints_agree_on_one_member() {
    let m = members(&[]).await;
    let now = t0();
    let zoe = actor("U42", "zoe");
    let hints = emails(&["zoe@example.org"]);
    let (a, b, c) = tokio::join!(
        m.store.resolve(Platform::Slack, &zoe, &hints, now),
        m.store.resolve(Platform::Slack, &zoe, &hints, now),
        m.store.resolve(Platform::Slack, &zoe, &hints, now)
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert_eq!(a, b);
    assert_eq!(b, c);
    assert_eq!(m.count("IDENTITY#").await, 1);
    assert_eq!(m.count("MEMBER#").await, 1);
    assert_eq!(m.count("MERGE#").await, 0);

    // Two new identities sharing an address, seen at once, end as one member.
    let hints = emails(&["pat@example.org"]);
    let (slack_pat, discourse_pat) = (actor("U77", "pat"), actor("77", "pat"));
    let (x, y) = tokio::join!(
        m.store.resolve(Platform::Slack, &slack_pat, &hints, now),
        m.store
            .resolve(Platform::Discourse, &discourse_pat, &hints, now)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let x_now = m.resolve(Platform::Slack, &slack_pat, &hints, now).await;
    let y_now = m
        .resolve(Platform::Discourse, &discourse_pat, &hints, now)
        .await;
    assert_eq!(x_now.member_id, y_now.member_id, "{x:?} {y:?}");
    assert_eq!(m.count("MERGE#").await, 1);
}

#[tokio::test]
async fn bots_are_marked_and_never_merged_with_people() {
    let m = members(&["relay:deploy-bot"]).await;
    let now = t0();
    let dependabot = m
        .resolve(
            Platform::Github,
            &actor("49699333", "dependabot[bot]"),
            &IdentityHints::default(),
            now,
        )
        .await;
    assert!(dependabot.is_bot);
    let mut slack_bot = actor("B01", "standup");
    slack_bot.is_bot = true;
    let slack = m
        .resolve(
            Platform::Slack,
            &slack_bot,
            &emails(&["ops@example.org"]),
            now,
        )
        .await;
    assert!(slack.is_bot);
    let relay = m
        .resolve(
            Platform::Relay,
            &actor("deploy", "Deploy-Bot"),
            &IdentityHints::default(),
            now,
        )
        .await;
    assert!(relay.is_bot);
    let person = m
        .resolve(
            Platform::Discourse,
            &actor("5", "ops-person"),
            &emails(&["ops@example.org"]),
            now + Duration::seconds(1),
        )
        .await;
    assert!(!person.is_bot);
    assert_ne!(
        person.member_id, slack.member_id,
        "a bot and a person merged"
    );

    let rows = m.list().await;
    for id in [&dependabot.member_id, &slack.member_id, &relay.member_id] {
        let row = rows.iter().find(|r| &r.member_id == id).unwrap();
        assert!(row.is_bot, "{row:?}");
    }
    assert!(
        !rows
            .iter()
            .find(|r| r.member_id == person.member_id)
            .unwrap()
            .is_bot
    );

    // A member first seen as a person and later flagged is marked too.
    let mut flagged = actor("U9", "helper");
    let before = m
        .resolve(Platform::Slack, &flagged, &IdentityHints::default(), now)
        .await;
    assert!(!before.is_bot);
    flagged.is_bot = true;
    m.resolve(Platform::Slack, &flagged, &IdentityHints::default(), now)
        .await;
    flagged.is_bot = false;
    let after = m
        .resolve(Platform::Slack, &flagged, &IdentityHints::default(), now)
        .await;
    assert!(after.is_bot, "the member keeps its bot mark");
}
