//! Thumbnails: small JPEGs in `DIR/.thumbs/`, made in parallel, reused
//! while they are newer than their image.
//!
//! A batch can hold 10,000 images of 1536x1024, and decoding a PNG of that
//! size is what costs (tens of milliseconds): the page never shows a full
//! image, and a thumbnail is made again only when it is missing or older
//! than its image, so writing the page again after `resume` decodes only
//! the new images. Each one is written to a temporary file and renamed
//! into place, so a crash never leaves a partial thumbnail that would look
//! fresh to the next run.

use std::fs::Metadata;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{DynamicImage, ImageReader, RgbImage};
use sha2::{Digest, Sha256};

use crate::{locate, shrink};

/// The folder, below the batch folder, that holds the thumbnails.
pub const THUMBNAIL_FOLDER: &str = ".thumbs";

/// The longest side of a thumbnail, in pixels: cards show them at about
/// 230x200 CSS pixels, so this is sharp on a 1.5x screen while a JPEG
/// stays around 10 to 20 KB.
pub const THUMBNAIL_SIZE: u32 = 320;

/// JPEG quality of thumbnails: no visible blocks at card size.
const JPEG_QUALITY: u8 = 80;

/// Where things are, for every image of one page.
pub(crate) struct Places<'a> {
    /// The batch folder, canonical.
    pub dir: &'a Path,
    /// Where relative recorded paths were saved from.
    pub saved_from: &'a Path,
    /// `dir/.thumbs`.
    pub thumbs: &'a Path,
}

/// One recorded image as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ImageView {
    /// Link to the full image, when it was found.
    pub href: Option<String>,
    /// Link to its sidecar, when there is one.
    pub sidecar_href: Option<String>,
    /// What the card shows in place of the image.
    pub preview: Preview,
}

/// The small picture of an image, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Preview {
    /// A thumbnail, `made` now or reused from an earlier run.
    Thumbnail { href: String, made: bool },
    /// No file was found for the recorded path.
    Missing,
    /// The file exists but no thumbnail could be made of it.
    Unusable { reason: String },
}

/// The view of each of `recorded` (same order), working on `threads`
/// threads at once.
pub(crate) fn prepare_all(
    recorded: &[&str],
    places: &Places,
    threads: NonZeroUsize,
) -> Vec<ImageView> {
    let next = AtomicUsize::new(0);
    let threads = threads.get().min(recorded.len()).max(1);
    let mut views: Vec<Option<ImageView>> = vec![None; recorded.len()];
    std::thread::scope(|scope| {
        // Each worker takes the next index until none is left, so a slow
        // image holds up only its own worker.
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = recorded.get(i) else {
                            break;
                        };
                        done.push((i, prepare_guarded(path, places)));
                    }
                    done
                })
            })
            .collect();
        for worker in workers {
            // A worker cannot panic (each image is guarded); if one did,
            // its images fall back to the message below.
            if let Ok(done) = worker.join() {
                for (i, view) in done {
                    views[i] = Some(view);
                }
            }
        }
    });
    views
        .into_iter()
        .map(|view| {
            view.unwrap_or_else(|| ImageView {
                href: None,
                sidecar_href: None,
                preview: Preview::Unusable {
                    reason: "the thumbnail worker stopped".to_owned(),
                },
            })
        })
        .collect()
}

/// [`prepare`], with a decoder panic on a hostile file turned into an
/// unusable image rather than a lost page.
fn prepare_guarded(recorded: &str, places: &Places) -> ImageView {
    catch_unwind(AssertUnwindSafe(|| prepare(recorded, places))).unwrap_or_else(|_| ImageView {
        href: None,
        sidecar_href: None,
        preview: Preview::Unusable {
            reason: "the image decoder failed on this file".to_owned(),
        },
    })
}

/// Finds one recorded image, links it, and makes or reuses its thumbnail.
pub(crate) fn prepare(recorded: &str, places: &Places) -> ImageView {
    let Some((found, meta)) = locate::locate(recorded, places.dir, places.saved_from) else {
        return ImageView {
            href: None,
            sidecar_href: None,
            preview: Preview::Missing,
        };
    };
    let image = std::fs::canonicalize(&found).unwrap_or(found);
    let sidecar_href = locate::sidecar_of(&image).map(|s| locate::href(places.dir, &s));
    let name = thumbnail_name(&locate::key(places.dir, &image), &image);
    let thumb = places.thumbs.join(&name);
    let href = format!("{THUMBNAIL_FOLDER}/{name}");
    let preview = if is_fresh(&thumb, &meta) {
        Preview::Thumbnail { href, made: false }
    } else {
        match make_thumbnail(&image, &thumb, places.thumbs) {
            Ok(()) => Preview::Thumbnail { href, made: true },
            Err(reason) => Preview::Unusable { reason },
        }
    };
    ImageView {
        href: Some(locate::href(places.dir, &image)),
        sidecar_href,
        preview,
    }
}

/// `<readable stem>-<hash of the image's path below DIR>.jpg`: one name per
/// image, only `[a-z0-9-]`, so it needs no escaping anywhere.
pub(crate) fn thumbnail_name(key: &str, image: &Path) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let stem = image
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let mut readable = String::new();
    for c in stem.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            readable.push(c);
        } else if !readable.is_empty() && !readable.ends_with('-') {
            readable.push('-');
        }
        if readable.len() >= 40 {
            break;
        }
    }
    let readable = readable.trim_end_matches('-');
    if readable.is_empty() {
        format!("{hash}.jpg")
    } else {
        format!("{readable}-{hash}.jpg")
    }
}

/// Whether the thumbnail at `thumb` exists, is not empty, and is no older
/// than the image (whose metadata is `image`).
fn is_fresh(thumb: &Path, image: &Metadata) -> bool {
    let Ok(thumb) = std::fs::metadata(thumb) else {
        return false;
    };
    match (thumb.modified(), image.modified()) {
        (Ok(thumb_time), Ok(image_time)) => thumb.len() > 0 && thumb_time >= image_time,
        // Without modification times, make it again rather than show a
        // stale picture.
        _ => false,
    }
}

/// Decodes `image`, shrinks it to fit [`THUMBNAIL_SIZE`] (never enlarging it), flattens any
/// transparency onto white, and writes a JPEG to `thumb` through a
/// temporary file in `folder`. The error is a sentence for the card.
pub(crate) fn make_thumbnail(image: &Path, thumb: &Path, folder: &Path) -> Result<(), String> {
    let decoded = ImageReader::open(image)
        .map_err(|e| format!("cannot open the image: {e}"))?
        .with_guessed_format()
        .map_err(|e| format!("cannot read the image: {e}"))?
        .decode()
        .map_err(|e| format!("cannot decode the image: {e}"))?;
    let small = flatten(shrink::fit(decoded, THUMBNAIL_SIZE));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
        .encode_image(&small)
        .map_err(|e| format!("cannot encode the thumbnail: {e}"))?;
    // Not synced: a thumbnail is cheap to make again, and 10,000 fsyncs
    // are not.
    write_atomically(folder, thumb, &jpeg, false)
        .map_err(|e| format!("cannot write the thumbnail: {e}"))
}

/// RGB pixels, with any alpha composited over white (JPEG has no alpha,
/// and a transparent image's hidden colours are arbitrary).
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over_white =
            |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        image::Rgb([over_white(r), over_white(g), over_white(b)])
    })
}

/// Writes `bytes` to a temporary file in `folder`, then renames it to
/// `path` (atomic on one file system); `durable` flushes it to the disk
/// first, so a crash cannot leave an empty file under the final name.
pub(crate) fn write_atomically(
    folder: &Path,
    path: &Path,
    bytes: &[u8],
    durable: bool,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    // A temporary file is private (0600); the page and its thumbnails are
    // to be read by whoever may read the folder (a web server, a colleague):
    // the folder's own permissions still decide who that is.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut temp = builder.tempfile_in(folder)?;
    temp.write_all(bytes)?;
    if durable {
        temp.as_file().sync_all()?;
    }
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The thumbnail folder of `dir`.
pub(crate) fn folder_of(dir: &Path) -> PathBuf {
    dir.join(THUMBNAIL_FOLDER)
}
