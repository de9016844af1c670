//! Downloads against a tiny axum server on loopback (real time: reqwest's
//! timers must not run on a paused clock).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::*;
use crate::request::{Aspect, ImageRequest, Quality, ReferenceImage};
use crate::testing::FAKE_PNG;

#[derive(Clone, Default)]
struct Seen {
    headers: Arc<Mutex<Vec<HeaderMap>>>,
    flaky: Arc<AtomicUsize>,
}

fn png() -> Vec<u8> {
    let mut bytes = FAKE_PNG.to_vec();
    bytes.extend(std::iter::repeat_n(7u8, 1000));
    bytes
}

async fn record(State(seen): State<Seen>, headers: HeaderMap) -> Vec<u8> {
    seen.headers.lock().unwrap().push(headers);
    png()
}

async fn flaky(State(seen): State<Seen>) -> Response {
    if seen.flaky.fetch_add(1, Ordering::SeqCst) == 0 {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    } else {
        png().into_response()
    }
}

/// Serves the test routes; returns the base URL and what the server saw.
async fn server() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/img.png", get(record))
        .route(
            "/redirect",
            get(|| async { Redirect::temporary("/img.png") }),
        )
        .route(
            "/expired.png",
            get(|| async { "<!DOCTYPE html><html><body>Link expired</body></html>" }),
        )
        .route("/big.png", get(|| async { vec![0u8; 4096] }))
        .route(
            "/big-chunked.png",
            get(|| async {
                let chunks = (0..8).map(|i| {
                    let chunk = if i == 0 { png() } else { vec![1u8; 1024] };
                    Ok::<_, std::io::Error>(chunk)
                });
                Body::from_stream(futures::stream::iter(chunks))
            }),
        )
        .route("/flaky.png", get(flaky))
        .route("/gone.png", get(|| async { StatusCode::NOT_FOUND }))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn generation_of(urls: &[String]) -> Generation {
    let request = ImageRequest::new("A cinematic product photo of a ceramic lamp")
        .aspect(Aspect::Portrait)
        .quality(Quality::High)
        .reference(ReferenceImage::Url(
            "https://example.invalid/ref.png".into(),
        ));
    let images = urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            GeneratedImage::new(format!("run_{i}"), 0, ImageOutput::Url { url: url.clone() })
        })
        .collect();
    Generation::for_tests("runbase", request, images, Some(10.0))
}

fn downloader() -> Downloader {
    Downloader::new()
        .with_jitter_seed(1)
        .with_retry_policy(RetryPolicy::default().with_base_delay(Duration::from_millis(10)))
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn saves_the_image_and_a_sidecar_atomically() {
    let (base, _) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let generation = generation_of(&[format!("{base}/img.png")]);
    let saved = downloader().save(&generation, dir.path()).await.unwrap();
    assert_eq!(saved.len(), 1);
    let image = &saved[0];
    assert_eq!(
        files_in(dir.path()),
        [
            "a-cinematic-product-photo-of-a-ceramic-lamp-run_0-0.json",
            "a-cinematic-product-photo-of-a-ceramic-lamp-run_0-0.png"
        ],
        "no temporary file left behind"
    );
    let bytes = std::fs::read(&image.path).unwrap();
    assert_eq!(bytes, png());
    assert_eq!(image.sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(image.media_type, "image/png");

    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&image.sidecar_path).unwrap()).unwrap();
    insta::assert_json_snapshot!("sidecar", sidecar, {
        ".created_at" => "[created_at]",
        ".source" => "[source]",
    });
    assert!(sidecar["source"].as_str().unwrap().ends_with("/img.png"));
    assert!(
        time::OffsetDateTime::parse(
            sidecar["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );
}

#[tokio::test]
async fn never_sends_an_authorization_header_even_through_redirects() {
    let (base, seen) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let generation = generation_of(&[format!("{base}/img.png"), format!("{base}/redirect")]);
    let saved = downloader().save(&generation, dir.path()).await.unwrap();
    assert_eq!(saved.len(), 2);
    let headers = seen.headers.lock().unwrap();
    assert_eq!(headers.len(), 2);
    for h in headers.iter() {
        assert!(h.get("authorization").is_none(), "{h:?}");
        assert!(h.get("proxy-authorization").is_none());
    }
}

#[tokio::test]
async fn an_html_page_is_refused_and_leaves_no_file() {
    let (base, _) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let generation = generation_of(&[format!("{base}/expired.png?sig=secret")]);
    let err = downloader()
        .save(&generation, dir.path())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(
        err.to_string().contains("is not a PNG, JPEG or WebP image"),
        "{err}"
    );
    assert!(err.to_string().contains("<!DOCTYPE html>"), "{err}");
    assert!(
        !err.to_string().contains("secret"),
        "signed query redacted: {err}"
    );
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn the_size_cap_holds_with_and_without_content_length() {
    let (base, _) = server().await;
    let dir = tempfile::tempdir().unwrap();
    for path in ["big.png", "big-chunked.png"] {
        let generation = generation_of(&[format!("{base}/{path}")]);
        let err = downloader()
            .with_max_bytes(3000)
            .save(&generation, dir.path())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("larger than the 3000-byte cap"),
            "{err}"
        );
        assert!(files_in(dir.path()).is_empty(), "{path}");
    }
}

#[tokio::test]
async fn names_never_collide_and_existing_files_are_untouched() {
    let (base, _) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let taken = dir.path().join("lamp.png");
    std::fs::write(&taken, b"mine").unwrap();
    let generation = generation_of(&[format!("{base}/img.png")]);
    let d = downloader();
    let first = d
        .save_image(&generation, &generation.images[0], dir.path(), Some("lamp"))
        .await
        .unwrap();
    let second = d
        .save_image(&generation, &generation.images[0], dir.path(), Some("lamp"))
        .await
        .unwrap();
    assert_eq!(first.path, dir.path().join("lamp-1.png"));
    assert_eq!(first.sidecar_path, dir.path().join("lamp-1.json"));
    assert_eq!(second.path, dir.path().join("lamp-2.png"));
    assert_eq!(std::fs::read(&taken).unwrap(), b"mine");
    let all = d.save(&generation, dir.path()).await.unwrap();
    let again = d.save(&generation, dir.path()).await.unwrap();
    assert_ne!(all[0].path, again[0].path);
}

#[tokio::test]
async fn transient_failures_are_retried_and_404_is_not() {
    let (base, seen) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let generation = generation_of(&[format!("{base}/flaky.png")]);
    downloader().save(&generation, dir.path()).await.unwrap();
    assert_eq!(seen.flaky.load(Ordering::SeqCst), 2);

    let generation = generation_of(&[format!("{base}/gone.png")]);
    let err = downloader()
        .save(&generation, dir.path())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn inline_images_are_checked_hashed_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut generation = generation_of(&[]);
    generation.images.push(GeneratedImage::new(
        "openai-1",
        0,
        ImageOutput::Inline {
            data: Bytes::from(png()),
            media_type: "image/png".into(),
            revised_prompt: Some("a lamp, cinematic".into()),
        },
    ));
    generation.images.push(GeneratedImage::new(
        "openai-1",
        1,
        ImageOutput::Inline {
            data: Bytes::from_static(b"<html>no</html>"),
            media_type: "image/png".into(),
            revised_prompt: None,
        },
    ));
    let results = downloader().save_all(&generation, dir.path()).await;
    let saved = results[0].as_ref().unwrap();
    assert_eq!(saved.source, "inline");
    let sidecar: Sidecar =
        serde_json::from_slice(&std::fs::read(&saved.sidecar_path).unwrap()).unwrap();
    assert_eq!(sidecar.source, "inline");
    assert_eq!(sidecar.revised_prompt.as_deref(), Some("a lamp, cinematic"));
    assert_eq!(sidecar.sha256, saved.sha256);
    assert_eq!(results[1].as_ref().unwrap_err().kind(), ErrorKind::Decode);
    assert_eq!(
        files_in(dir.path()).len(),
        2,
        "only the good image and its sidecar"
    );
}

#[tokio::test]
async fn fetch_reads_reference_images_into_memory() {
    let (base, _) = server().await;
    let fetched = downloader()
        .fetch(&format!("{base}/img.png"))
        .await
        .unwrap();
    assert_eq!(fetched.bytes, png());
    assert_eq!(fetched.media_type, "image/png");
    assert!(
        downloader()
            .fetch(&format!("{base}/expired.png"))
            .await
            .is_err()
    );
}
