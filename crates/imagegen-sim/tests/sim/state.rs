//! Ids unique to each simulator, and the state dir: a simulator restarted on
//! the same folder answers the earlier one's tasks and goes on with its
//! ledger; one simulator per folder; nothing written without one.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use imagegen_sim::images::{ImageFormat, ImageSize, ImageSpec, prompt_lines, render};
use imagegen_sim::persist::{JOURNAL_FILE, LOCK_FILE};
use imagegen_sim::{LatencyProfile, Sim, SimConfig, SimHandle};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::common::*;

const FAL_AUTH: (&str, &str) = ("authorization", "Key sim-key");
const AZURE_AUTH: (&str, &str) = ("api-key", "sim-key");

fn fixed(queue_ms: u64, generate_ms: u64) -> LatencyProfile {
    LatencyProfile::Fixed {
        queue_ms,
        generate_ms,
    }
}

async fn runbase_create(sim: &SimHandle, prompt: &str) -> Answer {
    let body = json!({ "model": "openai/gpt-image-1.5", "input": { "prompt": prompt } });
    post(
        &format!("{}/runs", sim.runbase_url()),
        Some(KEY),
        &body.to_string(),
    )
    .await
}

async fn gpt_create(sim: &SimHandle, prompt: &str) -> Answer {
    post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        &json!({ "prompt": prompt }).to_string(),
    )
    .await
}

async fn fal_submit(sim: &SimHandle, prompt: &str) -> Answer {
    send(
        Method::POST,
        &format!("{}/fal-ai/gpt-image-1.5", sim.fal_url()),
        &[FAL_AUTH],
        Some(&json!({ "prompt": prompt, "quality": "low" }).to_string()),
    )
    .await
}

async fn replicate_create(sim: &SimHandle, prompt: &str) -> Answer {
    post(
        &format!(
            "{}/models/openai/gpt-image-1.5/predictions",
            sim.replicate_url()
        ),
        Some(KEY),
        &json!({ "input": { "prompt": prompt, "output_format": "png" } }).to_string(),
    )
    .await
}

async fn wavespeed_create(sim: &SimHandle, prompt: &str, query: &str) -> Answer {
    post(
        &format!(
            "{}/api/v3/openai/gpt-image-1.5/text-to-image{query}",
            sim.wavespeed_url()
        ),
        Some(KEY),
        &json!({ "prompt": prompt }).to_string(),
    )
    .await
}

/// One id from each of the seven sellers (OpenAI and Azure: the request id).
async fn one_id_each(sim: &SimHandle, prompt: &str) -> Vec<(&'static str, String)> {
    let ok = |a: &Answer| assert!(a.status.is_success(), "{} {}", a.status, a.body);
    let runbase = runbase_create(sim, prompt).await;
    ok(&runbase);
    let gpt = gpt_create(sim, prompt).await;
    ok(&gpt);
    let openai = post(
        &format!("{}/images/generations", sim.openai_url()),
        Some(KEY),
        &json!({ "model": "gpt-image-1.5", "prompt": prompt, "quality": "low" }).to_string(),
    )
    .await;
    ok(&openai);
    let fal = fal_submit(sim, prompt).await;
    ok(&fal);
    let replicate = replicate_create(sim, prompt).await;
    ok(&replicate);
    let azure = send(
        Method::POST,
        &format!(
            "{}/openai/deployments/gpt-image-1.5/images/generations?api-version=2025-04-01-preview",
            sim.azure_url()
        ),
        &[AZURE_AUTH],
        Some(&json!({ "prompt": prompt, "quality": "low" }).to_string()),
    )
    .await;
    ok(&azure);
    let wavespeed = wavespeed_create(sim, prompt, "").await;
    ok(&wavespeed);
    let s = |v: &Value| v.as_str().expect("an id").to_string();
    vec![
        ("runbase", s(&runbase.body["id"])),
        ("gptimage15", s(&gpt.body["data"]["task_id"])),
        ("openai", openai.header("x-request-id").unwrap().to_string()),
        ("fal", s(&fal.body["request_id"])),
        ("replicate", s(&replicate.body["id"])),
        (
            "azure",
            azure.header("apim-request-id").unwrap().to_string(),
        ),
        ("wavespeed", s(&wavespeed.body["data"]["id"])),
    ]
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

fn is_uuid_v4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts.iter().all(|p| is_hex(p))
        && parts[2].starts_with('4')
        && "89ab".contains(&parts[3][..1])
}

/// Each seller's id style.
fn in_style(seller: &str, id: &str) -> bool {
    match seller {
        "runbase" => id.strip_prefix("run_").is_some_and(is_hex),
        "gptimage15" => {
            id.len() > 9
                && id.starts_with('n')
                && id.ends_with("gptimg")
                && id[1..3].chars().all(|c| c.is_ascii_digit())
                && is_hex(&id[3..id.len() - 6])
        }
        "openai" => id.strip_prefix("req_").is_some_and(is_hex),
        "fal" | "azure" => is_uuid_v4(id),
        "replicate" => {
            id.len() == 26
                && id
                    .chars()
                    .all(|c| "0123456789abcdefghjkmnpqrstvwxyz".contains(c))
        }
        "wavespeed" => id.len() == 32 && is_hex(id),
        _ => false,
    }
}

#[tokio::test]
async fn two_simulators_never_hand_out_the_same_id() {
    let first = start(SimConfig::instant()).await;
    let a = one_id_each(&first, "a ceramic lamp").await;
    drop(first);
    // Started after the first one stopped, like `imagegen resume --sim`.
    let second = start(SimConfig::instant()).await;
    let b = one_id_each(&second, "a ceramic lamp").await;
    // And one running beside it.
    let third = start(SimConfig::instant()).await;
    let c = one_id_each(&third, "a ceramic lamp").await;
    for ((seller, x), ((_, y), (_, z))) in a.iter().zip(b.iter().zip(c.iter())) {
        assert!(in_style(seller, x), "{seller}: {x}");
        assert!(
            in_style(seller, y) && in_style(seller, z),
            "{seller}: {y} {z}"
        );
        assert_ne!(x, y, "{seller}: the restarted simulator reused an id");
        assert_ne!(y, z, "{seller}: two simulators side by side share an id");
        assert_ne!(x, z, "{seller}");
    }
    // An id kept from the first simulator is unknown to the second: a 404,
    // never another task's answer.
    let old_run = &a[0].1;
    let r = get(
        &format!("{}/runs/{old_run}", second.runbase_url()),
        Some(KEY),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // Many ids of one simulator: all different.
    let mut seen = HashSet::new();
    for i in 0..200 {
        let r = gpt_create(&second, &format!("task {i}")).await;
        assert!(seen.insert(r.body["data"]["task_id"].as_str().unwrap().to_string()));
    }
}

#[tokio::test]
async fn seeded_ids_repeat_for_the_same_seed() {
    let cfg = || SimConfig::instant().seeded_ids().seed(99);
    let first = start(cfg()).await;
    let a = one_id_each(&first, "a lamp").await;
    drop(first);
    let second = start(cfg()).await;
    let b = one_id_each(&second, "a lamp").await;
    assert_eq!(a, b, "same seed, same order: same ids");
    let other = start(SimConfig::instant().seeded_ids().seed(100)).await;
    let c = one_id_each(&other, "a lamp").await;
    for ((seller, x), (_, z)) in a.iter().zip(c.iter()) {
        assert!(in_style(seller, x), "{seller}: {x}");
        assert_ne!(x, z, "{seller}: another seed, other ids");
    }
    let config = get(&format!("{}/_sim/config", second.base_url()), None).await;
    assert_eq!(config.body["ids"], "seeded");
    assert_eq!(config.body["state_dir"], Value::Null);
}

/// Polls `url` (GET, `headers`) until `done` says so; returns the answer.
async fn poll_until(url: &str, headers: &[(&str, &str)], done: impl Fn(&Value) -> bool) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let a = send(Method::GET, url, headers, None).await;
        assert!(a.status.is_success(), "{url}: {} {}", a.status, a.body);
        if done(&a.body) {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "{url} never finished: {}",
            a.body
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const BEARER: (&str, &str) = ("authorization", "Bearer sim-key");

/// Everything a client sees of the finished tasks of one simulator: the
/// final answers and the bytes of each image, by seller.
struct Seen {
    answers: Vec<(&'static str, Value)>,
    images: Vec<(&'static str, String, Vec<u8>)>,
}

/// The image URL in a finished answer of `seller`.
fn image_url(seller: &str, body: &Value) -> String {
    let v = match seller {
        "runbase" => &body["output"]["urls"][0],
        "gptimage15" => &body["data"]["response"][0],
        "fal" => &body["images"][0]["url"],
        "replicate" => &body["output"][0],
        "wavespeed" => &body["data"]["outputs"][0],
        _ => unreachable!(),
    };
    v.as_str().expect("an image URL").to_string()
}

/// Polls the five asynchronous tasks to their end on `sim`, reads each
/// result and downloads each image.
async fn finish(sim: &SimHandle, ids: &[(&'static str, String)]) -> Seen {
    let mut seen = Seen {
        answers: Vec::new(),
        images: Vec::new(),
    };
    for (seller, id) in ids {
        let body = match *seller {
            "runbase" => {
                let url = format!("{}/runs/{id}", sim.runbase_url());
                poll_until(&url, &[BEARER], |b| b["status"] == "succeeded")
                    .await
                    .body
            }
            "gptimage15" => {
                let url = format!("{}/status?task_id={id}", sim.gptimage15_url());
                poll_until(&url, &[BEARER], |b| b["data"]["status"] == "SUCCESS")
                    .await
                    .body
            }
            "fal" => {
                let base = format!("{}/fal-ai/gpt-image-1.5/requests/{id}", sim.fal_url());
                poll_until(&format!("{base}/status"), &[FAL_AUTH], |b| {
                    b["status"] == "COMPLETED"
                })
                .await;
                poll_until(&base, &[FAL_AUTH], |_| true).await.body
            }
            "replicate" => {
                let url = format!("{}/predictions/{id}", sim.replicate_url());
                poll_until(&url, &[BEARER], |b| b["status"] == "succeeded")
                    .await
                    .body
            }
            "wavespeed" => {
                let url = format!("{}/api/v3/predictions/{id}/result", sim.wavespeed_url());
                poll_until(&url, &[BEARER], |b| b["data"]["status"] == "completed")
                    .await
                    .body
            }
            _ => unreachable!(),
        };
        let url = image_url(seller, &body);
        let (_, bytes) = download(&url).await;
        let path = url.split_once("/files/").unwrap().1.to_string();
        seen.images.push((seller, path, bytes));
        seen.answers.push((seller, body));
    }
    seen
}

/// What the sim draws for a task of `seller` made by the requests above.
fn expected_image(seller: &str, id: &str, prompt: &str) -> ImageSpec {
    let spec = ImageSpec::new(seller, id, prompt, ImageSize::Square);
    match seller {
        "fal" => spec.quality("low"),
        "replicate" => spec.format(ImageFormat::Png),
        _ => spec,
    }
}

fn journal_lines(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join(JOURNAL_FILE)).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[tokio::test]
async fn a_restarted_simulator_answers_the_earlier_ones_tasks_with_their_images() {
    let dir = tempfile::tempdir().unwrap();
    let config = || SimConfig::fast().state_dir(dir.path());
    let first = start(config()).await;
    assert!(first.restored().is_some_and(|r| r.tasks == 0));
    let prompts = [
        ("runbase", "a red lamp on a desk"),
        ("gptimage15", "a green kettle by a window"),
        ("fal", "a blue chair in the snow"),
        ("replicate", "a yellow bicycle at dawn"),
        ("wavespeed", "a purple boat on a lake"),
    ];
    let mut ids = Vec::new();
    for (seller, prompt) in prompts {
        let a = match seller {
            "runbase" => runbase_create(&first, prompt).await,
            "gptimage15" => gpt_create(&first, prompt).await,
            "fal" => fal_submit(&first, prompt).await,
            "replicate" => replicate_create(&first, prompt).await,
            _ => wavespeed_create(&first, prompt, "").await,
        };
        assert!(a.status.is_success(), "{seller}: {}", a.body);
        let id = [
            &a.body["id"],
            &a.body["data"]["task_id"],
            &a.body["request_id"],
            &a.body["data"]["id"],
        ]
        .into_iter()
        .find_map(|v| v.as_str())
        .unwrap()
        .to_string();
        ids.push((seller, id));
    }
    let on_first = finish(&first, &ids).await;
    let ledger_first = first.ledger();
    first.shutdown().await;

    let second = start(config()).await;
    let restored = second.restored().cloned().unwrap();
    assert_eq!(
        (restored.tasks, restored.lines_skipped),
        (5, 0),
        "{restored:?}"
    );
    assert_eq!(second.state_dir().as_deref(), Some(dir.path()));
    let on_second = finish(&second, &ids).await;
    for ((seller, path_a, bytes_a), (_, path_b, bytes_b)) in
        on_first.images.iter().zip(&on_second.images)
    {
        assert_eq!(path_a, path_b, "{seller}: the same file");
        assert!(
            bytes_a == bytes_b,
            "{seller}: other bytes after the restart"
        );
    }
    // Each image shows its own task's prompt and id.
    for ((seller, id), (_, prompt)) in ids.iter().zip(prompts) {
        let spec = expected_image(seller, id, prompt);
        assert_eq!(prompt_lines(&spec).join(" "), prompt);
        let bytes = &on_second.images.iter().find(|i| i.0 == *seller).unwrap().2;
        assert!(
            *bytes == render(&spec),
            "{seller}: not the image of {prompt:?}"
        );
    }
    // The answers are the same, but for the simulator's address in URLs.
    let base = |sim: &SimHandle, v: &Value| v.to_string().replace(&sim.base_url(), "BASE");
    let first_base = on_first.answers[0].1["output"]["urls"][0]
        .as_str()
        .unwrap()
        .split("/files/")
        .next()
        .unwrap()
        .to_string();
    for ((seller, a), (_, b)) in on_first.answers.iter().zip(&on_second.answers) {
        let a = a.to_string().replace(&first_base, "BASE");
        assert_eq!(a, base(&second, b), "{seller}");
    }
    // The ledger goes on: nothing charged again, nothing lost.
    let ledger_second = second.ledger();
    for seller in ["runbase", "gptimage15", "fal", "replicate", "wavespeed"] {
        let (a, b) = (ledger_first.totals(seller), ledger_second.totals(seller));
        assert_eq!(
            (a.creates_charged, a.credits_charged, a.credits_left),
            (b.creates_charged, b.credits_charged, b.credits_left),
            "{seller}"
        );
        assert_eq!(b.creates_charged, 1, "{seller}");
    }
    // The journal was compacted at start: a header, the counters, one line
    // per account and per task, then what this run added (polls).
    drop(second);
    let lines = journal_lines(dir.path());
    assert_eq!(lines[0]["t"], "header");
    assert_eq!(lines[1]["t"], "counters");
    let tasks = lines.iter().filter(|l| l["t"] == "task").count();
    assert_eq!(tasks, 5, "one line per task after compaction");
}

#[tokio::test]
async fn a_task_half_way_through_finishes_on_time_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        SimConfig::fast()
            .latency(fixed(100, 2_000))
            .runbase_rate_limit(0, Duration::from_secs(1))
            .state_dir(dir.path())
    };
    let first = start(config()).await;
    let t0 = Instant::now();
    let created = runbase_create(&first, "a lamp, half done").await;
    let id = created.body["id"].as_str().unwrap().to_string();
    tokio::time::sleep_until((t0 + Duration::from_millis(900)).into()).await;
    let url = |sim: &SimHandle| format!("{}/runs/{id}", sim.runbase_url());
    let before = get(&url(&first), Some(KEY)).await;
    assert_eq!(before.body["status"], "processing", "{}", before.body);
    drop(first);

    let second = start(config()).await;
    let after = get(&url(&second), Some(KEY)).await;
    assert_eq!(
        after.body["status"], "processing",
        "the task went on from its creation, not from the restart: {}",
        after.body
    );
    assert_eq!(after.body["created_at"], created.body["created_at"]);
    let (_, done) = poll_runbase(&second, &id, KEY).await;
    let took = t0.elapsed();
    assert_eq!(done.body["status"], "succeeded");
    // Due 2.1 s after its creation; restarted from zero it would end 3 s in.
    assert!(
        took >= Duration::from_millis(2_080) && took < Duration::from_millis(2_700),
        "finished after {took:?}"
    );
    let when = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let lived = when(&done.body["completed_at"]) - when(&done.body["created_at"]);
    assert!((lived.whole_milliseconds() - 2_100).abs() <= 2, "{lived:?}");
}

#[tokio::test]
async fn the_ledger_goes_on_after_a_restart_and_still_spots_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let config = || SimConfig::fast().state_dir(dir.path());
    let first = start(config()).await;
    let lamp = runbase_create(&first, "a lamp").await;
    runbase_create(&first, "a lamp").await; // the same body: a duplicate
    let refused = gpt_create(&first, "sim:content-policy please").await;
    let refused_id = refused.body["data"]["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    poll_gpt(&first, &refused_id, "status").await; // FAILED: refunded
    let openai = post(
        &format!("{}/images/generations", first.openai_url()),
        Some(KEY),
        &json!({ "model": "gpt-image-1.5", "prompt": "a lamp", "n": 2, "quality": "low" })
            .to_string(),
    )
    .await;
    assert_eq!(openai.status, StatusCode::OK);
    get(&format!("{}/runs/nope", first.runbase_url()), Some(KEY)).await; // a 404
    let before = first.ledger();
    let rb = before.entry("runbase", KEY).unwrap().clone();
    assert_eq!((rb.creates_charged, rb.duplicate_creates), (2, 1));
    let gpt = before.entry("gptimage15", KEY).unwrap().clone();
    assert_eq!((gpt.credits_charged, gpt.credits_refunded), (10, 10));
    drop(first);

    let second = start(config()).await;
    assert_eq!(
        second.ledger(),
        before,
        "the ledger as the first simulator left it"
    );
    let over_http = get(&format!("{}/_sim/ledger", second.base_url()), None).await;
    assert_eq!(over_http.body, serde_json::to_value(&before).unwrap());
    // The refused task is polled again: it is not refunded twice.
    poll_gpt(&second, &refused_id, "status").await;
    let gpt2 = second.ledger().entry("gptimage15", KEY).unwrap().clone();
    assert_eq!((gpt2.credits_refunded, gpt2.credits_left), (10, 1_000_000));
    // The same body sent again after the restart is still a duplicate, and
    // credits go on from where they were.
    runbase_create(&second, "a lamp").await;
    let rb2 = second.ledger().entry("runbase", KEY).unwrap().clone();
    assert_eq!(
        (rb2.creates_charged, rb2.duplicate_creates, rb2.credits_left),
        (3, 2, 1_000_000 - 3)
    );
    assert_eq!(second.ledger().totals("openai").credits_charged, 2);
    assert!(lamp.body["id"].is_string());
}

#[tokio::test]
async fn a_second_simulator_on_a_folder_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(SimConfig::instant().state_dir(dir.path())).await;
    let err = Sim::start(SimConfig::instant().state_dir(dir.path()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ResourceBusy);
    let msg = err.to_string();
    assert!(
        msg.contains("in use") && msg.contains(&dir.path().display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    // Its tasks are untouched, and once it stops the folder is free.
    runbase_create(&first, "still mine").await;
    drop(first);
    let again = start(SimConfig::instant().state_dir(dir.path())).await;
    assert_eq!(again.restored().unwrap().tasks, 1);
}

#[tokio::test]
async fn a_killed_simulator_loses_nothing_it_answered() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_imagegen-sim"))
        .args([
            "--port",
            "0",
            "--profile",
            "fast",
            "--runbase-rate-limit",
            "0",
            "--state-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn imagegen-sim");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    while !banner.iter().any(|l: &String| l.contains("state dir:")) {
        banner.push(lines.next().expect("the banner").unwrap());
    }
    assert!(
        banner.last().unwrap().contains("0 tasks restored"),
        "{banner:?}"
    );
    let runbase = banner[1].split_whitespace().last().unwrap().to_string();
    let mut ids = Vec::new();
    for i in 0..20 {
        let body =
            json!({ "model": "openai/gpt-image-1.5", "input": { "prompt": format!("lamp {i}") } });
        let a = post(&format!("{runbase}/runs"), Some(KEY), &body.to_string()).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        ids.push(a.body["id"].as_str().unwrap().to_string());
    }
    // Another process holds the folder.
    let err = Sim::start(SimConfig::fast().state_dir(dir.path()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ResourceBusy);
    assert!(
        err.to_string().contains(&format!("pid {}", child.id())),
        "{err}"
    );
    // kill -9: no chance to flush or unlock.
    child.kill().unwrap();
    child.wait().unwrap();

    let sim = start(
        SimConfig::fast()
            .runbase_rate_limit(0, Duration::from_secs(1))
            .state_dir(dir.path()),
    )
    .await;
    assert_eq!(sim.restored().unwrap().tasks, 20);
    for (i, id) in ids.iter().enumerate() {
        let (_, done) = poll_runbase(&sim, id, KEY).await;
        assert_eq!(done.body["input"]["prompt"], format!("lamp {i}"));
        let (_, png) = download(done.body["output"]["urls"][0].as_str().unwrap()).await;
        let spec = ImageSpec::new("runbase", id, &format!("lamp {i}"), ImageSize::Square);
        if i == 0 {
            assert!(png == render(&spec), "the image of lamp 0");
        }
    }
    let e = sim.ledger().entry("runbase", KEY).cloned().unwrap();
    assert_eq!((e.creates_charged, e.duplicate_creates), (20, 0));
}

#[tokio::test]
async fn a_line_cut_short_by_a_crash_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(SimConfig::instant().state_dir(dir.path())).await;
    let a = runbase_create(&first, "kept").await;
    drop(first);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join(JOURNAL_FILE))
        .unwrap();
    f.write_all(br#"{"t":"task","provider":"runbase","id":"run_"#)
        .unwrap();
    drop(f);
    let second = start(SimConfig::instant().state_dir(dir.path())).await;
    let r = second.restored().unwrap();
    assert_eq!((r.tasks, r.lines_skipped), (1, 1), "{r:?}");
    let id = a.body["id"].as_str().unwrap();
    let (_, done) = poll_runbase(&second, id, KEY).await;
    assert_eq!(done.body["input"]["prompt"], "kept");
}

#[tokio::test]
async fn seeded_ids_do_not_repeat_across_restarts_on_a_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        SimConfig::instant()
            .seeded_ids()
            .seed(5)
            .state_dir(dir.path())
    };
    let mut all = HashSet::new();
    for _ in 0..3 {
        let sim = start(config()).await;
        for i in 0..3 {
            let a = runbase_create(&sim, &format!("lamp {i}")).await;
            let id = a.body["id"].as_str().unwrap().to_string();
            assert!(all.insert(id.clone()), "{id} handed out twice");
        }
    }
    assert_eq!(all.len(), 9);
}

#[tokio::test]
async fn queued_work_and_cancels_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        SimConfig::fast()
            .latency(fixed(0, 1_500))
            .fal_concurrency(1)
            .state_dir(dir.path())
    };
    let first = start(config()).await;
    let running = fal_submit(&first, "runs first").await;
    let cancelled = fal_submit(&first, "waits, then is cancelled").await;
    let cancel_url = cancelled.body["cancel_url"].as_str().unwrap().to_string();
    let c = send(Method::PUT, &cancel_url, &[FAL_AUTH], None).await;
    assert_eq!(c.status, StatusCode::ACCEPTED, "{}", c.body);
    drop(first);

    let second = start(config()).await;
    // The first request still holds the key's only slot: a new one waits.
    let next = fal_submit(&second, "comes after the restart").await;
    let status_url = next.body["status_url"].as_str().unwrap();
    let s = send(Method::GET, status_url, &[FAL_AUTH], None).await;
    assert_eq!(s.body["status"], "IN_QUEUE", "{}", s.body);
    let id = running.body["request_id"].as_str().unwrap();
    let r = send(
        Method::GET,
        &format!(
            "{}/fal-ai/gpt-image-1.5/requests/{id}/status",
            second.fal_url()
        ),
        &[FAL_AUTH],
        None,
    )
    .await;
    assert_eq!(r.body["status"], "IN_PROGRESS", "{}", r.body);
    // The cancel holds: cancelled, and refunded once (it never ran).
    let cid = cancelled.body["request_id"].as_str().unwrap();
    let cr = send(
        Method::GET,
        &format!("{}/fal-ai/gpt-image-1.5/requests/{cid}", second.fal_url()),
        &[FAL_AUTH],
        None,
    )
    .await;
    assert_eq!(cr.body["error_type"], "request_cancelled", "{}", cr.body);
    let e = second.ledger().entry("fal", "sim-key").cloned().unwrap();
    assert_eq!((e.credits_charged, e.credits_refunded), (3, 1));
}

#[tokio::test]
async fn a_webhook_due_when_the_simulator_stopped_is_sent_by_the_next_one() {
    let (hook_url, hooks) = hooks(0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        SimConfig::fast()
            .latency(fixed(0, 800))
            .state_dir(dir.path())
    };
    let first = start(config()).await;
    let a = wavespeed_create(
        &first,
        "a lamp with a webhook",
        &format!("?webhook={hook_url}"),
    )
    .await;
    let id = a.body["data"]["id"].as_str().unwrap().to_string();
    drop(first);
    let second = start(config()).await;
    let got = hooks.wait(1).await;
    assert_eq!(got[0].header("webhook-id"), id);
    assert_eq!(got[0].json()["status"], "completed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hooks.received().len(), 1, "sent once");
    assert_eq!(second.ledger().totals("wavespeed").callbacks_delivered, 1);
}

#[tokio::test]
async fn a_reset_is_kept_too() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(SimConfig::instant().state_dir(dir.path())).await;
    runbase_create(&first, "forgotten").await;
    let r = post(&format!("{}/_sim/reset", first.base_url()), None, "").await;
    assert_eq!(r.status, StatusCode::OK);
    drop(first);
    let second = start(SimConfig::instant().state_dir(dir.path())).await;
    assert_eq!(second.restored().unwrap().tasks, 0);
    assert!(second.ledger().entries.is_empty());
}

#[tokio::test]
async fn without_a_state_dir_nothing_is_written() {
    let cwd = std::env::current_dir().unwrap();
    let tmp = std::env::temp_dir();
    let sim = start(SimConfig::instant()).await;
    one_id_each(&sim, "nothing kept").await;
    assert!(sim.state_dir().is_none() && sim.restored().is_none());
    let config = get(&format!("{}/_sim/config", sim.base_url()), None).await;
    assert_eq!(config.body["state_dir"], Value::Null);
    assert_eq!(config.body["ids"], "unique");
    drop(sim);
    for d in [&cwd, &tmp] {
        for name in [JOURNAL_FILE, LOCK_FILE] {
            assert!(!d.join(name).exists(), "{} in {}", name, d.display());
        }
    }
}
