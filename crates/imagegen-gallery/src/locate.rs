//! Finding a recorded image on disk, and naming it from the page.
//!
//! The journal records each image's path as the saving process wrote it:
//! absolute, or relative to *that process's* current directory, which the
//! gallery cannot know for sure. [`locate`] tries, in order:
//!
//! 1. an absolute path as it is;
//! 2. a relative path from `saved_from` (by default the current directory,
//!    right when the CLI writes the page after a batch);
//! 3. a relative path from the batch folder;
//! 4. ever shorter tails of the path inside the batch folder
//!    (`runs/dataset/a.png` then `dataset/a.png` then `a.png`), which finds
//!    the images of a folder that was moved or renamed since.
//!
//! Links in the page are relative to the batch folder ([`href`]), so the
//! folder keeps working when it is moved as a whole.

use std::ffi::OsStr;
use std::fs::Metadata;
use std::path::{Component, Path, PathBuf};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

/// Bytes of a path segment left as they are in a URL: RFC 3986's
/// unreserved characters. Everything else (space, `#`, `?`, `%`, quotes,
/// non-ASCII bytes) is percent-encoded, so a file name can never end the
/// attribute or become a query or fragment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A Windows drive prefix (`C:`) keeps its colon.
const DRIVE: &AsciiSet = &SEGMENT.remove(b':');

/// The file a recorded path names, with its metadata, or `None` when no
/// candidate (see the module docs) is a file.
pub(crate) fn locate(recorded: &str, dir: &Path, saved_from: &Path) -> Option<(PathBuf, Metadata)> {
    if recorded.is_empty() {
        return None;
    }
    let path = Path::new(recorded);
    let mut candidates = Vec::new();
    if path.is_absolute() {
        candidates.push(path.to_path_buf());
    } else {
        candidates.push(saved_from.join(path));
        candidates.push(dir.join(path));
    }
    // Tails made only of plain names: a tail never climbs out of `dir`.
    let names: Vec<&OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    let plain = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    let first_tail = if plain && !path.is_absolute() { 1 } else { 0 };
    for start in first_tail..names.len() {
        candidates.push(
            names[start..]
                .iter()
                .fold(dir.to_path_buf(), |p, n| p.join(n)),
        );
    }
    candidates.into_iter().find_map(|candidate| {
        std::fs::metadata(&candidate)
            .ok()
            .filter(Metadata::is_file)
            .map(|meta| (candidate, meta))
    })
}

/// The sidecar of `image`: `<stem>.json` beside it, or `<file name>.json`
/// (where the downloader puts it when `<stem>.json` was taken).
pub(crate) fn sidecar_of(image: &Path) -> Option<PathBuf> {
    let beside = image.with_extension("json");
    if beside != image && beside.is_file() {
        return Some(beside);
    }
    let mut appended = image.as_os_str().to_owned();
    appended.push(".json");
    let appended = PathBuf::from(appended);
    appended.is_file().then_some(appended)
}

/// A link from a page in `dir` to `target`: both must be absolute and in
/// the same form (both canonical). A relative URL with `/` separators and
/// each segment percent-encoded; an absolute `file:` URL when no relative
/// path exists (another drive on Windows).
pub(crate) fn href(dir: &Path, target: &Path) -> String {
    let from: Vec<Component> = dir.components().collect();
    let to: Vec<Component> = target.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = String::new();
    if common == 0 || from.get(..1) != to.get(..1) {
        out.push_str("file://");
        for component in &to {
            push_segment(&mut out, component);
        }
        return out;
    }
    for _ in common..from.len() {
        out.push_str("../");
    }
    for (i, component) in to[common..].iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        push_segment(&mut out, component);
    }
    out
}

/// `target`'s path below `dir` as text, for naming its thumbnail: stable for
/// one image wherever the folder is.
pub(crate) fn key(dir: &Path, target: &Path) -> String {
    match target.strip_prefix(dir) {
        Ok(inside) => inside.to_string_lossy().replace('\\', "/"),
        Err(_) => target.to_string_lossy().into_owned(),
    }
}

fn push_segment(out: &mut String, component: &Component) {
    match component {
        Component::RootDir => {}
        Component::Prefix(prefix) => {
            // `C:` of `file:///C:/...`; a UNC or verbatim prefix is kept
            // as encoded text (only ever used for the rare cross-drive link).
            out.push('/');
            out.extend(percent_encode(prefix.as_os_str().as_encoded_bytes(), DRIVE));
        }
        Component::CurDir => out.push('.'),
        Component::ParentDir => out.push_str(".."),
        Component::Normal(name) => {
            if out.starts_with("file://") {
                out.push('/');
            }
            out.extend(percent_encode(name.as_encoded_bytes(), SEGMENT));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_the_folder_and_percent_encoded() {
        let dir = Path::new("/data/batch");
        assert_eq!(href(dir, Path::new("/data/batch/a.png")), "a.png");
        assert_eq!(
            href(dir, Path::new("/data/batch/sub dir/ä #1?.png")),
            "sub%20dir/%C3%A4%20%231%3F.png"
        );
        assert_eq!(href(dir, Path::new("/data/other/b.png")), "../other/b.png");
        assert_eq!(href(dir, Path::new("/c.png")), "../../c.png");
        assert_eq!(
            href(dir, Path::new("/data/batch/x\"><script>.png")),
            "x%22%3E%3Cscript%3E.png"
        );
    }

    #[test]
    fn images_are_found_from_the_saving_directory_the_folder_or_a_tail() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("dataset");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.png"), b"a").unwrap();
        std::fs::write(dir.join("sub/b.png"), b"b").unwrap();
        let found = |recorded: &str, from: &Path| locate(recorded, &dir, from).map(|(p, _)| p);

        // Saved by a process in the parent: `dataset/a.png`.
        assert_eq!(
            found("dataset/a.png", root.path()),
            Some(root.path().join("dataset/a.png"))
        );
        // The same journal read from elsewhere: found by its tail.
        let elsewhere = Path::new("/nonexistent-cwd");
        assert_eq!(found("dataset/a.png", elsewhere), Some(dir.join("a.png")));
        // Saved by a process inside the folder.
        assert_eq!(found("sub/b.png", elsewhere), Some(dir.join("sub/b.png")));
        // Absolute, and absolute from a folder that moved since.
        let absolute = dir.join("a.png").display().to_string();
        assert_eq!(found(&absolute, elsewhere), Some(dir.join("a.png")));
        assert_eq!(
            found("/old/place/dataset/sub/b.png", elsewhere),
            Some(dir.join("sub/b.png"))
        );
        // Missing, empty, a folder, and a tail that would climb out.
        assert_eq!(found("dataset/gone.png", root.path()), None);
        assert_eq!(found("", root.path()), None);
        assert_eq!(found("sub", elsewhere), None);
        std::fs::write(root.path().join("outside.png"), b"o").unwrap();
        assert_eq!(found("../../outside.png", elsewhere), None);
    }

    #[test]
    fn sidecars_are_found_under_either_name() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.png");
        let b = dir.path().join("b.png");
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        assert_eq!(sidecar_of(&a), None);
        std::fs::write(dir.path().join("a.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("b.png.json"), b"{}").unwrap();
        assert_eq!(sidecar_of(&a), Some(dir.path().join("a.json")));
        assert_eq!(sidecar_of(&b), Some(dir.path().join("b.png.json")));
    }
}
