//! `cargo xtask new-provider NAME`: scaffold a provider.
//!
//! Creates, under the workspace root:
//! - `schemas/NAME/` with three template schemas (generate request, task
//!   status, error body) to replace with the provider's documented messages;
//! - `crates/imagegen-NAME/`, a crate that compiles and works against the
//!   template schemas: `generated.rs` from them, a codec (`NAMECodec`: the
//!   provider's one declaration of name, key and base-URL variables, default
//!   base URL, simulator path, price and capabilities; `POST {base}/generate`,
//!   `GET {base}/tasks/{id}`), a README for its docs and decisions, and
//!   `tests/wire.rs` and `tests/codec.rs` on the shared helpers of
//!   `imagegen-test-support`;
//!
//! and registers the crate in the root `Cargo.toml` (`members`,
//! `[workspace.dependencies]`) and in the `imagegen` facade (optional
//! dependency, feature `NAME`, not on by default, a `pub use` re-export, and
//! a feature-gated line in `registry.rs`, so `imagegen::provider("NAME", ..)`,
//! `imagegen providers` and the CLI's `--provider NAME` know it once the
//! feature is on).
//! Nothing is written when the name is invalid or already taken.

use std::fs;
use std::path::Path;

use anyhow::{Context as _, Result, bail, ensure};

use crate::codegen;

/// The marker line in the facade's `Cargo.toml` after which provider
/// features are listed.
pub const FEATURE_MARKER: &str = "# provider features (xtask new-provider appends here)";

/// The marker line in the facade's `registry.rs` above which `providers()`
/// lists its registrations.
pub const REGISTRY_MARKER: &str = "// xtask new-provider: registrations above this line";

/// Checks that `name` can be a provider name: `[a-z][a-z0-9]*`, so that it
/// is at once a directory, a crate suffix, a feature and a Rust identifier.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    ensure!(
        chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "provider name `{name}` must match [a-z][a-z0-9]* (e.g. `acme`)"
    );
    ensure!(
        !matches!(name, "core" | "sim" | "cli" | "generated" | "error"),
        "`{name}` is reserved"
    );
    Ok(())
}

/// `demo` -> `Demo`: the prefix of the provider's Rust type names.
pub fn pascal(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Scaffolds provider `name` in the workspace at `root` (see the module docs).
pub fn run(root: &Path, name: &str) -> Result<()> {
    validate_name(name)?;
    let schema_dir = root.join("schemas").join(name);
    let crate_dir = root.join("crates").join(format!("imagegen-{name}"));
    ensure!(
        !schema_dir.exists(),
        "{} already exists",
        schema_dir.display()
    );
    ensure!(
        !crate_dir.exists(),
        "{} already exists",
        crate_dir.display()
    );

    // Compute every edit first, so that a failure leaves nothing half done.
    let root_manifest = root.join("Cargo.toml");
    let facade_manifest = root.join("crates/imagegen/Cargo.toml");
    let facade_lib = root.join("crates/imagegen/src/lib.rs");
    let registry = root.join("crates/imagegen/src/registry.rs");
    let new_root = register_in_workspace(&read(&root_manifest)?, name)?;
    let new_facade = register_in_facade(&read(&facade_manifest)?, name)?;
    // rustfmt sorts the re-exports; format so `cargo fmt --check` stays happy.
    let new_lib = codegen::rustfmt(&reexport_in_facade(&read(&facade_lib)?, name)?)?;
    // Formatted too: long names make the inserted lines wrap.
    let new_registry = codegen::rustfmt(&register_in_registry(&read(&registry)?, name)?)?;

    fs::create_dir_all(&schema_dir)?;
    for (file, text) in template_schemas(name) {
        fs::write(schema_dir.join(file), text)?;
    }
    fs::create_dir_all(crate_dir.join("src"))?;
    fs::write(crate_dir.join("Cargo.toml"), crate_manifest(name))?;
    fs::write(crate_dir.join("README.md"), crate_readme(name))?;
    // Formatted here: line breaks depend on the name's length.
    fs::write(
        crate_dir.join("src/lib.rs"),
        codegen::rustfmt(&crate_lib(name))?,
    )?;
    fs::create_dir_all(crate_dir.join("tests"))?;
    for (file, text) in crate_tests(name) {
        fs::write(crate_dir.join("tests").join(file), codegen::rustfmt(&text)?)?;
    }
    let provider = codegen::provider(root, name);
    fs::write(&provider.output, codegen::generate(&provider)?)?;

    fs::write(&root_manifest, new_root)?;
    fs::write(&facade_manifest, new_facade)?;
    fs::write(&facade_lib, new_lib)?;
    fs::write(&registry, new_registry)?;

    println!("created schemas/{name}/ and crates/imagegen-{name}/");
    println!("registered imagegen-{name} in Cargo.toml and the imagegen facade (feature `{name}`)");
    println!(
        "listed `{name}` in crates/imagegen/src/registry.rs (`imagegen::provider(\"{name}\", ..)`, `--provider {name}`)"
    );
    println!(
        "next: write the provider's real schemas in schemas/{name}/, run `cargo xtask codegen`,"
    );
    println!("      then adapt the codec in crates/imagegen-{name}/src/lib.rs and its README");
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Adds the crate to `members` and `[workspace.dependencies]` of the root
/// manifest's text, after the last `imagegen-*` entry of each.
pub fn register_in_workspace(manifest: &str, name: &str) -> Result<String> {
    let krate = format!("imagegen-{name}");
    ensure!(
        !manifest.contains(&format!("\"crates/{krate}\"")),
        "{krate} is already a workspace member"
    );
    let mut lines: Vec<String> = manifest.lines().map(str::to_owned).collect();

    // members = [ ... ]
    let start = position(&lines, 0, |l| l.trim_start().starts_with("members = ["))
        .context("no `members = [` in the root Cargo.toml")?;
    let end = position(&lines, start, |l| l.trim() == "]").context("unterminated `members`")?;
    let last = (start..end)
        .rev()
        .find(|&i| lines[i].contains("\"crates/imagegen-"))
        .unwrap_or(end - 1);
    lines.insert(last + 1, format!("    \"crates/{krate}\","));

    // [workspace.dependencies]
    let deps = position(&lines, 0, |l| l.trim() == "[workspace.dependencies]")
        .context("no [workspace.dependencies] in the root Cargo.toml")?;
    let section_end =
        position(&lines, deps + 1, |l| l.trim_start().starts_with('[')).unwrap_or(lines.len());
    let ours: Vec<usize> = (deps + 1..section_end)
        .filter(|&i| lines[i].starts_with("imagegen"))
        .collect();
    ensure!(
        !ours.is_empty(),
        "no imagegen crates in [workspace.dependencies]"
    );
    let version = lines[ours[0]]
        .split("version = \"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap_or("0.1.0")
        .to_owned();
    let after = *ours
        .iter()
        .rev()
        .find(|&&i| lines[i].starts_with("imagegen-"))
        .unwrap_or(ours.last().expect("not empty"));
    lines.insert(
        after + 1,
        format!("{krate} = {{ path = \"crates/{krate}\", version = \"{version}\" }}"),
    );
    Ok(lines.join("\n") + "\n")
}

/// Adds the optional dependency and the feature to the facade manifest's text.
pub fn register_in_facade(manifest: &str, name: &str) -> Result<String> {
    let krate = format!("imagegen-{name}");
    let mut lines: Vec<String> = manifest.lines().map(str::to_owned).collect();
    ensure!(
        !lines.iter().any(|l| l.starts_with(&format!("{name} = "))),
        "the facade already has a feature `{name}`"
    );

    let marker = position(&lines, 0, |l| l.trim() == FEATURE_MARKER)
        .with_context(|| format!("no `{FEATURE_MARKER}` line in crates/imagegen/Cargo.toml"))?;
    let mut after = marker;
    while lines
        .get(after + 1)
        .is_some_and(|l| l.contains("[\"dep:imagegen-"))
    {
        after += 1;
    }
    lines.insert(after + 1, format!("{name} = [\"dep:{krate}\"]"));

    let deps = position(&lines, 0, |l| l.trim() == "[dependencies]")
        .context("no [dependencies] in crates/imagegen/Cargo.toml")?;
    let section_end =
        position(&lines, deps + 1, |l| l.trim_start().starts_with('[')).unwrap_or(lines.len());
    let last = (deps + 1..section_end)
        .rev()
        .find(|&i| lines[i].starts_with("imagegen-"))
        .unwrap_or(deps);
    lines.insert(
        last + 1,
        format!("{krate} = {{ workspace = true, optional = true }}"),
    );
    Ok(lines.join("\n") + "\n")
}

/// Appends the feature-gated re-export to the facade's `lib.rs` text
/// ([`run`] then lets rustfmt sort it among the others).
pub fn reexport_in_facade(lib: &str, name: &str) -> Result<String> {
    let line = format!("pub use imagegen_{name} as {name};");
    if lib.contains(&line) {
        bail!("the facade already re-exports imagegen_{name}");
    }
    let mut out = lib.trim_end().to_owned();
    out.push_str(&format!("\n#[cfg(feature = \"{name}\")]\n{line}\n"));
    Ok(out)
}

/// Adds the provider to the facade's `registry.rs` text: a feature-gated
/// `Registration::of::<NAMECodec>()` in `providers()` above
/// [`REGISTRY_MARKER`]. Idempotent: a provider already registered there is
/// left as it is. [`run`] then lets rustfmt wrap what is too long.
pub fn register_in_registry(registry: &str, name: &str) -> Result<String> {
    let gate = format!("#[cfg(feature = \"{name}\")]");
    let entry = [
        format!("        {gate}"),
        format!(
            "        Registration::of::<crate::{name}::{}Codec>(),",
            pascal(name)
        ),
    ];
    let mut lines: Vec<String> = registry.lines().map(str::to_owned).collect();
    let start = position(&lines, 0, |l| l.starts_with("pub fn providers()"))
        .context("no `pub fn providers()` in crates/imagegen/src/registry.rs")?;
    let at = position(&lines, start, |l| l.trim() == REGISTRY_MARKER).with_context(|| {
        format!("no `{REGISTRY_MARKER}` line in `providers()` of crates/imagegen/src/registry.rs")
    })?;
    if !lines[start..at].iter().any(|l| l.trim() == gate) {
        lines.splice(at..at, entry);
    }
    Ok(lines.join("\n") + "\n")
}

fn position(lines: &[String], from: usize, pred: impl Fn(&str) -> bool) -> Option<usize> {
    (from..lines.len()).find(|&i| pred(&lines[i]))
}

/// The three template schemas, as `(file name, text)`.
pub fn template_schemas(name: &str) -> Vec<(&'static str, String)> {
    let p = pascal(name);
    let request = format!(
        r##"{{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "{p}GenerateRequest",
  "description": "TEMPLATE from `cargo xtask new-provider`: replace with the body of {name}'s create/generate request, as documented. Requests are strict: only documented fields and values.",
  "type": "object",
  "required": ["prompt"],
  "additionalProperties": false,
  "properties": {{
    "prompt": {{
      "description": "What to draw.",
      "type": "string",
      "maxLength": 4000
    }},
    "quality": {{
      "description": "Rendering quality.",
      "$ref": "#/definitions/{p}Quality"
    }}
  }},
  "definitions": {{
    "{p}Quality": {{
      "title": "{p}Quality",
      "description": "Documented quality values.",
      "type": "string",
      "enum": ["medium", "high"]
    }}
  }},
  "examples": [
    {{ "prompt": "A cinematic product photo of a ceramic lamp", "quality": "high" }}
  ]
}}
"##
    );
    let task = format!(
        r##"{{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "{p}Task",
  "description": "TEMPLATE from `cargo xtask new-provider`: replace with {name}'s create/status response, as documented. Responses are open: no `additionalProperties: false`, status as an open string.",
  "type": "object",
  "required": ["id", "status"],
  "properties": {{
    "id": {{
      "description": "Task ID.",
      "type": "string"
    }},
    "status": {{
      "description": "Task status (open string, mapped by the provider code).",
      "type": "string"
    }},
    "urls": {{
      "description": "Result image URLs, once done.",
      "type": "array",
      "items": {{ "type": "string" }}
    }},
    "error": {{
      "description": "Why the task failed.",
      "type": ["string", "null"]
    }}
  }},
  "examples": [
    {{ "id": "task_1", "status": "queued" }},
    {{ "id": "task_1", "status": "succeeded", "urls": ["https://cdn.example.com/1.png"] }}
  ]
}}
"##
    );
    let error = format!(
        r##"{{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "{p}ErrorBody",
  "description": "TEMPLATE from `cargo xtask new-provider`: replace with {name}'s error body, as documented. Accept every documented shape.",
  "type": "object",
  "properties": {{
    "message": {{
      "description": "Human-readable message.",
      "type": "string"
    }},
    "code": {{
      "description": "Machine-readable code.",
      "type": "string"
    }}
  }},
  "examples": [
    {{ "message": "Invalid API key", "code": "invalid_api_key" }}
  ]
}}
"##
    );
    vec![
        ("generate-request.json", request),
        ("task.json", task),
        ("error.json", error),
    ]
}

/// The new crate's `Cargo.toml`.
pub fn crate_manifest(name: &str) -> String {
    format!(
        r#"[package]
name = "imagegen-{name}"
description = "imagegen provider: {name}"
version.workspace = true
edition.workspace = true
license.workspace = true
repository.workspace = true
rust-version.workspace = true

[dependencies]
imagegen-core.workspace = true
serde.workspace = true
serde_json.workspace = true

[dev-dependencies]
# Path only, no version: a publish strips it (the crate is never published).
imagegen-test-support = {{ path = "../imagegen-test-support" }}
"#
    )
}

/// The new crate's `README.md`: its crate docs, where the provider's facts
/// and the decisions taken where its docs are silent belong.
pub fn crate_readme(name: &str) -> String {
    let p = pascal(name);
    format!(
        r#"# imagegen-{name}

The {name} provider of imagegen. TEMPLATE from `cargo xtask new-provider
{name}`: describe the API (base URL, auth, create, status), then every
decision the codec takes where the provider's docs are silent.

```no_run
use imagegen_core::{{Client, ImageRequest}};
use imagegen_{name}::{p};
# async fn demo() -> Result<(), imagegen_core::Error> {{
let client = Client::builder().provider({p}::from_env()?).build()?;
let generation = client.generate(ImageRequest::new("A ceramic lamp")).await?;
# Ok(()) }}
```

This crate is a codec ([`{p}Codec`]) over the wire types generated from
`schemas/{name}/`; the core's `HttpProvider` (aliased as [`{p}`]) sends,
retries, paces and polls. To finish it:

1. replace the template schemas in `schemas/{name}/` with the provider's
   documented messages (descriptions, examples, decisions) and run
   `cargo xtask codegen`;
2. fill in `SPEC` and `capabilities` from the provider's docs;
3. adapt `create`, `read_create`, `status` and `read_status` (and, for the
   flows that need them, `result`, `cancel` and `webhook`: see
   `imagegen_core::codec`), marking documented refusals with
   `Error::refused`;
4. snapshot the round trips in `tests/wire.rs` and the mapping in
   `tests/codec.rs`, and teach `imagegen-sim` the API for tests over HTTP.
"#
    )
}

/// The new crate's `src/lib.rs`: a codec that works against the template
/// schemas, to adapt to the provider's real messages.
pub fn crate_lib(name: &str) -> String {
    let p = pascal(name);
    let upper = name.to_ascii_uppercase();
    format!(
        r#"#![doc = include_str!("../README.md")]

pub mod generated;

use generated::{{{p}ErrorBody, {p}GenerateRequest, {p}Task}};
use imagegen_core::codec::{{Auth, Codec, ProviderSpec, Settings, Target, build, wire}};
use imagegen_core::{{Capabilities, Error, ErrorKind, HttpRequest, HttpResponse, ImageRequest}};
use imagegen_core::{{Quality, TaskRef, TaskState, TaskStatus}};

/// {name} through the core's HTTP client: `{p}::from_env()`.
pub type {p} = imagegen_core::HttpProvider<{p}Codec>;

/// {name}'s wire format (see the crate docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct {p}Codec;

impl Codec for {p}Codec {{
    // TEMPLATE: every value from the provider's docs.
    const SPEC: ProviderSpec = ProviderSpec {{
        name: "{name}",
        about: "submit a task, poll it",
        api_key_var: "{upper}_API_KEY",
        base_url_var: "{upper}_BASE_URL",
        default_base_url: "https://api.{name}.example/v1",
        sim_path: "/{name}",
        auth: Auth::Bearer,
        credits_per_image: 1.0,
        settings: &[],
    }};

    fn capabilities() -> Capabilities {{
        Capabilities {{
            qualities: vec![Quality::Medium, Quality::High],
            ..Capabilities::default()
        }}
    }}

    fn new(_: &Settings) -> Result<Self, Error> {{
        Ok({p}Codec)
    }}

    /// `POST {{base}}/generate`; `provider_options["{name}"]` merged in.
    fn create(&self, request: &ImageRequest, to: &Target) -> Result<HttpRequest, Error> {{
        let body: {p}GenerateRequest = build(
            {p}GenerateRequest::builder()
                .prompt(request.prompt.as_str())
                .quality(wire(request.quality.map(|q| q.as_str()))?),
        )?;
        HttpRequest::post(to.url(&["generate"])).json(&body, (request, "{name}", &[]))
    }}

    fn read_create(&self, answer: &HttpResponse) -> Result<TaskStatus, Error> {{
        read_task(answer)
    }}

    /// `GET {{base}}/tasks/{{id}}`.
    fn status(&self, task: &TaskRef, to: &Target) -> Result<HttpRequest, Error> {{
        Ok(HttpRequest::get(to.url(&["tasks", &task.id])))
    }}

    fn read_status(&self, _: &TaskRef, answer: &HttpResponse) -> Result<TaskStatus, Error> {{
        read_task(answer)
    }}
}}

/// A task (both answers), or the error an answer stands for.
fn read_task(answer: &HttpResponse) -> Result<TaskStatus, Error> {{
    if !answer.is_success() {{
        let body: {p}ErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
        let message = body.message.unwrap_or_else(|| answer.message());
        let mut err = Error::new(ErrorKind::from_http_status(answer.status), message);
        if let Some(code) = body.code {{
            err = err.with_code(code);
        }}
        // TEMPLATE: mark only the refusals the provider documents.
        return Err(match answer.status {{
            400..=499 => err.refused(),
            _ => err,
        }});
    }}
    let task: {p}Task = answer.json("the {name} task")?;
    let state = match task.status.as_str() {{
        "queued" => TaskState::Queued,
        "running" => TaskState::Running,
        "succeeded" => TaskState::Succeeded,
        "failed" => TaskState::failed_because(task.error.as_deref(), None),
        other => TaskState::Unknown {{ raw: other.into() }},
    }};
    TaskStatus::new(task.id, state)
        .with_raw_status(task.status)
        .with_urls(task.urls)
}}
"#
    )
}

/// The new crate's tests, as `(file name, text)`.
pub fn crate_tests(name: &str) -> Vec<(&'static str, String)> {
    let p = pascal(name);
    let wire = format!(
        r#"//! The generated wire types against the schemas' `examples`, so the
//! schemas and the types cannot disagree. TEMPLATE: snapshot what
//! `round_trip` returns with `insta`, as the other providers do.

use imagegen_{name}::generated::{{{p}ErrorBody, {p}GenerateRequest, {p}Task}};
use imagegen_test_support::wire::{{examples, rejects, round_trip}};
use serde_json::json;

const GENERATE_REQUEST: &str = include_str!("../../../schemas/{name}/generate-request.json");
const TASK: &str = include_str!("../../../schemas/{name}/task.json");
const ERROR: &str = include_str!("../../../schemas/{name}/error.json");

#[test]
fn schema_examples_round_trip() {{
    for example in examples(GENERATE_REQUEST) {{
        round_trip::<{p}GenerateRequest>(&example);
    }}
    for example in examples(TASK) {{
        round_trip::<{p}Task>(&example);
    }}
    for example in examples(ERROR) {{
        round_trip::<{p}ErrorBody>(&example);
    }}
}}

#[test]
fn request_rejects_undocumented_fields() {{
    rejects::<{p}GenerateRequest>(json!({{"prompt": "p", "undocumented": true}}));
}}
"#
    );
    let codec = format!(
        r##"//! The codec without I/O: what it sends, and what the client makes of
//! the answers. TEMPLATE: extend to every documented status and error.

use imagegen_core::{{ErrorKind, ImageRequest, Quality, TaskState}};
use imagegen_test_support::{{answer, create_request, read_create, read_status}};
use imagegen_{name}::{p}Codec;

#[test]
fn a_create_is_one_post_of_the_mapped_body() {{
    let request = ImageRequest::new("a lamp").quality(Quality::High);
    let http = create_request::<{p}Codec>(&request).unwrap();
    assert_eq!(http.method, "POST");
    assert!(http.url.as_str().ends_with("/generate"), "{{}}", http.url);
    assert_eq!(
        http.json_body(),
        serde_json::json!({{"prompt": "a lamp", "quality": "high"}})
    );
}}

#[test]
fn answers_become_tasks_and_errors() {{
    let created = read_create::<{p}Codec>(&answer(200, &[], br#"{{"id":"t1","status":"queued"}}"#));
    assert_eq!(created.unwrap().state, TaskState::Queued);
    let done = br#"{{"id":"t1","status":"succeeded","urls":["https://cdn.example/1.png"]}}"#;
    let done = read_status::<{p}Codec>("t1", &answer(200, &[], done)).unwrap();
    assert_eq!(done.outputs.len(), 1);
    let refused = read_create::<{p}Codec>(&answer(401, &[], br#"{{"message":"bad key"}}"#));
    let refused = refused.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unauthorized);
    assert!(!refused.may_have_reached_server());
    let failed = read_create::<{p}Codec>(&answer(502, &[], b"bad gateway")).unwrap_err();
    assert!(failed.may_have_reached_server(), "a 5xx to a create is ambiguous");
}}
"##
    );
    vec![("wire.rs", wire), ("codec.rs", codec)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Scratch, copy_dir};
    use std::process::Command;

    /// A scratch copy of what a workspace build needs.
    fn scratch_workspace(label: &str) -> Scratch {
        let real = codegen::workspace_root();
        let scratch = Scratch::new(label);
        for dir in [".cargo", "crates", "schemas", "xtask", "benches"] {
            if real.join(dir).exists() {
                copy_dir(&real.join(dir), &scratch.path.join(dir)).unwrap();
            }
        }
        for file in ["Cargo.toml", "Cargo.lock"] {
            fs::copy(real.join(file), scratch.path.join(file)).unwrap();
        }
        scratch
    }

    #[test]
    fn names_are_validated() {
        for bad in [
            "",
            "Demo",
            "1x",
            "my-provider",
            "my_provider",
            "core",
            "a b",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        for good in ["demo", "acme2", "x"] {
            validate_name(good).unwrap();
        }
        assert_eq!(pascal("demo"), "Demo");
    }

    #[test]
    fn scaffolds_and_registers_without_building() {
        let scratch = scratch_workspace("new-provider-files");
        let root = &scratch.path;
        run(root, "demo").unwrap();

        for f in ["generate-request.json", "task.json", "error.json"] {
            assert!(root.join("schemas/demo").join(f).is_file(), "{f}");
        }
        let generated = read(&root.join("crates/imagegen-demo/src/generated.rs")).unwrap();
        assert!(generated.contains("pub struct DemoGenerateRequest"));
        assert!(generated.contains("pub struct DemoTask"));
        assert!(generated.contains("pub struct DemoErrorBody"));
        let lib = read(&root.join("crates/imagegen-demo/src/lib.rs")).unwrap();
        assert!(lib.contains("impl Codec for DemoCodec"));
        assert!(!lib.contains("todo!") && !lib.contains("unimplemented!"));
        assert_eq!(
            codegen::rustfmt(&lib).unwrap(),
            lib,
            "the skeleton is rustfmt-clean"
        );
        assert!(lib.contains("api_key_var: \"DEMO_API_KEY\""));
        assert!(lib.contains("pub type Demo = imagegen_core::HttpProvider<DemoCodec>;"));
        assert!(root.join("crates/imagegen-demo/README.md").is_file());
        let crate_manifest = read(&root.join("crates/imagegen-demo/Cargo.toml")).unwrap();
        assert!(
            crate_manifest
                .contains("imagegen-test-support = { path = \"../imagegen-test-support\" }")
        );
        for test in ["wire.rs", "codec.rs"] {
            let text = read(&root.join("crates/imagegen-demo/tests").join(test)).unwrap();
            assert!(text.contains("use imagegen_test_support::"), "{test}");
            assert_eq!(
                codegen::rustfmt(&text).unwrap(),
                text,
                "{test} is rustfmt-clean"
            );
        }

        let manifest = read(&root.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("    \"crates/imagegen-demo\",\n"));
        assert!(manifest.contains(
            "imagegen-demo = { path = \"crates/imagegen-demo\", version = \"0.1.0\" }\n"
        ));
        let facade = read(&root.join("crates/imagegen/Cargo.toml")).unwrap();
        assert!(facade.contains("imagegen-demo = { workspace = true, optional = true }\n"));
        assert!(facade.contains("\ndemo = [\"dep:imagegen-demo\"]\n"));
        let facade_lib = read(&root.join("crates/imagegen/src/lib.rs")).unwrap();
        assert!(
            facade_lib.contains("#[cfg(feature = \"demo\")]\npub use imagegen_demo as demo;\n")
        );
        assert_eq!(codegen::rustfmt(&facade_lib).unwrap(), facade_lib);
        let registry = read(&root.join("crates/imagegen/src/registry.rs")).unwrap();
        assert!(
            registry.contains("        #[cfg(feature = \"demo\")]\n        Registration::of::<crate::demo::DemoCodec>(),\n"),
            "providers() lists demo:\n{registry}"
        );
        assert_eq!(codegen::rustfmt(&registry).unwrap(), registry);

        // The new provider is part of the drift check at once.
        assert_eq!(codegen::check(root).unwrap(), vec![]);
        // Running it twice is refused and changes nothing.
        assert!(run(root, "demo").is_err());
        assert_eq!(read(&root.join("Cargo.toml")).unwrap(), manifest);
        assert_eq!(
            read(&root.join("crates/imagegen/src/registry.rs")).unwrap(),
            registry
        );
    }

    /// The facade's real `registry.rs`.
    fn real_registry() -> String {
        read(&codegen::workspace_root().join("crates/imagegen/src/registry.rs")).unwrap()
    }

    #[test]
    fn registry_entries_go_above_the_marker_once() {
        let before = real_registry();
        let once = register_in_registry(&before, "acme").unwrap();
        let gate = "#[cfg(feature = \"acme\")]";
        assert_eq!(once.matches(gate).count(), 1, "{once}");
        // Inside providers(), after the existing entries, before the marker.
        let marker = once.find(REGISTRY_MARKER).unwrap();
        let entry = once
            .find("Registration::of::<crate::acme::AcmeCodec>(),")
            .unwrap();
        assert!(
            once.find("Registration::of::<crate::openai::OpenAiCodec>()")
                .unwrap()
                < entry
        );
        assert!(entry < marker);
        // Nothing else changed.
        let without: String = once
            .lines()
            .filter(|l| !l.contains("acme"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(without, before.trim_end());

        // Idempotent, formatted or not; another provider goes after the first.
        assert_eq!(register_in_registry(&once, "acme").unwrap(), once);
        let formatted = codegen::rustfmt(&once).unwrap();
        assert_eq!(register_in_registry(&formatted, "acme").unwrap(), formatted);
        let twice = register_in_registry(&once, "zeta").unwrap();
        assert!(
            twice.find("crate::acme::AcmeCodec").unwrap()
                < twice.find("crate::zeta::ZetaCodec").unwrap()
        );
    }

    #[test]
    fn registry_without_its_marker_is_refused() {
        let before = real_registry();
        let err =
            register_in_registry(&before.replace(REGISTRY_MARKER, "// gone"), "acme").unwrap_err();
        assert!(err.to_string().contains(REGISTRY_MARKER), "{err}");
    }

    /// The registry entry names the codec the skeleton defines
    /// (`new_provider_builds` compiles both; this is the quick check).
    #[test]
    fn registry_entry_names_what_the_skeleton_defines() {
        let lib = crate_lib("acme");
        for item in [
            "pub struct AcmeCodec",
            "impl Codec for AcmeCodec",
            "name: \"acme\",",
            "api_key_var: \"ACME_API_KEY\",",
            "base_url_var: \"ACME_BASE_URL\",",
        ] {
            assert!(lib.contains(item), "the skeleton lost `{item}`");
        }
    }

    /// Runs `new-provider demo` on a scratch copy of the workspace, builds
    /// the new crate (tests included) and the facade with its feature,
    /// offline, with clippy warnings denied, and runs the new crate's tests.
    ///
    /// Ignored by default: the first run compiles imagegen-core's dependency
    /// tree into `target/xtask-new-provider` (several minutes on 2 cores;
    /// later runs take well under a minute). Run it with
    /// `cargo test -p xtask -- --ignored new_provider_builds`.
    #[test]
    #[ignore = "builds a scratch workspace; run with `cargo test -p xtask -- --ignored`"]
    fn new_provider_builds() {
        let scratch = scratch_workspace("new-provider-build");
        let root = &scratch.path;
        run(root, "demo").unwrap();
        // A target dir of its own (the outer `cargo test` holds the lock on
        // the main one) that persists between runs, so only the first run
        // builds the dependencies.
        let target = codegen::workspace_root().join("target/xtask-new-provider");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let run_cargo = |args: &[&str]| {
            let out = Command::new(&cargo)
                .current_dir(root)
                .env("CARGO_TARGET_DIR", &target)
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "cargo {} failed:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run_cargo(&[
            "clippy",
            "--offline",
            "--quiet",
            "-p",
            "imagegen-demo",
            "-p",
            "imagegen",
            "--no-default-features",
            "--features",
            "imagegen/demo",
            "--",
            "-D",
            "warnings",
        ]);
        // The scaffolded tests (on imagegen-test-support) build cleanly and pass.
        run_cargo(&[
            "clippy",
            "--offline",
            "--quiet",
            "-p",
            "imagegen-demo",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]);
        run_cargo(&["test", "--offline", "--quiet", "-p", "imagegen-demo"]);
    }
}
