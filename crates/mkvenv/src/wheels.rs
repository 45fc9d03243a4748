//! The wheelhouse check: a wheel built for another python is named, not
//! silently skipped.
//!
//! pip never installs a wheel whose tags do not fit the interpreter, but with
//! `--no-index` it then says only "No matching distribution found". A
//! wheelhouse made for one Debian release (python 3.11) and used for another
//! (3.13) is the usual cause, so before pip runs, a project whose every wheel
//! in the wheelhouse is for another python (and that has no sdist there) is
//! an error naming one of its wheels and the python it was built for.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use debpipe_core::{Error, Result};

use crate::bundled::normalize_project;

/// Whether the wheel file name `name` can install on `CPython` `(3, minor)`;
/// `None` when it is not a wheel file name. Follows the tags pip accepts:
/// `py3`, `py3N` for N <= minor, `cp3M` with the `abi3` ABI for M <= minor,
/// `cp3N` (and `pp`/others never).
pub fn fits(name: &str, (major, minor): (u32, u32)) -> Option<bool> {
    let stem = name.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() != 5 && parts.len() != 6 {
        return None;
    }
    let (py, abi) = (parts[parts.len() - 3], parts[parts.len() - 2]);
    let abi3 = abi.split('.').any(|a| a == "abi3");
    Some(py.split('.').any(|tag| {
        let tag_version = |prefix: &str| -> Option<(u32, Option<u32>)> {
            let digits = tag.strip_prefix(prefix)?;
            let mut it = digits.chars();
            let maj = it.next()?.to_digit(10)?;
            let rest: String = it.collect();
            Some((maj, rest.parse().ok()))
        };
        if let Some((m, n)) = tag_version("py") {
            return m == major && n.is_none_or(|n| n <= minor);
        }
        if let Some((m, Some(n))) = tag_version("cp") {
            return m == major && (n == minor || (abi3 && n <= minor));
        }
        false
    }))
}

/// The python a wheel's tags name, for the message: `CPython 3.11`.
fn built_for(name: &str) -> String {
    let parts: Vec<&str> = name.trim_end_matches(".whl").split('-').collect();
    let py = parts
        .get(parts.len().saturating_sub(3))
        .copied()
        .unwrap_or("");
    match py.strip_prefix("cp") {
        Some(v) if v.len() >= 2 => format!("CPython {}.{}", &v[..1], &v[1..]),
        _ => format!("python tag {py}"),
    }
}

/// A source distribution, which pip can build for any python.
fn is_sdist(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".tar.gz", ".zip"].iter().any(|ext| lower.ends_with(ext))
}

/// The project a distribution file belongs to, normalised as pip does.
pub(crate) fn project(name: &str) -> String {
    normalize_project(name.split('-').next().unwrap_or(name))
}

/// The file names in the wheelhouse `dir`, sorted; none when it cannot be
/// read (pip skips it too).
pub(crate) fn file_names(dir: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// Refuse a wheelhouse in which some project has only wheels for another
/// python than `version` (and no sdist).
pub fn check_wheelhouses(dirs: &[PathBuf], version: (u32, u32)) -> Result<()> {
    // project -> (a compatible file or sdist seen, first foreign wheel)
    let mut seen: BTreeMap<String, (bool, Option<PathBuf>)> = BTreeMap::new();
    for dir in dirs {
        for name in file_names(dir) {
            let entry = seen.entry(project(&name)).or_default();
            match fits(&name, version) {
                Some(true) => entry.0 = true,
                Some(false) if entry.1.is_none() => entry.1 = Some(dir.join(&name)),
                None if is_sdist(&name) => entry.0 = true,
                Some(false) | None => {}
            }
        }
    }
    for (project, (fits_somewhere, foreign)) in seen {
        if let (false, Some(wheel)) = (fits_somewhere, foreign) {
            let name = wheel
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(Error::file(
                Path::new(&wheel),
                format!(
                    "built for {}, but the venv's python is {}.{}, and the wheelhouse has no other build of {project}: rebuild it for the target (make wheels DIST=...)",
                    built_for(&name),
                    version.0,
                    version.1,
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A wheelhouse holding empty files of these names, and the list of
    /// wheelhouses (it alone) that the checks take.
    pub(crate) fn wheelhouse(files: &[&str]) -> (tempfile::TempDir, [PathBuf; 1]) {
        let d = tempfile::tempdir().unwrap();
        for f in files {
            fs::write(d.path().join(f), "").unwrap();
        }
        let dirs = [d.path().to_path_buf()];
        (d, dirs)
    }

    #[test]
    fn tags_fit_as_pip_decides() {
        let v = (3, 13);
        assert_eq!(fits("django-4.2.30-py3-none-any.whl", v), Some(true));
        assert_eq!(fits("six-1.16-py2.py3-none-any.whl", v), Some(true));
        assert_eq!(
            fits("uwsgi-2.0.31-cp313-cp313-linux_x86_64.whl", v),
            Some(true)
        );
        assert_eq!(
            fits("uwsgi-2.0.31-cp311-cp311-linux_x86_64.whl", v),
            Some(false)
        );
        assert_eq!(
            fits("cryptography-44-cp39-abi3-manylinux_2_28_x86_64.whl", v),
            Some(true)
        );
        assert_eq!(
            fits("cryptography-44-cp314-abi3-manylinux_2_28_x86_64.whl", v),
            Some(false)
        );
        assert_eq!(
            fits("x-1-1build-cp313-cp313-linux_x86_64.whl", v),
            Some(true)
        );
        assert_eq!(
            fits("x-1-pp310-pypy310_pp73-linux_x86_64.whl", v),
            Some(false)
        );
        assert_eq!(fits("django-4.2.30.tar.gz", v), None);
    }

    #[test]
    fn files_belong_to_the_project_pip_names() {
        assert_eq!(project("PyYAML-6.0-cp311-cp311-linux_x86_64.whl"), "pyyaml");
        assert_eq!(project("zope.interface-7.0.tar.gz"), "zope-interface");
        // a run of separators is one `-`, as in pip (PEP 503)
        assert_eq!(project("a__b-1-py3-none-any.whl"), "a-b");
        let (_d, dirs) = wheelhouse(&["a_b-1-cp311-cp311-linux_x86_64.whl", "a__b-1.tar.gz"]);
        assert!(check_wheelhouses(&dirs, (3, 13)).is_ok());
    }

    #[test]
    fn a_project_with_only_foreign_wheels_is_named() {
        let (d, dirs) = wheelhouse(&[
            "Django-4.2-py3-none-any.whl",
            "uWSGI-2.0.31-cp311-cp311-linux_x86_64.whl",
            "PyYAML-6.0-cp311-cp311-manylinux_2_17_x86_64.whl",
            "PyYAML-6.0-cp313-cp313-manylinux_2_17_x86_64.whl",
        ]);
        let e = check_wheelhouses(&dirs, (3, 13)).unwrap_err().to_string();
        assert!(
            e.contains("uWSGI-2.0.31-cp311")
                && e.contains("built for CPython 3.11")
                && e.contains("3.13"),
            "{e}"
        );
        assert!(check_wheelhouses(&dirs, (3, 11)).is_ok());
        // an sdist of the project can be built for any python
        fs::write(d.path().join("uwsgi-2.0.31.tar.gz"), "").unwrap();
        assert!(check_wheelhouses(&dirs, (3, 13)).is_ok());
    }
}
