//! Publishing a repository (--out-dir): Release hashes, apt on signed flat and dists repos, no-op runs, the lock, failed signing.

use super::*;

#[test]
fn release_hashes_match_the_files_flat_and_dists() {
    let dir = pool();
    scanpkgs(dir.path())
        .args([
            "--out-dir",
            ".",
            "--xz",
            "--origin",
            "Acme",
            "--label",
            "Acme apps",
            "--suite",
            "stable",
            "pool",
        ])
        .assert()
        .success();
    check_release(dir.path(), &["Packages", "Packages.gz", "Packages.xz"]);
    let rel = fs::read_to_string(dir.path().join("Release")).unwrap();
    assert!(
        rel.starts_with("Origin: Acme\nLabel: Acme apps\nSuite: stable\nDate: "),
        "{rel}"
    );
    assert_eq!(
        fs::read(dir.path().join("Packages")).unwrap(),
        dpkg_scanpackages(dir.path(), &["pool"]).stdout
    );
    for f in ["Packages", "Packages.gz", "Packages.xz", "Release"] {
        let mode = fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644, "{f}");
    }

    for target in [
        &["-a", "amd64"][..],
        &["-a", "arm64", "--component", "extra"],
    ] {
        scanpkgs(dir.path())
            .args(["--out-dir", ".", "--dist", "stable", "--codename", "acme1"])
            .args(target)
            .arg("pool")
            .assert()
            .success();
    }
    let suite = dir.path().join("dists/stable");
    check_release(
        &suite,
        &[
            "extra/binary-arm64/Packages",
            "extra/binary-arm64/Packages.gz",
            "main/binary-amd64/Packages",
            "main/binary-amd64/Packages.gz",
        ],
    );
    let rel = fs::read_to_string(suite.join("Release")).unwrap();
    assert!(rel.contains("Codename: acme1\n"), "{rel}");
    assert!(
        rel.contains("Architectures: amd64 arm64\nComponents: extra main\n"),
        "{rel}"
    );
    let amd64 = fs::read(suite.join("main/binary-amd64/Packages")).unwrap();
    assert_eq!(
        amd64,
        dpkg_scanpackages(dir.path(), &["-a", "amd64", "pool"]).stdout
    );
}

#[test]
fn apt_updates_and_installs_from_signed_flat_and_dists_repos() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("gnupg");
    let _agent = AgentGuard(home.clone());
    let (fpr, key) = make_key(&home);

    // Flat repository with one package, dists repository with another.
    let flat = t.path().join("www/flat");
    fs::create_dir_all(&flat).unwrap();
    let control = |name: &str| {
        format!(
            "Package: {name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: T <t@example.invalid>\nDescription: scanpkgs test\n long text\n"
        )
    };
    build_deb(
        t.path(),
        &control("scanpkgs-flat-test"),
        "xz",
        &flat.join("scanpkgs-flat-test_1.0-1_all.deb"),
    );
    let dists = t.path().join("www/repo");
    fs::create_dir_all(dists.join("pool/main")).unwrap();
    build_deb(
        t.path(),
        &control("scanpkgs-dists-test"),
        "zstd",
        &dists.join("pool/main/scanpkgs-dists-test_1.0-1_all.deb"),
    );
    let home_s = home.to_str().unwrap();
    scanpkgs(&flat)
        .args([
            "--out-dir",
            ".",
            "--sign-key",
            &fpr,
            "--gpg-homedir",
            home_s,
            "--origin",
            "scanpkgs-test",
            ".",
        ])
        .assert()
        .success();
    scanpkgs(&dists)
        .args([
            "--out-dir",
            ".",
            "--dist",
            "stable",
            "-a",
            "amd64",
            "--xz",
            "--sign-key",
            &fpr,
            "--gpg-homedir",
            home_s,
            "pool",
        ])
        .assert()
        .success();
    for d in [&flat, &dists.join("dists/stable")] {
        let names = listing(d);
        assert!(
            names.contains(&"InRelease".to_string()) && names.contains(&"Release.gpg".to_string()),
            "{names:?}"
        );
    }

    let (_server, url) = serve(&t.path().join("www"));
    let key = key.display();
    let sources = format!(
        "deb [signed-by={key}] {url}/flat/ ./\ndeb [signed-by={key}] {url}/repo stable main\n"
    );
    let apt = AptSandbox::new(t.path(), &sources);
    let apt_get = |args: &[&str]| apt.run(args);
    let root = apt.root.clone();
    let update = apt_get(&["update"]);
    assert!(!update.contains("W:") && !update.contains("E:"), "{update}");
    apt_get(&["install", "-y", "scanpkgs-flat-test", "scanpkgs-dists-test"]);
    let status = fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    assert_eq!(
        status.matches("Status: install ok installed").count(),
        2,
        "{status}"
    );
    assert!(
        root.join("usr/share/doc/scanpkgs-flat-test/README")
            .exists()
    );
    assert!(
        root.join("usr/share/doc/scanpkgs-dists-test/README")
            .exists()
    );
}

/// `scanpkgs --out-dir . pool` in `dir` at `SOURCE_DATE_EPOCH` `epoch`;
/// the Release it leaves.
fn publish_flat(dir: &Path, epoch: &str) -> String {
    scanpkgs(dir)
        .args(["--out-dir", ".", "pool"])
        .env("SOURCE_DATE_EPOCH", epoch)
        .assert()
        .success();
    fs::read_to_string(dir.join("Release")).unwrap()
}

#[test]
fn unchanged_repository_is_not_rewritten_and_date_never_goes_back() {
    let dir = pool();
    let release = publish_flat(dir.path(), "2000000000");
    assert!(
        release.contains("Date: Wed, 18 May 2033 03:33:20 UTC\n"),
        "{release}"
    );
    let before = fs::metadata(dir.path().join("Release"))
        .unwrap()
        .modified()
        .unwrap();
    scanpkgs(dir.path())
        .args(["--out-dir", ".", "pool"])
        .assert()
        .success();
    assert_eq!(
        fs::metadata(dir.path().join("Release"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    fs::remove_file(
        dir.path()
            .join("pool")
            .join(test_debs()[0].file_name().unwrap()),
    )
    .unwrap();
    let release = publish_flat(dir.path(), "1000000000");
    assert!(
        release.contains("Date: Wed, 18 May 2033 03:33:20 UTC\n"),
        "{release}"
    );
    check_release(dir.path(), &["Packages", "Packages.gz"]);
}

/// A second run waits while another holds the repository's lock, says so
/// on stderr, and publishes only once it is released.
#[test]
fn second_run_waits_for_the_repository_lock() {
    use std::io::BufRead as _;
    let dir = pool();
    // What another run holds: a lock on the repository's directory.
    let lock = fs::File::open(dir.path()).unwrap();
    lock.lock().unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin!("scanpkgs"))
        .args(["--out-dir", ".", "pool"])
        .current_dir(dir.path())
        .env("DEBPIPE_CACHE", scratch_cache())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("scanpkgs: info: .: another scanpkgs run") && line.contains("waiting"),
        "{line}"
    );
    // Still waiting a while later, having published nothing.
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "did not wait");
    assert!(
        !dir.path().join("Packages").exists(),
        "published while another run held the lock"
    );
    lock.unlock().unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");
    check_release(dir.path(), &["Packages", "Packages.gz"]);
}

#[test]
fn failed_signing_writes_nothing() {
    let dir = pool();
    let home = dir.path().join("gnupg");
    let _agent = AgentGuard(home.clone());
    fs::create_dir(&home).unwrap();
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
    let a = scanpkgs(dir.path())
        .args([
            "--out-dir",
            ".",
            "--sign-key",
            "nobody@example.invalid",
            "--gpg-homedir",
            home.to_str().unwrap(),
            "pool",
        ])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.starts_with("scanpkgs: info:") || err.contains("scanpkgs: error: ./Release.gpg: gpg"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.contains("error:")).count(),
        1,
        "{err}"
    );
    assert_eq!(listing(dir.path()), ["gnupg", "pool"]);
}
