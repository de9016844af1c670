//! The gallery a batch leaves behind, seen in headless Chromium (these
//! tests fail, never skip, without it: see `imagegen_test_support::chromium`).

use imagegen_test_support::chromium::{Chromium, Window};
use serde_json::Value;

use crate::support::{TestSim, text};

/// 50 lines: images, content-policy refusals, an invalid line, a hostile prompt.
fn mixed_prompts(dir: &std::path::Path) {
    let mut lines = String::new();
    for i in 1..=50 {
        let line = match i {
            7 | 19 | 33 => format!("a lamp {i} {}", imagegen_sim::magic::CONTENT_POLICY_PROMPT),
            12 => r#"{"prompt": "a lamp", "aspect": "4:3"}"#.to_owned(),
            25 => {
                r#"{"prompt": "<script>document.title='PWNED'</script> \"quoted\" & <b>bold</b>"}"#
                    .to_owned()
            }
            _ => format!("a ceramic lamp, study {i}"),
        };
        lines.push_str(&line);
        lines.push('\n');
    }
    std::fs::write(dir.join("p.jsonl"), lines).unwrap();
}

#[test]
fn a_batch_leaves_a_gallery_of_every_job_that_opens_in_a_browser() {
    let chromium = Chromium::require();
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    mixed_prompts(dir.path());
    let out = sim
        .cmd(dir.path())
        .args(["batch", "p.jsonl", "--out", "out", "--aspect", "3:2"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "three refusals and an invalid line: {stderr}"
    );
    assert!(
        stderr.contains("gallery: out/index.html (50 jobs, 46 images; 46 thumbnails made"),
        "{stderr}"
    );
    let page = dir.path().join("out/index.html");
    let thumbs = dir.path().join("out/.thumbs");
    assert_eq!(std::fs::read_dir(&thumbs).unwrap().count(), 46);

    let window = Window::new(1400, 1800);
    let dom = chromium.dump_dom(&page, window);
    assert_eq!(dom.matches("<article class=\"card ").count(), 50);
    assert_eq!(dom.matches("data-state=\"failed\"").count(), 3);
    assert_eq!(dom.matches("data-state=\"invalid\"").count(), 1);
    assert!(
        dom.contains("unknown aspect `4:3`"),
        "the invalid line's reason"
    );
    assert!(
        dom.contains("Content policy violation"),
        "a refusal's reason"
    );
    // The hostile prompt is shown as text, and did not run.
    assert!(
        dom.contains("&lt;script&gt;document.title"),
        "the prompt as text"
    );
    let title = chromium.probe(&page, window, "return document.title;");
    assert!(!title.contains("PWNED"), "{title}");

    // The thumbnails on screen loaded.
    let loaded = chromium.probe(
        &page,
        window,
        "var imgs = Array.prototype.filter.call(document.querySelectorAll('.thumb img'), \
           function (img) { var r = img.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }); \
         return JSON.stringify(imgs.map(function (img) { return img.complete && img.naturalWidth > 0; }));",
    );
    let loaded: Vec<Value> = serde_json::from_str(&loaded).expect(&loaded);
    assert!(loaded.len() >= 8, "{loaded:?}");
    assert!(loaded.iter().all(|l| l == true), "{loaded:?}");

    // `IMAGEGEN_GALLERY_SCREENSHOT=docs/gallery.png` keeps what this shows
    // (the README's picture is made this way).
    if let Some(path) = std::env::var_os("IMAGEGEN_GALLERY_SCREENSHOT") {
        chromium
            .screenshot(&page, Window::new(1400, 1000))
            .save(path)
            .unwrap();
    }

    // Written again on demand, the thumbnails are reused.
    let out = sim
        .cmd(dir.path())
        .args(["gallery", "out"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "out/index.html");
    assert!(stderr.contains("0 thumbnails made, 46 reused"), "{stderr}");
}

#[test]
fn no_gallery_writes_no_page_and_a_folder_without_a_journal_is_refused() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.txt"), "a lamp\n").unwrap();
    let out = sim
        .cmd(dir.path())
        .args(["batch", "p.txt", "--out", "out", "--no-gallery"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(!dir.path().join("out/index.html").exists());
    assert!(!dir.path().join("out/.thumbs").exists());

    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let out = sim
        .cmd(dir.path())
        .args(["gallery", "empty"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("journal"), "{stderr}");
}
