//! The gallery in real headless Chromium: what a person sees.
//!
//! These tests need Chromium and fail (never skip) without it: see
//! `imagegen_test_support::chromium` for where it is looked for. No test
//! here measures time; the page's opening time is measured once, by hand,
//! in docs/PERFORMANCE.md.

use std::path::{Path, PathBuf};

use imagegen_gallery::fixture::{self, Options};
use imagegen_gallery::{Gallery, INDEX_FILE, write};
use imagegen_jobs::{JobState, OutputRow};
use imagegen_test_support::chromium::{Chromium, Window, count_near, distinct_colours};
use serde_json::Value;

/// `--failed` of the page's style sheet: failure badges and borders.
const FAILED_RED: [u8; 3] = [0xd7, 0x26, 0x3d];

fn gallery_of(dir: &Path, options: &Options) -> PathBuf {
    let batch = fixture::build(dir, options).expect("fixture");
    let gallery = Gallery::new(dir, &batch.jobs, &batch.summary)
        .wall_time(std::time::Duration::from_secs(754));
    write(&gallery).expect("gallery").index
}

fn cards(dom: &str) -> usize {
    dom.matches("<article class=\"card ").count()
}

fn cards_in_state(dom: &str, state: &str) -> usize {
    dom.matches(&format!("data-state=\"{state}\" data-provider="))
        .count()
}

#[test]
fn fifty_jobs_show_their_thumbnails_and_their_failures() {
    let chromium = Chromium::require();
    let dir = tempfile::tempdir().unwrap();
    let page = gallery_of(dir.path(), &Options::new(50).longest_side(768));
    let window = Window::new(1400, 1800);

    let dom = chromium.dump_dom(&page, window);
    assert_eq!(cards(&dom), 50);
    assert_eq!(cards_in_state(&dom, "failed"), 5);
    assert_eq!(cards_in_state(&dom, "invalid"), 2);
    assert_eq!(cards_in_state(&dom, "ambiguous"), 2);
    assert!(
        dom.contains("moderation_blocked (violence)"),
        "a failure's reason"
    );

    // Where the thumbnails in the window are, and whether they loaded.
    let thumbnails = chromium.probe(
        &page,
        window,
        "return JSON.stringify(Array.prototype.filter.call(document.querySelectorAll('.thumb img'), \
           function (img) { var r = img.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }) \
         .map(function (img) { var r = img.getBoundingClientRect(); \
           return { x: r.x, y: r.y, w: r.width, h: r.height, loaded: img.complete && img.naturalWidth > 0 }; }));",
    );
    let thumbnails: Vec<Value> = serde_json::from_str(&thumbnails).expect(&thumbnails);
    assert!(
        thumbnails.len() >= 12,
        "thumbnails in the window: {thumbnails:?}"
    );
    assert!(
        thumbnails.iter().all(|t| t["loaded"] == true),
        "a thumbnail in the window did not load: {thumbnails:?}"
    );

    let shot = chromium.screenshot(&page, window);
    let shot_path = dir.path().join("screenshot.png");
    shot.save(&shot_path).unwrap();
    let mut blank = Vec::new();
    for t in &thumbnails {
        let (x, y, w, h) = ["x", "y", "w", "h"]
            .map(|k| t[k].as_f64().unwrap() as u32)
            .into();
        if y + h > shot.height() {
            continue;
        }
        // A thumbnail that did not paint is the panel's one dark colour.
        if distinct_colours(
            &shot,
            x + 2,
            y + 2,
            w.saturating_sub(4),
            h.saturating_sub(4),
            64,
        ) < 32
        {
            blank.push(t.clone());
        }
    }
    assert!(
        blank.is_empty(),
        "blank thumbnails {blank:?} in {}",
        keep(&dir, &shot_path).display()
    );
    // Five failure badges and red borders at least are on screen.
    let red = count_near(&shot, FAILED_RED, 8);
    assert!(
        red > 2_000,
        "{red} failure-red pixels in {}",
        keep(&dir, &shot_path).display()
    );
}

#[test]
fn ten_thousand_jobs_render() {
    let chromium = Chromium::require();
    let dir = tempfile::tempdir().unwrap();
    // Sixteen small images shared by all jobs: the page is the subject.
    let page = gallery_of(
        dir.path(),
        &Options::new(10_000).distinct_images(16).longest_side(96),
    );
    let window = Window::new(1400, 1000);

    let dom = chromium.dump_dom(&page, window);
    assert_eq!(cards(&dom), 10_000);
    assert!(dom.contains("id=\"job-10000\""));

    let shot = chromium.screenshot(&page, window);
    let colours = distinct_colours(&shot, 0, 0, shot.width(), shot.height(), 10_000);
    assert!(
        colours > 500,
        "a nearly blank screenshot: {colours} colours"
    );
    assert!(count_near(&shot, FAILED_RED, 8) > 500, "no failure marked");
}

/// Text that would run a script, or change the title, if it were markup.
const HOSTILE: [&str; 5] = [
    "<script>document.title='PWNED'</script>",
    "\"><img src=x onerror=\"document.title='PWNED'\">",
    "'><img src=x onerror='document.title=\"PWNED\"'>",
    "</script><script>document.title='PWNED'</script><!--",
    "A \"quoted\" & 'single' prompt </p></article><h1>PWNED</h1>",
];

#[test]
fn prompts_and_errors_are_text_and_never_run() {
    let chromium = Chromium::require();
    let dir = tempfile::tempdir().unwrap();
    fixture::picture(7, 64, 64)
        .save(dir.path().join("a.png"))
        .unwrap();
    let mut jobs = Vec::new();
    for (i, text) in HOSTILE.iter().enumerate() {
        let id = i as i64 + 1;
        let state = if i.is_multiple_of(2) {
            JobState::Done
        } else {
            JobState::Failed
        };
        let mut job = fixture::job(id, text, state);
        job.provider = Some("runbase".into());
        job.task_id = Some((*text).to_owned());
        job.error = Some(format!("refused: {text}"));
        job.name = Some((*text).to_owned());
        if state == JobState::Done {
            job.outputs.push(OutputRow {
                idx: 0,
                path: "a.png".into(),
                sha256: String::new(),
                bytes: None,
                width: None,
                height: None,
                url: None,
                host: Some((*text).to_owned()),
            });
        }
        jobs.push(job);
    }
    let summary = fixture::summarize(&jobs);
    let gallery = Gallery::new(dir.path(), &jobs, &summary).title(HOSTILE[1]);
    let page = write(&gallery).unwrap().index;
    let window = Window::new(1200, 900);

    let dom = chromium.dump_dom(&page, window);
    let title = between(&dom, "<title>", "</title>");
    assert_eq!(
        title,
        "\"&gt;&lt;img src=x onerror=\"document.title='PWNED'\"&gt;"
    );
    assert_eq!(cards(&dom), HOSTILE.len());
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(
        !dom.contains("<img src=\"x\""),
        "an element made of a prompt"
    );
    assert!(!dom.contains("<h1>PWNED"), "an element made of a prompt");
    assert!(dom.contains("&lt;script&gt;document.title='PWNED'&lt;/script&gt;"));
    assert!(dom.contains("refused: \"&gt;&lt;img src=x onerror="));

    // Even without the page's Content-Security-Policy (which would stop an
    // injected script on its own), escaping alone keeps every text inert.
    let seen = chromium.probe(
        &page,
        window,
        "return JSON.stringify({ title: document.title, \
           images: document.querySelectorAll('img[src=x]').length, \
           headings: document.querySelectorAll('h1').length, \
           prompts: Array.prototype.map.call(document.querySelectorAll('.prompt'), function (p) { return p.textContent; }) });",
    );
    let seen: Value = serde_json::from_str(&seen).expect(&seen);
    assert_eq!(seen["title"], HOSTILE[1]);
    assert_eq!(seen["images"], 0);
    assert_eq!(seen["headings"], 1);
    assert_eq!(seen["prompts"], serde_json::json!(HOSTILE));
}

#[test]
fn the_filters_and_the_search_hide_cards() {
    let chromium = Chromium::require();
    let dir = tempfile::tempdir().unwrap();
    let page = gallery_of(dir.path(), &Options::new(50).longest_side(64));
    let counts = chromium.probe(
        &page,
        Window::new(1200, 900),
        "var form = document.getElementById('filters');\
         function shown() { form.dispatchEvent(new Event('submit', { cancelable: true })); \
           return document.querySelectorAll('.card:not([hidden])').length; }\
         var all = shown();\
         form.querySelector('[data-states=problems]').click();\
         var problems = shown();\
         form.querySelector('[data-states=all]').click();\
         form.elements.provider.value = 'openai';\
         var openai = shown();\
         form.elements.provider.value = '';\
         form.elements.q.value = 'LIGHTHOUSE dawn';\
         var search = shown();\
         return [all, problems, openai, search, document.getElementById('shown').textContent].join(' ');",
    );
    // 50 jobs: 5 failed, 2 invalid, 2 ambiguous, 1 timed out; every
    // third job (from the 2nd) went to OpenAI, but not the invalid ones;
    // the lighthouse is every 12th prompt from the 1st.
    let openai = (1..=50)
        .filter(|i| i % 3 == 2 && fixture::state_of(*i) != JobState::Invalid)
        .count();
    let lighthouse = (1..=50).filter(|i| i % 12 == 1).count();
    assert_eq!(
        counts,
        format!("50 10 {openai} {lighthouse} {lighthouse} of 50 shown")
    );
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).map_or(0, |i| i + start.len());
    let to = text[from..].find(end).map_or(text.len(), |i| from + i);
    &text[from..to]
}

/// Keeps a failing test's screenshot (the temporary folder goes away).
fn keep(dir: &tempfile::TempDir, shot: &Path) -> PathBuf {
    let kept = std::env::temp_dir().join(format!(
        "imagegen-gallery-{}-{}",
        std::process::id(),
        shot.file_name().unwrap().to_string_lossy()
    ));
    let _ = std::fs::copy(shot, &kept);
    let _ = std::fs::copy(dir.path().join(INDEX_FILE), kept.with_extension("html"));
    kept
}
