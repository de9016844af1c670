//! Providers by name, from the facade's registry (the one list of them):
//! checking a `--provider`, and what the registry says about one (its
//! variables, its price estimate). [`crate::connect`] builds them.

use imagegen::Registration;
use imagegen_core::Error;

use crate::exit::{CliError, Exit};

/// Every provider compiled in, in registry order.
pub fn all() -> Vec<Registration> {
    imagegen::providers()
}

/// The provider called `name` (ignoring case), with a suggestion for a near
/// miss.
pub fn check_name(name: &str) -> Result<&'static str, CliError> {
    let lower = name.trim().to_ascii_lowercase();
    let names: Vec<&'static str> = all().iter().map(|p| p.spec.name).collect();
    if let Some(known) = names.iter().find(|n| **n == lower) {
        return Ok(known);
    }
    let hint = match suggestion(&lower, &names) {
        Some(close) => format!("did you mean `{close}`?"),
        None => format!("choose one of: {}", names.join(", ")),
    };
    Err(CliError::new(Exit::Usage, format!("unknown provider `{name}`")).hint(hint))
}

/// The registered name closest to `asked`: one it starts, contains or
/// starts with once punctuation is dropped (`gpt-image` for `gptimage15`,
/// `runbase.net` for `runbase`), else one within two edits.
fn suggestion(asked: &str, names: &[&'static str]) -> Option<&'static str> {
    let plain: String = asked.chars().filter(char::is_ascii_alphanumeric).collect();
    if plain.len() >= 3
        && let Some(name) = names
            .iter()
            .find(|n| n.starts_with(&plain) || plain.starts_with(**n))
    {
        return Some(name);
    }
    names
        .iter()
        .map(|n| (strsim::levenshtein(&plain, n), *n))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, n)| n)
}

/// The registration of `name` (already checked by [`check_name`]).
pub fn registration(name: &str) -> Result<Registration, Error> {
    imagegen::registration(name)
        .ok_or_else(|| Error::invalid_request(format!("unknown provider `{name}`")))
}

/// The base-URL variables of every provider, for hints.
pub fn base_url_vars() -> String {
    let vars: Vec<&str> = all().iter().map(|p| p.spec.base_url_var).collect();
    vars.join(", ")
}

/// Credits `images` images are expected to cost on `provider`, before it
/// reports any (the registry's estimate).
pub fn estimate_credits(provider: &str, images: u32) -> f64 {
    let per_image = imagegen::registration(provider).map_or(1.0, |p| p.spec.credits_per_image);
    per_image * f64::from(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_get_a_suggestion() {
        assert_eq!(check_name("RunBase").unwrap(), "runbase");
        for (asked, meant) in [
            ("gptimage", "gptimage15"),
            ("gpt-image-15", "gptimage15"),
            ("runbase.net", "runbase"),
            ("open-ai", "openai"),
            ("opneai", "openai"),
        ] {
            let err = check_name(asked).unwrap_err();
            assert_eq!(
                err.hint.as_deref(),
                Some(format!("did you mean `{meant}`?").as_str()),
                "{asked}"
            );
        }
        let err = check_name("dalle").unwrap_err();
        assert_eq!(err.message, "unknown provider `dalle`");
        assert_eq!(err.exit, Exit::Usage);
        assert!(err.hint.unwrap().starts_with("choose one of: "));
    }
}
