//! mkdeb: build a .deb from a staging tree, like
//! `dpkg-deb --root-owner-group --build DIR [OUT]`, without dpkg, byte for
//! byte reproducible, compressing on every core.
//!
//! The pipeline: check the control area ([`control`]); then ([`data`]) a
//! reader thread walks the tree in dpkg-deb's order ([`tree`]) and streams
//! GNU tar headers and file contents ([`tar`]) in 1 MiB chunks, shared by a
//! hasher thread (each file's MD5, read once, eight files at a time:
//! [`md5x`] schedules files onto the lanes of [`md5lanes`]) and the compressor
//! ([`compress`]: parallel gzip members cut where [`cut`] says and reused
//! from the [`cache`] when it has them, or multi-threaded xz or zstd),
//! whose output is kept in memory ([`spool`], or an unnamed file beside
//! the target when large); then `control.tar.*` gets the generated
//! `md5sums` and `Installed-Size`, and the ar archive ([`ar`]) is written
//! through an atomic temporary file beside the target.

pub use debpipe_core::ar;
pub mod cache;
pub mod compress;
pub mod control;
pub mod cut;
pub mod data;
pub mod md5lanes;
pub mod md5x;
pub mod spool;
pub mod tar;
pub mod tree;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use debpipe_core::io::{AtomicFile, write_stdout};
use debpipe_core::{Error, Result};
use sha2::{Digest, Sha256};

use crate::cache::Cache;
use crate::compress::{CHUNK, Format, Params, Reuse};
use crate::control::ControlArea;
use crate::data::Sums;
use crate::spool::Spool;

/// How much compressed data is kept in memory before it goes to a file.
const SPOOL: usize = 512 << 20;

/// Command line of mkdeb (the help text is in `long_about`).
#[derive(Debug, clap::Parser)]
#[command(
    version,
    about = "Build a .deb from a staging tree, like dpkg-deb --root-owner-group --build",
    long_about = "Build a .deb from a staging tree, like dpkg-deb --root-owner-group --build.\n\n\
DIR holds the files at their install paths and a DEBIAN/ directory (control, maintainer scripts, \
conffiles, triggers...). The package is what dpkg-deb --root-owner-group --build DIR [OUT] makes, \
plus a generated md5sums (every regular file but conffiles, as dh_md5sums does) and an \
Installed-Size computed as dpkg-gencontrol does when the control file has none. With \
SOURCE_DATE_EPOCH set, mtimes are clamped to it; the same tree always gives the same bytes.",
    after_help = "Prints the path of the package written (or, with --json, an object with path, \
package, version, architecture, size and sha256). Exit status: 0 built, 1 invalid tree or I/O \
error (nothing written), 2 bad usage.\n\n\
Examples:\n  \
mkdeb build/root                          # writes build/root.deb\n  \
mkdeb -Z zstd build/root dist/            # dist/<package>_<version>_<arch>.deb\n  \
mkdeb --pool main build/root repo/        # repo/pool/main/<l>/<package>/<file>.deb\n  \
mkdeb build/root dist/ | xargs dpkg-deb --info\n  \
SOURCE_DATE_EPOCH=1700000000 mkdeb --json build/root dist/"
)]
pub struct Cli {
    /// Compression of the tar members
    #[arg(
        short = 'Z',
        long = "compression",
        value_name = "TYPE",
        default_value = "xz"
    )]
    pub compression: Format,
    /// Compression level (default as dpkg-deb: gzip 9, xz 6, zstd 3; gzip 0 = none)
    #[arg(short = 'z', long = "level", value_name = "LEVEL")]
    pub level: Option<u32>,
    /// Compression threads (default: all cores); never changes the output
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,
    /// The target's dpkg version: refuse a compression it cannot unpack
    /// (zstd before dpkg 1.21.18, i.e. Debian 11)
    #[arg(long, value_name = "VERSION")]
    pub target_dpkg: Option<String>,
    /// With OUT a repository's root directory, write the package into its
    /// pool, as Debian's archive does: `OUT/pool/COMPONENT/<l>/<package>/`
    #[arg(long, value_name = "COMPONENT", requires = "out")]
    pub pool: Option<String>,
    /// Keep compressed gzip members in DIR, keyed by the SHA-256 of their
    /// bytes, and reuse them: a rebuild after a small change compresses
    /// only the members around it. The package is the same bytes as
    /// without a cache. Ignored for xz and zstd, which are one stream (dpkg
    /// reads only the first frame of a zstd member).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Size limit of --cache DIR, in MiB: the least recently used members
    /// go first
    #[arg(long, value_name = "MIB", default_value_t = 2048, requires = "cache")]
    pub cache_max: u64,
    /// Print a JSON object instead of the path
    #[arg(long)]
    pub json: bool,
    /// Staging tree: the files at their install paths, and DEBIAN/
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Output file, or directory for `<package>_<version>_<arch>.deb`
    #[arg(
        value_name = "OUT",
        help = "Output file, or directory for <package>_<version>_<arch>.deb [default: DIR.deb]"
    )]
    pub out: Option<PathBuf>,
}

/// What `--json` prints.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Built {
    /// The package file.
    pub path: PathBuf,
    /// `Package`.
    pub package: String,
    /// `Version`.
    pub version: String,
    /// `Architecture`.
    pub architecture: String,
    /// Size of the .deb in bytes.
    pub size: u64,
    /// SHA-256 of the .deb, lowercase hex (computed for `--json` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// With a cache: the data member's members, and how many were reused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<Reuse>,
}

/// Run the tool.
pub fn run(cli: &Cli) -> Result<()> {
    let threads = cli.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        |n| n as usize,
    );
    let params = Params::new(cli.compression, cli.level, threads).map_err(Error::Usage)?;
    if let Some(dpkg) = &cli.target_dpkg {
        cli.compression
            .check_target_dpkg(dpkg)
            .map_err(|r| Error::Usage(format!("--target-dpkg {dpkg}: {r}")))?;
    }
    let epoch = debpipe_core::time::source_date_epoch()?;
    let out = match (&cli.pool, &cli.out) {
        (Some(component), Some(repo)) => Some(pool_dir(&cli.dir, repo, component)?),
        _ => cli.out.clone(),
    };
    let warn = |w: &str| {
        let _ = writeln!(std::io::stderr().lock(), "mkdeb: warning: {w}");
    };
    // A cache that cannot be made costs time, never the build.
    let cache = match &cli.cache {
        Some(dir) if params.format == Format::Gzip => {
            match Cache::open(dir, params.level, cli.cache_max.saturating_mul(1 << 20)) {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    warn(&format!("{}: no cache: {e}", dir.display()));
                    None
                }
            }
        }
        _ => None,
    };
    let mut built = build(
        &cli.dir,
        out.as_deref(),
        params,
        epoch,
        cache.as_ref(),
        warn,
    )?;
    if let (Some(c), Some(dir)) = (cache, &cli.cache)
        && let Err(e) = c.prune()
    {
        warn(&format!("{}: pruning the cache: {e}", dir.display()));
    }
    let line = if cli.json {
        built.sha256 = Some(sha256_hex(&built.path)?);
        serde_json::to_string(&built).map_err(|e| Error::file("<stdout>", e.to_string()))?
    } else {
        built.path.display().to_string()
    };
    write_stdout(format!("{line}\n").as_bytes())
}

/// Build the package for the tree at `dir` into `out` (see [`Cli`]),
/// reusing members from `cache`, passing warnings to `warn`. Nothing is
/// left at the target on error.
pub fn build(
    dir: &Path,
    out: Option<&Path>,
    params: Params,
    epoch: Option<i64>,
    cache: Option<&Arc<Cache>>,
    mut warn: impl FnMut(&str),
) -> Result<Built> {
    let area = control::read(dir)?;
    for w in &area.warnings {
        warn(w);
    }
    let target = target_path(dir, out, &area)?;
    refuse_inside(dir, &target)?;

    // Every mtime is clamped to SOURCE_DATE_EPOCH.
    let clamp = move |t: i64| u64::try_from(epoch.map_or(t, |e| t.min(e))).unwrap_or(0);
    let mut atomic = AtomicFile::new(&target)?;
    // The compressed data stays in memory up to SPOOL bytes, then goes to
    // an unnamed file beside the target.
    let spool = Spool::new(SPOOL, parent_dir(&target).to_path_buf());
    let cached = cache.is_some();
    // xz blocks are sized from the tar's length: one more walk, without
    // reading files (cheap next to xz), tells it.
    let input_len = match params.format {
        Format::Xz => Some(data::tar_len(dir)?),
        _ => None,
    };
    let data = data::write(dir, params, input_len, clamp, cache, spool)
        .map_err(|e| with_path(e, &target))?;

    // Without SOURCE_DATE_EPOCH, the ar members and generated files get the
    // tree's newest mtime, so an unchanged tree gives the same bytes.
    let newest = data
        .entries
        .iter()
        .chain(&area.entries)
        .map(|e| e.mtime)
        .max()
        .unwrap_or(0);
    let stamp = u64::try_from(epoch.unwrap_or(newest)).unwrap_or(0);
    let installed = tree::installed_size(data.entries.iter().chain(&area.entries));
    let control_tar = control_tar(&area, data.sums, installed, clamp, stamp);
    let control_member =
        compress::compress_bytes(params, &control_tar).map_err(|e| Error::io(&target, e))?;
    write_ar(
        atomic.file(),
        stamp,
        params.format,
        &control_member,
        data.spool,
    )
    .map_err(|e| with_path(e, &target))?;
    atomic.commit(0o644)?;

    let size = std::fs::metadata(&target)
        .map_err(|e| Error::io(&target, e))?
        .len();
    Ok(Built {
        path: target,
        package: area.package,
        version: area.version,
        architecture: area.architecture,
        size,
        sha256: None,
        cache: cached.then_some(data.reuse),
    })
}

/// The pool directory of the package staged at `dir` in the repository
/// `repo` (created): `repo/pool/<component>/<l>/<package>`.
fn pool_dir(dir: &Path, repo: &Path, component: &str) -> Result<PathBuf> {
    if !repo.is_dir() {
        return Err(Error::file(
            repo,
            "--pool: not a directory (the repository's root)",
        ));
    }
    debpipe_core::validate::package_name(component)
        .map_err(|r| Error::Usage(format!("--pool '{component}': {r}")))?;
    let area = control::read(dir)?;
    let pool = repo.join(debpipe_core::pool::dir(component, &area.package));
    std::fs::create_dir_all(&pool).map_err(|e| Error::io(&pool, e))?;
    Ok(pool)
}

/// The directory `target` goes in.
fn parent_dir(target: &Path) -> &Path {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The package may not be written inside the tree it packages.
fn refuse_inside(dir: &Path, target: &Path) -> Result<()> {
    let canon = |p: &Path| std::fs::canonicalize(p).map_err(|e| Error::io(p, e));
    if canon(parent_dir(target))?.starts_with(canon(dir)?) {
        return Err(Error::Usage(format!(
            "output {} is inside the tree {}",
            target.display(),
            dir.display()
        )));
    }
    Ok(())
}

fn with_path(e: Error, target: &Path) -> Error {
    match e {
        Error::Io { path, err } if path.as_os_str().is_empty() => Error::io(target, err),
        other => other,
    }
}

/// Where the package goes: OUT itself, `OUT/<package>_<version without
/// epoch>_<arch>.deb` when OUT is a directory, or `DIR.deb` (DIR without
/// trailing `/` or `/.`) by default, as dpkg-deb does.
pub fn target_path(dir: &Path, out: Option<&Path>, area: &ControlArea) -> Result<PathBuf> {
    match out {
        Some(o) if o.is_dir() => {
            let version = area
                .version
                .split_once(':')
                .map_or(area.version.as_str(), |(_, v)| v);
            Ok(o.join(format!(
                "{}_{version}_{}.deb",
                area.package, area.architecture
            )))
        }
        Some(o) => Ok(o.to_path_buf()),
        None => {
            use std::os::unix::ffi::{OsStrExt, OsStringExt};
            let mut b = dir.as_os_str().as_bytes().to_vec();
            loop {
                if b.len() > 1 && b.ends_with(b"/") {
                    b.pop();
                } else if b.len() > 2 && b.ends_with(b"/.") {
                    b.truncate(b.len() - 2);
                } else {
                    break;
                }
            }
            b.extend_from_slice(b".deb");
            Ok(PathBuf::from(std::ffi::OsString::from_vec(b)))
        }
    }
}

/// The control tar: `./`, the control files sorted by name with `md5sums`
/// among them, and `control` with Installed-Size.
fn control_tar(
    area: &ControlArea,
    mut sums: Sums,
    installed_kib: u64,
    clamp: impl Fn(i64) -> u64,
    stamp: u64,
) -> Vec<u8> {
    sums.retain(|(p, _)| !area.conffiles.contains(p));
    let md5sums = control::md5sums(sums);
    let control_text = control::with_installed_size(&area.paragraph, installed_kib).to_string();
    let dir = &area.entries[0];
    let mut files: Vec<(&str, &[u8], u32, u64)> = area
        .files
        .iter()
        .map(|f| {
            let data: &[u8] = if f.name == "control" {
                control_text.as_bytes()
            } else {
                &f.data
            };
            (
                f.name.as_str(),
                data,
                control::member_mode(f.mode, false),
                clamp(f.mtime),
            )
        })
        .collect();
    if !md5sums.is_empty() {
        files.push(("md5sums", &md5sums, 0o644, stamp));
    }
    files.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::new();
    tar::push_header(
        &mut out,
        b"./",
        &tar::Kind::Dir,
        control::member_mode(dir.mode, true),
        clamp(dir.mtime),
    );
    for (name, data, mode, mtime) in files {
        let size = data.len() as u64;
        tar::push_header(
            &mut out,
            format!("./{name}").as_bytes(),
            &tar::Kind::File { size },
            mode,
            mtime,
        );
        out.extend_from_slice(data);
        out.resize(out.len() + tar::padding(size), 0);
    }
    let len = out.len() as u64;
    // The trailer is at most a record long.
    #[allow(clippy::cast_possible_truncation)]
    out.resize(out.len() + tar::trailer_len(len) as usize, 0);
    out
}

/// Write the ar archive to `out`.
fn write_ar(out: &mut File, mtime: u64, format: Format, control: &[u8], data: Spool) -> Result<()> {
    let io = |e| Error::io("", e);
    let data_len = data.len();
    let too_big = || {
        Error::file(
            "",
            "data member over 10 GB cannot be stored in an ar archive",
        )
    };
    let ext = format.extension();
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(ar::MAGIC);
    head.extend_from_slice(&ar::member_header("debian-binary", mtime, 4).ok_or_else(too_big)?);
    head.extend_from_slice(b"2.0\n");
    let clen = control.len() as u64;
    head.extend_from_slice(
        &ar::member_header(&format!("control.tar{ext}"), mtime, clen).ok_or_else(too_big)?,
    );
    out.write_all(&head).map_err(io)?;
    out.write_all(control).map_err(io)?;
    out.write_all(ar::padding(clen)).map_err(io)?;
    let dh = ar::member_header(&format!("data.tar{ext}"), mtime, data_len).ok_or_else(too_big)?;
    out.write_all(&dh).map_err(io)?;
    let copied = data.copy_to(out).map_err(io)?;
    if copied != data_len {
        return Err(io(std::io::Error::other("short copy of the data member")));
    }
    out.write_all(ar::padding(data_len)).map_err(io)?;
    Ok(())
}

/// SHA-256 (lowercase hex) of the file at `path`.
pub fn sha256_hex(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0; CHUNK];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(debpipe_core::hex::encode(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
