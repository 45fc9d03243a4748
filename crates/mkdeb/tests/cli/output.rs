//! Where the package goes and what mkdeb prints: an output directory,
//! `--pool`, the default name, `--json`.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::{PKG, mkdeb, run, scratch_tree, tree};

#[test]
fn out_directory_gets_package_version_arch_name_without_epoch() {
    let (d, root) = scratch_tree();
    let dist = d.path().join("dist");
    fs::create_dir(&dist).unwrap();
    let want = dist.join(format!("{PKG}_1.0-1_all.deb"));
    mkdeb()
        .arg(&root)
        .arg(&dist)
        .assert()
        .success()
        .stdout(format!("{}\n", want.display()));
    let mode = fs::metadata(&want).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o644);
    assert_eq!(fs::read_dir(&dist).unwrap().count(), 1);
}

/// `--pool main` files the package as Debian's archive does; `--target-dpkg`
/// refuses zstd for a dpkg that cannot read it (exit 2, nothing written).
#[test]
fn pool_layout_and_target_dpkg() {
    let (d, root) = scratch_tree();
    let repo = d.path().join("repo");
    fs::create_dir(&repo).unwrap();
    let prefix = &PKG[..1];
    let want = repo.join(format!("pool/main/{prefix}/{PKG}/{PKG}_1.0-1_all.deb"));
    mkdeb()
        .args(["--pool", "main", "--target-dpkg", "1.22.21", "-Zzstd"])
        .arg(&root)
        .arg(&repo)
        .assert()
        .success()
        .stdout(format!("{}\n", want.display()));
    let out = mkdeb()
        .args(["--target-dpkg", "1.20.13", "-Zzstd"])
        .arg(&root)
        .arg(d.path().join("old.deb"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dpkg >= 1.21.18") && err.contains("1.20.13"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!d.path().join("old.deb").exists());
}

#[test]
fn default_out_is_dir_dot_deb_beside_it() {
    let d = tempfile::tempdir().unwrap();
    tree(d.path());
    mkdeb()
        .current_dir(d.path())
        .arg("root/./")
        .assert()
        .success()
        .stdout("root.deb\n");
    assert!(d.path().join("root.deb").is_file());
}

#[test]
fn json_reports_path_package_size_and_sha256() {
    let (d, root) = scratch_tree();
    let out = d.path().join("p.deb");
    let o = mkdeb().arg("--json").arg(&root).arg(&out).output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let bytes = fs::read(&out).unwrap();
    assert_eq!(v["path"], out.display().to_string());
    assert_eq!(v["package"], PKG);
    assert_eq!(v["version"], "1:1.0-1");
    assert_eq!(v["architecture"], "all");
    assert_eq!(v["size"], bytes.len());
    let sha = String::from_utf8(run("sha256sum", &[out.as_os_str()])).unwrap();
    assert_eq!(v["sha256"], sha.split_whitespace().next().unwrap());
    assert_eq!(o.stdout.last(), Some(&b'\n'));
}
