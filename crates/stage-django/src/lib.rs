//! stage-django: Django's part of the staging tree.
//!
//! After stage-app (the project) and mkvenv (the venv) have filled STAGE,
//! stage-django writes what makes an unmodified Django project (or one
//! installed from PyPI: no `manage.py` is needed) run as a package, and
//! runs the build steps:
//! - [`render`]: `debpipe_settings.py`, the settings overlay, and
//!   `debpipe_wsgi.py`, the entry point uWSGI loads, in the project root;
//!   `<venv>/bin/manage`, the admin helper; `<app_dir>/debpipe.env`, the
//!   package's environment (read before the operator's `env_file`);
//! - [`steps`]: Python in the stage with the build root's python:
//!   collectstatic (with `static`; linked from the [`cache`] when it can
//!   be), the spec's `build_commands`, and the preflight postinst runs (the
//!   entry point imports, `manage.py check` finds no error; the deploy checks, which may need the
//!   server's services, are postinst's);
//! - [`tidy`]: no bytecode left, and the gzip files the build commands
//!   wrote normalised ([`gz`]);
//! - [`gz`]: the static files precompressed for nginx's `gzip_static`.

pub mod cache;
pub mod gz;
pub mod render;
pub mod steps;
pub mod tidy;

use std::fs;
use std::path::{Path, PathBuf};

use debpipe_core::error::{Status, status};
use debpipe_core::sysroot::Sysroot;
use debpipe_core::{AppSpec, Error, Result, io};

pub use render::{render_env, render_manage, render_settings, render_wsgi};

/// Write Django's part of a staging tree.
#[derive(Debug, clap::Parser)]
#[command(
    version,
    about = "Write Django's part of the staging tree and run its build steps: settings overlay, admin helper, environment, static files, build commands, preflight",
    long_about = "Write Django's part of the staging tree (JSON spec, see README), after stage-app \
and mkvenv have filled it, and run the build steps there. In the project root: the settings \
overlay debpipe_settings.py (the project's settings plus SECRET_KEY from the key file postinst \
makes, ALLOWED_HOSTS, STATIC_ROOT, MEDIA_ROOT and SQLite paths under state_dir, and with \
server.tls the proxy's https header and CSRF origins) and the WSGI entry point debpipe_wsgi.py \
(the spec's `wsgi`, with the project's URLconf imported at load time); the admin helper \
<venv>/bin/manage; the package's environment <app_dir>/debpipe.env (read before the operator's \
env_file). Then, with the staged venv's python (or the build root's, --sysroot), in the staged \
project root, with the spec's env and build_env and DEBPIPE_BUILD=1 (never env_file): \
collectstatic into <static.dir> when the spec has `static` and the project uses \
django.contrib.staticfiles; each of build_commands; a .gz beside each compressible static file; \
and the preflight (the entry point imports, `manage.py check` finds no error; postinst adds the deploy checks). \
No bytecode is left, and gzip files have no timestamp. Prints STAGE.",
    after_help = "Examples:\n  stage-app app.json --app . --root stage\n  mkvenv app.json -r requirements.txt --root stage > facts.json\n  stage-django app.json --root stage\n  stage-django --render settings app.json   # print the overlay"
)]
pub struct Cli {
    /// App spec (JSON); `-` reads stdin
    #[arg(value_name = "SPEC", default_value = "-")]
    pub spec: PathBuf,
    /// Staging tree holding the staged app and venv
    #[arg(long, value_name = "STAGE", required_unless_present = "render")]
    pub root: Option<PathBuf>,
    /// Python to run the build steps with (default: the staged venv's)
    #[arg(long, value_name = "PYTHON")]
    pub python: Option<PathBuf>,
    /// Run the build steps inside the Debian root DIR (the venv was built
    /// for it with `mkvenv --sysroot DIR`); the stage must be visible at the
    /// same path inside it (run under `scripts/in-root DIR`)
    #[arg(long, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,
    /// Do not collect static files (as `"collectstatic": false`)
    #[arg(long)]
    pub no_collectstatic: bool,
    /// Do not run the build-time preflight (the WSGI entry imports,
    /// `manage.py check` finds no error)
    #[arg(long)]
    pub no_check: bool,
    /// Keep collected static trees in DIR, keyed by the staged app's files,
    /// the staged venv's files (path, size, mtime), the settings overlay,
    /// the build steps' environment and the python (not the environment
    /// stage-django inherits, nor what symlinks in the app point to); a
    /// build with the same key (a version bump) links the kept tree in
    /// instead of running collectstatic. Not used when the spec has
    /// `build_commands`: they run after collectstatic and may write anywhere
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Print one generated file instead of staging
    #[arg(long, value_name = "FILE", value_enum, conflicts_with = "root")]
    pub render: Option<Rendered>,
}

/// A generated file `--render` can print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Rendered {
    /// The settings overlay (`debpipe_settings.py`)
    Settings,
    /// The admin helper (`<venv>/bin/manage`)
    Manage,
    /// The WSGI entry point (`debpipe_wsgi.py`)
    Wsgi,
    /// The package's environment (`<app_dir>/debpipe.env`)
    Env,
}

/// Run the tool.
pub fn run(cli: &Cli) -> Result<()> {
    let spec = AppSpec::from_json(&cli.spec, &io::read_input(&cli.spec)?)?;
    if let Some(r) = cli.render {
        let text = match r {
            Rendered::Settings => render_settings(&spec),
            Rendered::Manage => render_manage(&spec),
            Rendered::Wsgi => render_wsgi(&spec),
            Rendered::Env => render_env(&spec),
        };
        return io::write_stdout(text.as_bytes());
    }
    let root = cli
        .root
        .as_deref()
        .ok_or_else(|| Error::Usage("--root is required".into()))?;
    let app_dir = staged(root, &spec.app_dir);
    if !app_dir.is_dir() {
        return Err(Error::file(
            &app_dir,
            "the staged app is missing: run stage-app first",
        ));
    }
    for (path, text, mode) in [
        (spec.settings_overlay_path(), render_settings(&spec), 0o644),
        (spec.wsgi_wrapper_path(), render_wsgi(&spec), 0o644),
        (spec.manage_helper_path(), render_manage(&spec), 0o755),
        (spec.service_env_file(), render_env(&spec), 0o644),
    ] {
        io::write_staged(root, &path, text.as_bytes(), mode)?;
    }
    build_steps(cli, &spec, root)?;
    io::write_stdout(format!("{}\n", root.display()).as_bytes())
}

/// collectstatic, the build commands, the precompressed static files and
/// the preflight, in that order; then no bytecode is left.
fn build_steps(cli: &Cli, spec: &AppSpec, root: &Path) -> Result<()> {
    let collect = spec.collectstatic && !cli.no_collectstatic;
    let static_dir = spec.static_files.as_ref().map(|s| s.dir.as_str());
    if !(collect && static_dir.is_some()) && spec.build_commands.is_empty() && cli.no_check {
        return Ok(());
    }
    // python runs in the project's directory: every path it is given, the
    // static root's included, must not depend on ours.
    let root = fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
    let sysroot = match &cli.sysroot {
        Some(dir) => Sysroot::new(dir)?,
        None => Sysroot::host(),
    };
    sysroot.check_visible(&root, "the stage")?;
    let py = steps::Python {
        spec,
        sysroot,
        python: cli
            .python
            .clone()
            .unwrap_or_else(|| staged(&root, &format!("{}/bin/python3", spec.venv))),
        root: root.clone(),
    };
    let static_dir = static_dir.map(|d| staged(&root, d));
    // Build commands may write anywhere in the stage, and into files the
    // cache would have linked in: with them, no cache.
    let cache = cli
        .cache
        .as_deref()
        .filter(|_| spec.build_commands.is_empty())
        .map(cache::Cache::new);
    let mut collected = steps::Collected::Nothing;
    if let Some(dest) = static_dir.as_deref().filter(|_| collect) {
        collected = steps::collectstatic(&py, dest, cache.as_ref())?;
    }
    let trees = written_trees(spec, &root, static_dir.as_deref());
    if !spec.build_commands.is_empty() {
        let before = tidy::GzSnapshot::take(&trees).map_err(|e| Error::io(&root, e))?;
        for words in &spec.build_commands {
            steps::build_command(&py, words, static_dir.as_deref())?;
        }
        let after = tidy::GzSnapshot::take(&trees).map_err(|e| Error::io(&root, e))?;
        for gz in before.written_since(&after) {
            gz::normalise(gz).map_err(|e| Error::io(gz, e))?;
        }
    }
    if let Some(dir) = static_dir.as_deref().filter(|d| d.is_dir())
        && collected != steps::Collected::Cached
    {
        let c = gz::precompress(dir).map_err(|e| Error::io(dir, e))?;
        status(
            &mut std::io::stderr(),
            "stage-django",
            Status::Info,
            format_args!(
                "precompressed: {} .gz written, {} normalised",
                c.written, c.normalised
            ),
        );
        if let (Some(c), steps::Collected::Fresh(Some((key, said)))) = (&cache, &collected) {
            steps::store(c, key, said, dir);
        }
    }
    if !cli.no_check {
        steps::preflight(&py, static_dir.as_deref())?;
    }
    tidy::remove_bytecode(&trees).map_err(|e| Error::io(&root, e))?;
    Ok(())
}

/// The staged trees a build step may write to: the app (the project root
/// is in it), the static directory, the venv and the `python_path`
/// directories.
fn written_trees(spec: &AppSpec, root: &Path, static_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut trees = vec![staged(root, &spec.app_dir), staged(root, &spec.venv)];
    trees.extend(static_dir.map(Path::to_path_buf));
    trees.extend(spec.python_path.iter().map(|p| staged(root, p)));
    trees
}

fn staged(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    debpipe_testkit::verify_cli!(Cli);
}
