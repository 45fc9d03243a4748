//! The collected-static cache (`--cache DIR`): collectstatic runs Django
//! (1.5 s on a Wagtail project), yet a version bump changes none of its
//! inputs. So the collected tree is kept under a key of what it is made
//! from, and a later build with the same key hard-links it into the stage
//! instead of running python.
//!
//! The key is the SHA-256 of:
//! - this tool's version, its collectstatic driver and the form of the
//!   kept tree (collected, then precompressed: entries hold the `.gz`
//!   files too);
//! - the settings overlay, the build steps' environment (the spec's `env`
//!   with `build_env` over it, the staged `PYTHONPATH`), the project root,
//!   the python and root;
//! - every file of the staged app: path, mode and content;
//! - every entry of the staged venv: path, mode, size and mtime (it is
//!   hard-linked from mkvenv's build, so a new venv has new mtimes).
//!
//! With `build_commands` the cache is not used at all. They run after
//! collectstatic, may write anywhere in the stage (`compilemessages` into
//! the app, `compress` into the static tree), and a file they rewrote in
//! place in a linked tree would change the entry: a key that named them
//! could not stand for what they write, so collectstatic simply runs.
//!
//! Static files found outside the app and the venv (an absolute
//! `STATICFILES_DIRS` entry elsewhere) are not in the key.
//!
//! The environment python inherits and the targets of symlinks in the app
//! are not in the key either: settings that read the environment, or static
//! files reached through a symlink, can change without a new key.
//!
//! An entry is made in a temporary directory and renamed into place, with a
//! manifest of its files that a restored tree must match (else the entry is
//! removed and collectstatic runs), so neither a killed build nor a prune
//! running beside a restore gives a partial tree. Only the newest [`KEEP`]
//! entries (named by their 64-hex key; nothing else in DIR is touched) are
//! kept. Entries are hard links of the stage's files (copies when DIR is on
//! another file system); nothing in the flow writes into a staged static
//! file after stage-django. A cache that cannot be read or written costs
//! time, never the build.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Entries kept: the newest, by when they were made or last used.
pub const KEEP: usize = 8;

/// Feed the tree at `dir` to `h`, in a stable order: each entry's path
/// relative to `dir` and mode, and for regular files their content
/// (`content`) or size and mtime. `skip`, and its dot-named siblings
/// (`.NAME.*`), are left out.
pub fn hash_tree(h: &mut Sha256, dir: &Path, content: bool, skip: &Path) -> io::Result<()> {
    let skip_name = skip.file_name().map(|n| {
        let mut dotted = b".".to_vec();
        dotted.extend_from_slice(n.as_encoded_bytes());
        dotted.push(b'.');
        dotted
    });
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> = fs::read_dir(dir.join(&rel))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort();
        // Depth first, in name order: subdirectories are pushed in reverse.
        let mut subdirs = Vec::new();
        for name in names {
            let rel = rel.join(&name);
            let path = dir.join(&rel);
            if path == skip
                || (path.parent() == skip.parent()
                    && skip_name
                        .as_ref()
                        .is_some_and(|d| name.as_encoded_bytes().starts_with(d)))
            {
                continue;
            }
            let meta = fs::symlink_metadata(&path)?;
            h.update(rel.as_os_str().as_encoded_bytes());
            h.update([0]);
            h.update(meta.mode().to_le_bytes());
            if meta.is_dir() {
                subdirs.push(rel);
            } else if meta.file_type().is_symlink() {
                h.update(fs::read_link(&path)?.as_os_str().as_encoded_bytes());
            } else if content {
                io::copy(&mut fs::File::open(&path)?, h)?;
            } else {
                h.update(meta.size().to_le_bytes());
                h.update(meta.mtime().to_le_bytes());
                h.update(meta.mtime_nsec().to_le_bytes());
            }
            h.update([0xff]);
        }
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

/// Make `to` (absent) a copy of the tree at `from` whose files are hard
/// links, through `to`'s temporary sibling.
pub fn link_tree(from: &Path, to: &Path) -> io::Result<()> {
    let tmp = sibling(to, "linking");
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    let r = link_into(from, &tmp).and_then(|()| fs::rename(&tmp, to));
    if r.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    r
}

fn link_into(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir(to)?;
    fs::set_permissions(to, fs::metadata(from)?.permissions())?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type()?;
        if ft.is_dir() {
            link_into(&src, &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else {
            match fs::hard_link(&src, &dst) {
                // The cache on another file system: a copy instead.
                Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                    fs::copy(&src, &dst)?;
                }
                r => r?,
            }
        }
    }
    Ok(())
}

/// Every file under `dir` with its size, sorted: what an entry holds, to
/// check a restored tree against.
fn manifest(dir: &Path) -> io::Result<String> {
    let mut lines = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(dir.join(&rel))? {
            let e = e?;
            let rel = rel.join(e.file_name());
            let meta = fs::symlink_metadata(dir.join(&rel))?;
            if meta.is_dir() {
                stack.push(rel);
            } else {
                lines.push(format!("{} {}", meta.size(), rel.display()));
            }
        }
    }
    lines.sort_unstable();
    Ok(lines.join("\n"))
}

/// Remove a cache entry: renamed out of the way first, so that no build
/// links from a half-removed tree.
fn discard(entry: &Path) {
    let dead = sibling(entry, &format!("dead.{}", std::process::id()));
    if fs::rename(entry, &dead).is_ok() {
        let _ = fs::remove_dir_all(dead);
    }
}

fn sibling(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "dir".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{what}"))
}

/// The cache directory `root`, holding collected trees by key.
#[derive(Debug)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// The cache at `root` (created when something is stored).
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    fn entry(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// The tree and message stored under `key`, linked into `dest`
    /// (absent); `None` when there is none, or it could not be linked, or
    /// the linked tree is not the one stored (its files and sizes, as the
    /// entry's manifest lists them: a file gone, from outside or by a
    /// prune running beside us). A bad entry is removed.
    pub fn restore(&self, key: &str, dest: &Path) -> Option<String> {
        let entry = self.entry(key);
        let said = fs::read_to_string(entry.join("said")).ok()?;
        let listed = fs::read_to_string(entry.join("manifest")).ok()?;
        // Mark it used first, so that a prune beside us spares it.
        let _ = fs::File::open(&entry).and_then(|f| f.set_modified(std::time::SystemTime::now()));
        let linked = link_tree(&entry.join("tree"), dest).is_ok();
        if linked && manifest(dest).is_ok_and(|m| m == listed) {
            return Some(said);
        }
        if linked {
            let _ = fs::remove_dir_all(dest);
        }
        discard(&entry);
        None
    }

    /// Store the tree at `tree` (hard links) and `said` under `key`, then
    /// keep only the newest [`KEEP`] entries.
    pub fn store(&self, key: &str, tree: &Path, said: &str) -> io::Result<()> {
        fs::create_dir_all(&self.root)?;
        let entry = self.entry(key);
        let tmp = sibling(&entry, &format!("{}.new", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        let made = fs::create_dir(&tmp)
            .and_then(|()| link_into(tree, &tmp.join("tree")))
            .and_then(|()| fs::write(tmp.join("manifest"), manifest(tree)?))
            .and_then(|()| fs::write(tmp.join("said"), said))
            .and_then(|()| fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)));
        match made.and_then(|()| fs::rename(&tmp, &entry)) {
            Ok(()) => {}
            // Another build stored the same key first: theirs is as good.
            Err(_) if entry.join("said").exists() => {
                let _ = fs::remove_dir_all(&tmp);
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        }
        self.prune()
    }

    /// Keep the newest [`KEEP`] entries. Only names this cache makes (64
    /// hex digits) are counted or removed, so DIR may be shared.
    fn prune(&self) -> io::Result<()> {
        let mut entries = Vec::new();
        for e in fs::read_dir(&self.root)?.flatten() {
            let name = e.file_name();
            let name = name.as_encoded_bytes();
            let ours = name.len() == 64 && debpipe_core::hex::is_lower(name);
            if let (true, Ok(used)) = (ours, e.metadata().and_then(|m| m.modified())) {
                entries.push((used, e.path()));
            }
        }
        entries.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
        for (_, path) in entries.into_iter().skip(KEEP) {
            discard(&path);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A collected static tree, `DIR/collected`, holding `files` (path,
    /// text).
    fn collected(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
        let tree = dir.join("collected");
        for (path, text) in files {
            debpipe_testkit::write(&tree.join(path), text);
        }
        tree
    }

    fn key_of(dir: &Path, content: bool) -> String {
        let mut h = Sha256::new();
        hash_tree(&mut h, dir, content, &dir.join("skipped")).unwrap();
        debpipe_core::hex::encode(&h.finalize())
    }

    #[test]
    fn the_key_sees_content_or_stat_changes() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("a/b")).unwrap();
        fs::write(d.path().join("a/b/f"), "one").unwrap();
        fs::write(d.path().join("a/g"), "x").unwrap();
        let (c0, s0) = (key_of(d.path(), true), key_of(d.path(), false));
        assert_eq!(c0, key_of(d.path(), true));
        // Same size, other bytes: content sees it; size and mtime may not.
        let f = d.path().join("a/b/f");
        let mtime = fs::metadata(&f).unwrap().modified().unwrap();
        fs::write(&f, "two").unwrap();
        fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_ne!(c0, key_of(d.path(), true));
        assert_eq!(s0, key_of(d.path(), false));
        // A touched file: stat sees it.
        fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(mtime + std::time::Duration::from_secs(1))
            .unwrap();
        let touched = key_of(d.path(), false);
        assert_ne!(s0, touched);
        // The skipped tree and its siblings are not seen.
        fs::create_dir_all(d.path().join("skipped/x")).unwrap();
        fs::write(d.path().join(".skipped.tmp"), "t").unwrap();
        assert_eq!(touched, key_of(d.path(), false));
        // A renamed file: both see it.
        let c1 = key_of(d.path(), true);
        fs::rename(d.path().join("a/g"), d.path().join("a/h")).unwrap();
        assert_ne!(c1, key_of(d.path(), true));
    }

    #[test]
    fn stored_trees_come_back_as_links_and_old_ones_go() {
        let d = tempfile::tempdir().unwrap();
        let tree = collected(d.path(), &[("css/site.css", "body{}")]);
        let root = d.path().join("cache");
        let c = Cache::new(&root);
        let key = |i: usize| format!("{i:064x}");
        assert_eq!(c.restore(&key(0), &d.path().join("out0")), None);
        // Something else in DIR, older than every entry: left alone.
        fs::create_dir_all(root.join("roots/bookworm")).unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(1000);
        fs::File::open(root.join("roots"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        for i in 0..=KEEP {
            c.store(&key(i), &tree, &format!("collected {i}")).unwrap();
            let t = std::time::SystemTime::now() - std::time::Duration::from_secs(100 - i as u64);
            fs::File::open(c.entry(&key(i)))
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        // key 0 is the oldest entry and went with the last store.
        assert_eq!(c.restore(&key(0), &d.path().join("out0")), None);
        assert!(root.join("roots/bookworm").is_dir());
        let out = d.path().join("out");
        assert_eq!(c.restore(&key(1), &out).as_deref(), Some("collected 1"));
        assert_eq!(
            fs::read_to_string(out.join("css/site.css")).unwrap(),
            "body{}"
        );
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        assert_eq!(
            ino(&out.join("css/site.css")),
            ino(&tree.join("css/site.css"))
        );
    }

    #[test]
    fn an_entry_missing_a_file_is_not_used_and_goes() {
        let d = tempfile::tempdir().unwrap();
        let tree = collected(d.path(), &[("css/a.css", "a"), ("css/b.css", "b")]);
        let c = Cache::new(&d.path().join("cache"));
        let key = "e".repeat(64);
        c.store(&key, &tree, "collected 2").unwrap();
        fs::remove_file(c.entry(&key).join("tree/css/b.css")).unwrap();
        let out = d.path().join("out");
        assert_eq!(c.restore(&key, &out), None);
        assert!(!out.exists());
        assert!(!c.entry(&key).exists());
    }
}
