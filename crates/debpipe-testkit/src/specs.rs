//! App specs for tests: the bad-spec corpus every tool must reject, a
//! validated spec for renderers' unit tests, and the environment that
//! changes tools' output (cleared) or names the packager (set).

#![allow(clippy::unwrap_used)]

use crate::golden::fixtures;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The bad-spec corpus: each file `tests/fixtures/bad-specs/<field>__<case>.json`
/// with the field its error must name (`None` for `top__*`: a document that
/// is not a spec at all, whose error names the file).
pub fn bad_specs() -> Vec<(PathBuf, Option<String>)> {
    let dir = fixtures().join("bad-specs");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("read bad-specs")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            let field = stem.split_once("__").expect("name is FIELD__CASE.json").0;
            let field = (field != "top").then(|| field.to_string());
            (p, field)
        })
        .collect();
    out.sort();
    out
}

/// Run `cmd(out)` (a tool told to write `out`, a path in an empty temporary
/// directory) on every bad spec: each must exit 1, print nothing on stdout,
/// one line on stderr naming the field (or the file), and leave the
/// directory empty.
///
/// # Panics
/// On the first spec that is not rejected that way.
pub fn assert_bad_specs_rejected(tool: &str, cmd: impl Fn(&Path) -> Command) {
    let cases = bad_specs();
    assert!(
        cases.len() >= 25,
        "bad-spec corpus too small: {}",
        cases.len()
    );
    for (spec, field) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out_file = dir.path().join("out");
        let out = cmd(&out_file).arg(&spec).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let name = spec.display();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: exit code; stderr: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{name}: stdout not empty");
        assert_eq!(stderr.lines().count(), 1, "{name}: not one line: {stderr}");
        assert!(
            stderr.starts_with(&format!("{tool}: error: ")),
            "{name}: {stderr}"
        );
        assert!(
            stderr.contains(&*name.to_string()),
            "{name}: file not named: {stderr}"
        );
        if let Some(f) = field {
            assert!(
                stderr.contains(&format!("`{f}`")),
                "{name}: field `{f}` not named: {stderr}"
            );
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{name}: left a file behind"
        );
    }
}

/// The environment variables that change tools' output, to clear in tests.
pub const SCRUB_ENV: &[&str] = &[
    "SOURCE_DATE_EPOCH",
    "TZ",
    "LC_ALL",
    "DEBFULLNAME",
    "DEBEMAIL",
    "EMAIL",
    "NAME",
];

/// A command running `bin` without the [`SCRUB_ENV`] variables.
pub fn scrubbed(bin: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(bin);
    for v in SCRUB_ENV {
        c.env_remove(v);
    }
    c
}

/// The packager a generator's contract runs as (`DEBFULLNAME`, `DEBEMAIL`):
/// the maintainer of a spec that names none.
pub const PACKAGER_ENV: [(&str, &str); 2] = [
    ("DEBFULLNAME", "Pat Packager"),
    ("DEBEMAIL", "pat@example.org"),
];

/// A validated spec from JSON text, for unit tests of renderers.
pub fn spec(json: &str) -> debpipe_core::AppSpec {
    debpipe_core::AppSpec::from_json(Path::new("t.json"), json.as_bytes()).unwrap()
}
