//! Same input, same bytes: `SOURCE_DATE_EPOCH`, threads, an unchanged tree,
//! and `--cache`, which reuses members without changing a byte.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    CONTROL, EPOCH, PKG, assert_success, build_with_mkdeb, dpkg_entries, have, mkdeb, scratch_tree,
    text_tree, write,
};

#[test]
fn same_epoch_gives_identical_bytes_for_each_compression() {
    let (d, root) = scratch_tree();
    for format in ["xz", "gzip", "zstd", "none"] {
        let a = build_with_mkdeb(&root, &d.path().join(format!("a-{format}.deb")), format);
        // Newer mtimes are clamped to SOURCE_DATE_EPOCH.
        let o = Command::new("touch")
            .arg(root.join(format!("usr/lib/{PKG}/app.py")))
            .output()
            .unwrap();
        assert!(o.status.success());
        let b = build_with_mkdeb(&root, &d.path().join(format!("b-{format}.deb")), format);
        assert!(fs::read(&a).unwrap() == fs::read(&b).unwrap(), "{format}");
    }
}

#[test]
fn threads_do_not_change_the_bytes() {
    let (d, root) = scratch_tree();
    for format in ["xz", "gzip", "zstd"] {
        let mut outs = Vec::new();
        for threads in ["1", "3"] {
            let out = d.path().join(format!("{format}-{threads}.deb"));
            mkdeb()
                .env("SOURCE_DATE_EPOCH", EPOCH)
                .args(["-Z", format, "--threads", threads])
                .arg(&root)
                .arg(&out)
                .assert()
                .success();
            outs.push(fs::read(&out).unwrap());
        }
        assert!(outs[0] == outs[1], "{format}");
    }
}

#[test]
fn unchanged_tree_without_epoch_gives_identical_bytes() {
    let (d, root) = scratch_tree();
    let a = d.path().join("a.deb");
    let b = d.path().join("b.deb");
    mkdeb().arg(&root).arg(&a).assert().success();
    mkdeb().arg(&root).arg(&b).assert().success();
    assert!(fs::read(&a).unwrap() == fs::read(&b).unwrap());
}

fn built_json(root: &Path, deb: &Path, cache: Option<&Path>) -> serde_json::Value {
    let mut c = mkdeb();
    c.env("SOURCE_DATE_EPOCH", EPOCH).args(["-Zgzip", "--json"]);
    if let Some(dir) = cache {
        c.arg("--cache").arg(dir);
    }
    let o = c.arg(root).arg(deb).output().unwrap();
    assert_success(&o);
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `--cache`: a rebuild after a version bump reuses every gzip member but
/// the changed one's, and writes the bytes a build without a cache writes;
/// a corrupt entry is recompressed, not used.
#[test]
fn cache_reuses_unchanged_members_and_changes_no_byte() {
    let d = tempfile::tempdir().unwrap();
    let root = text_tree(d.path(), 800);
    let cache = d.path().join("cache");
    let deb = |name: &str| d.path().join(name);
    let bytes = |p: PathBuf| fs::read(p).unwrap();
    let reuse = |j: &serde_json::Value| {
        (
            j["cache"]["members"].as_u64().unwrap(),
            j["cache"]["reused"].as_u64().unwrap(),
        )
    };

    let cold = built_json(&root, &deb("cold.deb"), None);
    assert!(cold.get("cache").is_none());
    let (members, reused) = reuse(&built_json(&root, &deb("first.deb"), Some(&cache)));
    assert!(members >= 5, "{members}");
    assert_eq!(reused, 0);
    assert!(bytes(deb("first.deb")) == bytes(deb("cold.deb")));
    assert_eq!(
        reuse(&built_json(&root, &deb("again.deb"), Some(&cache))),
        (members, members)
    );

    // A version bump: another control file and one changed source file.
    write(
        &root,
        "DEBIAN/control",
        &CONTROL.replace("1:1.0-1", "1:1.0-2"),
        0o644,
    );
    let f = root.join(format!("usr/lib/{PKG}/m1/f00400.py"));
    // 2 KB more: everything after it moves by four tar blocks.
    let grown = fs::read_to_string(&f).unwrap() + &"VERSION = '1.0-2'\n".repeat(120);
    fs::write(&f, grown).unwrap();
    built_json(&root, &deb("cold2.deb"), None);
    let (m2, r2) = reuse(&built_json(&root, &deb("bumped.deb"), Some(&cache)));
    eprintln!("bump: {r2} of {m2} reused");
    assert!(r2 + 2 >= m2 && r2 < m2, "{r2} of {m2} reused");
    assert!(bytes(deb("bumped.deb")) == bytes(deb("cold2.deb")));
    if have("dpkg-deb") {
        assert_eq!(dpkg_entries(&deb("bumped.deb")), 800 + 7 + 4);
    }

    // Flip one byte of every cached member: all are recompressed.
    let mut flipped = 0;
    for ns in fs::read_dir(&cache).unwrap() {
        for fan in fs::read_dir(ns.unwrap().path()).unwrap() {
            for e in fs::read_dir(fan.unwrap().path()).unwrap() {
                let p = e.unwrap().path();
                let mut raw = fs::read(&p).unwrap();
                raw[10] ^= 0x40;
                fs::write(&p, raw).unwrap();
                flipped += 1;
            }
        }
    }
    assert!(flipped >= m2, "{flipped}");
    assert_eq!(
        reuse(&built_json(&root, &deb("healed.deb"), Some(&cache))),
        (m2, 0)
    );
    assert!(bytes(deb("healed.deb")) == bytes(deb("cold2.deb")));
}

/// A cache directory that cannot be made (its parent is a file): a warning
/// naming it, and the package all the same.
#[test]
fn unusable_cache_warns_and_builds() {
    let (d, root) = scratch_tree();
    fs::write(d.path().join("file"), "x").unwrap();
    let cache = d.path().join("file/cache");
    let o = mkdeb()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .args(["-Zgzip", "--cache"])
        .arg(&cache)
        .arg(&root)
        .arg(d.path().join("p.deb"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("mkdeb: warning:") && err.contains("file/cache"),
        "{err}"
    );
    let cold = build_with_mkdeb(&root, &d.path().join("cold.deb"), "gzip");
    assert!(fs::read(d.path().join("p.deb")).unwrap() == fs::read(cold).unwrap());
}
