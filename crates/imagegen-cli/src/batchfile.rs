//! Batch files: one request a line, read as a stream (a million-line file
//! is never held in memory).
//!
//! A line whose first non-blank character is `{` is a JSON object (JSONL):
//! `prompt` plus per-line overrides of the `generate` options (`provider`,
//! `aspect`, `size`, `quality`, `refs`, `fidelity`, `n`, `name`,
//! `callback_url`), parsed with the options' own value parsers and checked
//! by the same [`Settings::request`](crate::input::Settings::request). A
//! line starting with `[` is refused (an array is not a prompt). Any other
//! line is a prompt on its own. Blank lines and lines starting with `#` are
//! skipped. A line that cannot be understood is reported with its line
//! number and does not stop the others.

use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use crate::exit::{CliError, CliResult};
use crate::input::Settings;

/// One request line, as written in the file (values unparsed).
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
    n: Option<u64>,
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
    /// The settings the line overrides.
    pub settings: Settings,
    /// Number of images for this line, if overridden (not yet capped).
    pub n: Option<u64>,
    /// A file-name stem to use instead of the prompt's slug.
    pub name: Option<String>,
}

/// One non-blank, non-comment line of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// 1-based line number.
    pub line: usize,
    /// The parsed line, or why it could not be understood.
    pub spec: Result<LineSpec, String>,
}

/// Where a batch file comes from, for messages: a path, or standard input.
pub fn describe(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Opens a batch file (`-` is standard input) as a stream of lines.
pub fn open(path: &Path) -> CliResult<Box<dyn BufRead + Send>> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::BufReader::new(std::io::stdin())));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::usage(format!("cannot read batch file {}: {e}", path.display())))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(CliError::usage(format!(
            "{} is a folder; give a batch file (one prompt a line)",
            path.display()
        )));
    }
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 16, file)))
}

/// The entries of a batch file, one at a time; an I/O error (or text that
/// is not UTF-8) ends the stream with that error.
pub fn entries(reader: impl BufRead) -> impl Iterator<Item = std::io::Result<Entry>> {
    reader.lines().enumerate().filter_map(|(i, raw)| match raw {
        Err(e) => Some(Err(e)),
        Ok(raw) => {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            Some(Ok(Entry {
                line: i + 1,
                spec: parse_line(line),
            }))
        }
    })
}

/// Parses the text of a batch file (tests and small inputs).
#[cfg(test)]
pub fn parse(text: &str) -> Vec<Entry> {
    entries(text.as_bytes()).map(Result::unwrap).collect()
}

fn parse_line(line: &str) -> Result<LineSpec, String> {
    if line.starts_with('[') {
        return Err(
            "a line is a prompt or a JSON object with a `prompt`; this one looks like a JSON array"
                .to_owned(),
        );
    }
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
    fn value<T>(field: &str, text: Option<String>) -> Result<Option<T>, String>
    where
        T: std::str::FromStr<Err = imagegen_core::Error>,
    {
        text.map(|s| crate::args::core_value::<T>(&s))
            .transpose()
            .map_err(|e| format!("`{field}`: {e}"))
    }
    Ok(LineSpec {
        prompt,
        providers: raw.provider.map(StringOrList::into_vec),
        settings: Settings {
            aspect: value("aspect", raw.aspect)?,
            size: value("size", raw.size)?,
            quality: value("quality", raw.quality)?,
            refs: raw.refs.map(StringOrList::into_vec).unwrap_or_default(),
            fidelity: value("fidelity", raw.fidelity)?,
            callback_url: raw.callback_url,
        },
        n: raw.n,
        name: raw.name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use imagegen_core::{Aspect, Fidelity, Quality};

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
        assert_eq!(spec.settings.aspect, Some(Aspect::Portrait));
        assert_eq!(spec.settings.quality, Some(Quality::Low));
        assert_eq!(spec.settings.fidelity, Some(Fidelity::High));
        assert_eq!(spec.n, Some(2));
        assert_eq!(spec.name.as_deref(), Some("lamp-a"));
        assert_eq!(spec.settings.refs.len(), 1);
    }

    #[test]
    fn bad_lines_fail_alone_with_a_reason() {
        let entries = parse(
            "good prompt\n{\"prompt\": \"x\", \"aspect\": \"4:3\"}\n{\"prompt\": \n{\"promt\": \"typo\"}\n{\"aspect\": \"1:1\"}\n[\"an\", \"array\"]\n",
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
        assert!(reasons[4].1.contains("JSON array"), "{reasons:?}");
    }
}
