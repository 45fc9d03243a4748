//! Find the .debs under a directory, read them (in parallel, through the
//! cache), and build the Packages index as dpkg-scanpackages does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::cache::{Cache, Key};
use crate::control::{self, Stanza};
use crate::deb::{self, Buffers, DebInfo};
use debpipe_core::version;

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

fn matches_filter(name: &[u8], opts: &ScanOptions) -> bool {
    let suffix = [b".", opts.pkg_type.as_bytes()].concat();
    let Some(stem) = name.strip_suffix(suffix.as_slice()) else {
        return false;
    };
    match &opts.arch {
        None => true,
        Some(arch) => stem.ends_with(b"_all") || stem.ends_with(&[b"_", arch.as_bytes()].concat()),
    }
}

/// Walk `top` the way `File::Find` (with symlinks followed) names things:
/// `top` without one trailing slash, then `/name` per level; a file operand
/// is named by its absolute path. Entries are visited in byte order of their
/// names; a directory already visited (by device and inode) is skipped.
pub fn walk(
    top: &Path,
    opts: &ScanOptions,
    messages: &mut Vec<String>,
    errors: &mut usize,
) -> crate::Result<Vec<Found>> {
    let meta = fs::metadata(top).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            debpipe_core::Error::file(top, "binary path not found")
        } else {
            debpipe_core::Error::io(top, e)
        }
    })?;
    let mut out = Vec::new();
    if !meta.is_dir() {
        let abs = fs::canonicalize(top).map_err(|e| debpipe_core::Error::io(top, e))?;
        if matches_filter(abs.as_os_str().as_bytes(), opts) {
            out.push(Found { path: abs, meta });
        }
        return Ok(out);
    }
    let mut name = top.as_os_str().as_bytes().to_vec();
    if name.len() > 1 && name.ends_with(b"/") {
        name.pop();
    }
    if name == b"/" {
        name.clear();
    }
    let mut seen = HashSet::new();
    seen.insert((meta.dev(), meta.ino()));
    walk_dir(&name, opts, &mut seen, &mut out, messages, errors);
    Ok(out)
}

fn walk_dir(
    dir: &[u8],
    opts: &ScanOptions,
    seen: &mut HashSet<(u64, u64)>,
    out: &mut Vec<Found>,
    messages: &mut Vec<String>,
    errors: &mut usize,
) {
    let dir_path = if dir.is_empty() {
        Path::new("/")
    } else {
        Path::new(std::ffi::OsStr::from_bytes(dir))
    };
    let rd = match fs::read_dir(dir_path) {
        Ok(rd) => rd,
        Err(e) => {
            messages.push(format!(
                "warning: {}: cannot read directory: {e}",
                dir_path.display()
            ));
            *errors += 1;
            return;
        }
    };
    let mut names: Vec<OsString> = rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for n in names {
        let mut full = dir.to_vec();
        full.push(b'/');
        full.extend_from_slice(n.as_bytes());
        let path = PathBuf::from(OsString::from_vec(full));
        let wanted = matches_filter(n.as_bytes(), opts);
        match fs::metadata(&path) {
            Ok(m) if m.is_dir() => {
                if seen.insert((m.dev(), m.ino())) {
                    walk_dir(
                        path.as_os_str().as_bytes(),
                        opts,
                        seen,
                        out,
                        messages,
                        errors,
                    );
                }
            }
            Ok(meta) => {
                if wanted {
                    out.push(Found { path, meta });
                }
            }
            Err(e) => {
                if wanted {
                    messages.push(format!("warning: {}: skipped: {e}", path.display()));
                    *errors += 1;
                }
            }
        }
    }
}

/// Read every found file not in `old` (in parallel), returning for each
/// file its result in walk order, and the new cache.
fn read_all(
    found: &[Found],
    old: &Cache,
    jobs: usize,
) -> (Vec<Result<DebInfo, String>>, Cache, usize) {
    let mut results: Vec<Option<Result<DebInfo, String>>> = Vec::with_capacity(found.len());
    let mut cache = Cache::default();
    let mut todo = Vec::new();
    for (i, f) in found.iter().enumerate() {
        let key = Key::of(&f.meta);
        if let Some(info) = old.get(&f.path, &key) {
            cache.insert(&f.path, key, info.clone());
            results.push(Some(Ok(info.clone())));
        } else {
            results.push(None);
            todo.push(i);
        }
    }
    let jobs = if jobs == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        jobs
    }
    .min(todo.len())
    .max(1);
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, ReadResult)>> = Mutex::new(Vec::with_capacity(todo.len()));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                let mut bufs = Buffers::default();
                let mut mine = Vec::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = todo.get(k) else { break };
                    mine.push((i, read_one(&found[i].path, &mut bufs)));
                }
                done.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(mine);
            });
        }
    });
    for (i, r) in done
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        results[i] = Some(r.map(|(key, info)| {
            cache.insert(&found[i].path, key, info.clone());
            info
        }));
    }
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not read".into())))
        .collect();
    (results, cache, todo.len())
}

fn read_one(path: &Path, bufs: &mut Buffers) -> ReadResult {
    let mut f = fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let meta = f.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    let info = deb::read_deb(&mut f, meta.len(), bufs)?;
    Ok((Key::of(&meta), info))
}

/// What reading one file gives: its key and contents, or why not.
type ReadResult = Result<(Key, DebInfo), String>;

/// (package, version, architecture) -> (first file, its SHA-256).
type Identities = HashMap<(Vec<u8>, Vec<u8>, Vec<u8>), (PathBuf, [u8; 32])>;

struct Entry {
    stanza: Stanza,
    filename: Vec<u8>,
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
            st.set(b"MD5sum", deb::hex(&info.md5));
        }
        if opts.hashes.sha1 {
            st.set(b"SHA1", deb::hex(&info.sha1));
        }
        if opts.hashes.sha256 {
            st.set(b"SHA256", deb::hex(&info.sha256));
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

/// Split like Perl's `split /\s+/, $line, limit`: a leading empty field is
/// kept, the last field takes the rest of the line.
fn split_ws(line: &[u8], limit: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = line;
    while out.len() + 1 < limit {
        match rest.iter().position(|&b| control::is_space(b)) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = control::trim_start(&rest[i..]);
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

/// Lines of an override file without comments and trailing whitespace.
fn override_lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b'\n').filter_map(|line| {
        let line = match line.iter().position(|&b| b == b'#') {
            Some(i) => &line[..i],
            None => line,
        };
        let line = control::trim_end(line);
        (!line.is_empty()).then_some(line)
    })
}

fn apply_override(
    text: &[u8],
    packages: &mut BTreeMap<Vec<u8>, Vec<Entry>>,
    overridden: &mut HashSet<Vec<u8>>,
    messages: &mut Vec<String>,
) {
    let mut spurious = Vec::new();
    let mut changed = Vec::new();
    let mut same = Vec::new();
    for line in override_lines(text) {
        let parts = split_ws(line, 4);
        let p = parts[0];
        let pname = String::from_utf8_lossy(p).into_owned();
        let Some(entries) = packages.get_mut(p) else {
            spurious.push(pname);
            continue;
        };
        let priority = parts.get(1).copied().unwrap_or_default();
        let section = parts.get(2).copied().unwrap_or_default();
        let maint = parts.get(3).copied().filter(|m| !m.is_empty());
        for e in entries.iter_mut() {
            if let Some(m) = maint {
                let debmaint = e.stanza.get("Maintainer").unwrap_or_default().to_vec();
                if let Some((old, new)) = split_maint_change(m) {
                    let olds = split_alternatives(old);
                    if olds.contains(&debmaint.as_slice()) {
                        e.stanza.set(b"Maintainer", new);
                    } else {
                        changed.push(format!(
                            "  {pname} (package says {}, not {})",
                            String::from_utf8_lossy(&debmaint),
                            String::from_utf8_lossy(old)
                        ));
                    }
                } else if debmaint == m {
                    same.push(format!("  {pname} ({})", String::from_utf8_lossy(m)));
                } else {
                    messages.push(format!(
                        "warning: unconditional maintainer override for {pname}"
                    ));
                    e.stanza.set(b"Maintainer", m);
                }
            }
            e.stanza.set(b"Priority", priority);
            e.stanza.set(b"Section", section);
        }
        overridden.insert(p.to_vec());
    }
    if !changed.is_empty() {
        messages
            .push("warning: Packages in override file with incorrect old maintainer value:".into());
        messages.extend(changed.into_iter().map(|c| format!("warning: {c}")));
    }
    if !same.is_empty() {
        messages.push("warning: Packages specifying same maintainer as override file:".into());
        messages.extend(same.into_iter().map(|c| format!("warning: {c}")));
    }
    if !spurious.is_empty() {
        messages.push("warning: Packages in override file but not in archive:".into());
        messages.push(format!("warning:   {}", spurious.join(" ")));
    }
}

/// `OLD => NEW` in an override's maintainer column (the first `=>`, the
/// old value without its trailing whitespace, the new without leading).
fn split_maint_change(m: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = m.windows(2).skip(1).position(|w| w == b"=>")? + 1;
    let old = control::trim_end(&m[..i]);
    let new = control::trim_start(&m[i + 2..]);
    (!old.is_empty() && !new.is_empty()).then_some((old, new))
}

/// `a // b` alternatives of an old maintainer value.
fn split_alternatives(old: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = old;
    while let Some(i) = rest.windows(2).position(|w| w == b"//") {
        out.push(control::trim_end(&rest[..i]));
        rest = control::trim_start(&rest[i + 2..]);
    }
    out.push(rest);
    out
}

fn apply_extra_override(text: &[u8], packages: &mut BTreeMap<Vec<u8>, Vec<Entry>>) {
    for line in override_lines(text) {
        let parts = split_ws(line, 3);
        let Some(entries) = packages.get_mut(parts[0]) else {
            continue;
        };
        let Some(field) = parts.get(1).filter(|f| !f.is_empty()) else {
            continue;
        };
        let value = parts.get(2).copied().unwrap_or_default();
        for e in entries.iter_mut() {
            e.stanza.set(field, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
