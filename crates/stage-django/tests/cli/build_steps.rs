//! The build steps after collectstatic: `build_commands`, the precompressed
//! static files, the preflight; and where they run (`project_dir`, the
//! staged `python_path`).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{Project, assert_success, cmd, write, write_command, write_site};

/// A management command of the scratch project: it appends what it sees
/// to `<STATIC_ROOT>/order.txt` (its tag, whether collectstatic ran
/// before, the environment), writes gzip files with a timestamp and a name
/// (Python's gzip module) into the static root and the app tree, and
/// compiles itself and a venv module to bytecode on purpose.
const MKFILE: &str = r#"import gzip, json, os, py_compile
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("tag")

    def handle(self, tag, **kw):
        if tag == "fail":
            raise CommandError("it broke")
        root = str(settings.STATIC_ROOT)
        seen = [tag, os.path.exists(os.path.join(root, "staticfiles.json")),
                os.environ.get("DEBPIPE_BUILD"), os.environ.get("B"), os.environ.get("GONE"),
                os.environ.get("E"), os.getcwd()]
        with open(os.path.join(root, "order.txt"), "a") as f:
            f.write(json.dumps(seen) + "\n")
        with gzip.open(os.path.join(root, tag + ".txt.gz"), "wb") as g:
            g.write(("made by " + tag + "\n").encode() * 40)
        data = os.path.join(settings.BASE_DIR, "data")
        os.makedirs(data, exist_ok=True)
        with gzip.open(os.path.join(data, tag + ".json.gz"), "wb") as g:
            g.write(b"[]")
        py_compile.compile(__file__, doraise=True)
        venv = os.environ["VENV_DIR"]
        os.makedirs(os.path.join(venv, "lib"), exist_ok=True)
        with open(os.path.join(venv, "lib", "vmod.py"), "w") as f:
            f.write("x = 1\n")
        py_compile.compile(os.path.join(venv, "lib", "vmod.py"), doraise=True)
"#;

fn add_command(p: &Project) {
    let cmds = p.app().join("site_app/management/commands");
    write(&p.app().join("site_app/management/__init__.py"), "");
    write(&cmds.join("__init__.py"), "");
    write(&cmds.join("mkfile.py"), MKFILE);
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

/// Each of `files` with its bytes, to compare after a rebuild.
fn read_all(files: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>)> {
    files
        .iter()
        .map(|f| (f.clone(), std::fs::read(f).unwrap()))
        .collect()
}

/// Each file [`read_all`] read still holds the same bytes.
#[track_caller]
fn assert_unchanged(files: &[(PathBuf, Vec<u8>)]) {
    for (f, bytes) in files {
        assert_eq!(&std::fs::read(f).unwrap(), bytes, "{}", f.display());
    }
}

/// Every file under `dir` whose name ends with `suffix`, sorted.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                if p.file_name().unwrap() == "__pycache__" && suffix == "__pycache__" {
                    out.push(p.clone());
                }
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A gzip file as `gzip -9n` writes it: no name, MTIME 0, OS 3 (lintian's
/// package-contains-timestamped-gzip reads the MTIME), and `gzip --test`
/// (lintian's broken-gz) passes.
fn assert_gzip_n(path: &Path) -> Vec<u8> {
    let g = std::fs::read(path).unwrap();
    assert_eq!(g[..4], [0x1f, 0x8b, 8, 0], "{}: flags", path.display());
    assert_eq!(g[4..8], [0, 0, 0, 0], "{}: mtime", path.display());
    assert_eq!(g[9], 3, "{}: OS byte", path.display());
    let t = Command::new("gzip")
        .arg("--test")
        .arg(path)
        .output()
        .unwrap();
    assert_success(&t);
    let mut data = Vec::new();
    flate2::read::GzDecoder::new(&g[..])
        .read_to_end(&mut data)
        .unwrap();
    data
}

/// `build_commands` run in order after collectstatic, in the project
/// root, with `env` and `build_env` merged (`null` removes) and
/// `DEBPIPE_BUILD=1`; what they write ships with no bytecode anywhere
/// (app, venv) and gzip headers without timestamp or name, the same bytes
/// on a second build.
#[test]
fn build_commands_run_in_order_and_leave_no_bytecode_nor_timestamped_gzip() {
    let p = Project::new("");
    add_command(&p);
    let venv = p.top.join("proj-venv");
    p.spec_with(&format!(
        r#""env":{{"E":"e","GONE":"x"}},"build_env":{{"B":"built","GONE":null,"VENV_DIR":"{}"}},
           "build_commands":[["mkfile","first"],["mkfile","second"]]"#,
        venv.display()
    ));
    let err = ok(&p.stage());
    assert!(
        err.contains("build command `mkfile first` ran")
            && err.contains("build command `mkfile second` ran"),
        "{err}"
    );
    let root = p.app().join("staticfiles");
    let order = std::fs::read_to_string(root.join("order.txt")).unwrap();
    let app = p.app().display().to_string();
    assert_eq!(
        order,
        format!(
            "[\"first\", true, \"1\", \"built\", null, \"e\", \"{app}\"]\n\
             [\"second\", true, \"1\", \"built\", null, \"e\", \"{app}\"]\n"
        )
    );
    assert!(files_ending(&p.app(), "__pycache__").is_empty());
    assert!(files_ending(&p.app(), ".pyc").is_empty());
    assert!(files_ending(&venv, ".pyc").is_empty());
    assert!(venv.join("lib/vmod.py").is_file());
    let written = [
        root.join("first.txt.gz"),
        root.join("second.txt.gz"),
        p.app().join("data/first.json.gz"),
    ];
    let bytes = read_all(&written);
    assert_eq!(assert_gzip_n(&written[0]), b"made by first\n".repeat(40));
    for g in &written[1..] {
        assert_gzip_n(g);
    }
    // Python's gzip stamps the second it writes: a later build, same bytes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ok(&p.stage());
    assert_unchanged(&bytes);
}

/// A failing build command: exit 1, one error line naming the command and
/// Django's message; the commands after it do not run.
#[test]
fn a_failing_build_command_exits_1_naming_it_in_one_line() {
    let p = Project::new("");
    add_command(&p);
    p.spec_with(&format!(
        r#""build_env":{{"VENV_DIR":"{}"}},
           "build_commands":[["mkfile","first"],["mkfile","fail"],["mkfile","never"]]"#,
        p.top.join("proj-venv").display()
    ));
    let out = p.stage();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let errors: Vec<_> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].starts_with("stage-django: error: ")
            && errors[0].ends_with("build command `mkfile fail` failed: CommandError: it broke"),
        "{err}"
    );
    assert_eq!(err.lines().last(), Some(errors[0]));
    let order = std::fs::read_to_string(p.app().join("staticfiles/order.txt")).unwrap();
    assert!(!order.contains("never"), "{order}");
    // An unknown command names itself too.
    let p = Project::new("");
    p.spec_with(r#""build_commands":[["nosuchcommand","--x"]]"#);
    let out = p.stage();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("build command `nosuchcommand --x` failed: Unknown command: 'nosuchcommand'"),
        "{err}"
    );
}

/// Static files that nginx's `gzip_static` can serve: a `.gz` beside each
/// compressible file of 256 bytes or more (the manifest's hashed copies
/// too) when it saves space, none for small, binary-typed or
/// incompressible ones; a `.gz` that was there already is normalised, not
/// replaced. The same bytes again, and from the cache.
#[test]
fn static_files_get_reproducible_gz_beside_them_and_from_the_cache() {
    let p = Project::new("");
    let st = p.app().join("site_app/static/site");
    write(&st.join("big.css"), &"body { color: red }\n".repeat(50));
    write(&st.join("small.css"), "a{}\n");
    write(&st.join("logo.png"), &"png?".repeat(200));
    let mut x: u32 = 1;
    let noise: Vec<u8> = (0..2000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16).to_le_bytes()[0]
        })
        .collect();
    std::fs::write(st.join("noise.js"), noise).unwrap();
    write(&st.join("pre.js"), &"let a = 1;\n".repeat(100));
    let mut enc = flate2::GzBuilder::new()
        .mtime(1_700_000_000)
        .filename("pre.js")
        .write(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, b"precompressed by the app").unwrap();
    std::fs::write(st.join("pre.js.gz"), enc.finish().unwrap()).unwrap();
    let stage = || p.stage_cached();
    let first = stage();
    assert!(first.contains(".gz written"), "{first}");
    let root = p.app().join("staticfiles");
    let gz = files_ending(&root, ".gz");
    let names: Vec<_> = gz
        .iter()
        .map(|g| g.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("staticfiles.json")).unwrap()).unwrap();
    let hashed = m["paths"]["site/big.css"].as_str().unwrap();
    for want in ["site/big.css.gz", &format!("{hashed}.gz"), "site/pre.js.gz"] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    for not in ["small.css", "logo.png", "noise.js"] {
        assert!(!names.iter().any(|n| n.contains(not)), "{not} in {names:?}");
    }
    assert_eq!(
        assert_gzip_n(&root.join("site/big.css.gz")),
        "body { color: red }\n".repeat(50).as_bytes()
    );
    assert_eq!(
        assert_gzip_n(&root.join("site/pre.js.gz")),
        b"precompressed by the app"
    );
    for g in &gz {
        assert_gzip_n(g);
    }
    let bytes = read_all(&gz);
    let again = stage();
    assert!(again.contains("(cached)"), "{again}");
    assert_eq!(files_ending(&root, ".gz"), gz);
    assert_unchanged(&bytes);
    // Without the cache, the same bytes too.
    ok(&p.stage());
    assert_unchanged(&bytes);
}

/// The preflight postinst runs, at build time: a release whose views do
/// not import, or with a system check error, fails the build with one line
/// naming the error (`--no-check` skips it); a sound one passes.
#[test]
fn the_preflight_fails_the_build_on_import_and_check_errors() {
    let p = Project::new("");
    let out = ok(&p.stage());
    assert!(
        out.contains("preflight: debpipe_wsgi:application imports, manage.py check found no error"),
        "{out}"
    );
    write(&p.app().join("site_app/views.py"), "import nosuchmodule\n");
    let out = p.stage();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.lines().last().unwrap().ends_with(
            "preflight failed: debpipe_wsgi:application does not import: \
             ModuleNotFoundError: No module named 'nosuchmodule'"
        ),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.contains("error")).count(),
        1,
        "{err}"
    );
    let skipped = cmd()
        .arg(&p.spec)
        .args(["--root", "/", "--python", "/usr/bin/python3", "--no-check"])
        .output()
        .unwrap();
    ok(&skipped);
    write(
        &p.app().join("site_app/views.py"),
        "from django.http import HttpResponse\ndef home(request):\n    return HttpResponse('home')\n",
    );
    write(
        &p.app().join("site_app/models.py"),
        "from django.db import models\nclass Thing(models.Model):\n    name = models.CharField()\n",
    );
    let out = p.stage();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.lines().last().unwrap().ends_with(
            "preflight failed: manage.py check found 1 error(s): \
             site_app.Thing.name: (fields.E120) CharFields must define a 'max_length' attribute."
        ),
        "{err}"
    );
}

/// `project_dir` and `python_path` at build time, in a stage that is not
/// `/`: the steps start in the staged project root, with the staged copy of
/// a `python_path` directory importable (the host has none), and the
/// overlay, entry point and debpipe.env sit where the spec says.
#[test]
fn project_dir_and_the_staged_python_path_at_build_time() {
    let dir = tempfile::tempdir().unwrap();
    let stage = std::fs::canonicalize(dir.path()).unwrap().join("stage");
    let app = stage.join("srv/proj");
    let src = app.join("src");
    write(&app.join("requirements.txt"), "Django\n");
    write_site(&src, "from ppcfg_local import GREETING\n");
    write(&src.join("site_app/static/site/a.css"), "a { }\n");
    write_command(
        &src.join("site_app"),
        "greet",
        "open(os.path.join(settings.STATIC_ROOT, 'greeting.txt'), 'w').write(settings.GREETING + ' ' + os.getcwd())",
    );
    write(
        &stage.join("etc/ppcfg/ppcfg_local.py"),
        "GREETING = 'from the staged etc'\n",
    );
    assert!(!Path::new("/etc/ppcfg").exists());
    std::fs::create_dir_all(stage.join("srv/proj-venv/bin")).unwrap();
    std::os::unix::fs::symlink("/usr/bin/python3", stage.join("srv/proj-venv/bin/python3"))
        .unwrap();
    let spec = dir.path().join("app.json");
    write(
        &spec,
        r#"{"module":"proj","version":"1.0","app_dir":"/srv/proj","venv":"/srv/proj-venv",
            "project_dir":"src","python_path":["/etc/ppcfg"],
            "settings":"proj.settings","wsgi":"proj.wsgi","static":{"url":"/static/"},
            "build_commands":[["greet"]]}"#,
    );
    let out = cmd().arg(&spec).arg("--root").arg(&stage).output().unwrap();
    let err = ok(&out);
    assert!(
        err.contains("preflight: debpipe_wsgi:application imports"),
        "{err}"
    );
    assert!(src.join("debpipe_settings.py").is_file() && src.join("debpipe_wsgi.py").is_file());
    assert!(!app.join("debpipe_settings.py").exists());
    assert_eq!(
        std::fs::read_to_string(app.join("staticfiles/greeting.txt")).unwrap(),
        format!("from the staged etc {}", src.display())
    );
    assert!(app.join("staticfiles/staticfiles.json").is_file());
    let env = std::fs::read_to_string(app.join("debpipe.env")).unwrap();
    assert!(
        env.contains("\nPYTHONPATH=/srv/proj/src:/etc/ppcfg\n"),
        "{env}"
    );
    assert!(files_ending(&stage, ".pyc").is_empty());
}

/// `--cache` and the build steps: a changed `build_env` is another key
/// (collectstatic runs with it); with `build_commands` the cache is not
/// used at all (they run each time, after a real collectstatic, and no
/// entry is kept).
#[test]
fn the_cache_keys_on_build_env_and_is_bypassed_with_build_commands() {
    let p = Project::new("");
    let cache = p.cache();
    let stage = || p.stage_cached();
    p.spec_with(r#""build_env":{"X":"1"}"#);
    assert!(!stage().contains("(cached)"));
    assert!(stage().contains("(cached)"));
    let text = std::fs::read_to_string(&p.spec).unwrap();
    std::fs::write(&p.spec, text.replace(r#""X":"1""#, r#""X":"2""#)).unwrap();
    let changed = stage();
    assert!(!changed.contains("(cached)"), "{changed}");
    let entries = || std::fs::read_dir(&cache).unwrap().count();
    let kept = entries();
    add_command(&p);
    p.spec_with(&format!(
        r#""build_commands":[["mkfile","one"]],"env":{{"VENV_DIR":"{}"}}"#,
        p.top.join("proj-venv").display()
    ));
    for _ in 0..2 {
        let err = stage();
        assert!(
            !err.contains("(cached)") && err.contains("build command `mkfile one` ran"),
            "{err}"
        );
    }
    assert_eq!(entries(), kept);
    let order = std::fs::read_to_string(p.app().join("staticfiles/order.txt")).unwrap();
    assert_eq!(order.lines().count(), 1, "{order}");
}
