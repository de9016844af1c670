//! Simulated images: exact sizes, one image per task, the prompt and the
//! "SIMULATED" mark on it, any script without a panic, and the file URLs.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use imagegen_sim::images::{
    ImageCache, ImageFormat, ImageSize, ImageSpec, pixels, prompt_lines, render,
};
use imagegen_sim::{LatencyProfile, SimConfig};
use reqwest::StatusCode;
use serde_json::json;

use super::common::*;

const SIZES: [ImageSize; 3] = [ImageSize::Square, ImageSize::Portrait, ImageSize::Landscape];

const LAMP: &str = "A ceramic lamp on a wooden table";

/// Prompts in many scripts, emoji, and characters that are not text.
const HARD_PROMPTS: &[&str] = &[
    "שלום עולם: מנורה קרמית על שולחן עץ",
    "مصباح خزفي على طاولة خشبية",
    "木のテーブルの上の陶器のランプ、朝の光",
    "A lamp 💡 on a table 🪑 with a family 👨‍👩‍👧‍👦 and a thumbs up 👍🏽 🇫🇷",
    "Κεραμικό φωτιστικό · Керамическая лампа · Čeramická lampa · ẞ ǅ",
    "control\u{0}\u{1}\u{7}\u{8}\u{1b}[31m\u{7f}\u{85}\u{9f} chars\r\n\ttabs\u{2028}lines\u{2029}",
    "bidi \u{202e}reversed\u{202c} \u{2067}isolate\u{2069} \u{200f}\u{200e}\u{feff}\u{200b}",
    "combining e\u{301}\u{302}\u{303}\u{304}\u{305}\u{306}\u{307}\u{308} and Z\u{361}\u{489}\u{33c}a\u{36d}\u{34d}l\u{31b}g\u{35c}o",
    "\u{fffd}\u{fffe}\u{ffff}\u{10ffff}\u{e0001}\u{1d400}\u{f0000}",
    "\u{1}",
    "\n\n\n",
    "שלום\nעולם\n\nhello\n\n\n\nworld",
    "𒀀𒀁𒀂 ꧁꧂ ᚠᛇᚻ ⠓⠑⠇⠇⠕ ∀x∈ℝ: x²≥0 ☃★♥✓",
];

/// Decodes a PNG, checks its size, and returns its pixels as RGBA.
fn decode_png(bytes: &[u8]) -> image::RgbaImage {
    image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .expect("a valid PNG")
        .to_rgba8()
}

fn yellow_in_banner(img: &image::RgbaImage) -> usize {
    let banner = img.height().min(img.width()) * 100 / 1000;
    (0..banner)
        .flat_map(|y| (0..img.width() / 2).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let p = img.get_pixel(x, y).0;
            p[0] > 230 && (180..=225).contains(&p[1]) && p[2] < 40
        })
        .count()
}

#[test]
fn every_size_is_exact_and_decodes() {
    for size in SIZES {
        let spec = ImageSpec::new("runbase", "run_0000000000000001", LAMP, size);
        let img = decode_png(&render(&spec));
        assert_eq!((img.width(), img.height()), size.dims(), "{size:?}");
        assert_eq!(
            pixels(&spec).len(),
            (size.dims().0 * size.dims().1 * 3) as usize
        );
        // The banner's yellow "SIMULATED" is there.
        assert!(
            yellow_in_banner(&img) > 2_000,
            "{size:?}: no SIMULATED mark"
        );
    }
}

#[test]
fn same_prompt_in_two_tasks_gives_two_images_with_two_backgrounds() {
    let a = ImageSpec::new(
        "runbase",
        "run_000000000000000a",
        LAMP,
        ImageSize::Landscape,
    );
    let b = ImageSpec::new(
        "runbase",
        "run_000000000000000b",
        LAMP,
        ImageSize::Landscape,
    );
    assert_ne!(a.seed(), b.seed());
    assert_ne!(render(&a), render(&b));
    // Not only the task id printed on it: the background differs too (the
    // strip between the hazard stripes and the prompt panel).
    let (pa, pb) = (pixels(&a), pixels(&b));
    let row = 1536 * 3;
    let strip = 140 * row..160 * row;
    assert_ne!(pa[strip.clone()], pb[strip]);
    // And two images of one OpenAI request differ.
    let first = ImageSpec::new("openai", "img_1", LAMP, ImageSize::Square).index(0, 2);
    let second = ImageSpec::new("openai", "img_1", LAMP, ImageSize::Square).index(1, 2);
    assert_ne!(render(&first), render(&second));
}

#[test]
fn same_task_gives_the_same_bytes() {
    let spec = ImageSpec::new(
        "gptimage15",
        "n01abcdefabcdefgptimg",
        LAMP,
        ImageSize::Portrait,
    )
    .quality("high")
    .references(2);
    assert_eq!(render(&spec), render(&spec.clone()));
}

#[test]
fn short_prompt_is_shown_whole_and_long_prompt_ends_with_an_ellipsis() {
    let short = ImageSpec::new("runbase", "run_1", LAMP, ImageSize::Landscape);
    assert_eq!(prompt_lines(&short), vec![LAMP.to_string()]);

    let long_prompt = format!("{LAMP}, ").repeat(400) + "THE END";
    for size in SIZES {
        let long = ImageSpec::new("runbase", "run_1", &long_prompt, size);
        let lines = prompt_lines(&long);
        assert!(lines.len() > 5, "{size:?}: {lines:?}");
        assert!(lines[0].starts_with(LAMP), "{size:?}: {lines:?}");
        let last = lines.last().unwrap();
        assert!(last.ends_with('…'), "{size:?}: {last}");
        assert!(!lines.concat().contains("THE END"));
        assert_eq!(decode_png(&render(&long)).dimensions(), size.dims());
    }

    // One word longer than a line is cut into lines, not lost.
    let word = "x".repeat(3_000);
    let lines = prompt_lines(&ImageSpec::new(
        "runbase",
        "run_1",
        &word,
        ImageSize::Square,
    ));
    assert!(lines.len() > 3 && lines.last().unwrap().ends_with('…'));
    // 32,000 characters (OpenAI's limit) in one line break.
    let huge = "lamp ".repeat(6_400);
    assert!(
        prompt_lines(&ImageSpec::new("openai", "img_1", &huge, ImageSize::Square))
            .last()
            .unwrap()
            .ends_with('…')
    );
}

#[test]
fn any_script_emoji_or_control_character_renders_without_a_panic() {
    for (i, prompt) in HARD_PROMPTS.iter().enumerate() {
        for size in SIZES {
            for (format, transparent) in [
                (ImageFormat::Png, false),
                (ImageFormat::Png, true),
                (ImageFormat::Jpeg, false),
                (ImageFormat::Webp, true),
            ] {
                if format != ImageFormat::Png && size != ImageSize::Square {
                    continue;
                }
                let spec = ImageSpec::new("openai", &format!("img_{i}"), prompt, size)
                    .format(format)
                    .transparent(transparent);
                let bytes = render(&spec);
                let kind = match format {
                    ImageFormat::Png => image::ImageFormat::Png,
                    ImageFormat::Jpeg => image::ImageFormat::Jpeg,
                    ImageFormat::Webp => image::ImageFormat::WebP,
                };
                let img = image::load_from_memory_with_format(&bytes, kind).expect("decodes");
                assert_eq!((img.width(), img.height()), size.dims(), "{prompt:?}");
            }
        }
        let lines = prompt_lines(&ImageSpec::new("x", "y", prompt, ImageSize::Square));
        assert!(
            lines.iter().all(|l| !l.chars().any(char::is_control)),
            "{prompt:?}: {lines:?}"
        );
    }
    // Scripts the font has are drawn as such; what it lacks becomes boxes.
    // Hebrew reads right to left: its letters are drawn in reverse order.
    let lines = prompt_lines(&ImageSpec::new(
        "x",
        "y",
        HARD_PROMPTS[0],
        ImageSize::Square,
    ));
    assert!(lines.concat().contains("םולש"), "{lines:?}");
    let lines = prompt_lines(&ImageSpec::new(
        "x",
        "y",
        HARD_PROMPTS[2],
        ImageSize::Square,
    ));
    assert!(lines.concat().chars().all(|c| c == '□'), "{lines:?}");
    // A family emoji (four people joined) is one box.
    let family = prompt_lines(&ImageSpec::new("x", "y", "👨‍👩‍👧‍👦", ImageSize::Square));
    assert_eq!(family, vec!["□".to_string()]);
}

#[test]
fn transparent_images_are_transparent_around_an_opaque_banner() {
    let spec = ImageSpec::new("openai", "img_1", LAMP, ImageSize::Square).transparent(true);
    let img = decode_png(&render(&spec));
    assert_eq!(img.get_pixel(500, 10).0[3], 255, "banner");
    let background = (0..1024u32)
        .map(|x| img.get_pixel(x, 150).0[3])
        .collect::<Vec<_>>();
    assert!(background.iter().all(|&a| a < 255), "{background:?}");
    // JPEG has no alpha: asked transparent, it is drawn opaque.
    let jpeg = spec.clone().format(ImageFormat::Jpeg);
    assert!(!jpeg.has_alpha());
    assert_eq!(pixels(&jpeg).len(), 1024 * 1024 * 3);
}

#[tokio::test]
async fn the_cache_keeps_recent_images_and_no_more() {
    let cache = ImageCache::new(2);
    let spec = |id: &str| ImageSpec::new("runbase", id, LAMP, ImageSize::Square);
    let a = cache.get(spec("run_a")).await;
    let again = cache.get(spec("run_a")).await;
    assert!(Arc::ptr_eq(&a, &again), "served from memory");
    cache.get(spec("run_b")).await;
    cache.get(spec("run_a")).await;
    cache.get(spec("run_c")).await; // evicts run_b, the least recently used
    assert_eq!(cache.len(), 2);
    assert!(Arc::ptr_eq(&a, &cache.get(spec("run_a")).await));
    // A render is not kept, and equals the cached bytes.
    let fresh = cache.render(spec("run_a")).await;
    assert!(!Arc::ptr_eq(&a, &fresh));
    assert_eq!(a.bytes, fresh.bytes);
}

async fn runbase_image(sim: &imagegen_sim::SimHandle, prompt: &str) -> (String, String) {
    let body = json!({"model": "openai/gpt-image-1.5", "input": {"prompt": prompt, "aspect_ratio": "3:2"}});
    let created = post(
        &format!("{}/runs", sim.runbase_url()),
        Some(KEY),
        &body.to_string(),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let (_, done) = poll_runbase(sim, &id, KEY).await;
    let url = done.body["output"]["urls"][0].as_str().unwrap().to_string();
    (id, url)
}

async fn download(url: &str) -> Vec<u8> {
    let resp = client().get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{url}");
    resp.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn file_urls_name_the_task_and_serve_its_image() {
    let sim = start(SimConfig::instant()).await;
    let (id_a, url_a) = runbase_image(&sim, LAMP).await;
    let (id_b, url_b) = runbase_image(&sim, LAMP).await;
    assert_eq!(
        url_a,
        format!("{}/files/runbase/{id_a}/0.png", sim.base_url())
    );
    assert!(url_b.contains(&id_b));
    let (a, b) = (download(&url_a).await, download(&url_b).await);
    assert_ne!(a, b, "same prompt, two tasks: two files");
    assert_eq!(download(&url_a).await, a, "same task: same bytes");
    assert_eq!(decode_png(&a).dimensions(), (1536, 1024));
    // What the sim serves is the task's own image, drawn from its request.
    let expected = ImageSpec::new("runbase", &id_a, LAMP, ImageSize::Landscape);
    assert_eq!(a, render(&expected));

    // Another image of the task, another provider's path, an unknown task,
    // an old-style name: 404.
    for bad in [
        format!("/files/runbase/{id_a}/1.png"),
        format!("/files/gptimage15/{id_a}/0.png"),
        "/files/runbase/run_0000000000000000/0.png".to_string(),
        format!("/files/runbase/{id_a}/1536x1024-3.png"),
    ] {
        let a = get(&format!("{}{bad}", sim.base_url()), None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{bad}");
    }
    // A forgotten task has no file any more.
    sim.reset();
    let gone = get(&url_a, None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn no_file_before_the_task_succeeds() {
    let sim = start(SimConfig::fast().latency(LatencyProfile::Fixed {
        queue_ms: 60_000,
        generate_ms: 0,
    }))
    .await;
    let created = post(
        &format!("{}/runs", sim.runbase_url()),
        Some(KEY),
        RUNBASE_SEED_BODY,
    )
    .await;
    let id = created.body["id"].as_str().unwrap();
    let a = get(
        &format!("{}/files/runbase/{id}/0.png", sim.base_url()),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn gptimage15_files_show_quality_and_references() {
    let sim = start(SimConfig::instant()).await;
    let body = json!({
        "prompt": "Add a rainbow 🌈 to the sky",
        "images": ["https://example.com/a.jpg", "https://example.com/b.jpg"],
        "size": "1024*1536",
        "quality": "low"
    });
    let created = post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        &body.to_string(),
    )
    .await;
    let id = created.body["data"]["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, done) = poll_gpt(&sim, &id, "status").await;
    let url = done.body["data"]["response"][0].as_str().unwrap();
    assert_eq!(
        url,
        format!("{}/files/gptimage15/{id}/0.png", sim.base_url())
    );
    let bytes = download(url).await;
    let expected = ImageSpec::new(
        "gptimage15",
        &id,
        "Add a rainbow 🌈 to the sky",
        ImageSize::Portrait,
    )
    .quality("low")
    .references(2);
    assert_eq!(bytes, render(&expected));
}

#[tokio::test]
async fn openai_images_are_the_requests_own() {
    let sim = start(SimConfig::instant()).await;
    let url = format!("{}/images/generations", sim.openai_url());
    let body = json!({"prompt": LAMP, "n": 2, "size": "1536x1024", "quality": "high"});
    let a = post(&url, Some(KEY), &body.to_string()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let request_id = a.header("x-request-id").unwrap().to_string();
    let decode = |i: usize| {
        base64::engine::general_purpose::STANDARD
            .decode(a.body["data"][i]["b64_json"].as_str().unwrap())
            .unwrap()
    };
    let (first, second) = (decode(0), decode(1));
    assert_ne!(first, second);
    let spec = ImageSpec::new("openai", &request_id, LAMP, ImageSize::Landscape).quality("high");
    assert_eq!(first, render(&spec.clone().index(0, 2)));
    assert_eq!(second, render(&spec.index(1, 2)));
    // The same body again is another request: other images.
    let b = post(&url, Some(KEY), &body.to_string()).await;
    assert_ne!(b.body["data"][0]["b64_json"], a.body["data"][0]["b64_json"]);
}

#[tokio::test]
async fn hard_prompts_go_through_every_provider() {
    let sim = start(SimConfig::instant().runbase_rate_limit(0, Duration::from_secs(1))).await;
    for prompt in HARD_PROMPTS.iter().filter(|p| !p.trim().is_empty()) {
        let (_, url) = runbase_image(&sim, prompt).await;
        assert_eq!(decode_png(&download(&url).await).dimensions(), (1536, 1024));
        let a = post(
            &format!("{}/images/generations", sim.openai_url()),
            Some(KEY),
            &json!({"prompt": prompt, "output_format": "webp"}).to_string(),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{prompt:?}: {}", a.body);
    }
}
