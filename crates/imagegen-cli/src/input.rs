//! One set of rules for what a request may say, whether it comes from the
//! command line or from a batch line: a line can do nothing a flag cannot.
//!
//! Flags are parsed by clap with the same value parsers a batch line uses
//! ([`parse_line`](crate::batchfile)), and both end in [`Settings::request`],
//! which checks what no single value can: a prompt that is not blank, a size
//! or an aspect (not both), a count within the cap, a webhook that is an
//! http(s) URL, and local reference files that exist.

use std::io::Read;

use imagegen_core::{Aspect, Fidelity, ImageRequest, ImageSize, Quality, ReferenceImage};

use crate::args::{RequestArgs, check_count};
use crate::exit::{CliError, CliResult};

/// A request's settings, typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// The shape.
    pub aspect: Option<Aspect>,
    /// The pixel size.
    pub size: Option<ImageSize>,
    /// The quality.
    pub quality: Option<Quality>,
    /// Reference images: URLs or local files.
    pub refs: Vec<String>,
    /// How closely to follow the references.
    pub fidelity: Option<Fidelity>,
    /// A webhook for the provider to call.
    pub callback_url: Option<String>,
}

impl Settings {
    /// The settings the options give.
    pub fn from_flags(args: &RequestArgs) -> Settings {
        Settings {
            aspect: args.aspect,
            size: args.size,
            quality: args.quality,
            refs: args.refs.clone(),
            fidelity: args.fidelity,
            callback_url: args.callback_url.clone(),
        }
    }

    /// These settings with a batch line's on top. A line that gives a size
    /// replaces the options' aspect, and the other way round; a line that
    /// gives both is refused by [`request`](Self::request), as the options are.
    pub fn overridden_by(&self, line: &Settings) -> Settings {
        let shape_given = line.aspect.is_some() || line.size.is_some();
        Settings {
            aspect: if shape_given {
                line.aspect
            } else {
                self.aspect
            },
            size: if shape_given { line.size } else { self.size },
            quality: line.quality.or(self.quality),
            refs: if line.refs.is_empty() {
                self.refs.clone()
            } else {
                line.refs.clone()
            },
            fidelity: line.fidelity.or(self.fidelity),
            callback_url: line
                .callback_url
                .clone()
                .or_else(|| self.callback_url.clone()),
        }
    }

    /// The request for `count` images of `prompt`, or what is wrong with it.
    pub fn request(
        &self,
        prompt: &str,
        count: u32,
        max_count: u32,
    ) -> Result<ImageRequest, String> {
        if prompt.trim().is_empty() {
            return Err("the prompt is empty; say what to draw".to_owned());
        }
        if let (Some(aspect), Some(size)) = (self.aspect, self.size) {
            return Err(format!(
                "both an aspect ({aspect}) and a size ({size}) were given; give one of them"
            ));
        }
        let count = check_count(count, max_count, "the image count")?;
        if let Some(url) = &self.callback_url {
            let parsed = imagegen_core::codec::Url::parse(url)
                .map_err(|e| format!("the callback URL `{url}` is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!(
                    "the callback URL `{url}` must start with http:// or https://"
                ));
            }
        }
        let mut references = Vec::with_capacity(self.refs.len());
        for text in &self.refs {
            let reference = ReferenceImage::parse(text);
            if let ReferenceImage::File(path) = &reference
                && let Err(e) = std::fs::metadata(path)
            {
                return Err(format!(
                    "cannot read the reference image {}: {e}; give an http(s) URL or the path of an image file",
                    path.display()
                ));
            }
            references.push(reference);
        }
        let mut request = ImageRequest::new(prompt).count(count);
        request.aspect = self.aspect;
        request.size = self.size;
        request.quality = self.quality;
        request.references = references;
        request.input_fidelity = self.fidelity;
        request.callback_url = self.callback_url.clone();
        Ok(request)
    }
}

/// The prompt argument: `-` reads standard input (trailing newlines
/// dropped).
pub fn read_prompt(arg: &str) -> CliResult<String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::usage(format!("cannot read the prompt from standard input: {e}")))?;
    let prompt = text.trim_end_matches(['\n', '\r']).to_owned();
    if prompt.trim().is_empty() {
        return Err(CliError::usage(
            "standard input held no prompt (`-` reads the prompt from it)",
        ));
    }
    Ok(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_overrides_the_shape_as_a_whole() {
        let flags = Settings {
            aspect: Some(Aspect::Portrait),
            quality: Some(Quality::High),
            ..Settings::default()
        };
        let line = Settings {
            size: Some("1536x1024".parse().unwrap()),
            ..Settings::default()
        };
        let merged = flags.overridden_by(&line);
        assert_eq!(merged.aspect, None);
        assert_eq!(merged.size, line.size);
        assert_eq!(merged.quality, Some(Quality::High));
    }

    #[test]
    fn what_no_single_value_can_check() {
        let both = Settings {
            aspect: Some(Aspect::Landscape),
            size: Some("1024x1024".parse().unwrap()),
            ..Settings::default()
        };
        assert!(
            both.request("lamp", 1, 100)
                .unwrap_err()
                .contains("give one of them")
        );
        let ok = Settings::default();
        assert!(ok.request("  ", 1, 100).unwrap_err().contains("empty"));
        assert!(
            ok.request("lamp", 101, 100)
                .unwrap_err()
                .contains("--max-count 101")
        );
        assert_eq!(ok.request("lamp", 3, 100).unwrap().count, 3);
        let hook = Settings {
            callback_url: Some("ftp://x/y".into()),
            ..Settings::default()
        };
        assert!(hook.request("lamp", 1, 100).unwrap_err().contains("http"));
        let missing = Settings {
            refs: vec!["/no/such/file.png".into()],
            ..Settings::default()
        };
        assert!(
            missing
                .request("lamp", 1, 100)
                .unwrap_err()
                .contains("/no/such/file.png")
        );
    }
}
