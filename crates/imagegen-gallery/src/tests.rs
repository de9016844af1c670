//! Tests of `write`: thumbnails made once and reused, missing and broken
//! images, links, and the folder errors.

use std::time::{Duration, SystemTime};

use imagegen_jobs::{JobState, OutputRow};

use super::*;
use crate::fixture::{self, Options};

fn one_thread() -> NonZeroUsize {
    NonZeroUsize::MIN
}

fn output(path: &str) -> OutputRow {
    OutputRow {
        idx: 0,
        path: path.to_owned(),
        sha256: String::new(),
        bytes: None,
        width: None,
        height: None,
        url: None,
        host: None,
    }
}

fn thumbnails(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join(THUMBNAIL_FOLDER))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    found.sort();
    found
}

#[test]
fn thumbnails_are_small_jpegs_made_once_and_reused_until_the_image_changes() {
    let dir = tempfile::tempdir().unwrap();
    let batch = fixture::build(dir.path(), &Options::new(12).longest_side(640)).unwrap();
    let gallery = Gallery::new(dir.path(), &batch.jobs, &batch.summary);

    let first = write(&gallery).unwrap();
    // 12 jobs: 9 done (one every 10th failed, 7 invalid, 12 ambiguous).
    assert_eq!(first.cards, 12);
    assert_eq!(first.images, 9);
    assert_eq!((first.thumbnails_made, first.thumbnails_reused), (9, 0));
    assert!(first.problems.is_empty(), "{:?}", first.problems);
    let made = thumbnails(dir.path());
    assert_eq!(made.len(), 9, "{made:?}");
    for thumb in &made {
        assert_eq!(thumb.extension().unwrap(), "jpg");
        let (w, h) = image::image_dimensions(thumb).unwrap();
        assert!(w.max(h) == THUMBNAIL_SIZE, "{thumb:?} is {w}x{h}");
        let format = image::ImageReader::open(thumb)
            .unwrap()
            .with_guessed_format()
            .unwrap()
            .format();
        assert_eq!(format, Some(image::ImageFormat::Jpeg));
    }
    let page = std::fs::read_to_string(dir.path().join(INDEX_FILE)).unwrap();
    assert!(
        !page.contains("src=\"job-"),
        "a full image used as a thumbnail"
    );

    let again = write(&gallery).unwrap();
    assert_eq!((again.thumbnails_made, again.thumbnails_reused), (0, 9));
    assert_eq!(thumbnails(dir.path()), made, "no new or temporary files");

    // An image newer than its thumbnail gets a new one.
    let image = dir.path().join("job-1-0.png");
    let file = std::fs::File::options().write(true).open(&image).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    let after_edit = write(&gallery).unwrap();
    assert_eq!(
        (after_edit.thumbnails_made, after_edit.thumbnails_reused),
        (1, 8)
    );
}

#[test]
fn a_missing_or_broken_image_is_said_on_its_card_and_never_fails_the_page() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    std::fs::write(dir.path().join("empty.png"), b"").unwrap();
    let mut jobs = Vec::new();
    for (id, path) in [(1, "gone/away.png"), (2, "broken.png"), (3, "empty.png")] {
        let mut job = fixture::job(id, "a lamp", JobState::Done);
        job.outputs.push(output(path));
        job.outputs[0].host = (id == 1).then(|| "worker-7".to_owned());
        jobs.push(job);
    }
    let summary = fixture::summarize(&jobs);
    let written = write(&Gallery::new(dir.path(), &jobs, &summary).threads(one_thread())).unwrap();

    assert_eq!(written.thumbnails_made, 0);
    let problems: Vec<String> = written.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert_eq!(problems[0], "gone/away.png: not found");
    assert!(
        problems[1].starts_with("broken.png: cannot decode the image"),
        "{problems:?}"
    );
    assert!(problems[2].starts_with("empty.png: cannot"), "{problems:?}");

    let page = std::fs::read_to_string(&written.index).unwrap();
    assert!(page.contains(
        "image missing<small>gone&#x2F;away.png</small><small>saved on worker-7</small>"
    ));
    // A broken file is still linked, so a person can look at it.
    assert!(page.contains("<a class=\"thumb none\" href=\"broken.png\""));
    assert!(page.contains("no thumbnail<small>cannot decode the image"));
}

#[test]
fn links_are_relative_to_the_folder_wherever_the_images_were_saved_from() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("my batch");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let elsewhere = root.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    for path in [dir.join("sub/a b.png"), elsewhere.join("c.png")] {
        fixture::picture(1, 16, 16).save(&path).unwrap();
    }
    std::fs::write(dir.join("sub/a b.json"), b"{}").unwrap();
    let mut job = fixture::job(1, "two images", JobState::Done);
    // Saved by a process running in `root`; the second one outside the
    // folder, by an absolute path.
    job.outputs.push(output("my batch/sub/a b.png"));
    job.outputs
        .push(output(&elsewhere.join("c.png").display().to_string()));
    job.outputs[1].idx = 1;
    let jobs = vec![job];
    let summary = fixture::summarize(&jobs);
    let gallery = Gallery::new(&dir, &jobs, &summary).saved_from(root.path());
    let written = write(&gallery).unwrap();
    assert!(written.problems.is_empty(), "{:?}", written.problems);

    let page = std::fs::read_to_string(&written.index).unwrap();
    assert!(page.contains("href=\"sub&#x2F;a%20b.png\""), "image link");
    assert!(
        page.contains("href=\"sub&#x2F;a%20b.json\""),
        "sidecar link"
    );
    assert!(
        page.contains("href=\"..&#x2F;elsewhere&#x2F;c.png\""),
        "outside link"
    );
    assert!(page.contains("src=\".thumbs&#x2F;a-b-"), "thumbnail link");
    assert!(
        !page.contains(&root.path().display().to_string()),
        "no absolute path"
    );
}

#[test]
fn jobs_sharing_an_image_share_its_thumbnail() {
    let dir = tempfile::tempdir().unwrap();
    let batch = fixture::build(
        dir.path(),
        &Options::new(200).distinct_images(4).longest_side(64),
    )
    .unwrap();
    let written = write(&Gallery::new(dir.path(), &batch.jobs, &batch.summary)).unwrap();
    assert_eq!(written.cards, 200);
    // Four files, each recorded both absolute and relative: eight paths,
    // four thumbnails.
    assert_eq!(written.images, 8);
    assert_eq!(thumbnails(dir.path()).len(), 4);
}

#[test]
fn the_page_replaces_the_old_one_whole() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(INDEX_FILE), "old page").unwrap();
    let jobs = vec![fixture::job(1, "a lamp", JobState::Pending)];
    let summary = fixture::summarize(&jobs);
    write(&Gallery::new(dir.path(), &jobs, &summary)).unwrap();
    let page = std::fs::read_to_string(dir.path().join(INDEX_FILE)).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != INDEX_FILE && n != THUMBNAIL_FOLDER)
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_folder_that_is_missing_or_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let summary = Summary::default();
    let missing = dir.path().join("nope");
    let err = write(&Gallery::new(&missing, &[], &summary)).unwrap_err();
    assert!(matches!(err, GalleryError::Folder { .. }), "{err:?}");
    assert!(err.to_string().starts_with("the batch folder "), "{err}");

    let file = dir.path().join("file.txt");
    std::fs::write(&file, "x").unwrap();
    let err = write(&Gallery::new(&file, &[], &summary)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a folder (pass the output folder of a batch)",
            file.display()
        )
    );
}

#[test]
fn the_default_title_names_the_folder() {
    let summary = Summary::default();
    let gallery = Gallery::new(Path::new("runs/dataset"), &[], &summary);
    assert_eq!(gallery.title, "imagegen batch: dataset");
    assert_eq!(gallery.title("Mine").title, "Mine");
}

#[cfg(unix)]
#[test]
fn the_page_and_thumbnails_are_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let batch = fixture::build(dir.path(), &Options::new(2).longest_side(16)).unwrap();
    write(&Gallery::new(dir.path(), &batch.jobs, &batch.summary)).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join(INDEX_FILE)), 0o644);
    for thumb in thumbnails(dir.path()) {
        assert_eq!(mode(&thumb), 0o644);
    }
}
