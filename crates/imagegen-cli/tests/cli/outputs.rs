//! Tracing an image back to its prompt, and never losing a paid one.

use std::process::Stdio;

use crate::support::{TestSim, journal_counts, png_size, pngs, signal, text, wait_for};

fn sidecar_of(png: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(png.with_extension("json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn sidecars_and_jobs_trace_each_image_to_its_line() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.jsonl"),
        concat!(
            "{\"prompt\": \"kittens\", \"n\": 3}\n",
            "Ünïcödé Café\n",
            "東京の猫\n",
            "חתול בירושלים\n",
        ),
    )
    .unwrap();
    let out = sim
        .cmd(dir.path())
        .args(["batch", "p.jsonl", "--out", "out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let files = pngs(&dir.path().join("out"));
    assert_eq!(files.len(), 6);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for (job, slug) in [
        (1, "kittens"),
        (2, "kittens"),
        (3, "kittens"),
        (4, "unicode-cafe"),
    ] {
        let prefix = format!("{job:05}-{slug}-");
        assert!(
            names.iter().any(|n| n.starts_with(&prefix)),
            "{prefix}: {names:?}"
        );
    }
    // Scripts other than Latin keep their words, transliterated.
    assert!(!names.iter().any(|n| n.contains("-image-")), "{names:?}");

    let mut copies = Vec::new();
    for file in &files {
        let sidecar = sidecar_of(file);
        assert!(sidecar["job"].is_i64(), "{sidecar}");
        assert_eq!(sidecar["endpoint"], "127.0.0.1", "{sidecar}");
        assert_eq!(sidecar["provider"], "runbase");
        if sidecar["prompt"] == "kittens" {
            assert_eq!(sidecar["line"], 1);
            copies.push(sidecar["copy"].as_i64().unwrap());
        }
    }
    copies.sort();
    assert_eq!(copies, [0, 1, 2]);

    let out = sim
        .cmd(dir.path())
        .args(["jobs", "out", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for job in report["jobs"].as_array().unwrap() {
        let path = job["outputs"][0]["path"].as_str().unwrap();
        assert!(dir.path().join(path).is_file(), "{job}");
    }
}

#[test]
fn a_repeat_generate_never_returns_the_previous_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for aspect in ["2:3", "3:2"] {
        let out = crate::support::imagegen(dir.path())
            .args(["generate", "A lamp", "--sim", "--aspect", aspect])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
        paths.push(dir.path().join(text(&out).0.trim()));
    }
    assert_ne!(paths[0], paths[1]);
    assert_eq!(png_size(&paths[0]), (1024, 1536));
    assert_eq!(png_size(&paths[1]), (1536, 1024));
}

#[test]
fn inline_images_are_saved_even_with_no_download_and_never_kept_in_the_journal() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .cmd(dir.path())
        .args([
            "generate",
            "a lamp",
            "--provider",
            "openai",
            "--no-download",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let path = record["path"].as_str().expect("an inline image is saved");
    assert!(dir.path().join(path).is_file());

    crate::support::prompts(dir.path(), "p.txt", 4);
    let out = sim
        .cmd(dir.path())
        .args(["batch", "p.txt", "--provider", "openai", "--out", "out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(pngs(&dir.path().join("out")).len(), 4);
    let conn = rusqlite::Connection::open(dir.path().join("out/imagegen-journal.sqlite")).unwrap();
    let largest: i64 = conn
        .query_row("SELECT MAX(LENGTH(handle)) FROM jobs", [], |r| r.get(0))
        .unwrap();
    assert!(
        largest < 4096,
        "a handle of {largest} bytes holds image data"
    );
}

#[test]
fn wait_takes_several_tasks_and_names_files_from_the_journal() {
    let sim = TestSim::start(imagegen_sim::SimConfig::realistic());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.txt"), "a red lamp\na blue lamp\n").unwrap();
    let journal = dir.path().join("out/imagegen-journal.sqlite");
    let mut cmd = sim.std_cmd(dir.path());
    cmd.args(["batch", "p.txt", "--out", "out"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    assert!(wait_for(&mut child, || journal_counts(&journal)
        .is_some_and(|(ids, _)| ids == 2)));
    signal(child.id(), "-KILL");
    let _ = child.wait();
    let conn = rusqlite::Connection::open(&journal).unwrap();
    let ids: Vec<String> = conn
        .prepare("SELECT task_id FROM jobs ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(conn);

    let out = sim
        .cmd(dir.path())
        .args(["wait", "--out", "out", &ids[0], &ids[1]])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines.iter().any(|l| l.contains("00001-a-red-lamp-")),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.contains("00002-a-blue-lamp-")),
        "{stdout}"
    );
    // The journal heard: the batch is done, nothing more is fetched.
    let out = sim
        .cmd(dir.path())
        .args(["resume", "out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(pngs(&dir.path().join("out")).len(), 2);
}

#[test]
fn fallback_says_who_refused_and_prices_by_the_provider_that_ran() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.txt"), "a lamp\n").unwrap();
    let out = sim
        .cmd(dir.path())
        .env("GPTIMAGE15_API_KEY", imagegen_sim::magic::NO_CREDITS)
        .args([
            "batch",
            "p.txt",
            "--provider",
            "gptimage15,runbase",
            "--out",
            "out",
        ])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("gptimage15 refused ("), "{stderr}");
    assert!(stderr.contains("trying runbase"), "{stderr}");
    let runbase = imagegen::registration("runbase")
        .unwrap()
        .spec
        .credits_per_image;
    let conn = rusqlite::Connection::open(dir.path().join("out/imagegen-journal.sqlite")).unwrap();
    let (provider, estimate): (String, f64) = conn
        .query_row("SELECT provider, est_credits FROM jobs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((provider.as_str(), estimate), ("runbase", runbase));
}

#[test]
fn a_sim_batch_resumed_with_sim_gives_each_prompt_its_own_image() {
    use imagegen_sim::images::{ImageSize, ImageSpec, render};
    let dir = tempfile::tempdir().unwrap();
    crate::support::prompts(dir.path(), "p.txt", 8);
    let sim_args = ["--sim", "--sim-profile", "realistic"];
    let mut batch = crate::support::std_imagegen(dir.path());
    batch
        .args(["batch", "p.txt", "--out", "out", "-j", "8"])
        .args(sim_args);
    crate::support::kill_batch_when_settled(batch, dir.path(), 4);

    // A fresh simulator would not know these tasks; the batch folder's one does.
    let out = crate::support::imagegen(dir.path())
        .args(["resume", "out"])
        .args(sim_args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let files = pngs(&dir.path().join("out"));
    assert_eq!(files.len(), 8);
    let mut tasks = std::collections::HashSet::new();
    for file in &files {
        let sidecar = sidecar_of(file);
        let line = sidecar["line"].as_i64().unwrap();
        let prompt = sidecar["prompt"].as_str().unwrap();
        assert_eq!(
            prompt,
            format!("prompt {line}: a ceramic lamp, variation {line}"),
            "{sidecar}"
        );
        let task = sidecar["task_id"].as_str().unwrap();
        assert!(tasks.insert(task.to_owned()), "two jobs share task {task}");
        // The simulator draws each image from its own task and prompt.
        let drawn = render(&ImageSpec::new("runbase", task, prompt, ImageSize::Square));
        assert!(
            std::fs::read(file).unwrap() == drawn,
            "{}: another task's picture",
            file.display()
        );
    }
}
