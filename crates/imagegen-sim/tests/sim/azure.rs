//! Azure OpenAI: generations and edits on deployment and v1 routes, auth,
//! api-version, deployments, webp, content filter, quota, faults.

use std::time::Duration;

use base64::Engine;
use imagegen_sim::images::{ImageFormat, ImageSize, ImageSpec, render};
use imagegen_sim::{FaultConfig, SimConfig, SimHandle};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::common::*;

const VERSION: &str = "2025-04-01-preview";
const KEY_HEADER: (&str, &str) = ("api-key", "sim-key");

fn gen_url(sim: &SimHandle, deployment: &str) -> String {
    format!(
        "{}/openai/deployments/{deployment}/images/generations?api-version={VERSION}",
        sim.azure_url()
    )
}

fn edit_url(sim: &SimHandle, deployment: &str) -> String {
    format!(
        "{}/openai/deployments/{deployment}/images/edits?api-version={VERSION}",
        sim.azure_url()
    )
}

async fn generate(sim: &SimHandle, body: &Value) -> Answer {
    send(
        Method::POST,
        &gen_url(sim, "gpt-image-1.5"),
        &[KEY_HEADER],
        Some(&body.to_string()),
    )
    .await
}

fn decoded(a: &Answer) -> Vec<Vec<u8>> {
    a.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            base64::engine::general_purpose::STANDARD
                .decode(d["b64_json"].as_str().unwrap())
                .unwrap()
        })
        .collect()
}

fn decoded_sizes(a: &Answer) -> Vec<(u32, u32)> {
    decoded(a).iter().map(|b| image_size(b)).collect()
}

#[tokio::test]
async fn generations_at_every_size_and_quality() {
    let sim = start(SimConfig::fast().azure_rate_limit(0, Duration::from_secs(60))).await;
    let mut first = None;
    for (size, quality, dims) in [
        ("1024x1024", "low", (1024, 1024)),
        ("1536x1024", "medium", (1536, 1024)),
        ("1024x1536", "high", (1024, 1536)),
        ("auto", "auto", (1024, 1024)),
    ] {
        let a = generate(
            &sim,
            &json!({"model": "whatever-the-url-decides", "prompt": format!("a lamp {size}"),
                    "size": size, "quality": quality}),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(decoded_sizes(&a), [dims]);
        assert!(a.header("apim-request-id").is_some());
        first.get_or_insert(a.body);
    }
    insta::assert_json_snapshot!("azure_generation", first.unwrap(), {
        ".created" => "[time]", ".data[].b64_json" => "[base64]"
    });
    let a = generate(&sim, &json!({"prompt": "three jpegs", "n": 3, "output_format": "jpeg", "output_compression": 50})).await;
    assert_eq!(decoded_sizes(&a), [(1024, 1024); 3]);
    let e = sim.ledger().entry("azure", KEY).cloned().unwrap();
    assert_eq!((e.creates_charged, e.credits_charged), (5, 7));
}

#[tokio::test]
async fn images_show_the_request() {
    let sim = fast().await;
    let prompt = "two jpeg lamps";
    let a = generate(
        &sim,
        &json!({"prompt": prompt, "n": 2, "size": "1024x1536", "quality": "low",
                "output_format": "jpeg"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // The request id the answer carries is the id the images show.
    let request_id = a.header("x-request-id").unwrap();
    assert_eq!(a.header("apim-request-id"), Some(request_id));
    let spec = ImageSpec::new("azure", request_id, prompt, ImageSize::Portrait)
        .quality("low")
        .format(ImageFormat::Jpeg);
    assert_eq!(
        decoded(&a),
        [render(&spec.clone().index(0, 2)), render(&spec.index(1, 2))]
    );
    // Transparent PNG.
    let a = generate(
        &sim,
        &json!({"prompt": "glass", "background": "transparent", "quality": "high"}),
    )
    .await;
    let request_id = a.header("x-request-id").unwrap();
    let spec = ImageSpec::new("azure", request_id, "glass", ImageSize::Square)
        .quality("high")
        .transparent(true);
    assert_eq!(decoded(&a), [render(&spec)]);
}

#[tokio::test]
async fn edits_take_multipart_or_json_and_the_v1_routes_work() {
    let sim = fast().await;
    let png = tiny_png();
    let form = reqwest::multipart::Form::new()
        .part(
            "image[]",
            reqwest::multipart::Part::bytes(png.clone()).file_name("a.png"),
        )
        .part(
            "image[]",
            reqwest::multipart::Part::bytes(png.clone()).file_name("b.png"),
        )
        .part(
            "mask",
            reqwest::multipart::Part::bytes(png.clone()).file_name("m.png"),
        )
        .text("prompt", "put them together")
        .text("size", "1536x1024")
        .text("input_fidelity", "high");
    let a = Answer::from(
        client()
            .post(edit_url(&sim, "gpt-image-1.5"))
            .header("Api-Key", "sim-key")
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(decoded_sizes(&a), [(1536, 1024)]);
    assert_eq!(a.body["usage"]["input_tokens_details"]["image_tokens"], 646);
    // The image counts the two references (the mask is not one).
    let request_id = a.header("x-request-id").unwrap();
    let spec = ImageSpec::new(
        "azure",
        request_id,
        "put them together",
        ImageSize::Landscape,
    )
    .references(2);
    assert_eq!(decoded(&a), [render(&spec)]);
    // The 04/2025 reference's JSON edit, base64 image.
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    let j = send(
        Method::POST,
        &edit_url(&sim, "gpt-image-1.5"),
        &[KEY_HEADER],
        Some(&json!({"prompt": "bluer", "image": b64, "size": "1024x1536"}).to_string()),
    )
    .await;
    assert_eq!(j.status, StatusCode::OK, "{}", j.body);
    assert_eq!(decoded_sizes(&j), [(1024, 1536)]);
    // v1: the deployment is the body's model; an Entra token is any accepted key.
    let v1 = send(
        Method::POST,
        &format!("{}/openai/v1/images/generations", sim.azure_url()),
        &[
            ("authorization", "Bearer sim-key"),
            ("api_version", "preview"),
        ],
        Some(r#"{"model": "gpt-image-1.5", "prompt": "v1"}"#),
    )
    .await;
    assert_eq!(v1.status, StatusCode::OK, "{}", v1.body);
    let form = reqwest::multipart::Form::new()
        .part(
            "image",
            reqwest::multipart::Part::bytes(png).file_name("a.png"),
        )
        .text("model", "gpt-image-1.5")
        .text("prompt", "v1 edit");
    let v1e = Answer::from(
        client()
            .post(format!("{}/openai/v1/images/edits", sim.azure_url()))
            .bearer_auth("sim-key")
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v1e.status, StatusCode::OK, "{}", v1e.body);
}

async fn case(name: &str, a: Answer) -> Value {
    json!({ "case": name, "status": a.status.as_u16(), "body": a.body,
            "retry_after": a.header("retry-after") })
}

#[tokio::test]
async fn every_documented_error() {
    let sim = start(SimConfig::fast().azure_rate_limit(0, Duration::from_secs(60))).await;
    let base = format!(
        "{}/openai/deployments/gpt-image-1.5/images/generations",
        sim.azure_url()
    );
    let ok = r#"{"prompt": "a lamp"}"#;
    let p = |url: String, headers: &'static [(&'static str, &'static str)], body: &'static str| async move {
        send(Method::POST, &url, headers, Some(body)).await
    };
    let good = format!("{base}?api-version={VERSION}");
    let mut cases = Vec::new();
    cases.push(case("no key", p(good.clone(), &[], ok).await).await);
    cases.push(
        case(
            "wrong api-key",
            p(good.clone(), &[("api-key", "nope")], ok).await,
        )
        .await,
    );
    cases.push(
        case(
            "wrong entra token",
            p(good.clone(), &[("authorization", "Bearer nope")], ok).await,
        )
        .await,
    );
    cases.push(
        case(
            "ip not allowed",
            p(good.clone(), &[("api-key", "sim-key-ip-not-allowed")], ok).await,
        )
        .await,
    );
    cases.push(case("no api-version", p(base.clone(), &[KEY_HEADER], ok).await).await);
    cases.push(
        case(
            "older api-version",
            p(format!("{base}?api-version=2024-10-21"), &[KEY_HEADER], ok).await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown api-version",
            p(format!("{base}?api-version=2025-13-99x"), &[KEY_HEADER], ok).await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown deployment",
            p(gen_url(&sim, "dall-e-3"), &[KEY_HEADER], ok).await,
        )
        .await,
    );
    cases.push(
        case(
            "webp",
            p(
                good.clone(),
                &[KEY_HEADER],
                r#"{"prompt": "x", "output_format": "webp"}"#,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "response_format",
            p(
                good.clone(),
                &[KEY_HEADER],
                r#"{"prompt": "x", "response_format": "url"}"#,
            )
            .await,
        )
        .await,
    );
    cases.push(case("missing prompt", p(good.clone(), &[KEY_HEADER], "{}").await).await);
    cases.push(
        case(
            "content filter",
            p(
                good.clone(),
                &[KEY_HEADER],
                r#"{"prompt": "sim:content-policy"}"#,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "server error",
            p(
                good.clone(),
                &[KEY_HEADER],
                r#"{"prompt": "sim:server-error"}"#,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "no credits",
            p(good.clone(), &[("api-key", "sim-key-no-credits")], ok).await,
        )
        .await,
    );
    cases.push(
        case(
            "v1 without model",
            p(
                format!("{}/openai/v1/images/generations", sim.azure_url()),
                &[KEY_HEADER],
                ok,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "v1 with a dated version",
            p(
                format!(
                    "{}/openai/v1/images/generations?api-version={VERSION}",
                    sim.azure_url()
                ),
                &[KEY_HEADER],
                ok,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "edit without image",
            p(
                edit_url(&sim, "gpt-image-1.5"),
                &[KEY_HEADER],
                r#"{"prompt": "x"}"#,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown route",
            p(
                format!("{}/openai/models", sim.azure_url()),
                &[KEY_HEADER],
                ok,
            )
            .await,
        )
        .await,
    );
    insta::assert_json_snapshot!("azure_errors", cases, { "[].body.created" => "[time]" });
    // Refusals charge nothing.
    let e = sim.ledger().entry("azure", KEY).cloned().unwrap();
    assert_eq!(
        (e.creates_accepted, e.creates_charged, e.credits_charged),
        (2, 0, 0)
    );
}

#[tokio::test]
async fn the_quota_is_per_deployment() {
    let sim = start(
        SimConfig::fast()
            .azure_deployment("second")
            .azure_rate_limit(3, Duration::from_secs(30)),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(
            generate(&sim, &json!({"prompt": "x"})).await.status,
            StatusCode::OK
        );
    }
    let limited = generate(&sim, &json!({"prompt": "x"})).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&secs), "{secs}");
    assert_eq!(
        limited.header("retry-after-ms"),
        Some(format!("{}", secs * 1000).as_str())
    );
    assert_eq!(limited.header("x-ratelimit-remaining-requests"), Some("0"));
    assert_eq!(limited.body["error"]["code"], "429");
    let other = send(
        Method::POST,
        &gen_url(&sim, "second"),
        &[KEY_HEADER],
        Some(r#"{"prompt": "x"}"#),
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
    let e = sim.ledger().entry("azure", KEY).cloned().unwrap();
    assert_eq!(
        (e.rate_limited, e.creates_charged, e.duplicate_creates),
        (1, 4, 2)
    );
}

#[tokio::test]
async fn default_quota_is_9_per_window() {
    let mut config = SimConfig::instant();
    assert_eq!(config.azure_rate_limit.requests, 9);
    assert_eq!(
        SimConfig::realistic().azure_rate_limit.window,
        Duration::from_secs(60)
    );
    // The fast profile's second, stretched so a loaded machine stays in one window.
    config.azure_rate_limit.window = Duration::from_secs(30);
    let sim = start(config).await;
    for _ in 0..9 {
        assert_eq!(
            generate(&sim, &json!({"prompt": "x", "quality": "low"}))
                .await
                .status,
            StatusCode::OK
        );
    }
    assert_eq!(
        generate(&sim, &json!({"prompt": "x"})).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn faults_strike_the_azure_routes() {
    let sim = start(SimConfig::fast().azure_rate_limit(0, Duration::from_secs(1))).await;
    let body = json!({"prompt": "a lamp"});
    sim.set_faults(FaultConfig {
        create_500: 1.0,
        ..Default::default()
    });
    let a = generate(&sim, &body).await;
    sim.set_faults(FaultConfig {
        burst_429: 1.0,
        burst_len: 1,
        ..Default::default()
    });
    let b = generate(&sim, &body).await;
    assert_eq!(
        (a.status, b.status),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::TOO_MANY_REQUESTS
        )
    );
    assert_eq!(b.header("retry-after"), Some("1"));
    insta::assert_json_snapshot!("azure_faults", json!([a.shape(), b.shape()]));
    sim.set_faults(FaultConfig {
        generation_failure: 1.0,
        ..Default::default()
    });
    let c = generate(&sim, &body).await;
    assert_eq!(c.body["error"]["code"], "contentFilter");
    sim.set_faults(FaultConfig {
        drop_after_accept: 1.0,
        ..Default::default()
    });
    for _ in 0..2 {
        let r = client()
            .post(gen_url(&sim, "gpt-image-1.5"))
            .header("api-key", "sim-key")
            .json(&body)
            .send()
            .await;
        assert!(r.is_err());
    }
    sim.set_faults(FaultConfig {
        malformed_json: 1.0,
        ..Default::default()
    });
    assert!(
        generate(&sim, &json!({"prompt": "cut"}))
            .await
            .body
            .is_string()
    );
    sim.set_faults(FaultConfig::default());
    let e = sim.ledger().entry("azure", KEY).cloned().unwrap();
    // Two dropped answers were paid for (the second a duplicate); the cut one too.
    assert_eq!((e.creates_charged, e.duplicate_creates), (3, 2));
}
