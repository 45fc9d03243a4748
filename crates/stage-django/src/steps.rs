//! The build steps: Python run in the stage, with the build root's python
//! (`--sysroot`: through chroot, the stage visible at the same path).
//!
//! Every step starts in the staged project root with
//! [`AppSpec::build_step_env`] (the spec's `env` with `build_env` over it,
//! `DEBPIPE_BUILD=1`; never the operator's `env_file`), `PYTHONPATH` made of
//! the staged copies of its directories (`<stage>/etc/app` for `/etc/app`),
//! `DEBPIPE_STAGE` naming the stage and no bytecode written. In order:
//! 1. [`collectstatic`] (`scripts/collectstatic.py`), into a fresh directory
//!    moved in place when it succeeded, or linked from the [`cache`];
//! 2. [`build_command`]: each of `build_commands`, as `python3 -m django
//!    CMD ARGS...` (no `manage.py` needed), with `STATIC_ROOT` the staged
//!    static directory;
//! 3. [`preflight`] (`scripts/preflight.py`): what postinst checks.
//!
//! A failing step is an error of one line naming the step and the last
//! line Python wrote on stderr.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use debpipe_core::error::{Status, status};
use debpipe_core::sysroot::Sysroot;
use debpipe_core::{AppSpec, Error, Result};

use crate::{cache, staged};

const COLLECTSTATIC: &str = include_str!("../scripts/collectstatic.py");
const PREFLIGHT: &str = include_str!("../scripts/preflight.py");

/// Bumped when what is made from a collected tree before it is cached
/// changes (the precompressed `.gz` files).
const CACHED_TREE_FORM: &str = "collected, precompressed v1";

/// Python in the stage.
#[derive(Debug)]
pub struct Python<'a> {
    /// The spec.
    pub spec: &'a AppSpec,
    /// Where python runs.
    pub sysroot: Sysroot,
    /// The stage, absolute (python starts elsewhere).
    pub root: PathBuf,
    /// The python, a path inside the sysroot.
    pub python: PathBuf,
}

impl Python<'_> {
    /// The staged project root, where every step starts.
    pub fn project_root(&self) -> PathBuf {
        staged(&self.root, &self.spec.project_root())
    }

    /// The steps' environment: [`AppSpec::build_step_env`], its
    /// `PYTHONPATH` directories taken from the stage, `DEBPIPE_STAGE`, and
    /// no bytecode.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.spec.build_step_env();
        for (k, v) in &mut env {
            if k == "PYTHONPATH" {
                *v = v
                    .split(':')
                    .map(|d| {
                        if d.starts_with('/') {
                            staged(&self.root, d).display().to_string()
                        } else {
                            d.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(":");
            }
        }
        env.push(("DEBPIPE_STAGE".into(), self.root.display().to_string()));
        env.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
        env
    }

    /// A command running python with `args`, in the project root, with
    /// [`Python::env`] and `DEBPIPE_STATIC_ROOT` (the overlay's
    /// `STATIC_ROOT` at build time) when given.
    fn command(&self, static_root: Option<&Path>) -> Command {
        let mut cmd = self.sysroot.command_in(&self.project_root(), &self.python);
        cmd.envs(self.env());
        if let Some(s) = static_root {
            cmd.env("DEBPIPE_STATIC_ROOT", s);
        }
        cmd
    }

    fn run(&self, mut cmd: Command) -> Result<Output> {
        if !self.sysroot.path(&self.python).exists() && !self.python.exists() {
            return Err(Error::file(
                &self.python,
                "no python to run the build steps with: stage the venv first (mkvenv), or pass --python",
            ));
        }
        cmd.output().map_err(|e| Error::io(&self.python, e))
    }

    /// The error of a failed step: `what`, then Python's last line.
    fn failed(&self, what: &str, out: &Output) -> Error {
        let err = String::from_utf8_lossy(&out.stderr);
        // Django's command line ends an unknown command's message with a
        // hint to its help: the line before says what was wrong.
        let last = err
            .lines()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .find(|l| !(l.starts_with("Type '") && l.ends_with("' for usage.")))
            .map_or_else(
                || format!("no output ({})", out.status),
                |l| l.trim().to_string(),
            );
        Error::file(self.project_root(), format!("{what}: {last}"))
    }
}

/// The key of a collectstatic run into `dest` (see [`cache`]), from the
/// stage as stage-app and mkvenv left it (the overlay and helper are in
/// the key as rendered); `None` if the stage cannot be read (then
/// collectstatic runs and reports what is wrong).
fn static_key(py: &Python, dest: &Path) -> Option<String> {
    use sha2::Digest as _;
    let spec = py.spec;
    let mut h = sha2::Sha256::new();
    for part in [
        env!("CARGO_PKG_VERSION"),
        CACHED_TREE_FORM,
        COLLECTSTATIC,
        &crate::render_settings(spec),
        &format!("{:?}", py.env()),
        &format!("{:?}", py.sysroot),
        &spec.project_root(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(py.python.as_os_str().as_encoded_bytes());
    let helper = staged(&py.root, &spec.manage_helper_path());
    cache::hash_tree(&mut h, &staged(&py.root, &spec.app_dir), true, dest).ok()?;
    cache::hash_tree(&mut h, &staged(&py.root, &spec.venv), false, &helper).ok()?;
    Some(debpipe_core::hex::encode(&h.finalize()))
}

/// What [`collectstatic`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Collected {
    /// The project does not use staticfiles: nothing was collected.
    Nothing,
    /// Linked from the cache (it holds the precompressed files too).
    Cached,
    /// Collected now; with a cache, the key to store the tree under once
    /// precompressed, and collectstatic's message.
    Fresh(Option<(String, String)>),
}

/// Run collectstatic into a fresh directory beside `dest`, and move it to
/// `dest` when it succeeded: a failure leaves no half-collected tree. With
/// a cache (the caller passes none when build commands run: they may write
/// anywhere in the stage, and into the linked files), a tree collected from
/// the same inputs is linked in instead.
pub fn collectstatic(py: &Python, dest: &Path, cache: Option<&cache::Cache>) -> Result<Collected> {
    let key = cache.and_then(|_| static_key(py, dest));
    if let (Some(c), Some(k)) = (cache, &key) {
        if dest.exists() {
            fs::remove_dir_all(dest).map_err(|e| Error::io(dest, e))?;
        }
        if let Some(said) = c.restore(k, dest) {
            report_collected(py.spec, &format!("{} (cached)", said.trim()));
            return Ok(Collected::Cached);
        }
    }
    let parent = dest
        .parent()
        .ok_or_else(|| Error::file(dest, "has no parent directory"))?;
    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let tmp = parent.join(format!(
        ".{}.collecting",
        dest.file_name()
            .map_or_else(|| "static".into(), |n| n.to_string_lossy().into_owned())
    ));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    let mut cmd = py.command(Some(&tmp));
    cmd.arg("-c").arg(COLLECTSTATIC);
    let out = py.run(cmd)?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(py.failed("collectstatic failed", &out));
    }
    let said = String::from_utf8_lossy(&out.stdout);
    if said.trim() == "no-staticfiles" {
        status(
            &mut std::io::stderr(),
            "stage-django",
            Status::Warning,
            "the spec has `static`, but the project does not use django.contrib.staticfiles: nothing collected",
        );
        return Ok(Collected::Nothing);
    }
    if dest.exists() {
        fs::remove_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    }
    fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e))?;
    normalise_modes(dest)?;
    report_collected(py.spec, said.trim());
    Ok(Collected::Fresh(key.map(|k| (k, said.trim().to_string()))))
}

/// Keep the finished static tree `dest` in the cache under `key`, with
/// collectstatic's message; a failure is a warning.
pub fn store(cache: &cache::Cache, key: &str, said: &str, dest: &Path) {
    if let Err(e) = cache.store(key, dest, said) {
        status(
            &mut std::io::stderr(),
            "stage-django",
            Status::Warning,
            format_args!("could not keep the collected files in the cache: {e}"),
        );
    }
}

fn report_collected(spec: &AppSpec, said: &str) {
    status(
        &mut std::io::stderr(),
        "stage-django",
        Status::Info,
        format_args!(
            "{said} into {}",
            spec.static_files.as_ref().map_or("", |s| s.dir.as_str())
        ),
    );
}

/// Collected files get 0644 and directories 0755, whatever the umask.
fn normalise_modes(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(|e| Error::io(dir, e))?;
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let ft = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ft.is_dir() {
            normalise_modes(&path)?;
        } else if ft.is_file() {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644))
                .map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// Run one of `build_commands` (`python3 -m django CMD ARGS...`), with
/// `static_root` as the overlay's `STATIC_ROOT`.
pub fn build_command(py: &Python, words: &[String], static_root: Option<&Path>) -> Result<()> {
    let mut cmd = py.command(static_root);
    cmd.args(["-m", "django"]).args(words);
    let started = std::time::Instant::now();
    let out = py.run(cmd)?;
    let shown = words.join(" ");
    if !out.status.success() {
        return Err(py.failed(&format!("build command `{shown}` failed"), &out));
    }
    status(
        &mut std::io::stderr(),
        "stage-django",
        Status::Info,
        format_args!(
            "build command `{shown}` ran ({:.1} s)",
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

/// The build-time preflight: the WSGI entry imports and Django's checks
/// (`manage.py check`) find no error; postinst adds the deploy checks.
pub fn preflight(py: &Python, static_root: Option<&Path>) -> Result<()> {
    let (module, callable) = AppSpec::WSGI_ENTRY
        .split_once(':')
        .unwrap_or((AppSpec::WSGI_ENTRY, "application"));
    let mut cmd = py.command(static_root);
    cmd.arg("-c").arg(PREFLIGHT).arg(module).arg(callable);
    let out = py.run(cmd)?;
    if !out.status.success() {
        return Err(py.failed("preflight failed", &out));
    }
    let said = String::from_utf8_lossy(&out.stdout);
    let said = said.trim();
    let msg = match said.strip_prefix("ok ") {
        Some(n) => format!(
            "preflight: {module}:{callable} imports, manage.py check found no error ({n} warnings)"
        ),
        None if said == "no-django" => "preflight: no Django in the venv, nothing checked".into(),
        None => format!("preflight: {said}"),
    };
    status(&mut std::io::stderr(), "stage-django", Status::Info, msg);
    Ok(())
}
