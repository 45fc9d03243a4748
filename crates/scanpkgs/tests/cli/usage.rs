//! The command line: bad and duplicate files, exit codes, --help, --version, deprecated spellings.

use super::*;

#[test]
fn bad_files_are_named_skipped_and_exit_1() {
    let dir = pool();
    let good = dpkg_scanpackages(dir.path(), &["pool"]).stdout;
    let pool = dir.path().join("pool");
    let six = fs::read(
        test_debs()
            .iter()
            .find(|p| p.to_string_lossy().contains("python3-six_"))
            .unwrap(),
    )
    .unwrap();
    fs::write(pool.join("empty_1_all.deb"), b"").unwrap();
    fs::write(pool.join("text_1_all.deb"), b"this is not a package\n").unwrap();
    fs::write(pool.join("trunc-data_1_all.deb"), &six[..six.len() - 100]).unwrap();
    fs::write(pool.join("trunc-head_1_all.deb"), &six[..40]).unwrap();
    let mut corrupt = six.clone();
    for b in &mut corrupt[200..400] {
        *b = 0x55;
    }
    fs::write(pool.join("corrupt-control_1_all.deb"), &corrupt).unwrap();
    let a = scanpkgs(dir.path()).arg("pool").assert().code(1);
    let out = a.get_output();
    assert_eq!(out.stdout, good, "the good ones are still indexed");
    let err = String::from_utf8_lossy(&out.stderr);
    for (f, why) in [
        ("empty_1_all.deb", "empty file"),
        ("text_1_all.deb", "not a Debian package"),
        ("trunc-data_1_all.deb", "truncated"),
        ("trunc-head_1_all.deb", "truncated"),
        ("corrupt-control_1_all.deb", "control.tar.xz"),
    ] {
        assert!(
            err.contains(&format!("pool/{f}: skipped: {why}")),
            "{f}: {err}"
        );
    }
    assert!(err.contains("error: pool: 5 file(s) not indexed"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("skipped")).count(),
        5,
        "one line each: {err}"
    );

    // With --out-dir the index is still published, nothing half-written.
    scanpkgs(dir.path())
        .args(["--out-dir", ".", "pool"])
        .assert()
        .code(1);
    assert_eq!(fs::read(dir.path().join("Packages")).unwrap(), good);
    assert!(
        !listing(dir.path())
            .iter()
            .any(|n| Path::new(n).extension().is_some_and(|e| e == "tmp"))
    );
}

#[test]
fn same_package_version_in_two_different_files_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("pool");
    fs::create_dir(&pool).unwrap();
    let control = "Package: dup\nVersion: 1.0\nArchitecture: all\nMaintainer: T <t@example.invalid>\nDescription: d\n";
    build_deb(dir.path(), control, "gzip", &pool.join("dup_1.0_all.deb"));
    build_deb(
        dir.path(),
        control,
        "xz",
        &pool.join("dup-again_1.0_all.deb"),
    );
    // An identical copy is only dpkg-scanpackages' "repeat" warning.
    fs::copy(
        pool.join("dup_1.0_all.deb"),
        pool.join("dup-copy_1.0_all.deb"),
    )
    .unwrap();
    let a = scanpkgs(dir.path()).arg("pool").assert().code(1);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("warning: pool/dup_1.0_all.deb: package dup 1.0 (all) is also pool/dup-again_1.0_all.deb, with different contents"),
        "{err}"
    );
    // dup-copy differs from dup-again too (it is dup's twin).
    assert_eq!(err.matches("different contents").count(), 2, "{err}");
    assert!(
        err.contains("error: pool: 2 file(s) with the package and version of a different file"),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert_eq!(stdout.matches("Package: dup\n").count(), 1);
}

#[test]
fn missing_directory_exits_1_and_unknown_flag_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let a = scanpkgs(dir.path()).arg("nope").assert().code(1);
    assert_eq!(
        String::from_utf8_lossy(&a.get_output().stderr),
        "scanpkgs: error: nope: binary path not found\n"
    );
    assert!(a.get_output().stdout.is_empty());
    scanpkgs(dir.path())
        .args(["--frobnicate", "."])
        .assert()
        .code(2);
    scanpkgs(dir.path())
        .args([".", "a", "b", "c"])
        .assert()
        .code(2);
    scanpkgs(dir.path())
        .args(["-h", "sha512", "."])
        .assert()
        .code(2);
    scanpkgs(dir.path())
        .args(["--out-dir", "out", "--dist", "stable", "."])
        .assert()
        .code(2);
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn help_matches_golden() {
    let dir = tempfile::tempdir().unwrap();
    let help = debpipe_testkit::repo::assert_help_golden(
        assert_cmd::cargo::cargo_bin!("scanpkgs"),
        env!("CARGO_MANIFEST_DIR"),
    );
    let q = scanpkgs(dir.path())
        .env("COLUMNS", "100")
        .arg("-?")
        .output()
        .unwrap();
    assert_eq!(q.stdout, help);
}

#[test]
fn dash_dash_version_prints_version() {
    let mut s = String::new();
    let out = scanpkgs(Path::new("/")).arg("--version").output().unwrap();
    out.stdout.as_slice().read_to_string(&mut s).unwrap();
    assert_eq!(s, format!("scanpkgs {}\n", env!("CARGO_PKG_VERSION")));
}

/// `-o` is a file in the other tools, so the repository directory is
/// `--out-dir`; `-o` and `--output` still work until 0.2.0, with one
/// warning line naming the new form.
#[test]
fn out_dir_and_its_old_spellings_publish_the_same_index() {
    let mut indexes = Vec::new();
    for flag in ["--out-dir", "--output", "-o"] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(assert_cmd::cargo::cargo_bin!("scanpkgs"))
            .current_dir(dir.path())
            .args([flag, ".", "."])
            .env("DEBPIPE_CACHE", dir.path().join("cache"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{flag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        let warned: Vec<&str> = err.lines().filter(|l| l.contains("deprecated")).collect();
        if flag == "--out-dir" {
            assert!(warned.is_empty(), "{err}");
        } else {
            assert_eq!(warned.len(), 1, "{err}");
            assert_eq!(
                warned[0],
                "scanpkgs: warning: -o/--output DIR is deprecated, use --out-dir DIR \
                 (it goes away in 0.2.0)",
                "{err}"
            );
        }
        indexes.push(std::fs::read(dir.path().join("Packages")).unwrap());
    }
    assert!(indexes.windows(2).all(|w| w[0] == w[1]));
}
