//! OpenAI Images API: generations, edits, formats, errors.

use base64::Engine;
use imagegen_sim::SimConfig;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use super::common::*;

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("b64_json"))
        .expect("base64")
}

#[tokio::test]
async fn generation_returns_png_of_the_size() {
    let sim = fast().await;
    let body = json!({"model": "gpt-image-1.5", "prompt": "a lamp", "size": "1536x1024", "quality": "high"});
    let a = post(
        &format!("{}/images/generations", sim.openai_url()),
        Some(KEY),
        &body.to_string(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    insta::assert_json_snapshot!("openai_generation", a.body, {
        ".created" => "[time]", ".data[].b64_json" => "[b64]"
    });
    assert_eq!(png_size(&b64(&a.body["data"][0]["b64_json"])), (1536, 1024));
    assert!(a.header("x-request-id").is_some());
}

#[tokio::test]
async fn defaults_auto_and_n_images_in_each_format() {
    let sim = start(SimConfig::instant()).await;
    let url = format!("{}/images/generations", sim.openai_url());
    // Minimal body: everything defaults (auto size → 1024x1024, png).
    let a = post(&url, Some(KEY), r#"{"prompt": "x"}"#).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        (
            a.body["size"].as_str(),
            a.body["quality"].as_str(),
            a.body["output_format"].as_str()
        ),
        (Some("1024x1024"), Some("medium"), Some("png"))
    );
    assert_eq!(png_size(&b64(&a.body["data"][0]["b64_json"])), (1024, 1024));

    let a = post(&url, Some(KEY), &json!({"prompt": "x", "n": 3, "size": "1024x1536", "output_format": "jpeg", "output_compression": 50}).to_string()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let data = a.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for d in data {
        let img =
            image::load_from_memory_with_format(&b64(&d["b64_json"]), image::ImageFormat::Jpeg)
                .unwrap();
        assert_eq!((img.width(), img.height()), (1024, 1536));
    }
    let a = post(&url, Some(KEY), &json!({"prompt": "x", "output_format": "webp", "background": "transparent", "size": "1536x1024"}).to_string()).await;
    assert_eq!(a.body["background"], "transparent");
    let img = image::load_from_memory_with_format(
        &b64(&a.body["data"][0]["b64_json"]),
        image::ImageFormat::WebP,
    )
    .unwrap();
    assert_eq!((img.width(), img.height()), (1536, 1024));
    assert!(img.color().has_alpha());
    let a = post(
        &url,
        Some(KEY),
        &json!({"prompt": "x", "background": "transparent"}).to_string(),
    )
    .await;
    let img = image::load_from_memory_with_format(
        &b64(&a.body["data"][0]["b64_json"]),
        image::ImageFormat::Png,
    )
    .unwrap();
    assert!(img.color().has_alpha());
    let e = sim.ledger().entry("openai", KEY).cloned().unwrap();
    assert_eq!((e.creates_accepted, e.credits_charged), (4, 6));
}

fn edit_form(images: usize, field: &str, extra: &[(&str, &str)]) -> Form {
    let mut form = Form::new();
    for i in 0..images {
        form = form.part(
            field.to_string(),
            Part::bytes(tiny_png())
                .file_name(format!("in{i}.png"))
                .mime_str("image/png")
                .unwrap(),
        );
    }
    for (k, v) in extra {
        form = form.text(k.to_string(), v.to_string());
    }
    form
}

async fn send_edit(sim: &imagegen_sim::SimHandle, key: Option<&str>, form: Form) -> Answer {
    let mut req = client()
        .post(format!("{}/images/edits", sim.openai_url()))
        .multipart(form);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    Answer::from(req.send().await.unwrap()).await
}

#[tokio::test]
async fn edits_accept_image_array_and_mask() {
    let sim = fast().await;
    let form = edit_form(
        2,
        "image[]",
        &[
            ("prompt", "add a rainbow"),
            ("model", "gpt-image-1.5"),
            ("size", "1536x1024"),
            ("input_fidelity", "high"),
            ("quality", "low"),
            ("n", "2"),
        ],
    )
    .part(
        "mask",
        Part::bytes(tiny_png())
            .file_name("mask.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let a = send_edit(&sim, Some(KEY), form).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    insta::assert_json_snapshot!("openai_edit", a.body, {
        ".created" => "[time]", ".data[].b64_json" => "[b64]"
    });
    assert_eq!(png_size(&b64(&a.body["data"][1]["b64_json"])), (1536, 1024));
    // A single `image` part works too.
    let a = send_edit(&sim, Some(KEY), edit_form(1, "image", &[("prompt", "p")])).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // The same fields again are a duplicate.
    send_edit(&sim, Some(KEY), edit_form(1, "image", &[("prompt", "p")])).await;
    let e = sim.ledger().entry("openai", KEY).cloned().unwrap();
    assert_eq!(
        (e.creates_accepted, e.duplicate_creates, e.credits_charged),
        (3, 1, 4)
    );
}

async fn case(name: &str, a: Answer) -> Value {
    json!({ "case": name, "status": a.status.as_u16(), "body": a.body })
}

#[tokio::test]
async fn every_documented_error() {
    let sim = fast().await;
    let url = format!("{}/images/generations", sim.openai_url());
    let g = |v: Value| v.to_string();
    let mut cases = Vec::new();
    cases.push(case("no key", post(&url, None, r#"{"prompt":"x"}"#).await).await);
    cases.push(
        case(
            "wrong key",
            post(&url, Some("sk-wrong-key-123456"), r#"{"prompt":"x"}"#).await,
        )
        .await,
    );
    cases.push(case("invalid json", post(&url, Some(KEY), "{").await).await);
    cases.push(
        case(
            "response_format",
            post(
                &url,
                Some(KEY),
                &g(json!({"prompt": "x", "response_format": "url"})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "input_fidelity on generations",
            post(
                &url,
                Some(KEY),
                &g(json!({"prompt": "x", "input_fidelity": "high"})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "missing prompt",
            post(&url, Some(KEY), &g(json!({"model": "gpt-image-1.5"}))).await,
        )
        .await,
    );
    cases.push(
        case(
            "prompt not a string",
            post(&url, Some(KEY), &g(json!({"prompt": 5}))).await,
        )
        .await,
    );
    cases.push(
        case(
            "prompt too long",
            post(&url, Some(KEY), &g(json!({"prompt": "x".repeat(32001)}))).await,
        )
        .await,
    );
    cases.push(
        case(
            "bad model",
            post(
                &url,
                Some(KEY),
                &g(json!({"prompt": "x", "model": "dall-e-3"})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "bad size",
            post(
                &url,
                Some(KEY),
                &g(json!({"prompt": "x", "size": "512x512"})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "bad quality",
            post(&url, Some(KEY), &g(json!({"prompt": "x", "quality": "hd"}))).await,
        )
        .await,
    );
    cases.push(
        case(
            "n zero",
            post(&url, Some(KEY), &g(json!({"prompt": "x", "n": 0}))).await,
        )
        .await,
    );
    cases.push(
        case(
            "n eleven",
            post(&url, Some(KEY), &g(json!({"prompt": "x", "n": 11}))).await,
        )
        .await,
    );
    cases.push(
        case(
            "bad output_format",
            post(
                &url,
                Some(KEY),
                &g(json!({"prompt": "x", "output_format": "gif"})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "bad background",
            post(
                &url,
                Some(KEY),
                &g(json!({"prompt": "x", "background": "white"})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "transparent jpeg",
            post(
                &url,
                Some(KEY),
                &g(json!({"prompt": "x", "background": "transparent", "output_format": "jpeg"})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "compression on png",
            post(
                &url,
                Some(KEY),
                &g(json!({"prompt": "x", "output_compression": 50})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "bad moderation",
            post(
                &url,
                Some(KEY),
                &g(json!({"prompt": "x", "moderation": "high"})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "stream",
            post(&url, Some(KEY), &g(json!({"prompt": "x", "stream": true}))).await,
        )
        .await,
    );
    cases.push(
        case(
            "insufficient quota",
            post(&url, Some("sim-key-no-credits"), &g(json!({"prompt": "x"}))).await,
        )
        .await,
    );
    cases.push(
        case(
            "edit without image",
            send_edit(&sim, Some(KEY), edit_form(0, "image", &[("prompt", "p")])).await,
        )
        .await,
    );
    cases.push(
        case(
            "edit with 17 images",
            send_edit(
                &sim,
                Some(KEY),
                edit_form(17, "image[]", &[("prompt", "p")]),
            )
            .await,
        )
        .await,
    );
    let not_image = Form::new().text("prompt", "p").part(
        "image",
        Part::bytes(b"GIF89a....".to_vec()).file_name("a.gif"),
    );
    cases.push(
        case(
            "edit with a gif",
            send_edit(&sim, Some(KEY), not_image).await,
        )
        .await,
    );
    let bad_mask = edit_form(1, "image", &[("prompt", "p")]).part(
        "mask",
        Part::bytes(vec![0xFF, 0xD8, 0xFF, 0]).file_name("m.jpg"),
    );
    cases.push(
        case(
            "edit with a jpeg mask",
            send_edit(&sim, Some(KEY), bad_mask).await,
        )
        .await,
    );
    cases.push(
        case(
            "edit with bad fidelity",
            send_edit(
                &sim,
                Some(KEY),
                edit_form(1, "image", &[("prompt", "p"), ("input_fidelity", "max")]),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "edit with moderation",
            send_edit(
                &sim,
                Some(KEY),
                edit_form(1, "image", &[("prompt", "p"), ("moderation", "low")]),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "edit with bad n",
            send_edit(
                &sim,
                Some(KEY),
                edit_form(1, "image", &[("prompt", "p"), ("n", "two")]),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "edit as json",
            post(
                &format!("{}/images/edits", sim.openai_url()),
                Some(KEY),
                r#"{"prompt":"p"}"#,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown route",
            get(&format!("{}/models", sim.openai_url()), Some(KEY)).await,
        )
        .await,
    );
    insta::assert_json_snapshot!("openai_errors", cases);
    let e = sim.ledger().entry("openai", KEY).cloned().unwrap();
    assert_eq!(
        (e.creates_accepted, e.credits_charged, e.errors_sent),
        (0, 0, 25)
    );
}
