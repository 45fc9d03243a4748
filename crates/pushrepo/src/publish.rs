//! Publishing: read the dist from the store, merge, and write in the order
//! that keeps every reader's view whole.
//!
//! 1. Read `InRelease` (or `Release`) and, through the by-hash copies it
//!    names, the Packages indexes the new .debs go into. Decide what
//!    changes; when nothing does, stop here: no write at all.
//! 2. Probe that the store honours conditional writes, take the lock, and
//!    read again under it (the ETags read now are what every later
//!    overwrite is conditional on).
//! 3. Write: pool files (create-only), `by-hash/SHA512/<hex>` copies of the
//!    new indexes (and of the indexes an older Release listed without
//!    SHA512, which the new Release lists with all four hashes), the
//!    canonical indexes, `Release` and `Release.gpg`, and
//!    `InRelease` last, conditional on the ETag read in 2. A reader that
//!    fetched the old InRelease still finds everything it names, since
//!    nothing it names is overwritten or deleted.
//! 4. Delete the by-hash and pool files that left the index more than
//!    `--grace` ago (the list of those and when they left is
//!    `dists/<dist>/pushrepo-pending`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::PathBuf;
use std::time::Duration;

use debpipe_core::io::gzip9n;

use crate::lock::{self, Lock, LockOptions, unix_now};
use crate::{Error, Result};
use debpipe_repo::gpg::{Signed, Signer};
use debpipe_repo::packages::{self as index, Added, Entry};
use debpipe_repo::publish::{self, PoolFile, Publication, raced};
use debpipe_repo::release::{self, IndexSum as Sum, Release, ReleaseFields, sha256_hex};
use debpipe_repo::store::{Put, Store, Written};

/// The fields of a dist's Release that the publisher chooses.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    /// `Origin`
    pub origin: Option<String>,
    /// `Label`
    pub label: Option<String>,
    /// `Suite` and `Codename`
    pub dist: String,
}

/// `main/binary-amd64/Packages` -> (`main`, `amd64`).
fn component_arch(path: &str) -> Option<(&str, &str)> {
    let mut parts = path.split('/');
    let comp = parts.next()?;
    let arch = parts.next()?.strip_prefix("binary-")?;
    Some((comp, arch))
}

/// Render the dist's Release for `sums` (sorted by path here), with
/// `Acquire-By-Hash: yes`. Architectures and Components are those of the
/// listed indexes.
pub fn render_release(fields: &Fields, date: i64, sums: &[Sum]) -> String {
    let mut sums = sums.to_vec();
    sums.sort_by(|a, b| a.path.cmp(&b.path));
    let mut archs: Vec<&str> = Vec::new();
    let mut comps: Vec<&str> = Vec::new();
    for s in &sums {
        if let Some((c, a)) = component_arch(&s.path) {
            if !comps.contains(&c) {
                comps.push(c);
            }
            if !archs.contains(&a) {
                archs.push(a);
            }
        }
    }
    archs.sort_unstable();
    let all = ReleaseFields {
        origin: fields.origin.clone(),
        label: fields.label.clone(),
        suite: Some(fields.dist.clone()),
        codename: Some(fields.dist.clone()),
        architectures: Some(archs.join(" ")),
        components: Some(comps.join(" ")),
        acquire_by_hash: true,
        ..ReleaseFields::default()
    };
    release::render_release(&all, &debpipe_core::date::format(date), &sums)
}

/// What to publish where.
#[derive(Debug, Clone)]
pub struct Options {
    /// `dists/<dist>`
    pub dist: String,
    /// The component the packages go in.
    pub component: String,
    /// Keep this many versions of each package (all when `None`).
    pub keep: Option<usize>,
    /// How long files that left the index stay.
    pub grace: Duration,
    /// Sign with this gpg key (InRelease and Release.gpg).
    pub sign_key: Option<String>,
    /// Release fields.
    pub fields: Fields,
    /// The lock.
    pub lock: LockOptions,
}

/// A .deb to publish.
#[derive(Debug, Clone)]
pub struct Deb {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its stanza (with the pool key as Filename).
    pub entry: Entry,
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was already there: nothing written.
    Unchanged {
        /// Packages listed in the indexes looked at.
        listed: usize,
    },
    /// A new publication.
    Published {
        /// Packages added.
        added: usize,
        /// Packages pruned from the index by `--keep`.
        pruned: usize,
        /// Packages listed in the indexes written.
        listed: usize,
        /// Objects written (lock and probe not counted).
        writes: usize,
        /// Objects deleted after their grace period.
        deleted: usize,
        /// Holder of the expired lock we took over.
        took_over: Option<String>,
    },
}

/// `dists/<dist>/` keys.
fn dist_key(opts: &Options, rel: &str) -> String {
    format!("dists/{}/{rel}", opts.dist)
}

fn pending_key(opts: &Options) -> String {
    dist_key(opts, "pushrepo-pending")
}

/// Files that left the index, and since when: `<unix-time> <key>` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending(pub BTreeMap<String, i64>);

impl Pending {
    /// Read the list (bad lines are skipped).
    pub fn parse(text: &[u8]) -> Self {
        let mut m = BTreeMap::new();
        for line in String::from_utf8_lossy(text).lines() {
            if let Some((t, k)) = line.split_once(' ')
                && let Ok(t) = t.parse()
            {
                m.insert(k.to_string(), t);
            }
        }
        Self(m)
    }

    /// The list's text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (k, t) in &self.0 {
            let _ = writeln!(s, "{t} {k}");
        }
        s
    }

    /// Note `key` as unreferenced since `now` (keeping an earlier time).
    pub fn add(&mut self, key: String, now: i64) {
        self.0.entry(key).or_insert(now);
    }
}

/// One Packages index of the dist, as read.
#[derive(Debug, Clone, Default)]
struct ArchIndex {
    entries: Vec<Entry>,
    /// The bytes the Release listed (None: not listed).
    old: Option<Vec<u8>>,
    /// ETags of the canonical files (for the conditional overwrite).
    etag_packages: Option<String>,
    etag_gz: Option<String>,
}

/// The dist as read from the store.
#[derive(Debug, Clone, Default)]
struct Remote {
    inrelease_etag: Option<String>,
    release_etag: Option<String>,
    release_gpg_etag: Option<String>,
    release: Release,
    /// Indexes the Release listed without all four hashes (an older
    /// pushrepo's), read back: their new sums and bytes.
    upgraded: Vec<(Sum, Vec<u8>)>,
    indexes: BTreeMap<String, ArchIndex>,
    pending: Pending,
    pending_etag: Option<String>,
}

fn index_path(opts: &Options, arch: &str, name: &str) -> String {
    format!("{}/binary-{arch}/{name}", opts.component)
}

/// Read what the dist's Release names for the architectures in `archs`.
fn read_remote(store: &dyn Store, opts: &Options, archs: &[String]) -> Result<Remote> {
    let mut r = Remote::default();
    let inrelease = store.get(&dist_key(opts, "InRelease"))?;
    let release = store.get(&dist_key(opts, "Release"))?;
    r.inrelease_etag = inrelease.as_ref().map(|o| o.etag.clone());
    r.release_etag = release.as_ref().map(|o| o.etag.clone());
    r.release_gpg_etag = store.head(&dist_key(opts, "Release.gpg"))?;
    if inrelease.is_some() && opts.sign_key.is_none() {
        return Err(Error::Usage(format!(
            "{} exists: the repository is signed; give --sign-key",
            store.url(&dist_key(opts, "InRelease"))
        )));
    }
    if let Some(o) = inrelease.as_ref().or(release.as_ref()) {
        let name = if inrelease.is_some() {
            "InRelease"
        } else {
            "Release"
        };
        r.release = release::parse_release(&o.data)
            .map_err(|e| Error::file(store.url(&dist_key(opts, name)), e))?;
        // Only indexes with a SHA256 can be checked when read.
        r.release.sums.retain(|s| !s.sha256().is_empty());
        for sum in r.release.sums.iter().filter(|s| !s.is_complete()) {
            let data = read_checked(store, opts, sum)?;
            r.upgraded.push((Sum::of(sum.path.clone(), &data), data));
        }
    }
    for arch in archs {
        let mut ix = ArchIndex {
            etag_packages: store.head(&dist_key(opts, &index_path(opts, arch, "Packages")))?,
            etag_gz: store.head(&dist_key(opts, &index_path(opts, arch, "Packages.gz")))?,
            ..ArchIndex::default()
        };
        if let Some(data) = read_listed_index(store, opts, &r.release.sums, arch)? {
            let name = store.url(&dist_key(opts, &index_path(opts, arch, "Packages")));
            ix.entries = index::parse_packages(&data).map_err(|e| Error::file(&name, e))?;
            ix.old = Some(data);
        }
        r.indexes.insert(arch.clone(), ix);
    }
    if let Some(o) = store.get(&pending_key(opts))? {
        r.pending = Pending::parse(&o.data);
        r.pending_etag = Some(o.etag);
    }
    Ok(r)
}

/// The Packages index of `arch` exactly as the Release lists it: through
/// its by-hash copy, else the canonical file, checked against the SHA256.
fn read_listed_index(
    store: &dyn Store,
    opts: &Options,
    sums: &[Sum],
    arch: &str,
) -> Result<Option<Vec<u8>>> {
    for (name, gz) in [("Packages", false), ("Packages.gz", true)] {
        let path = index_path(opts, arch, name);
        let Some(sum) = sums.iter().find(|s| s.path == path) else {
            continue;
        };
        let data = read_checked(store, opts, sum)?;
        if !gz {
            return Ok(Some(data));
        }
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&data[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::file(store.url(&dist_key(opts, &path)), e.to_string()))?;
        return Ok(Some(out));
    }
    Ok(None)
}

/// The index `sum` names, through its by-hash copy (under the strongest
/// hash listed), else the canonical file, checked against the SHA256.
fn read_checked(store: &dyn Store, opts: &Options, sum: &Sum) -> Result<Vec<u8>> {
    for key in [dist_key(opts, &sum.by_hash()), dist_key(opts, &sum.path)] {
        if let Some(o) = store.get(&key)?
            && sha256_hex(&o.data) == sum.sha256()
        {
            return Ok(o.data);
        }
    }
    Err(Error::file(
        store.url(&dist_key(opts, &sum.path)),
        format!(
            "neither it nor its by-hash copy has the SHA256 {} the Release lists \
             (changed by something other than pushrepo, or pruned by a publisher \
             with --grace 0 meanwhile: run again)",
            sum.sha256()
        ),
    ))
}

/// One index to write.
#[derive(Debug, Clone)]
struct NewIndex {
    arch: String,
    packages: Vec<u8>,
    gz: Vec<u8>,
}

/// What a publish will do.
#[derive(Debug, Clone, Default)]
struct Plan {
    /// Pool keys to create, with the index of their .deb.
    pool: Vec<(String, usize)>,
    indexes: Vec<NewIndex>,
    /// by-hash copies of indexes listed before without SHA512: key, bytes.
    upgraded: Vec<(String, Vec<u8>)>,
    sums: Vec<Sum>,
    pending: Pending,
    /// Keys to delete now (their grace is over).
    due: Vec<String>,
    added: usize,
    pruned: usize,
    listed: usize,
}

impl Plan {
    fn unchanged(&self) -> bool {
        self.pool.is_empty() && self.indexes.is_empty() && self.due.is_empty()
    }
}

/// The architectures the .debs go into (`all` into `binary-all`).
fn target_archs(debs: &[Deb]) -> Vec<String> {
    let mut a: Vec<String> = debs.iter().map(|d| d.entry.arch.clone()).collect();
    a.sort();
    a.dedup();
    a
}

fn plan(
    store: &dyn Store,
    opts: &Options,
    remote: &Remote,
    debs: &[Deb],
    now: i64,
) -> Result<Plan> {
    let mut p = Plan {
        pending: remote.pending.clone(),
        ..Plan::default()
    };
    let mut sums: Vec<Sum> = remote.release.sums.clone();
    for (arch, ix) in &remote.indexes {
        let mut entries = ix.entries.clone();
        let mut new_keys: Vec<(String, usize)> = Vec::new();
        for (i, d) in debs
            .iter()
            .enumerate()
            .filter(|(_, d)| &d.entry.arch == arch)
        {
            match index::add(&mut entries, d.entry.clone()) {
                Added::New => new_keys.push((d.entry.filename.clone(), i)),
                Added::Same => {}
                Added::Different(listed) => {
                    return Err(Error::file(
                        store.url(&d.entry.filename),
                        format!(
                            "already published with different contents (SHA256 {listed}); \
                             {} has SHA256 {}: give it a new version",
                            d.path.display(),
                            d.entry.sha256
                        ),
                    ));
                }
            }
        }
        if let Some(keep) = opts.keep {
            for gone in index::retain_newest(&mut entries, keep) {
                if new_keys.iter().any(|(k, _)| *k == gone.filename) {
                    new_keys.retain(|(k, _)| *k != gone.filename);
                } else {
                    p.pruned += 1;
                    if !entries.iter().any(|e| e.filename == gone.filename) {
                        p.pending.add(gone.filename, now);
                    }
                }
            }
        }
        index::sort(&mut entries);
        p.listed += entries.len();
        p.added += new_keys.len();
        p.pool.extend(new_keys);
        let packages = index::render(&entries);
        if ix.old.as_deref() == Some(packages.as_slice()) {
            continue;
        }
        // The old indexes of this directory leave the Release: their
        // by-hash copies go after the grace period.
        let dir = format!("{}/binary-{arch}/", opts.component);
        for old in sums
            .iter()
            .filter(|s| s.path.starts_with(&dir) && !s.path[dir.len()..].contains('/'))
        {
            p.pending.add(dist_key(opts, &old.by_hash()), now);
        }
        sums.retain(|s| !s.path.starts_with(&dir) || s.path[dir.len()..].contains('/'));
        let gz = gzip9n(&packages);
        sums.push(Sum::of(index_path(opts, arch, "Packages"), &packages));
        sums.push(Sum::of(index_path(opts, arch, "Packages.gz"), &gz));
        p.indexes.push(NewIndex {
            arch: arch.clone(),
            packages,
            gz,
        });
    }
    // A new publication lists every index with all four hashes: those an
    // older Release listed without SHA512 get their by-hash/SHA512 copy,
    // and their old by-hash copy leaves after the grace period.
    if !p.pool.is_empty() || !p.indexes.is_empty() {
        for s in sums.iter_mut().filter(|s| !s.is_complete()) {
            if let Some((new, data)) = remote.upgraded.iter().find(|(n, _)| n.path == s.path) {
                p.pending.add(dist_key(opts, &s.by_hash()), now);
                p.upgraded
                    .push((dist_key(opts, &new.by_hash()), data.clone()));
                s.clone_from(new);
            }
        }
    }
    // Files listed again are no longer pending.
    let by_hash: Vec<String> = sums.iter().map(|s| dist_key(opts, &s.by_hash())).collect();
    p.pending
        .0
        .retain(|k, _| !by_hash.contains(k) && !p.pool.iter().any(|(pk, _)| pk == k));
    let grace = i64::try_from(opts.grace.as_secs()).unwrap_or(i64::MAX);
    p.due = p
        .pending
        .0
        .iter()
        .filter(|(_, t)| t.saturating_add(grace) <= now)
        .map(|(k, _)| k.clone())
        .collect();
    p.sums = sums;
    Ok(p)
}

/// `Error::File` with `more` appended to its reason (other errors as they are).
fn explain(e: Error, more: &str) -> Error {
    match e {
        Error::File { path, reason } => Error::File {
            path,
            reason: format!("{reason}; {more}"),
        },
        other => other,
    }
}

const BEFORE_INRELEASE: &str = "publish stopped before the new InRelease: readers still see the \
     previous publication; run pushrepo again to complete it";

const AFTER_INRELEASE: &str = "the new publication is complete; removing files past their grace \
     period stopped, the next publish goes on with it";

/// Delete the due files no index names; returns how many, and the pending
/// list without them.
fn delete_due(
    store: &dyn Store,
    opts: &Options,
    plan: &Plan,
    held: &Lock<'_>,
) -> Result<(usize, Pending)> {
    let mut pending = plan.pending.clone();
    let mut deleted = 0;
    if !plan.due.is_empty() {
        let still = referenced_elsewhere(store, opts, plan)?;
        for key in &plan.due {
            if !still.contains(key) {
                held.ensure_held()?;
                store.delete(key)?;
                deleted += 1;
            }
            pending.0.remove(key);
        }
    }
    Ok((deleted, pending))
}

/// Publish `debs`. `notify` gets the status lines.
pub fn publish(
    store: &dyn Store,
    opts: &Options,
    debs: &[Deb],
    notify: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    let archs = target_archs(debs);
    let remote = read_remote(store, opts, &archs)?;
    let first = plan(store, opts, &remote, debs, unix_now())?;
    if first.unchanged() {
        return Ok(Outcome::Unchanged {
            listed: first.listed,
        });
    }
    lock::probe(store, &probe_tag(&opts.lock.holder))?;
    let held = lock::acquire(store, &opts.lock, notify)?;
    if let Some(prev) = &held.took_over {
        notify(&format!(
            "took over the expired lock {} of {prev}",
            store.url(lock::LOCK_KEY)
        ));
    }
    let prev = held.took_over.clone();
    let out = held.renewing(|| publish_locked(store, opts, debs, &archs, &held));
    let released = held.release();
    let mut out = out?;
    released?;
    if let Outcome::Published { took_over, .. } = &mut out {
        *took_over = prev;
    }
    Ok(out)
}

/// A probe key unique to this run.
fn probe_tag(holder: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let safe: String = holder
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{safe}.{nanos}")
}

fn publish_locked(
    store: &dyn Store,
    opts: &Options,
    debs: &[Deb],
    archs: &[String],
    held: &Lock<'_>,
) -> Result<Outcome> {
    let now = unix_now();
    let remote = read_remote(store, opts, archs)?;
    let plan = plan(store, opts, &remote, debs, now)?;
    if plan.unchanged() {
        return Ok(Outcome::Unchanged {
            listed: plan.listed,
        });
    }
    // Everything to write is made before the first write: a failure here
    // (gpg, say) writes nothing.
    let date = remote.release.date.map_or(now, |d| d.max(now));
    let release = render_release(&opts.fields, date, &plan.sums);
    // Only deletions due (nothing new to list): the publication stays as it is.
    let publishing = !plan.pool.is_empty() || !plan.indexes.is_empty();
    let signed = match &opts.sign_key {
        Some(key) if publishing => {
            let signer = Signer {
                key: key.clone(),
                homedir: None,
            };
            let dir = PathBuf::from(store.url(&dist_key(opts, "")));
            Some(signer.sign_release(release.as_bytes(), &dir)?)
        }
        _ => None,
    };
    let mut writes = 0;
    if publishing {
        let p = publication(opts, debs, &remote, &plan, &release, signed.as_ref());
        writes += publish::write(store, &p, &|| held.ensure_held())
            .map_err(|e| explain(e, BEFORE_INRELEASE))?
            .len();
    }

    // After the grace period: delete what no index names any more.
    let (deleted, pending) =
        delete_due(store, opts, &plan, held).map_err(|e| explain(e, AFTER_INRELEASE))?;
    if pending != remote.pending {
        let key = pending_key(opts);
        let text = pending.render();
        held.ensure_held()
            .map_err(|e| explain(e, AFTER_INRELEASE))?;
        match store
            .put(
                &key,
                text.as_bytes(),
                &Put::expecting(remote.pending_etag.as_deref()),
            )
            .map_err(|e| explain(e, AFTER_INRELEASE))?
        {
            Written::Done(_) => writes += 1,
            Written::Conflict => return Err(explain(raced(store, &key), AFTER_INRELEASE)),
        }
    }
    Ok(Outcome::Published {
        added: plan.added,
        pruned: plan.pruned,
        listed: plan.listed,
        writes,
        deleted,
        took_over: None,
    })
}

/// Steps 1 to 5 (pool, by-hash, canonical indexes, Release and
/// Release.gpg, InRelease), for debpipe-repo to write in its order; each
/// overwrite is conditional on the ETag read under the lock.
fn publication<'a>(
    opts: &Options,
    debs: &'a [Deb],
    remote: &Remote,
    plan: &'a Plan,
    release: &'a str,
    signed: Option<&'a Signed>,
) -> Publication<'a> {
    let mut by_hash = Vec::new();
    let mut indexes = Vec::new();
    for ix in &plan.indexes {
        let old = &remote.indexes[&ix.arch];
        for (name, data, etag) in [
            ("Packages", &ix.packages, &old.etag_packages),
            ("Packages.gz", &ix.gz, &old.etag_gz),
        ] {
            let sum = Sum::of(index_path(opts, &ix.arch, name), data);
            by_hash.push((dist_key(opts, &sum.by_hash()), data.as_slice()));
            indexes.push((
                dist_key(opts, &sum.path),
                data.as_slice(),
                Put::expecting(etag.as_deref()),
            ));
        }
    }
    by_hash.extend(plan.upgraded.iter().map(|(k, d)| (k.clone(), d.as_slice())));
    Publication {
        pool: plan
            .pool
            .iter()
            .map(|(key, i)| PoolFile {
                key: key.clone(),
                data: &debs[*i].bytes,
                from: &debs[*i].path,
            })
            .collect(),
        by_hash,
        indexes,
        release_dir: dist_key(opts, ""),
        release: release.as_bytes(),
        signed,
        release_puts: [
            &remote.release_etag,
            &remote.release_gpg_etag,
            &remote.inrelease_etag,
        ]
        .map(|etag| Put::expecting(etag.as_deref())),
        remove: Vec::new(),
    }
}

/// The due pool keys that an index of any dist (other than the ones just
/// written) still names: those stay. Each other index is read both as its
/// Release names it (the by-hash copy: what readers see) and as the
/// canonical file (what a publish that stopped midway may have written).
fn referenced_elsewhere(store: &dyn Store, opts: &Options, plan: &Plan) -> Result<Vec<String>> {
    let due_pool: Vec<&String> = plan.due.iter().filter(|k| k.starts_with("pool/")).collect();
    if due_pool.is_empty() {
        return Ok(Vec::new());
    }
    let mine: Vec<String> = plan
        .indexes
        .iter()
        .map(|ix| dist_key(opts, &index_path(opts, &ix.arch, "Packages")))
        .collect();
    let mut indexes: Vec<(String, Vec<u8>)> = plan
        .indexes
        .iter()
        .map(|ix| (String::new(), ix.packages.clone()))
        .collect();
    for key in store.list("dists/")? {
        if key.contains("/by-hash/") {
            continue;
        }
        if key.ends_with("/Packages") && !mine.contains(&key) {
            if let Some(o) = store.get(&key)? {
                indexes.push((key, o.data));
            }
        } else if let Some(dir) = key
            .strip_suffix("/InRelease")
            .or_else(|| key.strip_suffix("/Release"))
        {
            let Some(o) = store.get(&key)? else { continue };
            let listed =
                release::parse_release(&o.data).map_err(|e| Error::file(store.url(&key), e))?;
            for sum in listed.sums {
                let canonical = format!("{dir}/{}", sum.path);
                if sum.path.ends_with("/Packages") && !mine.contains(&canonical) {
                    let by_hash = format!("{dir}/{}", sum.by_hash());
                    if let Some(o) = store.get(&by_hash)? {
                        indexes.push((by_hash, o.data));
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    for (key, data) in indexes {
        let entries = index::parse_packages(&data).map_err(|e| Error::file(store.url(&key), e))?;
        found.extend(entries.into_iter().map(|e| e.filename));
    }
    Ok(due_pool
        .into_iter()
        .filter(|k| found.contains(k))
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use debpipe_repo::store::mem::MemStore;

    fn opts() -> Options {
        Options {
            dist: "stable".into(),
            component: "main".into(),
            keep: None,
            grace: Duration::from_hours(1),
            sign_key: None,
            fields: Fields {
                dist: "stable".into(),
                ..Fields::default()
            },
            lock: LockOptions {
                holder: "test".into(),
                ttl: Duration::from_secs(30),
                wait: Duration::ZERO,
            },
        }
    }

    /// [`opts`] with `--keep n`.
    fn keeping(n: usize) -> Options {
        Options {
            keep: Some(n),
            ..opts()
        }
    }

    fn deb(p: &str, v: &str, bytes: &str) -> Deb {
        let filename = index::pool_key("main", p, v, "amd64");
        let text = format!(
            "Package: {p}\nVersion: {v}\nArchitecture: amd64\nFilename: {filename}\nSize: {}\nSHA256: {}\n",
            bytes.len(),
            sha256_hex(bytes.as_bytes())
        );
        Deb {
            path: format!("{p}_{v}_amd64.deb").into(),
            bytes: bytes.as_bytes().to_vec(),
            entry: index::parse_packages(text.as_bytes()).unwrap().remove(0),
        }
    }

    fn listed(s: &MemStore) -> Vec<String> {
        let rel = release::parse_release(&s.data("dists/stable/Release").unwrap()).unwrap();
        let sum = rel
            .sums
            .iter()
            .find(|x| x.path == "main/binary-amd64/Packages")
            .unwrap();
        let data = s.data(&format!("dists/stable/{}", sum.by_hash())).unwrap();
        assert_eq!(sha256_hex(&data), sum.sha256());
        index::parse_packages(&data)
            .unwrap()
            .iter()
            .map(|e| format!("{}={}", e.package, e.version))
            .collect()
    }

    fn go(s: &MemStore, o: &Options, debs: &[Deb]) -> Result<Outcome> {
        publish(s, o, debs, &mut |_| {})
    }

    #[test]
    fn merges_keeps_others_and_unchanged_writes_nothing() {
        let s = MemStore::default();
        go(&s, &opts(), &[deb("a", "1", "A1")]).unwrap();
        go(&s, &opts(), &[deb("b", "1", "B1")]).unwrap();
        assert_eq!(listed(&s), ["a=1", "b=1"]);
        assert_eq!(s.data("pool/main/a/a/a_1_amd64.deb").unwrap(), b"A1");
        let before = s.write_count();
        let out = go(&s, &opts(), &[deb("a", "1", "A1"), deb("b", "1", "B1")]).unwrap();
        assert_eq!(out, Outcome::Unchanged { listed: 2 });
        assert_eq!(s.write_count(), before, "no write at all");
        let release = String::from_utf8(s.data("dists/stable/Release").unwrap()).unwrap();
        assert!(release.contains("Acquire-By-Hash: yes"), "{release}");
        assert!(
            s.data("dists/stable/main/binary-amd64/Packages.gz")
                .is_some()
        );
    }

    #[test]
    fn same_version_other_bytes_is_an_error_naming_the_file() {
        let s = MemStore::default();
        go(&s, &opts(), &[deb("a", "1", "A1")]).unwrap();
        let before = s.write_count();
        let e = go(&s, &opts(), &[deb("a", "1", "other")])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("mem://pool/main/a/a/a_1_amd64.deb: already published"),
            "{e}"
        );
        assert!(e.contains("a_1_amd64.deb has SHA256"), "{e}");
        assert_eq!(s.write_count(), before);
        // A pool file not in the index (another dist, a failed run) is not replaced either.
        s.put("pool/main/c/c/c_1_amd64.deb", b"theirs", &Put::Create)
            .unwrap();
        let e = go(&s, &opts(), &[deb("c", "1", "ours")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("pool files are never replaced"), "{e}");
        assert!(
            e.contains("readers still see the previous publication"),
            "{e}"
        );
        assert_eq!(listed(&s), ["a=1"]);
    }

    #[test]
    fn write_order_ends_with_release_and_by_hash_comes_first() {
        // The MemStore's etag counter orders the writes.
        let s = MemStore::default();
        go(&s, &opts(), &[deb("a", "1", "A1")]).unwrap();
        let seq = |k: &str| s.objects.lock().unwrap()[k].1;
        let rel = release::parse_release(&s.data("dists/stable/Release").unwrap()).unwrap();
        let pool = seq("pool/main/a/a/a_1_amd64.deb");
        for sum in &rel.sums {
            let by_hash = seq(&format!("dists/stable/{}", sum.by_hash()));
            let canonical = seq(&format!("dists/stable/{}", sum.path));
            assert!(pool < by_hash && by_hash < canonical, "{sum:?}");
            assert!(canonical < seq("dists/stable/Release"));
        }
    }

    /// Turn the dist into what pushrepo 0.1 wrote: a Release with `MD5Sum`
    /// and `SHA256` only, and the by-hash copies under SHA256.
    fn make_old_style(s: &MemStore) {
        let rel = release::parse_release(&s.data("dists/stable/Release").unwrap()).unwrap();
        let mut text = String::from(
            "Suite: stable\nCodename: stable\nDate: Thu, 01 Jan 1970 00:00:10 UTC\n\
             Architectures: amd64\nComponents: main\nAcquire-By-Hash: yes\n",
        );
        for (name, i) in [("MD5Sum", 0), ("SHA256", 2)] {
            let _ = writeln!(text, "{name}:");
            for sum in &rel.sums {
                let _ = writeln!(text, " {} {:>16} {}", sum.sums[i], sum.size, sum.path);
            }
        }
        let mut objects = s.objects.lock().unwrap();
        for sum in &rel.sums {
            let new = format!("dists/stable/{}", sum.by_hash());
            let (data, n) = objects.remove(&new).unwrap();
            let dir = sum.path.rsplit_once('/').unwrap().0;
            let old = format!("dists/stable/{dir}/by-hash/SHA256/{}", sum.sha256());
            objects.insert(old, (data, n));
        }
        objects.insert("dists/stable/Release".into(), (text.into_bytes(), 999));
    }

    #[test]
    fn an_old_release_with_by_hash_under_sha256_is_read_and_upgraded() {
        let s = MemStore::default();
        go(&s, &opts(), &[deb("a", "1", "A1")]).unwrap();
        make_old_style(&s);
        let old_keys: Vec<String> = s
            .keys()
            .into_iter()
            .filter(|k| k.contains("/by-hash/SHA256/"))
            .collect();
        assert_eq!(old_keys.len(), 2);
        // Nothing new: still nothing written, the old Release stays.
        let before = s.write_count();
        assert!(matches!(
            go(&s, &opts(), &[deb("a", "1", "A1")]).unwrap(),
            Outcome::Unchanged { .. }
        ));
        assert_eq!(s.write_count(), before);
        // A package for another architecture: amd64's index is not
        // rewritten, but listed again with all four hashes and a copy
        // under by-hash/SHA512; the old copies stay for the grace period.
        let mut all = deb("doc", "1", "D1");
        all.entry.arch = "all".into();
        go(&s, &opts(), &[all]).unwrap();
        let text = String::from_utf8(s.data("dists/stable/Release").unwrap()).unwrap();
        let rel = release::parse_release(text.as_bytes()).unwrap();
        assert_eq!(rel.sums.len(), 4, "{text}");
        for sum in &rel.sums {
            assert!(sum.is_complete(), "{sum:?}");
            assert!(sum.by_hash().contains("/by-hash/SHA512/"));
            let copy = s.data(&format!("dists/stable/{}", sum.by_hash())).unwrap();
            assert_eq!(release::IndexSum::of(sum.path.clone(), &copy), *sum);
        }
        assert_eq!(listed(&s), ["a=1"]);
        let pending = Pending::parse(&s.data("dists/stable/pushrepo-pending").unwrap());
        for k in &old_keys {
            assert!(pending.0.contains_key(k), "{k} pending: {pending:?}");
            assert!(s.data(k).is_some(), "{k} kept for the grace period");
        }
        // A new version merges into the upgraded index; with the grace
        // over, the SHA256 copies go.
        let mut o = opts();
        o.grace = Duration::ZERO;
        go(&s, &o, &[deb("a", "2", "A2")]).unwrap();
        assert_eq!(listed(&s), ["a=1", "a=2"]);
        assert!(old_keys.iter().all(|k| s.data(k).is_none()));
        assert!(!s.keys().iter().any(|k| k.contains("/by-hash/SHA256/")));
    }

    #[test]
    fn an_old_release_index_of_the_target_arch_merges() {
        let s = MemStore::default();
        go(&s, &opts(), &[deb("a", "1", "A1")]).unwrap();
        make_old_style(&s);
        go(&s, &opts(), &[deb("a", "2", "A2")]).unwrap();
        assert_eq!(listed(&s), ["a=1", "a=2"]);
        let rel = release::parse_release(&s.data("dists/stable/Release").unwrap()).unwrap();
        assert!(rel.sums.iter().all(release::IndexSum::is_complete));
    }

    #[test]
    fn keep_prunes_index_now_and_pool_after_grace() {
        let s = MemStore::default();
        let mut o = keeping(2);
        for v in ["1", "2", "3"] {
            go(&s, &o, &[deb("a", v, &format!("A{v}"))]).unwrap();
        }
        assert_eq!(listed(&s), ["a=2", "a=3"]);
        assert!(
            s.data("pool/main/a/a/a_1_amd64.deb").is_some(),
            "kept for the grace period"
        );
        let pending = Pending::parse(&s.data("dists/stable/pushrepo-pending").unwrap());
        assert!(pending.0.contains_key("pool/main/a/a/a_1_amd64.deb"));
        // Old by-hash copies are pending too, and still there.
        let old_by_hash: Vec<&String> = pending
            .0
            .keys()
            .filter(|k| k.contains("/by-hash/"))
            .collect();
        assert_eq!(old_by_hash.len(), 4, "{pending:?}");
        assert!(old_by_hash.iter().all(|k| s.data(k).is_some()));
        // Grace over: the next publish deletes them.
        o.grace = Duration::ZERO;
        go(&s, &o, &[deb("a", "4", "A4")]).unwrap();
        assert_eq!(listed(&s), ["a=3", "a=4"]);
        assert!(s.data("pool/main/a/a/a_1_amd64.deb").is_none());
        assert!(s.data("pool/main/a/a/a_2_amd64.deb").is_none());
        assert!(s.data("pool/main/a/a/a_3_amd64.deb").is_some());
        assert!(old_by_hash.iter().all(|k| s.data(k).is_none()));
        let rel = release::parse_release(&s.data("dists/stable/Release").unwrap()).unwrap();
        for sum in rel.sums {
            assert!(s.data(&format!("dists/stable/{}", sum.by_hash())).is_some());
        }
    }

    #[test]
    fn deletions_alone_leave_the_release_as_it_is() {
        let s = MemStore::default();
        let mut o = keeping(1);
        go(&s, &o, &[deb("a", "1", "A1")]).unwrap();
        go(&s, &o, &[deb("a", "2", "A2")]).unwrap();
        let release = s.data("dists/stable/Release").unwrap();
        o.grace = Duration::ZERO;
        let out = go(&s, &o, &[deb("a", "2", "A2")]).unwrap();
        assert!(
            matches!(
                out,
                Outcome::Published {
                    writes: 1,
                    deleted: 3,
                    added: 0,
                    ..
                }
            ),
            "pending list rewritten; the pool file and two by-hash copies deleted: {out:?}"
        );
        assert_eq!(s.data("dists/stable/Release").unwrap(), release);
        assert!(s.data("pool/main/a/a/a_1_amd64.deb").is_none());
        let before = s.write_count();
        let out = go(&s, &o, &[deb("a", "2", "A2")]).unwrap();
        assert_eq!(out, Outcome::Unchanged { listed: 1 });
        assert_eq!(s.write_count(), before);
    }

    /// A store that runs `hook` once, just before the first write of `key`.
    struct Before<'a> {
        inner: &'a MemStore,
        key: &'a str,
        hook: std::sync::Mutex<Option<Box<dyn FnOnce() + Send + 'a>>>,
    }

    impl Store for Before<'_> {
        fn url(&self, key: &str) -> String {
            self.inner.url(key)
        }
        fn get(&self, key: &str) -> Result<Option<debpipe_repo::store::Object>> {
            self.inner.get(key)
        }
        fn head(&self, key: &str) -> Result<Option<String>> {
            self.inner.head(key)
        }
        fn put(&self, key: &str, data: &[u8], mode: &Put) -> Result<Written> {
            if key == self.key
                && let Some(hook) = self.hook.lock().unwrap().take()
            {
                hook();
            }
            self.inner.put(key, data, mode)
        }
        fn delete(&self, key: &str) -> Result<()> {
            self.inner.delete(key)
        }
        fn list(&self, prefix: &str) -> Result<Vec<String>> {
            self.inner.list(prefix)
        }
    }

    #[test]
    fn a_stalled_holder_cannot_overwrite_a_newer_publication() {
        // A stalls just before its final write; meanwhile its lock expires,
        // B takes it over and publishes. A's final write must fail.
        let s = MemStore::default();
        go(&s, &opts(), &[deb("base", "1", "B")]).unwrap();
        let stalled = Before {
            inner: &s,
            key: "dists/stable/Release",
            hook: std::sync::Mutex::new(Some(Box::new(|| {
                let etag = s.head(lock::LOCK_KEY).unwrap().unwrap();
                let expired = lock::LockBody {
                    holder: "test".into(),
                    expires: 1,
                };
                s.put(
                    lock::LOCK_KEY,
                    expired.render().as_bytes(),
                    &Put::Update(etag),
                )
                .unwrap();
                let mut b = opts();
                b.lock.holder = "b".into();
                let out = go(&s, &b, &[deb("b", "1", "Bb")]).unwrap();
                assert!(
                    matches!(
                        out,
                        Outcome::Published {
                            took_over: Some(_),
                            ..
                        }
                    ),
                    "{out:?}"
                );
            }))),
        };
        let e = publish(&stalled, &opts(), &[deb("a", "1", "A")], &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("dists/stable/Release: changed by another writer"),
            "{e}"
        );
        assert!(
            e.contains("readers still see the previous publication"),
            "{e}"
        );
        assert_eq!(listed(&s), ["b=1", "base=1"]);
        let canonical = s.data("dists/stable/main/binary-amd64/Packages").unwrap();
        let rel = release::parse_release(&s.data("dists/stable/Release").unwrap()).unwrap();
        assert!(
            rel.sums
                .iter()
                .any(|x| x.sha256() == sha256_hex(&canonical))
        );
    }

    #[test]
    fn a_pool_file_another_dist_lists_is_not_deleted() {
        let s = MemStore::default();
        let mut other = opts();
        other.dist = "other".into();
        other.fields.dist = "other".into();
        go(&s, &other, &[deb("a", "1", "A1")]).unwrap();
        let mut o = keeping(1);
        o.grace = Duration::ZERO;
        go(&s, &o, &[deb("a", "1", "A1")]).unwrap();
        go(&s, &o, &[deb("a", "2", "A2")]).unwrap();
        // stable pruned a=1 and its grace is over: the next publish would
        // delete it, but dists/other still lists it.
        go(&s, &o, &[deb("b", "1", "B1")]).unwrap();
        assert_eq!(listed(&s), ["a=2", "b=1"]);
        assert_eq!(s.data("pool/main/a/a/a_1_amd64.deb").unwrap(), b"A1");
        let pending = Pending::parse(&s.data("dists/stable/pushrepo-pending").unwrap_or_default());
        assert!(!pending.0.contains_key("pool/main/a/a/a_1_amd64.deb"));
    }

    #[test]
    fn arch_all_goes_to_binary_all_and_other_indexes_stay_listed() {
        let s = MemStore::default();
        go(&s, &opts(), &[deb("a", "1", "A1")]).unwrap();
        let mut all = deb("doc", "1", "D1");
        all.entry.arch = "all".into();
        go(&s, &opts(), &[all]).unwrap();
        let text = String::from_utf8(s.data("dists/stable/Release").unwrap()).unwrap();
        assert!(text.contains("Architectures: all amd64\n"), "{text}");
        let paths: Vec<String> = release::parse_release(text.as_bytes())
            .unwrap()
            .sums
            .into_iter()
            .map(|x| x.path)
            .collect();
        assert_eq!(
            paths,
            [
                "main/binary-all/Packages",
                "main/binary-all/Packages.gz",
                "main/binary-amd64/Packages",
                "main/binary-amd64/Packages.gz"
            ]
        );
        assert_eq!(listed(&s), ["a=1"], "amd64 index untouched");
    }

    #[test]
    fn an_older_version_than_kept_is_not_uploaded() {
        let s = MemStore::default();
        let o = keeping(1);
        go(&s, &o, &[deb("a", "2", "A2")]).unwrap();
        let out = go(&s, &o, &[deb("a", "1", "A1")]).unwrap();
        assert_eq!(out, Outcome::Unchanged { listed: 1 });
        assert!(s.data("pool/main/a/a/a_1_amd64.deb").is_none());
    }

    #[test]
    fn a_store_ignoring_conditions_is_refused_before_any_publish() {
        let s = MemStore::ignoring_conditions();
        let e = go(&s, &opts(), &[deb("a", "1", "A1")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ignores conditional writes"), "{e}");
        assert!(s.keys().is_empty(), "{:?}", s.keys());
    }

    #[test]
    fn signed_repository_needs_the_key() {
        let s = MemStore::default();
        s.put("dists/stable/InRelease", b"x", &Put::Create).unwrap();
        let e = go(&s, &opts(), &[deb("a", "1", "A1")]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--sign-key"), "{e}");
    }
}
