//! The OpenAI provider over real HTTP, against `imagegen-sim` on loopback
//! (and, for the exact bytes on the wire, a one-shot TCP listener on
//! loopback). No test reaches another host.

use std::time::Duration;

use bytes::Bytes;
use imagegen_core::{
    ApiKey, Aspect, ErrorKind, Fidelity, ImageOutput, ImageProvider, ImageRequest, ProviderConfig,
    Quality, ReferenceImage, TaskState, TaskStatus,
};
use imagegen_openai::OpenAi;
use imagegen_sim::{FaultConfig, Sim, SimConfig, SimHandle, magic};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn sim() -> SimHandle {
    Sim::start(SimConfig::fast())
        .await
        .expect("the simulator starts")
}

fn openai(sim: &SimHandle, key: &str) -> OpenAi {
    imagegen_test_support::provider(OpenAi::from_config, &sim.openai_url(), key)
}

/// The one image of a finished status: bytes, media type, revised prompt.
fn inline(output: &ImageOutput) -> (&Bytes, &str) {
    match output {
        ImageOutput::Inline {
            data, media_type, ..
        } => (data, media_type.as_str()),
        other => panic!("expected inline bytes, got {other:?}"),
    }
}

fn png_size(data: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(data));
    let reader = decoder.read_info().expect("a valid PNG");
    (reader.info().width, reader.info().height)
}

fn tiny_png() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, 4, 4);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&[200u8; 4 * 4 * 4]).unwrap();
    }
    out
}

fn succeeded(status: &TaskStatus) {
    assert_eq!(status.state, TaskState::Succeeded);
    assert!(status.task_id.starts_with("openai-"), "{}", status.task_id);
    assert_eq!(status.credits, None);
}

#[tokio::test]
async fn every_aspect_renders_at_its_size() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    let cases = [
        // Nothing sent: OpenAI's `auto` (the sim answers square).
        (None, (1024, 1024)),
        (Some(Aspect::Square), (1024, 1024)),
        (Some(Aspect::Portrait), (1024, 1536)),
        (Some(Aspect::Landscape), (1536, 1024)),
    ];
    for (aspect, size) in cases {
        let mut request = ImageRequest::new("A ceramic lamp").quality(Quality::Low);
        request.aspect = aspect;
        let status = provider.submit(&request).await.unwrap();
        succeeded(&status);
        assert_eq!(status.outputs.len(), 1);
        let (data, media_type) = inline(&status.outputs[0]);
        assert_eq!(media_type, "image/png");
        assert_eq!(png_size(data), size, "{aspect:?}");
    }
    let totals = sim.ledger().totals("openai");
    assert_eq!(totals.creates_accepted, 4);
    assert_eq!(totals.duplicate_creates, 0);
}

#[tokio::test]
async fn every_quality_is_sent_and_reported_in_usage() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    // Output tokens of one square image by quality (OpenAI's published
    // figures, which the sim reports); `auto` and unset answer `medium`.
    let cases = [
        (None, 1056),
        (Some(Quality::Low), 272),
        (Some(Quality::Medium), 1056),
        (Some(Quality::High), 4160),
        (Some(Quality::Auto), 1056),
    ];
    for (quality, output_tokens) in cases {
        let mut request = ImageRequest::new("A ceramic lamp").aspect(Aspect::Square);
        request.quality = quality;
        let status = provider.submit(&request).await.unwrap();
        succeeded(&status);
        let usage = status.usage.expect("usage is reported");
        assert_eq!(usage.output_tokens, output_tokens, "{quality:?}");
        assert_eq!(usage.input_tokens, 4, "ceil(14 chars / 4)");
        assert_eq!(usage.total_tokens, usage.input_tokens + usage.output_tokens);
        assert_eq!(png_size(inline(&status.outputs[0]).0), (1024, 1024));
    }
}

#[tokio::test]
async fn jpeg_and_webp_through_provider_options() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    for (format, media_type, magic_ok) in [
        (
            "jpeg",
            "image/jpeg",
            (|b: &[u8]| b.starts_with(&[0xFF, 0xD8, 0xFF])) as fn(&[u8]) -> bool,
        ),
        ("webp", "image/webp", |b: &[u8]| {
            b.len() > 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP"
        }),
        ("png", "image/png", |b: &[u8]| {
            b.starts_with(b"\x89PNG\r\n\x1a\n")
        }),
    ] {
        let request = ImageRequest::new("A ceramic lamp")
            .quality(Quality::Low)
            .provider_option("openai", "output_format", serde_json::json!(format));
        let status = provider.submit(&request).await.unwrap();
        let (data, got) = inline(&status.outputs[0]);
        assert_eq!(got, media_type);
        assert!(magic_ok(data), "{format}: bytes do not match");
    }
    // Compression is passed through for jpeg.
    let request = ImageRequest::new("A ceramic lamp")
        .provider_option("openai", "output_format", serde_json::json!("jpeg"))
        .provider_option("openai", "output_compression", serde_json::json!(50));
    let status = provider.submit(&request).await.unwrap();
    assert_eq!(inline(&status.outputs[0]).1, "image/jpeg");
}

#[tokio::test]
async fn n_two_is_one_request_with_two_images() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    let status = provider
        .submit(
            &ImageRequest::new("Two lamps")
                .aspect(Aspect::Landscape)
                .count(2),
        )
        .await
        .unwrap();
    succeeded(&status);
    assert_eq!(status.outputs.len(), 2);
    for output in &status.outputs {
        assert_eq!(png_size(inline(output).0), (1536, 1024));
    }
    let entry = sim.ledger().entry("openai", "sim-key").cloned().unwrap();
    assert_eq!(entry.creates_accepted, 1);
    assert_eq!(entry.credits_charged, 2, "1 credit per image");
}

#[tokio::test]
async fn an_edit_uploads_two_inline_references() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    let png = Bytes::from(tiny_png());
    let request = ImageRequest::new("Put both lamps on one table")
        .aspect(Aspect::Portrait)
        .quality(Quality::Low)
        .input_fidelity(Fidelity::High)
        .reference(ReferenceImage::Inline {
            file_name: "left.png".into(),
            data: png.clone(),
        })
        .reference(ReferenceImage::Inline {
            file_name: "right.png".into(),
            data: png,
        });
    let status = provider.submit(&request).await.unwrap();
    succeeded(&status);
    assert_eq!(status.outputs.len(), 1);
    assert_eq!(png_size(inline(&status.outputs[0]).0), (1024, 1536));
    // The sim counts 323 input image tokens per uploaded image: both arrived.
    let usage = status.usage.unwrap();
    assert_eq!(
        usage.input_tokens,
        2 * 323 + 7,
        "two images + ceil(27 chars / 4)"
    );
    let entry = sim.ledger().entry("openai", "sim-key").cloned().unwrap();
    assert_eq!(entry.creates_accepted, 1);
    assert_eq!(entry.errors_sent, 0);
}

#[tokio::test]
async fn a_local_file_reference_is_read_as_a_fallback() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lamp.png");
    std::fs::write(&path, tiny_png()).unwrap();
    let status = provider
        .submit(&ImageRequest::new("Make it blue").reference(ReferenceImage::File(path)))
        .await
        .unwrap();
    succeeded(&status);
    assert_eq!(status.usage.unwrap().input_tokens, 323 + 3);

    let missing = dir.path().join("missing.png");
    let err = provider
        .submit(&ImageRequest::new("x").reference(ReferenceImage::File(missing)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("missing.png"), "{err}");
}

#[tokio::test]
async fn a_url_reference_is_refused_before_sending() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    let err = provider
        .submit(
            &ImageRequest::new("x")
                .reference(ReferenceImage::Url("https://images.invalid/a.png".into())),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(!err.may_have_reached_server());
    assert!(err.to_string().contains("Client"), "{err}");
    let totals = sim.ledger().totals("openai");
    assert_eq!(totals.creates_accepted + totals.errors_sent, 0);
}

#[tokio::test]
async fn a_bad_key_is_unauthorized_and_never_shown() {
    let sim = sim().await;
    let key = "sk-proj-not-a-real-key-1234567890";
    let provider = openai(&sim, key);
    assert!(!format!("{provider:?}").contains(key));
    let err = provider
        .submit(&ImageRequest::new("A ceramic lamp"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(err.http_status(), Some(401));
    assert_eq!(err.code(), Some("invalid_api_key"));
    assert!(!err.is_retryable());
    assert!(!err.may_have_reached_server());
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("OPENAI_API_KEY"), "{shown}");
    assert!(!shown.contains(key), "{shown}");
}

#[tokio::test]
async fn an_empty_account_is_quota_exhausted() {
    let sim = sim().await;
    let provider = openai(&sim, magic::NO_CREDITS);
    let err = provider
        .submit(&ImageRequest::new("A ceramic lamp"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExhausted);
    assert_eq!(err.code(), Some("insufficient_quota"));
    assert!(!err.is_retryable());
    assert!(err.hint().unwrap().contains("billing"));
    let entry = sim.ledger().entry("openai", magic::NO_CREDITS).cloned();
    assert_eq!(entry.map(|e| e.credits_charged), Some(0));
}

#[tokio::test]
async fn an_unknown_parameter_is_an_invalid_request_naming_it() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    let request = ImageRequest::new("A ceramic lamp").provider_option(
        "openai",
        "response_format",
        serde_json::json!("b64_json"),
    );
    let err = provider.submit(&request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(err.http_status(), Some(400));
    assert_eq!(err.code(), Some("unknown_parameter"));
    assert!(err.message().contains("'response_format'"), "{err}");
    assert!(!err.is_retryable());
    assert!(!err.may_have_reached_server());
    // The same through an edit's text fields.
    let request = request.reference(ReferenceImage::Inline {
        file_name: "a.png".into(),
        data: tiny_png().into(),
    });
    let err = provider.submit(&request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.message().contains("response_format"), "{err}");
    assert_eq!(sim.ledger().totals("openai").creates_accepted, 0);
}

#[tokio::test]
async fn a_bad_option_value_names_the_parameter() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    let err = provider
        .submit(&ImageRequest::new("A ceramic lamp").provider_option(
            "openai",
            "output_format",
            serde_json::json!("gif"),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.to_string().contains("output_format"), "{err}");
}

#[tokio::test]
async fn a_429_burst_is_rate_limited_with_retry_after() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        burst_429: 1.0,
        ..FaultConfig::default()
    });
    let provider = openai(&sim, "sim-key");
    let err = provider
        .submit(&ImageRequest::new("A ceramic lamp"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.code(), Some("rate_limit_exceeded"));
    assert!(err.is_retryable());
    assert!(!err.may_have_reached_server());
    assert_eq!(err.retry_after(), Some(Duration::from_millis(1000)));
    let totals = sim.ledger().totals("openai");
    assert_eq!(totals.rate_limited, 1);
    assert_eq!(totals.creates_accepted, 0);
}

#[tokio::test]
async fn a_500_is_retryable_but_may_have_been_billed() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        create_500: 1.0,
        ..FaultConfig::default()
    });
    let err = openai(&sim, "sim-key")
        .submit(&ImageRequest::new("A ceramic lamp"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(err.is_retryable());
    assert!(err.may_have_reached_server());
}

#[tokio::test]
async fn a_moderation_block_is_a_failed_generation() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        generation_failure: 1.0,
        ..FaultConfig::default()
    });
    let err = openai(&sim, "sim-key")
        .submit(&ImageRequest::new("A ceramic lamp"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GenerationFailed);
    assert_eq!(err.code(), Some("moderation_blocked"));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_garbled_answer_is_a_decode_error_that_may_have_been_billed() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        malformed_json: 1.0,
        ..FaultConfig::default()
    });
    let err = openai(&sim, "sim-key")
        .submit(&ImageRequest::new("A ceramic lamp").quality(Quality::Low))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(!err.is_retryable());
    assert!(err.may_have_reached_server());
    assert_eq!(sim.ledger().totals("openai").credits_charged, 1);
}

#[tokio::test]
async fn a_dropped_connection_after_acceptance_is_ambiguous() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        drop_after_accept: 1.0,
        ..FaultConfig::default()
    });
    let err = openai(&sim, "sim-key")
        .submit(&ImageRequest::new("A ceramic lamp").quality(Quality::Low))
        .await
        .unwrap_err();
    assert!(err.may_have_reached_server(), "{err:?}");
    assert_eq!(sim.ledger().totals("openai").creates_charged, 1);
}

#[tokio::test]
async fn status_sends_nothing_because_the_api_is_synchronous() {
    let sim = sim().await;
    let err = openai(&sim, "sim-key")
        .status("openai-1700000000-0123456789abcdef")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotImplemented);
    assert_eq!(err.task_id(), Some("openai-1700000000-0123456789abcdef"));
    assert!(err.to_string().contains("synchronous"), "{err}");
    assert!(sim.ledger().entries.is_empty(), "no request was sent");
}

#[tokio::test]
async fn other_models_are_sent_and_unknown_ones_refused_before_sending() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key").with_model("gpt-image-1-mini");
    let status = provider
        .submit(&ImageRequest::new("A ceramic lamp").quality(Quality::Low))
        .await
        .unwrap();
    succeeded(&status);
    let err = openai(&sim, "sim-key")
        .with_model("dall-e-3")
        .submit(&ImageRequest::new("A ceramic lamp"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.to_string().contains("gpt-image-1.5"), "{err}");
    assert_eq!(sim.ledger().totals("openai").creates_accepted, 1);
}

#[test]
fn capabilities_and_constructors() {
    let caps = OpenAi::default_capabilities();
    assert_eq!(caps.mode, imagegen_core::capabilities::Mode::Sync);
    assert_eq!(
        caps.reference_input,
        imagegen_core::capabilities::ReferenceInput::Uploads
    );
    assert_eq!(caps.max_reference_images, 16);
    assert_eq!(caps.max_images_per_request, 10);
    assert_eq!(caps.max_prompt_chars, 32_000);
    assert!(caps.input_fidelity && !caps.webhooks);
    assert_eq!(caps.rate_limit, None);
    assert_eq!(caps.request_timeout, Duration::from_secs(600));

    let provider = OpenAi::from_config(
        ProviderConfig::new()
            .api_key(ApiKey::new("sk-secret-value"))
            .base_url("http://127.0.0.1:9/v1/"),
    )
    .unwrap();
    assert_eq!(provider.base_url(), "http://127.0.0.1:9/v1");
    assert_eq!(provider.name(), "openai");
    let debug = format!("{provider:?}");
    assert!(!debug.contains("sk-secret-value"), "{debug}");
}

// --- The exact request on the wire -----------------------------------------

/// One request as a loopback listener received it.
struct Captured {
    head: String,
    body: Vec<u8>,
}

impl Captured {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Accepts one connection on loopback, reads one request (with a
/// `content-length` body), answers `response_body` with 200, and returns
/// what it read.
async fn capture_one(response_body: &'static str) -> (String, tokio::task::JoinHandle<Captured>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection closed before the headers ended");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let captured = Captured {
            head,
            body: Vec::new(),
        };
        let len: usize = captured
            .header("content-length")
            .expect("a content-length body")
            .parse()
            .unwrap();
        while buf.len() < head_end + len {
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection closed inside the body");
            buf.extend_from_slice(&chunk[..n]);
        }
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
            response_body.len(),
            response_body
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
        socket.shutdown().await.ok();
        Captured {
            body: buf[head_end..head_end + len].to_vec(),
            ..captured
        }
    });
    (url, task)
}

const ONE_IMAGE: &str = r#"{"created":1700000000,"data":[{"b64_json":"iVBORw0KGgo=","revised_prompt":"a lamp, revised"}],"output_format":"png"}"#;

fn wire_provider(url: String) -> OpenAi {
    imagegen_test_support::provider(OpenAi::from_config, &url, "sk-wire-test")
        .with_organization("org-123")
        .with_project("proj_456")
}

#[tokio::test]
async fn a_generation_is_one_json_post_with_auth_and_org_headers() {
    let (url, server) = capture_one(ONE_IMAGE).await;
    let status = wire_provider(url)
        .submit(
            &ImageRequest::new("A ceramic lamp")
                .aspect(Aspect::Landscape)
                .quality(Quality::High)
                .count(3),
        )
        .await
        .unwrap();
    let seen = server.await.unwrap();
    assert!(
        seen.head
            .starts_with("POST /v1/images/generations HTTP/1.1\r\n"),
        "{}",
        seen.head
    );
    assert_eq!(seen.header("authorization"), Some("Bearer sk-wire-test"));
    assert_eq!(seen.header("openai-organization"), Some("org-123"));
    assert_eq!(seen.header("openai-project"), Some("proj_456"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "model": "gpt-image-1.5",
            "prompt": "A ceramic lamp",
            "n": 3,
            "size": "1536x1024",
            "quality": "high",
        })
    );
    match &status.outputs[..] {
        [
            ImageOutput::Inline {
                data,
                media_type,
                revised_prompt,
            },
        ] => {
            assert_eq!(&data[..], b"\x89PNG\r\n\x1a\n");
            assert_eq!(media_type, "image/png");
            assert_eq!(revised_prompt.as_deref(), Some("a lamp, revised"));
        }
        other => panic!("{other:?}"),
    }
    assert!(status.task_id.starts_with("openai-1700000000-"));
}

#[tokio::test]
async fn an_edit_is_one_multipart_post_with_image_parts() {
    let (url, server) = capture_one(ONE_IMAGE).await;
    let png = tiny_png();
    let jpeg = b"\xff\xd8\xff\xe0 not really a jpeg".to_vec();
    wire_provider(url)
        .submit(
            &ImageRequest::new("Add a rainbow")
                .aspect(Aspect::Square)
                .input_fidelity(Fidelity::Low)
                .provider_option("openai", "output_compression", serde_json::json!(70))
                .reference(ReferenceImage::Inline {
                    file_name: "sky.png".into(),
                    data: png.clone().into(),
                })
                .reference(ReferenceImage::Inline {
                    file_name: "hill.jpg".into(),
                    data: jpeg.clone().into(),
                }),
        )
        .await
        .unwrap();
    let seen = server.await.unwrap();
    assert!(
        seen.head.starts_with("POST /v1/images/edits HTTP/1.1\r\n"),
        "{}",
        seen.head
    );
    assert_eq!(seen.header("authorization"), Some("Bearer sk-wire-test"));
    let content_type = seen.header("content-type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("{content_type}"));
    // Split the body into parts, each (part headers, content as text).
    let delimiter = format!("--{boundary}");
    let text = String::from_utf8_lossy(&seen.body).into_owned();
    let parts: Vec<(&str, &str)> = text
        .split(delimiter.as_str())
        .filter_map(|part| part.split_once("\r\n\r\n"))
        .map(|(headers, content)| (headers.trim(), content.trim_end_matches("\r\n")))
        .collect();
    let text_fields: Vec<String> = parts
        .iter()
        .filter(|(headers, _)| !headers.contains("filename="))
        .map(|(headers, content)| {
            let name = headers
                .split("name=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("a named part: {headers}"));
            format!("{name}={content}")
        })
        .collect();
    assert_eq!(
        text_fields,
        [
            "input_fidelity=low",
            "model=gpt-image-1.5",
            "output_compression=70",
            "prompt=Add a rainbow",
            "size=1024x1024",
        ]
    );
    let files: Vec<&str> = parts
        .iter()
        .map(|(headers, _)| *headers)
        .filter(|headers| headers.contains("filename="))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files[0].contains(r#"name="image[]"; filename="sky.png""#),
        "{}",
        files[0]
    );
    assert!(files[0].contains("Content-Type: image/png"), "{}", files[0]);
    assert!(
        files[1].contains(r#"name="image[]"; filename="hill.jpg""#),
        "{}",
        files[1]
    );
    assert!(
        files[1].contains("Content-Type: image/jpeg"),
        "{}",
        files[1]
    );
    // The file bytes arrived whole.
    let body = &seen.body[..];
    assert!(
        body.windows(png.len()).any(|w| w == &png[..]),
        "the PNG bytes"
    );
    assert!(
        body.windows(jpeg.len()).any(|w| w == &jpeg[..]),
        "the JPEG bytes"
    );
}
