//! What goes where on a simulated image.
//!
//! ```text
//! ┌──────────────────────────────────────────────┐
//! │ SIMULATED            imagegen-sim · not real │  banner
//! │/////////////////// hazard ///////////////////│
//! │   ┌──────────────────────────────────────┐   │
//! │   │ PROMPT                               │   │
//! │   │ the prompt, wrapped, at the largest  │   │  pattern around a
//! │   │ size that fits (ellipsis when cut)   │   │  darkened panel
//! │   └──────────────────────────────────────┘   │
//! │ runbase · run_0123456789abcdef               │  footer
//! │ 1536x1024 · quality medium · png · image 1/1 │
//! └──────────────────────────────────────────────┘
//! ```
//!
//! Lengths are fractions of the shorter side, so the three sizes look alike.

use super::canvas::{self, Canvas, Fill, Pattern, Region};
use super::text::{self, ELLIPSIS, Face};
use super::{ImageFormat, ImageSpec};

const BANNER: [u8; 4] = [17, 17, 17, 255];
const YELLOW: [u8; 3] = [255, 204, 0];
const WHITE: [u8; 3] = [246, 246, 246];
const GREY: [u8; 3] = [205, 205, 205];

/// Prompt sizes tried, largest first, in thousandths of the shorter side.
const PROMPT_SIZES: [u32; 11] = [84, 76, 68, 58, 50, 43, 37, 32, 28, 25, 22];

/// An HSL colour (hue in degrees, saturation and lightness in thousandths) as RGB.
fn hsl(hue: u32, sat: u32, light: u32) -> [u8; 3] {
    let h = (hue % 360) as f32 / 60.0;
    let s = sat as f32 / 1000.0;
    let l = light as f32 / 1000.0;
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let to = |v: f32| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    [to(r), to(g), to(b)]
}

/// The background pattern of a seed.
fn pattern(seed: u64, alpha: bool) -> Pattern {
    let bits = |shift: u32, n: u64| ((seed >> shift) % n) as u32;
    let hue = bits(0, 360);
    let corner = |k: u32, spread: u32| {
        hsl(
            hue + k * spread,
            550 + bits(9 + k * 3, 200),
            400 + bits(20 + k * 4, 170),
        )
    };
    let spread = 25 + bits(36, 50);
    let period = [56, 72, 96, 128, 160][bits(42, 5) as usize];
    let kind = bits(46, 6);
    Pattern {
        corners: [
            corner(0, spread),
            corner(1, spread),
            corner(2, spread),
            corner(3, spread),
        ],
        period,
        stripe: if bits(50, 2) == 0 {
            period / 2
        } else {
            period / 3
        },
        slope: [1, 2, -1, -2, 0, 0][kind as usize],
        checker: kind == 5,
        alpha: if alpha { (150, 36) } else { (255, 255) },
    }
}

fn frac(u: usize, thousandths: u32) -> usize {
    u * thousandths as usize / 1000
}

/// Where things go on an image of `spec`'s size.
struct Geometry {
    w: usize,
    h: usize,
    /// The shorter side.
    u: usize,
    banner_h: usize,
    hazard_h: usize,
    margin: usize,
    footer_h: usize,
    panel: Region,
    /// Padding inside the panel.
    pad: usize,
    label_px: u32,
    label_base: f32,
    /// The prompt's box: top, bottom, width.
    area: (f32, f32, f32),
}

impl Geometry {
    fn of(spec: &ImageSpec) -> Self {
        let (w, h) = spec.size.dims();
        let (w, h) = (w as usize, h as usize);
        let u = w.min(h);
        let banner_h = frac(u, 110);
        let hazard_h = frac(u, 16);
        let margin = frac(u, 50);
        let footer_h = frac(u, 140);
        let panel = Region {
            x0: margin,
            x1: w - margin,
            y0: banner_h + hazard_h + margin,
            y1: h - footer_h - margin,
            fill: Fill::Dim,
        };
        let pad = frac(u, 30);
        let label_px = frac(u, 21) as u32;
        let label_base = (panel.y0 + pad) as f32 + text::ascent(Face::Bold, label_px);
        let area = (
            label_base + frac(u, 22) as f32,
            (panel.y1 - pad) as f32,
            (panel.x1 - panel.x0 - 2 * pad) as f32,
        );
        Geometry {
            w,
            h,
            u,
            banner_h,
            hazard_h,
            margin,
            footer_h,
            panel,
            pad,
            label_px,
            label_base,
            area,
        }
    }

    /// The prompt's size and lines.
    fn prompt(&self, spec: &ImageSpec) -> (u32, Vec<text::Line>) {
        let (top, bottom, width) = self.area;
        prompt_lines(&text::clean(&spec.prompt), self.u, width, bottom - top)
    }
}

/// The prompt's lines as drawn.
pub(crate) fn prompt_text(spec: &ImageSpec) -> Vec<String> {
    Geometry::of(spec)
        .prompt(spec)
        .1
        .into_iter()
        .map(|l| l.text)
        .collect()
}

/// Draws the image of `spec`.
pub(crate) fn draw(spec: &ImageSpec) -> Canvas {
    let channels = if spec.has_alpha() { 4 } else { 3 };
    let g = Geometry::of(spec);
    let Geometry {
        w,
        h,
        u,
        banner_h,
        hazard_h,
        margin,
        footer_h,
        panel,
        pad,
        label_px,
        label_base,
        area: (area_top, area_bottom, _),
    } = g;
    let regions = [
        Region {
            x0: 0,
            x1: w,
            y0: 0,
            y1: banner_h,
            fill: Fill::Solid(BANNER),
        },
        Region {
            x0: 0,
            x1: w,
            y0: banner_h,
            y1: banner_h + hazard_h,
            fill: Fill::Hazard,
        },
        panel,
        Region {
            x0: 0,
            x1: w,
            y0: h - footer_h,
            y1: h,
            fill: Fill::Dim,
        },
    ];
    let mut c = canvas::background(
        w,
        h,
        channels,
        &pattern(spec.seed(), channels == 4),
        &regions,
    );
    let inner_w = (w - 2 * margin) as f32;

    // Banner: the mark, and what made the image.
    let mark_px = frac(u, 68) as u32;
    let mark = "SIMULATED";
    let mark_w = text::width(mark, Face::Bold, mark_px);
    let cap = |px: u32| 0.73 * px as f32;
    let mark_base = (banner_h as f32 + cap(mark_px)) / 2.0;
    text::draw(
        &mut c,
        mark,
        Face::Bold,
        mark_px,
        margin as f32,
        mark_base,
        YELLOW,
    );
    let note_px = frac(u, 24) as u32;
    let gap = frac(u, 30) as f32;
    let note = text::fit(
        "imagegen-sim \u{b7} not a real generation",
        Face::Regular,
        note_px,
        inner_w - mark_w - gap,
    );
    text::draw(
        &mut c,
        &note.text,
        Face::Regular,
        note_px,
        (w - margin) as f32 - note.width,
        (banner_h as f32 + cap(note_px)) / 2.0,
        GREY,
    );

    // The prompt panel.
    text::draw(
        &mut c,
        "PROMPT",
        Face::Bold,
        label_px,
        (panel.x0 + pad) as f32,
        label_base,
        YELLOW,
    );
    let (px, lines) = g.prompt(spec);
    let line_h = line_height(px);
    let block = line_h * lines.len() as f32;
    let top = area_top + ((area_bottom - area_top - block) / 2.0).max(0.0);
    let ascent = text::ascent(Face::Regular, px);
    for (i, line) in lines.iter().enumerate() {
        let x = if line.rtl {
            (panel.x1 - pad) as f32 - line.width
        } else {
            (panel.x0 + pad) as f32
        };
        let base = top + i as f32 * line_h + (line_h - px as f32) / 2.0 + ascent;
        text::draw(&mut c, &line.text, Face::Regular, px, x, base, WHITE);
    }

    // Footer: who, which task, what was asked.
    let id_px = frac(u, 34) as u32;
    let who = text::fit(
        &format!("{} \u{b7} {}", spec.provider, spec.task_id),
        Face::Bold,
        id_px,
        inner_w,
    );
    let foot_top = (h - footer_h) as f32;
    text::draw(
        &mut c,
        &who.text,
        Face::Bold,
        id_px,
        margin as f32,
        foot_top + footer_h as f32 * 0.42,
        WHITE,
    );
    let details_px = frac(u, 26) as u32;
    let details = text::fit(&details(spec), Face::Regular, details_px, inner_w);
    text::draw(
        &mut c,
        &details.text,
        Face::Regular,
        details_px,
        margin as f32,
        foot_top + footer_h as f32 * 0.78,
        GREY,
    );
    c
}

fn line_height(px: u32) -> f32 {
    (px as f32 * 1.3).round()
}

/// The largest prompt size whose wrapping fits, and its lines; at the
/// smallest size, as many lines as fit, the last ending with an ellipsis.
fn prompt_lines(prompt: &str, u: usize, width: f32, height: f32) -> (u32, Vec<text::Line>) {
    let smallest = frac(u, PROMPT_SIZES[PROMPT_SIZES.len() - 1]) as u32;
    // No more characters than could fit at the smallest size (an average
    // glyph is wider than a fifth of the size): the rest is cut here.
    let max_lines = |px: u32| ((height / line_height(px)).floor() as usize).max(1);
    let budget = max_lines(smallest) * (width / (smallest as f32 * 0.2)) as usize;
    let mut owned;
    let mut prompt = prompt;
    if let Some((cut, _)) = prompt.char_indices().nth(budget) {
        owned = prompt[..cut].to_string();
        owned.push(ELLIPSIS);
        prompt = &owned;
    }
    let mut last = (smallest, Vec::new());
    for &t in &PROMPT_SIZES {
        let px = frac(u, t) as u32;
        let (lines, cut) = text::wrap(prompt, Face::Regular, px, width, max_lines(px));
        if !cut {
            return (px, lines);
        }
        last = (px, lines);
    }
    last
}

fn details(spec: &ImageSpec) -> String {
    let mut parts = vec![
        spec.size.wxh().to_string(),
        format!("quality {}", spec.quality),
        match (spec.format, spec.has_alpha()) {
            (ImageFormat::Jpeg, _) | (_, false) => spec.format.label().to_string(),
            (f, true) => format!("{} transparent", f.label()),
        },
        format!(
            "image {} of {}",
            spec.index + 1,
            spec.count.max(spec.index + 1)
        ),
    ];
    match spec.references {
        0 => {}
        1 => parts.push("1 reference image".to_string()),
        n => parts.push(format!("{n} reference images")),
    }
    parts.join(" \u{b7} ")
}
