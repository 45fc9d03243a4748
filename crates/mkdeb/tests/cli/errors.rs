//! Refusals: a tree mkdeb cannot package (exit 1, one line naming the file
//! or field, nothing written) and usage errors (exit 2).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use super::{CONTROL, PKG, have, mkdeb, nix_root, scratch_tree, write};

/// Break the tree with `spoil`, then expect exit 1, one stderr line that
/// contains `want`, nothing on stdout and nothing in the output directory.
fn rejected(spoil: impl FnOnce(&Path), want: &str) {
    rejected_as(None, spoil, want);
}

/// [`rejected`], with mkdeb run as `user` (through setpriv) when given.
fn rejected_as(user: Option<&str>, spoil: impl FnOnce(&Path), want: &str) {
    let (d, root) = scratch_tree();
    spoil(&root);
    let dist = d.path().join("dist");
    fs::create_dir(&dist).unwrap();
    let o = match user {
        None => mkdeb().arg(&root).arg(&dist).output().unwrap(),
        Some(user) => {
            // The user must reach the tree and write to dist/.
            fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).unwrap();
            fs::set_permissions(&dist, fs::Permissions::from_mode(0o777)).unwrap();
            Command::new("setpriv")
                .args([
                    &format!("--reuid={user}"),
                    "--regid=nogroup",
                    "--clear-groups",
                ])
                .arg(assert_cmd::cargo::cargo_bin!("mkdeb"))
                .arg(&root)
                .arg(&dist)
                .env_remove("SOURCE_DATE_EPOCH")
                .output()
                .unwrap()
        }
    };
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{want}: {err}");
    assert!(o.stdout.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("mkdeb: error: "), "{err}");
    assert!(err.contains(want), "want {want:?} in {err}");
    assert_eq!(
        fs::read_dir(&dist).unwrap().count(),
        0,
        "{want}: output left behind"
    );
}

#[test]
fn missing_control_exits_1_names_file_and_writes_nothing() {
    rejected(
        |r| fs::remove_file(r.join("DEBIAN/control")).unwrap(),
        "DEBIAN/control: missing",
    );
    rejected(
        |r| fs::remove_dir_all(r.join("DEBIAN")).unwrap(),
        "DEBIAN/control: missing",
    );
}

#[test]
fn bad_version_exits_1_names_field_and_writes_nothing() {
    rejected(
        |r| {
            write(
                r,
                "DEBIAN/control",
                &CONTROL.replace("1:1.0-1", "one.0"),
                0o644,
            );
        },
        "DEBIAN/control: field `Version`: ",
    );
    rejected(
        |r| {
            write(
                r,
                "DEBIAN/control",
                &CONTROL.replace("Architecture: all\n", ""),
                0o644,
            );
        },
        "field `Architecture`: missing",
    );
}

#[test]
fn non_executable_postinst_exits_1_names_file_and_writes_nothing() {
    rejected(
        |r| {
            fs::set_permissions(r.join("DEBIAN/postinst"), fs::Permissions::from_mode(0o644))
                .unwrap();
        },
        "DEBIAN/postinst: bad permissions 0644",
    );
    rejected(
        |r| write(r, "DEBIAN/postinst", "set -e\n", 0o755),
        "DEBIAN/postinst: does not start with a `#!` line",
    );
}

#[test]
fn conffile_not_in_tree_exits_1_names_file_and_writes_nothing() {
    rejected(
        |r| fs::remove_file(r.join(format!("etc/{PKG}/app.conf"))).unwrap(),
        &format!("DEBIAN/conffiles: conffile /etc/{PKG}/app.conf does not appear in the package"),
    );
    rejected(
        |r| {
            write(
                r,
                "DEBIAN/conffiles",
                &format!("/usr/lib/{PKG}/empty\n"),
                0o644,
            );
        },
        "is a directory",
    );
}

#[test]
fn unpackageable_file_exits_1_names_file_and_writes_nothing() {
    rejected(
        |r| {
            let l = std::os::unix::net::UnixListener::bind(r.join("usr/lib/sock")).unwrap();
            std::mem::forget(l);
        },
        "usr/lib/sock: is a socket",
    );
    rejected(
        |r| write(r, "DEBIAN/notes", "x", 0o644),
        "DEBIAN/notes: unknown control file",
    );
}

/// A file mkdeb cannot read. Root reads any file, so mkdeb runs as nobody
/// here, on a tree with one file of mode 000.
#[test]
fn unreadable_file_exits_1_names_file_and_writes_nothing() {
    if !nix_root() || !have("setpriv") {
        return;
    }
    rejected_as(
        Some("nobody"),
        |r| write(r, &format!("usr/share/{PKG}/secret"), "x", 0o000),
        &format!("usr/share/{PKG}/secret: Permission denied"),
    );
}

#[test]
fn unknown_flag_and_bad_level_are_usage_error_2() {
    let (d, root) = scratch_tree();
    mkdeb().arg("--frobnicate").arg(&root).assert().code(2);
    mkdeb().args(["-Z", "bzip2"]).arg(&root).assert().code(2);
    let o = mkdeb()
        .args(["-Z", "xz", "-z", "10"])
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("level 10"));
    assert!(!d.path().join("root.deb").exists());
    // An output inside the tree would package itself.
    mkdeb().arg(&root).arg(root.join("usr")).assert().code(2);
    assert_eq!(fs::read_dir(root.join("usr")).unwrap().count(), 2);
}
