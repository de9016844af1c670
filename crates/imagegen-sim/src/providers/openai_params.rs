//! Validation of OpenAI image parameters, shared by `/images/generations`
//! (JSON) and `/images/edits` (multipart text fields, all strings).
//!
//! Every error is HTTP 400 `{"error": {"message", "type":
//! "invalid_request_error", "param", "code"}}` with the messages OpenAI uses
//! (`Unknown parameter: 'response_format'.`, `Invalid value: ...`,
//! `Missing required parameter: ...`, integer and string bounds).
//!
//! Decisions: `model` defaults to `gpt-image-1.5` (the sim serves only the
//! gpt-image models); `auto` size answers 1024x1024, `auto` quality answers
//! `medium`, `auto` background answers `opaque`; `stream: true` is refused
//! (the sim does not stream); `null` values count as absent.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::config::QualityLevel;
use crate::images::{ImageFormat, ImageSize};
use crate::state::Reply;

/// Models accepted.
pub const MODELS: [&str; 3] = ["gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini"];

/// Longest prompt, in characters.
pub const MAX_PROMPT_CHARS: usize = 32_000;

const GENERATION_PARAMS: [&str; 12] = [
    "model",
    "prompt",
    "n",
    "size",
    "quality",
    "background",
    "output_format",
    "output_compression",
    "moderation",
    "user",
    "stream",
    "partial_images",
];

const EDIT_ONLY_PARAMS: [&str; 4] = ["image", "image[]", "mask", "input_fidelity"];

/// Which endpoint the parameters are for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Generations,
    Edits,
}

/// Checked parameters.
pub(crate) struct Params {
    pub prompt: String,
    pub n: u32,
    pub size: ImageSize,
    pub quality: QualityLevel,
    pub quality_label: &'static str,
    pub transparent: bool,
    pub format: ImageFormat,
    pub format_label: &'static str,
}

/// A 400 `invalid_request_error`.
pub(crate) fn invalid(
    message: impl Into<String>,
    param: Option<&str>,
    code: Option<&str>,
) -> Reply {
    Reply::new(
        StatusCode::BAD_REQUEST,
        json!({ "error": {
            "message": message.into(),
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }}),
    )
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn supported(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if rest.len() == 1 => format!("{} and {last}", rest[0]),
        Some((last, rest)) if !rest.is_empty() => format!("{}, and {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

struct Fields<'a> {
    map: &'a Map<String, Value>,
    form: bool,
}

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn string(&self, name: &str) -> Result<Option<&str>, Reply> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(invalid(
                format!(
                    "Invalid type for '{name}': expected a string, but got {} instead.",
                    kind(other)
                ),
                Some(name),
                Some("invalid_type"),
            )),
        }
    }

    fn choice(&self, name: &str, allowed: &[&'static str]) -> Result<Option<&'static str>, Reply> {
        let Some(s) = self.string(name)? else {
            return Ok(None);
        };
        match allowed.iter().find(|a| **a == s) {
            Some(a) => Ok(Some(*a)),
            None => Err(invalid(
                format!(
                    "Invalid value: '{s}'. Supported values are: {}.",
                    supported(allowed)
                ),
                Some(name),
                Some("invalid_value"),
            )),
        }
    }

    fn integer(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, Reply> {
        let v = match self.get(name) {
            None => return Ok(None),
            Some(Value::Number(n)) if n.is_i64() => n.as_i64(),
            Some(Value::String(s)) if self.form => s.trim().parse::<i64>().ok(),
            Some(_) => None,
        };
        let Some(v) = v else {
            let got = self.get(name).map(kind).unwrap_or("null");
            return Err(invalid(
                format!("Invalid type for '{name}': expected an integer, but got {got} instead."),
                Some(name),
                Some("invalid_type"),
            ));
        };
        if v < min {
            return Err(invalid(
                format!(
                    "Invalid '{name}': integer below minimum value. Expected a value >= {min}, but got {v} instead."
                ),
                Some(name),
                Some("integer_below_min_value"),
            ));
        }
        if v > max {
            return Err(invalid(
                format!(
                    "Invalid '{name}': integer above maximum value. Expected a value <= {max}, but got {v} instead."
                ),
                Some(name),
                Some("integer_above_max_value"),
            ));
        }
        Ok(Some(v))
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, Reply> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if self.form && (s == "true" || s == "false") => {
                Ok(Some(s == "true"))
            }
            Some(other) => Err(invalid(
                format!(
                    "Invalid type for '{name}': expected a boolean, but got {} instead.",
                    kind(other)
                ),
                Some(name),
                Some("invalid_type"),
            )),
        }
    }
}

/// Checks the parameters of `endpoint`; `form` means multipart text fields.
pub(crate) fn parse(
    map: &Map<String, Value>,
    form: bool,
    endpoint: Endpoint,
) -> Result<Params, Reply> {
    for name in map.keys() {
        let known = GENERATION_PARAMS.contains(&name.as_str())
            || (endpoint == Endpoint::Edits && EDIT_ONLY_PARAMS.contains(&name.as_str()));
        let moderation_on_edit = endpoint == Endpoint::Edits && name == "moderation";
        if !known || moderation_on_edit {
            return Err(invalid(
                format!("Unknown parameter: '{name}'."),
                Some(name),
                Some("unknown_parameter"),
            ));
        }
    }
    let f = Fields { map, form };
    let prompt = match f.string("prompt")? {
        None => {
            return Err(invalid(
                "Missing required parameter: 'prompt'.",
                Some("prompt"),
                Some("missing_required_parameter"),
            ));
        }
        Some("") => {
            return Err(invalid(
                "Invalid 'prompt': string too short. Expected a string with minimum length 1, but got an empty string instead.",
                Some("prompt"),
                Some("string_below_min_length"),
            ));
        }
        Some(p) => p.to_string(),
    };
    let len = prompt.chars().count();
    if len > MAX_PROMPT_CHARS {
        return Err(invalid(
            format!(
                "Invalid 'prompt': string too long. Expected a string with maximum length {MAX_PROMPT_CHARS}, but got a string with length {len} instead."
            ),
            Some("prompt"),
            Some("string_above_max_length"),
        ));
    }
    f.choice("model", &MODELS)?;
    let n = f.integer("n", 1, 10)?.unwrap_or(1) as u32;
    let size = match f.choice("size", &["1024x1024", "1024x1536", "1536x1024", "auto"])? {
        None | Some("auto") => ImageSize::Square,
        Some(s) => ImageSize::from_wxh(s).unwrap_or(ImageSize::Square),
    };
    let quality_label = match f.choice("quality", &["low", "medium", "high", "auto"])? {
        None | Some("auto") => "medium",
        Some(q) => q,
    };
    let quality = match quality_label {
        "low" => QualityLevel::Low,
        "high" => QualityLevel::High,
        _ => QualityLevel::Medium,
    };
    let background = f.choice("background", &["transparent", "opaque", "auto"])?;
    let format_label = f
        .choice("output_format", &["png", "jpeg", "webp"])?
        .unwrap_or("png");
    let format = match format_label {
        "jpeg" => ImageFormat::Jpeg,
        "webp" => ImageFormat::Webp,
        _ => ImageFormat::Png,
    };
    if let Some(c) = f.integer("output_compression", 0, 100)?
        && c < 100
        && format == ImageFormat::Png
    {
        return Err(invalid(
            "Compression less than 100 is not supported for PNG output format.",
            Some("output_compression"),
            Some("invalid_value"),
        ));
    }
    let transparent = background == Some("transparent");
    if transparent && format == ImageFormat::Jpeg {
        return Err(invalid(
            "Transparent background is not supported for the 'jpeg' output format; use 'png' or 'webp'.",
            Some("background"),
            Some("invalid_value"),
        ));
    }
    if endpoint == Endpoint::Generations {
        f.choice("moderation", &["auto", "low"])?;
    } else {
        f.choice("input_fidelity", &["low", "high"])?;
    }
    f.string("user")?;
    f.integer("partial_images", 0, 3)?;
    if f.boolean("stream")? == Some(true) {
        return Err(invalid(
            "Streaming is not supported by imagegen-sim; set 'stream' to false.",
            Some("stream"),
            Some("unsupported_value"),
        ));
    }
    Ok(Params {
        prompt,
        n,
        size,
        quality,
        quality_label,
        transparent,
        format,
        format_label,
    })
}

/// Output tokens of one image, by quality and size (OpenAI's published
/// figures for gpt-image-1).
pub(crate) fn output_tokens(quality: QualityLevel, size: ImageSize) -> u64 {
    let square = size == ImageSize::Square;
    match (quality, square) {
        (QualityLevel::Low, true) => 272,
        (QualityLevel::Low, false) => 408,
        (QualityLevel::Medium, true) => 1056,
        (QualityLevel::Medium, false) => 1584,
        (QualityLevel::High, true) => 4160,
        (QualityLevel::High, false) => 6240,
    }
}
