//! stage-django as the Makefile runs it, on a scratch Django project with
//! Debian's Django (python3-django): collectstatic with a manifest, the
//! overlay's values as Django sees them, and failures that leave nothing.
//!
//! Where tests go: this file, the generated files and collectstatic;
//! `build_steps.rs`, build commands, precompressed static files, the
//! preflight, `project_dir` and `python_path`; `environment.rs`,
//! debpipe.env and the operator's `env_file` as the helper and the build
//! read them; `pypi.rs`, an app installed from a wheel.
#![allow(clippy::unwrap_used)] // test helpers: a failed step should panic

mod build_steps;
mod environment;
mod pypi;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use debpipe_testkit::{
    assert_bad_specs_rejected, assert_golden, assert_shellcheck, assert_success, fixtures,
    scrubbed, write,
};

fn cmd() -> Command {
    scrubbed(assert_cmd::cargo::cargo_bin!("stage-django"))
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

#[test]
fn help_matches_golden() {
    let out = cmd().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert_golden(golden("help.txt"), &out.stdout);
}

#[test]
fn unknown_flag_is_usage_error_2() {
    let out = cmd().arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_specs_exit_1_name_field_and_write_nothing() {
    assert_bad_specs_rejected("stage-django", |out| {
        let mut c = cmd();
        c.arg("--root").arg(out);
        c
    });
}

/// The example's overlay, helper and environment file, byte for byte; the
/// overlay is valid Python, the helper passes shellcheck, and a shell reads
/// the environment file.
#[test]
fn example_overlay_and_helper_match_golden_and_pass_their_checkers() {
    let dir = tempfile::tempdir().unwrap();
    for (what, name) in [
        ("settings", "example.settings.py"),
        ("manage", "example.manage"),
        ("env", "example.env"),
    ] {
        let out = cmd()
            .args(["--render", what])
            .arg(fixtures().join("specs/example.json"))
            .output()
            .unwrap();
        assert_success(&out);
        assert_golden(golden(name), &out.stdout);
        let p = dir.path().join(name);
        std::fs::write(&p, &out.stdout).unwrap();
        let check = if what == "settings" {
            Command::new("python3")
                .args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())"])
                .arg(&p)
                .output()
                .unwrap()
        } else if what == "env" {
            // What a shell reads from it is what systemd reads (each line).
            Command::new("sh")
                .arg("-c")
                .arg("set -e -a; . \"$1\"; [ \"$WECHAT_CONFIG\" = /etc/wechat/wechat.yaml ]")
                .arg("sh")
                .arg(&p)
                .output()
                .unwrap()
        } else {
            Command::new("shellcheck").arg(&p).output().unwrap()
        };
        assert!(
            check.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

/// The templates themselves pass their checkers as files.
#[test]
fn script_files_pass_shellcheck_and_python() {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    assert_shellcheck(&scripts.join("manage.sh"));
    for f in ["settings.py", "collectstatic.py", "preflight.py", "wsgi.py"] {
        let out = Command::new("python3")
            .args(["-m", "py_compile"])
            .arg(scripts.join(f))
            .env(
                "PYTHONPYCACHEPREFIX",
                std::env::temp_dir().join("stage-django-pyc"),
            )
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A scratch project laid out at its "install path" under a temp dir
/// (stage root `/`): settings with staticfiles and a manifest storage,
/// `SQLite` and `MEDIA_ROOT` inside the project, no hosts, no secret key.
struct Project {
    _dir: tempfile::TempDir,
    top: PathBuf,
    spec: PathBuf,
}

const SETTINGS: &str = r#"from pathlib import Path
BASE_DIR = Path(__file__).resolve().parent.parent
DEBUG = False
ALLOWED_HOSTS = ["internal.example.org"]
INSTALLED_APPS = ["django.contrib.staticfiles", "site_app"]
STATIC_URL = "/wrong/"
STATICFILES_STORAGE = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
STORAGES = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": STATICFILES_STORAGE}}
MEDIA_ROOT = BASE_DIR / "media"
ROOT_URLCONF = "proj.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"},
             "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/x.sqlite3"}}
"#;

/// The scratch Django project's source in `src`: the package `proj`
/// (settings of [`SETTINGS`] and `extra_settings`, WSGI entry, `URLconf`) and
/// the app `site_app` with one view.
fn write_site(src: &Path, extra_settings: &str) {
    write(&src.join("proj/__init__.py"), "");
    write(
        &src.join("proj/settings.py"),
        &format!("{SETTINGS}{extra_settings}"),
    );
    write(&src.join("site_app/__init__.py"), "");
    write(
        &src.join("proj/wsgi.py"),
        "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n",
    );
    write(
        &src.join("proj/urls.py"),
        "from django.urls import path\nfrom site_app import views\nurlpatterns = [path('', views.home)]\n",
    );
    write(
        &src.join("site_app/views.py"),
        "from django.http import HttpResponse\ndef home(request):\n    return HttpResponse('home')\n",
    );
}

/// A management command `name` of the Django app (or package) `app`,
/// whose `handle` runs `body` (one line of Python, with `os` and
/// `settings` imported).
fn write_command(app: &Path, name: &str, body: &str) {
    write(&app.join("management/__init__.py"), "");
    write(&app.join("management/commands/__init__.py"), "");
    write(
        &app.join(format!("management/commands/{name}.py")),
        &format!(
            "import os\nfrom django.conf import settings\nfrom django.core.management.base import BaseCommand\n\
             class Command(BaseCommand):\n    def handle(self, **kw):\n        {body}\n"
        ),
    );
}

impl Project {
    fn new(extra_settings: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let top = std::fs::canonicalize(dir.path()).unwrap();
        let app = top.join("proj");
        write_site(&app, extra_settings);
        write(
            &app.join("site_app/static/site/app.css"),
            "body { color: red }\n",
        );
        let spec = top.join("app.json");
        write(
            &spec,
            &format!(
                r#"{{"module":"proj","version":"1.0","app_dir":"{a}","venv":"{t}/proj-venv",
                    "state_dir":"{t}/proj-state","settings":"proj.settings","wsgi":"proj.wsgi",
                    "static":{{"url":"/static/"}},
                    "server":{{"server_name":["proj.example.com"]}}}}"#,
                a = app.display(),
                t = top.display()
            ),
        );
        Project {
            _dir: dir,
            top,
            spec,
        }
    }

    /// The staged app directory.
    fn app(&self) -> PathBuf {
        self.top.join("proj")
    }

    /// Add `fields` (JSON members) to the spec.
    fn spec_with(&self, fields: &str) {
        let text = std::fs::read_to_string(&self.spec).unwrap();
        let text = text.trim_end().strip_suffix('}').unwrap().to_string();
        std::fs::write(&self.spec, format!("{text},{fields}}}")).unwrap();
    }

    /// Stage the project; it succeeds. The staged app directory.
    #[track_caller]
    fn staged(&self) -> PathBuf {
        assert_success(&self.stage());
        self.app()
    }

    /// `stage-django SPEC --root / --python /usr/bin/python3`.
    fn command(&self) -> Command {
        let mut c = cmd();
        c.arg(&self.spec)
            .args(["--root", "/", "--python", "/usr/bin/python3"]);
        c
    }

    /// Stage the project.
    fn stage(&self) -> std::process::Output {
        self.command().output().unwrap()
    }

    /// The `--cache` directory of [`stage_cached`](Self::stage_cached).
    fn cache(&self) -> PathBuf {
        self.top.join("cache")
    }

    /// Stage the project with `--cache`; it succeeds. What it said on
    /// stderr.
    #[track_caller]
    fn stage_cached(&self) -> String {
        let out = self
            .command()
            .arg("--cache")
            .arg(self.cache())
            .output()
            .unwrap();
        assert_success(&out);
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

#[test]
fn collects_static_files_with_the_manifest_and_writes_overlay_and_helper() {
    let p = Project::new("");
    let app = p.staged();
    let root = app.join("staticfiles");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("staticfiles.json")).unwrap()).unwrap();
    let hashed = manifest["paths"]["site/app.css"].as_str().unwrap();
    assert_ne!(hashed, "site/app.css");
    assert_eq!(
        std::fs::read_to_string(root.join(hashed)).unwrap(),
        "body { color: red }\n"
    );
    let mode = |f: &Path| std::fs::metadata(f).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&root.join(hashed)), 0o644);
    assert_eq!(mode(&app.join("debpipe_settings.py")), 0o644);
    assert_eq!(mode(&p.top.join("proj-venv/bin/manage")), 0o755);
    assert!(!app.join(".staticfiles.collecting").exists());
    // No bytecode written into the staged project.
    assert!(!app.join("proj/__pycache__").exists());
}

/// The overlay as the service sees it: the secret from the key file, the
/// project's hosts plus the server names, static and media roots, `SQLite`
/// inside the app moved to the state dir (one outside it untouched). Without the key file,
/// Django's error names it.
#[test]
fn overlay_sets_secret_hosts_roots_and_moves_sqlite_to_state_dir() {
    let p = Project::new("");
    let app = p.staged();
    let state = p.top.join("proj-state");
    let show = || {
        Command::new("/usr/bin/python3")
            .args([
                "-c",
                "import json, django; from django.conf import settings as s; django.setup(); \
                 print(json.dumps([s.SECRET_KEY, s.ALLOWED_HOSTS, s.STATIC_URL, str(s.STATIC_ROOT), \
                 str(s.MEDIA_ROOT), str(s.DATABASES['default']['NAME']), s.DATABASES['other']['NAME']]))",
            ])
            .current_dir(&app)
            .env("PYTHONPATH", &app)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("DJANGO_SETTINGS_MODULE", "debpipe_settings")
            .output()
            .unwrap()
    };
    let out = show();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let secret = state.join("secret_key");
    assert!(
        err.contains(&format!(
            "debpipe: cannot read the secret key {}",
            secret.display()
        )),
        "{err}"
    );
    write(&secret, "k3y-from-postinst\n");
    let out = show();
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = |p: &Path| p.display().to_string();
    assert_eq!(
        v,
        serde_json::json!([
            "k3y-from-postinst",
            ["internal.example.org", "proj.example.com"],
            "/static/",
            s(&app.join("staticfiles")),
            s(&state.join("media")),
            s(&state.join("db.sqlite3")),
            "/srv/x.sqlite3"
        ])
    );
}

/// A project that keeps its paths as `pathlib.Path` (and joins them with
/// `/`, as pretalx does) gets the replaced roots and database names as
/// `Path` objects too: strings there made every pretalx page a `TypeError`.
#[test]
fn regression_20_replaced_roots_keep_the_projects_path_type() {
    let p = Project::new("STATIC_ROOT = BASE_DIR / 'collected'\n");
    let app = p.staged();
    write(&p.top.join("proj-state/secret_key"), "k3y\n");
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import pathlib, django; from django.conf import settings as s; django.setup(); \
             print(type(s.STATIC_ROOT / 'x').__name__, type(s.MEDIA_ROOT / 'x').__name__, \
             type(s.DATABASES['default']['NAME']).__name__, s.STATIC_ROOT)",
        ])
        .current_dir(&app)
        .env("PYTHONPATH", &app)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("DJANGO_SETTINGS_MODULE", "debpipe_settings")
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "PosixPath PosixPath PosixPath {}",
            app.join("staticfiles").display()
        )
    );
}

/// A project whose settings fail at import: exit 1, one line naming the
/// app directory and the Python error, and no static tree left.
#[test]
fn failing_collectstatic_exits_1_naming_the_error_and_leaves_no_static_tree() {
    let p = Project::new("raise RuntimeError('settings are broken')\n");
    let out = p.stage();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("stage-django: error: ")
            && err.contains("collectstatic failed: RuntimeError: settings are broken"),
        "{err}"
    );
    let app = p.app();
    assert!(!app.join("staticfiles").exists());
    assert!(!app.join(".staticfiles.collecting").exists());
}

/// The entry point uWSGI loads imports the project's `URLconf` and views at
/// load time (Django alone would at the first request), and its app answers.
#[test]
fn wsgi_entry_loads_the_urlconf_and_views_eagerly() {
    let p = Project::new("");
    let app = p.staged();
    write(&p.top.join("proj-state/secret_key"), "k\n");
    let probe = "import sys\n\
        before = 'site_app.views' in sys.modules\n\
        import debpipe_wsgi\n\
        after = 'site_app.views' in sys.modules\n\
        out = []\n\
        body = debpipe_wsgi.application({'REQUEST_METHOD': 'GET', 'PATH_INFO': '/', 'SERVER_NAME': 'proj.example.com', 'SERVER_PORT': '80', 'HTTP_HOST': 'proj.example.com', 'wsgi.input': __import__('io').BytesIO(), 'wsgi.url_scheme': 'http'}, lambda s, h: out.append(s))\n\
        print(before, after, out[0], b''.join(body).decode())\n";
    let out = Command::new("/usr/bin/python3")
        .args(["-c", probe])
        .current_dir(&app)
        .env("PYTHONPATH", &app)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("DJANGO_SETTINGS_MODULE", "debpipe_settings")
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "False True 200 OK home\n"
    );
}

/// `"collectstatic": false`: the overlay and helper are written, nothing is
/// collected (the app ships `static.dir` as it has it).
#[test]
fn collectstatic_false_collects_nothing() {
    let p = Project::new("");
    let text = std::fs::read_to_string(&p.spec).unwrap();
    let off = text.replace(
        r#""static":{"url":"/static/"}"#,
        r#""static":{"url":"/static/"},"collectstatic":false"#,
    );
    assert_ne!(text, off, "the fixture's spec changed shape");
    std::fs::write(&p.spec, off).unwrap();
    let app = p.staged();
    assert!(app.join("debpipe_settings.py").exists());
    assert!(
        !app.join("staticfiles").exists(),
        "collected despite collectstatic: false"
    );
}

/// `--cache`: the same stage links the tree collected before (the same
/// files, hard links of the cache's); a changed static file in the app
/// collects again.
#[test]
fn cache_links_the_tree_collected_from_the_same_inputs() {
    use std::os::unix::fs::MetadataExt;
    let p = Project::new("");
    let stage = || p.stage_cached();
    let static_root = p.top.join("proj/staticfiles");
    let hashed = || {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(static_root.join("staticfiles.json")).unwrap())
                .unwrap();
        m["paths"]["site/app.css"].as_str().unwrap().to_string()
    };
    let first = stage();
    assert!(
        first.contains("collected") && !first.contains("(cached)"),
        "{first}"
    );
    let name = hashed();
    let again = stage();
    assert!(again.contains("(cached)"), "{again}");
    assert_eq!(hashed(), name);
    let ino = std::fs::metadata(static_root.join(&name)).unwrap().ino();
    assert!(std::fs::metadata(static_root.join(&name)).unwrap().nlink() >= 2);
    // A new file in the venv (another package): collected again.
    write(&p.top.join("proj-venv/lib/extra.py"), "x = 1\n");
    let new_venv = stage();
    assert!(!new_venv.contains("(cached)"), "{new_venv}");
    assert!(stage().contains("(cached)"));
    // Same length, other colour: collected again, under another name.
    write(
        &p.top.join("proj/site_app/static/site/app.css"),
        "body { color: tan }\n",
    );
    let changed = stage();
    assert!(!changed.contains("(cached)"), "{changed}");
    assert_ne!(hashed(), name);
    assert_ne!(
        std::fs::metadata(static_root.join(hashed())).unwrap().ino(),
        ino
    );
}

/// A relative `--root` (the Makefile's `build/<app>/stage`): python runs in
/// the app's directory, so the static root it is given must not be relative
/// to ours (it was: collectstatic failed with "No such file or directory").
#[test]
fn a_relative_root_collects_into_the_stage() {
    let p = Project::new("");
    let out = cmd()
        .current_dir("/")
        .arg(&p.spec)
        .args(["--root", ".", "--python", "/usr/bin/python3"])
        .output()
        .unwrap();
    assert_success(&out);
    assert!(p.top.join("proj/staticfiles/staticfiles.json").is_file());
    assert_eq!(String::from_utf8_lossy(&out.stdout), ".\n");
}

/// With `server.tls`, Django trusts nginx's `X-Forwarded-Proto` (a request
/// nginx got over https is secure) and the server names' https origins
/// (the project's own kept); without it, neither.
#[test]
fn tls_makes_forwarded_https_secure_and_trusts_the_names_origins() {
    let probe = "import django; django.setup(); from django.conf import settings as s; \
        from django.test import RequestFactory as F; \
        r = F().get('/', HTTP_X_FORWARDED_PROTO='https', HTTP_HOST='proj.example.com'); \
        print(r.is_secure(), sorted(getattr(s, 'CSRF_TRUSTED_ORIGINS', [])))";
    let show = |p: &Project| {
        write(&p.top.join("proj-state/secret_key"), "k\n");
        let out = Command::new("/usr/bin/python3")
            .args(["-c", probe])
            .current_dir(p.app())
            .env("PYTHONPATH", p.app())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("DJANGO_SETTINGS_MODULE", "debpipe_settings")
            .output()
            .unwrap();
        assert_success(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    let p = Project::new("CSRF_TRUSTED_ORIGINS = ['own.example.org']\n");
    p.staged();
    assert_eq!(show(&p), "False ['own.example.org']\n");
    let text = std::fs::read_to_string(&p.spec).unwrap();
    let tls = text.replace(
        r#""server_name":["proj.example.com"]"#,
        r#""server_name":["proj.example.com","*.proj.example.com","_"],
           "tls":{"certificate":"/etc/ssl/certs/proj.pem","key":"/etc/ssl/private/proj.key"}"#,
    );
    assert_ne!(text, tls, "the fixture's spec changed shape");
    std::fs::write(&p.spec, tls).unwrap();
    p.staged();
    // Django 3.2 names hosts (`.domain` for subdomains); 4 and later, origins.
    let v = Command::new("/usr/bin/python3")
        .args(["-c", "import django; print(django.VERSION[0])"])
        .output()
        .unwrap();
    let want = if String::from_utf8_lossy(&v.stdout).trim() == "3" {
        "True ['.proj.example.com', 'own.example.org', 'proj.example.com']\n"
    } else {
        "True ['https://*.proj.example.com', 'https://proj.example.com', 'own.example.org']\n"
    };
    assert_eq!(show(&p), want);
}
