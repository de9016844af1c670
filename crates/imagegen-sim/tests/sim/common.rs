//! Helpers shared by the tests.

use std::time::{Duration, Instant};

use imagegen_sim::{Sim, SimConfig, SimHandle};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// The default key.
pub const KEY: &str = "sim-key";

/// The Runbase seed page's body, unchanged.
pub const RUNBASE_SEED_BODY: &str = r#"{
    "model": "openai/gpt-image-1.5",
    "input": { "prompt": "A cinematic product photo of a ceramic lamp" }
  }"#;

/// The gptimage15 seed page's text-to-image body, unchanged.
pub const GPT_SEED_BODY: &str = r#"{
"prompt": "A serene mountain landscape...",
"size": "1536*1024",
"quality": "high"
}"#;

/// The gptimage15 seed page's image-to-image body, unchanged.
pub const GPT_SEED_EDIT_BODY: &str = r#"{
"prompt": "Add a rainbow in the sky",
"images": [
"https://example.com/landscape.jpg"
],
"input_fidelity": "high",
"quality": "medium"
}"#;

/// A sim with the fast profile.
pub async fn fast() -> SimHandle {
    Sim::start(SimConfig::fast()).await.expect("sim starts")
}

/// A sim with `config`.
pub async fn start(config: SimConfig) -> SimHandle {
    Sim::start(config).await.expect("sim starts")
}

/// A client that never uses a proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// An answer: status, headers, JSON body (`Value::String` of the raw text when not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub async fn from(resp: reqwest::Response) -> Answer {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    /// `{status, body}` for snapshots.
    pub fn shape(&self) -> Value {
        json!({ "status": self.status.as_u16(), "body": self.body })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// POSTs a raw body with an optional key.
pub async fn post(url: &str, key: Option<&str>, body: &str) -> Answer {
    let mut req = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    Answer::from(req.send().await.expect("send")).await
}

/// GETs with an optional key.
pub async fn get(url: &str, key: Option<&str>) -> Answer {
    let mut req = client().get(url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    Answer::from(req.send().await.expect("send")).await
}

/// Polls a runbase run until it is `succeeded` or `failed`; returns every status seen and the last answer.
pub async fn poll_runbase(sim: &SimHandle, id: &str, key: &str) -> (Vec<String>, Answer) {
    let url = format!("{}/runs/{id}", sim.runbase_url());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let a = get(&url, Some(key)).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let status = a.body["status"].as_str().unwrap_or("?").to_string();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "succeeded" || status == "failed" {
            return (seen, a);
        }
        assert!(Instant::now() < deadline, "run never finished: {seen:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls a gptimage15 task on `path` (`status` or `v2/status`) until done.
pub async fn poll_gpt(sim: &SimHandle, id: &str, path: &str) -> (Vec<Value>, Answer) {
    let url = format!("{}/{path}?task_id={id}", sim.gptimage15_url());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen: Vec<Value> = Vec::new();
    loop {
        let a = get(&url, Some(KEY)).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let status = a.body["data"]["status"].clone();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        let done = [json!("SUCCESS"), json!("FAILED"), json!(1), json!(-1)];
        if done.contains(&status) {
            return (seen, a);
        }
        assert!(Instant::now() < deadline, "task never finished: {seen:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Downloads a file URL; checks it is a PNG and returns its pixel size.
pub async fn download_png(url: &str) -> (u32, u32) {
    assert!(url.starts_with("http://127.0.0.1:"), "loopback only: {url}");
    let resp = client().get(url).send().await.expect("download");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap(),
        "image/png"
    );
    let bytes = resp.bytes().await.expect("bytes");
    png_size(&bytes)
}

/// Decodes a PNG fully and returns its size.
pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png data");
    (info.width, info.height)
}

/// A small valid PNG (for edit uploads).
pub fn tiny_png() -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 2, 2);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().unwrap();
    w.write_image_data(&[255; 16]).unwrap();
    w.finish().unwrap();
    out
}

/// Sends `method url` with extra headers and an optional JSON body.
pub async fn send(
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let mut req = client().request(method, url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    Answer::from(req.send().await.expect("send")).await
}

/// One webhook delivery as received.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub headers: std::collections::HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Delivered {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }
}

/// A webhook receiver on loopback that keeps headers and raw bodies.
#[derive(Clone, Default)]
pub struct Hooks {
    got: std::sync::Arc<std::sync::Mutex<Vec<Delivered>>>,
    fail_first: std::sync::Arc<std::sync::Mutex<u32>>,
}

async fn hook_handler(
    axum::extract::State(h): axum::extract::State<Hooks>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    {
        let mut fail = h.fail_first.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
        }
    }
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    h.got.lock().unwrap().push(Delivered {
        headers,
        body: body.to_vec(),
    });
    axum::http::StatusCode::OK
}

/// Starts a receiver; the first `fail_first` deliveries get a 500.
pub async fn hooks(fail_first: u32) -> (String, Hooks) {
    let h = Hooks {
        fail_first: std::sync::Arc::new(std::sync::Mutex::new(fail_first)),
        ..Default::default()
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook_handler))
        .with_state(h.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, h)
}

impl Hooks {
    /// Waits (up to 10 s) until `n` deliveries arrived; returns them all.
    pub async fn wait(&self, n: usize) -> Vec<Delivered> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "webhooks not delivered: {got:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// What arrived so far.
    pub fn received(&self) -> Vec<Delivered> {
        self.got.lock().unwrap().clone()
    }
}

/// Decodes a PNG, JPEG or WebP and returns its size.
pub fn image_size(bytes: &[u8]) -> (u32, u32) {
    let img = image::load_from_memory(bytes).expect("a decodable image");
    (img.width(), img.height())
}

/// Downloads an image URL (loopback only); returns its content type and bytes.
pub async fn download(url: &str) -> (String, Vec<u8>) {
    assert!(url.starts_with("http://127.0.0.1:"), "loopback only: {url}");
    let resp = client().get(url).send().await.expect("download");
    assert_eq!(resp.status(), StatusCode::OK, "{url}");
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    (ct, resp.bytes().await.unwrap().to_vec())
}
