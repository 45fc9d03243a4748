//! Output checked against dpkg-scanpackages on real packages: fields, filters, multiversion, compressions, overrides.

use super::*;

#[test]
fn real_packages_byte_identical_to_dpkg_scanpackages() {
    let dir = pool();
    let out = assert_same_as_dpkg(dir.path(), &["pool"]);
    assert_eq!(out.matches("\nPackage: ").count() + 1, TEST_PACKAGES.len());
    assert!(out.contains("Version: 1:4.4.33-2\n"), "epoch kept");
    assert!(
        out.contains("Filename: pool/python3-six_"),
        "relative Filename"
    );
    // Other spellings of the directory and a path prefix.
    assert_same_as_dpkg(dir.path(), &["./pool/"]);
    assert_same_as_dpkg(&dir.path().join("pool"), &["."]);
    assert_same_as_dpkg(dir.path(), &["pool", "/dev/null", "debian/"]);
    assert_same_as_dpkg(dir.path(), &["-h", "sha256,md5", "-M", "disc1", "pool"]);
}

#[test]
fn arch_and_type_filters_match_dpkg_scanpackages() {
    let dir = pool();
    let pool = dir.path().join("pool");
    fs::copy(&test_debs()[0], pool.join("other_1.0_arm64.deb")).unwrap();
    fs::copy(&test_debs()[0], pool.join("installer_1.0_all.udeb")).unwrap();
    let out = assert_same_as_dpkg(dir.path(), &["-a", "amd64", "pool"]);
    assert!(!out.contains("other_1.0_arm64.deb"));
    assert_same_as_dpkg(dir.path(), &["--arch", "arm64", "pool"]);
    let udeb = assert_same_as_dpkg(dir.path(), &["-t", "udeb", "pool"]);
    assert!(
        udeb.contains("Filename: pool/installer_1.0_all.udeb\n"),
        "{udeb}"
    );
}

#[test]
fn multiversion_and_every_control_compression_match_dpkg_scanpackages() {
    let dir = pool();
    let pool = dir.path().join("pool");
    let six = test_debs()
        .iter()
        .find(|p| p.to_string_lossy().contains("python3-six_"))
        .unwrap();
    let hostname = test_debs()
        .iter()
        .find(|p| p.to_string_lossy().contains("/hostname_"))
        .unwrap();
    let old = dir.path().join("old");
    fs::create_dir(&old).unwrap();
    repack_with_version(
        six,
        "1.15.0-1",
        "gzip",
        &old.join("python3-six_1.15.0-1_all.deb"),
    );
    repack_with_version(
        six,
        "1:0.9-1",
        "zstd",
        &old.join("python3-six_1:0.9-1_all.deb"),
    );
    repack_with_version(
        hostname,
        "3.23~rc1",
        "none",
        &old.join("hostname_3.23~rc1_amd64.deb"),
    );
    let both = assert_same_as_dpkg(dir.path(), &["-m", "."]);
    assert_eq!(both.matches("Package: python3-six\n").count(), 3);
    assert!(both.contains("Version: 1:0.9-1\n"));
    // Without -m the newest by dpkg's ordering wins (the epoch one), with a warning.
    let one = assert_same_as_dpkg(dir.path(), &["."]);
    assert_eq!(one.matches("Package: python3-six\n").count(), 1);
    assert!(one.contains("Version: 1:0.9-1\n"));
    let err = scanpkgs(dir.path()).arg(".").output().unwrap().stderr;
    let err = String::from_utf8(err).unwrap();
    assert!(err.contains("multiple instances"), "{err}");
    assert!(pool.exists());
}

#[test]
fn override_files_match_dpkg_scanpackages() {
    let dir = pool();
    fs::write(
        dir.path().join("override"),
        "# comment\n\
         python3-six optional web # trailing comment\n\
         hostname important admin Michael Meskes <meskes@debian.org> => New Maint <new@example.com>\n\
         init required admin Someone Else <x@example.com> => Nobody <n@example.com>\n\
         apcalc extra math\n\
         roundcube\n\
         not-in-archive optional misc\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("extra"),
        "python3-six Bugs https://bugs.example.com/\nhostname X-Custom-Field some value\nnone-such Foo bar\n",
    )
    .unwrap();
    let out = assert_same_as_dpkg(dir.path(), &["pool", "override"]);
    assert!(out.contains("Section: web\nPriority: optional\n"), "{out}");
    assert_same_as_dpkg(dir.path(), &["-e", "extra", "pool", "override"]);
    // A compressed override file reads the same.
    let gz = Command::new("gzip")
        .args(["-k", "override"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(gz.success());
    let a = scanpkgs(dir.path())
        .args(["pool", "override.gz"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(a.stdout).unwrap(), out);
}
