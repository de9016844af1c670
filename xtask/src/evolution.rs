//! Schema evolution: a provider that adds an optional property to a message
//! must cost a schema edit and `cargo xtask codegen`, nothing else.
//!
//! [`add_optional_property`] is the edit; the test below makes it on a
//! scratch copy of the workspace, for one request and one response schema
//! of every provider, regenerates, scaffolds a new provider beside them, and
//! builds and tests the result.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::codegen::{Provider, schema_files};

/// The property the evolution test adds.
pub const ADDED: &str = "added_by_schema_evolution";

/// `schema` (a JSON Schema's text) with an optional string property `name`
/// added to its root object.
pub fn add_optional_property(schema: &str, name: &str) -> Result<String> {
    let mut value: serde_json::Value = serde_json::from_str(schema)?;
    let properties = value
        .get_mut("properties")
        .and_then(|p| p.as_object_mut())
        .context("the schema's root has no `properties`")?;
    properties.insert(
        name.to_owned(),
        serde_json::json!({
            "description": "An optional property a new API version added.",
            "type": "string"
        }),
    );
    Ok(serde_json::to_string_pretty(&value)? + "\n")
}

/// One request schema and one response schema of `provider`: the first
/// file named like a request, and the first named like a response (else
/// the first that is neither a request nor an error).
pub fn request_and_response(provider: &Provider) -> Result<(PathBuf, PathBuf)> {
    let files = schema_files(&provider.schema_dir)?;
    let name = |p: &Path| {
        p.file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    let request = files
        .iter()
        .find(|f| name(f).contains("request"))
        .with_context(|| format!("schemas/{} has no request schema", provider.name))?;
    let response = files
        .iter()
        .find(|f| name(f).contains("response"))
        .or_else(|| {
            files
                .iter()
                .find(|f| !name(f).contains("request") && !name(f).contains("error"))
        })
        .with_context(|| format!("schemas/{} has no response schema", provider.name))?;
    Ok((request.clone(), response.clone()))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::process::Command;

    use super::*;
    use crate::codegen::{self, discover_providers};
    use crate::test_support::{Scratch, copy_dir};

    #[test]
    fn an_optional_property_is_added_to_the_root_only() {
        let schema = r#"{"title": "T", "type": "object", "required": ["a"],
            "properties": {"a": {"type": "string"}}, "additionalProperties": false}"#;
        let edited: serde_json::Value =
            serde_json::from_str(&add_optional_property(schema, "b").unwrap()).unwrap();
        assert_eq!(edited["properties"]["b"]["type"], "string");
        assert_eq!(edited["required"], serde_json::json!(["a"]));
        assert!(add_optional_property(r#"{"type": "string"}"#, "b").is_err());
    }

    /// The target directory the test binary runs from: the scratch build
    /// shares its compiled dependencies (the scratch crates themselves are
    /// other packages, at other paths, so nothing of the real workspace is
    /// overwritten but uplifted library copies).
    fn target_dir() -> PathBuf {
        let exe = std::env::current_exe().unwrap();
        // target/<profile>/deps/xtask-<hash>
        exe.ancestors().nth(3).unwrap().to_path_buf()
    }

    /// A test the scaffolded provider must pass once its feature is on:
    /// the registry lists it, and a generate reaches its base URL (here a
    /// closed port) through the core: a connection error, not "unknown
    /// provider".
    const ACME_TEST: &str = r#"
use imagegen::{ApiKey, Client, ErrorKind, ImageRequest, ProviderConfig};

#[tokio::test]
async fn the_new_provider_is_registered_and_reached() {
    assert!(imagegen::providers().iter().any(|p| p.spec.name == "acme"));
    let provider = imagegen::provider(
        "acme",
        ProviderConfig::new().api_key(ApiKey::new("k")).base_url("http://127.0.0.1:1"),
    )
    .unwrap();
    let client = Client::builder().provider_arc(provider).build().unwrap();
    let err = client.generate(ImageRequest::new("x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(!err.may_have_reached_server(), "{err}");
}
"#;

    /// On a scratch copy: an optional property added to one request and
    /// one response schema of every provider, `codegen`, a new provider
    /// scaffolded; then the workspace (every target) checks, and the
    /// providers' and the facade's tests pass, the new provider's included.
    #[test]
    fn adding_optional_properties_and_a_provider_builds_and_passes() {
        let real = codegen::workspace_root();
        let scratch = Scratch::at(target_dir().join("schema-evolution-scratch"));
        let root = &scratch.path;
        for dir in [".cargo", "crates", "schemas", "xtask", "benches", "docs"] {
            if real.join(dir).exists() {
                copy_dir(&real.join(dir), &root.join(dir)).unwrap();
            }
        }
        for file in ["Cargo.toml", "Cargo.lock", "README.md"] {
            fs::copy(real.join(file), root.join(file)).unwrap();
        }
        let providers = discover_providers(root).unwrap();
        for provider in &providers {
            let (request, response) = request_and_response(provider).unwrap();
            for schema in [request, response] {
                let text = fs::read_to_string(&schema).unwrap();
                fs::write(&schema, add_optional_property(&text, ADDED).unwrap()).unwrap();
            }
        }
        codegen::write_all(root).unwrap();
        for provider in &providers {
            let generated = fs::read_to_string(&provider.output).unwrap();
            assert!(
                generated.matches(&format!("pub {ADDED}:")).count() >= 2,
                "schemas/{}: the new property is generated",
                provider.name
            );
        }
        crate::new_provider::run(root, "acme").unwrap();
        fs::write(root.join("crates/imagegen/tests/acme.rs"), ACME_TEST).unwrap();

        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let run = |args: &[&str]| {
            let out = Command::new(&cargo)
                .current_dir(root)
                .env("CARGO_TARGET_DIR", target_dir())
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "cargo {} failed in the scratch workspace:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "check",
            "--offline",
            "--quiet",
            "--workspace",
            "--all-targets",
        ]);
        let crates: Vec<String> = providers
            .iter()
            .map(|p| format!("imagegen-{}", p.name))
            .chain(["imagegen-acme".to_owned()])
            .collect();
        let mut test = vec!["test", "--offline", "--quiet"];
        for name in &crates {
            test.extend(["-p", name.as_str()]);
        }
        run(&test);
        run(&[
            "test",
            "--offline",
            "--quiet",
            "-p",
            "imagegen",
            "--features",
            "acme",
            "--test",
            "acme",
        ]);
    }
}
