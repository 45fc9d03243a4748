//! The repository's own shell scripts (build roots, the end-to-end tests)
//! pass shellcheck, following what they source.
#![allow(clippy::unwrap_used)] // a failed step should panic

use std::path::{Path, PathBuf};
use std::process::Command;

fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file under `dir` that starts with a `#!...sh` line, or ends in `.sh`.
fn scripts(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(scripts(&p));
            continue;
        }
        let head = std::fs::read(&p).unwrap_or_default();
        let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
        let shebang =
            first.starts_with(b"#!") && (first.ends_with(b"sh") || first.ends_with(b"bash"));
        if shebang || p.extension().is_some_and(|e| e == "sh") {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn repository_scripts_pass_shellcheck() {
    let mut files = scripts(&top().join("scripts"));
    files.extend(scripts(&top().join("tests")));
    files.extend(scripts(&top().join("bench")));
    for krate in std::fs::read_dir(top().join("crates")).unwrap() {
        let krate = krate.unwrap().path();
        for sub in ["tests", "bench"] {
            if krate.join(sub).is_dir() {
                files.extend(scripts(&krate.join(sub)));
            }
        }
    }
    let names: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(top()).unwrap().display().to_string())
        .collect();
    for must in [
        "scripts/build-root",
        "scripts/in-root",
        "tests/dist/run.sh",
        "tests/e2e/run.sh",
    ] {
        assert!(
            names.iter().any(|n| n == must),
            "{must} not found among {names:?}"
        );
    }
    for f in &files {
        let out = Command::new("shellcheck")
            .arg("-x")
            .arg(f)
            .current_dir(f.parent().unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "shellcheck {}:\n{}",
            f.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
