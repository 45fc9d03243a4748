//! Publish a repository: `Packages`, `Packages.gz` (`.xz`), `Release`, and
//! with a key `Release.gpg` and `InRelease`.
//!
//! Everything is computed in memory first (indices, compressed indices,
//! Release, signatures), so a failure (gpg, say) writes nothing. Then
//! [`debpipe_repo::publish::write`] renames each file into place (a
//! [`DirStore`]) in publishing order: by-hash copies and indices first,
//! Release, `Release.gpg` and `InRelease` last, so apt never reads a Release
//! naming indices that are not there yet. When neither the indices nor the Release
//! fields changed, nothing is written and the Date stays; otherwise the
//! Date is now (or `SOURCE_DATE_EPOCH`) but never earlier than the previous
//! Release's, as apt ignores a Release older than the one it has.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use debpipe_core::date;

use crate::{Error, Result};

use crate::byhash;
use crate::dists::{dists_sums, our_indices};
use debpipe_repo::gpg::Signer;
use debpipe_repo::publish::{self, Publication};
use debpipe_repo::release::{IndexSum, ReleaseFields, parse_release, render_release, split_date};
use debpipe_repo::store::{Put, dir::DirStore};

/// Where and how to publish.
#[derive(Debug, Clone, Default)]
pub struct RepoOptions {
    /// Repository root (flat: where Packages and Release go).
    pub out: PathBuf,
    /// `dists/<dist>/<component>/binary-<arch>/` layout when set.
    pub dist: Option<String>,
    /// Component of the dists layout.
    pub component: String,
    /// Architecture of the dists layout.
    pub arch: Option<String>,
    /// Also write `Packages.xz`.
    pub xz: bool,
    /// Release fields.
    pub fields: ReleaseFields,
    /// Sign with this gpg key.
    pub sign_key: Option<String>,
    /// gpg's home directory.
    pub gpg_homedir: Option<PathBuf>,
    /// The time to put in `Date` (Unix seconds).
    pub now: i64,
}

impl RepoOptions {
    /// The directory of the Packages files.
    pub fn index_dir(&self) -> PathBuf {
        match (&self.dist, &self.arch) {
            (Some(d), Some(a)) => self
                .out
                .join("dists")
                .join(d)
                .join(&self.component)
                .join(format!("binary-{a}")),
            _ => self.out.clone(),
        }
    }

    /// The directory of the Packages files, as a key prefix of the store
    /// at [`Self::out`] (empty for the flat layout).
    pub fn index_key(&self) -> String {
        match (&self.dist, &self.arch) {
            (Some(d), Some(a)) => format!("dists/{d}/{}/binary-{a}/", self.component),
            _ => String::new(),
        }
    }

    /// The directory of the Release file, as a key prefix.
    pub fn release_key(&self) -> String {
        self.dist
            .as_ref()
            .map_or_else(String::new, |d| format!("dists/{d}/"))
    }

    /// The directory of the Release file.
    pub fn release_dir(&self) -> PathBuf {
        match &self.dist {
            Some(d) => self.out.join("dists").join(d),
            None => self.out.clone(),
        }
    }
}

/// What [`publish()`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Nothing changed; nothing written.
    Unchanged,
    /// These files were written, in this order.
    Wrote(Vec<PathBuf>),
}

pub(crate) fn xz(data: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(data).map_err(|e| Error::io(path, e))?;
    e.finish().map_err(|e| Error::io(path, e))
}

pub(crate) fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// An index file of ours: name, contents, and whether it must be written.
pub(crate) type OurIndex<'a> = (&'a str, Vec<u8>, bool);

/// Publish `packages` as described by `opts`.
pub fn publish(opts: &RepoOptions, packages: &[u8]) -> Result<Published> {
    if opts.dist.is_some() && opts.arch.is_none() {
        return Err(Error::Usage("--dist needs --arch".into()));
    }
    let index_dir = opts.index_dir();
    let release_dir = opts.release_dir();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&index_dir)
        .map_err(|e| Error::io(&index_dir, e))?;

    let ours = our_indices(opts, &index_dir, packages)?;
    let stale_xz = !opts.xz && index_dir.join("Packages.xz").exists();

    let (old_release, old_sums) = read_release(&release_dir.join("Release"))?;

    // Every index the Release covers, with paths relative to its directory.
    let rel_index = index_dir
        .strip_prefix(&release_dir)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let (mut sums, archs, comps) = if opts.dist.is_some() {
        dists_sums(opts, &release_dir, &rel_index, &ours, &old_sums)?
    } else {
        let sums = ours
            .iter()
            .map(|(name, data, _)| IndexSum::of_with_old((*name).to_string(), data, &old_sums))
            .collect();
        (sums, Vec::new(), Vec::new())
    };
    sums.sort_by(|a, b| a.path.cmp(&b.path));

    let fields = release_fields(opts, &archs, &comps);

    let (old_body, old_date) = old_release.as_deref().map_or((None, None), |r| {
        let (body, d) = split_date(r);
        (Some(body), d)
    });
    let probe = render_release(&fields, "", &sums);
    let (new_body, _) = split_date(&probe);
    if old_body.as_deref() == Some(new_body.as_str())
        && old_date.is_some()
        && ours.iter().all(|(_, _, write)| !write)
        && !stale_xz
        && signatures_as_asked(opts, &release_dir)
        && !(fields.acquire_by_hash && byhash::missing(&index_dir, &rel_index, &ours, &sums))
    {
        return Ok(Published::Unchanged);
    }

    let when = old_date.map_or(opts.now, |d| d.max(opts.now));
    let release = render_release(&fields, &date::format(when), &sums);
    let signatures = match &opts.sign_key {
        Some(key) => Some(
            Signer {
                key: key.clone(),
                homedir: opts.gpg_homedir.clone(),
            }
            .sign_release(release.as_bytes(), &release_dir)?,
        ),
        None => None,
    };

    // The write order is debpipe-repo's; scanpkgs holds the repository's
    // lock, so every write replaces what is there.
    let index_key = opts.index_key();
    let by_hash = if fields.acquire_by_hash {
        byhash::copies(&index_key, &rel_index, &ours, &sums)
    } else {
        Vec::new()
    };
    let mut remove = Vec::new();
    if signatures.is_none() {
        for name in ["Release.gpg", "InRelease"] {
            remove.push(publish::release_key(&opts.release_key(), name));
        }
    }
    if stale_xz {
        remove.push(format!("{index_key}Packages.xz"));
    }
    if fields.acquire_by_hash {
        remove.extend(byhash::stale(
            &index_dir, &index_key, &rel_index, &sums, &old_sums,
        )?);
    }
    let publication = Publication {
        pool: Vec::new(),
        by_hash,
        // compressed indexes first, Packages last
        indexes: ours[1..]
            .iter()
            .chain(&ours[..1])
            .filter(|(_, _, write)| *write)
            .map(|(name, data, _)| (format!("{index_key}{name}"), data.as_slice(), Put::Replace))
            .collect(),
        release_dir: opts.release_key(),
        release: release.as_bytes(),
        signed: signatures.as_ref(),
        release_puts: [Put::Replace, Put::Replace, Put::Replace],
        remove,
    };
    let store = DirStore::new(&opts.out);
    let wrote = publish::write(&store, &publication, &|| Ok(()))?;
    Ok(Published::Wrote(
        wrote.iter().map(|key| store.path(key)).collect(),
    ))
}

/// The Release at `path` (when there is one) and the index sums it lists.
fn read_release(path: &Path) -> Result<(Option<String>, Vec<IndexSum>)> {
    let Some(text) = read_if_exists(path)?.map(|b| String::from_utf8_lossy(&b).into_owned()) else {
        return Ok((None, Vec::new()));
    };
    let sums = parse_release(text.as_bytes())
        .map_err(|e| Error::file(path, e))?
        .sums;
    Ok((Some(text), sums))
}

/// True when `Release.gpg` and `InRelease` are both there with a key, and
/// both absent without one.
fn signatures_as_asked(opts: &RepoOptions, release_dir: &Path) -> bool {
    let present = ["InRelease", "Release.gpg"].map(|n| release_dir.join(n).exists());
    if opts.sign_key.is_some() {
        present.iter().all(|p| *p)
    } else {
        !present.iter().any(|p| *p)
    }
}

/// The Release fields: the user's, with the dists layout's defaults
/// (Suite, Architectures, Components found) and `Acquire-By-Hash`.
fn release_fields(opts: &RepoOptions, archs: &[String], comps: &[String]) -> ReleaseFields {
    let mut fields = opts.fields.clone();
    if let Some(dist) = &opts.dist {
        if fields.suite.is_none() && fields.codename.is_none() {
            fields.suite = Some(dist.clone());
        }
        if fields.architectures.is_none() {
            fields.architectures = Some(archs.join(" "));
        }
        if fields.components.is_none() {
            fields.components = Some(comps.join(" "));
        }
        fields.acquire_by_hash = true;
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dists layout of `dist` under `out`, main, amd64.
    fn dists(out: &Path, dist: &str) -> RepoOptions {
        RepoOptions {
            out: out.to_path_buf(),
            dist: Some(dist.into()),
            component: "main".into(),
            arch: Some("amd64".into()),
            now: 1,
            ..RepoOptions::default()
        }
    }

    #[test]
    fn release_layout() {
        let fields = ReleaseFields {
            origin: Some("O".into()),
            suite: Some("stable".into()),
            architectures: Some("amd64".into()),
            ..ReleaseFields::default()
        };
        let files = vec![IndexSum::of("Packages".into(), b"")];
        let r = render_release(&fields, "Thu, 01 Jan 1970 00:00:00 UTC", &files);
        assert_eq!(
            r,
            "Origin: O\nSuite: stable\nDate: Thu, 01 Jan 1970 00:00:00 UTC\nArchitectures: amd64\nMD5Sum:\n d41d8cd98f00b204e9800998ecf8427e                0 Packages\nSHA1:\n da39a3ee5e6b4b0d3255bfef95601890afd80709                0 Packages\nSHA256:\n e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855                0 Packages\nSHA512:\n cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e                0 Packages\n"
        );
        assert_eq!(parse_release(r.as_bytes()).unwrap().sums, files);
        let (body, when) = split_date(&r);
        assert_eq!(when, Some(0));
        assert!(!body.contains("Date"));
    }

    #[test]
    fn flat_publish_then_noop_then_date_never_goes_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = RepoOptions {
            out: dir.path().to_path_buf(),
            component: "main".into(),
            now: 2_000_000_000,
            ..RepoOptions::default()
        };
        let w = publish(&opts, b"Package: a\n\n").unwrap();
        assert!(
            matches!(w, Published::Wrote(ref v) if v.len() == 3),
            "{w:?}"
        );
        assert_eq!(
            publish(&opts, b"Package: a\n\n").unwrap(),
            Published::Unchanged
        );
        opts.now = 1_000_000_000; // clock went back
        publish(&opts, b"Package: b\n\n").unwrap();
        let rel = fs::read_to_string(dir.path().join("Release")).unwrap();
        assert!(rel.contains(&date::format(2_000_000_000)), "{rel}");
        let gz = fs::read(dir.path().join("Packages.gz")).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
            .unwrap();
        assert_eq!(text, "Package: b\n\n");
    }

    /// The dists layout says `Acquire-By-Hash: yes` and stores each index
    /// under by-hash/SHA512 too, with the bytes the Release's SHA-512 names;
    /// the previous generation stays, the one before goes; the flat layout
    /// has no by-hash.
    #[test]
    fn dists_layout_keeps_by_hash_copies_one_generation_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = dists(dir.path(), "trixie");
        let by_hash = dir
            .path()
            .join("dists/trixie/main/binary-amd64/by-hash/SHA512");
        let copies = || {
            let mut v: Vec<String> = fs::read_dir(&by_hash)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let mut generations = Vec::new();
        for (now, pkgs) in [
            (10, "Package: a\n\n"),
            (11, "Package: b\n\n"),
            (12, "Package: c\n\n"),
        ] {
            opts.now = now;
            publish(&opts, pkgs.as_bytes()).unwrap();
            let rel = fs::read_to_string(dir.path().join("dists/trixie/Release")).unwrap();
            assert!(rel.contains("\nAcquire-By-Hash: yes\n"), "{rel}");
            let sums = parse_release(rel.as_bytes()).unwrap().sums;
            let this: Vec<String> = sums
                .iter()
                .filter(|s| s.path.starts_with("main/binary-amd64/"))
                .map(|s| {
                    let copy = fs::read(by_hash.join(&s.sums[3])).unwrap();
                    let canonical =
                        fs::read(dir.path().join("dists/trixie").join(&s.path)).unwrap();
                    assert_eq!(copy, canonical, "{}", s.path);
                    s.sums[3].clone()
                })
                .collect();
            assert_eq!(this.len(), 2, "Packages and Packages.gz");
            generations.push(this);
        }
        let mut want: Vec<String> = generations[1]
            .iter()
            .chain(&generations[2])
            .cloned()
            .collect();
        want.sort();
        assert_eq!(
            copies(),
            want,
            "the current and the previous generation only"
        );
        // unchanged: nothing written
        assert!(matches!(
            publish(&opts, b"Package: c\n\n").unwrap(),
            Published::Unchanged
        ));

        let flat = tempfile::tempdir().unwrap();
        let opts = RepoOptions {
            out: flat.path().to_path_buf(),
            now: 1,
            ..RepoOptions::default()
        };
        publish(&opts, b"Package: a\n\n").unwrap();
        assert!(
            !fs::read_to_string(flat.path().join("Release"))
                .unwrap()
                .contains("By-Hash")
        );
        assert!(!flat.path().join("by-hash").exists());
    }

    #[test]
    fn dists_layout_lists_every_arch() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = RepoOptions {
            xz: true,
            ..dists(dir.path(), "stable")
        };
        publish(&opts, b"Package: a\n\n").unwrap();
        opts.arch = Some("arm64".into());
        publish(&opts, b"Package: b\n\n").unwrap();
        let rel = fs::read_to_string(dir.path().join("dists/stable/Release")).unwrap();
        assert!(rel.contains("Suite: stable\n"), "{rel}");
        assert!(
            rel.contains("Architectures: amd64 arm64\nComponents: main\n"),
            "{rel}"
        );
        assert!(rel.contains(" main/binary-amd64/Packages.xz\n"), "{rel}");
        assert!(rel.contains(" main/binary-arm64/Packages.gz\n"), "{rel}");
    }
}
