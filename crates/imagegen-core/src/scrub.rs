//! Keeping API keys out of text a server sent back.
//!
//! A gateway that echoes the request's credentials in its error ("Incorrect
//! API key provided: Bearer sk-...") would otherwise put the key in an
//! [`Error`](crate::Error)'s message, and from there in logs, `Display`,
//! `Debug` and whatever a program stores. Every message taken from an
//! answer passes through [`scrub`] before it becomes part of an error.

use std::borrow::Cow;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// The shortest run of a secret's characters that counts as part of it:
/// long enough that ordinary words never match, short enough to catch a
/// truncated echo.
const MIN_FRAGMENT: usize = 8;

/// `text` with every word that is (or is a long enough piece of) one of
/// `secrets`, and every token after `Bearer` or `Basic`, replaced by
/// [`REDACTED`]. Words are runs of characters other than whitespace, quotes,
/// commas, semicolons, brackets and braces.
///
/// ```
/// use imagegen_core::scrub::scrub;
/// let said = r#"{"error": "Incorrect API key provided: Bearer sk-live-123456789"}"#;
/// let clean = scrub(said, &["sk-live-123456789"]);
/// assert_eq!(clean, r#"{"error": "Incorrect API key provided: Bearer [redacted]"}"#);
/// assert_eq!(scrub("key sk-live-1234 (truncated)", &["sk-live-123456789"]), "key [redacted] (truncated)");
/// assert_eq!(scrub("nothing to hide", &["sk-live-123456789"]), "nothing to hide");
/// ```
pub fn scrub<'a>(text: &'a str, secrets: &[&str]) -> Cow<'a, str> {
    let is_separator = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | '`' | ',' | ';' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>'
            )
    };
    let mut out = String::new();
    let mut changed = false;
    let mut after_scheme = false;
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest.find(|c: char| !is_separator(c)).unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if rest.is_empty() {
            break;
        }
        let end = rest.find(is_separator).unwrap_or(rest.len());
        let word = &rest[..end];
        let secret = after_scheme || secrets.iter().any(|s| is_part_of(word, s));
        let lower = word.to_ascii_lowercase();
        after_scheme = lower.ends_with("bearer") || lower.ends_with("basic");
        if secret && word != REDACTED {
            out.push_str(REDACTED);
            changed = true;
        } else {
            out.push_str(word);
        }
        rest = &rest[end..];
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// Whether `word` holds `secret`, or a run of at least [`MIN_FRAGMENT`]
/// characters of it (an echo cut short, or with a prefix such as `key=`).
fn is_part_of(word: &str, secret: &str) -> bool {
    if secret.len() < MIN_FRAGMENT {
        return !secret.is_empty() && word.contains(secret);
    }
    if word.contains(secret) {
        return true;
    }
    let bytes = word.as_bytes();
    bytes.len() >= MIN_FRAGMENT
        && bytes
            .windows(MIN_FRAGMENT)
            .any(|w| std::str::from_utf8(w).is_ok_and(|w| secret.contains(w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_bearer_tokens_and_fragments_are_redacted() {
        let key = "rb-live-0123456789abcdef";
        for (said, expected) in [
            (
                "Incorrect API key provided: rb-live-0123456789abcdef.",
                "Incorrect API key provided: [redacted]",
            ),
            (
                "auth=Bearer abc.def.ghi failed",
                "auth=Bearer [redacted] failed",
            ),
            ("bearer   tok", "bearer   [redacted]"),
            ("key 'rb-live-0123...' refused", "key '[redacted]' refused"),
            ("x-api-key:rb-live-0123456789abcdef", "[redacted]"),
            (
                "{\"k\":\"rb-live-0123456789abcdef\"}",
                "{\"k\":\"[redacted]\"}",
            ),
        ] {
            assert_eq!(scrub(said, &[key]), expected, "{said}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone_and_borrowed() {
        let text = "the run failed: content policy (Bearer of bad news?)";
        // "of" follows Bearer: redacted, since a token cannot be told from a word.
        assert_eq!(
            scrub(text, &["rb-live-0123456789abcdef"]),
            "the run failed: content policy (Bearer [redacted] bad news?)"
        );
        let plain = "quality must be one of medium, high";
        assert!(matches!(
            scrub(plain, &["rb-live-0123456789abcdef"]),
            Cow::Borrowed(_)
        ));
        assert!(matches!(scrub(plain, &[""]), Cow::Borrowed(_)));
    }
}
