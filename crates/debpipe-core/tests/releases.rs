//! releases.tsv is the one place a release is described: a new row reaches
//! the Makefile and the shell scripts (tested on a copy with a fake row),
//! and the consumers name no release themselves.
#![allow(clippy::unwrap_used)] // test helpers: a failed step should panic

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use debpipe_core::release;

fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The files that read releases.tsv instead of naming releases: outside
/// their comments, no codename and no `+debNN` may appear. (The tests'
/// matrix, tests/dist/run.sh's dist-upgrade and pretalx's per-release pins,
/// and `.ci/run`'s choice of release are test scenarios, not facts.)
const CONSUMERS: &[&str] = &[
    "Makefile",
    "scripts/release.sh",
    "scripts/build-root",
    "scripts/in-root",
    "tests/lib.sh",
    "tests/e2e/lib.sh",
    "tests/e2e/mkroot.sh",
    "tests/e2e/run.sh",
    "tests/template-app/run.sh",
    "tests/s3-app/run.sh",
    "tests/foreign-app/run.sh",
    "crates/debpipe-core/src/spec.rs",
    "crates/appspec/src/lib.rs",
    "crates/gen-init/src/lib.rs",
    "crates/gen-init/src/jobs.rs",
];

fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('#') || t.starts_with("//")
}

#[test]
fn consumers_name_no_release_outside_comments() {
    let mut stray = Vec::new();
    for file in CONSUMERS {
        let text = fs::read_to_string(top().join(file)).unwrap();
        for (n, line) in text.lines().enumerate() {
            // Comments, and examples in a tool's help, may name a release.
            if is_comment(line) || line.contains("after_help") {
                continue;
            }
            for r in release::all() {
                if line.contains(r.codename) || line.contains(r.suffix) {
                    stray.push(format!("{file}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        stray.is_empty(),
        "release facts outside releases.tsv:\n{}",
        stray.join("\n")
    );
}

/// A copy of what the shell side needs, with `forky` added as one row.
fn tree_with_forky() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for file in [
        "Makefile",
        "scripts/release.sh",
        "scripts/build-root",
        "scripts/install-deps",
        "scripts/debian-mirror",
        "scripts/timed",
        "tests/e2e/mkroot.sh",
        "tests/lib.sh",
        "tests/e2e/run.sh",
        "tests/e2e/lib.sh",
    ] {
        let to = t.path().join(file);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(top().join(file), &to).unwrap();
    }
    // The tools' sources are only prerequisites of `make tools` here.
    fs::create_dir(t.path().join("crates")).unwrap();
    fs::write(t.path().join("Cargo.toml"), "").unwrap();
    fs::write(t.path().join("Cargo.lock"), "").unwrap();
    let mut table = fs::read_to_string(top().join("releases.tsv")).unwrap();
    table.push_str(
        "forky\t14\t3.13\t25.1.1\t/usr/lib/systemd/system\t1.22.21\tgzip,xz,zstd\t+deb14\n",
    );
    fs::write(t.path().join("releases.tsv"), table).unwrap();
    t
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .current_dir(dir)
        .env_remove("DIST")
        .env_remove("MAKEFLAGS")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_new_row_reaches_the_shell_helper_the_makefile_and_the_root_scripts() {
    let t = tree_with_forky();
    let dir = t.path();
    let out = run(dir, &["scripts/release.sh", "suffix", "forky"]);
    assert_eq!(text(&out), "+deb14\n");
    let out = run(dir, &["scripts/release.sh", "list"]);
    assert!(text(&out).ends_with("trixie\nforky\n"), "{}", text(&out));

    // make DIST=forky: its suffix, its unit directory (gen-init --dist),
    // its dists/ index; make -n needs the root's dpkg database only.
    let cache = dir.join("cache");
    let arch = text(&run(dir, &["dpkg", "--print-architecture"]));
    let status = cache.join(format!("roots/forky-{}/var/lib/dpkg/status", arch.trim()));
    fs::create_dir_all(status.parent().unwrap()).unwrap();
    fs::write(&status, "").unwrap();
    let app = top().join("examples/wechat");
    let out = Command::new("make")
        .args(["-n", "DIST=forky", "MKDEB_CACHE=", "STATIC_CACHE="])
        .arg(format!("APP={}", app.display()))
        .arg(format!("BUILD={}", dir.join("build").display()))
        .arg(format!("DEBPIPE_CACHE={}", cache.display()))
        .current_dir(dir)
        .env_remove("MAKEFLAGS")
        .output()
        .unwrap();
    let made = text(&out);
    assert!(out.status.success(), "{made}");
    for want in [
        "--version-suffix +deb14",
        "--kind systemd --dist forky",
        "--kind jobs --dist forky",
        "--dist forky -a",
    ] {
        assert!(
            made.contains(want),
            "no `{want}` in make -n DIST=forky:\n{made}"
        );
    }
    assert!(
        made.contains("--without-pip"),
        "forky's pip has --python:\n{made}"
    );

    // An unknown release: every consumer lists the table's, forky included.
    let out = run(dir, &["make", "-n", "DIST=sid"]);
    assert!(
        text(&out).contains("DIST=sid is not supported: use one of bullseye bookworm trixie forky"),
        "{}",
        text(&out)
    );
    for (cmd, code) in [
        (&["scripts/build-root", "sid"][..], 1),
        (&["tests/e2e/mkroot.sh", "/nonexistent", "sid"], 1),
        // (the suite stops before its first step)
        (&["env", "DIST=sid", "tests/e2e/run.sh"], 2),
    ] {
        let out = run(dir, cmd);
        assert_eq!(out.status.code(), Some(code), "{cmd:?}: {}", text(&out));
        assert!(
            text(&out)
                .contains("unknown DIST 'sid': supported are bullseye, bookworm, trixie and forky"),
            "{cmd:?}: {}",
            text(&out)
        );
    }
}

/// The table's own rules as the shell reads them: bullseye's old pip keeps
/// the venv's pip (make), an unknown field is refused.
#[test]
fn the_shell_helper_reads_every_column() {
    let dir = top();
    for r in release::all() {
        for (field, want) in [
            ("number", r.number.to_string()),
            ("python", r.python.to_string()),
            ("unit_dir", r.unit_dir.to_string()),
            ("dpkg", r.dpkg.to_string()),
            ("compressions", r.compressions.join(",")),
            ("suffix", r.suffix.to_string()),
        ] {
            let out = run(&dir, &["scripts/release.sh", field, r.codename]);
            assert_eq!(text(&out), format!("{want}\n"), "{field} {}", r.codename);
        }
    }
    let out = run(&dir, &["scripts/release.sh", "colour", "trixie"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("unknown FIELD 'colour'"));
}
