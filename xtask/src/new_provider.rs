//! `cargo xtask new-provider NAME`: scaffold a provider.
//!
//! Creates, under the workspace root:
//! - `schemas/NAME/` with three template schemas (generate request, task
//!   status, error body) to replace with the provider's documented messages;
//! - `crates/imagegen-NAME/`, a crate that compiles: `generated.rs` from those
//!   schemas, a skeleton `ImageProvider` on `imagegen_core::ProviderBase`
//!   whose `submit`/`status` return
//!   [`Error::not_implemented`](https://docs.rs/imagegen-core) until written,
//!   and `tests/wire.rs` and `tests/provider.rs` on the shared helpers of
//!   `imagegen-test-support`;
//!
//! and registers the crate in the root `Cargo.toml` (`members`,
//! `[workspace.dependencies]`) and in the `imagegen` facade (optional
//! dependency, feature `NAME`, not on by default, a `pub use` re-export, and
//! feature-gated entries in `registry.rs`, so `imagegen::provider("NAME", ..)`
//! and the CLI's `--provider NAME` know it).
//! Nothing is written when the name is invalid or already taken.

use std::fs;
use std::path::Path;

use anyhow::{Context as _, Result, bail, ensure};

use crate::codegen;

/// The marker line in the facade's `Cargo.toml` after which provider
/// features are listed.
pub const FEATURE_MARKER: &str = "# provider features (xtask new-provider appends here)";

/// The marker line in the facade's `registry.rs` above which `providers()`
/// lists its entries.
pub const REGISTRY_LIST_MARKER: &str = "// xtask new-provider: provider entries above this line";

/// The marker line in the facade's `registry.rs` above which `provider()`
/// matches provider names.
pub const REGISTRY_MATCH_MARKER: &str = "// xtask new-provider: provider arms above this line";

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
    println!("      then implement submit/status in crates/imagegen-{name}/src/lib.rs");
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
/// `ProviderInfo` push in `providers()` above [`REGISTRY_LIST_MARKER`], and
/// a feature-gated arm in `provider()` above [`REGISTRY_MATCH_MARKER`]
/// (written against the skeleton's `NAME`, `*_VAR`, `DEFAULT_BASE_URL`,
/// `capabilities()` and `new(config)`). Idempotent: a section that already
/// has a `#[cfg(feature = "NAME")]` entry is left as it is. [`run`] then
/// lets rustfmt wrap what is too long.
pub fn register_in_registry(registry: &str, name: &str) -> Result<String> {
    let p = pascal(name);
    let gate = format!("#[cfg(feature = \"{name}\")]");
    let entry = [
        format!("    {gate}"),
        "    list.push(ProviderInfo {".to_owned(),
        format!("        name: crate::{name}::NAME,"),
        format!("        api_key_var: crate::{name}::API_KEY_VAR,"),
        format!("        base_url_var: crate::{name}::BASE_URL_VAR,"),
        format!("        default_base_url: crate::{name}::DEFAULT_BASE_URL,"),
        format!("        capabilities: crate::{name}::{p}Provider::capabilities(),"),
        "    });".to_owned(),
    ];
    let arm = [
        format!("        {gate}"),
        format!(
            "        crate::{name}::NAME => Ok(Arc::new(crate::{name}::{p}Provider::new(config)?)),"
        ),
    ];

    let mut lines: Vec<String> = registry.lines().map(str::to_owned).collect();
    for (function, marker, insert) in [
        ("pub fn providers()", REGISTRY_LIST_MARKER, &entry[..]),
        ("pub fn provider(", REGISTRY_MATCH_MARKER, &arm[..]),
    ] {
        let start = position(&lines, 0, |l| l.starts_with(function))
            .with_context(|| format!("no `{function}` in crates/imagegen/src/registry.rs"))?;
        let at = position(&lines, start, |l| l.trim() == marker).with_context(|| {
            format!("no `{marker}` line in `{function}` of crates/imagegen/src/registry.rs")
        })?;
        if lines[start..at].iter().any(|l| l.trim() == gate) {
            continue; // already registered
        }
        lines.splice(at..at, insert.iter().cloned());
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
async-trait.workspace = true

[dev-dependencies]
# Path only, no version: a publish strips it (the crate is never published).
imagegen-test-support = {{ path = "../imagegen-test-support" }}
"#
    )
}

/// The new crate's `src/lib.rs`: the generated module and a skeleton
/// provider that compiles and answers "not implemented".
pub fn crate_lib(name: &str) -> String {
    let p = pascal(name);
    let upper = name.to_ascii_uppercase();
    format!(
        r#"//! imagegen-{name}: the {name} provider for imagegen.
//!
//! Skeleton from `cargo xtask new-provider {name}`. To finish it:
//! 1. replace the template schemas in `schemas/{name}/` with the provider's
//!    documented messages and run `cargo xtask codegen`;
//! 2. fill in [`{p}Provider::capabilities`] from the provider's docs;
//! 3. implement `submit` (map [`ImageRequest`] with [`to_wire`], send one HTTP
//!    request with the [`ProviderBase`]) and `status` (parse with
//!    [`parse_task`], map to [`TaskStatus`]);
//! 4. snapshot the round trips in `tests/wire.rs`, and test `submit` and
//!    `status` over HTTP in `tests/provider.rs` (see `imagegen-test-support`).

pub mod generated;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use imagegen_core::capabilities::{{Mode, ReferenceInput}};
use imagegen_core::provider_base::{{BaseUrl, ProviderBase, ProviderSpec}};
use imagegen_core::{{
    Aspect, Capabilities, Error, ImageProvider, ImageRequest, ProviderConfig, Quality, TaskStatus,
}};

use generated::{{{p}GenerateRequest, {p}Quality, {p}Task}};

/// The provider's name, as used in errors, task handles and `--provider`.
pub const NAME: &str = "{name}";
/// Environment variable holding the API key.
pub const API_KEY_VAR: &str = "{upper}_API_KEY";
/// Environment variable overriding the base URL.
pub const BASE_URL_VAR: &str = "{upper}_BASE_URL";
/// The real API's base URL (TEMPLATE: replace with the documented one).
pub const DEFAULT_BASE_URL: &str = "https://api.{name}.example/v1";

const SPEC: ProviderSpec = ProviderSpec::new(NAME, API_KEY_VAR, BASE_URL_VAR, DEFAULT_BASE_URL);

/// The {name} provider: one API key on one base URL.
///
/// `Debug` shows the base URL and a fingerprint of the key, never the key.
#[derive(Clone)]
pub struct {p}Provider {{
    base: ProviderBase,
    root: BaseUrl,
}}

impl fmt::Debug for {p}Provider {{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {{
        self.base.debug_struct(f, "{p}Provider").finish_non_exhaustive()
    }}
}}

impl {p}Provider {{
    /// A provider configured from `config`, with the environment filling gaps.
    pub fn new(config: ProviderConfig) -> Result<Self, Error> {{
        let base = ProviderBase::from_config(SPEC, config, Self::capabilities())?;
        let root = base.parse_base_url()?;
        Ok({p}Provider {{ base, root }})
    }}

    /// What the provider offers (TEMPLATE: take every value from its docs).
    pub fn capabilities() -> Capabilities {{
        Capabilities {{
            aspects: Aspect::ALL.to_vec(),
            qualities: vec![Quality::Medium, Quality::High],
            default_quality: None,
            max_prompt_chars: 4000,
            max_reference_images: 0,
            reference_input: ReferenceInput::Urls,
            input_fidelity: false,
            webhooks: false,
            mode: Mode::Async,
            max_images_per_request: 1,
            poll_interval: Duration::from_secs(5),
            rate_limit: None,
            request_timeout: Duration::from_secs(60),
        }}
    }}

    /// The base URL requests go to, without a trailing slash.
    pub fn base_url(&self) -> &str {{
        self.base.base_url()
    }}
}}

/// Maps the common request onto the wire type (TEMPLATE: map every field
/// the provider offers; refuse, never drop, what it does not).
pub fn to_wire(request: &ImageRequest) -> Result<{p}GenerateRequest, Error> {{
    let prompt = request
        .prompt
        .parse()
        .map_err(|e| Error::invalid_request(format!("prompt: {{e}}")).with_provider(NAME))?;
    let quality = match request.quality {{
        None => None,
        Some(Quality::Medium) => Some({p}Quality::Medium),
        Some(Quality::High) => Some({p}Quality::High),
        Some(other) => {{
            return Err(Error::invalid_request(format!(
                "{{NAME}} does not offer quality {{other:?}}"
            ))
            .with_provider(NAME));
        }}
    }};
    Ok({p}GenerateRequest {{ prompt, quality }})
}}

/// Parses a task (create or status response body).
pub fn parse_task(body: &[u8]) -> Result<{p}Task, Error> {{
    serde_json::from_slice(body)
        .map_err(|e| Error::decode("task", body, e).with_provider(NAME))
}}

#[async_trait]
impl ImageProvider for {p}Provider {{
    fn name(&self) -> &str {{
        NAME
    }}

    fn capabilities(&self) -> &Capabilities {{
        self.base.capabilities()
    }}

    fn account_id(&self) -> String {{
        self.base.account_id().to_owned()
    }}

    /// TEMPLATE: use the documented path, send with
    /// `self.base.send(http).await?`, and map the answer (a 2xx to a
    /// [`TaskStatus`] via [`parse_task`], anything else to an [`Error`]).
    async fn submit(&self, request: &ImageRequest) -> Result<TaskStatus, Error> {{
        let body = to_wire(request)?;
        let _http = self.base.client().post(self.root.endpoint(&["tasks"])).json(&body);
        Err(Error::not_implemented(NAME, "submit"))
    }}

    /// TEMPLATE: as `submit`, one GET of the task.
    async fn status(&self, task_id: &str) -> Result<TaskStatus, Error> {{
        let _http = self.base.client().get(self.root.endpoint(&["tasks", task_id]));
        Err(Error::not_implemented(NAME, "status"))
    }}
}}
"#
    )
}

/// The new crate's tests, as `(file name under tests/, text)`: the schema
/// examples round-tripped through the generated types, and the provider's
/// constructor, both on `imagegen-test-support`.
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
    let provider = format!(
        r#"//! The provider's constructor. TEMPLATE: once `submit` and `status` are
//! written, test them over real HTTP on loopback (`imagegen-sim`, or a
//! listener that captures the exact request) with `imagegen-test-support`.

use imagegen_core::ImageProvider;
use imagegen_test_support::{{assert_key_hidden, provider}};
use imagegen_{name}::{{{p}Provider, NAME}};

#[test]
fn configured_from_config_and_the_key_never_shows() {{
    let instance = provider({p}Provider::new, "http://127.0.0.1:9/v1/", "{name}-super-secret-key");
    assert_eq!(instance.name(), NAME);
    assert_eq!(instance.base_url(), "http://127.0.0.1:9/v1");
    assert_key_hidden(&instance, "super-secret");
}}
"#
    );
    vec![("wire.rs", wire), ("provider.rs", provider)]
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
        assert!(lib.contains("impl ImageProvider for DemoProvider"));
        assert!(!lib.contains("todo!") && !lib.contains("unimplemented!"));
        assert_eq!(
            codegen::rustfmt(&lib).unwrap(),
            lib,
            "the skeleton is rustfmt-clean"
        );
        assert!(lib.contains("ProviderBase::from_config(SPEC, config"));
        let crate_manifest = read(&root.join("crates/imagegen-demo/Cargo.toml")).unwrap();
        assert!(
            crate_manifest
                .contains("imagegen-test-support = { path = \"../imagegen-test-support\" }")
        );
        for test in ["wire.rs", "provider.rs"] {
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
            registry.contains("    #[cfg(feature = \"demo\")]\n    list.push(ProviderInfo {\n        name: crate::demo::NAME,\n"),
            "providers() lists demo:\n{registry}"
        );
        assert!(
            registry.contains("        #[cfg(feature = \"demo\")]\n        crate::demo::NAME => Ok(Arc::new(crate::demo::DemoProvider::new(config)?)),\n"),
            "provider() builds demo:\n{registry}"
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
    fn registry_entries_go_above_the_markers_once() {
        let before = real_registry();
        let once = register_in_registry(&before, "acme").unwrap();
        let gate = "#[cfg(feature = \"acme\")]";
        assert_eq!(once.matches(gate).count(), 2, "{once}");
        // Inside providers(), after the existing entries, before `list`.
        let list = once.find(REGISTRY_LIST_MARKER).unwrap();
        let entry = once.find("name: crate::acme::NAME,").unwrap();
        assert!(once.find("name: crate::openai::OpenAi::NAME").unwrap() < entry && entry < list);
        assert!(once[list..].starts_with(&format!("{REGISTRY_LIST_MARKER}\n    list\n}}")));
        // Inside provider(), before the catch-all arm.
        let arm = once
            .find("crate::acme::NAME => Ok(Arc::new(crate::acme::AcmeProvider::new(config)?)),")
            .unwrap();
        let matcher = once.find(REGISTRY_MATCH_MARKER).unwrap();
        assert!(once.find("pub fn provider(").unwrap() < arm && arm < matcher);
        assert!(
            once[matcher..].starts_with(&format!("{REGISTRY_MATCH_MARKER}\n        other => {{"))
        );
        // Nothing else changed.
        let removed: String = once
            .lines()
            .filter(|l| !l.contains("acme"))
            .filter(|l| !matches!(l.trim(), "list.push(ProviderInfo {" | "});"))
            .collect::<Vec<_>>()
            .join("\n");
        let original: String = before
            .lines()
            .filter(|l| !matches!(l.trim(), "list.push(ProviderInfo {" | "});"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(removed, original);

        // Idempotent: a second registration, or one of a name already there
        // by hand in either function, adds nothing.
        assert_eq!(register_in_registry(&once, "acme").unwrap(), once);
        let formatted = codegen::rustfmt(&once).unwrap();
        assert_eq!(register_in_registry(&formatted, "acme").unwrap(), formatted);
        let only_arm = once.replacen(
            "    #[cfg(feature = \"acme\")]\n    list.push(ProviderInfo {",
            "    list.push(ProviderInfo {",
            1,
        );
        let repaired = register_in_registry(&only_arm, "acme").unwrap();
        assert_eq!(repaired.matches(gate).count(), 2, "{repaired}");
        assert_eq!(repaired.matches("crate::acme::NAME =>").count(), 1);
        // Another provider goes after the first.
        let twice = register_in_registry(&once, "zeta").unwrap();
        assert!(
            twice.find("crate::acme::NAME,").unwrap() < twice.find("crate::zeta::NAME,").unwrap()
        );
    }

    #[test]
    fn registry_without_markers_is_refused() {
        let before = real_registry();
        for marker in [REGISTRY_LIST_MARKER, REGISTRY_MATCH_MARKER] {
            let err = register_in_registry(&before.replace(marker, "// gone"), "acme").unwrap_err();
            assert!(err.to_string().contains(marker), "{err}");
        }
    }

    /// The registry entry calls the skeleton by the names the skeleton
    /// defines (`new_provider_builds` compiles both; this is the quick check).
    #[test]
    fn registry_entry_names_what_the_skeleton_defines() {
        let lib = crate_lib("acme");
        for item in [
            "pub const NAME: &str",
            "pub const API_KEY_VAR: &str",
            "pub const BASE_URL_VAR: &str",
            "pub const DEFAULT_BASE_URL: &str",
            "pub struct AcmeProvider",
            "pub fn new(config: ProviderConfig) -> Result<Self, Error>",
            "pub fn capabilities() -> Capabilities",
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
