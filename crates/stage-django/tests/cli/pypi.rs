//! An application installed from PyPI: the app directory holds only
//! `app.json` and `requirements.txt`; the settings module, the WSGI entry,
//! the static files and the management commands come from the installed
//! package. Here a minimal Django project built as a wheel (`pip wheel`,
//! setuptools from pyproject.toml, offline) and installed into a venv that
//! sees Debian's Django.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use super::{assert_success, cmd, write, write_command};

fn run(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The package `tinysite`: settings, `URLconf`, WSGI module, a static file
/// and a management command, as package data of a wheel.
fn make_wheel(src: &Path, wheels: &Path) {
    write(
        &src.join("pyproject.toml"),
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
         [project]\nname = \"tinysite\"\nversion = \"0.1\"\n\n\
         [tool.setuptools]\npackages = [\"tinysite\", \"tinysite.management\", \"tinysite.management.commands\"]\n\n\
         [tool.setuptools.package-data]\ntinysite = [\"static/tinysite/*\"]\n",
    );
    let pkg = src.join("tinysite");
    write(&pkg.join("__init__.py"), "");
    write(
        &pkg.join("settings.py"),
        "import os\nDEBUG = False\nINSTALLED_APPS = ['django.contrib.staticfiles', 'tinysite']\n\
         ROOT_URLCONF = 'tinysite.urls'\nSTATIC_URL = '/s/'\n\
         DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': '/nonexistent/db'}}\n\
         GREETING = os.environ.get('TINY_GREETING', 'hello')\n",
    );
    write(
        &pkg.join("urls.py"),
        "from django.http import HttpResponse\nfrom django.urls import path\n\
         urlpatterns = [path('', lambda r: HttpResponse('tiny'))]\n",
    );
    write(
        &pkg.join("wsgi.py"),
        "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n",
    );
    write(
        &pkg.join("static/tinysite/tiny.css"),
        &"p { margin: 0 }\n".repeat(40),
    );
    write_command(
        &pkg,
        "tinyrebuild",
        "open(os.path.join(settings.STATIC_ROOT, 'rebuilt.txt'), 'w').write(settings.GREETING)",
    );
    run(Command::new("/usr/bin/python3")
        .args([
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-w",
        ])
        .arg(wheels)
        .arg(src)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PYTHONDONTWRITEBYTECODE", "1"));
}

/// An app directory with only app.json and requirements.txt: the overlay
/// and entry point import the package's modules, collectstatic finds the
/// package's static files, a build command of the package runs, the
/// preflight passes, and the helper runs a command without manage.py.
#[test]
fn an_app_installed_from_a_wheel_needs_no_manage_py() {
    let dir = tempfile::tempdir().unwrap();
    let top = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::set_permissions(&top, std::fs::Permissions::from_mode(0o755)).unwrap();
    let wheels = top.join("wheels");
    make_wheel(&top.join("src"), &wheels);
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .unwrap();
    let venv = top.join("venvs/tinysite-api");
    run(Command::new("/usr/bin/python3")
        .args(["-m", "venv", "--system-site-packages", "--without-pip"])
        .arg(&venv));
    run(Command::new(venv.join("bin/python3"))
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--no-compile",
            "--disable-pip-version-check",
        ])
        .arg(&wheel)
        .env("PIP_CONFIG_FILE", "/dev/null"));
    let app = top.join("tinysite");
    write(&app.join("requirements.txt"), "tinysite==0.1\n");
    let spec = app.join("app.json");
    write(
        &spec,
        &format!(
            r#"{{"module":"tinysite","version":"0.1","app_dir":"{a}","venv":"{v}",
                "state_dir":"{t}/lib/tinysite","user":"nobody","group":"nogroup",
                "settings":"tinysite.settings","wsgi":"tinysite.wsgi:application",
                "static":{{"url":"/s/"}},"env":{{"TINY_GREETING":"hi"}},
                "build_env":{{"TINY_GREETING":"built"}},
                "build_commands":[["tinyrebuild"]]}}"#,
            a = app.display(),
            v = venv.display(),
            t = top.display()
        ),
    );
    let err = run(cmd().arg(&spec).args(["--root", "/"]));
    assert!(err.contains("build command `tinyrebuild` ran"), "{err}");
    assert!(
        err.contains("preflight: debpipe_wsgi:application imports"),
        "{err}"
    );
    let st = app.join("staticfiles");
    assert_eq!(
        std::fs::read_to_string(st.join("tinysite/tiny.css")).unwrap(),
        "p { margin: 0 }\n".repeat(40)
    );
    assert!(st.join("tinysite/tiny.css.gz").is_file());
    assert_eq!(
        std::fs::read_to_string(st.join("rebuilt.txt")).unwrap(),
        "built"
    );
    assert!(!app.join("manage.py").exists());
    // At run time: the helper, as the service user, with the package's env.
    write(&top.join("lib/tinysite/secret_key"), "k3y\n");
    let out = Command::new(venv.join("bin/manage"))
        .args([
            "shell",
            "-c",
            "from django.conf import settings; import debpipe_wsgi; print(settings.GREETING, settings.STATIC_ROOT)",
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("hi {}\n", st.display())
    );
}
