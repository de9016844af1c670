//! The invariants of `docs/ARCHITECTURE.md` that a test can keep, checked
//! on the workspace's source and manifests.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::codegen::{discover_providers, workspace_root};

/// The `.rs` files under `dir`, skipping `tests/` folders and `tests.rs`
/// modules (test code, compiled only under `#[cfg(test)]`).
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "tests") {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The code lines of `path` that ship: before its first `#[cfg(test)]`,
/// comments left out, numbered from 1.
fn shipped_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .take_while(|(_, l)| !l.trim_start().starts_with("#[cfg(test)]"))
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l.to_owned()))
        .collect()
}

/// The provider names: one schema directory each.
fn provider_names(root: &Path) -> Vec<String> {
    discover_providers(root)
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// Every property name any provider schema declares.
fn schema_properties(root: &Path) -> BTreeSet<String> {
    fn walk(value: &serde_json::Value, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    if key == "properties"
                        && let Some(props) = inner.as_object()
                    {
                        out.extend(props.keys().cloned());
                    }
                    walk(inner, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for provider in discover_providers(root).unwrap() {
        for file in crate::codegen::schema_files(&provider.schema_dir).unwrap() {
            let schema: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(file).unwrap()).unwrap();
            walk(&schema, &mut out);
        }
    }
    out
}

/// `dependencies` of a crate manifest, by name.
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = fs::read_to_string(manifest).unwrap();
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && let Some((name, _)) = line.split_once(['=', '.']) {
            names.push(name.trim().to_owned());
        }
    }
    names
}

#[test]
fn provider_crates_are_pure_codecs() {
    let root = workspace_root();
    for name in provider_names(&root) {
        let dir = root.join("crates").join(format!("imagegen-{name}"));
        let deps = dependencies(&dir.join("Cargo.toml"));
        for io in ["reqwest", "tokio", "hyper", "async-trait"] {
            assert!(
                !deps.iter().any(|d| d == io),
                "imagegen-{name} depends on {io}: a provider is a codec, the core sends"
            );
        }
        for file in sources(&dir.join("src")) {
            for (n, line) in shipped_lines(&file) {
                for forbidden in [
                    "tokio::",
                    "reqwest",
                    "std::fs",
                    "std::thread::sleep",
                    "SystemTime::now",
                    "Instant::now",
                ] {
                    assert!(
                        !line.contains(forbidden),
                        "{}:{n} uses `{forbidden}`: codecs hold no transport, clock or files",
                        file.display()
                    );
                }
            }
        }
    }
}

/// Whether `line` names `name` (case-insensitively) as a word or a part of
/// an identifier (`fal`, `FAL_KEY`, `imagegen_fal`, `FalCodec`), not inside
/// a lower-case word (`false`, `default`).
fn names_word(line: &str, name: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let bytes = line.as_bytes();
    let inside_word = |i: Option<usize>| {
        i.and_then(|i| bytes.get(i))
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    lower
        .match_indices(name)
        .any(|(at, _)| !inside_word(at.checked_sub(1)) && !inside_word(Some(at + name.len())))
}

#[test]
fn provider_names_are_found_as_words_not_inside_them() {
    for line in [
        "use imagegen_fal;",
        "FAL_KEY",
        "FalCodec",
        "\"fal\"",
        "a fal task",
    ] {
        assert!(names_word(line, "fal"), "{line}");
    }
    for line in ["false", "Fallback", "default", "refal"] {
        assert!(!names_word(line, "fal"), "{line}");
    }
    assert!(names_word("RunbaseCodec::new()", "runbase"));
}

#[test]
fn the_core_names_no_provider_and_reads_no_wire_field() {
    let root = workspace_root();
    let names = provider_names(&root);
    // Words for a failure's text that many error formats share (RFC 7807's
    // `title` and `detail`, and `message`, `msg`, `error`, `code`): the core's
    // `json_text` reads them from bodies of unknown shape.
    let generic = ["message", "msg", "detail", "error", "title", "code"];
    let wire_fields: Vec<String> = schema_properties(&root)
        .into_iter()
        .filter(|p| !generic.contains(&p.as_str()))
        .collect();
    for file in sources(&root.join("crates/imagegen-core/src")) {
        for (n, line) in shipped_lines(&file) {
            for name in &names {
                assert!(
                    !names_word(&line, name),
                    "{}:{n} names the provider `{name}`: {line}",
                    file.display()
                );
            }
            for field in &wire_fields {
                for access in [
                    format!(".get(\"{field}\")"),
                    format!("[\"{field}\"]"),
                    format!("== \"{field}\""),
                    format!("rename = \"{field}\""),
                ] {
                    assert!(
                        !line.contains(&access),
                        "{}:{n} reads the wire field `{field}`: {line}",
                        file.display()
                    );
                }
            }
        }
    }
}

#[test]
fn the_cli_reads_providers_from_the_registry() {
    let root = workspace_root();
    let names = provider_names(&root);
    for file in sources(&root.join("crates/imagegen-cli/src")) {
        for (n, line) in shipped_lines(&file) {
            for name in &names {
                assert!(
                    !line.contains(&format!("\"{name}\"")),
                    "{}:{n} names the provider `{name}`; read it from the registry: {line}",
                    file.display()
                );
                let var = format!("{}_", name.to_uppercase());
                assert!(
                    !line.contains(&var),
                    "{}:{n} names a variable of `{name}`; read it from the registry: {line}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn the_cli_is_a_shell_over_the_one_client() {
    let root = workspace_root();
    let deps = dependencies(&root.join("crates/imagegen-cli/Cargo.toml"));
    for http in ["reqwest", "hyper", "ureq", "tower"] {
        assert!(
            !deps.iter().any(|d| d == http),
            "imagegen-cli depends on {http}: the core is the only client"
        );
    }
    for file in sources(&root.join("crates/imagegen-cli/src")) {
        for (n, line) in shipped_lines(&file) {
            for forbidden in ["reqwest", "hyper::", "RetryPolicy"] {
                assert!(
                    !line.contains(forbidden),
                    "{}:{n} uses `{forbidden}`: sending, retrying and polling belong to the core",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn the_layers_import_downwards() {
    let core = workspace_root().join("crates/imagegen-core/src");
    for (module, forbidden) in [
        ("transport.rs", "crate::retry"),
        ("transport.rs", "crate::client"),
        ("waiter.rs", "crate::client"),
        ("codec.rs", "crate::client"),
        ("codec.rs", "crate::transport"),
        ("http.rs", "crate::transport"),
    ] {
        for (n, line) in shipped_lines(&core.join(module)) {
            assert!(
                !line.contains(forbidden),
                "{module}:{n} imports {forbidden}: {line}"
            );
        }
    }
}
