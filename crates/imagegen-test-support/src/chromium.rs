//! Headless Chromium for tests of the pages imagegen writes (the batch
//! gallery): find it, take a screenshot, read the rendered DOM, run a probe
//! script, and check pixels.
//!
//! Chromium is driven through its command line (`--headless --screenshot`,
//! `--dump-dom`) rather than the DevTools protocol: no crate to build, and
//! nothing to go wrong between a test and the browser but one process,
//! which is killed when it overruns [`Chromium::timeout`]. Each run gets
//! its own profile folder, so tests may run browsers in parallel.
//!
//! A test that needs Chromium must fail, never skip, when it is missing:
//! [`Chromium::require`] panics with how to get it.
//!
//! ```no_run
//! use imagegen_test_support::chromium::{Chromium, Window};
//! let chromium = Chromium::require();
//! let page = std::path::Path::new("dataset/index.html");
//! let shot = chromium.screenshot(page, Window::new(1280, 900));
//! let dom = chromium.dump_dom(page, Window::new(1280, 900));
//! assert!(dom.contains("class=\"card"));
//! # let _ = shot;
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use image::RgbaImage;

/// The variable that names the Chromium to use (a path).
pub const CHROMIUM_VAR: &str = "IMAGEGEN_CHROMIUM";

/// Programs looked for on `PATH`, in order, when [`CHROMIUM_VAR`] is unset.
pub const CHROMIUM_NAMES: [&str; 3] = ["chromium", "chromium-headless-shell", "google-chrome"];

/// How to get Chromium, for the failure message.
const HOW_TO_GET_IT: &str = "install it (`apt-get install chromium` on Debian), set \
     IMAGEGEN_CHROMIUM to its path, or run the tests with `cargo xtask test`, which starts \
     the services CI has (PostgreSQL, Chromium)";

/// The browser window: its size in CSS pixels (the device scale is 1) and
/// how much virtual time the page gets to load and run its timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Virtual time budget in milliseconds: Chromium runs the page until it
    /// has been idle for this long in virtual time, so the result does not
    /// depend on how loaded the machine is.
    pub budget_ms: u32,
}

impl Window {
    /// A window of `width` x `height` with a 5 s virtual time budget.
    pub fn new(width: u32, height: u32) -> Window {
        Window {
            width,
            height,
            budget_ms: 5_000,
        }
    }

    /// Sets the virtual time budget.
    pub fn budget_ms(mut self, budget_ms: u32) -> Window {
        self.budget_ms = budget_ms;
        self
    }
}

/// A Chromium (or Chrome) binary that can run headless.
#[derive(Debug, Clone)]
pub struct Chromium {
    program: PathBuf,
    /// How long one run may take in real time before it is killed and the
    /// test fails (default 180 s: a 10,000-card page on a busy 2-core CI
    /// machine takes a few seconds, a hung browser forever).
    pub timeout: Duration,
}

impl Chromium {
    /// The Chromium of [`CHROMIUM_VAR`], else the first of
    /// [`CHROMIUM_NAMES`] on `PATH`; panics with how to get one when there
    /// is none (a browser test must not pass without a browser).
    pub fn require() -> Chromium {
        Chromium::find().unwrap_or_else(|why| panic!("{why}"))
    }

    /// Like [`Chromium::require`], but says why instead of panicking.
    pub fn find() -> Result<Chromium, String> {
        let program = match std::env::var_os(CHROMIUM_VAR) {
            Some(path) if !path.is_empty() => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(format!(
                        "{CHROMIUM_VAR} is {}, which is not a file: point it at a Chromium \
                         binary, or unset it to use one on PATH",
                        path.display()
                    ));
                }
                path
            }
            _ => on_path(&CHROMIUM_NAMES).ok_or_else(|| {
                format!(
                    "headless Chromium is needed and none was found ({CHROMIUM_VAR} is unset \
                     and none of {} is on PATH): {HOW_TO_GET_IT}",
                    CHROMIUM_NAMES.join(", ")
                )
            })?,
        };
        Ok(Chromium {
            program,
            timeout: Duration::from_secs(180),
        })
    }

    /// The binary.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// A screenshot of `page` (a local HTML file) in `window`, after its
    /// virtual time budget. Panics, with Chromium's output, if it fails.
    pub fn screenshot(&self, page: &Path, window: Window) -> RgbaImage {
        let scratch = scratch();
        let out = scratch.path().join("screenshot.png");
        let mut arg = std::ffi::OsString::from("--screenshot=");
        arg.push(&out);
        self.run(page, window, &[arg], &scratch);
        image::open(&out)
            .unwrap_or_else(|e| {
                panic!(
                    "Chromium wrote no readable screenshot of {}: {e}",
                    page.display()
                )
            })
            .to_rgba8()
    }

    /// The DOM of `page` as Chromium serializes it after the virtual time
    /// budget: what scripts made of the page, not the file.
    pub fn dump_dom(&self, page: &Path, window: Window) -> String {
        let scratch = scratch();
        self.run(page, window, &["--dump-dom".into()], &scratch)
    }

    /// Runs `script` (a function body that `return`s a string) in `page`
    /// once it has loaded and its timers have run, and returns the string.
    ///
    /// The script runs in a copy of the page beside it (so relative links
    /// still resolve) without the page's Content-Security-Policy, which
    /// would rightly refuse a script it does not know; the copy is removed
    /// afterwards. Use it to read layout (where the thumbnails are) or
    /// state (`img.complete`), not to judge security.
    pub fn probe(&self, page: &Path, window: Window, script: &str) -> String {
        static PROBES: AtomicUsize = AtomicUsize::new(0);
        let html = std::fs::read_to_string(page)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", page.display()));
        let html = without_csp(&html);
        let injected = format!(
            "<script>window.addEventListener('load', function () {{ setTimeout(function () {{\n\
             var out; try {{ out = String((function () {{ {script} \n}})()); }} \
             catch (e) {{ out = 'probe error: ' + e; }}\n\
             var pre = document.createElement('pre'); pre.id = '__probe'; pre.textContent = out;\n\
             document.body.appendChild(pre); }}, 1000); }});</script>\n"
        );
        let html = match html.rfind("</body>") {
            Some(at) => format!("{}{injected}{}", &html[..at], &html[at..]),
            None => format!("{html}{injected}"),
        };
        let copy = page.with_file_name(format!(
            ".probe-{}-{}.html",
            std::process::id(),
            PROBES.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&copy, html)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", copy.display()));
        let dom = self.dump_dom(&copy, window);
        let _ = std::fs::remove_file(&copy);
        let start = dom.find("<pre id=\"__probe\">").unwrap_or_else(|| {
            panic!(
                "the probe did not run in {}; the DOM:\n{}",
                page.display(),
                tail(&dom)
            )
        }) + "<pre id=\"__probe\">".len();
        let end = dom[start..].find("</pre>").map_or(dom.len(), |e| start + e);
        unescape_text(&dom[start..end])
    }

    /// Runs Chromium on `page` with `extra` arguments; returns its standard
    /// output. Panics with its error output when it fails or overruns.
    fn run(
        &self,
        page: &Path,
        window: Window,
        extra: &[std::ffi::OsString],
        scratch: &tempfile::TempDir,
    ) -> String {
        let mut profile = std::ffi::OsString::from("--user-data-dir=");
        profile.push(scratch.path().join("profile"));
        let stderr_path = scratch.path().join("stderr.txt");
        let stderr =
            std::fs::File::create(&stderr_path).expect("scratch file for Chromium's errors");
        let mut child = Command::new(&self.program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--mute-audio",
                "--force-device-scale-factor=1",
            ])
            .arg(profile)
            .arg(format!("--window-size={},{}", window.width, window.height))
            .arg(format!("--virtual-time-budget={}", window.budget_ms))
            .args(extra)
            .arg(file_url(page))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display()));
        // Read standard output on a thread: a dumped DOM of 10,000 cards
        // fills the pipe long before Chromium exits.
        let mut stdout = child.stdout.take().expect("piped standard output");
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > self.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "Chromium did not finish {} within {:?}; its errors:\n{}",
                        page.display(),
                        self.timeout,
                        tail(&std::fs::read_to_string(&stderr_path).unwrap_or_default())
                    );
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("cannot wait for Chromium: {e}"),
            }
        };
        let out = reader.join().unwrap_or_default();
        if !status.success() {
            panic!(
                "Chromium failed on {} ({status}); its errors:\n{}",
                page.display(),
                tail(&std::fs::read_to_string(&stderr_path).unwrap_or_default())
            );
        }
        out
    }
}

/// The `file://` URL of a local file (made absolute; each segment
/// percent-encoded).
pub fn file_url(path: &Path) -> String {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut url = String::from("file://");
    for component in path.components() {
        match component {
            std::path::Component::Normal(name) => {
                url.push('/');
                for &b in name.as_encoded_bytes() {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        url.push(b as char);
                    } else {
                        url.push_str(&format!("%{b:02X}"));
                    }
                }
            }
            std::path::Component::Prefix(prefix) => {
                url.push('/');
                url.push_str(&prefix.as_os_str().to_string_lossy());
            }
            _ => {}
        }
    }
    url
}

/// Pixels of `image` within `tolerance` (per channel) of `rgb`.
pub fn count_near(image: &RgbaImage, rgb: [u8; 3], tolerance: u8) -> usize {
    image
        .pixels()
        .filter(|p| (0..3).all(|c| p.0[c].abs_diff(rgb[c]) <= tolerance))
        .count()
}

/// Distinct colours in the rectangle (clipped to the image), counting at
/// most `limit`: 1 for a blank region.
pub fn distinct_colours(
    image: &RgbaImage,
    x: u32,
    y: u32,
    width: u32,
    height: u32,
    limit: usize,
) -> usize {
    let mut seen = std::collections::HashSet::new();
    for py in y..(y + height).min(image.height()) {
        for px in x..(x + width).min(image.width()) {
            seen.insert(image.get_pixel(px, py).0);
            if seen.len() >= limit {
                return limit;
            }
        }
    }
    seen.len()
}

/// `html` without its `<meta http-equiv="Content-Security-Policy" ...>`.
fn without_csp(html: &str) -> String {
    let marker = "<meta http-equiv=\"Content-Security-Policy\"";
    match html.find(marker) {
        Some(start) => match html[start..].find('>') {
            Some(len) => format!("{}{}", &html[..start], &html[start + len + 1..]),
            None => html.to_owned(),
        },
        None => html.to_owned(),
    }
}

/// Text content as the DOM serializer escapes it, back to text.
fn unescape_text(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    })
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file() || path.with_extension("exe").is_file()
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("imagegen-chromium-")
        .tempdir()
        .expect("a scratch folder for Chromium")
}

/// The last 4,000 bytes of `text`, for failure messages.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(4_000);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_are_absolute_and_encoded() {
        assert_eq!(
            file_url(Path::new("/tmp/a b/index.html")),
            "file:///tmp/a%20b/index.html"
        );
        assert!(file_url(Path::new("x.html")).starts_with("file:///"));
    }

    #[test]
    fn the_policy_is_taken_out_of_a_probe_copy_only() {
        let page = "<head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\"><title>t</title>";
        assert_eq!(without_csp(page), "<head><title>t</title>");
        assert_eq!(unescape_text("a &lt;b&gt; &amp;lt;"), "a <b> &lt;");
    }

    #[test]
    fn pixels_are_counted() {
        let mut image = RgbaImage::from_pixel(10, 10, image::Rgba([255, 255, 255, 255]));
        image.put_pixel(3, 3, image::Rgba([215, 38, 61, 255]));
        assert_eq!(count_near(&image, [214, 40, 60], 3), 1);
        assert_eq!(distinct_colours(&image, 0, 0, 10, 10, 16), 2);
        assert_eq!(distinct_colours(&image, 5, 5, 100, 100, 16), 1);
    }
}
