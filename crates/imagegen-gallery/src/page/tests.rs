//! The page of a small fixed set of jobs, as a snapshot, and what it must
//! never contain.

use std::collections::HashMap;
use std::time::Duration;

use imagegen_jobs::{JobRow, JobState, OutputRow};

use super::*;
use crate::fixture;
use crate::thumbs::{ImageView, Preview};

fn output(idx: i64, path: &str) -> OutputRow {
    OutputRow {
        idx,
        path: path.to_owned(),
        sha256: "ab".repeat(32),
        bytes: Some(1_234_567),
        width: Some(1536),
        height: Some(1024),
        url: None,
        host: None,
    }
}

fn view(href: &str, preview: Preview) -> ImageView {
    ImageView {
        href: Some(href.to_owned()),
        sidecar_href: Some(href.replace(".png", ".json")),
        preview,
    }
}

fn thumbnail(name: &str) -> Preview {
    Preview::Thumbnail {
        href: format!(".thumbs/{name}"),
        made: true,
    }
}

/// One job of each kind a card can show.
fn jobs() -> Vec<JobRow> {
    let mut done = fixture::job(1, "A ceramic lamp on a wooden table", JobState::Done);
    done.provider = Some("runbase".into());
    done.task_id = Some("run_0001".into());
    done.credits = Some(2.0);
    done.outputs.push(output(0, "dataset/lamp.png"));

    let mut two = fixture::job(2, "Two foxes & a hen", JobState::Done);
    two.copy = 1;
    two.name = Some("foxes".into());
    two.provider = Some("openai".into());
    two.task_id = Some("resp_02".into());
    two.credits = Some(8.25);
    two.outputs.push(output(0, "dataset/foxes-0.png"));
    two.outputs.push(output(1, "dataset/foxes-1.png"));

    let mut failed = fixture::job(3, "A <b>bold</b> \"quoted\" prompt", JobState::Failed);
    failed.provider = Some("gptimage15".into());
    failed.task_id = Some("n36abc".into());
    failed.error_kind = Some("generation_failed".into());
    failed.error = Some("moderation_blocked: </script><script>alert(1)</script>".into());
    failed.est_credits = Some(1.5);

    let mut invalid = fixture::job(4, "aspect=5:4 a lamp", JobState::Invalid);
    invalid.error_kind = Some("invalid_request".into());
    invalid.error = Some("unknown aspect \"5:4\"".into());

    let mut ambiguous = fixture::job(5, "A lighthouse", JobState::Ambiguous);
    ambiguous.provider = Some("runbase".into());
    ambiguous.est_credits = Some(2.0);

    let mut missing = fixture::job(6, "A missing image", JobState::Done);
    missing.provider = Some("runbase".into());
    missing.task_id = Some("run_0006".into());
    missing.credits = Some(2.0);
    missing.outputs.push(output(0, "/elsewhere/gone.png"));
    missing.outputs[0].host = Some("worker-2".into());

    let mut broken = fixture::job(7, "A broken image", JobState::Done);
    broken.provider = Some("openai".into());
    broken.task_id = Some("resp_07".into());
    broken.outputs.push(output(0, "dataset/broken.png"));

    let pending = fixture::job(8, "Not sent yet", JobState::Pending);
    vec![
        done, two, failed, invalid, ambiguous, missing, broken, pending,
    ]
}

fn views() -> Vec<(&'static str, ImageView)> {
    vec![
        (
            "dataset/lamp.png",
            view("lamp.png", thumbnail("lamp-0011223344556677.jpg")),
        ),
        (
            "dataset/foxes-0.png",
            view("foxes-0.png", thumbnail("foxes-0-8899aabbccddeeff.jpg")),
        ),
        (
            "dataset/foxes-1.png",
            ImageView {
                href: Some("foxes-1.png".into()),
                sidecar_href: None,
                preview: thumbnail("foxes-1-0123456789abcdef.jpg"),
            },
        ),
        (
            "/elsewhere/gone.png",
            ImageView {
                href: None,
                sidecar_href: None,
                preview: Preview::Missing,
            },
        ),
        (
            "dataset/broken.png",
            view(
                "broken.png",
                Preview::Unusable {
                    reason: "cannot decode the image: Format error".into(),
                },
            ),
        ),
    ]
}

fn page(jobs: &[JobRow], title: &str) -> String {
    let summary = fixture::summarize(jobs);
    let views = views();
    let by_path: HashMap<&str, &ImageView> = views.iter().map(|(p, v)| (*p, v)).collect();
    let gallery = Gallery::new(std::path::Path::new("dataset"), jobs, &summary)
        .title(title)
        .wall_time(Duration::from_secs(185));
    render(&gallery, &by_path, "2026-12-01 10:00:00 UTC")
}

#[test]
fn the_page_of_a_small_batch() {
    let html = page(&jobs(), "imagegen batch: dataset");
    // The style, the script and their hashes change on their own; the
    // snapshot is of the markup around them.
    let html = html
        .replace(CSS, "/* gallery.css */")
        .replace(SCRIPT, "/* gallery.js */")
        .replace(CONTENT_SECURITY_POLICY.as_str(), "(policy)");
    insta::assert_snapshot!(html);
}

#[test]
fn job_text_never_becomes_markup() {
    let hostile = [
        "<script>document.title='PWNED'</script>",
        "\"><img src=x onerror=\"document.title='PWNED'\">",
        "' onmouseover='document.title=1' x='",
        "</script><!--",
    ];
    let mut jobs = Vec::new();
    for (i, text) in hostile.iter().enumerate() {
        let mut job = fixture::job(i as i64 + 1, text, JobState::Failed);
        job.error = Some((*text).to_owned());
        job.error_kind = Some((*text).to_owned());
        job.provider = Some((*text).to_owned());
        job.task_id = Some((*text).to_owned());
        job.name = Some((*text).to_owned());
        jobs.push(job);
    }
    let html = page(&jobs, hostile[0]);
    let body = &html[html.find("<body>").unwrap()..html.rfind("<script>").unwrap()];
    assert!(!body.contains("<script"), "a script tag from job text");
    assert!(!body.contains("<img src=x"), "an element from job text");
    assert!(!body.contains("<!--"), "a comment from job text");
    assert!(!body.contains("='"), "an attribute quote from job text");
    assert!(!html.contains("<title><script"), "the title");
    // The page's own script is the only one, and comes last.
    assert_eq!(html.matches("<script>").count(), 1);
    assert!(html.contains("&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;&#x2F;script&gt;"));
}

#[test]
fn the_policy_allows_exactly_the_pages_own_style_and_script() {
    let policy = CONTENT_SECURITY_POLICY.as_str();
    assert!(policy.starts_with("default-src 'none'; img-src 'self' file:; style-src 'sha256-"));
    let html = page(&jobs(), "t");
    assert_eq!(html.matches("<style>").count(), 1);
    assert!(
        !html.contains(" style=\""),
        "inline style attributes would be refused"
    );
    let handler = html.match_indices(" on").any(|(at, _)| {
        let rest = &html[at + 3..];
        let name = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_lowercase())
                .len();
        name > 0 && rest[name..].starts_with("=\"")
    });
    assert!(!handler, "inline handlers would be refused");
    for resource in ["http:", "https:", "//", "@import", "url("] {
        let outside_script = html.replace(SCRIPT, "");
        assert!(
            !outside_script.contains(&format!("=\"{resource}")) && !CSS.contains(resource),
            "{resource}"
        );
    }
}
