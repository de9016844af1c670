//! `imagegen providers`: what each provider offers.

use imagegen_core::{Capabilities, Mode};
use serde::Serialize;

use crate::args::ProvidersArgs;
use crate::exit::{CliResult, Exit};

#[derive(Serialize)]
struct Row {
    name: &'static str,
    about: &'static str,
    key_env: &'static str,
    base_url_env: &'static str,
    default_base_url: &'static str,
    credits_per_image: f64,
    capabilities: Capabilities,
}

/// How one cell of the table is computed from a provider's row.
type Cell = Box<dyn Fn(&Row) -> String>;

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn secs(d: std::time::Duration) -> String {
    crate::progress::human_duration(d)
}

/// A rate window as its seller states it: `10s`, `1m`, `200ms`.
fn window(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms > 0 && ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms > 0 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

pub fn run(args: ProvidersArgs) -> CliResult<Exit> {
    let rows: Vec<Row> = crate::providers::all()
        .into_iter()
        .map(|p| Row {
            name: p.spec.name,
            about: p.spec.about,
            key_env: p.spec.api_key_var,
            base_url_env: p.spec.base_url_var,
            default_base_url: p.spec.default_base_url,
            credits_per_image: p.spec.credits_per_image,
            capabilities: p.capabilities(),
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("capabilities serialize")
        );
        return Ok(Exit::Ok);
    }
    let fields: Vec<(&str, Cell)> = vec![
        ("aspects", Box::new(|r: &Row| list(&r.capabilities.aspects))),
        (
            "qualities",
            Box::new(|r: &Row| list(&r.capabilities.qualities)),
        ),
        (
            "prompt limit",
            Box::new(|r: &Row| format!("{} chars", r.capabilities.max_prompt_chars)),
        ),
        (
            "reference images",
            Box::new(|r: &Row| match r.capabilities.max_reference_images {
                0 => "no".into(),
                n => format!(
                    "up to {n} ({})",
                    match r.capabilities.reference_input {
                        imagegen_core::ReferenceInput::Urls => "URLs",
                        imagegen_core::ReferenceInput::Uploads => "files or URLs",
                    }
                ),
            }),
        ),
        (
            "input fidelity",
            Box::new(|r: &Row| yes(r.capabilities.input_fidelity)),
        ),
        ("webhooks", Box::new(|r: &Row| yes(r.capabilities.webhooks))),
        (
            "formats",
            Box::new(|r: &Row| list(&r.capabilities.output_formats)),
        ),
        (
            "moderation",
            Box::new(|r: &Row| yes(r.capabilities.moderation)),
        ),
        (
            "mode",
            Box::new(|r: &Row| match r.capabilities.mode {
                Mode::Sync => "sync".into(),
                Mode::Async => "async (submit, poll)".into(),
            }),
        ),
        (
            "images per request",
            Box::new(|r: &Row| r.capabilities.max_images_per_request.to_string()),
        ),
        (
            "poll interval",
            Box::new(|r: &Row| match r.capabilities.mode {
                Mode::Sync => "-".into(),
                Mode::Async => match r.capabilities.fastest_poll_interval {
                    // The advice is a range: polled this fast near the finish.
                    Some(fastest) if fastest < r.capabilities.poll_interval => {
                        format!("{}-{}", secs(fastest), secs(r.capabilities.poll_interval))
                    }
                    _ => secs(r.capabilities.poll_interval),
                },
            }),
        ),
        (
            "rate limit",
            Box::new(|r: &Row| match r.capabilities.rate_limit {
                Some(rl) => format!("{} per {}", rl.requests, window(rl.per)),
                None => "not published".into(),
            }),
        ),
        ("key", Box::new(|r: &Row| r.key_env.to_owned())),
    ];
    let label = fields.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let cells: Vec<Vec<String>> = fields
        .iter()
        .map(|(_, f)| rows.iter().map(f).collect())
        .collect();
    let widths: Vec<usize> = (0..rows.len())
        .map(|i| {
            cells
                .iter()
                .map(|c| c[i].len())
                .chain([rows[i].name.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("{:label$}", "");
    for (i, r) in rows.iter().enumerate() {
        out.push_str(&format!("  {:w$}", r.name, w = widths[i]));
    }
    out = out.trim_end().to_owned();
    out.push('\n');
    for ((l, _), row) in fields.iter().zip(&cells) {
        let mut line = format!("{l:label$}");
        for (i, c) in row.iter().enumerate() {
            line.push_str(&format!("  {c:w$}", w = widths[i]));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    print!("{out}");
    Ok(Exit::Ok)
}

fn yes(b: bool) -> String {
    if b { "yes".into() } else { "no".into() }
}
