//! The command line: flags and their deprecated spellings, --help, stdin, bad specs and facts, the maintainer.

use super::*;

/// `-o DIR` and `--out DIR`, deprecated spellings of `--out-dir DIR`,
/// still write the same area, with one warning line naming the new form.
#[test]
fn deprecated_out_spellings_warn_once_and_write_the_same_area() {
    let dir = tempfile::tempdir().unwrap();
    let want = example_area(dir.path());
    for flag in ["-o", "--out"] {
        let area = dir.path().join(flag.trim_start_matches('-'));
        let out = cmd()
            .arg(fixtures().join("specs/example.json"))
            .arg("--facts")
            .arg(fixtures().join("facts/django-uwsgi.json"))
            .arg(flag)
            .arg(&area)
            .output()
            .unwrap();
        assert!(out.status.success(), "{flag}");
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            "gen-control: warning: -o/--out DIR is deprecated, use --out-dir DIR (it goes away in 0.2.0)\n",
            "{flag}"
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{}\n", area.display())
        );
        for name in ["control", "conffiles", "postinst", "prerm", "postrm"] {
            assert_eq!(
                std::fs::read(area.join(name)).unwrap(),
                std::fs::read(want.join(name)).unwrap(),
                "{flag} {name}"
            );
        }
    }
    // Not both at once.
    let out = cmd()
        .args(["-o", "a", "--out-dir", "b"])
        .arg(fixtures().join("specs/example.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_matches_golden() {
    tool().help_golden();
}

#[test]
fn dash_reads_stdin() {
    tool().dash_reads_stdin();
}

#[test]
fn unknown_flag_is_usage_error_2() {
    let out = cmd().arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_specs_exit_1_name_field_and_write_nothing() {
    tool().bad_specs_rejected();
}

#[test]
fn missing_spec_file_is_named() {
    tool().missing_file_named();
}

#[test]
fn bad_facts_exit_1_name_the_file_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("not-json.json", "{"),
        (
            "bad-relation.json",
            r#"{"shlib_depends":["libc6 (>= 2.36); rm -rf /"]}"#,
        ),
        (
            "bad-arch.json",
            r#"{"architecture":"amd64\nEssential: yes"}"#,
        ),
        ("wrong-type.json", r#"{"python_depends":"python3"}"#),
        // A renamed field is an error, not a silently empty Depends.
        ("unknown-field.json", r#"{"python_deps":["python3"]}"#),
    ] {
        let facts = dir.path().join(name);
        std::fs::write(&facts, text).unwrap();
        let area = dir.path().join("area");
        let out = cmd()
            .arg(fixtures().join("specs/example.json"))
            .arg("--facts")
            .arg(&facts)
            .arg("--out-dir")
            .arg(&area)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(out.stdout.is_empty());
        assert!(err.contains(&*facts.display().to_string()), "{name}: {err}");
        assert!(!area.exists(), "{name}: wrote the area");
    }
}

/// A spec without `maintainer` takes it from DEBFULLNAME/DEBEMAIL; with
/// neither, the error names the field and the variables, and nothing is
/// written.
#[test]
fn maintainer_from_environment_or_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let area = dir.path().join("area");
    let minimal = fixtures().join("specs/minimal.json");
    let out = cmd()
        .arg(&minimal)
        .arg("--out-dir")
        .arg(&area)
        .output()
        .unwrap();
    let err = assert_fails(&out, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("`maintainer`") && err.contains("DEBFULLNAME") && err.contains("DEBEMAIL"),
        "{err}"
    );
    assert!(!area.exists(), "wrote the area");

    let out = cmd()
        .arg(&minimal)
        .env("DEBFULLNAME", "Jo Doe")
        .env("DEBEMAIL", "jo@example.org")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\nMaintainer: Jo Doe <jo@example.org>\n")
    );
}
