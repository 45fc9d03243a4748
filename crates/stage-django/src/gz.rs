//! gzip files as the package ships them: reproducible, and without what
//! lintian flags (`package-contains-timestamped-gzip` reads the first
//! member's MTIME; `broken-gz` runs `gzip --test`).
//!
//! - [`normalise`]: the header of a gzip file someone else wrote (a build
//!   command, Python's `gzip` module, a precompressing storage) rewritten as
//!   `gzip -n` writes it: MTIME 0, no file name or comment, OS 3 (Unix);
//!   the compressed data is kept as it is.
//! - [`precompress`]: a `.gz` beside each compressible static file, for
//!   nginx's `gzip_static`: compressed here (flate2, best, the same header),
//!   in parallel, only when it saves space; an existing `.gz` is normalised
//!   instead.
//!
//! Files are replaced through a temporary sibling and a rename, never
//! written in place: a staged file may be a hard link of a cache entry or
//! of the app's own tree.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The OS byte `gzip` writes on Unix.
const OS_UNIX: u8 = 3;

/// Files smaller than this are not precompressed: the saving is a few bytes
/// and nginx's gzip would not bother either.
pub const MIN_SIZE: u64 = 256;

/// Extensions of static files worth a `.gz` (text, and fonts and icons
/// that are not compressed already; not woff2, png, jpg...).
const COMPRESSIBLE: &[&str] = &[
    "css",
    "js",
    "mjs",
    "svg",
    "json",
    "txt",
    "html",
    "htm",
    "xml",
    "map",
    "ico",
    "woff",
    "ttf",
    "otf",
    "eot",
    "webmanifest",
];

const FTEXT: u8 = 1;
const FHCRC: u8 = 2;
const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;

/// `data` (a gzip file) with its first header as `gzip -n` writes it, or
/// `None` when it needs no change or is not a gzip file we can read.
pub fn normalised_header(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 10 || data[..3] != [0x1f, 0x8b, 8] {
        return None;
    }
    let flags = data[3];
    if flags & 0xe0 != 0 {
        return None; // reserved bits: not a file gzip would read
    }
    let mut at = 10;
    let extra = if flags & FEXTRA == 0 {
        None
    } else {
        let len = usize::from(u16::from_le_bytes([*data.get(at)?, *data.get(at + 1)?]));
        let e = data.get(at..at + 2 + len)?;
        at += 2 + len;
        Some(e)
    };
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            at += data.get(at..)?.iter().position(|&b| b == 0)? + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    let body = data.get(at..)?;
    let keep = flags & (FTEXT | FEXTRA);
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(&[0x1f, 0x8b, 8, keep, 0, 0, 0, 0, data[8], OS_UNIX]);
    if let Some(e) = extra {
        out.extend_from_slice(e);
    }
    out.extend_from_slice(body);
    (out != data).then_some(out)
}

/// `data` compressed as `gzip -9n` writes it (MTIME 0, no name, OS 3).
pub fn compress(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(OS_UNIX)
        .write(
            Vec::with_capacity(data.len() / 3),
            flate2::Compression::best(),
        );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Replace `path` with `data` through a temporary sibling, with `mode`.
fn replace(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".debpipe-gz")
        .tempfile_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Normalise the gzip file at `path` in place (through a rename); whether
/// it changed.
pub fn normalise(path: &Path) -> io::Result<bool> {
    let data = fs::read(path)?;
    let Some(fixed) = normalised_header(&data) else {
        return Ok(false);
    };
    let mode = fs::metadata(path)?.permissions().mode() & 0o7777;
    replace(path, &fixed, mode)?;
    Ok(true)
}

/// What [`precompress`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// `.gz` files written.
    pub written: usize,
    /// Existing `.gz` files whose header was normalised.
    pub normalised: usize,
}

fn compressible(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| COMPRESSIBLE.iter().any(|c| c.eq_ignore_ascii_case(e)))
}

fn is_gz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// Every regular file under `dir`, sorted.
pub fn files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// One file's work: a `.gz` normalised, or a `.gz` made beside a
/// compressible file that has none.
fn one(path: &Path, gz_exists: bool) -> io::Result<Counts> {
    if is_gz(path) {
        return Ok(Counts {
            normalised: usize::from(normalise(path)?),
            ..Counts::default()
        });
    }
    if gz_exists || !compressible(path) || fs::metadata(path)?.len() < MIN_SIZE {
        return Ok(Counts::default());
    }
    let data = fs::read(path)?;
    let gz = compress(&data);
    // Worth it only when it saves at least a twentieth.
    if gz.len() * 20 > data.len() * 19 {
        return Ok(Counts::default());
    }
    let mut name = path.as_os_str().to_owned();
    name.push(".gz");
    replace(Path::new(&name), &gz, 0o644)?;
    Ok(Counts {
        written: 1,
        ..Counts::default()
    })
}

/// Write a `.gz` beside each compressible file under `dir` of at least
/// [`MIN_SIZE`] bytes, when it saves space; normalise the `.gz` files that
/// are there already. Runs on every core; the same tree gives the same
/// bytes.
pub fn precompress(dir: &Path) -> io::Result<Counts> {
    let all = files(dir)?;
    let set: std::collections::HashSet<&Path> = all.iter().map(PathBuf::as_path).collect();
    let work: Vec<(&Path, bool)> = all
        .iter()
        .map(|p| {
            let mut gz = p.as_os_str().to_owned();
            gz.push(".gz");
            (p.as_path(), set.contains(Path::new(&gz)))
        })
        .collect();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads.min(work.len()).max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut c = Counts::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(p, gz)) = work.get(i) else {
                            return Ok(c);
                        };
                        let d = one(p, gz).map_err(|e| {
                            io::Error::new(e.kind(), format!("{}: {e}", p.display()))
                        })?;
                        c.written += d.written;
                        c.normalised += d.normalised;
                    }
                })
            })
            .collect();
        let mut total = Counts::default();
        for w in workers {
            let c = w
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a worker panicked")))?;
            total.written += c.written;
            total.normalised += c.normalised;
        }
        Ok(total)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn gunzip(g: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(g)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// A header as Python's gzip module writes it: FNAME and a timestamp.
    fn python_style(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::GzBuilder::new()
            .mtime(1_700_000_000)
            .filename("site.css")
            .comment("made now")
            .write(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn a_timestamped_named_header_becomes_gzip_n_and_keeps_its_data() {
        let g = python_style(b"body { color: red }");
        let n = normalised_header(&g).unwrap();
        assert_eq!(n[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, g[8], 3]);
        assert_eq!(gunzip(&n), b"body { color: red }");
        assert_eq!(normalised_header(&n), None, "already normal");
        assert_eq!(normalised_header(b"not gzip at all"), None);
    }

    #[test]
    fn compress_is_gzip_9n() {
        let g = compress(b"hello hello hello hello");
        assert_eq!(g[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);
        assert_eq!(normalised_header(&g), None);
        assert_eq!(gunzip(&g), b"hello hello hello hello");
    }
}
