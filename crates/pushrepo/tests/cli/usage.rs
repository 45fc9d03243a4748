//! The command line: --help, usage errors (exit 2), a missing .deb.

use super::*;

#[test]
fn help_matches_golden() {
    debpipe_testkit::repo::assert_help_golden(
        assert_cmd::cargo::cargo_bin!("pushrepo"),
        env!("CARGO_MANIFEST_DIR"),
    );
}

#[test]
fn usage_errors_exit_2_and_missing_deb_names_it() {
    let repo = Repo::new("usage");
    repo.cmd().arg(repo.url()).assert().code(2);
    repo.cmd()
        .arg("--keep")
        .arg("0")
        .arg(repo.url())
        .arg("x.deb")
        .assert()
        .code(2);
    let out = repo.cmd().args(["bucket/x", "x.deb"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("must start with s3://"),
        "{}",
        stderr(&out)
    );
    let out = repo
        .cmd()
        .args(["--grace", "3x"])
        .arg(repo.url())
        .arg("x.deb")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = repo.publish(&[], &[Path::new("/nonexistent/a.deb")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("pushrepo: error: /nonexistent/a.deb: "),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!repo.exists("pushrepo.lock"), "nothing written");
}
