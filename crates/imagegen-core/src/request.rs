//! The provider-neutral image request.
//!
//! An [`ImageRequest`] says what the caller wants (prompt, shape, quality,
//! reference images, how many images); each provider crate maps it onto its
//! own wire format. Nothing here knows any provider's field names.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The shape of the image. GPT Image 1.5 offers three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Aspect {
    /// 1:1, 1024x1024.
    #[serde(rename = "1:1")]
    Square,
    /// 2:3, 1024x1536 (taller than wide).
    #[serde(rename = "2:3")]
    Portrait,
    /// 3:2, 1536x1024 (wider than tall).
    #[serde(rename = "3:2")]
    Landscape,
}

impl Aspect {
    /// Every aspect, in the order they are usually listed.
    pub const ALL: [Aspect; 3] = [Aspect::Square, Aspect::Portrait, Aspect::Landscape];

    /// The ratio as written on the wire and on the command line (`"2:3"`).
    pub fn as_ratio(self) -> &'static str {
        match self {
            Aspect::Square => "1:1",
            Aspect::Portrait => "2:3",
            Aspect::Landscape => "3:2",
        }
    }

    /// The pixel size GPT Image 1.5 renders this aspect at.
    pub fn size(self) -> ImageSize {
        match self {
            Aspect::Square => ImageSize::new(1024, 1024),
            Aspect::Portrait => ImageSize::new(1024, 1536),
            Aspect::Landscape => ImageSize::new(1536, 1024),
        }
    }

    /// The aspect whose rendered size is exactly `size`, if any.
    pub fn from_size(size: ImageSize) -> Option<Aspect> {
        Aspect::ALL.into_iter().find(|a| a.size() == size)
    }
}

impl fmt::Display for Aspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_ratio())
    }
}

impl FromStr for Aspect {
    type Err = Error;
    /// Accepts `1:1`, `2:3`, `3:2` and the names `square`, `portrait`, `landscape`.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "1:1" | "square" => Ok(Aspect::Square),
            "2:3" | "portrait" => Ok(Aspect::Portrait),
            "3:2" | "landscape" => Ok(Aspect::Landscape),
            other => Err(Error::invalid_request(format!(
                "unknown aspect `{other}`; allowed: 1:1 (square), 2:3 (portrait), 3:2 (landscape)"
            ))),
        }
    }
}

/// An explicit pixel size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl ImageSize {
    /// A size of `width` x `height` pixels.
    pub const fn new(width: u32, height: u32) -> Self {
        ImageSize { width, height }
    }

    /// Width and height joined by `separator` (`1024*1536` for `'*'`).
    pub fn joined(self, separator: char) -> String {
        format!("{}{separator}{}", self.width, self.height)
    }
}

impl fmt::Display for ImageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl FromStr for ImageSize {
    type Err = Error;
    /// Accepts `1024x1536`, `1024X1536` and `1024*1536`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::invalid_request(format!(
                "unknown size `{s}`; write WIDTHxHEIGHT, e.g. 1024x1024, 1024x1536 or 1536x1024"
            ))
        };
        let (w, h) = s.trim().split_once(['x', 'X', '*']).ok_or_else(bad)?;
        let width = w.trim().parse().map_err(|_| bad())?;
        let height = h.trim().parse().map_err(|_| bad())?;
        Ok(ImageSize { width, height })
    }
}

/// Rendering quality. Higher costs more time (and, at OpenAI, money).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// Fastest, cheapest.
    Low,
    /// The usual default.
    Medium,
    /// Best detail; can take a minute or more.
    High,
    /// Let the provider choose.
    Auto,
}

impl Quality {
    /// Every quality, lowest first.
    pub const ALL: [Quality; 4] = [Quality::Low, Quality::Medium, Quality::High, Quality::Auto];

    /// The lower-case wire name (`"medium"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Low => "low",
            Quality::Medium => "medium",
            Quality::High => "high",
            Quality::Auto => "auto",
        }
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Quality {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Quality::Low),
            "medium" => Ok(Quality::Medium),
            "high" => Ok(Quality::High),
            "auto" => Ok(Quality::Auto),
            other => Err(Error::invalid_request(format!(
                "unknown quality `{other}`; allowed: low, medium, high, auto"
            ))),
        }
    }
}

/// How closely an edit follows the reference images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fidelity {
    /// Looser: the model may depart from the references.
    Low,
    /// Closer to the references (faces, logos).
    High,
}

impl Fidelity {
    /// The lower-case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Fidelity::Low => "low",
            Fidelity::High => "high",
        }
    }
}

impl fmt::Display for Fidelity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Fidelity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Fidelity::Low),
            "high" => Ok(Fidelity::High),
            other => Err(Error::invalid_request(format!(
                "unknown input fidelity `{other}`; allowed: low, high"
            ))),
        }
    }
}

/// A reference image for editing or image-to-image generation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceImage {
    /// A publicly reachable URL (what Runbase and gptimage15.ai take).
    Url(String),
    /// A local file (uploaded by providers that take files, such as OpenAI).
    File(PathBuf),
    /// Image bytes already in memory, with a file name for the upload.
    Inline {
        /// The file name sent with the upload (`lamp.png`).
        file_name: String,
        /// The image bytes.
        #[serde(with = "crate::serde_b64")]
        data: Bytes,
    },
}

impl ReferenceImage {
    /// A URL if `s` starts with `http://` or `https://`, a local file otherwise.
    pub fn parse(s: &str) -> ReferenceImage {
        if s.starts_with("http://") || s.starts_with("https://") {
            ReferenceImage::Url(s.to_owned())
        } else {
            ReferenceImage::File(PathBuf::from(s))
        }
    }

    /// A short description for logs and sidecars (URL, path, or name and size).
    pub fn describe(&self) -> String {
        match self {
            ReferenceImage::Url(url) => url.clone(),
            ReferenceImage::File(path) => path.display().to_string(),
            ReferenceImage::Inline { file_name, data } => {
                format!("{file_name} ({} bytes)", data.len())
            }
        }
    }
}

impl fmt::Debug for ReferenceImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Inline bytes would flood logs; show their size only.
        match self {
            ReferenceImage::Url(url) => f.debug_tuple("Url").field(url).finish(),
            ReferenceImage::File(path) => f.debug_tuple("File").field(path).finish(),
            ReferenceImage::Inline { file_name, data } => f
                .debug_struct("Inline")
                .field("file_name", file_name)
                .field("bytes", &data.len())
                .finish(),
        }
    }
}

/// What to generate: one request, any provider.
///
/// ```
/// use imagegen_core::{Aspect, ImageRequest, Quality};
/// let request = ImageRequest::new("A cinematic product photo of a ceramic lamp")
///     .aspect(Aspect::Landscape)
///     .quality(Quality::High)
///     .count(2);
/// assert_eq!(request.effective_aspect(), Some(Aspect::Landscape));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageRequest {
    /// What to draw.
    pub prompt: String,
    /// The shape, if the caller chose one; the provider's default otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect: Option<Aspect>,
    /// An explicit pixel size; must be one the provider renders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<ImageSize>,
    /// Rendering quality; the provider's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    /// Reference images for editing / image-to-image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<ReferenceImage>,
    /// How closely to follow the references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_fidelity: Option<Fidelity>,
    /// How many images. Providers that make one image per task get one task
    /// per image (the client fans out).
    #[serde(default = "one")]
    pub count: u32,
    /// A webhook the provider calls when the task ends (gptimage15.ai).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Provider-specific fields merged into the wire body as they are,
    /// keyed by provider name: `{"openai": {"output_format": "webp"}}`.
    /// An escape hatch for what the common request does not model.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub provider_options: serde_json::Map<String, serde_json::Value>,
}

fn one() -> u32 {
    1
}

impl ImageRequest {
    /// A request for one image of `prompt`, every other setting at the
    /// provider's default.
    pub fn new(prompt: impl Into<String>) -> Self {
        ImageRequest {
            prompt: prompt.into(),
            aspect: None,
            size: None,
            quality: None,
            references: Vec::new(),
            input_fidelity: None,
            count: 1,
            callback_url: None,
            provider_options: serde_json::Map::new(),
        }
    }

    /// Sets the aspect.
    pub fn aspect(mut self, aspect: Aspect) -> Self {
        self.aspect = Some(aspect);
        self
    }
    /// Sets an explicit pixel size.
    pub fn size(mut self, size: ImageSize) -> Self {
        self.size = Some(size);
        self
    }
    /// Sets the quality.
    pub fn quality(mut self, quality: Quality) -> Self {
        self.quality = Some(quality);
        self
    }
    /// Adds a reference image.
    pub fn reference(mut self, reference: ReferenceImage) -> Self {
        self.references.push(reference);
        self
    }
    /// Sets the input fidelity for edits.
    pub fn input_fidelity(mut self, fidelity: Fidelity) -> Self {
        self.input_fidelity = Some(fidelity);
        self
    }
    /// Sets how many images to make.
    pub fn count(mut self, count: u32) -> Self {
        self.count = count;
        self
    }
    /// Sets the webhook URL.
    pub fn callback_url(mut self, url: impl Into<String>) -> Self {
        self.callback_url = Some(url.into());
        self
    }
    /// Adds a provider-specific wire field for `provider`.
    pub fn provider_option(
        mut self,
        provider: &str,
        key: impl Into<String>,
        value: serde_json::Value,
    ) -> Self {
        let entry = self
            .provider_options
            .entry(provider.to_owned())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let serde_json::Value::Object(map) = entry {
            map.insert(key.into(), value);
        }
        self
    }

    /// The aspect asked for, directly or through an explicit size that
    /// matches one. `None` when neither is set (or the size matches none:
    /// validation rejects that before any provider sees it).
    pub fn effective_aspect(&self) -> Option<Aspect> {
        self.aspect
            .or_else(|| self.size.and_then(Aspect::from_size))
    }

    /// The aspect to render, from `aspect` or an explicit `size`: an
    /// [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) error
    /// for a size GPT Image 1.5 does not render or one that contradicts the
    /// aspect. `Ok(None)` when neither is set. The capability check and every
    /// provider's mapping use this one rule.
    pub fn resolved_aspect(&self) -> Result<Option<Aspect>, Error> {
        let Some(size) = self.size else {
            return Ok(self.aspect);
        };
        match (Aspect::from_size(size), self.aspect) {
            (None, _) => {
                let sizes: Vec<String> = Aspect::ALL.iter().map(|a| a.size().to_string()).collect();
                Err(Error::invalid_request(format!(
                    "size {size} is not rendered by GPT Image 1.5; allowed: {}",
                    sizes.join(", ")
                )))
            }
            (Some(implied), Some(asked)) if implied != asked => {
                Err(Error::invalid_request(format!(
                    "size {size} is aspect {implied}, but aspect {asked} was also asked for; give one"
                )))
            }
            (Some(implied), _) => Ok(Some(implied)),
        }
    }

    /// The references that are URLs, in order (what a provider that takes
    /// references as URLs sends; the capability check refuses the others
    /// for it before anything is sent).
    pub fn reference_urls(&self) -> Vec<String> {
        self.references
            .iter()
            .filter_map(|r| match r {
                ReferenceImage::Url(url) => Some(url.clone()),
                _ => None,
            })
            .collect()
    }

    /// The provider-specific options for `provider`, if any.
    pub fn options_for(
        &self,
        provider: &str,
    ) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.provider_options
            .get(provider)
            .and_then(|v| v.as_object())
    }

    /// Copies `provider`'s options into `object` (a wire body, or the part
    /// of it the provider's options belong to), each replacing a mapped
    /// field of the same name: the documented escape hatch for what the
    /// common request does not model.
    ///
    /// ```
    /// use imagegen_core::ImageRequest;
    /// use serde_json::json;
    ///
    /// let request = ImageRequest::new("a lamp").provider_option("acme", "seed", json!(7));
    /// let mut body = json!({"prompt": "a lamp"});
    /// request.merge_options_into("acme", body.as_object_mut().unwrap());
    /// assert_eq!(body, json!({"prompt": "a lamp", "seed": 7}));
    /// ```
    pub fn merge_options_into(
        &self,
        provider: &str,
        object: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        if let Some(options) = self.options_for(provider) {
            for (key, value) in options {
                object.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspects_parse_from_ratio_and_name() {
        assert_eq!("2:3".parse::<Aspect>().unwrap(), Aspect::Portrait);
        assert_eq!("Landscape".parse::<Aspect>().unwrap(), Aspect::Landscape);
        let err = "4:3".parse::<Aspect>().unwrap_err();
        assert!(err.to_string().contains("allowed: 1:1"), "{err}");
    }

    #[test]
    fn sizes_parse_in_both_wire_spellings() {
        assert_eq!(
            "1536*1024".parse::<ImageSize>().unwrap(),
            ImageSize::new(1536, 1024)
        );
        assert_eq!(
            "1024x1536".parse::<ImageSize>().unwrap(),
            ImageSize::new(1024, 1536)
        );
        assert!("big".parse::<ImageSize>().is_err());
    }

    #[test]
    fn explicit_size_implies_aspect() {
        let r = ImageRequest::new("x").size(ImageSize::new(1024, 1536));
        assert_eq!(r.effective_aspect(), Some(Aspect::Portrait));
        let r = ImageRequest::new("x").size(ImageSize::new(512, 512));
        assert_eq!(r.effective_aspect(), None);
    }

    #[test]
    fn reference_parse_tells_urls_from_files() {
        assert!(matches!(
            ReferenceImage::parse("https://a/b.png"),
            ReferenceImage::Url(_)
        ));
        assert!(matches!(
            ReferenceImage::parse("./b.png"),
            ReferenceImage::File(_)
        ));
    }

    #[test]
    fn request_round_trips_through_json() {
        let r = ImageRequest::new("lamp")
            .aspect(Aspect::Square)
            .quality(Quality::High)
            .provider_option("openai", "output_format", serde_json::json!("webp"));
        let json = serde_json::to_string(&r).unwrap();
        let back: ImageRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.options_for("openai").unwrap()["output_format"], "webp");
    }
}
