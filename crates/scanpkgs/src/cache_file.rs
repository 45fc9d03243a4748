//! Which cache file a run uses (`--cache DIR`, else one per repository in
//! [`crate::cache::default_dir`]), loading and saving it, and removing the
//! cache that earlier versions left inside the repository.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use debpipe_core::error::{Status, status};

use crate::cache::{self, Cache};
use crate::repo::RepoOptions;
use crate::{Cli, Error, Result};

/// The cache file of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFile {
    /// Its path.
    pub path: PathBuf,
    /// Named with `--cache`: failing to write it is an error. The default
    /// one is a convenience: a failure is a warning.
    pub named: bool,
}

/// `--cache` names a file, as before 0.2.0 (deprecated; see
/// [`crate::deprecations`]): one that exists and is a regular file.
pub fn is_legacy_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// The cache file to use, if any: in the `--cache` directory, else with
/// `--out-dir` in [`cache::default_dir`] (never inside the repository,
/// which is served as it is), named by [`cache::file_for`] after the
/// canonical index directory (without `--out-dir`, the scanned one); an
/// old `--cache FILE` as given. `repo.out` must exist
/// ([`crate::lock::lock_repo`] makes it). `var` reads the environment.
pub fn cache_path(
    cli: &Cli,
    repo: Option<&RepoOptions>,
    var: impl Fn(&str) -> Option<OsString>,
) -> Result<Option<CacheFile>> {
    if cli.no_cache {
        return Ok(None);
    }
    let key_dir = || -> Result<PathBuf> {
        let Some(repo) = repo else {
            return std::fs::canonicalize(&cli.dir).map_err(|e| Error::io(&cli.dir, e));
        };
        let out = std::fs::canonicalize(&repo.out).map_err(|e| Error::io(&repo.out, e))?;
        let index_dir = repo.index_dir();
        let rest = index_dir.strip_prefix(&repo.out).unwrap_or(Path::new(""));
        Ok(out.join(rest))
    };
    if let Some(given) = &cli.cache {
        let path = if is_legacy_file(given) {
            given.clone()
        } else {
            cache::file_for(given, &key_dir()?)
        };
        return Ok(Some(CacheFile { path, named: true }));
    }
    let (Some(_), Some(dir)) = (repo, cache::default_dir(var)) else {
        return Ok(None);
    };
    Ok(Some(CacheFile {
        path: cache::file_for(&dir, &key_dir()?),
        named: false,
    }))
}

/// Remove the cache that earlier versions left beside `Packages` in
/// `index_dir` (it would be served with the repository), unless it is the
/// file `--cache` names. Says so on `stderr`; a failure is a warning.
pub fn remove_legacy_cache(
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

/// Write the cache (its directory made first): a named one must be
/// written; the default one is written when possible.
pub fn save(file: &CacheFile, cache: &Cache, stderr: &mut impl std::io::Write) -> Result<()> {
    let write = || {
        if let Some(dir) = file.path.parent()
            && !dir.as_os_str().is_empty()
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

pub fn load(path: Option<&Path>, stderr: &mut impl std::io::Write) -> Cache {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options;
    use clap::Parser as _;

    /// The command line `scanpkgs ARGS...` and its repository options.
    fn parse(args: &[&str]) -> (Cli, Option<RepoOptions>) {
        let cli =
            Cli::try_parse_from(std::iter::once("scanpkgs").chain(args.iter().copied())).unwrap();
        let (_, repo) = options(&cli).unwrap();
        (cli, repo)
    }

    #[test]
    fn cache_defaults_outside_the_repository() {
        let tmp = tempfile::tempdir().unwrap();
        let repo_dir = tmp.path().join("r");
        std::fs::create_dir(&repo_dir).unwrap();
        let r = repo_dir.to_str().unwrap();
        let dists = ["--dist", "s", "-a", "amd64", "pool"];
        let (cli, repo) = parse(&[&["--out-dir", r][..], &dists].concat());
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
        let (cli, repo) = parse(&[&["--out-dir", link.to_str().unwrap()][..], &dists].concat());
        assert_eq!(cache_path(&cli, repo.as_ref(), env).unwrap(), Some(file));

        // --cache DIR holds the same file name; an existing FILE (the
        // old spelling) is used as given, with one warning.
        let d = tmp.path().join("d");
        let given = ["--out-dir", r, "--cache", d.to_str().unwrap()];
        let (cli, repo) = parse(&[&given[..], &dists].concat());
        let named = cache_path(&cli, repo.as_ref(), env).unwrap().unwrap();
        assert_eq!(
            (named.path, named.named),
            (cache::file_for(&d, &index), true)
        );
        assert!(crate::deprecations(&cli).is_empty());
        let f = tmp.path().join("f");
        std::fs::write(&f, b"").unwrap();
        let (cli, repo) = parse(&["--out-dir", r, "--cache", f.to_str().unwrap(), "pool"]);
        let named = cache_path(&cli, repo.as_ref(), env).unwrap().unwrap();
        assert_eq!((named.path, named.named), (f.clone(), true));
        let warned: Vec<String> = crate::deprecations(&cli)
            .iter()
            .map(|(old, new)| debpipe_core::cli::deprecation_warning("scanpkgs", old, new))
            .collect();
        assert_eq!(
            warned,
            [format!(
                "scanpkgs: warning: --cache {} (a FILE) is deprecated, use --cache DIR \
                 (it goes away in 0.2.0)",
                f.display()
            )]
        );
        // --no-cache, and no --out-dir, mean none.
        for args in [&["--out-dir", r, "--no-cache", "pool"][..], &["pool"]] {
            let (cli, repo) = parse(args);
            assert_eq!(cache_path(&cli, repo.as_ref(), env).unwrap(), None);
        }
    }
}
