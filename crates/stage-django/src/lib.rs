//! stage-django: Django's part of the staging tree.
//!
//! After stage-app (the project) and mkvenv (the venv) have filled STAGE,
//! stage-django writes what makes an unmodified Django project run as a
//! package:
//! - `<app_dir>/debpipe_settings.py`, the settings overlay
//!   (`scripts/settings.py`): the project's settings plus the secret key,
//!   hosts, static and media roots and `SQLite` paths of the package; the
//!   service, the config hook and the admin helper all use it;
//! - `<app_dir>/debpipe_wsgi.py`, the entry point uWSGI loads
//!   (`scripts/wsgi.py`): the spec's `wsgi`, with the `URLconf` imported at
//!   load time;
//! - `<venv>/bin/manage`, the admin helper (`scripts/manage.sh`): Django's
//!   management commands as the service user with the service's settings;
//! - with `static` in the spec (and `collectstatic` not false), the
//!   project's static files collected into `<static.dir>` with the staged
//!   venv's python (`scripts/collectstatic.py`), when the project uses
//!   `django.contrib.staticfiles`. They are collected into a fresh directory
//!   and moved in place only when collectstatic succeeded; with `--cache`,
//!   a tree collected from the same inputs is linked in instead
//!   ([`cache`]).

pub mod cache;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use debpipe_core::error::{Status, status};
use debpipe_core::shell::{Var, fill, replace_vars_block};
use debpipe_core::sysroot::Sysroot;
use debpipe_core::{AppSpec, Error, Result, io};

/// The overlay, the helper and the collectstatic driver, as files beside
/// this crate.
const SETTINGS: &str = include_str!("../scripts/settings.py");
const MANAGE: &str = include_str!("../scripts/manage.sh");
const COLLECTSTATIC: &str = include_str!("../scripts/collectstatic.py");
const WSGI: &str = include_str!("../scripts/wsgi.py");

/// Write Django's part of a staging tree.
#[derive(Debug, clap::Parser)]
#[command(
    version,
    about = "Write Django's part of the staging tree: settings overlay, admin helper, static files",
    long_about = "Write Django's part of the staging tree (JSON spec, see README), after stage-app \
and mkvenv have filled it: the settings overlay <app_dir>/debpipe_settings.py (the project's \
settings plus SECRET_KEY from the key file postinst makes, ALLOWED_HOSTS, STATIC_ROOT, MEDIA_ROOT \
and SQLite paths under state_dir), the WSGI entry point <app_dir>/debpipe_wsgi.py (the spec's \
`wsgi`, with the project's URLconf imported at load time), the admin helper <venv>/bin/manage, \
and, when the spec has \
`static` and the project uses django.contrib.staticfiles, the collected static files in \
<static.dir> (collectstatic with the staged venv's python). Prints STAGE.",
    after_help = "Examples:\n  stage-app app.json --app . --root stage\n  mkvenv app.json -r requirements.txt --root stage > facts.json\n  stage-django app.json --root stage\n  stage-django --no-collectstatic --render settings app.json   # print the overlay"
)]
pub struct Cli {
    /// App spec (JSON); `-` reads stdin
    #[arg(value_name = "SPEC", default_value = "-")]
    pub spec: PathBuf,
    /// Staging tree holding the staged app and venv
    #[arg(long, value_name = "STAGE", required_unless_present = "render")]
    pub root: Option<PathBuf>,
    /// Python to run collectstatic with (default: the staged venv's)
    #[arg(long, value_name = "PYTHON")]
    pub python: Option<PathBuf>,
    /// Run collectstatic inside the Debian root DIR (the venv was built for
    /// it with `mkvenv --sysroot DIR`); the stage must be visible at the same
    /// path inside it (run under `scripts/in-root DIR`)
    #[arg(long, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,
    /// Do not collect static files (as `"collectstatic": false`)
    #[arg(long)]
    pub no_collectstatic: bool,
    /// Keep collected static trees in DIR, keyed by the staged app's files,
    /// the staged venv's files (path, size, mtime), the settings overlay and
    /// the python (not the environment, nor what symlinks in the app point
    /// to); a build with the same key (a version bump) links the kept tree
    /// in instead of running collectstatic
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
}

/// Run the tool.
pub fn run(cli: &Cli) -> Result<()> {
    let spec = AppSpec::from_json(&cli.spec, &io::read_input(&cli.spec)?)?;
    if let Some(r) = cli.render {
        let text = match r {
            Rendered::Settings => render_settings(&spec),
            Rendered::Manage => render_manage(&spec),
            Rendered::Wsgi => render_wsgi(&spec),
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
    io::write_staged(
        root,
        &spec.settings_overlay_path(),
        render_settings(&spec).as_bytes(),
        0o644,
    )?;
    io::write_staged(
        root,
        &spec.wsgi_wrapper_path(),
        render_wsgi(&spec).as_bytes(),
        0o644,
    )?;
    io::write_staged(
        root,
        &spec.manage_helper_path(),
        render_manage(&spec).as_bytes(),
        0o755,
    )?;
    if let Some(st) = &spec.static_files
        && spec.collectstatic
        && !cli.no_collectstatic
    {
        // python runs in the app's directory: every path it is given, the
        // static root's included, must not depend on ours.
        let root = &fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
        let python = cli
            .python
            .clone()
            .unwrap_or_else(|| staged(root, &format!("{}/bin/python3", spec.venv)));
        let sysroot = match &cli.sysroot {
            Some(dir) => Sysroot::new(dir)?,
            None => Sysroot::host(),
        };
        sysroot.check_visible(root, "the stage")?;
        let cache = cli.cache.as_deref().map(cache::Cache::new);
        collectstatic(
            &spec,
            &sysroot,
            root,
            &python,
            &staged(root, &st.dir),
            cache.as_ref(),
        )?;
    }
    io::write_stdout(format!("{}\n", root.display()).as_bytes())
}

fn staged(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

/// A Python literal for a validated value (a string list, a string, or
/// `None`): JSON's string syntax is Python's for these characters.
fn py(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// Render the settings overlay.
pub fn render_settings(spec: &AppSpec) -> String {
    use serde_json::json;
    let alias = |a: Option<&debpipe_core::spec::Alias>| {
        a.map_or(serde_json::Value::Null, |a| json!([a.url, a.dir]))
    };
    let vars = [
        ("_PROJECT_SETTINGS", json!(spec.settings)),
        ("_APP_DIR", json!(spec.app_dir)),
        ("_STATE_DIR", json!(spec.state_dir)),
        ("_SECRET_FILE", json!(spec.secret_key_file())),
        ("_MANAGE", json!(spec.manage_helper_path())),
        ("_ALLOWED_HOSTS", json!(spec.allowed_hosts)),
        ("_STATIC", alias(spec.static_files.as_ref())),
        ("_MEDIA", alias(spec.media.as_ref())),
    ];
    let mut block = String::new();
    for (k, v) in vars {
        let _ = writeln!(block, "{k} = {}", py(&v));
    }
    replace_vars_block(SETTINGS, &block)
}

/// Render the WSGI entry point: the spec's `wsgi`, with the `URLconf`
/// imported at load time.
pub fn render_wsgi(spec: &AppSpec) -> String {
    let (module, callable) = spec.wsgi_parts();
    replace_vars_block(
        WSGI,
        &format!(
            "_WSGI_MODULE = {}\n_WSGI_CALLABLE = {}\n",
            py(&serde_json::json!(module)),
            py(&serde_json::json!(callable))
        ),
    )
}

/// Render the admin helper.
pub fn render_manage(spec: &AppSpec) -> String {
    fill(
        MANAGE,
        &format!("{} {}", spec.package, spec.version),
        &[
            Var::Set("PACKAGE", spec.package.clone()),
            Var::Set("VENV", spec.venv.clone()),
            Var::Set("APP_DIR", spec.app_dir.clone()),
            Var::Set("APP_USER", spec.user.clone()),
            Var::Set("APP_GROUP", spec.group.clone()),
            Var::ExportFn("app_env", spec.service_env()),
        ],
    )
}

/// The key of a collectstatic run into `dest` (see [`cache`]), from the
/// stage as stage-app and mkvenv left it (the overlay and helper are in
/// the key as rendered); `None` if the stage cannot be read (then
/// collectstatic runs and reports what is wrong).
fn static_key(
    spec: &AppSpec,
    sysroot: &Sysroot,
    root: &Path,
    python: &Path,
    dest: &Path,
) -> Option<String> {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for part in [
        env!("CARGO_PKG_VERSION"),
        COLLECTSTATIC,
        &render_settings(spec),
        &format!("{:?}", spec.service_env()),
        &format!("{sysroot:?}"),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(python.as_os_str().as_encoded_bytes());
    let helper = staged(root, &spec.manage_helper_path());
    cache::hash_tree(&mut h, &staged(root, &spec.app_dir), true, dest).ok()?;
    cache::hash_tree(&mut h, &staged(root, &spec.venv), false, &helper).ok()?;
    Some(debpipe_core::hex::encode(&h.finalize()))
}

/// Run collectstatic with `python` in the staged app into a fresh
/// directory beside `dest`, and move it to `dest` when it succeeded: a
/// failure leaves no half-collected tree. With a cache, a tree collected
/// from the same inputs is linked in instead, and a new one is kept.
fn collectstatic(
    spec: &AppSpec,
    sysroot: &Sysroot,
    root: &Path,
    python: &Path,
    dest: &Path,
    cache: Option<&cache::Cache>,
) -> Result<()> {
    if !python.exists() {
        return Err(Error::file(
            python,
            "no python to collect static files with: stage the venv first (mkvenv), or pass --python",
        ));
    }
    let key = cache.and_then(|_| static_key(spec, sysroot, root, python, dest));
    if let (Some(c), Some(k)) = (cache, &key) {
        if dest.exists() {
            fs::remove_dir_all(dest).map_err(|e| Error::io(dest, e))?;
        }
        if let Some(said) = c.restore(k, dest) {
            report_collected(spec, &format!("{} (cached)", said.trim()));
            return Ok(());
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
    let app_dir = staged(root, &spec.app_dir);
    let abs_root = fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
    let mut cmd = sysroot.command_in(&app_dir, python);
    cmd.arg("-c")
        .arg(COLLECTSTATIC)
        .env("PYTHONPATH", &app_dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("DEBPIPE_STAGE", &abs_root)
        .env("DEBPIPE_STATIC_ROOT", &tmp)
        .envs(spec.service_env());
    let out = cmd.output().map_err(|e| Error::io(python, e))?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&tmp);
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output");
        return Err(Error::file(
            &app_dir,
            format!("collectstatic failed: {}", last.trim()),
        ));
    }
    let said = String::from_utf8_lossy(&out.stdout);
    if said.trim() == "no-staticfiles" {
        status(
            &mut std::io::stderr(),
            "stage-django",
            Status::Warning,
            "the spec has `static`, but the project does not use django.contrib.staticfiles: nothing collected",
        );
        return Ok(());
    }
    if dest.exists() {
        fs::remove_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    }
    fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e))?;
    normalise_modes(dest)?;
    if let (Some(c), Some(k)) = (cache, &key)
        && let Err(e) = c.store(k, dest, said.trim())
    {
        status(
            &mut std::io::stderr(),
            "stage-django",
            Status::Warning,
            format_args!("could not keep the collected files in the cache: {e}"),
        );
    }
    report_collected(spec, said.trim());
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use debpipe_testkit::spec;

    #[test]
    fn verify_cli() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn settings_block_holds_the_spec_values_as_python_literals() {
        let s = render_settings(&spec(
            r#"{"module":"mysite","version":"1","settings":"mysite.settings.production",
                "static":{"url":"/static/"},"media":{"url":"/media/"},
                "server":{"server_name":["mysite.example.com","_"]}}"#,
        ));
        let block = "_PROJECT_SETTINGS = \"mysite.settings.production\"\n\
             _APP_DIR = \"/opt/www/mysite\"\n\
             _STATE_DIR = \"/var/lib/mysite-api\"\n\
             _SECRET_FILE = \"/var/lib/mysite-api/secret_key\"\n\
             _MANAGE = \"/opt/www/venvs/mysite-api/bin/manage\"\n\
             _ALLOWED_HOSTS = [\"mysite.example.com\",\"*\"]\n\
             _STATIC = [\"/static/\",\"/opt/www/mysite/staticfiles\"]\n\
             _MEDIA = [\"/media/\",\"/var/lib/mysite-api/media\"]\n\nimport importlib\n";
        assert!(s.contains(block), "{s}");
        assert!(!s.contains("# @vars") && !s.contains("example.settings"));
    }

    #[test]
    fn without_static_media_or_server_the_block_says_none() {
        let s = render_settings(&spec(r#"{"module":"a","version":"1"}"#));
        assert!(s.contains("\n_ALLOWED_HOSTS = []\n_STATIC = None\n_MEDIA = None\n"));
    }

    #[test]
    fn manage_runs_as_the_service_user_with_the_overlay() {
        let m = render_manage(&spec(
            r#"{"module":"a","version":"1","user":"au","group":"ag","env":{"K":"v"}}"#,
        ));
        assert!(m.contains("APP_USER='au'\nAPP_GROUP='ag'\n"));
        assert!(
            m.contains("    export DJANGO_SETTINGS_MODULE='debpipe_settings'\n    export K='v'\n")
        );
    }
}
