//! The source tree is the architecture: imports point down only.
//! planner → (nothing of ours); error → planner; world → planner, error;
//! exec → planner, world, error; ui → planner, world, exec; cli/app/main → all.

use std::fs;
use std::path::Path;

/// Which top-level modules each layer may name with `crate::`.
const ALLOWED: [(&str, &[&str]); 5] = [
    ("planner", &["planner"]),
    ("error.rs", &["planner"]),
    ("world", &["planner", "error", "world"]),
    ("exec", &["planner", "error", "world", "exec"]),
    ("ui", &["planner", "world", "exec", "ui"]),
];

fn rust_files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The `X` of every `crate::X` in the text.
fn crate_paths(text: &str) -> Vec<String> {
    text.match_indices("crate::")
        .map(|(i, m)| {
            text[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn imports_point_down_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (layer, allowed) in ALLOWED {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "no files in src/{layer}");
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            for used in crate_paths(&text) {
                if !allowed.contains(&used.as_str()) {
                    wrong.push(format!("{} uses crate::{used}", file.display()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports pointing up:\n{}",
        wrong.join("\n")
    );
}
