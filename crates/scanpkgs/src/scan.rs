//! Find the .debs under a directory, read them (in parallel, through the
//! cache), and build the Packages index as dpkg-scanpackages does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::cache::Cache;
use debpipe_core::hex::encode as hex;
use debpipe_core::version;
use debpipe_repo::deb::DebInfo;
use debpipe_repo::stanza::Stanza;

use crate::overrides::{apply_extra_override, apply_override};
use crate::read::read_all;
use crate::walk::walk;

/// Which checksums go in the stanzas (dpkg-scanpackages `-h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hashes {
    /// `MD5sum`
    pub md5: bool,
    /// `SHA1`
    pub sha1: bool,
    /// `SHA256`
    pub sha256: bool,
}

impl Default for Hashes {
    fn default() -> Self {
        Self {
            md5: true,
            sha1: true,
            sha256: true,
        }
    }
}

impl Hashes {
    /// Parse a `-h` list such as `md5,sha256`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut h = Self {
            md5: false,
            sha1: false,
            sha256: false,
        };
        for name in list.split(',').filter(|s| !s.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "md5" => h.md5 = true,
                "sha1" => h.sha1 = true,
                "sha256" => h.sha256 = true,
                _ => return Err(format!("unsupported checksum '{name}'")),
            }
        }
        if h == (Self {
            md5: false,
            sha1: false,
            sha256: false,
        }) {
            return Ok(Self::default());
        }
        Ok(h)
    }
}

/// What to scan and how (dpkg-scanpackages' options).
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Package type: file names end in `.TYPE`.
    pub pkg_type: String,
    /// Only `_all.TYPE` and `_ARCH.TYPE` files.
    pub arch: Option<String>,
    /// Only files whose version (in `<package>_<version>_<arch>.TYPE`) ends
    /// with this: one release's builds in a pool several releases share.
    pub version_suffix: Option<String>,
    /// Checksums to write.
    pub hashes: Hashes,
    /// Keep every version of a package.
    pub multiversion: bool,
    /// `X-Medium` value.
    pub medium: Option<String>,
    /// Prefix of every `Filename`.
    pub path_prefix: Vec<u8>,
    /// Worker threads (0: one per core).
    pub jobs: usize,
}

/// A file found by the walk.
#[derive(Debug)]
pub struct Found {
    /// The path as dpkg-scanpackages names it (relative to the current
    /// directory when the operand is).
    pub path: PathBuf,
    /// Its stat (symlinks followed).
    pub meta: fs::Metadata,
}

/// The result of a scan.
#[derive(Debug, Default)]
pub struct Scan {
    /// The Packages text.
    pub packages: Vec<u8>,
    /// Number of stanzas in it.
    pub entries: usize,
    /// Warnings and per-file errors, one line each, in order.
    pub messages: Vec<String>,
    /// Files skipped because they could not be read or parsed.
    pub skipped: usize,
    /// Package versions found in two files with different contents.
    pub conflicts: usize,
    /// Files read (not found in the cache).
    pub read: usize,
    /// The cache of every file seen this run.
    pub cache: Cache,
}

/// (package, version, architecture) -> (first file, its SHA-256).
type Identities = HashMap<(Vec<u8>, Vec<u8>, Vec<u8>), (PathBuf, [u8; 32])>;

pub(crate) struct Entry {
    pub(crate) stanza: Stanza,
    pub(crate) filename: Vec<u8>,
}

/// The stanzas gathered so far, by package name (byte order, as Perl's
/// `sort keys`), and what dpkg-scanpackages warns about at the end.
#[derive(Default)]
struct Index {
    packages: BTreeMap<Vec<u8>, Vec<Entry>>,
    multi_instances: Vec<Vec<u8>>,
    identities: Identities,
}

impl Index {
    /// Add the file `f` with `info`, as dpkg-scanpackages' `process_deb`
    /// does; report what is wrong with it in `out`.
    fn add(&mut self, f: &Found, info: &DebInfo, opts: &ScanOptions, out: &mut Scan) {
        let fname = f.path.display();
        let mut st = match Stanza::parse(&info.control) {
            Ok(st) => st,
            Err(reason) => {
                out.messages
                    .push(format!("warning: {fname}: skipped: {reason}"));
                out.skipped += 1;
                return;
            }
        };
        let Some(p) = st.get("Package").map(<[u8]>::to_vec) else {
            out.messages.push(format!(
                "warning: {fname}: skipped: no Package field in control file"
            ));
            out.skipped += 1;
            return;
        };
        let ver = st.get("Version").unwrap_or_default().to_vec();
        let arch = st.get("Architecture").unwrap_or_default().to_vec();
        let pname = String::from_utf8_lossy(&p).into_owned();
        match self
            .identities
            .entry((p.clone(), ver.clone(), arch.clone()))
        {
            std::collections::hash_map::Entry::Occupied(o) => {
                if o.get().1 != info.sha256 {
                    out.messages.push(format!(
                        "warning: {fname}: package {pname} {} ({}) is also {}, with different contents",
                        String::from_utf8_lossy(&ver),
                        String::from_utf8_lossy(&arch),
                        o.get().0.display()
                    ));
                    out.conflicts += 1;
                }
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert((f.path.clone(), info.sha256));
            }
        }
        let filename = [opts.path_prefix.as_slice(), f.path.as_os_str().as_bytes()].concat();
        if let Some(existing) = self.packages.get_mut(&p).filter(|_| !opts.multiversion) {
            let first = &existing[0];
            if !self.multi_instances.contains(&first.filename) {
                self.multi_instances.push(first.filename.clone());
            }
            self.multi_instances.push(filename.clone());
            let old_ver = first.stanza.get("Version").unwrap_or_default();
            let old_file = String::from_utf8_lossy(&first.filename).into_owned();
            if version::compare(&ver, old_ver) == std::cmp::Ordering::Greater {
                out.messages.push(format!(
                    "warning: package {pname} (filename {fname}) is repeat but newer version; used that one and ignored data from {old_file}!"
                ));
                existing.clear();
            } else {
                out.messages.push(format!(
                    "warning: package {pname} (filename {fname}) is repeat; ignored that one and using data from {old_file}!"
                ));
                return;
            }
        }
        if st.get("Filename").is_some() {
            out.messages.push(format!(
                "warning: package {pname} (filename {fname}) has Filename field!"
            ));
        }
        st.set(b"Filename", filename.clone());
        if opts.hashes.md5 {
            st.set(b"MD5sum", hex(&info.md5));
        }
        if opts.hashes.sha1 {
            st.set(b"SHA1", hex(&info.sha1));
        }
        if opts.hashes.sha256 {
            st.set(b"SHA256", hex(&info.sha256));
        }
        st.set(b"Size", info.size.to_string());
        if let Some(m) = &opts.medium {
            st.set(b"X-Medium", m.as_bytes());
        }
        self.packages.entry(p).or_default().push(Entry {
            stanza: st,
            filename,
        });
    }

    /// Write the stanzas: by package name, then by Version as a string
    /// (stable, so equal versions stay in walk order). Returns the packages
    /// not in the override file.
    fn render(&mut self, overridden: Option<&HashSet<Vec<u8>>>, out: &mut Scan) -> Vec<String> {
        let mut missing = Vec::new();
        for (p, entries) in &mut self.packages {
            if overridden.is_some_and(|o| !o.contains(p)) {
                missing.push(String::from_utf8_lossy(p).into_owned());
            }
            entries.sort_by(|a, b| {
                a.stanza
                    .get("Version")
                    .unwrap_or_default()
                    .cmp(b.stanza.get("Version").unwrap_or_default())
            });
            for e in entries.iter() {
                e.stanza.render(&mut out.packages);
                out.packages.push(b'\n');
                out.entries += 1;
            }
        }
        missing
    }
}

/// Scan `top` and build the Packages index, applying the override file and
/// the extra override file when given.
pub fn scan(
    top: &Path,
    opts: &ScanOptions,
    override_text: Option<&[u8]>,
    extra_override_text: Option<&[u8]>,
    old_cache: &Cache,
) -> crate::Result<Scan> {
    let mut out = Scan::default();
    let found = walk(top, opts, &mut out.messages, &mut out.skipped)?;
    let (results, cache, read) = read_all(&found, old_cache, opts.jobs);
    out.cache = cache;
    out.read = read;

    let mut index = Index::default();
    for (f, r) in found.iter().zip(results) {
        match r {
            Ok(info) => index.add(f, &info, opts, &mut out),
            Err(reason) => {
                out.messages
                    .push(format!("warning: {}: skipped: {reason}", f.path.display()));
                out.skipped += 1;
            }
        }
    }

    let mut overridden = HashSet::new();
    if let Some(text) = override_text {
        apply_override(
            text,
            &mut index.packages,
            &mut overridden,
            &mut out.messages,
        );
    }
    if let Some(text) = extra_override_text {
        apply_extra_override(text, &mut index.packages);
    }
    let missing = index.render(override_text.map(|_| &overridden), &mut out);

    let mut multi = std::mem::take(&mut index.multi_instances);
    if !multi.is_empty() {
        multi.sort();
        multi.dedup();
        out.messages.push(
            "warning: Packages with multiple instances but no --multiversion specified:".into(),
        );
        for m in &multi {
            out.messages
                .push(format!("warning: {}", String::from_utf8_lossy(m)));
        }
    }
    if !missing.is_empty() {
        out.messages
            .push("warning: Packages in archive but missing from override file:".into());
        out.messages
            .push(format!("warning:   {}", missing.join(" ")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overrides::{override_lines, split_alternatives, split_maint_change, split_ws};
    use crate::walk::matches_filter;

    #[test]
    fn filter_by_type_and_arch() {
        let mut o = ScanOptions {
            pkg_type: "deb".into(),
            ..ScanOptions::default()
        };
        assert!(matches_filter(b"a_1_amd64.deb", &o));
        assert!(!matches_filter(b"a_1_amd64.udeb", &o));
        o.arch = Some("arm64".into());
        assert!(matches_filter(b"a_1_all.deb", &o));
        assert!(matches_filter(b"a_1_arm64.deb", &o));
        assert!(!matches_filter(b"a_1_amd64.deb", &o));
        o.version_suffix = Some("+deb13".into());
        assert!(matches_filter(b"a_1.0+deb13_arm64.deb", &o));
        assert!(matches_filter(b"a_1.0-1+deb13_all.deb", &o));
        assert!(!matches_filter(b"a_1.0+deb12_arm64.deb", &o));
        assert!(!matches_filter(b"a_1.0_arm64.deb", &o));
        assert!(!matches_filter(b"a+deb13.deb", &o));
    }

    #[test]
    fn perl_like_splits() {
        assert_eq!(
            split_ws(b"p  optional  web  A <a@b> => B", 4),
            vec![&b"p"[..], b"optional", b"web", b"A <a@b> => B"]
        );
        assert_eq!(split_ws(b"p", 4), vec![&b"p"[..]]);
        assert_eq!(split_ws(b" p x", 3), vec![&b""[..], b"p", b"x"]);
        assert_eq!(
            split_maint_change(b"A <a> // B <b> => C <c>"),
            Some((&b"A <a> // B <b>"[..], &b"C <c>"[..]))
        );
        assert_eq!(
            split_alternatives(b"A <a> // B <b>"),
            vec![&b"A <a>"[..], b"B <b>"]
        );
        let lines: Vec<&[u8]> = override_lines(b"# c\np a b # x\n\n  \nq\n").collect();
        assert_eq!(lines, vec![&b"p a b"[..], b"q"]);
    }

    #[test]
    fn hash_lists() {
        assert_eq!(
            Hashes::parse("md5").unwrap(),
            Hashes {
                md5: true,
                sha1: false,
                sha256: false
            }
        );
        assert!(Hashes::parse("sha512").is_err());
    }
}
