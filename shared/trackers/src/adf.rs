//! Markdown to Atlassian Document Format (ADF), and ADF back to plain text.
//!
//! Jira Cloud's REST v3 takes descriptions and comments as ADF documents
//! only. Ticket bodies are small markdown documents we write ourselves
//! (source link, member, category, reasons), so a small subset is enough:
//! paragraphs (line breaks kept as `hardBreak`), `#` headings, `-`/`*`
//! bullet lists, fenced code blocks, inline code, and links (`[text](url)`
//! or bare `http(s)://` URLs) as text with a `link` mark. Everything else is
//! kept as literal text, which is always valid ADF.

use serde_json::{Value, json};

/// A `doc` node for `markdown` followed by a paragraph holding `marker` as
/// inline code (kept verbatim; found again by [`plain_text`]).
pub(crate) fn document_with_marker(markdown: &str, marker: &str) -> Value {
    let mut content = if markdown.contains(marker) {
        blocks(markdown)
    } else {
        let mut content = blocks(markdown);
        content.push(json!({
            "type": "paragraph",
            "content": [{ "type": "text", "text": marker, "marks": [{ "type": "code" }] }]
        }));
        content
    };
    if content.is_empty() {
        content.push(json!({ "type": "paragraph", "content": [] }));
    }
    json!({ "type": "doc", "version": 1, "content": content })
}

/// All text of an ADF node, blocks separated by line breaks.
pub(crate) fn plain_text(node: &Value) -> String {
    let mut text = String::new();
    collect_text(node, &mut text);
    text
}

fn collect_text(node: &Value, out: &mut String) {
    if let Some(text) = node.get("text").and_then(Value::as_str) {
        out.push_str(text);
    }
    if node.get("type").and_then(Value::as_str) == Some("hardBreak") {
        out.push('\n');
    }
    if let Some(children) = node.get("content").and_then(Value::as_array) {
        for child in children {
            collect_text(child, out);
        }
        out.push('\n');
    }
}

fn blocks(markdown: &str) -> Vec<Value> {
    let mut blocks = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut list: Vec<&str> = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let line = line.trim_end();
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            flush_paragraph(&mut paragraph, &mut blocks);
            flush_list(&mut list, &mut blocks);
            let mut code = Vec::new();
            for code_line in lines.by_ref() {
                if code_line.trim_start().starts_with("```") {
                    break;
                }
                code.push(code_line);
            }
            blocks.push(code_block(info.trim(), &code.join("\n")));
        } else if trimmed.is_empty() {
            flush_paragraph(&mut paragraph, &mut blocks);
            flush_list(&mut list, &mut blocks);
        } else if let Some((level, text)) = heading(trimmed) {
            flush_paragraph(&mut paragraph, &mut blocks);
            flush_list(&mut list, &mut blocks);
            blocks.push(json!({
                "type": "heading",
                "attrs": { "level": level },
                "content": inline(text),
            }));
        } else if let Some(item) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
        {
            flush_paragraph(&mut paragraph, &mut blocks);
            list.push(item.trim());
        } else {
            flush_list(&mut list, &mut blocks);
            paragraph.push(trimmed);
        }
    }
    flush_paragraph(&mut paragraph, &mut blocks);
    flush_list(&mut list, &mut blocks);
    blocks
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|c| *c == '#').count();
    let text = line[level..].strip_prefix(' ')?.trim();
    ((1..=6).contains(&level) && !text.is_empty()).then_some((level, text))
}

fn flush_paragraph(lines: &mut Vec<&str>, blocks: &mut Vec<Value>) {
    if lines.is_empty() {
        return;
    }
    let mut content = Vec::new();
    for (index, line) in lines.drain(..).enumerate() {
        if index > 0 {
            content.push(json!({ "type": "hardBreak" }));
        }
        content.extend(inline(line));
    }
    blocks.push(json!({ "type": "paragraph", "content": content }));
}

fn flush_list(items: &mut Vec<&str>, blocks: &mut Vec<Value>) {
    if items.is_empty() {
        return;
    }
    let items: Vec<Value> = items
        .drain(..)
        .map(|item| {
            json!({
                "type": "listItem",
                "content": [{ "type": "paragraph", "content": inline(item) }],
            })
        })
        .collect();
    blocks.push(json!({ "type": "bulletList", "content": items }));
}

fn code_block(language: &str, code: &str) -> Value {
    let mut block = json!({ "type": "codeBlock" });
    if !language.is_empty() {
        block["attrs"] = json!({ "language": language });
    }
    // ADF forbids empty text nodes.
    block["content"] = if code.is_empty() {
        json!([])
    } else {
        json!([{ "type": "text", "text": code }])
    };
    block
}

/// Inline content of one line: text, inline code, links.
fn inline(line: &str) -> Vec<Value> {
    let mut nodes = Vec::new();
    let mut plain = String::new();
    let mut rest = line;
    while let Some(first) = rest.chars().next() {
        if first == '`'
            && let Some(end) = rest[1..].find('`')
            && end > 0
        {
            push_plain(&mut plain, &mut nodes);
            nodes.push(marked_text(&rest[1..=end], json!([{ "type": "code" }])));
            rest = &rest[end + 2..];
            continue;
        }
        if first == '['
            && let Some((label, href, consumed)) = markdown_link(rest)
        {
            push_plain(&mut plain, &mut nodes);
            nodes.push(link(label, href));
            rest = &rest[consumed..];
            continue;
        }
        if (rest.starts_with("https://") || rest.starts_with("http://"))
            && (plain.is_empty() || plain.ends_with(|c: char| c.is_whitespace() || c == '('))
        {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let url = rest[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '"', '\'']);
            push_plain(&mut plain, &mut nodes);
            nodes.push(link(url, url));
            rest = &rest[url.len()..];
            continue;
        }
        plain.push(first);
        rest = &rest[first.len_utf8()..];
    }
    push_plain(&mut plain, &mut nodes);
    nodes
}

/// `[label](href)` at the start of `text`: (label, href, bytes consumed).
/// Only web and mail links become links; anything else stays text.
fn markdown_link(text: &str) -> Option<(&str, &str, usize)> {
    let label_end = text.find("](")?;
    let label = &text[1..label_end];
    let after = &text[label_end + 2..];
    let href_end = after.find(')')?;
    let href = after[..href_end].trim();
    let allowed = ["https://", "http://", "mailto:"]
        .iter()
        .any(|scheme| href.starts_with(scheme));
    if label.is_empty() || label.contains('[') || !allowed || href.contains(char::is_whitespace) {
        return None;
    }
    Some((label, href, label_end + 2 + href_end + 1))
}

fn push_plain(plain: &mut String, nodes: &mut Vec<Value>) {
    if !plain.is_empty() {
        nodes.push(json!({ "type": "text", "text": std::mem::take(plain) }));
    }
}

fn marked_text(text: &str, marks: Value) -> Value {
    json!({ "type": "text", "text": text, "marks": marks })
}

fn link(text: &str, href: &str) -> Value {
    marked_text(text, json!([{ "type": "link", "attrs": { "href": href } }]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(markdown: &str) -> Value {
        json!({ "type": "doc", "version": 1, "content": blocks(markdown) })
    }

    /// ADF's structural rules that Jira enforces on input: known node types,
    /// no empty text nodes, text only inside inline containers.
    fn assert_valid(node: &Value) {
        let node_type = node["type"].as_str().unwrap();
        match node_type {
            "text" => assert!(!node["text"].as_str().unwrap().is_empty(), "empty text"),
            "hardBreak" => {}
            "doc" | "paragraph" | "heading" | "bulletList" | "listItem" | "codeBlock" => {
                for child in node["content"].as_array().unwrap() {
                    assert_valid(child);
                }
            }
            other => panic!("unexpected node type {other}"),
        }
    }

    #[test]
    fn a_ticket_body_becomes_structured_adf() {
        let markdown = "## Reported in #general\n\
                        Source: [the thread](https://discord.com/channels/1/2/3)\n\
                        Member: `ana#1234`\n\n\
                        Reasons:\n\
                        - crash on login\n\
                        - 3 members agree, see https://forum.example.org/t/42.\n\n\
                        ```\nstack trace\n```";
        let doc = document(markdown);
        assert_valid(&doc);
        let content = doc["content"].as_array().unwrap();
        assert_eq!(content[0]["type"], "heading");
        assert_eq!(content[0]["attrs"]["level"], 2);
        assert_eq!(content[1]["type"], "paragraph");
        let paragraph = content[1]["content"].as_array().unwrap();
        assert_eq!(paragraph[1]["text"], "the thread");
        assert_eq!(
            paragraph[1]["marks"][0]["attrs"]["href"],
            "https://discord.com/channels/1/2/3"
        );
        assert_eq!(paragraph[2]["type"], "hardBreak");
        assert_eq!(paragraph[4]["marks"][0]["type"], "code");
        assert_eq!(content[3]["type"], "bulletList");
        let second_item = &content[3]["content"][1]["content"][0]["content"];
        assert_eq!(
            second_item[1]["marks"][0]["attrs"]["href"],
            "https://forum.example.org/t/42"
        );
        assert_eq!(second_item[2]["text"], ".");
        assert_eq!(content[4]["type"], "codeBlock");
        assert_eq!(content[4]["content"][0]["text"], "stack trace");
    }

    #[test]
    fn unsafe_links_stay_text() {
        let doc = document("[click](javascript:alert(1))");
        assert_valid(&doc);
        let text = plain_text(&doc);
        assert!(text.contains("[click](javascript:alert(1))"));
        assert!(!doc.to_string().contains("\"link\""));
    }

    #[test]
    fn marker_is_appended_and_found_again() {
        let doc = document_with_marker("+1 from Ana", "community-event:e1:plus1:m7");
        assert_valid(&doc);
        assert!(plain_text(&doc).contains("community-event:e1:plus1:m7"));
        let empty = document_with_marker("", "m");
        assert_valid(&empty);
    }

    #[test]
    fn arbitrary_text_is_always_valid_adf() {
        for text in [
            "", "`", "``", "[", "[]()", "[a](", "http://", "#", "# ", "-", "- ", "```", "é`é`é",
        ] {
            assert_valid(&document(text));
        }
    }
}
