//! Text for the simulated images: two bundled DejaVu Sans subsets
//! (`fonts/`), a process-wide glyph cache, greedy wrapping with an ellipsis,
//! and bidi reordering of each line.
//!
//! Whatever the input, nothing here panics: control characters are dropped
//! (tabs become spaces, line breaks start a new paragraph), invisible format
//! characters (joiners, variation selectors, bidi controls, emoji
//! modifiers) are skipped, and a character the font lacks (CJK, most emoji)
//! is drawn as `□`. Hebrew and Arabic lines are put in visual order with
//! `unicode-bidi`; Arabic letters are not shaped (they show their isolated
//! forms).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use unicode_bidi::{BidiInfo, Level};

use super::canvas::Canvas;

static REGULAR_TTF: &[u8] = include_bytes!("../../fonts/DejaVuSans-subset.ttf");
static BOLD_TTF: &[u8] = include_bytes!("../../fonts/DejaVuSans-Bold-subset.ttf");

/// What stands for a character the fonts lack.
pub(crate) const TOFU: char = '\u{25A1}';
/// Ends a truncated text.
pub(crate) const ELLIPSIS: char = '\u{2026}';

/// The two faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Face {
    Regular,
    Bold,
}

fn font(face: Face) -> &'static FontRef<'static> {
    static FONTS: OnceLock<(FontRef<'static>, FontRef<'static>)> = OnceLock::new();
    let (regular, bold) = FONTS.get_or_init(|| {
        (
            FontRef::try_from_slice(REGULAR_TTF).expect("bundled regular font parses"),
            FontRef::try_from_slice(BOLD_TTF).expect("bundled bold font parses"),
        )
    });
    match face {
        Face::Regular => regular,
        Face::Bold => bold,
    }
}

/// The face and glyph that draw `c` in `face`: the bold face falls back to
/// the regular one, and the regular one to [`TOFU`].
fn resolve(face: Face, c: char) -> (Face, GlyphId) {
    let id = font(face).glyph_id(c);
    if id.0 != 0 {
        return (face, id);
    }
    if face == Face::Bold {
        let id = font(Face::Regular).glyph_id(c);
        if id.0 != 0 {
            return (Face::Regular, id);
        }
    }
    (Face::Regular, font(Face::Regular).glyph_id(TOFU))
}

/// Whether the regular face has a glyph for `c`.
pub(crate) fn covered(c: char) -> bool {
    font(Face::Regular).glyph_id(c).0 != 0
}

/// Characters that take no room and are skipped.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                      // soft hyphen
        | '\u{034F}'                    // combining grapheme joiner
        | '\u{061C}'                    // Arabic letter mark
        | '\u{180E}'
        | '\u{200B}'..='\u{200F}'       // zero-width space, joiners, LRM, RLM
        | '\u{202A}'..='\u{202E}'       // bidi embeddings and overrides
        | '\u{2060}'..='\u{206F}'       // word joiner, invisible operators, isolates
        | '\u{FE00}'..='\u{FE0F}'       // variation selectors
        | '\u{FEFF}'                    // byte order mark
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{1F3FB}'..='\u{1F3FF}'     // emoji skin tones
        | '\u{E0000}'..='\u{E007F}'     // tags
        | '\u{E0100}'..='\u{E01EF}'     // variation selectors supplement
    )
}

/// `s` made drawable: `\n` separates paragraphs (`\r\n` and `\r` become
/// `\n`), tabs and other spaces become ` `, other control and invisible
/// characters are dropped, characters the font lacks become [`TOFU`].
pub(crate) fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\u{2028}' | '\u{2029}' | '\u{85}' => out.push('\n'),
            c if c.is_whitespace() => out.push(' '),
            '\u{200D}' => {
                // A joiner between two missing characters (an emoji
                // sequence): the whole sequence stands as one box.
                if out.ends_with(TOFU) && chars.peek().is_some_and(|&n| !covered(n)) {
                    chars.next();
                }
            }
            c if c.is_control() || invisible(c) => {}
            c if covered(c) => out.push(c),
            _ => out.push(TOFU),
        }
    }
    out
}

/// A rasterized glyph: coverage (0 to 255) of a `w` x `h` box whose top-left
/// corner is at (`left`, `top`) from the pen position on the baseline.
pub(crate) struct Bitmap {
    pub left: i32,
    pub top: i32,
    pub w: usize,
    pub h: usize,
    pub coverage: Vec<u8>,
}

/// Rasterized glyphs, shared by every render: (face, glyph, pixel size).
fn bitmap(face: Face, id: GlyphId, px: u32) -> Arc<Bitmap> {
    type Cache = Mutex<HashMap<(Face, u16, u32), Arc<Bitmap>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    /// Past this many glyphs the cache starts over (a few MB at most).
    const MAX_GLYPHS: usize = 8192;
    let cache = CACHE.get_or_init(Default::default);
    let key = (face, id.0, px);
    if let Some(b) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return b.clone();
    }
    let glyph = id.with_scale_and_position(PxScale::from(px as f32), point(0.0, 0.0));
    let b = Arc::new(match font(face).outline_glyph(glyph) {
        Some(outlined) => {
            let bounds = outlined.px_bounds();
            let (w, h) = (bounds.width() as usize, bounds.height() as usize);
            let mut coverage = vec![0u8; w * h];
            outlined.draw(|x, y, c| {
                if let Some(p) = coverage.get_mut(y as usize * w + x as usize) {
                    *p = (c.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
                }
            });
            Bitmap {
                left: bounds.min.x as i32,
                top: bounds.min.y as i32,
                w,
                h,
                coverage,
            }
        }
        // Spaces and the like.
        None => Bitmap {
            left: 0,
            top: 0,
            w: 0,
            h: 0,
            coverage: Vec::new(),
        },
    });
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= MAX_GLYPHS {
        map.clear();
    }
    map.insert(key, b.clone());
    b
}

/// Horizontal advance of `c` at `px`.
fn advance(face: Face, c: char, px: u32) -> f32 {
    let (face, id) = resolve(face, c);
    font(face).as_scaled(PxScale::from(px as f32)).h_advance(id)
}

/// Width of `text` (drawn as is) at `px`, kerning left out.
pub(crate) fn width(text: &str, face: Face, px: u32) -> f32 {
    text.chars().map(|c| advance(face, c, px)).sum()
}

/// Ascent of `face` at `px` (baseline below the top of a line).
pub(crate) fn ascent(face: Face, px: u32) -> f32 {
    font(face).as_scaled(PxScale::from(px as f32)).ascent()
}

/// One laid-out line, in visual (left-to-right drawing) order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Line {
    pub text: String,
    pub width: f32,
    /// The line reads right to left (align it right).
    pub rtl: bool,
}

/// Wraps cleaned text (see [`clean`]) into at most `max_lines` lines of at
/// most `max_width` pixels at `px`. Returns the lines and whether text was
/// left out, in which case the last line ends with an ellipsis.
pub(crate) fn wrap(
    text: &str,
    face: Face,
    px: u32,
    max_width: f32,
    max_lines: usize,
) -> (Vec<Line>, bool) {
    // Each line with the direction of its paragraph (when it has RTL text).
    let mut logical: Vec<(String, Option<Level>)> = Vec::new();
    let mut truncated = false;
    let paragraphs: Vec<&str> = text.split('\n').collect();
    'paragraphs: for (pi, para) in paragraphs.iter().enumerate() {
        let chars: Vec<(usize, char, f32)> = para
            .char_indices()
            .map(|(i, c)| (i, c, advance(face, c, px)))
            .collect();
        let n = chars.len();
        let level = has_rtl(para)
            .then(|| {
                BidiInfo::new(para, None)
                    .paragraphs
                    .first()
                    .map(|p| p.level)
            })
            .flatten();
        let byte_at = |k: usize| chars.get(k).map_or(para.len(), |c| c.0);
        let mut i = 0;
        while i < n && chars[i].1 == ' ' {
            i += 1;
        }
        if i == n {
            // A blank line: keep one between paragraphs, never two in a row.
            if logical.last().is_some_and(|l| !l.0.is_empty()) && pi + 1 < paragraphs.len() {
                if logical.len() == max_lines {
                    truncated = true;
                    break 'paragraphs;
                }
                logical.push((String::new(), None));
            }
            continue;
        }
        while i < n {
            if logical.len() == max_lines {
                truncated = true;
                break 'paragraphs;
            }
            let start = i;
            let mut w = 0.0;
            let mut last_space = None;
            let mut j = i;
            while j < n {
                let (_, c, a) = chars[j];
                if c == ' ' {
                    last_space = Some(j);
                }
                if w + a > max_width && j > start {
                    break;
                }
                w += a;
                j += 1;
            }
            let end = match (j < n, last_space) {
                (true, Some(s)) if s > start => s,
                _ => j,
            };
            logical.push((
                para[byte_at(start)..byte_at(end)].trim_end().to_string(),
                level,
            ));
            i = end;
            while i < n && chars[i].1 == ' ' {
                i += 1;
            }
        }
    }
    if logical.last().is_some_and(|l| l.0.is_empty()) {
        logical.pop();
    }
    if truncated && let Some((last, _)) = logical.last_mut() {
        *last = with_ellipsis(last, face, px, max_width);
    }
    let lines = logical
        .into_iter()
        .map(|(l, level)| {
            let (text, rtl) = visual(&l, level);
            Line {
                width: width(&text, face, px),
                text,
                rtl,
            }
        })
        .collect();
    (lines, truncated)
}

/// `line` shortened until it fits with an ellipsis after it.
fn with_ellipsis(line: &str, face: Face, px: u32, max_width: f32) -> String {
    let room = max_width - advance(face, ELLIPSIS, px);
    let mut out = line.to_string();
    while !out.is_empty() && width(&out, face, px) > room {
        out.pop();
    }
    let mut out = out.trim_end().to_string();
    out.push(ELLIPSIS);
    out
}

/// Whether `s` has characters of right-to-left scripts.
fn has_rtl(s: &str) -> bool {
    s.chars().any(|c| {
        matches!(c, '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFC}')
    })
}

/// `line` in visual order, and whether it reads right to left; `level` is
/// its paragraph's direction (None: no right-to-left text in it).
fn visual(line: &str, level: Option<Level>) -> (String, bool) {
    let Some(level) = level else {
        return (line.to_string(), false);
    };
    let info = BidiInfo::new(line, Some(level));
    match info.paragraphs.first() {
        Some(para) => (
            info.reorder_line(para, para.range.clone()).into_owned(),
            para.level.is_rtl(),
        ),
        None => (line.to_string(), false),
    }
}

/// `text` shortened to one line of at most `max_width` (with an ellipsis
/// when cut).
pub(crate) fn fit(text: &str, face: Face, px: u32, max_width: f32) -> Line {
    let (mut lines, _) = wrap(&clean(text).replace('\n', " "), face, px, max_width, 1);
    lines.pop().unwrap_or(Line {
        text: String::new(),
        width: 0.0,
        rtl: false,
    })
}

/// Draws `text` (visual order) with its pen starting at `x` on `baseline`.
pub(crate) fn draw(
    canvas: &mut Canvas,
    text: &str,
    face: Face,
    px: u32,
    x: f32,
    baseline: f32,
    color: [u8; 3],
) {
    let scale = PxScale::from(px as f32);
    let mut pen = x;
    let mut prev: Option<(Face, GlyphId)> = None;
    let base = baseline.round() as i32;
    for c in text.chars() {
        let (f, id) = resolve(face, c);
        let scaled = font(f).as_scaled(scale);
        if let Some((pf, pid)) = prev
            && pf == f
        {
            pen += scaled.kern(pid, id);
        }
        let b = bitmap(f, id, px);
        canvas.blend_glyph(pen.round() as i32 + b.left, base + b.top, &b, color);
        pen += scaled.h_advance(id);
        prev = Some((f, id));
    }
}
