//! What the CLI prints: one JSON record per image on stdout (`--json`), and
//! readable file names.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

/// One saved (or, with `--no-download`, generated) image, as `--json` prints it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImageRecord {
    /// Where the image was saved (`None` with `--no-download`).
    pub path: Option<String>,
    /// The provider that made it.
    pub provider: String,
    /// The provider's task id.
    pub task_id: String,
    /// The prompt.
    pub prompt: String,
    /// SHA-256 of the file, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Width in pixels, read from the PNG header when cheap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Credits the provider reported for the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits: Option<f64>,
    /// Where the image can be downloaded, when the provider gave a URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Batch job number, for batches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<i64>,
}

/// Prints one JSON record on stdout, flushing so a reader sees it at once.
pub fn print_json<T: Serialize>(record: &T) {
    let line = serde_json::to_string(record).expect("records serialize");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A file-name-safe slug of `text`: lower-case ASCII letters and digits
/// separated by single dashes, at most `max` characters, cut at a word.
pub fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
    }
    if out.len() > max {
        let cut = out[..max]
            .rfind('-')
            .filter(|&i| i > max / 2)
            .unwrap_or(max);
        out.truncate(cut);
    }
    if out.is_empty() {
        out.push_str("image");
    }
    out
}

/// Width and height from a PNG's IHDR chunk; `None` if not a PNG.
pub fn png_dimensions(path: &Path) -> Option<(u32, u32)> {
    use std::io::Read;
    let mut head = [0u8; 24];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    if &head[..8] != b"\x89PNG\r\n\x1a\n" || &head[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(head[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(head[20..24].try_into().ok()?);
    Some((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_readable_and_bounded() {
        assert_eq!(
            slug("A cinematic product photo of a ceramic lamp", 60),
            "a-cinematic-product-photo-of-a-ceramic-lamp"
        );
        assert_eq!(slug("  Héllo, wörld!! 42 ", 60), "h-llo-w-rld-42");
        assert_eq!(slug("!!!", 60), "image");
        let long = slug("one two three four five six seven eight", 20);
        assert!(long.len() <= 20, "{long}");
        assert!(!long.ends_with('-'), "{long}");
        assert_eq!(long, "one-two-three-four");
    }

    #[test]
    fn json_record_skips_unknown_fields() {
        let r = ImageRecord {
            path: Some("images/a.png".into()),
            provider: "runbase".into(),
            task_id: "t1".into(),
            prompt: "a".into(),
            sha256: None,
            width: None,
            height: None,
            credits: None,
            url: None,
            job: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"path":"images/a.png","provider":"runbase","task_id":"t1","prompt":"a"}"#
        );
    }
}
