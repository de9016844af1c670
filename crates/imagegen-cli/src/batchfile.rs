//! Batch files: one request a line.
//!
//! A line whose first non-blank character is `{` is a JSON object (JSONL):
//! `prompt` plus per-line overrides of any `generate` option (`provider`,
//! `aspect`, `size`, `quality`, `refs`, `fidelity`, `n`, `name`,
//! `callback_url`). Any other line is a prompt on its own. Blank lines and
//! lines starting with `#` are skipped. A line that cannot be understood is
//! reported with its line number and does not stop the others.

use std::path::Path;

use imagegen_core::{Aspect, Fidelity, ImageSize, Quality, ReferenceImage};
use serde::Deserialize;

use crate::exit::{CliError, CliResult};

/// One request line, as written in the file (overrides unparsed).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    prompt: Option<String>,
    #[serde(default)]
    provider: Option<StringOrList>,
    aspect: Option<String>,
    size: Option<String>,
    quality: Option<String>,
    #[serde(default, alias = "ref", alias = "references")]
    refs: Option<StringOrList>,
    #[serde(alias = "input_fidelity")]
    fidelity: Option<String>,
    n: Option<u32>,
    name: Option<String>,
    callback_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn into_vec(self) -> Vec<String> {
        match self {
            StringOrList::One(s) => s
                .split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
            StringOrList::Many(v) => v,
        }
    }
}

/// One request line, parsed: the prompt and the options it overrides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineSpec {
    /// What to draw.
    pub prompt: String,
    /// Provider fallback order for this line, if overridden.
    pub providers: Option<Vec<String>>,
    /// Aspect override.
    pub aspect: Option<Aspect>,
    /// Size override.
    pub size: Option<ImageSize>,
    /// Quality override.
    pub quality: Option<Quality>,
    /// Reference images (replace the command line's when given).
    pub refs: Option<Vec<ReferenceImage>>,
    /// Input fidelity override.
    pub fidelity: Option<Fidelity>,
    /// Number of images for this line.
    pub n: Option<u32>,
    /// A file-name stem to use instead of the prompt's slug.
    pub name: Option<String>,
    /// Webhook override.
    pub callback_url: Option<String>,
}

/// One non-blank, non-comment line of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// 1-based line number.
    pub line: usize,
    /// The parsed line, or why it could not be understood.
    pub spec: Result<LineSpec, String>,
}

/// Reads and parses a batch file.
pub fn read(path: &Path) -> CliResult<Vec<Entry>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::invalid(format!("cannot read batch file {}: {e}", path.display()))
    })?;
    Ok(parse(&text))
}

/// Parses the text of a batch file.
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            Some(Entry {
                line: i + 1,
                spec: parse_line(line),
            })
        })
        .collect()
}

fn parse_line(line: &str) -> Result<LineSpec, String> {
    if !line.starts_with('{') {
        return Ok(LineSpec {
            prompt: line.to_owned(),
            ..LineSpec::default()
        });
    }
    let raw: RawLine = serde_json::from_str(line).map_err(|e| {
        // serde_json reports "at line 1 column N": the column helps, the line does not.
        let msg = e.to_string();
        match msg.rsplit_once(" at line 1 ") {
            Some((head, tail)) => format!("invalid JSON: {head} at {tail}"),
            None => format!("invalid JSON: {msg}"),
        }
    })?;
    let prompt = match raw.prompt {
        Some(p) if !p.trim().is_empty() => p,
        _ => return Err("missing `prompt`".to_owned()),
    };
    let err = |e: imagegen_core::Error| e.message().to_owned();
    Ok(LineSpec {
        prompt,
        providers: raw.provider.map(StringOrList::into_vec),
        aspect: raw.aspect.map(|s| s.parse()).transpose().map_err(err)?,
        size: raw.size.map(|s| s.parse()).transpose().map_err(err)?,
        quality: raw.quality.map(|s| s.parse()).transpose().map_err(err)?,
        refs: raw.refs.map(|r| {
            r.into_vec()
                .iter()
                .map(|s| ReferenceImage::parse(s))
                .collect()
        }),
        fidelity: raw.fidelity.map(|s| s.parse()).transpose().map_err(err)?,
        n: match raw.n {
            Some(0) => return Err("`n` must be at least 1".to_owned()),
            n => n,
        },
        name: raw.name,
        callback_url: raw.callback_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_prompts_comments_and_blank_lines() {
        let entries = parse("# a comment\n\nA red lamp\n  A blue chair  \n");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].line, 3);
        assert_eq!(entries[0].spec.as_ref().unwrap().prompt, "A red lamp");
        assert_eq!(entries[1].spec.as_ref().unwrap().prompt, "A blue chair");
    }

    #[test]
    fn jsonl_overrides_parse_into_typed_values() {
        let entries = parse(
            r#"{"prompt": "lamp", "provider": "gptimage15,openai", "aspect": "2:3", "quality": "low", "refs": ["https://x/a.png"], "fidelity": "high", "n": 2, "name": "lamp-a"}"#,
        );
        let spec = entries[0].spec.as_ref().unwrap();
        assert_eq!(
            spec.providers.as_deref(),
            Some(&["gptimage15".to_owned(), "openai".to_owned()][..])
        );
        assert_eq!(spec.aspect, Some(Aspect::Portrait));
        assert_eq!(spec.quality, Some(Quality::Low));
        assert_eq!(spec.fidelity, Some(Fidelity::High));
        assert_eq!(spec.n, Some(2));
        assert_eq!(spec.name.as_deref(), Some("lamp-a"));
        assert_eq!(spec.refs.as_ref().unwrap().len(), 1);
    }

    #[test]
    fn bad_lines_fail_alone_with_a_reason() {
        let entries = parse(
            "good prompt\n{\"prompt\": \"x\", \"aspect\": \"4:3\"}\n{\"prompt\": \n{\"promt\": \"typo\"}\n{\"aspect\": \"1:1\"}\n{\"prompt\": \"x\", \"n\": 0}\n",
        );
        assert_eq!(entries.len(), 6);
        assert!(entries[0].spec.is_ok());
        let reasons: Vec<_> = entries[1..]
            .iter()
            .map(|e| (e.line, e.spec.clone().unwrap_err()))
            .collect();
        assert_eq!(reasons[0].0, 2);
        assert!(reasons[0].1.contains("unknown aspect `4:3`"), "{reasons:?}");
        assert!(reasons[1].1.starts_with("invalid JSON"), "{reasons:?}");
        assert!(
            reasons[2].1.contains("unknown field `promt`"),
            "{reasons:?}"
        );
        assert_eq!(reasons[3].1, "missing `prompt`");
        assert!(reasons[4].1.contains("at least 1"));
    }
}
