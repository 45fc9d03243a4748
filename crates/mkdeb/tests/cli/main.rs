//! mkdeb as users run it, checked against dpkg-deb, dpkg and lintian.
//!
//! The tree covers maintainer scripts, conffiles, symlinks (one with a
//! target over 100 bytes), a hard link, a 200-byte path, an empty
//! directory and a file with spaces in its name. It is built by the test
//! itself: git cannot store modes, hard links and empty directories.
//!
//! Where tests go (one binary, a module per topic):
//! - here: `--help`, and the trees and builders the modules share;
//! - `dpkg`: what dpkg-deb, dpkg and lintian make of the package;
//! - `compression`: formats and levels, large data members, xz size;
//! - `reproducible`: same input, same bytes (epoch, threads, `--cache`);
//! - `output`: where the package goes and what is printed (`--pool`,
//!   `--json`, the default name);
//! - `errors`: refusals, exit 1 (a bad tree) and 2 (usage).
// Test helpers outside #[test] functions panic on failure by design.
#![allow(clippy::unwrap_used)]

mod compression;
mod dpkg;
mod errors;
mod output;
mod reproducible;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::cargo_bin_cmd;
use debpipe_testkit::{assert_golden, assert_prints_path, assert_success};

const PKG: &str = "debpipe-mkdeb-test";
const EPOCH: &str = "1700000000";

fn mkdeb() -> assert_cmd::Command {
    let mut c = cargo_bin_cmd!("mkdeb");
    for v in ["SOURCE_DATE_EPOCH", "TZ", "LC_ALL"] {
        c.env_remove(v);
    }
    c
}

/// True when `prog` runs; tests needing it are skipped (with a note) when not.
fn have(prog: &str) -> bool {
    let ok = Command::new(prog)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: {prog} not installed");
    }
    ok
}

fn write(root: &Path, rel: &str, data: &str, mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, data).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

const CONTROL: &str = "\
Package: debpipe-mkdeb-test
Version: 1:1.0-1
Architecture: all
Maintainer: debpipe <debpipe@example.com>
Section: misc
Priority: optional
Description: test package for mkdeb
 Built by mkdeb's integration tests; safe to remove.
";

/// The 200-byte path (relative to the root, without `./`).
fn long_path() -> String {
    let dir = format!("usr/share/{PKG}/{}/{}", "d".repeat(60), "e".repeat(60));
    let name_len = 200 - dir.len() - 1;
    format!("{dir}/{}", "f".repeat(name_len))
}

/// The staging tree of the tests, in `dir/root`.
fn tree(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    write(&root, "DEBIAN/control", CONTROL, 0o644);
    write(
        &root,
        "DEBIAN/postinst",
        "#!/bin/sh\nset -e\nexit 0\n",
        0o755,
    );
    write(&root, "DEBIAN/prerm", "#!/bin/sh\nset -e\nexit 0\n", 0o755);
    write(
        &root,
        "DEBIAN/conffiles",
        &format!("/etc/{PKG}/app.conf\n"),
        0o644,
    );
    write(
        &root,
        &format!("etc/{PKG}/app.conf"),
        "debug = false\n",
        0o644,
    );
    write(
        &root,
        &format!("usr/share/doc/{PKG}/copyright"),
        "Copyright: 2024 debpipe\nLicense: MIT\n",
        0o644,
    );
    write(
        &root,
        &format!("usr/lib/{PKG}/app.py"),
        "print('hi')\n",
        0o644,
    );
    write(
        &root,
        &format!("usr/lib/{PKG}/run"),
        "#!/bin/sh\necho run\n",
        0o755,
    );
    write(
        &root,
        &format!("usr/lib/{PKG}/file with spaces.txt"),
        "spaces\n",
        0o644,
    );
    write(
        &root,
        &format!("usr/lib/{PKG}/big.bin"),
        &"x".repeat(3000),
        0o644,
    );
    fs::hard_link(
        root.join(format!("usr/lib/{PKG}/app.py")),
        root.join(format!("usr/lib/{PKG}/app-hardlink.py")),
    )
    .unwrap();
    fs::create_dir_all(root.join(format!("usr/lib/{PKG}/empty"))).unwrap();
    write(&root, &long_path(), "long\n", 0o644);
    symlink("app.py", root.join(format!("usr/lib/{PKG}/link-to-app.py"))).unwrap();
    symlink(
        format!("/{}", long_path()),
        root.join(format!("usr/lib/{PKG}/link-long")),
    )
    .unwrap();
    symlink(
        format!("../lib/{PKG}/run"),
        root.join(format!("usr/share/{PKG}/run")),
    )
    .unwrap();
    root
}

/// A scratch directory holding the test tree (see [`tree`]): the directory,
/// and the tree's root.
fn scratch_tree() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let root = tree(d.path());
    (d, root)
}

fn build_with_mkdeb(root: &Path, out: &Path, format: &str) -> PathBuf {
    let o = mkdeb()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .args(["-Z", format])
        .arg(root)
        .arg(out)
        .output()
        .unwrap();
    assert_prints_path(&o, out);
    out.to_path_buf()
}

fn build_with_dpkg_deb(root: &Path, out: &Path, format: &str) -> PathBuf {
    let o = Command::new("dpkg-deb")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .args(["--root-owner-group", &format!("-Z{format}"), "--build"])
        .arg(root)
        .arg(out)
        .output()
        .unwrap();
    assert_success(&o);
    out.to_path_buf()
}

fn run(prog: &str, args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let o = Command::new(prog).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{prog} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// `dpkg-deb FLAG DEB DIR`: the control area (`-e`) or the files (`-x`)
/// of `deb` unpacked into `dir`; `dir`.
fn unpack(flag: &str, deb: &Path, dir: PathBuf) -> PathBuf {
    run(
        "dpkg-deb",
        &[flag.as_ref(), deb.as_os_str(), dir.as_os_str()],
    );
    dir
}

/// The control area of mkdeb's build of `root` with `format` (as
/// `dir/p.deb`), unpacked by dpkg-deb into `dir/e`; that directory.
fn control_area(root: &Path, dir: &Path, format: &str) -> PathBuf {
    let deb = build_with_mkdeb(root, &dir.join("p.deb"), format);
    unpack("-e", &deb, dir.join("e"))
}

/// `dpkg-deb --contents` without the date and time columns.
fn contents(deb: &Path) -> Vec<String> {
    let out = run("dpkg-deb", &["--contents".as_ref(), deb.as_os_str()]);
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| {
            let t: Vec<&str> = line.split_whitespace().collect();
            let time = t[4];
            let name = &line[line.find(time).unwrap() + time.len()..];
            format!("{} {} {} {}", t[0], t[1], t[2], name.trim_start())
        })
        .collect()
}

fn nix_root() -> bool {
    let ok = String::from_utf8(run("id", &["-u".as_ref()]))
        .unwrap()
        .trim()
        == "0";
    if !ok {
        eprintln!("skipped: dpkg -i needs root");
    }
    ok
}

#[test]
fn help_matches_golden() {
    let o = mkdeb().arg("--help").output().unwrap();
    assert!(o.status.success());
    assert_golden(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/help.txt"),
        &o.stdout,
    );
}

/// A tree of `n` files of word-like text, 1-16 KB each (as a venv's
/// sources are), in `dir/root`.
fn text_tree(dir: &Path, n: usize) -> PathBuf {
    let root = dir.join("root");
    write(&root, "DEBIAN/control", CONTROL, 0o644);
    let words = [
        "def ", "self", "return ", "import ", "django", "\n    ", "class ", "(", "): ", "None",
    ];
    let mut x: u32 = 7;
    for i in 0..n {
        let mut text = String::new();
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = 1024 + (x >> 8) as usize % 15_000;
        while text.len() < len {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            text.push_str(words[(x >> 16) as usize % words.len()]);
            text.push_str(&(x % 97).to_string());
        }
        write(
            &root,
            &format!("usr/lib/{PKG}/m{}/f{i:05}.py", i % 7),
            &text,
            0o644,
        );
    }
    root
}

/// Entries in the data member, as dpkg-deb unpacks it.
fn dpkg_entries(deb: &Path) -> usize {
    let o = Command::new("sh")
        .arg("-c")
        .arg("dpkg-deb --fsys-tarfile \"$1\" | tar -t | wc -l")
        .arg("sh")
        .arg(deb)
        .output()
        .unwrap();
    assert_success(&o);
    String::from_utf8(o.stdout).unwrap().trim().parse().unwrap()
}
