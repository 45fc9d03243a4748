//! Shared-library dependencies: the libraries ELF files in the venv load
//! from outside it, mapped to Debian packages and their `shlibs` relations.

use crate::elf::{ElfFile, elf_kind};
use debpipe_core::sysroot::Sysroot;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use debpipe_core::{Error, Result};

/// Expand `$ORIGIN`/`${ORIGIN}` in one RPATH/RUNPATH entry list
/// (`:`-separated) for an object in `origin`.
pub fn expand_search(entry: &str, origin: &Path) -> Vec<PathBuf> {
    let o = origin.to_string_lossy();
    entry
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d.replace("${ORIGIN}", &o).replace("$ORIGIN", &o)))
        .collect()
}

/// Parse `ldconfig -p`: soname -> paths, in cache order.
pub fn parse_ldconfig(text: &str) -> HashMap<String, Vec<PathBuf>> {
    let mut map: HashMap<String, Vec<PathBuf>> = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some((left, path)) = line.split_once(" => ") else {
            continue;
        };
        let Some(name) = left.split_whitespace().next() else {
            continue;
        };
        map.entry(name.to_string())
            .or_default()
            .push(PathBuf::from(path.trim()));
    }
    map
}

/// Parse `dpkg-query -S` output: path -> first owning package (with any
/// `:arch`), skipping diversion lines.
pub fn parse_dpkg_search(text: &str) -> HashMap<PathBuf, String> {
    let mut map = HashMap::new();
    for line in text.lines() {
        if line.starts_with("diversion by") {
            continue;
        }
        let Some((pkgs, path)) = line.split_once(": /") else {
            continue;
        };
        let pkg = pkgs.split(',').next().unwrap_or(pkgs).trim();
        map.insert(PathBuf::from(format!("/{path}")), pkg.to_string());
    }
    map
}

/// The shlibs key of a soname: `libz.so.1` -> (`libz`, `1`),
/// `libfoo-1.2.so` -> (`libfoo`, `1.2`).
pub fn soname_key(soname: &str) -> Option<(String, String)> {
    if let Some((name, ver)) = soname.split_once(".so.") {
        return Some((name.to_string(), ver.to_string()));
    }
    let stem = soname.strip_suffix(".so")?;
    let (name, ver) = stem.rsplit_once('-')?;
    ver.starts_with(|c: char| c.is_ascii_digit())
        .then(|| (name.to_string(), ver.to_string()))
}

/// The dependency a `shlibs` file declares for (`name`, `version`), split
/// into relations; `None` when it has no (untyped) line for them.
pub fn shlibs_lookup(text: &str, name: &str, version: &str) -> Option<Vec<String>> {
    text.lines().find_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut words = line.splitn(3, char::is_whitespace);
        let lib = words.next()?;
        if lib.ends_with(':') {
            return None; // udeb: and other package types
        }
        let ver = words.next()?;
        let deps = words.next()?.trim();
        (lib == name && ver == version).then(|| {
            deps.split(',')
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty())
                .collect()
        })
    })
}

/// A Debian version without its revision: `1:1.2.13.dfsg-1` -> `1:1.2.13.dfsg`.
pub fn upstream_version(v: &str) -> &str {
    v.rsplit_once('-').map_or(v, |(u, _)| u)
}

pub(crate) fn command_stdout(mut cmd: Command, args: &[&OsStr]) -> Result<(bool, String)> {
    let program = PathBuf::from(cmd.get_program());
    let out = cmd.args(args).output().map_err(|e| Error::io(program, e))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

pub(crate) fn dpkg_architecture(sysroot: &Sysroot) -> Result<String> {
    let (ok, out) = command_stdout(
        sysroot.command("dpkg"),
        &[OsStr::new("--print-architecture")],
    )?;
    let arch = out.trim().to_string();
    if !ok || arch.is_empty() {
        return Err(Error::command("dpkg --print-architecture", "failed"));
    }
    Ok(arch)
}

/// Lexically normalise `..` and `.` (for comparing paths that may not exist).
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The same path on the other side of the /usr merge (`/lib/x` <-> `/usr/lib/x`).
pub(crate) fn usr_toggled(p: &Path) -> PathBuf {
    match p.strip_prefix("/usr") {
        Ok(rest) => Path::new("/").join(rest),
        Err(_) => Path::new("/usr").join(p.strip_prefix("/").unwrap_or(p)),
    }
}

/// Find the packages of the libraries the ELF files load from outside the
/// venv, as dpkg-shlibdeps does: resolve each `DT_NEEDED` through the
/// object's RPATH/RUNPATH (`$ORIGIN` expanded), then the ld.so cache and the
/// default directories; a library inside the venv needs nothing; one outside
/// is mapped to its package with `dpkg-query -S`, and that package's
/// `shlibs` file gives the relation (else `pkg (>= installed upstream version)`).
pub(crate) fn shlib_depends(
    sysroot: &Sysroot,
    venv: &Path,
    elves: &[ElfFile],
) -> Result<Vec<String>> {
    if elves.iter().all(|e| e.needed.is_empty()) {
        return Ok(Vec::new());
    }
    let external = external_libs(sysroot, venv, elves)?;
    if external.is_empty() {
        return Ok(Vec::new());
    }
    let candidates = |p: &Path| -> Vec<PathBuf> {
        let real = sysroot.canonicalize(p).unwrap_or_else(|| p.to_path_buf());
        vec![
            p.to_path_buf(),
            real.clone(),
            usr_toggled(p),
            usr_toggled(&real),
        ]
    };
    let mut query: Vec<OsString> = vec!["-S".into()];
    let mut all: BTreeSet<PathBuf> = BTreeSet::new();
    for (_, path) in external.keys() {
        all.extend(candidates(path));
    }
    query.extend(all.iter().map(|p| p.as_os_str().to_os_string()));
    let args: Vec<&OsStr> = query.iter().map(OsString::as_os_str).collect();
    let (_, out) = command_stdout(sysroot.dpkg_query(), &args)?;
    let owners = parse_dpkg_search(&out);

    let mut relations = Vec::new();
    let mut shlibs_cache = HashMap::new();
    for ((lib, path), user) in &external {
        let Some(pkg) = candidates(path).iter().find_map(|c| owners.get(c)) else {
            return Err(Error::file(
                user,
                format!(
                    "needs {lib} ({}), which no installed Debian package provides",
                    path.display()
                ),
            ));
        };
        relations.extend(relations_for(sysroot, pkg, lib, &mut shlibs_cache)?);
    }
    Ok(merge_relations(relations))
}

/// The libraries the ELF files need from outside the venv:
/// (soname, resolved path) -> the first ELF file that needs it.
pub(crate) fn external_libs(
    sysroot: &Sysroot,
    venv: &Path,
    elves: &[ElfFile],
) -> Result<BTreeMap<(String, PathBuf), PathBuf>> {
    let ldconfig = ["/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"]
        .iter()
        .find_map(|p| command_stdout(sysroot.command(p), &[OsStr::new("-p")]).ok())
        .map(|(_, out)| parse_ldconfig(&out))
        .unwrap_or_default();
    let mut default_dirs: Vec<PathBuf> = ["/lib", "/usr/lib", "/lib64", "/usr/lib64"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let cache_dirs: BTreeSet<PathBuf> = ldconfig
        .values()
        .flatten()
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    default_dirs.extend(cache_dirs);

    let mut external = BTreeMap::new();
    for elf in elves {
        let origin = elf.path.parent().unwrap_or(venv);
        let inherited = loaders_search(elf, elves, venv);
        for lib in &elf.needed {
            let same_kind = |p: &Path| elf_kind(&sysroot.path(p)) == Some(elf.kind);
            let found = if lib.contains('/') {
                Some(PathBuf::from(lib)).filter(|p| same_kind(p))
            } else {
                elf.search
                    .iter()
                    .flat_map(|e| expand_search(e, origin))
                    .chain(inherited.iter().cloned())
                    .map(|d| d.join(lib))
                    .chain(ldconfig.get(lib).into_iter().flatten().cloned())
                    .chain(default_dirs.iter().map(|d| d.join(lib)))
                    .find(|p| same_kind(p))
            };
            let Some(found) = found else {
                return Err(Error::file(
                    &elf.path,
                    format!(
                        "needs {lib}, which is neither in the venv nor installed on this system"
                    ),
                ));
            };
            let real = sysroot
                .canonicalize(&found)
                .unwrap_or_else(|| normalize(&found));
            if real.starts_with(venv) || normalize(&found).starts_with(venv) {
                continue;
            }
            external
                .entry((lib.clone(), found))
                .or_insert_with(|| elf.path.clone());
        }
    }
    Ok(external)
}

/// The directories the loaders of `elf` search: the venv's ELF files that
/// need it by file name, and theirs, transitively. ld.so loads a library's
/// dependencies breadth-first beside its loader's and reuses an object
/// already loaded under the same soname, and a loader's `DT_RPATH` is
/// searched for what its dependencies need; so a bundled library without a
/// search path of its own (auditwheel's `pillow.libs/libfreetype` needing
/// `libpng16-…` from the same directory) resolves through the extension
/// module that loads it (`$ORIGIN/../pillow.libs`).
fn loaders_search(elf: &ElfFile, elves: &[ElfFile], venv: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut seen: BTreeSet<&Path> = BTreeSet::new();
    let mut todo: Vec<&ElfFile> = vec![elf];
    while let Some(obj) = todo.pop() {
        let Some(name) = obj.path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        for loader in elves.iter().filter(|l| l.needed.iter().any(|n| n == name)) {
            if !seen.insert(loader.path.as_path()) {
                continue;
            }
            let origin = loader.path.parent().unwrap_or(venv);
            for d in loader.search.iter().flat_map(|e| expand_search(e, origin)) {
                if !dirs.contains(&d) {
                    dirs.push(d);
                }
            }
            todo.push(loader);
        }
    }
    dirs
}

/// The relations for `lib` from package `pkg` (maybe `name:arch`): its
/// `shlibs` entry, else `name (>= installed upstream version)`.
pub(crate) fn relations_for(
    sysroot: &Sysroot,
    pkg: &str,
    lib: &str,
    cache: &mut HashMap<String, Option<(PathBuf, String)>>,
) -> Result<Vec<String>> {
    let shlibs = cache
        .entry(pkg.to_string())
        .or_insert_with(|| {
            let args = ["--control-path", pkg, "shlibs"].map(OsStr::new);
            let (ok, p) = command_stdout(sysroot.dpkg_query(), &args).ok()?;
            let p = PathBuf::from(p.trim());
            if !ok || p.as_os_str().is_empty() {
                return None;
            }
            let text = fs::read_to_string(&p).ok()?;
            Some((p, text))
        })
        .clone();
    let from_shlibs = soname_key(lib).and_then(|(n, v)| {
        shlibs
            .as_ref()
            .and_then(|(_, text)| shlibs_lookup(text, &n, &v))
    });
    let relations = if let Some(r) = from_shlibs {
        r
    } else {
        let args = ["-W", "-f=${Version}", pkg].map(OsStr::new);
        let (_, version) = command_stdout(sysroot.dpkg_query(), &args)?;
        let bare = pkg.split(':').next().unwrap_or(pkg);
        let v = upstream_version(version.trim());
        if v.is_empty() {
            vec![bare.to_string()]
        } else {
            vec![format!("{bare} (>= {v})")]
        }
    };
    for r in &relations {
        if let Err(reason) = debpipe_core::spec::relation(r) {
            let file = shlibs.map_or_else(|| PathBuf::from(pkg), |(p, _)| p);
            return Err(Error::file(file, reason));
        }
    }
    Ok(relations)
}

/// One relation per package, sorted by name: the one with the highest
/// `>=` version when several ask for the same package.
pub(crate) fn merge_relations(relations: Vec<String>) -> Vec<String> {
    let mut by_pkg: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in relations {
        let name = r.split([' ', '(']).next().unwrap_or(&r).to_string();
        by_pkg.entry(name).or_default().push(r);
    }
    by_pkg
        .into_values()
        .filter_map(|mut rels| {
            rels.sort();
            rels.dedup();
            rels.into_iter()
                .reduce(|best, r| if stricter(&r, &best) { r } else { best })
        })
        .collect()
}

/// True when relation `a` asks for a higher `>=` version than `b`.
pub(crate) fn stricter(a: &str, b: &str) -> bool {
    let min = |r: &str| {
        r.split_once("(>=")
            .and_then(|(_, v)| v.split_once(')'))
            .map(|(v, _)| v.trim().to_string())
    };
    match (min(a), min(b)) {
        (Some(va), Some(vb)) => {
            debpipe_core::version::compare(va.as_bytes(), vb.as_bytes())
                == std::cmp::Ordering::Greater
        }
        (Some(_), None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn stricter_compares_versions_as_dpkg_does() {
        assert!(stricter("libc6 (>= 2.36)", "libc6 (>= 2.9)"));
        assert!(!stricter(
            "zlib1g (>= 1.2.13)",
            "zlib1g (>= 1:1.2.3.3.dfsg-1)"
        ));
        assert!(stricter("a (>= 1.0)", "a (>= 1.0~rc1)"));
        assert!(!stricter("a (>= 1.0)", "a (>= 1.0)"));
        assert!(stricter("a (>= 1)", "a"));
    }

    #[test]
    fn origin_is_expanded() {
        assert_eq!(
            expand_search("$ORIGIN/../x.libs:${ORIGIN}:/usr/lib", Path::new("/v/site")),
            [
                PathBuf::from("/v/site/../x.libs"),
                PathBuf::from("/v/site"),
                PathBuf::from("/usr/lib")
            ]
        );
    }

    #[test]
    fn ldconfig_and_dpkg_outputs_parse() {
        let ld = "1234 libs found in cache `/etc/ld.so.cache'\n\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1\n\tlibz.so.1 (libc6) => /lib/i386-linux-gnu/libz.so.1\n";
        let m = parse_ldconfig(ld);
        assert_eq!(m["libz.so.1"].len(), 2);
        assert_eq!(
            m["libz.so.1"][0],
            Path::new("/lib/x86_64-linux-gnu/libz.so.1")
        );
        let s = "zlib1g:amd64: /lib/x86_64-linux-gnu/libz.so.1\ndiversion by x from: /a\nlibc6:amd64, libc6:i386: /usr/share/x\n";
        let m = parse_dpkg_search(s);
        assert_eq!(
            m[Path::new("/lib/x86_64-linux-gnu/libz.so.1")],
            "zlib1g:amd64"
        );
        assert_eq!(m[Path::new("/usr/share/x")], "libc6:amd64");
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn shlibs_give_the_relation() {
        let text = "libcrypto 3 libssl3 (>= 3.0.19)\nlibssl 3 libssl3 (>= 3.0.19)\nudeb: libssl 3 libssl3-udeb (>= 3.0.19)\n";
        assert_eq!(
            shlibs_lookup(text, "libssl", "3").unwrap(),
            ["libssl3 (>= 3.0.19)"]
        );
        assert!(shlibs_lookup(text, "libssl", "1.1").is_none());
        assert_eq!(
            shlibs_lookup("libfoo 1 libfoo1 (>= 1.0), libbar\n", "libfoo", "1").unwrap(),
            ["libfoo1 (>= 1.0)", "libbar"]
        );
        assert_eq!(soname_key("libz.so.1"), Some(("libz".into(), "1".into())));
        assert_eq!(
            soname_key("libpython3.11.so.1.0"),
            Some(("libpython3.11".into(), "1.0".into()))
        );
        assert_eq!(
            soname_key("libfoo-1.2.so"),
            Some(("libfoo".into(), "1.2".into()))
        );
        assert_eq!(soname_key("libfoo.so"), None);
        assert_eq!(upstream_version("1:1.2.13.dfsg-1"), "1:1.2.13.dfsg");
        assert_eq!(upstream_version("2.36"), "2.36");
    }

    #[test]
    fn usr_merge_toggle() {
        assert_eq!(
            usr_toggled(Path::new("/lib/x/libz.so.1")),
            Path::new("/usr/lib/x/libz.so.1")
        );
        assert_eq!(
            usr_toggled(Path::new("/usr/lib/x/libz.so.1")),
            Path::new("/lib/x/libz.so.1")
        );
    }
}
