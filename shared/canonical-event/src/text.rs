/// Longest excerpt kept on an event, in characters.
pub const EXCERPT_MAX_CHARS: usize = 1000;
/// Longest title kept on an event, in characters.
pub const TITLE_MAX_CHARS: usize = 256;

/// Trims and truncates `text` to at most `max_chars` characters (never in the
/// middle of a UTF-8 sequence), marking a cut with `…`. Empty text is `None`
/// so "no body" and "empty body" look the same downstream.
pub fn excerpt(text: &str, max_chars: usize) -> Option<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() || max_chars == 0 {
        return None;
    }
    match trimmed.char_indices().nth(max_chars) {
        None => Some(trimmed.to_owned()),
        Some((cut, _)) => {
            // Leave room for the ellipsis so the result is still at most max_chars.
            let keep = trimmed[..cut]
                .char_indices()
                .nth(max_chars - 1)
                .map_or(cut, |(i, _)| i);
            let mut out = trimmed[..keep].trim_end().to_owned();
            out.push('…');
            Some(out)
        }
    }
}
