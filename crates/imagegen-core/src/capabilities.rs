//! What a provider offers, and the check of a request against it.
//!
//! The check runs before anything is sent, so a setting a provider lacks is
//! never paid for and never silently dropped: it is an error that names the
//! allowed values or, when the caller chose [`Strictness::BestEffort`], a
//! [`Warning`] carried on the result.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::request::{Aspect, ImageRequest, Quality, ReferenceImage};

/// Whether a provider answers at once or through a task to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One HTTP call returns the images (OpenAI).
    Sync,
    /// A create returns a task id; the status is polled (Runbase, gptimage15.ai).
    Async,
}

/// How a provider takes reference images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceInput {
    /// Public URLs in the JSON body.
    Urls,
    /// File uploads (multipart). The client reads local files and downloads
    /// URLs before submitting.
    Uploads,
}

/// A provider's published request rate limit for one API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window.
    #[serde(with = "crate::serde_duration_ms")]
    pub per: Duration,
}

impl RateLimit {
    /// `requests` per `per`.
    pub const fn new(requests: u32, per: Duration) -> Self {
        RateLimit { requests, per }
    }
}

/// What a provider offers. Each provider crate publishes one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Aspects the provider renders.
    pub aspects: Vec<Aspect>,
    /// Qualities it accepts.
    pub qualities: Vec<Quality>,
    /// The quality it uses when none is sent, if documented.
    pub default_quality: Option<Quality>,
    /// Longest prompt, in characters.
    pub max_prompt_chars: usize,
    /// Most reference images per request (0: none).
    pub max_reference_images: usize,
    /// How reference images are sent.
    pub reference_input: ReferenceInput,
    /// Whether `input_fidelity` is offered.
    pub input_fidelity: bool,
    /// Whether a webhook (`callback_url`) is offered.
    pub webhooks: bool,
    /// Sync or async.
    pub mode: Mode,
    /// Most images one request can make (1 for one-image-per-task providers).
    pub max_images_per_request: u32,
    /// The poll interval the provider advises.
    #[serde(with = "crate::serde_duration_ms")]
    pub poll_interval: Duration,
    /// The shortest poll interval the provider's advice allows, when it
    /// gives a range (Runbase: "every 1-2 s", so 1 s); `None`: only
    /// [`poll_interval`](Self::poll_interval). The waiter polls this often
    /// only while a task is likely finishing (between the latency
    /// estimate's `low` and `high`), and at `poll_interval` otherwise.
    #[serde(default, with = "crate::serde_duration_ms::option")]
    pub fastest_poll_interval: Option<Duration>,
    /// The published per-key rate limit, if any.
    pub rate_limit: Option<RateLimit>,
    /// How long one HTTP call may take: long for synchronous providers,
    /// whose call includes the whole generation.
    #[serde(with = "crate::serde_duration_ms")]
    pub request_timeout: Duration,
    /// The file formats the provider can return (asked for through
    /// `provider_options`; PNG when nothing is asked).
    pub output_formats: Vec<OutputFormat>,
    /// Whether the provider takes a `moderation` strictness setting.
    pub moderation: bool,
    /// How long a `medium` quality task typically takes from its create to
    /// its result, as the provider documents it (or as measured). It seeds
    /// the client's latency estimate until the client has seen tasks finish
    /// (its spread is taken as half to one and a half times this; `low` quality
    /// as half, `high` as twice as long); the waiter uses it to
    /// aim its polls at the likely finish. Default 10 s.
    #[serde(
        default = "default_typical_duration",
        with = "crate::serde_duration_ms"
    )]
    pub typical_duration: Duration,
}

fn default_typical_duration() -> Duration {
    Duration::from_secs(10)
}

/// An image file format a provider can return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// WebP.
    Webp,
}

impl std::fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OutputFormat::Png => "png",
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Webp => "webp",
        })
    }
}

/// What to do with a setting the provider does not offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strictness {
    /// Refuse the request before anything is sent (the default).
    #[default]
    Strict,
    /// Drop or adjust the setting and report a [`Warning`] on the result.
    BestEffort,
}

/// A setting that was adjusted or dropped because the provider lacks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// The setting (`quality`, `input_fidelity`, ...).
    pub setting: String,
    /// What happened to it, for a person.
    pub message: String,
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Capabilities {
    /// Checks `request` against these capabilities for `provider`.
    ///
    /// Returns the request as it will be sent (adjusted under
    /// [`Strictness::BestEffort`]) and the warnings for what was adjusted.
    /// Problems no adjustment can fix (an empty or over-long prompt, a size
    /// no provider renders, a zero count) are errors either way.
    ///
    /// ```
    /// use imagegen_core::{Capabilities, ImageRequest, Quality, Strictness};
    /// # fn caps() -> Capabilities { imagegen_core::capabilities::tests_support::polled_api() }
    /// let request = ImageRequest::new("lamp").quality(Quality::Low);
    /// let err = caps().check("runbase", &request, Strictness::Strict).unwrap_err();
    /// assert!(err.to_string().contains("allowed: medium, high"));
    /// let (adjusted, warnings) = caps().check("runbase", &request, Strictness::BestEffort).unwrap();
    /// assert_eq!(adjusted.quality, Some(Quality::Medium));
    /// assert_eq!(warnings[0].setting, "quality");
    /// ```
    pub fn check(
        &self,
        provider: &str,
        request: &ImageRequest,
        strictness: Strictness,
    ) -> Result<(ImageRequest, Vec<Warning>), Error> {
        let fail = |message: String| Err(Error::invalid_request(message).with_provider(provider));
        let mut out = request.clone();
        let mut warnings = Vec::new();
        // `message` says what was asked and what the provider allows;
        // `instead` what best-effort does about it. Strict refuses (nothing
        // is sent, so nothing is used) and names `instead` in the hint;
        // best-effort does it and warns with the message plus `note`.
        let mut unsupported = |setting: &str,
                               message: String,
                               instead: String,
                               note: Option<String>|
         -> Result<(), Error> {
            match strictness {
                Strictness::Strict => Err(Error::invalid_request(message)
                    .with_provider(provider)
                    .with_hint(format!("best-effort mode would {instead}, with a warning"))
                    .with_best_effort(instead)),
                Strictness::BestEffort => {
                    warnings.push(Warning {
                        setting: setting.to_owned(),
                        message: match note {
                            Some(note) => format!("{message} ({note})"),
                            None => message,
                        },
                    });
                    Ok(())
                }
            }
        };

        if request.prompt.trim().is_empty() {
            return fail("the prompt is empty; describe the image to generate".into());
        }
        let chars = request.prompt.chars().count();
        if chars > self.max_prompt_chars {
            return fail(format!(
                "the prompt is {chars} characters long; {provider} accepts at most {}",
                self.max_prompt_chars
            ));
        }
        if request.count == 0 {
            return fail("count must be at least 1".into());
        }

        out.aspect = request
            .resolved_aspect()
            .map_err(|e| e.with_provider(provider))?;
        out.size = None;
        if let Some(aspect) = out.aspect
            && !self.aspects.contains(&aspect)
        {
            unsupported(
                "aspect",
                format!(
                    "{provider} does not offer aspect {aspect}; allowed: {}",
                    list(&self.aspects)
                ),
                "leave the aspect to the provider's default".to_owned(),
                None,
            )?;
            out.aspect = None;
        }

        if let Some(quality) = request.quality
            && !self.qualities.contains(&quality)
        {
            let nearest = self.nearest_quality(quality);
            unsupported(
                "quality",
                format!(
                    "{provider} does not offer quality {quality}; allowed: {}",
                    list(&self.qualities),
                ),
                match nearest {
                    Some(q) => format!("use {q} instead"),
                    None => "leave the quality to the provider's default".to_owned(),
                },
                nearest.map(|q| format!("using {q}")),
            )?;
            out.quality = nearest;
        }

        if request.references.len() > self.max_reference_images {
            if self.max_reference_images == 0 {
                unsupported(
                    "references",
                    format!("{provider} does not take reference images"),
                    "send the request without them".to_owned(),
                    None,
                )?;
            } else {
                unsupported(
                    "references",
                    format!(
                        "{provider} takes at most {} reference images, {} were given",
                        self.max_reference_images,
                        request.references.len()
                    ),
                    format!("send only the first {}", self.max_reference_images),
                    None,
                )?;
            }
            out.references.truncate(self.max_reference_images);
        }
        if self.reference_input == ReferenceInput::Urls {
            // A local file cannot be sent to a URL-only provider, and there is
            // no sensible best-effort for it: the user's intent would be lost.
            if let Some(bad) = out
                .references
                .iter()
                .find(|r| !matches!(r, ReferenceImage::Url(_)))
            {
                return fail(format!(
                    "{provider} takes reference images as public http(s) URLs, not local files ({}); upload the file somewhere reachable and pass its URL",
                    bad.describe()
                ));
            }
        }

        if request.input_fidelity.is_some() {
            if !self.input_fidelity {
                unsupported(
                    "input_fidelity",
                    format!("{provider} does not offer input fidelity"),
                    "send the request without it".to_owned(),
                    None,
                )?;
                out.input_fidelity = None;
            } else if out.references.is_empty() {
                unsupported(
                    "input_fidelity",
                    "input fidelity only applies with reference images".to_owned(),
                    "send the request without it".to_owned(),
                    None,
                )?;
                out.input_fidelity = None;
            }
        }

        if request.callback_url.is_some() && !self.webhooks {
            unsupported(
                "callback_url",
                format!("{provider} does not offer webhooks (callback_url)"),
                "send the request without it".to_owned(),
                None,
            )?;
            out.callback_url = None;
        }

        Ok((out, warnings))
    }

    /// The offered quality closest to `wanted`, preferring the next higher
    /// one (a user who asked for `low` is better served by `medium` than by
    /// nothing).
    fn nearest_quality(&self, wanted: Quality) -> Option<Quality> {
        let rank = |q: Quality| -> i32 {
            match q {
                Quality::Low => 0,
                Quality::Medium => 1,
                Quality::High => 2,
                Quality::Auto => 1,
            }
        };
        let mut offered: Vec<Quality> = self.qualities.clone();
        offered.sort_by_key(|q| {
            let d = rank(*q) - rank(wanted);
            (d.unsigned_abs(), d < 0)
        });
        offered.first().copied()
    }
}

impl Default for Capabilities {
    /// An asynchronous API that makes one image per task in the three
    /// aspects at low, medium or high quality, with no reference images, no
    /// input fidelity and no webhooks: a codec states what differs.
    fn default() -> Self {
        Capabilities {
            aspects: Aspect::ALL.to_vec(),
            qualities: vec![Quality::Low, Quality::Medium, Quality::High],
            default_quality: None,
            max_prompt_chars: 4000,
            max_reference_images: 0,
            reference_input: ReferenceInput::Urls,
            input_fidelity: false,
            webhooks: false,
            mode: Mode::Async,
            max_images_per_request: 1,
            poll_interval: Duration::from_secs(2),
            fastest_poll_interval: None,
            rate_limit: None,
            request_timeout: Duration::from_secs(30),
            output_formats: vec![OutputFormat::Png],
            moderation: false,
            typical_duration: default_typical_duration(),
        }
    }
}

/// Capabilities for doctests and unit tests in this crate and its users'
/// tests (the core knows no provider).
#[doc(hidden)]
pub mod tests_support {
    use super::*;

    /// A polled API: medium/high only, up to 16 URL references, 20
    /// requests per 10 s, 2 s poll advice, one image per task.
    pub fn polled_api() -> Capabilities {
        Capabilities {
            qualities: vec![Quality::Medium, Quality::High],
            max_reference_images: 16,
            rate_limit: Some(RateLimit::new(20, Duration::from_secs(10))),
            request_timeout: Duration::from_secs(60),
            ..Capabilities::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::polled_api;
    use super::*;
    use crate::request::{Fidelity, ImageSize};

    #[test]
    fn strict_refuses_unsupported_settings_naming_allowed_values() {
        let caps = polled_api();
        let err = caps
            .check(
                "runbase",
                &ImageRequest::new("x").input_fidelity(Fidelity::High),
                Strictness::Strict,
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("does not offer input fidelity"),
            "{err}"
        );
        assert_eq!(
            err.hint(),
            Some("best-effort mode would send the request without it, with a warning")
        );
        let err = caps
            .check(
                "runbase",
                &ImageRequest::new("x").callback_url("http://h/cb"),
                Strictness::Strict,
            )
            .unwrap_err();
        assert!(err.to_string().contains("webhooks"), "{err}");
    }

    #[test]
    fn strict_refusal_says_what_was_asked_and_allowed_and_hints_what_best_effort_would_use() {
        let caps = polled_api();
        let request = ImageRequest::new("x").quality(Quality::Low);
        let err = caps
            .check("runbase", &request, Strictness::Strict)
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidRequest);
        // Nothing is used in strict mode: the message does not say "using".
        assert_eq!(
            err.message(),
            "runbase does not offer quality low; allowed: medium, high"
        );
        assert_eq!(
            err.hint(),
            Some("best-effort mode would use medium instead, with a warning")
        );
        // Best-effort does use it, and says so.
        let (out, warnings) = caps
            .check("runbase", &request, Strictness::BestEffort)
            .unwrap();
        assert_eq!(out.quality, Some(Quality::Medium));
        assert_eq!(
            warnings[0].message,
            "runbase does not offer quality low; allowed: medium, high (using medium)"
        );
    }

    #[test]
    fn best_effort_drops_with_one_warning_per_setting() {
        let caps = polled_api();
        let request = ImageRequest::new("x")
            .quality(Quality::Low)
            .input_fidelity(Fidelity::Low)
            .callback_url("http://h/cb");
        let (out, warnings) = caps
            .check("runbase", &request, Strictness::BestEffort)
            .unwrap();
        assert_eq!(out.quality, Some(Quality::Medium));
        assert_eq!(out.input_fidelity, None);
        assert_eq!(out.callback_url, None);
        let settings: Vec<_> = warnings.iter().map(|w| w.setting.as_str()).collect();
        assert_eq!(settings, ["quality", "input_fidelity", "callback_url"]);
    }

    #[test]
    fn prompt_limits_are_errors_even_best_effort() {
        let caps = polled_api();
        let long = "a".repeat(4001);
        let err = caps
            .check("runbase", &ImageRequest::new(long), Strictness::BestEffort)
            .unwrap_err();
        assert!(err.to_string().contains("4001 characters"), "{err}");
        assert!(
            caps.check("runbase", &ImageRequest::new("  "), Strictness::BestEffort)
                .is_err()
        );
    }

    #[test]
    fn explicit_size_becomes_an_aspect_or_an_error_listing_sizes() {
        let caps = polled_api();
        let (out, _) = caps
            .check(
                "runbase",
                &ImageRequest::new("x").size(ImageSize::new(1536, 1024)),
                Strictness::Strict,
            )
            .unwrap();
        assert_eq!(out.aspect, Some(Aspect::Landscape));
        let err = caps
            .check(
                "runbase",
                &ImageRequest::new("x").size(ImageSize::new(512, 512)),
                Strictness::BestEffort,
            )
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("allowed: 1024x1024, 1024x1536, 1536x1024"),
            "{err}"
        );
    }

    #[test]
    fn local_files_are_refused_by_url_only_providers() {
        let caps = polled_api();
        let request = ImageRequest::new("x").reference(ReferenceImage::parse("./ref.png"));
        let err = caps
            .check("runbase", &request, Strictness::BestEffort)
            .unwrap_err();
        assert!(err.to_string().contains("public http(s) URLs"), "{err}");
    }
}
