//! The scan cache: a replaced file is read again, and the cache never sits in the served tree.

use super::*;

#[test]
fn cache_rereads_a_file_replaced_within_the_same_second() {
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("pool");
    fs::create_dir(&pool).unwrap();
    let a = "Package: a\nVersion: 1.0\nArchitecture: all\nMaintainer: T <t@example.invalid>\nDescription: first\n";
    let b = "Package: a\nVersion: 1.0\nArchitecture: all\nMaintainer: T <t@example.invalid>\nDescription: other\n";
    let target = pool.join("a_1.0_all.deb");
    build_deb(dir.path(), a, "none", &target);
    let caches = tempfile::tempdir().unwrap();
    let scanpkgs = |cwd: &Path| {
        let mut cmd = scanpkgs(cwd);
        cmd.env("DEBPIPE_CACHE", caches.path());
        cmd
    };
    scanpkgs(dir.path())
        .args(["--out-dir", ".", "pool"])
        .assert()
        .success();
    let mtime = fs::metadata(&target).unwrap().modified().unwrap();
    let size = fs::metadata(&target).unwrap().len();

    // Same size, same mtime (to the nanosecond): only ctime and the inode say.
    let other = dir.path().join("other.deb");
    build_deb(dir.path(), b, "none", &other);
    assert_eq!(fs::metadata(&other).unwrap().len(), size);
    fs::rename(&other, &target).unwrap();
    fs::File::options()
        .write(true)
        .open(&target)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    scanpkgs(dir.path())
        .args(["--out-dir", ".", "pool"])
        .assert()
        .success();
    let packages = fs::read(dir.path().join("Packages")).unwrap();
    assert_eq!(packages, dpkg_scanpackages(dir.path(), &["pool"]).stdout);
    assert!(String::from_utf8_lossy(&packages).contains("Description: other\n"));

    // A corrupt cache is rebuilt, never trusted.
    let cache = only_cache_file(caches.path());
    let mut bytes = fs::read(&cache).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    fs::write(&cache, &bytes).unwrap();
    let out = scanpkgs(dir.path())
        .args(["--out-dir", ".", "pool"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains(&format!(
            "{}: checksum mismatch; rebuilding the cache",
            cache.display()
        )),
        "{err}"
    );
    assert_eq!(fs::read(dir.path().join("Packages")).unwrap(), packages);
    assert_ne!(fs::read(&cache).unwrap(), bytes);
}

/// The one cache file under the cache directory `root` (`$DEBPIPE_CACHE`).
fn only_cache_file(root: &Path) -> PathBuf {
    let files = listing(&root.join("scanpkgs"));
    assert_eq!(files.len(), 1, "{files:?}");
    root.join("scanpkgs").join(&files[0])
}

/// Issue 13: the cache was written into the repository, so serving the
/// directory (`make serve`) published it. It now lives under
/// `$DEBPIPE_CACHE/scanpkgs/`, and one left in the repository by an older
/// scanpkgs is removed.
#[test]
fn regression_13_cache_is_never_inside_the_served_tree() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = pool();
    let repo = dir.path();
    let caches = tempfile::tempdir().unwrap();
    fs::write(repo.join(".scanpkgs-cache"), b"left by an older scanpkgs").unwrap();
    let run = || {
        let a = scanpkgs(repo)
            .env("DEBPIPE_CACHE", caches.path())
            .args(["--out-dir", ".", "."])
            .assert()
            .success();
        String::from_utf8_lossy(&a.get_output().stderr).into_owned()
    };
    let err = run();
    assert!(err.contains("removed ./.scanpkgs-cache"), "{err}");
    // What is served: the index, Release and the packages, nothing else.
    assert_eq!(
        listing(repo),
        ["Packages", "Packages.gz", "Release", "pool"]
    );
    assert_eq!(listing(&repo.join("pool")).len(), test_debs().len());
    check_release(repo, &["Packages", "Packages.gz"]);

    // The cache: one file for this repository, with every package in it.
    let file = only_cache_file(caches.path());
    let before = fs::metadata(&file).unwrap();
    assert_eq!(before.permissions().mode() & 0o777, 0o644);
    let cache = scanpkgs::cache::Cache::from_bytes(&fs::read(&file).unwrap()).unwrap();
    assert_eq!(cache.len(), test_debs().len());

    // A second run takes every package from the cache: it reads none, so it
    // leaves the cache as it was (any file read would rewrite it, renaming a
    // new file into place).
    let err = run();
    assert!(!err.contains("cache"), "{err}");
    let after = fs::metadata(only_cache_file(caches.path())).unwrap();
    assert_eq!(
        (after.ino(), after.mtime(), after.mtime_nsec()),
        (before.ino(), before.mtime(), before.mtime_nsec())
    );
    assert_eq!(
        listing(repo),
        ["Packages", "Packages.gz", "Release", "pool"]
    );
}
