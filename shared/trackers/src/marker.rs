//! How a ticket, or a +1 comment, is recognised again after a lost answer.
//!
//! Every ticket carries `community-event:<event id>` in its body (GitHub: as
//! a hidden HTML comment, which is what `find` matches), Jira tickets also
//! carry the label `ce-<event id>` (labels are what JQL can search exactly),
//! and Linear tickets are found by their client-chosen id. Comments carry
//! the caller's marker verbatim.

use crate::SinkError;

/// `community-event:<event id>`: the text every ticket body carries.
pub fn ticket_marker(event_id: &str) -> String {
    format!("community-event:{event_id}")
}

/// `<!-- community-event:<event id> -->`: GitHub renders it invisibly, and
/// `find` matches it in issue bodies.
pub fn github_ticket_marker(event_id: &str) -> String {
    format!("<!-- {} -->", ticket_marker(event_id))
}

/// `ce-<event id>`: the Jira label `find` searches for. A UUID event id is
/// written in its simple (hyphen-less) form; anything else keeps only
/// ASCII letters, digits, `-` and `_` (Jira labels cannot contain spaces).
pub fn jira_event_label(event_id: &str) -> String {
    match uuid::Uuid::parse_str(event_id.trim()) {
        Ok(uuid) => format!("ce-{}", uuid.simple()),
        Err(_) => {
            let cleaned: String = event_id
                .trim()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .take(200)
                .collect();
            format!("ce-{cleaned}")
        }
    }
}

/// A Jira label from free text: whitespace becomes `-`, at most 255 chars.
pub(crate) fn jira_label(text: &str) -> Option<String> {
    let label: String = text
        .trim()
        .chars()
        .map(|c| if c.is_whitespace() { '-' } else { c })
        .take(255)
        .collect();
    (!label.is_empty()).then_some(label)
}

/// Refuses markers the sinks could not embed and find again verbatim: an
/// empty one, a line break, a backtick (it closes the inline code span
/// Linear and Jira comments put it in) or `-->` (it closes GitHub's
/// HTML comment).
pub(crate) fn check_comment_marker(tracker: &'static str, marker: &str) -> Result<(), SinkError> {
    let problem = if marker.trim().is_empty() {
        Some("comment marker is empty")
    } else if marker.contains(['\n', '\r', '`']) {
        Some("comment marker contains a line break or a backtick")
    } else if marker.contains("-->") {
        Some("comment marker contains `-->`")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(SinkError::Rejected {
            tracker,
            status: 0,
            detail: problem.to_owned(),
        }),
        None => Ok(()),
    }
}

/// Markdown `body` followed by `marker` as inline code, unless the body
/// already carries it. Inline code survives Linear's markdown round trip
/// without escaping.
pub(crate) fn with_visible_marker(body: &str, marker: &str) -> String {
    if body.contains(marker) {
        return body.to_owned();
    }
    let body = body.trim_end();
    if body.is_empty() {
        format!("`{marker}`")
    } else {
        format!("{body}\n\n`{marker}`")
    }
}

/// Markdown `body` followed by `marker` as an HTML comment (hidden on
/// GitHub), unless the body already carries it.
pub(crate) fn with_hidden_marker(body: &str, marker: &str) -> String {
    if body.contains(marker) {
        return body.to_owned();
    }
    let body = body.trim_end();
    if body.is_empty() {
        format!("<!-- {marker} -->")
    } else {
        format!("{body}\n\n<!-- {marker} -->")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jira_label_of_a_uuid_event_is_its_simple_form() {
        assert_eq!(
            jira_event_label("6d1c5e0a-0b1f-4c8e-9a57-3f2e8c4d1b90"),
            "ce-6d1c5e0a0b1f4c8e9a573f2e8c4d1b90"
        );
        assert_eq!(
            jira_event_label("odd id/with spaces"),
            "ce-odd-id-with-spaces"
        );
    }

    #[test]
    fn free_text_labels_lose_their_spaces() {
        assert_eq!(
            jira_label(" needs triage ").as_deref(),
            Some("needs-triage")
        );
        assert_eq!(jira_label("   "), None);
    }

    #[test]
    fn markers_are_appended_once() {
        let once = with_hidden_marker("Body\n", "m-1");
        assert_eq!(once, "Body\n\n<!-- m-1 -->");
        assert_eq!(with_hidden_marker(&once, "m-1"), once);
        assert_eq!(with_visible_marker("", "m-1"), "`m-1`");
        assert_eq!(
            with_visible_marker("+1 from Ana", "m-1"),
            "+1 from Ana\n\n`m-1`"
        );
    }

    #[test]
    fn unembeddable_markers_are_refused_locally() {
        for marker in ["", "  ", "a`b", "a\nb", "a-->b"] {
            assert!(matches!(
                check_comment_marker("github", marker),
                Err(SinkError::Rejected { status: 0, .. })
            ));
        }
        assert!(check_comment_marker("github", "community-event:e1:plus1:m7").is_ok());
    }
}
