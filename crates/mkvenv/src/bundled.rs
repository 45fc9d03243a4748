//! Bundled shared libraries and the projects built from source (`no_binary`).
//!
//! auditwheel repairs a manylinux or musllinux wheel by copying the
//! libraries its extensions link into the wheel, in `<name>.libs/` beside
//! its packages (`pycurl.libs/`, `psycopg2_binary.libs/`, `pillow.libs/`;
//! older auditwheel: `<package>/.libs/`). Those copies are invisible to
//! dpkg: no `Depends` names them and Debian's security updates never reach
//! them. [`bundled_libraries`] finds them in the venv (the `.dist-info`
//! whose `RECORD` lists the directory names the project), for the facts and
//! one warning line per wheel.
//!
//! A project in the spec's `no_binary` must be built from source, against
//! Debian's libraries: `make wheels` runs `pip wheel --no-binary` for it, so
//! its wheel in the wheelhouse is tagged `linux_<arch>` (or is pure python,
//! `any`). [`check_no_binary_wheelhouses`] refuses a wheelhouse that still
//! holds a manylinux/musllinux wheel of it, before pip runs (pip would pick
//! that one: it ranks manylinux tags above `linux_<arch>`), and
//! [`check_no_binary_installed`] refuses a venv in which the installed wheel
//! of such a project says (in its `WHEEL` file) that it was one.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use debpipe_core::error::{Status, status};
use debpipe_core::facts::BundledLibraries;
use debpipe_core::{Error, Result};

use crate::elf::elf_kind;
use crate::wheels::{file_names, project};

/// A project name normalised as pip compares them (PEP 503): lower case,
/// runs of `-`, `_` and `.` as one `-`.
pub fn normalize_project(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The platform tags of a wheel file name (`manylinux_2_17_x86_64`,
/// `linux_x86_64`, `any`); `None` when it is not a wheel file name.
pub fn platform_tags(file_name: &str) -> Option<Vec<&str>> {
    let stem = file_name.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() != 5 && parts.len() != 6 {
        return None;
    }
    Some(parts[parts.len() - 1].split('.').collect())
}

/// True for a platform tag of a wheel that may carry libraries built
/// elsewhere: anything but pure python (`any`) and a local build
/// (`linux_<arch>`).
fn is_foreign_build(platform: &str) -> bool {
    platform != "any" && !platform.starts_with("linux_")
}

/// Refuse a wheelhouse that holds a binary wheel (manylinux, musllinux,
/// anything but `linux_<arch>` or `any`) of a project in `no_binary`.
pub fn check_no_binary_wheelhouses(dirs: &[PathBuf], no_binary: &[String]) -> Result<()> {
    if no_binary.is_empty() {
        return Ok(());
    }
    let wanted: BTreeSet<String> = no_binary.iter().map(|n| normalize_project(n)).collect();
    for dir in dirs {
        for name in file_names(dir) {
            let Some(platforms) = platform_tags(&name) else {
                continue;
            };
            let project = project(&name);
            if !wanted.contains(&project) {
                continue;
            }
            if let Some(tag) = platforms.iter().find(|p| is_foreign_build(p)) {
                return Err(Error::file(
                    dir.join(&name),
                    format!(
                        "a binary wheel ({tag}) of {project}, which the spec's `no_binary` builds from source against Debian's libraries; rerun `make wheels` to build it"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// One installed distribution: its `.dist-info` and what it says.
#[derive(Debug, Default)]
struct Dist {
    /// The `.dist-info` directory's name without the suffix (`pycurl-7.45.6`).
    stem: String,
    /// `Name:` of its `METADATA` (else from `stem`).
    name: String,
    /// `Version:` of its `METADATA` (else from `stem`).
    version: String,
    /// `Tag:` lines of its `WHEEL` file, in order.
    tags: Vec<String>,
    /// The paths its `RECORD` lists.
    record: Vec<String>,
}

impl Dist {
    fn read(dist_info: &Path) -> Self {
        let file_name = dist_info.file_name().unwrap_or_default().to_string_lossy();
        let stem = file_name.trim_end_matches(".dist-info").to_string();
        let (stem_name, stem_version) = stem.split_once('-').unwrap_or((&stem, ""));
        let read = |f: &str| fs::read_to_string(dist_info.join(f)).unwrap_or_default();
        let metadata = read("METADATA");
        let header = |key: &str| {
            metadata
                .lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
        };
        Dist {
            name: header("Name:").unwrap_or_else(|| stem_name.to_string()),
            version: header("Version:").unwrap_or_else(|| stem_version.to_string()),
            tags: read("WHEEL")
                .lines()
                .filter_map(|l| l.strip_prefix("Tag:"))
                .map(|t| t.trim().to_string())
                .collect(),
            record: read("RECORD")
                .lines()
                .filter_map(|l| l.rsplitn(3, ',').last())
                .map(|p| p.trim_matches('"').to_string())
                .collect(),
            stem,
        }
    }

    /// The tags as the wheel's file name writes them (PEP 425's compressed
    /// tag set, as auditwheel names the files): each part's values sorted,
    /// joined by `.` (`cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64`).
    fn compressed_tag(&self) -> String {
        let mut parts: [BTreeSet<&str>; 3] = Default::default();
        for tag in &self.tags {
            for (i, p) in tag.splitn(3, '-').enumerate() {
                parts[i].insert(p);
            }
        }
        if parts.iter().any(BTreeSet::is_empty) {
            return String::new();
        }
        parts
            .map(|p| p.into_iter().collect::<Vec<_>>().join("."))
            .join("-")
    }

    /// The wheel's file name, as far as the venv tells it.
    fn wheel(&self) -> String {
        let tag = self.compressed_tag();
        if tag.is_empty() {
            format!("{} {}", self.name, self.version)
        } else {
            format!("{}-{tag}.whl", self.stem)
        }
    }
}

/// The venv's `site-packages` directories (`lib/python3.X/site-packages`),
/// sorted; `lib64` and other symlinks are not followed.
fn site_packages(venv: &Path) -> Vec<PathBuf> {
    let lib = venv.join("lib");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path().join("site-packages")))
        .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        .collect();
    dirs.sort();
    dirs
}

/// Every `.dist-info` in `site`, sorted by directory name.
fn dists(site: &Path) -> Vec<Dist> {
    let mut infos: Vec<PathBuf> = fs::read_dir(site)
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "dist-info") && p.is_dir())
        .collect();
    infos.sort();
    infos.iter().map(|p| Dist::read(p)).collect()
}

fn is_real_dir(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    v.sort();
    v
}

/// The bundled-library directories of `site`, relative to it:
/// `<name>.libs` at the top, `<package>/.libs` one level down.
fn libs_dirs(site: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in sorted_entries(site) {
        let Some(name) = entry.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !is_real_dir(&entry) {
            continue;
        }
        if name
            .strip_suffix(".libs")
            .is_some_and(|stem| !stem.is_empty())
        {
            out.push(name.to_string());
        } else if !name.ends_with(".dist-info") && is_real_dir(&entry.join(".libs")) {
            out.push(format!("{name}/.libs"));
        }
    }
    out
}

/// The shared libraries (ELF files) directly in `dir`, by file name, sorted.
fn libraries_in(dir: &Path) -> Vec<String> {
    sorted_entries(dir)
        .into_iter()
        .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_file()) && elf_kind(p).is_some())
        .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
        .collect()
}

/// A bundled-library directory and the wheel that installed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// What the facts say.
    pub facts: BundledLibraries,
    /// The wheel's file name (or `name version` when its tags are unknown).
    pub wheel: String,
}

/// The wheels of the venv at `venv` that carry their own shared libraries,
/// sorted by project and directory. The project is the one whose `RECORD`
/// lists files in the directory; a directory no `RECORD` owns is named
/// after itself.
pub fn bundled_libraries(venv: &Path) -> Vec<Bundle> {
    let mut out = Vec::new();
    for site in site_packages(venv) {
        let dists = dists(&site);
        for dir in libs_dirs(&site) {
            let libraries = libraries_in(&site.join(&dir));
            if libraries.is_empty() {
                continue;
            }
            let prefix = format!("{dir}/");
            let owner = dists
                .iter()
                .find(|d| d.record.iter().any(|p| p.starts_with(&prefix)));
            let (facts, wheel) = if let Some(d) = owner {
                (
                    BundledLibraries {
                        project: d.name.clone(),
                        version: d.version.clone(),
                        tag: d.compressed_tag(),
                        dir: dir.clone(),
                        libraries,
                    },
                    d.wheel(),
                )
            } else {
                let name = dir.trim_end_matches("/.libs").trim_end_matches(".libs");
                (
                    BundledLibraries {
                        project: name.to_string(),
                        dir: dir.clone(),
                        libraries,
                        ..BundledLibraries::default()
                    },
                    name.to_string(),
                )
            };
            out.push(Bundle { facts, wheel });
        }
    }
    out.sort_by(|a, b| a.facts.cmp(&b.facts));
    out
}

/// The warning line for one bundle (without the `mkvenv: warning: ` prefix).
pub fn bundle_warning(b: &Bundle) -> String {
    format!(
        "{} bundles its own {} ({}/): Debian's security updates never reach them; `\"no_binary\": [\"{}\"]` in app.json builds it from source against Debian's libraries (their -dev packages in `build_depends`)",
        b.wheel,
        b.facts.libraries.join(", "),
        b.facts.dir,
        b.facts.project,
    )
}

/// Print one warning line per bundle on `out`.
pub fn warn_bundles(out: &mut impl std::io::Write, bundles: &[Bundle]) {
    for b in bundles {
        status(out, "mkvenv", Status::Warning, bundle_warning(b));
    }
}

/// Refuse a venv in which a project of `no_binary` was installed from a
/// binary wheel (its `WHEEL` file names a platform other than
/// `linux_<arch>` or `any`).
pub fn check_no_binary_installed(venv: &Path, no_binary: &[String]) -> Result<()> {
    if no_binary.is_empty() {
        return Ok(());
    }
    let wanted: BTreeMap<String, &String> = no_binary
        .iter()
        .map(|n| (normalize_project(n), n))
        .collect();
    for site in site_packages(venv) {
        for d in dists(&site) {
            if !wanted.contains_key(&normalize_project(&d.name)) {
                continue;
            }
            let foreign = d
                .tags
                .iter()
                .filter_map(|t| t.rsplit('-').next())
                .find(|p| is_foreign_build(p));
            if let Some(platform) = foreign {
                return Err(Error::file(
                    d.wheel(),
                    format!(
                        "{} was installed from this binary wheel ({platform}), but the spec's `no_binary` builds it from source against Debian's libraries; rerun `make wheels` to build it",
                        d.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF header: enough for `elf_kind`.
    const ELF: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0\x3e\0";

    fn write(path: &Path, data: &[u8]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
    }

    /// A `.dist-info` for `name version`, with `WHEEL` tags and a `RECORD`
    /// listing `files`.
    fn dist_info(site: &Path, stem: &str, name: &str, tags: &[&str], files: &[&str]) {
        let info = site.join(format!("{stem}.dist-info"));
        let version = stem.split_once('-').unwrap().1;
        write(
            &info.join("METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nName: not-this\n")
                .as_bytes(),
        );
        let wheel: Vec<String> = tags.iter().map(|t| format!("Tag: {t}\n")).collect();
        let wheel = wheel.concat();
        write(
            &info.join("WHEEL"),
            format!("Wheel-Version: 1.0\nRoot-Is-Purelib: false\n{wheel}").as_bytes(),
        );
        let mut record: Vec<String> = files.iter().map(|f| format!("{f},sha256=x,1\n")).collect();
        record.push(format!("{stem}.dist-info/RECORD,,\n"));
        let record = record.concat();
        write(&info.join("RECORD"), record.as_bytes());
    }

    /// A venv tree: pycurl's `pycurl.libs/` (two libraries and a non-ELF
    /// file), psycopg2-binary's `psycopg2_binary.libs/`, an old-style
    /// `numpy/.libs/`, an unowned `stray.libs/`, an empty `empty.libs/`, a
    /// pure-python project, and a `lib64` symlink.
    fn venv() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let site = t.path().join("lib/python3.11/site-packages");
        for f in [
            "pycurl.libs/libssl-8e2a1b3c.so.3",
            "pycurl.libs/libcurl-4f7c9a2d.so.4.8.0",
            "psycopg2_binary.libs/libpq-9b3e4fd2.so.5.17",
            "numpy/.libs/libopenblasp-r0-2ecf47d5.3.13.so",
            "stray.libs/libz-eb09ad1d.so.1.2.13",
        ] {
            write(&site.join(f), ELF);
        }
        write(&site.join("pycurl.libs/README.txt"), b"not a library\n");
        fs::create_dir_all(site.join("empty.libs")).unwrap();
        write(&site.join("django/__init__.py"), b"");
        dist_info(
            &site,
            "pycurl-7.45.6",
            "pycurl",
            &["cp311-cp311-manylinux_2_28_x86_64"],
            &[
                "pycurl.cpython-311-x86_64-linux-gnu.so",
                "pycurl.libs/libcurl-4f7c9a2d.so.4.8.0",
                "pycurl.libs/libssl-8e2a1b3c.so.3",
            ],
        );
        dist_info(
            &site,
            "psycopg2_binary-2.9.13",
            "psycopg2-binary",
            &[
                "cp311-cp311-manylinux_2_17_x86_64",
                "cp311-cp311-manylinux2014_x86_64",
            ],
            &[
                "psycopg2/__init__.py",
                "psycopg2_binary.libs/libpq-9b3e4fd2.so.5.17",
            ],
        );
        dist_info(
            &site,
            "numpy-1.16.0",
            "numpy",
            &["cp311-cp311-manylinux1_x86_64"],
            &["numpy/.libs/libopenblasp-r0-2ecf47d5.3.13.so"],
        );
        dist_info(
            &site,
            "Django-4.2.30",
            "Django",
            &["py3-none-any"],
            &["django/__init__.py"],
        );
        std::os::unix::fs::symlink("lib", t.path().join("lib64")).unwrap();
        t
    }

    #[test]
    fn libs_directories_are_found_and_named_after_their_record() {
        let t = venv();
        let found = bundled_libraries(t.path());
        let summary: Vec<(&str, &str, &str, Vec<&str>)> = found
            .iter()
            .map(|b| {
                (
                    b.facts.project.as_str(),
                    b.facts.dir.as_str(),
                    b.facts.version.as_str(),
                    b.facts.libraries.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "numpy",
                    "numpy/.libs",
                    "1.16.0",
                    vec!["libopenblasp-r0-2ecf47d5.3.13.so"]
                ),
                (
                    "psycopg2-binary",
                    "psycopg2_binary.libs",
                    "2.9.13",
                    vec!["libpq-9b3e4fd2.so.5.17"]
                ),
                (
                    "pycurl",
                    "pycurl.libs",
                    "7.45.6",
                    vec!["libcurl-4f7c9a2d.so.4.8.0", "libssl-8e2a1b3c.so.3"]
                ),
                ("stray", "stray.libs", "", vec!["libz-eb09ad1d.so.1.2.13"]),
            ]
        );
        let psycopg = &found[1];
        assert_eq!(
            psycopg.wheel,
            "psycopg2_binary-2.9.13-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
        );
        assert_eq!(
            psycopg.facts.tag,
            "cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64"
        );
        // the same tree gives the same list (no dependence on readdir order)
        assert_eq!(bundled_libraries(t.path()), found);
    }

    #[test]
    fn the_warning_names_wheel_libraries_and_the_hint() {
        let t = venv();
        let found = bundled_libraries(t.path());
        let mut out = Vec::new();
        warn_bundles(&mut out, &found);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().count(), found.len(), "{out}");
        assert!(
            out.lines().all(|l| l.starts_with("mkvenv: warning: ")),
            "{out}"
        );
        let w = bundle_warning(&found[2]);
        assert!(!w.contains('\n'), "{w}");
        assert!(
            w.starts_with(
                "pycurl-7.45.6-cp311-cp311-manylinux_2_28_x86_64.whl bundles its own libcurl-4f7c9a2d.so.4.8.0, libssl-8e2a1b3c.so.3 (pycurl.libs/)"
            ),
            "{w}"
        );
        assert!(
            w.contains("security updates never reach") && w.contains(r#""no_binary": ["pycurl"]"#),
            "{w}"
        );
    }

    #[test]
    fn a_venv_without_libs_directories_bundles_nothing() {
        let t = tempfile::tempdir().unwrap();
        let site = t.path().join("lib/python3.11/site-packages");
        write(&site.join("django/__init__.py"), b"");
        write(&site.join("uwsgidecorators.py"), b"");
        assert!(bundled_libraries(t.path()).is_empty());
        assert!(bundled_libraries(&t.path().join("missing")).is_empty());
    }

    #[test]
    fn no_binary_refuses_a_binary_wheel_in_the_wheelhouse() {
        let (d, dirs) = crate::wheels::tests::wheelhouse(&[
            "Django-4.2-py3-none-any.whl",
            "uWSGI-2.0.31-cp311-cp311-linux_x86_64.whl",
            "pycurl-7.45.6-cp311-cp311-manylinux_2_28_x86_64.whl",
            "psycopg2_binary-2.9.13-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
            "psycopg2_binary-2.9.13.tar.gz",
        ]);
        let no =
            |names: &[&str]| -> Vec<String> { names.iter().map(ToString::to_string).collect() };
        assert!(check_no_binary_wheelhouses(&dirs, &[]).is_ok());
        // built here (linux_<arch>), or pure python: fine
        assert!(check_no_binary_wheelhouses(&dirs, &no(&["uwsgi", "Django"])).is_ok());
        let e = check_no_binary_wheelhouses(&dirs, &no(&["PyCurl"]))
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(
            e.starts_with(&format!(
                "{}: a binary wheel (manylinux_2_28_x86_64) of pycurl",
                d.path()
                    .join("pycurl-7.45.6-cp311-cp311-manylinux_2_28_x86_64.whl")
                    .display()
            )) && e.contains("rerun `make wheels`"),
            "{e}"
        );
        // names compare as pip compares them
        let e = check_no_binary_wheelhouses(&dirs, &no(&["psycopg2.binary"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("psycopg2_binary-2.9.13-cp311"), "{e}");
        // musllinux is as foreign as manylinux
        fs::write(
            d.path()
                .join("uWSGI-2.0.31-cp311-cp311-musllinux_1_2_x86_64.whl"),
            "",
        )
        .unwrap();
        assert!(check_no_binary_wheelhouses(&dirs, &no(&["uwsgi"])).is_err());
    }

    #[test]
    fn no_binary_refuses_an_installed_binary_wheel() {
        let t = venv();
        let no =
            |names: &[&str]| -> Vec<String> { names.iter().map(ToString::to_string).collect() };
        assert!(check_no_binary_installed(t.path(), &no(&["django", "absent"])).is_ok());
        let e = check_no_binary_installed(t.path(), &no(&["pycurl"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "pycurl-7.45.6-cp311-cp311-manylinux_2_28_x86_64.whl: pycurl was installed from this binary wheel (manylinux_2_28_x86_64)"
            )
                && e.contains("rerun `make wheels`"),
            "{e}"
        );
        // a source build of it is tagged linux_<arch>
        let site = t.path().join("lib/python3.11/site-packages");
        fs::remove_dir_all(site.join("pycurl-7.45.6.dist-info")).unwrap();
        dist_info(
            &site,
            "pycurl-7.45.6",
            "pycurl",
            &["cp311-cp311-linux_x86_64"],
            &["pycurl.cpython-311-x86_64-linux-gnu.so"],
        );
        assert!(check_no_binary_installed(t.path(), &no(&["pycurl"])).is_ok());
    }

    #[test]
    fn project_names_normalise_as_pip_does() {
        assert_eq!(normalize_project("PyCurl"), "pycurl");
        assert_eq!(normalize_project("psycopg2_binary"), "psycopg2-binary");
        assert_eq!(normalize_project("zope.interface"), "zope-interface");
        assert_eq!(normalize_project("a-_.b"), "a-b");
        assert_eq!(
            platform_tags("x-1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"),
            Some(vec!["manylinux2014_x86_64", "manylinux_2_17_x86_64"])
        );
        assert_eq!(platform_tags("x-1.tar.gz"), None);
    }
}
