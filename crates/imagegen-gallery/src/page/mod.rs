//! The HTML page: one document with its style and script inline, a header
//! of totals and filters, and one card per job.
//!
//! The page loads nothing from anywhere else, and says so to the browser:
//! its Content-Security-Policy allows images from the page's own place
//! only, and exactly this crate's style and script (by their SHA-256), so
//! even a prompt that got past escaping could neither run a script nor
//! fetch anything.

mod card;
pub(crate) mod html;
pub(crate) mod states;

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use base64::Engine;
use imagegen_jobs::JobState;
use sha2::{Digest, Sha256};

use crate::Gallery;
use crate::thumbs::ImageView;
use html::Html;

/// The page's style sheet.
pub(crate) const CSS: &str = include_str!("../assets/gallery.css");
/// The page's script: the filters.
pub(crate) const SCRIPT: &str = include_str!("../assets/gallery.js");

/// Bytes of page per card, to size the buffer once.
const BYTES_PER_CARD: usize = 1_100;

/// The Content-Security-Policy of every page (see the module docs).
/// `file:` is listed because Chromium does not count a `file:` page's
/// neighbours as `'self'`.
pub(crate) static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    let hash = |text: &str| {
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    };
    format!(
        "default-src 'none'; img-src 'self' file:; style-src 'sha256-{}'; \
         script-src 'sha256-{}'; base-uri 'none'; form-action 'none'",
        hash(CSS),
        hash(SCRIPT)
    )
});

/// The whole page of `gallery`, with `views` the images by recorded path
/// and `written_at` the time to show in the footer.
pub(crate) fn render(
    gallery: &Gallery,
    views: &HashMap<&str, &ImageView>,
    written_at: &str,
) -> String {
    let mut page = Html::with_capacity(8_192 + gallery.jobs.len() * BYTES_PER_CARD);
    page.raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
        .raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
        .raw("<meta http-equiv=\"Content-Security-Policy\" content=\"")
        .raw(&CONTENT_SECURITY_POLICY)
        .raw("\">\n<meta name=\"generator\" content=\"imagegen-gallery ")
        .raw(env!("CARGO_PKG_VERSION"))
        .raw("\">\n<title>")
        .text(&gallery.title)
        .raw("</title>\n<style>")
        .raw(CSS)
        .raw("</style>\n</head>\n<body>\n");
    header(&mut page, gallery);
    page.raw("<main class=\"cards\" id=\"cards\">\n");
    if gallery.jobs.is_empty() {
        page.raw("<p>No jobs in this batch yet.</p>\n");
    }
    for job in gallery.jobs {
        card::card(&mut page, job, views);
    }
    page.raw("</main>\n<footer>Written by imagegen-gallery ")
        .raw(env!("CARGO_PKG_VERSION"))
        .raw(" on ")
        .text(written_at)
        .raw(". A thumbnail opens its full image; thumbnails are kept in <code>.thumbs/</code>.</footer>\n<script>")
        .raw(SCRIPT)
        .raw("</script>\n</body>\n</html>\n");
    page.into_string()
}

/// Title, totals and filters.
fn header(page: &mut Html, gallery: &Gallery) {
    let summary = gallery.summary;
    page.raw("<header>\n<h1>")
        .text(&gallery.title)
        .raw("</h1>\n<dl class=\"totals\">\n");
    total(page, "Jobs", false, |p| {
        p.count(summary.total);
    });
    total(page, "Images", false, |p| {
        p.count(summary.images);
    });
    let failed = summary.count(JobState::Failed);
    let invalid = summary.count(JobState::Invalid);
    let ambiguous = summary.count(JobState::Ambiguous) + summary.count(JobState::Submitting);
    let failures = failed + invalid + ambiguous;
    total(page, "Failures", failures > 0, |p| {
        p.count(failures);
        if failures > 0 {
            p.raw(" (").count(failed).raw(" failed, ").count(invalid);
            p.raw(" invalid, ").count(ambiguous).raw(" ambiguous)");
        }
    });
    let unfinished = summary
        .total
        .saturating_sub(summary.count(JobState::Done) + failures);
    if unfinished > 0 {
        total(page, "Unfinished", false, |p| {
            p.count(unfinished);
        });
    }
    total(page, "Credits", false, |p| {
        p.raw(&html::credits(summary.credits_reported))
            .raw(" reported");
        if summary.credits_estimated != 0.0 {
            p.raw(" + ")
                .raw(&html::credits(summary.credits_estimated))
                .raw(" estimated");
        }
    });
    total(page, "Wall time", false, |p| {
        match gallery.wall_time {
            Some(elapsed) => p.raw(&html::wall_time(elapsed)),
            None => p.raw("not recorded"),
        };
    });
    page.raw("</dl>\n");
    filters(page, gallery);
    page.raw("</header>\n");
}

fn total(page: &mut Html, name: &str, bad: bool, value: impl FnOnce(&mut Html)) {
    page.raw(if bad {
        "<div class=\"bad\"><dt>"
    } else {
        "<div><dt>"
    })
    .raw(name)
    .raw("</dt><dd>");
    value(page);
    page.raw("</dd></div>\n");
}

/// The filter form. Counts are of the cards on this page (the header's
/// totals are the journal's).
fn filters(page: &mut Html, gallery: &Gallery) {
    let mut states: BTreeMap<JobState, u64> = BTreeMap::new();
    let mut providers: BTreeMap<&str, u64> = BTreeMap::new();
    for job in gallery.jobs {
        *states.entry(job.state).or_default() += 1;
        *providers.entry(card::provider_key(job)).or_default() += 1;
    }
    page.raw("<form class=\"filters\" id=\"filters\" role=\"search\">\n<fieldset><legend>State</legend>\n");
    for state in JobState::ALL {
        let Some(&n) = states.get(&state) else {
            continue;
        };
        page.raw("<label><input type=\"checkbox\" name=\"state\" value=\"")
            .raw(state.as_str())
            .raw("\" data-problem=\"")
            .raw(if states::is_problem(state) { "1" } else { "0" })
            .raw("\" checked> ")
            .raw(states::label(state))
            .raw(" (")
            .count(n)
            .raw(")</label>\n");
    }
    page.raw("<button type=\"button\" data-states=\"all\">all</button>")
        .raw("<button type=\"button\" data-states=\"problems\">problems only</button>\n")
        .raw("</fieldset>\n<label>Provider <select name=\"provider\">\n<option value=\"\">all</option>\n");
    for (provider, n) in &providers {
        page.raw("<option value=\"").text(provider).raw("\">");
        if *provider == card::NOT_SENT {
            page.raw("not sent");
        } else {
            page.text(provider);
        }
        page.raw(" (").count(*n).raw(")</option>\n");
    }
    page.raw("</select></label>\n")
        .raw("<label>Search <input type=\"search\" name=\"q\" placeholder=\"prompt, task id or error\"></label>\n")
        .raw("<output id=\"shown\">all ")
        .count(gallery.jobs.len() as u64)
        .raw(" shown</output>\n</form>\n");
}

#[cfg(test)]
mod tests;
