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
//! The modules: [`walk`] (finding the files), [`read`] (reading them in
//! parallel), [`scan`] (the Packages index), [`overrides`] (reading and
//! applying override files), [`cache`] (the cache format: what an
//! unchanged file need not be read again for), [`cache_file`] (which cache
//! file a run uses, loading, saving, and removing the old in-repository
//! one), [`lock`] (two runs on one repository take turns), [`repo`]
//! (publishing in order, with the "nothing changed" decision), [`dists`]
//! (the index directories a Release covers) and [`byhash`] (the copies in
//! a local repository). The formats (.deb control, stanzas, Release,
//! by-hash naming, signing) are debpipe-repo's, shared with pushrepo.

pub mod byhash;
pub mod cache;
pub mod cache_file;
pub mod dists;
pub mod lock;
pub mod overrides;
pub mod read;
pub mod repo;
pub mod scan;
pub mod walk;

use std::path::PathBuf;

use debpipe_core::error::{Status, status};
pub use debpipe_core::{Error, Result};

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
    max_term_width = 100,
    group = clap::ArgGroup::new("publish").multiple(false)
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
    #[arg(
        long = "out-dir",
        value_name = "DIR",
        help_heading = "Repository",
        group = "publish"
    )]
    pub output: Option<PathBuf>,
    /// The old spelling of `--out-dir` (`-o` is a FILE in the other
    /// tools): warns, and goes away in 0.2.0.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        hide = true,
        group = "publish"
    )]
    pub output_old: Option<PathBuf>,
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
        value_name = "DIR",
        help_heading = "Repository",
        help = "Keep the cache in DIR, one file per repository (default with --out-dir: \
                $DEBPIPE_CACHE/scanpkgs/)"
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
    let repo = match cli.output.as_ref().or(cli.output_old.as_ref()) {
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

/// The old spellings used on this command line, each as (old, new) for
/// [`debpipe_core::cli::deprecated`] (one warning line naming the new form
/// and the release that drops the old one).
pub fn deprecations(cli: &Cli) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    if cli.output_old.is_some() {
        out.push(("-o/--output DIR".to_string(), "--out-dir DIR"));
    }
    if let Some(c) = &cli.cache
        && cache_file::is_legacy_file(c)
    {
        out.push((format!("--cache {} (a FILE)", c.display()), "--cache DIR"));
    }
    out
}

/// Run scanpkgs.
pub fn run(cli: &Cli) -> Result<()> {
    let (scan_opts, repo) = options(cli)?;
    let override_text = cli
        .override_file
        .as_deref()
        .map(overrides::read)
        .transpose()?;
    let extra_text = cli
        .extra_override
        .as_deref()
        .map(overrides::read)
        .transpose()?;
    let mut stderr = std::io::stderr().lock();
    for (old, new) in deprecations(cli) {
        debpipe_core::cli::deprecated("scanpkgs", &old, new);
    }
    // Held until the index, Release and cache are written.
    let _lock = repo
        .as_ref()
        .map(|r| lock::lock_repo(&r.out, &mut stderr))
        .transpose()?;
    let cache_file = cache_file::cache_path(cli, repo.as_ref(), |k| std::env::var_os(k))?;
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
    let old_cache = cache_file::load(cache_file.as_ref().map(|c| c.path.as_path()), &mut stderr);

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
            cache_file::remove_legacy_cache(&r.index_dir(), cache_file.as_ref(), &mut stderr);
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
        cache_file::save(file, &result.cache, &mut stderr)?;
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

    debpipe_testkit::verify_cli!(Cli);

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
        assert_eq!(
            cli.override_file.as_deref(),
            Some(std::path::Path::new("ovr"))
        );
        let (scan, repo) = options(&cli).unwrap();
        assert!(repo.is_none());
        assert_eq!(scan.path_prefix, b"pfx/");
        assert!(!scan.hashes.sha1);
    }

    #[test]
    fn dist_without_arch_is_usage_error() {
        let cli = Cli::try_parse_from(["scanpkgs", "--out-dir", "r", "--dist", "stable", "pool"])
            .unwrap();
        assert_eq!(options(&cli).unwrap_err().exit_code(), 2);
        let cli = Cli::try_parse_from(["scanpkgs", "-h", "sha512", "pool"]).unwrap();
        assert_eq!(options(&cli).unwrap_err().exit_code(), 2);
    }
}
