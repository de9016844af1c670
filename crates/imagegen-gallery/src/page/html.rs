//! The page buffer and the few number formats the page uses.
//!
//! Every piece of text that comes from a job (prompt, error, provider, task
//! id, path) goes through [`Html::text`], which uses `html-escape`'s
//! `encode_safe`: `&`, `<`, `>`, `"`, `'` and `/` become references, so the
//! same function is safe in element content and in attribute values (the
//! page quotes every attribute with `"`). Markup is only ever added with
//! [`Html::raw`] from string literals in this crate.

use std::time::Duration;

/// A page being written.
pub(crate) struct Html(String);

impl Html {
    pub(crate) fn with_capacity(bytes: usize) -> Html {
        Html(String::with_capacity(bytes))
    }

    /// Markup from this crate, as it is.
    pub(crate) fn raw(&mut self, markup: &str) -> &mut Html {
        self.0.push_str(markup);
        self
    }

    /// Untrusted text, escaped for content and quoted attributes alike.
    pub(crate) fn text(&mut self, text: &str) -> &mut Html {
        html_escape::encode_safe_to_string(text, &mut self.0);
        self
    }

    /// A count with thousands separators.
    pub(crate) fn count(&mut self, n: u64) -> &mut Html {
        self.0.push_str(&grouped(n));
        self
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

/// `12,345`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Credits as a person reads them: `1,234`, `12.5`, `0.04`; at most two
/// decimals, no trailing zeros. A value that is not a finite number (a
/// corrupt journal) is shown as `?` rather than `NaN`.
pub(crate) fn credits(value: f64) -> String {
    if !value.is_finite() {
        return "?".to_owned();
    }
    let rounded = (value * 100.0).round() / 100.0;
    let sign = if rounded < 0.0 { "-" } else { "" };
    let magnitude = rounded.abs();
    let whole = magnitude.trunc();
    let cents = ((magnitude - whole) * 100.0).round() as u64;
    // f64 to u64 saturates; credits never come near 2^64.
    let whole = grouped(whole as u64);
    match cents {
        0 => format!("{sign}{whole}"),
        c if c.is_multiple_of(10) => format!("{sign}{whole}.{}", c / 10),
        c => format!("{sign}{whole}.{c:02}"),
    }
}

/// `850 ms`, `42 s`, `3 min 05 s`, `2 h 03 min`.
pub(crate) fn wall_time(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    match secs {
        0 => format!("{} ms", elapsed.as_millis()),
        1..60 => format!("{secs} s"),
        60..3600 => format!("{} min {:02} s", secs / 60, secs % 60),
        _ => format!("{} h {:02} min", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_content_and_attributes() {
        let mut page = Html::with_capacity(0);
        page.text(r#"<script>document.title='PWNED'</script> & "quoted" </script><!--"#);
        assert_eq!(
            page.into_string(),
            "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;&#x2F;script&gt; &amp; \
             &quot;quoted&quot; &lt;&#x2F;script&gt;&lt;!--"
        );
        let mut attribute = Html::with_capacity(0);
        attribute.text(r#""><img src=x onerror="document.title='PWNED'">"#);
        let escaped = attribute.into_string();
        assert!(!escaped.contains(['<', '>', '"', '\'']), "{escaped}");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(10_000_000), "10,000,000");
        assert_eq!(credits(0.0), "0");
        assert_eq!(credits(1234.0), "1,234");
        assert_eq!(credits(12.5), "12.5");
        assert_eq!(credits(0.04), "0.04");
        assert_eq!(credits(2.999), "3");
        assert_eq!(credits(-1.25), "-1.25");
        assert_eq!(credits(f64::NAN), "?");
        assert_eq!(credits(f64::INFINITY), "?");
        assert_eq!(wall_time(Duration::from_millis(850)), "850 ms");
        assert_eq!(wall_time(Duration::from_secs(42)), "42 s");
        assert_eq!(wall_time(Duration::from_secs(185)), "3 min 05 s");
        assert_eq!(wall_time(Duration::from_secs(7380)), "2 h 03 min");
    }
}
