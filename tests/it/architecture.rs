//! The dependency rules of ARCHITECTURE.md, checked: the compiler enforces what a crate may
//! use only as long as its Cargo.toml does not grow a forbidden dependency.

use std::path::Path;

/// (crate directory, workspace crates and heavy runtime crates it must never depend on)
const RULES: &[(&str, &[&str])] = &[
    ("metrics", &["volley-", "tokio", "hyper", "plotters", "minijinja"]),
    ("plan", &["volley-engine", "volley-report", "volley-harness", "tokio", "hyper"]),
    ("report", &["volley-engine", "volley-plan", "volley-harness", "tokio", "hyper"]),
    ("engine", &["volley-report", "volley-harness"]),
    ("harness", &["volley-engine", "volley-plan"]),
    ("demo", &["volley-"]),
    // The run as a library: everything but the demo service, and no presentation crates of
    // its own (the dashboard's page is embedded, not rendered by a template engine).
    ("runner", &["volley-demo", "plotters", "minijinja", "clap"]),
    // Test servers only: it knows nothing of volley.
    ("testkit", &["volley-"]),
];

fn dependencies(krate: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates").join(krate).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            // dev-dependencies may use anything (tests build fixtures from other crates).
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once(['.', '=']) {
            deps.push(name.trim().to_string());
        }
    }
    deps
}

#[test]
fn the_test_kit_is_only_ever_a_dev_dependency() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    for entry in std::fs::read_dir(&crates).unwrap() {
        let krate = entry.unwrap().file_name().into_string().unwrap();
        if crates.join(&krate).join("Cargo.toml").exists() {
            let deps = dependencies(&krate);
            assert!(
                !deps.iter().any(|d| d == "volley-testkit"),
                "crates/{krate} links the test kit"
            );
        }
    }
}

#[test]
fn crates_depend_one_way() {
    for (krate, forbidden) in RULES {
        let deps = dependencies(krate);
        assert!(!deps.is_empty(), "{krate}: no dependencies parsed");
        for d in &deps {
            for f in *forbidden {
                assert!(
                    !d.starts_with(f),
                    "crates/{krate} must not depend on {d} (ARCHITECTURE.md, code map)"
                );
            }
        }
    }
}
