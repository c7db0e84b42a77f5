use super::*;

fn id(platform: Platform, handle: &str, emails: &[&str], fields: &[&str]) -> Identity {
    Identity {
        platform,
        platform_user_id: format!("{}-{handle}", platform.as_str()),
        handle: handle.to_owned(),
        verified_emails: emails.iter().map(|e| e.to_string()).collect(),
        profile_fields: fields.iter().map(|f| f.to_string()).collect(),
        is_bot: false,
    }
}

#[test]
fn same_verified_email_is_certain_and_the_reason_hides_the_address() {
    let gh = id(Platform::Github, "ada", &["Ada@Example.com"], &[]);
    let slack = id(Platform::Slack, "U123", &["ada@example.com "], &[]);
    let l = link(&gh, &slack).unwrap();
    assert_eq!(
        (l.rule, l.confidence),
        (Rule::SameVerifiedEmail, Confidence::Certain)
    );
    assert!(!l.why.contains("example.com"), "{}", l.why);
}

#[test]
fn github_noreply_email_names_the_login() {
    assert_eq!(
        github_login_from_noreply("12345+Ada-L@users.noreply.github.com").as_deref(),
        Some("ada-l")
    );
    assert_eq!(
        github_login_from_noreply("ada@users.noreply.github.com").as_deref(),
        Some("ada")
    );
    assert_eq!(github_login_from_noreply("ada@example.com"), None);
    let gh = id(Platform::Github, "Ada-L", &[], &[]);
    let discourse = id(
        Platform::Discourse,
        "ada",
        &["99+ada-l@users.noreply.github.com"],
        &[],
    );
    let l = link(&discourse, &gh).unwrap();
    assert_eq!(
        (l.rule, l.confidence),
        (Rule::GithubNoreplyEmail, Confidence::Certain)
    );
}

#[test]
fn profile_fields_and_same_handles_are_only_suggestions() {
    let gh = id(Platform::Github, "octo-cat", &[], &[]);
    let slack = id(
        Platform::Slack,
        "U9",
        &[],
        &["Code: https://github.com/Octo-Cat/"],
    );
    let l = link(&gh, &slack).unwrap();
    assert_eq!(
        (l.rule, l.confidence),
        (Rule::ProfileNamesGithub, Confidence::Suggestion)
    );
    let discord = id(Platform::Discord, "OCTO-CAT", &[], &[]);
    let l = link(&gh, &discord).unwrap();
    assert_eq!(
        (l.rule, l.confidence),
        (Rule::SameHandle, Confidence::Suggestion)
    );
    // Too short to mean anything.
    assert_eq!(
        link(
            &id(Platform::Github, "al", &[], &[]),
            &id(Platform::Slack, "al", &[], &[])
        ),
        None
    );
}

#[test]
fn handles_in_free_text() {
    assert_eq!(github_handle_in("gh: @mia-dev").as_deref(), Some("mia-dev"));
    assert_eq!(github_handle_in("GitHub: kai").as_deref(), Some("kai"));
    assert_eq!(github_handle_in("see github.com/orgs/acme"), None);
    assert_eq!(github_handle_in("github.com/-bad"), None);
    assert_eq!(github_handle_in("I like gh pages"), None);
}

#[test]
fn people_and_bots_never_link_and_bots_are_recognised() {
    let mut bot = id(Platform::Github, "dependabot[bot]", &["x@example.com"], &[]);
    assert!(is_bot(&bot, &[]));
    bot.handle = "renovate".into();
    assert!(!is_bot(&bot, &[]));
    assert!(is_bot(&bot, &["github:renovate".into()]));
    assert!(!is_bot(&bot, &["slack:renovate".into()]));
    bot.is_bot = true;
    let person = id(Platform::Slack, "U1", &["x@example.com"], &[]);
    assert_eq!(link(&bot, &person), None);
}

proptest::proptest! {
    #[test]
    fn links_are_symmetric_in_rule_and_confidence(
        ha in "[a-z]{3,8}", hb in "[a-z]{3,8}", shared in proptest::bool::ANY,
    ) {
        let email = if shared { vec!["same@example.com"] } else { vec![] };
        let a = id(Platform::Github, &ha, &email, &[]);
        let b = id(Platform::Slack, &hb, &email, &[]);
        let ab = link(&a, &b).map(|l| (l.rule, l.confidence));
        let ba = link(&b, &a).map(|l| (l.rule, l.confidence));
        proptest::prop_assert_eq!(ab, ba);
    }
}

#[test]
fn stored_facts_hold_hashes_not_addresses_and_link_like_identities() {
    let slack = id(
        Platform::Slack,
        "U1",
        &["Ada@Example.com", "12345+Ada@users.noreply.github.com"],
        &["GitHub: @ada"],
    );
    let facts = LinkFacts::of(&slack);
    let stored = serde_json::to_string(&facts).unwrap();
    assert!(!stored.contains("example.com"), "{stored}");
    assert!(!stored.contains("users.noreply"), "{stored}");
    assert_eq!(
        facts.email_hashes.iter().next().map(String::as_str),
        email_hash(" ada@example.com").as_deref()
    );
    assert_eq!(
        facts.email_hashes.len(),
        1,
        "no-reply addresses are not hashed"
    );
    assert!(facts.noreply_logins.contains("ada"));
    assert!(facts.github_handles.contains("ada"));
    assert_eq!(email_hash("not an address"), None);
    assert_eq!(email_hash("a@b.co").map(|h| h.len()), Some(64));
}

#[test]
fn hints_added_later_are_detected_and_rules_parse_back() {
    let mut stored = LinkFacts::of(&id(Platform::Slack, "U1", &["a@example.com"], &[]));
    let mut incoming = stored.clone();
    assert!(!stored.lacks_any_of(&incoming));
    incoming.add_hints(&[], &["github.com/ada".to_owned()]);
    assert!(stored.lacks_any_of(&incoming));
    stored.add_hints(&[], &["https://github.com/Ada".to_owned()]);
    assert!(!stored.lacks_any_of(&incoming));
    assert!(stored.has_hints());
    assert!(!LinkFacts::default().has_hints());
    for rule in [
        Rule::SameVerifiedEmail,
        Rule::GithubNoreplyEmail,
        Rule::ProfileNamesGithub,
        Rule::SameHandle,
        Rule::Explicit,
    ] {
        assert_eq!(Rule::parse(rule.as_str()), Some(rule));
    }
    assert_eq!(Rule::parse("nope"), None);
}

proptest::proptest! {
    #[test]
    fn facts_link_exactly_like_identities(
        ha in "[a-z]{3,8}", hb in "[a-z]{3,8}",
        email in proptest::option::of("[a-z]{1,5}@example\\.com"),
        noreply in proptest::bool::ANY, profile in proptest::bool::ANY,
    ) {
        let gh = id(Platform::Github, &ha, &[], &[]);
        let mut emails: Vec<String> = email.iter().cloned().collect();
        if noreply {
            emails.push(format!("1+{ha}@users.noreply.github.com"));
        }
        let fields: Vec<String> = if profile { vec![format!("github.com/{ha}")] } else { vec![] };
        let mut other = id(Platform::Discourse, &hb, &[], &[]);
        other.verified_emails = emails;
        other.profile_fields = fields;
        let by_identity = link(&gh, &other);
        let by_facts = link_facts(&LinkFacts::of(&gh), &LinkFacts::of(&other));
        proptest::prop_assert_eq!(by_identity, by_facts);
    }
}
