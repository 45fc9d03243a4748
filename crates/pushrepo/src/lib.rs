//! pushrepo: publish .debs into an apt repository on S3-compatible object
//! storage, so that no reader ever sees a torn repository and no two
//! publishers lose each other's packages.
//!
//! The modules: [`s3`] (debpipe-repo's `Store` trait on S3, endpoint and
//! credentials from `AWS_*`), [`lock`] (the lock object, its renewal and
//! takeover, and the probe for conditional writes), [`publish`] (reading,
//! planning and writing in order, and deleting after the grace period) and
//! [`duration`] (`24h`, `90s` on the command line). The formats (reading
//! .debs, Packages, Release, by-hash, signing) and the `Store` trait are
//! debpipe-repo's, shared with scanpkgs.

pub mod duration;
pub mod lock;
pub mod publish;
pub mod s3;

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

use debpipe_core::error::{Status, status};
pub use debpipe_core::{Error, Result};

use crate::lock::LockOptions;
use crate::publish::{Deb, Options, Outcome};
use crate::s3::{Config, RepoUrl, S3Store};
use debpipe_repo::packages::Entry;

const AFTER_HELP: &str = "\
Examples:
  # MinIO, SeaweedFS or any S3-compatible store:
  export AWS_ENDPOINT_URL=http://s3.internal:8333 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
  pushrepo --dist bookworm --sign-key ops@acme.example s3://apt/prod build/hello_1.0_amd64.deb

  # keep the 3 newest versions; pruned files stay a week for slow readers
  pushrepo --dist bookworm --keep 3 --grace 7d --sign-key ops@acme.example s3://apt/prod *.deb

  # servers read it over plain HTTP (anonymous read on the bucket):
  #   deb [signed-by=/usr/share/keyrings/acme.gpg] http://s3.internal:8333/apt/prod bookworm main

Layout: pool/<component>/<l>/<package>/<package>_<version>_<arch>.deb and
dists/<dist>/{InRelease,Release,Release.gpg}, <component>/binary-<arch>/
Packages{,.gz} with by-hash/SHA512/ copies (Acquire-By-Hash: yes).

What is already published stays: the new packages are merged into the
indexes read from the store. The same file again changes nothing (and an
unchanged publish writes nothing); the same package version with other
bytes is an error. InRelease is written last, so readers see the old
repository or the new one, never a mix. One publisher at a time: the
others wait for the lock (--wait) and say who holds it.

Exit status: 0 on success (also when nothing changed), 1 on any error,
2 on bad usage.";

/// Publish .debs into an apt repository on S3-compatible object storage.
#[derive(Debug, clap::Parser)]
#[command(version, about, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    /// The repository: `s3://BUCKET` or `s3://BUCKET/PREFIX`
    #[arg(value_name = "S3-URL")]
    pub repo: String,
    /// Packages to add
    #[arg(value_name = "DEB", required = true)]
    pub debs: Vec<PathBuf>,

    /// Distribution (dists/DIST); default: this host's codename
    #[arg(long, value_name = "DIST")]
    pub dist: Option<String>,
    /// Component the packages go in
    #[arg(long, value_name = "NAME", default_value = "main")]
    pub component: String,
    /// Keep only the N newest versions of each package in the index
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: Option<u32>,
    /// How long files that left the index stay (for readers of the old one)
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = duration::parse)]
    pub grace: Duration,
    /// How long to wait for another publisher's lock
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration::parse)]
    pub wait: Duration,
    /// Lifetime of the lock without renewal (a killed publisher's lock is
    /// taken over after this)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration::parse)]
    pub lock_ttl: Duration,
    /// Sign with this gpg key: InRelease and Release.gpg (GNUPGHOME is honoured)
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<String>,
    /// Release Origin
    #[arg(long, value_name = "TEXT")]
    pub origin: Option<String>,
    /// Release Label
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
    /// S3 endpoint URL (default: `AWS_ENDPOINT_URL`; AWS S3 when unset)
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
}

/// This host's codename, from /etc/os-release.
fn host_codename() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines().find_map(|l| {
        let v = l
            .strip_prefix("VERSION_CODENAME=")?
            .trim_matches('"')
            .trim();
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// A name usable as a path segment (dist, component).
fn check_segment(flag: &str, v: &str) -> Result<()> {
    if v.is_empty()
        || v.starts_with('.')
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+~".contains(c))
    {
        return Err(Error::Usage(format!(
            "--{flag} {v:?}: use letters, digits and - _ . + ~"
        )));
    }
    Ok(())
}

/// Read the .debs: hashes and control from debpipe-repo's reader, and the bytes.
pub fn read_debs(paths: &[PathBuf], component: &str) -> Result<Vec<Deb>> {
    let mut bufs = debpipe_repo::deb::Buffers::default();
    paths
        .iter()
        .map(|path| {
            let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
            let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
            let info = debpipe_repo::deb::read_deb(&mut f, len, &mut bufs)
                .map_err(|why| Error::file(path, why))?;
            let entry = Entry::from_deb(&info, component).map_err(|why| Error::file(path, why))?;
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            if bytes.len() as u64 != info.size {
                return Err(Error::file(path, "changed while being read"));
            }
            Ok(Deb {
                path: path.clone(),
                bytes,
                entry,
            })
        })
        .collect()
}

/// Run pushrepo.
pub fn run(cli: &Cli) -> Result<()> {
    let dist = match &cli.dist {
        Some(d) => d.clone(),
        None => host_codename().ok_or_else(|| {
            Error::Usage("no --dist given and /etc/os-release has no VERSION_CODENAME".into())
        })?,
    };
    check_segment("dist", &dist)?;
    check_segment("component", &cli.component)?;
    let url = RepoUrl::parse(&cli.repo)?;
    let debs = read_debs(&cli.debs, &cli.component)?;
    let store = S3Store::new(
        url,
        &Config::from_env(cli.endpoint.as_deref(), |k| std::env::var(k).ok()),
    )?;
    let opts = Options {
        dist: dist.clone(),
        component: cli.component.clone(),
        keep: cli.keep.map(|k| k as usize),
        grace: cli.grace,
        sign_key: cli.sign_key.clone(),
        fields: publish::Fields {
            origin: cli.origin.clone(),
            label: cli.label.clone(),
            dist: dist.clone(),
        },
        lock: LockOptions {
            holder: lock::holder_name(),
            ttl: cli.lock_ttl,
            wait: cli.wait,
        },
    };
    let mut err = std::io::stderr();
    let outcome = publish::publish(&store, &opts, &debs, &mut |m| {
        status(&mut err, "pushrepo", Status::Info, m);
    })?;
    let where_ = format!("{} dists/{dist}", cli.repo.trim_end_matches('/'));
    let msg = match outcome {
        Outcome::Unchanged { listed } => {
            format!("{where_}: unchanged ({listed} packages listed); nothing written")
        }
        Outcome::Published {
            added,
            pruned,
            listed,
            writes,
            deleted,
            took_over: _,
        } => format!(
            "{where_}: published {added} new, pruned {pruned}, {listed} listed; \
             {writes} objects written, {deleted} deleted after the grace period"
        ),
    };
    status(&mut std::io::stderr(), "pushrepo", Status::Info, msg);
    Ok(())
}

#[test]
fn verify_cli() {
    <Cli as clap::CommandFactory>::command().debug_assert();
}
