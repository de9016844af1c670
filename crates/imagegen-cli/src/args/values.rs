//! Parsers of option values. Each refuses what it cannot use with a usage
//! error (exit 2) that says what is allowed: durations, rates, credits and
//! counts are finite, non-negative and bounded.

use std::time::Duration;

/// The longest duration any option takes: a year (and a day). Longer
/// values are refused, so no deadline can overflow a clock.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses a humane duration: `90s`, `10m`, `1h30m`, `500ms`, or bare seconds,
/// at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let duration = parse_any_duration(s)?;
    if duration > MAX_DURATION {
        return Err(format!(
            "duration `{}` is too long; the most allowed is 366 days (8784h)",
            s.trim()
        ));
    }
    Ok(duration)
}

fn parse_any_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration `{s}`; write e.g. 90s, 10m, 1h30m or 500ms");
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    // Anything too large for a `Duration` is over the limit: report it as such.
    let seconds = |secs: f64| match Duration::try_from_secs_f64(secs) {
        Ok(d) => Ok(d),
        Err(_) if secs.is_finite() && secs > 0.0 => Ok(Duration::MAX),
        Err(_) => Err(bad()),
    };
    if let Ok(secs) = s.parse::<f64>() {
        return seconds(secs);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let secs = match unit.trim() {
            "ms" => value / 1000.0,
            "s" | "sec" | "secs" => value,
            "m" | "min" | "mins" => value * 60.0,
            "h" | "hr" | "hrs" => value * 3600.0,
            _ => return Err(bad()),
        };
        total = total.saturating_add(seconds(secs)?);
    }
    Ok(total)
}

/// Parses a rate budget `N/DURATION` (`20/10s`, `20/200ms`).
pub fn parse_rate(s: &str) -> Result<(u32, Duration), String> {
    let bad = || format!("invalid rate limit `{s}`; write REQUESTS/DURATION, e.g. 20/10s");
    let (n, per) = s.split_once('/').ok_or_else(bad)?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    let per = parse_duration(per).map_err(|e| format!("invalid rate limit `{s}`: {e}"))?;
    if n == 0 || per.is_zero() {
        return Err(bad());
    }
    Ok((n, per))
}

/// Parses a duration that must be more than zero (`--timeout`).
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let duration = parse_duration(s)?;
    if duration.is_zero() {
        return Err(format!(
            "a timeout of `{}` would give up at once; give a duration above zero, e.g. 90s or 10m",
            s.trim()
        ));
    }
    Ok(duration)
}

/// Parses a number of credits: finite and not negative.
pub fn parse_credits(s: &str) -> Result<f64, String> {
    let bad = || format!("invalid number of credits `{s}`; give a number of 0 or more, e.g. 500");
    let credits: f64 = s.trim().parse().map_err(|_| bad())?;
    if !credits.is_finite() || credits < 0.0 {
        return Err(bad());
    }
    Ok(credits)
}

/// The most images one command or one batch line asks for unless
/// `--max-count` raises it: a typo such as `-n 4000000000` must not
/// queue four billion paid jobs.
pub const DEFAULT_MAX_COUNT: u32 = 100;

/// Checks an image count against the cap; `what` names where it came from.
pub fn check_count(count: u32, max: u32, what: &str) -> Result<u32, String> {
    if count == 0 {
        return Err(format!("{what} must be at least 1"));
    }
    if count > max {
        return Err(format!(
            "{what} is {count}, above the limit of {max} images per prompt; pass --max-count {count} if you mean it"
        ));
    }
    Ok(count)
}

/// A clap value parser from a core type's `FromStr`, whose error names
/// the accepted values.
pub fn core_value<T>(s: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = imagegen_core::Error>,
{
    s.parse()
        .map_err(|e: imagegen_core::Error| e.message().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humane_durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        for huge in [
            "3000000000000000h",
            "1e300",
            "8785h",
            "99999999999999999999999h",
        ] {
            let err = parse_duration(huge).unwrap_err();
            assert!(err.contains("too long"), "{huge}: {err}");
        }
        for bad in ["NaN", "inf", "-1", "-5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(
            parse_rate("1/1e300")
                .unwrap_err()
                .contains("invalid rate limit")
        );
    }

    #[test]
    fn credits_counts_and_timeouts_are_range_checked() {
        assert_eq!(parse_credits("12.5").unwrap(), 12.5);
        assert_eq!(parse_credits("0").unwrap(), 0.0);
        for bad in ["NaN", "inf", "-1", "-0.5", "lots", ""] {
            assert!(parse_credits(bad).is_err(), "{bad}");
        }
        assert!(parse_timeout("0s").unwrap_err().contains("above zero"));
        assert_eq!(check_count(3, 100, "-n").unwrap(), 3);
        assert!(check_count(0, 100, "-n").is_err());
        let err = check_count(4_000_000_000, 100, "-n").unwrap_err();
        assert!(err.contains("--max-count 4000000000"), "{err}");
    }

    #[test]
    fn rates() {
        assert_eq!(
            parse_rate("20/200ms").unwrap(),
            (20, Duration::from_millis(200))
        );
        assert!(parse_rate("20").is_err());
        assert!(parse_rate("0/1s").is_err());
    }
}
