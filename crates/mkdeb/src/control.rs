//! The control area (`DIR/DEBIAN`): the checks dpkg-deb makes before it
//! builds, the generated `md5sums`, and `Installed-Size` computed the way
//! dpkg-gencontrol does.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use debpipe_core::deb822::{self, Paragraph};
use debpipe_core::{Error, Result, spec};

use crate::tree::{self, CONTROL_DIR, Entry, Kind};

/// Maintainer scripts: executable, mode 0555..0775, starting with `#!`.
pub const MAINTAINER_SCRIPTS: [&str; 5] = ["preinst", "postinst", "prerm", "postrm", "config"];

/// Every file dpkg knows in a binary package's control area.
pub const KNOWN_FILES: [&str; 12] = [
    "control",
    "conffiles",
    "md5sums",
    "preinst",
    "postinst",
    "prerm",
    "postrm",
    "config",
    "shlibs",
    "symbols",
    "templates",
    "triggers",
];

/// A file of the control area, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFile {
    /// Its name in `DEBIAN/`.
    pub name: String,
    /// Its content.
    pub data: Vec<u8>,
    /// Its permission bits.
    pub mode: u32,
    /// Its mtime.
    pub mtime: i64,
}

/// The checked control area.
#[derive(Debug, Clone)]
pub struct ControlArea {
    /// The control paragraph, fields in the given order.
    pub paragraph: Paragraph,
    /// `Package`.
    pub package: String,
    /// `Version`.
    pub version: String,
    /// `Architecture`.
    pub architecture: String,
    /// `DEBIAN/` itself (mode, mtime) and its files, for Installed-Size.
    pub entries: Vec<Entry>,
    /// The files but `md5sums` (which mkdeb generates), sorted by name.
    pub files: Vec<ControlFile>,
    /// Conffiles present in the package, as tar-less paths (`etc/x`).
    pub conffiles: HashSet<Vec<u8>>,
    /// Things dpkg-deb only warns about.
    pub warnings: Vec<String>,
}

/// Read and check `root/DEBIAN`.
pub fn read(root: &Path) -> Result<ControlArea> {
    let dir = root.join(CONTROL_DIR);
    let dir_entry = match tree::stat(&dir, b"DEBIAN".to_vec()) {
        Err(Error::Io { err, .. }) if err.kind() == ErrorKind::NotFound => {
            return Err(Error::file(
                dir.join("control"),
                "missing: the tree needs a DEBIAN/control file",
            ));
        }
        other => other?,
    };
    if dir_entry.kind != Kind::Dir {
        return Err(Error::file(&dir, "not a directory"));
    }
    if dir_entry.mode & 0o7757 != 0o755 {
        return Err(Error::file(
            &dir,
            format!(
                "bad permissions {:04o} (must be between 0755 and 0775)",
                dir_entry.mode
            ),
        ));
    }
    let mut entries = vec![dir_entry];
    let mut files = Vec::new();
    for name in tree::sorted_names(&dir)? {
        let path = dir.join(OsStr::from_bytes(&name));
        let name = String::from_utf8(name)
            .ok()
            .filter(|n| KNOWN_FILES.contains(&n.as_str()))
            .ok_or_else(|| unknown_file(&path))?;
        let e = tree::stat(&path, Vec::new())?;
        if !matches!(e.kind, Kind::File { .. }) {
            return Err(Error::file(&path, "must be a regular file"));
        }
        let data = fs::read(&path).map_err(|err| Error::io(&path, err))?;
        if MAINTAINER_SCRIPTS.contains(&name.as_str()) {
            check_script(&path, e.mode, &data)?;
        }
        let f = ControlFile {
            name,
            data,
            mode: e.mode,
            mtime: e.mtime,
        };
        entries.push(e);
        if f.name != "md5sums" {
            files.push(f);
        }
    }
    let control_path = dir.join("control");
    let control = files.iter().find(|f| f.name == "control").ok_or_else(|| {
        Error::file(
            &control_path,
            "missing: the tree needs a DEBIAN/control file",
        )
    })?;
    let mut warnings = Vec::new();
    let checked = check_control(&control.data).map_err(|r| Error::file(&control_path, r))?;
    for w in checked.warnings {
        warnings.push(format!("{}: {w}", control_path.display()));
    }
    let conffiles = match files.iter().find(|f| f.name == "conffiles") {
        Some(f) => check_conffiles(root, &dir.join("conffiles"), &f.data, &mut warnings)?,
        None => HashSet::new(),
    };
    Ok(ControlArea {
        paragraph: checked.paragraph,
        package: checked.package,
        version: checked.version,
        architecture: checked.architecture,
        entries,
        files,
        conffiles,
        warnings,
    })
}

/// Check `conffiles` (at `path`) against the tree at `root`; return the
/// conffiles present, as paths without the leading `/`.
fn check_conffiles(
    root: &Path,
    path: &Path,
    data: &[u8],
    warnings: &mut Vec<String>,
) -> Result<HashSet<Vec<u8>>> {
    let mut conffiles = HashSet::new();
    let lines = parse_conffiles(data).map_err(|r| Error::file(path, r))?;
    let mut seen = HashSet::new();
    for c in lines {
        let shown = String::from_utf8_lossy(&c.path).into_owned();
        if !seen.insert(c.path.clone()) {
            warnings.push(format!(
                "{}: conffile {shown} is listed twice",
                path.display()
            ));
        }
        let present = conffile_state(root, &c.path).map_err(|r| Error::file(path, r))?;
        match (c.remove_on_upgrade, present) {
            (false, None) => {
                return Err(Error::file(
                    path,
                    format!("conffile {shown} does not appear in the package"),
                ));
            }
            (false, Some(true)) => {
                return Err(Error::file(
                    path,
                    format!("conffile {shown} is a directory"),
                ));
            }
            (true, Some(_)) => {
                return Err(Error::file(
                    path,
                    format!("conffile {shown} is present but marked remove-on-upgrade"),
                ));
            }
            (false, Some(false)) => {
                conffiles.insert(c.path[1..].to_vec());
            }
            (true, None) => {}
        }
    }
    Ok(conffiles)
}

/// Whether the conffile `abs` (absolute, as listed) is in the tree at
/// `root`: `None` when absent, `Some(is_dir)` when present.
fn conffile_state(root: &Path, abs: &[u8]) -> std::result::Result<Option<bool>, String> {
    let rel = &abs[1..];
    let shown = String::from_utf8_lossy(abs);
    if rel.split(|&b| b == b'/').any(|c| c == b"..") {
        return Err(format!("conffile {shown} must not contain `..`"));
    }
    let first = rel.split(|&b| b == b'/').next().unwrap_or_default();
    if first == CONTROL_DIR.as_bytes() {
        return Ok(None);
    }
    match fs::symlink_metadata(root.join(OsStr::from_bytes(rel))) {
        Ok(md) => Ok(Some(md.is_dir())),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => Ok(None),
        Err(e) => Err(format!("conffile {shown}: {e}")),
    }
}

fn unknown_file(path: &Path) -> Error {
    Error::file(
        path,
        format!(
            "unknown control file (dpkg knows only {})",
            KNOWN_FILES.join(", ")
        ),
    )
}

/// dpkg-deb's checks on a maintainer script: mode between 0555 and 0775,
/// and (ours) a `#!` line, without which dpkg fails at install time.
pub fn check_script(path: &Path, mode: u32, data: &[u8]) -> Result<()> {
    if mode & 0o7557 != 0o555 {
        return Err(Error::file(
            path,
            format!("bad permissions {mode:04o} (must be between 0555 and 0775)"),
        ));
    }
    if !data.starts_with(b"#!") {
        return Err(Error::file(path, "does not start with a `#!` line"));
    }
    Ok(())
}

/// The control file, checked.
#[derive(Debug, Clone)]
pub struct CheckedControl {
    /// The paragraph.
    pub paragraph: Paragraph,
    /// `Package`.
    pub package: String,
    /// `Version`.
    pub version: String,
    /// `Architecture`.
    pub architecture: String,
    /// Missing recommended fields.
    pub warnings: Vec<String>,
}

/// Parse and check a binary control file as dpkg-deb does: one paragraph;
/// `Package`, `Version` and `Architecture` present and valid; a numeric
/// `Installed-Size` if given; `Maintainer` and `Description` only warned
/// about. The error names the field.
pub fn check_control(data: &[u8]) -> std::result::Result<CheckedControl, String> {
    let text = std::str::from_utf8(data).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut paras = deb822::parse(text).map_err(|e| e.to_string())?;
    let paragraph = match paras.len() {
        0 => return Err("empty, needs a paragraph of fields".into()),
        1 => paras.remove(0),
        n => return Err(format!("has {n} paragraphs, must have one")),
    };
    let field = |name: &str| -> std::result::Result<String, String> {
        match paragraph.get(name) {
            Some(v) if !v.trim().is_empty() => Ok(v.to_string()),
            _ => Err(format!("field `{name}`: missing")),
        }
    };
    let package = field("Package")?;
    spec::package_name(&package).map_err(|r| format!("field `Package`: {r}"))?;
    let version = field("Version")?;
    spec::debian_version(&version).map_err(|r| format!("field `Version`: {r}"))?;
    let architecture = field("Architecture")?;
    let arch_ok = architecture.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && architecture
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !arch_ok {
        return Err(format!(
            "field `Architecture`: must be one architecture name like `amd64` or `all`, got {architecture:?}"
        ));
    }
    if let Some(v) = paragraph.get("Installed-Size")
        && (v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "field `Installed-Size`: must be a number of KiB, got {v:?}"
        ));
    }
    let warnings = ["Maintainer", "Description"]
        .iter()
        .filter(|f| paragraph.get(f).is_none_or(|v| v.trim().is_empty()))
        .map(|f| format!("field `{f}`: missing (dpkg-deb only warns)"))
        .collect();
    Ok(CheckedControl {
        paragraph,
        package,
        version,
        architecture,
        warnings,
    })
}

/// One line of `conffiles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conffile {
    /// The absolute path.
    pub path: Vec<u8>,
    /// Listed as `remove-on-upgrade /path`.
    pub remove_on_upgrade: bool,
}

/// Parse `conffiles` as dpkg-deb does: one absolute path per line, each
/// line ending in a newline, no blank lines, no leading whitespace, the
/// only flag `remove-on-upgrade`.
pub fn parse_conffiles(data: &[u8]) -> std::result::Result<Vec<Conffile>, String> {
    let mut out = Vec::new();
    if data.is_empty() {
        return Ok(out);
    }
    let Some(body) = data.strip_suffix(b"\n") else {
        return Err("missing final newline".into());
    };
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let shown = String::from_utf8_lossy(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Err(format!("line {n}: empty lines are not allowed"));
        }
        if line[0].is_ascii_whitespace() {
            return Err(format!("line {n}: leading whitespace in {shown:?}"));
        }
        let (remove_on_upgrade, path) = if line[0] == b'/' {
            (false, line)
        } else {
            match line.iter().position(|&b| b == b' ') {
                Some(sp) if &line[..sp] == b"remove-on-upgrade" => (true, &line[sp + 1..]),
                Some(sp) => {
                    return Err(format!(
                        "line {n}: unknown flag {:?}",
                        String::from_utf8_lossy(&line[..sp])
                    ));
                }
                None => return Err(format!("line {n}: {shown:?} is not an absolute path")),
            }
        };
        if !path.starts_with(b"/") || path.len() < 2 {
            return Err(format!("line {n}: {shown:?} is not an absolute path"));
        }
        out.push(Conffile {
            path: path.to_vec(),
            remove_on_upgrade,
        });
    }
    Ok(out)
}

/// `paragraph` with `Installed-Size: kib` added where dpkg-gencontrol puts
/// it: after the last field that comes before it in dpkg's field order
/// ([`deb822::FIELD_ORDER`]), and before the first that comes after. A
/// given value is kept.
pub fn with_installed_size(paragraph: &Paragraph, kib: u64) -> Paragraph {
    if paragraph.get("Installed-Size").is_some() {
        return paragraph.clone();
    }
    let rank = |name: &str| {
        deb822::FIELD_ORDER
            .iter()
            .position(|f| f.eq_ignore_ascii_case(name))
    };
    let here = rank("Installed-Size").unwrap_or_default();
    let fields: Vec<(String, String)> = paragraph
        .fields()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut at = 0;
    for (i, (k, _)) in fields.iter().enumerate() {
        match rank(k) {
            Some(r) if r < here => at = i + 1,
            Some(_) => break,
            None => {}
        }
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(fields.len() + 1);
    out.extend_from_slice(&fields[..at]);
    out.push(("Installed-Size".into(), kib.to_string()));
    out.extend_from_slice(&fields[at..]);
    out.into_iter().collect()
}

/// The `md5sums` file: `<md5>  <path>` for each `(path, digest)`, sorted
/// by path (byte order, as `LC_ALL=C sort` in `dh_md5sums`).
pub fn md5sums(mut sums: Vec<(Vec<u8>, [u8; 16])>) -> Vec<u8> {
    sums.sort_unstable();
    let mut out = Vec::with_capacity(sums.len() * 80);
    let mut hex = String::with_capacity(34);
    for (path, digest) in sums {
        hex.clear();
        debpipe_core::hex::push(&mut hex, &digest);
        hex.push_str("  ");
        out.extend_from_slice(hex.as_bytes());
        out.extend_from_slice(&path);
        out.push(b'\n');
    }
    out
}

/// The mode dpkg-deb gives control members (`tar --mode=u+rw,go=rX`):
/// owner read-write kept with its execute bit, group and others read, and
/// execute when a directory or executable by anyone; setgid and sticky
/// cleared.
pub fn member_mode(mode: u32, is_dir: bool) -> u32 {
    let x = if is_dir || mode & 0o111 != 0 {
        0o011
    } else {
        0
    };
    (mode & 0o4700) | 0o600 | 0o044 | x
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "Package: hello\nVersion: 1:2.0-1\nArchitecture: all\nMaintainer: A <a@example.com>\nDepends: libc6\nDescription: hi\n there\n";

    #[test]
    fn good_control_passes_and_keeps_fields() {
        let c = check_control(GOOD.as_bytes()).unwrap();
        assert_eq!(
            (
                c.package.as_str(),
                c.version.as_str(),
                c.architecture.as_str()
            ),
            ("hello", "1:2.0-1", "all")
        );
        assert!(c.warnings.is_empty());
        assert_eq!(c.paragraph.to_string(), GOOD);
    }

    #[test]
    fn bad_control_names_the_field() {
        let cases = [
            (
                "Version: 1.0\nArchitecture: all\n",
                "field `Package`: missing",
            ),
            (
                "Package: Hello\nVersion: 1\nArchitecture: all\n",
                "field `Package`",
            ),
            (
                "Package: hello\nVersion: one\nArchitecture: all\n",
                "field `Version`",
            ),
            (
                "Package: hello\nVersion: 1\n",
                "field `Architecture`: missing",
            ),
            (
                "Package: hello\nVersion: 1\nArchitecture: amd64 i386\n",
                "field `Architecture`",
            ),
            (
                "Package: hello\nVersion: 1\nArchitecture: all\nInstalled-Size: 1k\n",
                "field `Installed-Size`",
            ),
            ("Package: a\n\nPackage: b\n", "2 paragraphs"),
            ("", "empty"),
            ("Package hello\n", "line 1"),
        ];
        for (text, want) in cases {
            let err = check_control(text.as_bytes()).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn missing_maintainer_and_description_only_warn() {
        let c = check_control(b"Package: hello\nVersion: 1\nArchitecture: all\n").unwrap();
        assert_eq!(c.warnings.len(), 2);
    }

    #[test]
    fn installed_size_goes_where_dpkg_gencontrol_puts_it() {
        let p = check_control(GOOD.as_bytes()).unwrap().paragraph;
        let out = with_installed_size(&p, 42).to_string();
        assert_eq!(
            out,
            "Package: hello\nVersion: 1:2.0-1\nArchitecture: all\nMaintainer: A <a@example.com>\nInstalled-Size: 42\nDepends: libc6\nDescription: hi\n there\n"
        );
        for (control, want) in [
            // Unknown fields keep their place; no earlier field: goes first.
            (
                "Package: p\nX-Foo: 1\nDescription: d\n",
                "Package: p\nInstalled-Size: 1\nX-Foo: 1\nDescription: d\n",
            ),
            (
                "Description: d\nPackage: p\n",
                "Installed-Size: 1\nDescription: d\nPackage: p\n",
            ),
            // dpkg orders Origin and Bugs before Maintainer and Installed-Size.
            (
                "Package: p\nBugs: b\nDepends: d\n",
                "Package: p\nBugs: b\nInstalled-Size: 1\nDepends: d\n",
            ),
        ] {
            let p = deb822::parse(control).unwrap().remove(0);
            assert_eq!(with_installed_size(&p, 1).to_string(), want, "{control}");
        }
        // A given value is kept.
        let p = deb822::parse("Package: p\nInstalled-Size: 7\n")
            .unwrap()
            .remove(0);
        assert_eq!(with_installed_size(&p, 1).get("Installed-Size"), Some("7"));
    }

    #[test]
    fn conffiles_parse_like_dpkg_deb() {
        let c = parse_conffiles(b"/etc/a\nremove-on-upgrade /etc/b\n").unwrap();
        assert_eq!(c.len(), 2);
        assert!(c[1].remove_on_upgrade);
        assert!(parse_conffiles(b"").unwrap().is_empty());
        for (bad, want) in [
            (&b"/etc/a"[..], "final newline"),
            (b"/etc/a\n\n", "line 2: empty"),
            (b" /etc/a\n", "leading whitespace"),
            (b"etc/a\n", "not an absolute path"),
            (b"keep /etc/a\n", "unknown flag"),
        ] {
            let err = parse_conffiles(bad).unwrap_err();
            assert!(err.contains(want), "{bad:?}: {err}");
        }
    }

    #[test]
    fn scripts_need_mode_and_shebang() {
        let p = Path::new("DEBIAN/postinst");
        assert!(check_script(p, 0o755, b"#!/bin/sh\n").is_ok());
        assert!(check_script(p, 0o555, b"#!/bin/sh\n").is_ok());
        assert!(check_script(p, 0o775, b"#!/bin/sh\n").is_ok());
        for mode in [0o644, 0o700, 0o777] {
            let err = check_script(p, mode, b"#!/bin/sh\n")
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("DEBIAN/postinst: bad permissions"), "{err}");
        }
        let err = check_script(p, 0o755, b"echo hi\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("#!"), "{err}");
    }

    #[test]
    fn md5sums_are_sorted_with_two_spaces() {
        let out = md5sums(vec![
            (b"usr/b".to_vec(), [0xab; 16]),
            (b"usr/a".to_vec(), [0; 16]),
        ]);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            format!("{}  usr/a\n{}  usr/b\n", "0".repeat(32), "ab".repeat(16))
        );
    }

    #[test]
    fn member_modes_follow_u_rw_go_r_x() {
        assert_eq!(member_mode(0o755, true), 0o755);
        assert_eq!(member_mode(0o700, false), 0o755);
        assert_eq!(member_mode(0o600, false), 0o644);
        assert_eq!(member_mode(0o400, false), 0o644);
        assert_eq!(member_mode(0o2775, true), 0o755);
        assert_eq!(member_mode(0o555, false), 0o755);
    }
}
