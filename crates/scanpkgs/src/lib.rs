//! scanpkgs: index a directory of .debs into an apt repository.
//!
//! Prints the Packages index exactly as `dpkg-scanpackages` does (same
//! stanzas, field order, sorting, Filename paths, overrides), reading only
//! the control member of each .deb and hashing each file once, in parallel
//! across files. With `--out-dir` it publishes the repository itself:
//! Packages, Packages.gz (.xz), Release, and with `--sign-key` Release.gpg
//! and `InRelease`, atomically and in publishing order, through a cache
//! kept outside the repository (`$DEBPIPE_CACHE/scanpkgs/`, see [`cache`]).
//! Two runs on one repository take turns (a lock on its directory), so the
//! later one's index includes what the earlier one added.
//!
//! Differences from dpkg-scanpackages, on purpose: a bad file (empty,
//! truncated anywhere, not a .deb, unreadable control) is named on stderr
//! and skipped, and the exit code is 1 at the end, where dpkg-scanpackages
//! stops with no output; two different files claiming the same package,
//! version and architecture are reported (exit 1); directories are walked
//! in sorted order, so which of two equal versions wins is deterministic.
//!
//! The modules: [`deb`] (reading a .deb's control member and hashes),
//! [`control`] (its fields), [`walk`] (finding the files), [`read`] (reading
//! them in parallel), [`scan`] (the Packages index), [`overrides`] (override
//! files), [`cache`] (what an unchanged file need not
//! be read again for), [`repo`] (publishing in order, with the "nothing
//! changed" decision), [`release`] (Release rendering and reading back),
//! [`dists`] (the index directories a Release covers) and [`gpg`] (signing).

pub mod byhash;
pub mod cache;
pub mod dists;
pub mod overrides;
pub mod read;
pub mod repo;
pub mod scan;
pub mod walk;

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use debpipe_core::error::{Status, status};
pub use debpipe_core::{Error, Result};

use crate::cache::Cache;
use crate::repo::RepoOptions;
use crate::scan::{Hashes, ScanOptions};
use debpipe_repo::release::ReleaseFields;

const AFTER_HELP: &str = "\
Examples:
  scanpkgs pool > Packages                     # as dpkg-scanpackages pool
  scanpkgs -m -a amd64 pool override.txt > Packages
  cd /srv/repo && scanpkgs --out-dir . .        # flat repo: deb [signed-by=...] http://host/repo ./
  cd /srv/repo && scanpkgs --out-dir . --dist stable -a amd64 --xz \\
      --origin Acme --sign-key ops@acme.example pool/main

Filename paths are the found paths, relative to the current directory (as
dpkg-scanpackages writes them): run scanpkgs from the repository root.

Exit status: 0 on success, 1 when a file could not be indexed (named on
stderr; the others are still indexed) or on any other error, 2 on bad usage.";

/// Index a directory of .debs into an apt repository (dpkg-scanpackages compatible).
#[derive(Debug, clap::Parser)]
#[command(
    version,
    about,
    after_help = AFTER_HELP,
    disable_help_flag = true,
    max_term_width = 100
)]
#[allow(clippy::struct_excessive_bools)]
pub struct Cli {
    /// Directory (or .deb file) to scan, recursively, following symlinks
    #[arg(value_name = "BINARY-PATH")]
    pub dir: PathBuf,
    /// Override file (priority, section, maintainer per package; may be .gz, .xz or .zst)
    #[arg(value_name = "OVERRIDE")]
    pub override_file: Option<PathBuf>,
    /// Prefix for every Filename
    #[arg(value_name = "PATHPREFIX")]
    pub path_prefix: Option<String>,

    /// Scan for TYPE packages (files ending in .TYPE)
    #[arg(short = 't', long = "type", value_name = "TYPE", default_value = "deb")]
    pub pkg_type: String,
    /// Only files named *_ARCH.TYPE or *_all.TYPE
    #[arg(short, long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Only files named *_VERSION_*.TYPE whose VERSION ends with SUFFIX
    /// (e.g. +deb13: one release's builds, from a pool several share)
    #[arg(long, value_name = "SUFFIX")]
    pub version_suffix: Option<String>,
    /// Only these checksums, comma-separated: md5, sha1, sha256
    #[arg(short = 'h', long, value_name = "LIST")]
    pub hash: Option<String>,
    /// Keep every version of a package, not only the newest
    #[arg(short, long)]
    pub multiversion: bool,
    /// Extra override file (package field value per line)
    #[arg(short, long, value_name = "FILE")]
    pub extra_override: Option<PathBuf>,
    /// Add an X-Medium field with this value
    #[arg(short = 'M', long, value_name = "MEDIUM")]
    pub medium: Option<String>,

    /// Publish into repository root DIR instead of printing: Packages, Packages.gz, Release
    /// (`-o`/`--output` still work for one release: `-o` is a file in the other tools)
    #[arg(
        long = "out-dir",
        value_name = "DIR",
        help_heading = "Repository",
        alias = "output",
        short_alias = 'o'
    )]
    pub output: Option<PathBuf>,
    /// Use the dists/SUITE/COMPONENT/binary-ARCH/ layout (needs --arch)
    #[arg(
        long,
        value_name = "SUITE",
        requires = "output",
        help_heading = "Repository"
    )]
    pub dist: Option<String>,
    /// Component of the dists layout
    #[arg(
        long,
        value_name = "NAME",
        default_value = "main",
        help_heading = "Repository"
    )]
    pub component: String,
    /// Also write Packages.xz
    #[arg(long, requires = "output", help_heading = "Repository")]
    pub xz: bool,
    /// Release Origin
    #[arg(long, value_name = "TEXT", help_heading = "Repository")]
    pub origin: Option<String>,
    /// Release Label
    #[arg(long, value_name = "TEXT", help_heading = "Repository")]
    pub label: Option<String>,
    /// Release Suite (default with --dist: SUITE, unless --codename is given)
    #[arg(long, value_name = "NAME", help_heading = "Repository")]
    pub suite: Option<String>,
    /// Release Codename
    #[arg(long, value_name = "NAME", help_heading = "Repository")]
    pub codename: Option<String>,
    /// Release Version
    #[arg(
        long = "release-version",
        value_name = "VERSION",
        help_heading = "Repository"
    )]
    pub release_version: Option<String>,
    /// Release Description
    #[arg(long, value_name = "TEXT", help_heading = "Repository")]
    pub description: Option<String>,
    /// Release Architectures (default with --dist: the binary-* directories)
    #[arg(long, value_name = "LIST", help_heading = "Repository")]
    pub architectures: Option<String>,
    /// Release Components (default with --dist: the component directories)
    #[arg(long, value_name = "LIST", help_heading = "Repository")]
    pub components: Option<String>,
    #[arg(
        long,
        value_name = "KEYID",
        requires = "output",
        help_heading = "Repository",
        help = "Sign Release as Release.gpg and InRelease with this gpg key"
    )]
    pub sign_key: Option<String>,
    /// gpg home directory (default: gpg's own)
    #[arg(long, value_name = "DIR", help_heading = "Repository")]
    pub gpg_homedir: Option<PathBuf>,
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Repository",
        help = "Cache file (default with --out-dir: one per repository in $DEBPIPE_CACHE/scanpkgs/)"
    )]
    pub cache: Option<PathBuf>,
    /// Read every file, and write no cache
    #[arg(long, conflicts_with = "cache", help_heading = "Repository")]
    pub no_cache: bool,
    /// Worker threads (default: one per core)
    #[arg(
        short,
        long,
        value_name = "N",
        default_value_t = 0,
        hide_default_value = true
    )]
    pub jobs: usize,
    /// Print help
    #[arg(short = '?', long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// Read an override file, decompressing by extension.
fn read_override(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let res = match ext {
        "gz" => {
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&raw[..]), &mut out)
        }
        "xz" => std::io::Read::read_to_end(&mut xz2::read::XzDecoder::new(&raw[..]), &mut out),
        "zst" => zstd::stream::read::Decoder::new(&raw[..])
            .and_then(|mut d| std::io::Read::read_to_end(&mut d, &mut out)),
        _ => return Ok(raw),
    };
    res.map_err(|e| Error::io(path, e))?;
    Ok(out)
}

/// Lock the repository at `out` for this run (`flock` on the directory
/// itself: no lock file is left in it), waiting for another run that holds
/// it and saying so on `stderr`. Without it, two runs that scan while the
/// other publishes could each write an index that lacks the other's new
/// package.
pub fn lock_repo(out: &Path, stderr: &mut impl std::io::Write) -> Result<Option<std::fs::File>> {
    const EBADF: i32 = 9;
    const ENOLCK: i32 = 37;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let dir = std::fs::File::open(out).map_err(|e| Error::io(out, e))?;
    let e = match dir.try_lock() {
        Ok(()) => return Ok(Some(dir)),
        Err(std::fs::TryLockError::WouldBlock) => {
            status(
                stderr,
                "scanpkgs",
                Status::Info,
                format_args!(
                    "{}: another scanpkgs run is publishing this repository; waiting",
                    out.display()
                ),
            );
            let _ = stderr.flush();
            match dir.lock() {
                Ok(()) => return Ok(Some(dir)),
                Err(e) => e,
            }
        }
        Err(std::fs::TryLockError::Error(e)) => e,
    };
    // Where the file system cannot lock (NFS turns flock into POSIX locks,
    // which a read-only descriptor cannot take: EBADF, or ENOLCK without a
    // lock daemon), run unlocked, as dpkg-scanpackages always does.
    if e.kind() == std::io::ErrorKind::Unsupported
        || matches!(e.raw_os_error(), Some(EBADF | ENOLCK))
    {
        status(
            stderr,
            "scanpkgs",
            Status::Warning,
            format_args!(
                "{}: cannot lock ({e}); running without the lock",
                out.display()
            ),
        );
        return Ok(None);
    }
    Err(Error::io(out, e))
}

/// The cache file of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFile {
    /// Its path.
    pub path: PathBuf,
    /// Named with `--cache`: failing to write it is an error. The default
    /// one is a convenience: a failure is a warning.
    pub named: bool,
}

/// The cache file to use, if any: `--cache`, else with `--out-dir` the
/// repository's file in [`cache::default_dir`] (never inside the
/// repository, which is served as it is), keyed by the canonical index
/// directory. `repo.out` must exist ([`lock_repo`] makes it). `var` reads
/// the environment.
pub fn cache_path(
    cli: &Cli,
    repo: Option<&RepoOptions>,
    var: impl Fn(&str) -> Option<OsString>,
) -> Result<Option<CacheFile>> {
    if cli.no_cache {
        return Ok(None);
    }
    if let Some(path) = &cli.cache {
        return Ok(Some(CacheFile {
            path: path.clone(),
            named: true,
        }));
    }
    let (Some(repo), Some(dir)) = (repo, cache::default_dir(var)) else {
        return Ok(None);
    };
    let out = std::fs::canonicalize(&repo.out).map_err(|e| Error::io(&repo.out, e))?;
    let index_dir = repo.index_dir();
    let rest = index_dir.strip_prefix(&repo.out).unwrap_or(Path::new(""));
    Ok(Some(CacheFile {
        path: cache::file_for(&dir, &out.join(rest)),
        named: false,
    }))
}

/// Remove the cache that earlier versions left beside `Packages` in
/// `index_dir` (it would be served with the repository), unless it is the
/// file `--cache` names. Says so on `stderr`; a failure is a warning.
fn remove_legacy_cache(
    index_dir: &Path,
    in_use: Option<&CacheFile>,
    stderr: &mut impl std::io::Write,
) {
    let old = index_dir.join(cache::LEGACY_NAME);
    let Ok(m) = std::fs::symlink_metadata(&old) else {
        return;
    };
    if m.is_dir() {
        return;
    }
    let same = |c: &CacheFile| {
        std::fs::symlink_metadata(&c.path).is_ok_and(|n| n.dev() == m.dev() && n.ino() == m.ino())
    };
    if in_use.is_some_and(same) {
        return;
    }
    match std::fs::remove_file(&old) {
        Ok(()) => status(
            stderr,
            "scanpkgs",
            Status::Info,
            format_args!(
                "removed {}: the cache is no longer kept in the repository",
                old.display()
            ),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => status(
            stderr,
            "scanpkgs",
            Status::Warning,
            format_args!("{}: {e}; it is a stale cache, remove it", old.display()),
        ),
    }
}

/// Write the cache: a named one must be written; the default one (its
/// directory made first) is written when possible.
fn save_cache(file: &CacheFile, cache: &Cache, stderr: &mut impl std::io::Write) -> Result<()> {
    let write = || {
        if !file.named
            && let Some(dir) = file.path.parent()
        {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        debpipe_core::io::write_atomic(&file.path, &cache.to_bytes(), 0o644)
    };
    match write() {
        Err(e) if !file.named => {
            status(
                stderr,
                "scanpkgs",
                Status::Warning,
                format_args!("cache not saved ({e}); the next run reads every file"),
            );
            Ok(())
        }
        r => r,
    }
}

fn load_cache(path: Option<&Path>, stderr: &mut impl std::io::Write) -> Cache {
    let Some(path) = path else {
        return Cache::default();
    };
    match std::fs::read(path) {
        Ok(bytes) => Cache::from_bytes(&bytes).unwrap_or_else(|why| {
            status(
                stderr,
                "scanpkgs",
                Status::Warning,
                format_args!("{}: {why}; rebuilding the cache", path.display()),
            );
            Cache::default()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Cache::default(),
        Err(e) => {
            status(
                stderr,
                "scanpkgs",
                Status::Warning,
                format_args!("{}: {e}; rebuilding the cache", path.display()),
            );
            Cache::default()
        }
    }
}

/// Turn the command line into scan and repository options.
pub fn options(cli: &Cli) -> Result<(ScanOptions, Option<RepoOptions>)> {
    let hashes = match &cli.hash {
        Some(list) => Hashes::parse(list).map_err(Error::Usage)?,
        None => Hashes::default(),
    };
    let scan = ScanOptions {
        pkg_type: cli.pkg_type.clone(),
        arch: cli.arch.clone().filter(|a| !a.is_empty()),
        version_suffix: cli.version_suffix.clone(),
        hashes,
        multiversion: cli.multiversion,
        medium: cli.medium.clone(),
        path_prefix: cli.path_prefix.clone().unwrap_or_default().into_bytes(),
        jobs: cli.jobs,
    };
    let repo = match &cli.output {
        None => None,
        Some(out) => {
            if cli.dist.is_some() && scan.arch.is_none() {
                return Err(Error::Usage(
                    "--dist needs --arch: the index goes in binary-ARCH".into(),
                ));
            }
            for (flag, v) in [
                ("--dist", &cli.dist),
                ("--component", &Some(cli.component.clone())),
            ] {
                if let Some(v) = v
                    && (v.is_empty() || v.contains('/') || v.starts_with('.'))
                {
                    return Err(Error::Usage(format!(
                        "{flag} {v:?}: must be a plain directory name"
                    )));
                }
            }
            Some(RepoOptions {
                out: out.clone(),
                dist: cli.dist.clone(),
                component: cli.component.clone(),
                arch: scan.arch.clone(),
                xz: cli.xz,
                fields: ReleaseFields {
                    origin: cli.origin.clone(),
                    label: cli.label.clone(),
                    suite: cli.suite.clone(),
                    version: cli.release_version.clone(),
                    codename: cli.codename.clone(),
                    architectures: cli.architectures.clone(),
                    components: cli.components.clone(),
                    description: cli.description.clone(),
                    acquire_by_hash: false, // set by the dists layout
                },
                sign_key: cli.sign_key.clone(),
                gpg_homedir: cli.gpg_homedir.clone(),
                now: debpipe_core::time::build_time()?,
            })
        }
    };
    Ok((scan, repo))
}

/// Run scanpkgs.
pub fn run(cli: &Cli) -> Result<()> {
    let (scan_opts, repo) = options(cli)?;
    let override_text = cli
        .override_file
        .as_deref()
        .map(read_override)
        .transpose()?;
    let extra_text = cli
        .extra_override
        .as_deref()
        .map(read_override)
        .transpose()?;
    let mut stderr = std::io::stderr().lock();
    // Held until the index, Release and cache are written.
    let _lock = repo
        .as_ref()
        .map(|r| lock_repo(&r.out, &mut stderr))
        .transpose()?;
    let cache_file = cache_path(cli, repo.as_ref(), |k| std::env::var_os(k))?;
    if repo.is_some() && !cli.no_cache && cache_file.is_none() {
        status(
            &mut stderr,
            "scanpkgs",
            Status::Warning,
            format_args!(
                "no cache directory (DEBPIPE_CACHE, XDG_CACHE_HOME and HOME are unset); reading every file"
            ),
        );
    }
    let old_cache = load_cache(cache_file.as_ref().map(|c| c.path.as_path()), &mut stderr);

    let result = scan::scan(
        &cli.dir,
        &scan_opts,
        override_text.as_deref(),
        extra_text.as_deref(),
        &old_cache,
    )?;
    for m in &result.messages {
        status(
            &mut stderr,
            "scanpkgs",
            Status::Warning,
            m.strip_prefix("warning: ").unwrap_or(m),
        );
    }
    match &repo {
        None => debpipe_core::io::write_stdout(&result.packages)?,
        Some(r) => {
            repo::publish(r, &result.packages)?;
            remove_legacy_cache(&r.index_dir(), cache_file.as_ref(), &mut stderr);
        }
    }
    status(
        &mut stderr,
        "scanpkgs",
        Status::Info,
        format_args!("Wrote {} entries to output Packages file.", result.entries),
    );
    if let Some(file) = &cache_file
        && (result.read > 0 || result.cache.len() != old_cache.len())
    {
        save_cache(file, &result.cache, &mut stderr)?;
    }
    if result.skipped > 0 || result.conflicts > 0 {
        let mut why = Vec::new();
        if result.skipped > 0 {
            why.push(format!("{} file(s) not indexed", result.skipped));
        }
        if result.conflicts > 0 {
            why.push(format!(
                "{} file(s) with the package and version of a different file",
                result.conflicts
            ));
        }
        return Err(Error::file(&cli.dir, why.join(", ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[test]
    fn verify_cli() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn dpkg_style_flags_parse() {
        let cli = Cli::try_parse_from([
            "scanpkgs",
            "-m",
            "-a",
            "amd64",
            "-h",
            "md5,sha256",
            "pool",
            "ovr",
            "pfx/",
        ])
        .unwrap();
        assert!(cli.multiversion);
        assert_eq!(cli.override_file.as_deref(), Some(Path::new("ovr")));
        let (scan, repo) = options(&cli).unwrap();
        assert!(repo.is_none());
        assert_eq!(scan.path_prefix, b"pfx/");
        assert!(!scan.hashes.sha1);
    }

    #[test]
    fn dist_without_arch_is_usage_error() {
        let cli = Cli::try_parse_from(["scanpkgs", "-o", "r", "--dist", "stable", "pool"]).unwrap();
        assert_eq!(options(&cli).unwrap_err().exit_code(), 2);
        let cli = Cli::try_parse_from(["scanpkgs", "-h", "sha512", "pool"]).unwrap();
        assert_eq!(options(&cli).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn cache_defaults_outside_the_repository() {
        let tmp = tempfile::tempdir().unwrap();
        let repo_dir = tmp.path().join("r");
        std::fs::create_dir(&repo_dir).unwrap();
        let r = repo_dir.to_str().unwrap();
        let cli = Cli::try_parse_from(["scanpkgs", "-o", r, "--dist", "s", "-a", "amd64", "pool"])
            .unwrap();
        let (_, repo) = options(&cli).unwrap();
        let env = |k: &str| (k == "DEBPIPE_CACHE").then(|| OsString::from("/c"));
        let file = cache_path(&cli, repo.as_ref(), env).unwrap().unwrap();
        assert!(!file.named);
        // Keyed by the canonical index directory: a symlink to the
        // repository has the same cache.
        let index = repo_dir
            .canonicalize()
            .unwrap()
            .join("dists/s/main/binary-amd64");
        assert_eq!(file.path, cache::file_for(Path::new("/c/scanpkgs"), &index));
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&repo_dir, &link).unwrap();
        let l = link.to_str().unwrap();
        let cli = Cli::try_parse_from(["scanpkgs", "-o", l, "--dist", "s", "-a", "amd64", "pool"])
            .unwrap();
        let (_, repo) = options(&cli).unwrap();
        assert_eq!(cache_path(&cli, repo.as_ref(), env).unwrap(), Some(file));

        // --cache is used as given; --no-cache and no --out-dir mean none.
        let cli = Cli::try_parse_from(["scanpkgs", "-o", r, "--cache", "f", "pool"]).unwrap();
        let (_, repo) = options(&cli).unwrap();
        let named = cache_path(&cli, repo.as_ref(), env).unwrap().unwrap();
        assert_eq!((named.path, named.named), (PathBuf::from("f"), true));
        for args in [
            &["scanpkgs", "-o", r, "--no-cache", "pool"][..],
            &["scanpkgs", "pool"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            let (_, repo) = options(&cli).unwrap();
            assert_eq!(cache_path(&cli, repo.as_ref(), env).unwrap(), None);
        }
    }
}
