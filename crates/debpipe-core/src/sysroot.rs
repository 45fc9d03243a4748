//! The target's root (`--sysroot` of mkvenv and stage-django): where the
//! venv's python, the ld.so cache and the dpkg database come from.
//!
//! A venv is bound to its target's python minor version and its compiled
//! code to the target's libraries, so for another Debian release the venv is
//! built inside that release's root (`scripts/build-root`): python and pip
//! run there through chroot(8), and mkvenv resolves the shared-library
//! Depends through the root's ld.so cache, dpkg database and shlibs files,
//! never the host's. The tools themselves run on the host. The paths they
//! hand to python (the stage, the requirements, the wheelhouses) must be
//! visible at the same path inside the root: `scripts/in-root` bind-mounts
//! them there.
//!
//! Without `--sysroot` the root is `/` and every method is the identity.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// The chroot program (absolute: pip's environment is cleared).
const CHROOT: &str = "/usr/sbin/chroot";

/// The target's root directory, or the host's `/`.
#[derive(Debug, Clone, Default)]
pub struct Sysroot {
    root: Option<PathBuf>,
}

impl Sysroot {
    /// The host itself.
    pub fn host() -> Self {
        Self { root: None }
    }

    /// A target root: it must be a Debian root (it has a dpkg database).
    pub fn new(root: &Path) -> Result<Self> {
        let root = fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
        if root == Path::new("/") {
            return Ok(Self::host());
        }
        if !root.join("var/lib/dpkg/status").is_file() {
            return Err(Error::file(
                &root,
                "is not a Debian root (no var/lib/dpkg/status); make one with scripts/build-root",
            ));
        }
        Ok(Self { root: Some(root) })
    }

    /// The root directory, when it is not the host's.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// A command that runs `program` (a path inside the root) in the root.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let program = anchored(program.as_ref());
        match &self.root {
            None => Command::new(program),
            Some(r) => {
                let mut c = Command::new(CHROOT);
                c.arg(r).arg(program);
                c
            }
        }
    }

    /// Like [`Sysroot::command`], started in the directory `dir` (chroot(8)
    /// starts in the root's `/`; `env -C` moves to `dir`).
    pub fn command_in(&self, dir: &Path, program: impl AsRef<OsStr>) -> Command {
        let program = anchored(program.as_ref());
        let dir = anchored(dir.as_os_str());
        match &self.root {
            None => {
                let mut c = Command::new(program);
                c.current_dir(dir);
                c
            }
            Some(r) => {
                let mut c = Command::new(CHROOT);
                c.arg(r).arg("/usr/bin/env").arg("-C").arg(dir).arg(program);
                c
            }
        }
    }

    /// `dpkg-query` on the root's database (run on the host: `--admindir`).
    pub fn dpkg_query(&self) -> Command {
        let mut c = Command::new("dpkg-query");
        if let Some(r) = &self.root {
            let mut arg = std::ffi::OsString::from("--admindir=");
            arg.push(r.join("var/lib/dpkg"));
            c.arg(arg);
        }
        c
    }

    /// Where the target's absolute path `p` is seen from the host.
    pub fn path(&self, p: &Path) -> PathBuf {
        match &self.root {
            None => p.to_path_buf(),
            Some(r) => r.join(p.strip_prefix("/").unwrap_or(p)),
        }
    }

    /// The target's path `p` with every symbolic link resolved inside the
    /// root (an absolute link target is read from the root, not the host);
    /// `None` when a component is missing.
    pub fn canonicalize(&self, p: &Path) -> Option<PathBuf> {
        let Some(root) = &self.root else {
            return fs::canonicalize(p).ok();
        };
        let mut todo: Vec<PathBuf> = vec![p.to_path_buf()];
        let mut out = PathBuf::from("/");
        let mut links = 0;
        while let Some(next) = todo.pop() {
            let mut comps: Vec<Component> = next.components().collect();
            comps.reverse();
            while let Some(c) = comps.pop() {
                match c {
                    Component::RootDir => out = PathBuf::from("/"),
                    Component::CurDir | Component::Prefix(_) => {}
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::Normal(name) => {
                        let candidate = out.join(name);
                        let seen = root.join(candidate.strip_prefix("/").unwrap_or(&candidate));
                        let meta = fs::symlink_metadata(&seen).ok()?;
                        if meta.file_type().is_symlink() {
                            links += 1;
                            if links > 40 {
                                return None;
                            }
                            let target = fs::read_link(&seen).ok()?;
                            let rest: PathBuf = comps.iter().rev().collect();
                            todo.push(rest);
                            todo.push(target);
                            break;
                        }
                        out = candidate;
                    }
                }
            }
        }
        Some(out)
    }

    /// Refuse a host path that python in the root would not find at the
    /// same path (it must be the same file, not a namesake).
    pub fn check_visible(&self, p: &Path, what: &str) -> Result<()> {
        let Some(root) = &self.root else {
            return Ok(());
        };
        let here = fs::metadata(p).map_err(|e| Error::io(p, e))?;
        let there = fs::metadata(self.path(p)).ok();
        if there.is_some_and(|t| t.dev() == here.dev() && t.ino() == here.ino()) {
            return Ok(());
        }
        Err(Error::file(
            p,
            format!(
                "{what} is not visible at the same path inside the sysroot {}; bind-mount it there (scripts/in-root does)",
                root.display()
            ),
        ))
    }
}

/// `p` made absolute against this process's directory when it is a
/// relative path with a directory part: the child starts elsewhere (its own
/// directory, or chroot(8)'s `/`), where `build/stage/bin/python3` would
/// name another file or none. A bare name stays, for the `PATH` search.
fn anchored(p: &OsStr) -> std::ffi::OsString {
    let path = Path::new(p);
    if path.is_relative()
        && path.components().nth(1).is_some()
        && let Ok(abs) = std::path::absolute(path)
    {
        return abs.into_os_string();
    }
    p.to_os_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn relative_programs_and_directories_are_anchored_here() {
        let here = std::env::current_dir().unwrap();
        let c = Sysroot::host().command_in(Path::new("/tmp"), "build/stage/bin/python3");
        assert_eq!(
            Path::new(c.get_program()),
            here.join("build/stage/bin/python3")
        );
        // A bare name is looked up in PATH; an absolute path is kept.
        assert_eq!(Sysroot::host().command("python3").get_program(), "python3");
        let c = Sysroot::host().command_in(Path::new("build/app"), "/usr/bin/python3");
        assert_eq!(c.get_program(), "/usr/bin/python3");
        assert_eq!(c.get_current_dir(), Some(here.join("build/app").as_path()));
        // In a root, chroot(8) starts in `/`: the same, as env's arguments.
        let r = fake_root();
        let c = Sysroot::new(r.path())
            .unwrap()
            .command_in(Path::new("b/app"), "b/py");
        let args: Vec<_> = c.get_args().map(Path::new).collect();
        assert!(args.contains(&here.join("b/app").as_path()), "{args:?}");
        assert!(args.contains(&here.join("b/py").as_path()), "{args:?}");
    }

    fn fake_root() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("var/lib/dpkg")).unwrap();
        fs::write(r.join("var/lib/dpkg/status"), "").unwrap();
        fs::create_dir_all(r.join("usr/lib/x86_64-linux-gnu")).unwrap();
        fs::write(r.join("usr/lib/x86_64-linux-gnu/libz.so.1.3"), "").unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        symlink("libz.so.1.3", r.join("usr/lib/x86_64-linux-gnu/libz.so.1")).unwrap();
        // an absolute link: resolved inside the root, not on the host
        symlink("/usr/lib/x86_64-linux-gnu/libz.so.1", r.join("usr/lib/abs")).unwrap();
        d
    }

    #[test]
    fn links_resolve_inside_the_root() {
        let d = fake_root();
        let s = Sysroot::new(d.path()).unwrap();
        assert_eq!(
            s.canonicalize(Path::new("/lib/x86_64-linux-gnu/libz.so.1")),
            Some(PathBuf::from("/usr/lib/x86_64-linux-gnu/libz.so.1.3"))
        );
        assert_eq!(
            s.canonicalize(Path::new("/usr/lib/abs")),
            Some(PathBuf::from("/usr/lib/x86_64-linux-gnu/libz.so.1.3"))
        );
        assert_eq!(s.canonicalize(Path::new("/lib/nothing")), None);
        assert_eq!(
            s.path(Path::new("/usr/lib")),
            fs::canonicalize(d.path()).unwrap().join("usr/lib")
        );
    }

    #[test]
    fn a_root_needs_a_dpkg_database() {
        let d = tempfile::tempdir().unwrap();
        let e = Sysroot::new(d.path()).unwrap_err().to_string();
        assert!(e.contains("not a Debian root"), "{e}");
        assert!(Sysroot::new(Path::new("/")).unwrap().root().is_none());
    }

    #[test]
    fn a_path_not_mounted_in_the_root_is_refused() {
        let d = fake_root();
        let s = Sysroot::new(d.path()).unwrap();
        let outside = tempfile::tempdir().unwrap();
        let e = s
            .check_visible(outside.path(), "the wheelhouse")
            .unwrap_err()
            .to_string();
        assert!(e.contains("the wheelhouse is not visible"), "{e}");
        assert!(Sysroot::host().check_visible(outside.path(), "x").is_ok());
    }

    #[test]
    fn commands_run_through_chroot() {
        let d = fake_root();
        let s = Sysroot::new(d.path()).unwrap();
        let c = s.command("/usr/bin/python3");
        assert_eq!(c.get_program(), CHROOT);
        let q = s.dpkg_query();
        let arg = q.get_args().next().unwrap().to_string_lossy().into_owned();
        assert!(arg.starts_with("--admindir=") && arg.ends_with("var/lib/dpkg"));
        assert_eq!(Sysroot::host().command("x").get_program(), "x");
    }
}
