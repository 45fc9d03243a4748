//! mkvenv: build an app's virtualenv in a staging tree so that it works at
//! its install path, and print the facts the control file needs.
//!
//! The venv is made with `<python> -m venv` in a hidden temporary directory
//! beside its staging path (`STAGE/<venv>`), filled by pip from a wheelhouse,
//! then relocated: every trace of the build directory is rewritten to the
//! install path, shebangs are regenerated (a plain `#!` line, or pip's
//! `#!/bin/sh` + `'''exec'` wrapper when the install path is too long for
//! one), byte-compiled files are removed, modes are normalised, and only then
//! is the directory renamed into place. A failure at any step leaves nothing
//! at `STAGE/<venv>`.
//!
//! Modes follow what the file is, not what the wheel said: pip keeps any
//! executable bit a wheel's zip entry carries, and wheels set it on bundled
//! shared libraries (`pillow.libs/*.so.*`) and data (`.po`, `.mo`), which
//! lintian rejects (`shared-library-is-executable`, `executable-not-elf-or-script`).
//! So 0755 goes to directories, ELF executables (`ET_EXEC`, or `ET_DYN` with a
//! `PT_INTERP` program header or the `DF_1_PIE` flag) and `#!` scripts in the
//! venv's `bin/`; everything else, shared libraries included, gets 0644.
//!
//! An unversioned python shebang (`#!python`, `#!/usr/bin/python`,
//! `#!/usr/bin/env python`) anywhere in the venv is pointed at the venv's
//! `bin/python`, the interpreter pip writes into the venv's own scripts and
//! dh-virtualenv points `bin/` scripts at; the module's imports only work
//! there, and Debian has no `python` command anyway. Dropping the executable
//! bit would not be enough: lintian's `script-uses-unversioned-python-in-shebang`
//! (an error) reads the `#!` line of every file whose path contains `bin/`,
//! executable or not (`site-packages/*/bin/*.py` included). `bin/python`
//! rather than `bin/python3`, because lintian calls the latter
//! `wrong-path-for-interpreter` (an error; it wants `/usr/bin/python3`) and
//! the former only `unusual-interpreter` (a warning, as for pip's scripts).
//!
//! Byte-compiled files are left out on purpose: Debian's lintian rejects a
//! package that ships `__pycache__` (`package-installs-python-pycache-dir`,
//! severity error), and a `.pyc` compiled at build time is checked against
//! the source mtime, which the package's clamped mtimes would not match.
//! So the facts say `"compiled": true`, meaning *postinst must byte-compile*:
//! `<venv>/bin/python3 -m compileall -q <venv>/lib || true` (in place, at the
//! install path, so no `-d` is needed), and prerm must remove what it made:
//! `find <venv> -depth -type d -name __pycache__ -exec rm -rf {} +`.
//!
//! pip runs hermetically: no pip configuration file (`PIP_CONFIG_FILE=/dev/null`),
//! no `PIP_*` variable but the transport ones ([`PIP_PASSTHROUGH`]), no
//! `PYTHON*` variable, no cache, no version check, no byte-compiling.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Read as _;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use debpipe_core::{AppSpec, Error, Result, io};
use memchr::memmem;

/// The longest shebang line Linux pip trusts (distlib's limit, newline
/// included); a longer one gets the `#!/bin/sh` wrapper.
pub const MAX_SHEBANG: usize = 127;

/// Directories an interpreter may live in without `--force-python`.
pub const SYSTEM_BIN_DIRS: [&str; 2] = ["/usr/bin", "/usr/local/bin"];

/// `PIP_*` variables passed to pip: how to reach an index (certificates,
/// proxy, timeouts, mirror URLs). Every other `PIP_*` variable (notably
/// `PIP_FIND_LINKS`, `PIP_NO_BINARY`, `PIP_CONSTRAINT`, `PIP_TARGET`,
/// `PIP_USER`, `PIP_PREFIX`) would change what gets installed or where, and is
/// dropped.
pub const PIP_PASSTHROUGH: [&str; 8] = [
    "PIP_CERT",
    "PIP_CLIENT_CERT",
    "PIP_PROXY",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_RETRIES",
    "PIP_TRUSTED_HOST",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
];

/// Build an app's relocatable virtualenv in a staging tree.
#[derive(Debug, clap::Parser)]
#[allow(clippy::struct_excessive_bools)] // command-line switches
#[command(
    version,
    about = "Build an app's virtualenv under a staging root, relocated to its install path",
    long_about = "Build an app's virtualenv under a staging root, relocated to its install path.\n\n\
The venv is made with `PYTHON -m venv`, filled by pip from the requirements file \
(hermetically: no pip config, no PIP_* variable but proxy/certificate/index ones, \
no cache), then every trace of the build path is rewritten to the spec's `venv` \
path. Byte-compiled files are removed: postinst must compile them, prerm remove them. \
Modes are set by what a file is: 0755 for directories, ELF programs and bin/ scripts, \
0644 for the rest (shared libraries included); unversioned python shebangs are pointed \
at the venv's python.\n\n\
Prints a JSON object of facts on stdout: venv, python, python_depends, \
shlib_depends, architecture, compiled.",
    after_help = "Examples:\n  \
mkvenv app.json -r requirements.txt --find-links wheels --no-index --root stage > venv.json\n  \
mkvenv -r requirements.txt --root stage -o venv.json - < app.json"
)]
pub struct Cli {
    /// App spec (JSON); `-` reads stdin. Its `venv` field is the install path
    #[arg(value_name = "SPEC", default_value = "-")]
    pub spec: PathBuf,
    /// Requirements file for pip (`--hash=` pins turn on --require-hashes)
    #[arg(short, long, value_name = "FILE")]
    pub requirements: PathBuf,
    /// Wheelhouse directory (or URL) for pip; repeatable
    #[arg(long, value_name = "DIR")]
    pub find_links: Vec<String>,
    /// Install from --find-links only, never from an index
    #[arg(long)]
    pub no_index: bool,
    /// Interpreter the venv is made with, and will run with on the target
    #[arg(long, value_name = "PATH", default_value = "/usr/bin/python3")]
    pub python: PathBuf,
    /// Accept an interpreter outside /usr/bin and /usr/local/bin
    #[arg(long)]
    pub force_python: bool,
    /// Upgrade pip in the venv first (from the same wheelhouse)
    #[arg(long, conflicts_with = "without_pip")]
    pub upgrade_pip: bool,
    /// Leave pip out of the venv: install with the interpreter's own pip
    /// (`pip --python VENV`), which skips ensurepip (about 3 s) and ships a
    /// smaller venv that cannot `pip install` on the target
    #[arg(long)]
    pub without_pip: bool,
    /// Install PKG before the requirements (e.g. setuptools); repeatable
    #[arg(long, value_name = "PKG")]
    pub preinstall: Vec<String>,
    /// Staging root: the venv is built at `STAGE/<venv>`
    #[arg(long, value_name = "STAGE")]
    pub root: PathBuf,
    /// Write the facts to FILE atomically instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Show pip's output and a summary on stderr
    #[arg(short, long)]
    pub verbose: bool,
}

/// What the next tools need to know about the venv (printed as JSON): the
/// one type gen-control reads, in debpipe-core.
pub use debpipe_core::facts::Facts;

/// Counts reported with `--verbose`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Regular files looked at.
    pub files: usize,
    /// Files whose content was rewritten.
    pub rewritten: usize,
    /// Of those, files whose shebang (or sh wrapper) was regenerated.
    pub shebangs: usize,
    /// Symbolic links re-pointed.
    pub symlinks: usize,
    /// Of those shebangs, unversioned python ones pointed at the venv's python.
    pub unversioned: usize,
    /// `.pyc` files and `__pycache__` directories removed.
    pub bytecode_removed: usize,
    /// Files and directories whose mode was changed (to 0755 or 0644).
    pub modes_fixed: usize,
}

/// Run the tool.
pub fn run(cli: &Cli) -> Result<()> {
    let started = Instant::now();
    let spec = AppSpec::from_json(&cli.spec, &io::read_input(&cli.spec)?)?;
    let install = spec.venv.clone();

    check_interpreter(&cli.python, None, cli.force_python)
        .map_err(|r| Error::file(&cli.python, r))?;
    let resolved = fs::canonicalize(&cli.python).map_err(|e| Error::io(&cli.python, e))?;
    check_interpreter(&cli.python, Some(&resolved), cli.force_python)
        .map_err(|r| Error::file(&cli.python, r))?;
    let pip = PipInputs::new(cli)?;
    let env = pip_env(std::env::vars_os());
    let version = probe_python(&cli.python, &env)?;

    fs::create_dir_all(&cli.root).map_err(|e| Error::io(&cli.root, e))?;
    let stage = fs::canonicalize(&cli.root).map_err(|e| Error::io(&cli.root, e))?;
    let target = stage.join(install.trim_start_matches('/'));
    let build = make_build_dir(&target)?;
    let build_dir = build.path().to_path_buf();

    let mut venv_cmd = Command::new(&cli.python);
    venv_cmd.arg("-m").arg("venv");
    if cli.without_pip {
        venv_cmd.arg("--without-pip");
    }
    venv_cmd.arg(&build_dir);
    run_quiet(venv_cmd, &env, &cli.python, "python -m venv", cli.verbose)?;
    pip.install(cli, &build_dir.join("bin/python"), &env)?;

    let relocation = Relocation {
        from: build_dir.as_os_str().as_bytes().to_vec(),
        to: install.as_bytes().to_vec(),
        stage: stage.as_os_str().as_bytes().to_vec(),
    };
    let mut stats = Stats::default();
    let mut elves = Vec::new();
    let bin = build_dir.join("bin");
    relocate_tree(&build_dir, &bin, &relocation, &mut stats, &mut elves)?;
    fs::set_permissions(&build_dir, fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(&build_dir, e))?;

    let shlib_depends = shlib_depends(&build_dir, &elves)?;
    let architecture = if elves.is_empty() {
        "all".to_string()
    } else {
        dpkg_architecture()?
    };
    let python_depends = python_depends(&cli.python, version);
    if python_depends.is_empty() {
        eprintln!(
            "mkvenv: warning: {} is not a Debian package's python3; declare the dependency on it yourself",
            cli.python.display()
        );
    }

    put_in_place(build, &target)?;

    let facts = Facts {
        venv: install,
        python: format!("{}.{}", version.0, version.1),
        python_depends,
        shlib_depends,
        architecture: Some(architecture),
        compiled: true,
        ..Facts::default()
    };
    if cli.verbose {
        eprintln!(
            "mkvenv: built {} in {:.1}s: {} files, {} rewritten ({} shebangs, {} of them unversioned python), {} symlinks, {} bytecode removed, {} modes fixed, {} ELF files ({} executable)",
            target.display(),
            started.elapsed().as_secs_f64(),
            stats.files,
            stats.rewritten,
            stats.shebangs,
            stats.unversioned,
            stats.symlinks,
            stats.bytecode_removed,
            stats.modes_fixed,
            elves.len(),
            elves.iter().filter(|e| e.executable).count()
        );
    }
    io::write_output(cli.output.as_deref(), render_facts(&facts).as_bytes())
}

/// The requirements and wheelhouses, checked and made absolute.
struct PipInputs {
    requirements: PathBuf,
    hashes: bool,
    find_links: Vec<OsString>,
}

impl PipInputs {
    fn new(cli: &Cli) -> Result<Self> {
        let text = fs::read(&cli.requirements).map_err(|e| Error::io(&cli.requirements, e))?;
        let requirements =
            fs::canonicalize(&cli.requirements).map_err(|e| Error::io(&cli.requirements, e))?;
        let mut find_links = Vec::new();
        for link in &cli.find_links {
            if link.contains("://") {
                find_links.push(OsString::from(link));
            } else {
                let p = fs::canonicalize(link).map_err(|e| Error::io(link, e))?;
                find_links.push(p.into_os_string());
            }
        }
        Ok(Self {
            requirements,
            hashes: requires_hashes(&String::from_utf8_lossy(&text)),
            find_links,
        })
    }

    /// pip's runs: pip itself, the preinstalled packages, the requirements.
    fn install(&self, cli: &Cli, python: &Path, env: &[(OsString, OsString)]) -> Result<()> {
        let mut base = pip_base_args(&self.find_links, cli.no_index);
        // Without pip in the venv, the interpreter's own pip installs into it.
        let program = if cli.without_pip {
            base.splice(
                2..2,
                [OsString::from("--python"), python.as_os_str().to_owned()],
            );
            cli.python.as_path()
        } else {
            python
        };
        let step = |what: &str, args: &[OsString]| {
            let mut c = Command::new(program);
            c.args(&base).args(args);
            run_quiet(c, env, &cli.requirements, what, cli.verbose)
        };
        if cli.upgrade_pip {
            step(
                "pip install --upgrade pip",
                &["--upgrade".into(), "pip".into()],
            )?;
        }
        if !cli.preinstall.is_empty() {
            let pkgs: Vec<OsString> = cli.preinstall.iter().map(OsString::from).collect();
            step("pip install (preinstall)", &pkgs)?;
        }
        let mut args: Vec<OsString> = Vec::new();
        if self.hashes {
            args.push("--require-hashes".into());
        }
        args.push("-r".into());
        args.push(self.requirements.clone().into_os_string());
        step("pip install", &args)
    }
}

/// A hidden temporary directory beside `target` (same file system, so it
/// can be renamed into place), after checking `target` may be replaced.
fn make_build_dir(target: &Path) -> Result<tempfile::TempDir> {
    let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
        return Err(Error::invalid("venv", "must name a directory"));
    };
    fs::DirBuilder::new()
        .recursive(true)
        .create(parent)
        .map_err(|e| Error::io(parent, e))?;
    check_target(target)?;
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".mkvenv-");
    tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir_in(parent)
        .map_err(|e| Error::io(parent, e))
}

/// The facts as pretty JSON with a final newline.
pub fn render_facts(facts: &Facts) -> String {
    facts.to_json()
}

/// Refuse an interpreter a target machine would not have at the same path.
/// `resolved` is its canonical path once known.
pub fn check_interpreter(
    given: &Path,
    resolved: Option<&Path>,
    force: bool,
) -> std::result::Result<(), String> {
    if !given.is_absolute() {
        return Err("the interpreter must be an absolute path, e.g. /usr/bin/python3".into());
    }
    if force {
        return Ok(());
    }
    let in_system_dir = |p: &Path| {
        p.parent()
            .is_some_and(|d| SYSTEM_BIN_DIRS.iter().any(|s| d == Path::new(s)))
    };
    let why = "a venv points at the interpreter it was made with, so one made from it would not run on a target machine (use --force-python to override)";
    if !in_system_dir(given) {
        return Err(format!(
            "refused: interpreter not under /usr/bin or /usr/local/bin: {why}"
        ));
    }
    if let Some(r) = resolved
        && !in_system_dir(r)
    {
        return Err(format!(
            "refused: interpreter resolves to {}, not under /usr/bin or /usr/local/bin: {why}",
            r.display()
        ));
    }
    Ok(())
}

/// The Debian relations on the interpreter: `python3 (>= X.Y), python3 (<< X.Y+1)`
/// for `/usr/bin/python3` (the venv breaks when the default python3 changes
/// minor version), `pythonX.Y` for `/usr/bin/pythonX.Y`, none for an
/// interpreter no Debian package provides.
pub fn python_depends(interpreter: &Path, (major, minor): (u32, u32)) -> Vec<String> {
    let name = interpreter
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or("");
    if interpreter.parent() != Some(Path::new("/usr/bin")) {
        return Vec::new();
    }
    if name == format!("python{major}") {
        vec![
            format!("python{major} (>= {major}.{minor})"),
            format!("python{major} (<< {major}.{})", minor + 1),
        ]
    } else if name == format!("python{major}.{minor}") {
        vec![name.to_string()]
    } else {
        Vec::new()
    }
}

/// True when a requirements file pins hashes (`--hash=...` outside comments).
pub fn requires_hashes(text: &str) -> bool {
    text.lines().any(|line| {
        let code = if line.starts_with('#') {
            ""
        } else {
            line.split(" #").next().unwrap_or(line)
        };
        code.contains("--hash=") || code.contains("--hash ")
    })
}

/// The environment pip runs with: everything but `PYTHON*`, `VIRTUAL_ENV` and
/// the `PIP_*` variables outside [`PIP_PASSTHROUGH`], plus our own settings.
pub fn pip_env(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<(OsString, OsString)> {
    let mut out: Vec<(OsString, OsString)> = vars
        .into_iter()
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            if k.starts_with("PIP_") {
                PIP_PASSTHROUGH.contains(&&*k)
            } else {
                !(k.starts_with("PYTHON") || k == "VIRTUAL_ENV" || k == "__PYVENV_LAUNCHER__")
            }
        })
        .collect();
    for (k, v) in [
        ("PIP_CONFIG_FILE", "/dev/null"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("PYTHONNOUSERSITE", "1"),
    ] {
        out.push((k.into(), v.into()));
    }
    out
}

/// pip's `install` arguments shared by every pip run.
pub fn pip_base_args(find_links: &[OsString], no_index: bool) -> Vec<OsString> {
    let mut a: Vec<OsString> = [
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-cache-dir",
        "--no-compile",
        "--no-input",
        "--progress-bar",
        "off",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    if no_index {
        a.push("--no-index".into());
    }
    for l in find_links {
        a.push("--find-links".into());
        a.push(l.clone());
    }
    a
}

/// The line of a failed tool's output worth showing: pip's last `ERROR:`
/// line, else the last non-empty line of stderr, else of stdout.
pub fn last_error_line(stderr: &str, stdout: &str) -> String {
    fn nonempty(s: &str) -> Option<&str> {
        s.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(str::trim)
    }
    stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("ERROR:"))
        .map(str::trim)
        .or_else(|| nonempty(stderr))
        .or_else(|| nonempty(stdout))
        .unwrap_or("no output")
        .to_string()
}

fn apply_env(cmd: &mut Command, env: &[(OsString, OsString)]) {
    cmd.env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
}

/// Run a step, capturing its output; on failure, an error naming `about`
/// (the file the step works on) with the step's last error line.
fn run_quiet(
    mut cmd: Command,
    env: &[(OsString, OsString)],
    about: &Path,
    step: &str,
    verbose: bool,
) -> Result<()> {
    apply_env(&mut cmd, env);
    let prog = PathBuf::from(cmd.get_program());
    let out = cmd.output().map_err(|e| Error::io(prog, e))?;
    if verbose {
        eprint!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if out.status.success() {
        return Ok(());
    }
    let line = last_error_line(
        &String::from_utf8_lossy(&out.stderr),
        &String::from_utf8_lossy(&out.stdout),
    );
    Err(Error::file(
        about,
        format!("{step} failed ({}): {line}", out.status),
    ))
}

/// `(major, minor)` of the interpreter.
fn probe_python(python: &Path, env: &[(OsString, OsString)]) -> Result<(u32, u32)> {
    let mut cmd = Command::new(python);
    cmd.args([
        "-I",
        "-c",
        "import sys; print('%d.%d' % sys.version_info[:2])",
    ]);
    apply_env(&mut cmd, env);
    let out = cmd.output().map_err(|e| Error::io(python, e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed = text
        .trim()
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    match parsed {
        Some(v) if out.status.success() => Ok(v),
        _ => Err(Error::file(
            python,
            format!(
                "cannot get the Python version: {}",
                last_error_line(&String::from_utf8_lossy(&out.stderr), &text)
            ),
        )),
    }
}

/// The staging path may hold a venv from an earlier run (replaced) or
/// nothing; anything else is not ours to delete.
fn check_target(target: &Path) -> Result<()> {
    match fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(target, e)),
        Ok(m) if m.is_dir() => {
            let empty = fs::read_dir(target)
                .map_err(|e| Error::io(target, e))?
                .next()
                .is_none();
            if empty || target.join("pyvenv.cfg").is_file() {
                Ok(())
            } else {
                Err(Error::file(
                    target,
                    "exists and is not a virtualenv; remove it first",
                ))
            }
        }
        Ok(_) => Err(Error::file(target, "exists and is not a directory")),
    }
}

/// Rename the finished build directory to the staging path, replacing an
/// earlier venv there.
fn put_in_place(build: tempfile::TempDir, target: &Path) -> Result<()> {
    let parent = target.parent().unwrap_or(Path::new("/"));
    let old = if target.exists() {
        let aside = tempfile::Builder::new()
            .prefix(".mkvenv-old-")
            .tempdir_in(parent)
            .map_err(|e| Error::io(parent, e))?;
        fs::rename(target, aside.path().join("venv")).map_err(|e| Error::io(target, e))?;
        Some(aside)
    } else {
        None
    };
    let dir = build.keep();
    fs::rename(&dir, target).map_err(|e| Error::io(target, e))?;
    if let Some(old) = old {
        old.close().map_err(|e| Error::io(target, e))?;
    }
    Ok(())
}

/// What to rewrite: the build directory becomes the install path; the
/// staging root must not be left anywhere either.
#[derive(Debug, Clone)]
pub struct Relocation {
    /// The directory the venv was built in.
    pub from: Vec<u8>,
    /// Its install path.
    pub to: Vec<u8>,
    /// The staging root.
    pub stage: Vec<u8>,
}

/// An ELF file found in the venv.
#[derive(Debug, Clone)]
pub struct ElfFile {
    /// Its path (in the build directory).
    pub path: PathBuf,
    /// `DT_NEEDED` entries.
    pub needed: Vec<String>,
    /// Search path: `DT_RPATH` (when there is no `DT_RUNPATH`), then `DT_RUNPATH`.
    pub search: Vec<String>,
    /// `(is_64, little_endian, e_machine)`, to pick libraries of the same kind.
    pub kind: (bool, bool, u16),
    /// A program (mode 0755) rather than a shared library or object (0644).
    pub executable: bool,
}

/// Walk the venv: remove bytecode, rewrite traces of the build path and
/// unversioned python shebangs, fix modes, and collect ELF files. `bin` is
/// the venv's `bin/` directory, where `#!` scripts stay executable.
fn relocate_tree(
    dir: &Path,
    bin: &Path,
    rel: &Relocation,
    stats: &mut Stats,
    elves: &mut Vec<ElfFile>,
) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(dir, e))?;
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            let link = fs::read_link(&path).map_err(|e| Error::io(&path, e))?;
            if let Some(new) = replace_all(link.as_os_str().as_bytes(), &rel.from, &rel.to) {
                fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&new), &path)
                    .map_err(|e| Error::io(&path, e))?;
                stats.symlinks += 1;
            }
        } else if ft.is_dir() {
            if path.file_name() == Some(OsStr::new("__pycache__")) {
                fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
                stats.bytecode_removed += 1;
                continue;
            }
            fix_mode(&path, meta.permissions().mode(), 0o755, stats)?;
            relocate_tree(&path, bin, rel, stats, elves)?;
        } else if ft.is_file() {
            if path.extension().is_some_and(|e| e == "pyc" || e == "pyo") {
                fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                stats.bytecode_removed += 1;
                continue;
            }
            stats.files += 1;
            relocate_file(
                &path,
                meta.permissions().mode(),
                dir == bin,
                rel,
                stats,
                elves,
            )?;
        } else {
            return Err(Error::file(&path, "special file in the venv"));
        }
    }
    Ok(())
}

/// One regular file: its content relocated and its mode set by what it is.
fn relocate_file(
    path: &Path,
    mode: u32,
    in_bin: bool,
    rel: &Relocation,
    stats: &mut Stats,
    elves: &mut Vec<ElfFile>,
) -> Result<()> {
    let data = fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut executable_elf = false;
    if data.starts_with(b"\x7fELF")
        && let Some(elf) = parse_elf(path, &data)
    {
        executable_elf = elf.executable;
        elves.push(elf);
    }
    let (mut new, mut shebang) = match relocate_bytes(&data, rel) {
        Ok(Some((new, shebang))) => (Some(new), shebang),
        Ok(None) => (None, false),
        Err(reason) => return Err(Error::file(path, reason)),
    };
    if let Some(fixed) = point_unversioned_python(new.as_deref().unwrap_or(&data), &rel.to) {
        new = Some(fixed);
        shebang = true;
        stats.unversioned += 1;
    }
    let want = file_mode(new.as_deref().unwrap_or(&data), executable_elf, in_bin);
    match new {
        None => fix_mode(path, mode, want, stats),
        Some(new) => {
            io::write_atomic(path, &new, want)?;
            stats.rewritten += 1;
            stats.shebangs += usize::from(shebang);
            if want != mode & 0o7777 {
                stats.modes_fixed += 1;
            }
            Ok(())
        }
    }
}

/// The mode of a regular file in the venv, from what it is rather than from
/// the bits pip gave it (pip keeps a wheel's executable bits, and wheels set
/// them on shared libraries and data): 0755 for an ELF executable and for a
/// `#!` script in the venv's `bin/`, 0644 for everything else: shared
/// libraries, extension modules, Python modules (with a `#!` line or not) and
/// data.
pub fn file_mode(data: &[u8], executable_elf: bool, in_bin: bool) -> u32 {
    if executable_elf || (in_bin && data.starts_with(b"#!")) {
        0o755
    } else {
        0o644
    }
}

/// Set `want` (0755/0644) unless the file already has exactly that mode.
fn fix_mode(path: &Path, mode: u32, want: u32, stats: &mut Stats) -> Result<()> {
    if mode & 0o7777 != want {
        fs::set_permissions(path, fs::Permissions::from_mode(want))
            .map_err(|e| Error::io(path, e))?;
        stats.modes_fixed += 1;
    }
    Ok(())
}

/// Relocate one file's content: `Ok(None)` when it needs no change,
/// `Ok(Some((new, shebang_rewritten)))`, or why it cannot be relocated.
pub fn relocate_bytes(
    data: &[u8],
    rel: &Relocation,
) -> std::result::Result<Option<(Vec<u8>, bool)>, String> {
    let has = |hay: &[u8], needle: &[u8]| memmem::find(hay, needle).is_some();
    if !has(data, &rel.from) {
        return Ok(None);
    }
    if data.contains(&0) {
        return Err(format!(
            "binary file names the build directory {}; cannot relocate it",
            String::from_utf8_lossy(&rel.from)
        ));
    }
    let (mut out, body, shebang) = match rewrite_shebang(data, &rel.from, &rel.to) {
        Some((header, body_at)) => (header, &data[body_at..], true),
        None => (Vec::new(), data, false),
    };
    out.extend_from_slice(&replace_all(body, &rel.from, &rel.to).unwrap_or_else(|| body.to_vec()));
    if !has(&rel.to, &rel.stage) && has(&out, &rel.stage) {
        return Err(format!(
            "still names the staging directory {} after relocation",
            String::from_utf8_lossy(&rel.stage)
        ));
    }
    Ok(Some((out, shebang)))
}

/// Replace every `from` in `hay` by `to`; `None` when there is none.
pub fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(hay.len());
    let mut last = 0;
    for at in memmem::find_iter(hay, from) {
        if at < last {
            continue;
        }
        out.extend_from_slice(&hay[last..at]);
        out.extend_from_slice(to);
        last = at + from.len();
    }
    if last == 0 {
        return None;
    }
    out.extend_from_slice(&hay[last..]);
    Some(out)
}

const SH_WRAPPER: &[u8] = b"#!/bin/sh\n'''exec' ";
const SH_WRAPPER_ARGS: &[u8] = b" \"$0\" \"$@\"";
const SH_WRAPPER_END: &[u8] = b"' '''";

/// When `data` starts with a shebang (`#!INTERP ARGS` or pip's two-line
/// `#!/bin/sh` + `'''exec' INTERP ARGS "$0" "$@"` + `' '''` wrapper) whose
/// interpreter lies under `from`, the header for the relocated interpreter
/// and the offset where the rest of the file starts.
pub fn rewrite_shebang(data: &[u8], from: &[u8], to: &[u8]) -> Option<(Vec<u8>, usize)> {
    let line_end = |at: usize| {
        data[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| at + i)
    };
    let (command, body_at) = if data.starts_with(SH_WRAPPER) {
        let l2_end = line_end(SH_WRAPPER.len());
        let cmd = data[SH_WRAPPER.len()..l2_end].strip_suffix(SH_WRAPPER_ARGS)?;
        let l3 = (l2_end + 1).min(data.len());
        let l3_end = line_end(l3);
        if &data[l3..l3_end] != SH_WRAPPER_END {
            return None;
        }
        (cmd, (l3_end + 1).min(data.len()))
    } else if data.starts_with(b"#!") {
        let end = line_end(2);
        (&data[2..end], (end + 1).min(data.len()))
    } else {
        return None;
    };
    let (interp, args) = split_command(command)?;
    let rest = interp.strip_prefix(from)?;
    if !(rest.is_empty() || rest.starts_with(b"/")) {
        return None;
    }
    let mut new_interp = to.to_vec();
    new_interp.extend_from_slice(rest);
    Some((shebang_header(&new_interp, args), body_at))
}

/// Split `INTERP ARGS` (INTERP maybe in double quotes) into INTERP and
/// ARGS (with its leading space).
fn split_command(cmd: &[u8]) -> Option<(&[u8], &[u8])> {
    if let Some(quoted) = cmd.strip_prefix(b"\"") {
        let end = quoted.iter().position(|&b| b == b'"')?;
        Some((&quoted[..end], &quoted[end + 1..]))
    } else {
        let end = cmd.iter().position(|&b| b == b' ').unwrap_or(cmd.len());
        Some((&cmd[..end], &cmd[end..]))
    }
}

/// The script header pip would write for `interp` + `args`: a `#!` line
/// when it fits in [`MAX_SHEBANG`] bytes and the path has no space, else the
/// `#!/bin/sh` wrapper that execs the interpreter on the script (the second
/// and third lines are a no-op string to Python).
pub fn shebang_header(interp: &[u8], args: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if !interp.contains(&b' ') && 2 + interp.len() + args.len() < MAX_SHEBANG {
        out.extend_from_slice(b"#!");
        out.extend_from_slice(interp);
        out.extend_from_slice(args);
    } else {
        out.extend_from_slice(SH_WRAPPER);
        if interp.contains(&b' ') {
            out.push(b'"');
            out.extend_from_slice(interp);
            out.push(b'"');
        } else {
            out.extend_from_slice(interp);
        }
        out.extend_from_slice(args);
        out.extend_from_slice(SH_WRAPPER_ARGS);
        out.push(b'\n');
        out.extend_from_slice(SH_WRAPPER_END);
    }
    out.push(b'\n');
    out
}

/// Interpreters of an unversioned python shebang: what lintian's
/// `script-uses-unversioned-python-in-shebang` matches (`python`,
/// `/usr/bin/python`, after `/usr/bin/env`), and the other usual places.
pub const UNVERSIONED_PYTHON: [&[u8]; 4] = [
    b"python",
    b"/usr/bin/python",
    b"/bin/python",
    b"/usr/local/bin/python",
];

/// When `data` starts with an unversioned python shebang (`#!python`,
/// `#!/usr/bin/python -u`, `#!/usr/bin/env python`...), the file with that
/// line replaced by one running `<venv>/bin/python` with the same
/// arguments (pip's `#!/bin/sh` wrapper when it is too long).
pub fn point_unversioned_python(data: &[u8], venv: &[u8]) -> Option<Vec<u8>> {
    fn first_word(s: &[u8]) -> (&[u8], &[u8]) {
        let end = s
            .iter()
            .position(u8::is_ascii_whitespace)
            .unwrap_or(s.len());
        (&s[..end], s[end..].trim_ascii_start())
    }
    let rest = data.strip_prefix(b"#!")?;
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let (mut interp, mut args) = first_word(rest[..end].trim_ascii());
    if interp == b"/usr/bin/env" || interp == b"/bin/env" {
        (interp, args) = first_word(args);
    }
    if !UNVERSIONED_PYTHON.contains(&interp) {
        return None;
    }
    let mut python = venv.to_vec();
    python.extend_from_slice(b"/bin/python");
    let args = if args.is_empty() {
        Vec::new()
    } else {
        [b" ", args].concat()
    };
    let mut out = shebang_header(&python, &args);
    out.extend_from_slice(rest.get(end + 1..).unwrap_or_default());
    Some(out)
}

/// True for an ELF file that is a program: `ET_EXEC`, or `ET_DYN` with a
/// `PT_INTERP` program header (a PIE) or the `DF_1_PIE` flag (a static PIE).
/// A shared library or extension module is `ET_DYN` with neither.
pub fn elf_is_executable(elf: &goblin::elf::Elf) -> bool {
    use goblin::elf::{dynamic::DF_1_PIE, header, program_header::PT_INTERP};
    match elf.header.e_type {
        header::ET_EXEC => true,
        header::ET_DYN => {
            elf.program_headers.iter().any(|ph| ph.p_type == PT_INTERP)
                || elf
                    .dynamic
                    .as_ref()
                    .is_some_and(|d| d.info.flags_1 & DF_1_PIE != 0)
        }
        _ => false,
    }
}

fn parse_elf(path: &Path, data: &[u8]) -> Option<ElfFile> {
    let elf = goblin::elf::Elf::parse(data).ok()?;
    let needed = elf.libraries.iter().map(|s| (*s).to_string()).collect();
    let mut search: Vec<String> = Vec::new();
    if elf.runpaths.is_empty() {
        search.extend(elf.rpaths.iter().map(|s| (*s).to_string()));
    }
    search.extend(elf.runpaths.iter().map(|s| (*s).to_string()));
    Some(ElfFile {
        path: path.to_path_buf(),
        needed,
        search,
        kind: (elf.is_64, elf.little_endian, elf.header.e_machine),
        executable: elf_is_executable(&elf),
    })
}

/// `(is_64, little_endian, e_machine)` of an ELF file, from its header.
fn elf_kind(path: &Path) -> Option<(bool, bool, u16)> {
    let mut head = [0u8; 20];
    fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    if !head.starts_with(b"\x7fELF") {
        return None;
    }
    let little = head[5] == 1;
    let machine = if little {
        u16::from_le_bytes([head[18], head[19]])
    } else {
        u16::from_be_bytes([head[18], head[19]])
    };
    Some((head[4] == 2, little, machine))
}

/// Expand `$ORIGIN`/`${ORIGIN}` in one RPATH/RUNPATH entry list
/// (`:`-separated) for an object in `origin`.
pub fn expand_search(entry: &str, origin: &Path) -> Vec<PathBuf> {
    let o = origin.to_string_lossy();
    entry
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d.replace("${ORIGIN}", &o).replace("$ORIGIN", &o)))
        .collect()
}

/// Parse `ldconfig -p`: soname -> paths, in cache order.
pub fn parse_ldconfig(text: &str) -> HashMap<String, Vec<PathBuf>> {
    let mut map: HashMap<String, Vec<PathBuf>> = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some((left, path)) = line.split_once(" => ") else {
            continue;
        };
        let Some(name) = left.split_whitespace().next() else {
            continue;
        };
        map.entry(name.to_string())
            .or_default()
            .push(PathBuf::from(path.trim()));
    }
    map
}

/// Parse `dpkg-query -S` output: path -> first owning package (with any
/// `:arch`), skipping diversion lines.
pub fn parse_dpkg_search(text: &str) -> HashMap<PathBuf, String> {
    let mut map = HashMap::new();
    for line in text.lines() {
        if line.starts_with("diversion by") {
            continue;
        }
        let Some((pkgs, path)) = line.split_once(": /") else {
            continue;
        };
        let pkg = pkgs.split(',').next().unwrap_or(pkgs).trim();
        map.insert(PathBuf::from(format!("/{path}")), pkg.to_string());
    }
    map
}

/// The shlibs key of a soname: `libz.so.1` -> (`libz`, `1`),
/// `libfoo-1.2.so` -> (`libfoo`, `1.2`).
pub fn soname_key(soname: &str) -> Option<(String, String)> {
    if let Some((name, ver)) = soname.split_once(".so.") {
        return Some((name.to_string(), ver.to_string()));
    }
    let stem = soname.strip_suffix(".so")?;
    let (name, ver) = stem.rsplit_once('-')?;
    ver.starts_with(|c: char| c.is_ascii_digit())
        .then(|| (name.to_string(), ver.to_string()))
}

/// The dependency a `shlibs` file declares for (`name`, `version`), split
/// into relations; `None` when it has no (untyped) line for them.
pub fn shlibs_lookup(text: &str, name: &str, version: &str) -> Option<Vec<String>> {
    text.lines().find_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut words = line.splitn(3, char::is_whitespace);
        let lib = words.next()?;
        if lib.ends_with(':') {
            return None; // udeb: and other package types
        }
        let ver = words.next()?;
        let deps = words.next()?.trim();
        (lib == name && ver == version).then(|| {
            deps.split(',')
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty())
                .collect()
        })
    })
}

/// A Debian version without its revision: `1:1.2.13.dfsg-1` -> `1:1.2.13.dfsg`.
pub fn upstream_version(v: &str) -> &str {
    v.rsplit_once('-').map_or(v, |(u, _)| u)
}

fn command_stdout(program: &str, args: &[&OsStr]) -> Result<(bool, String)> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::io(program, e))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

fn dpkg_architecture() -> Result<String> {
    let (ok, out) = command_stdout("dpkg", &[OsStr::new("--print-architecture")])?;
    let arch = out.trim().to_string();
    if !ok || arch.is_empty() {
        return Err(Error::file("dpkg", "--print-architecture failed"));
    }
    Ok(arch)
}

/// Lexically normalise `..` and `.` (for comparing paths that may not exist).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The same path on the other side of the /usr merge (`/lib/x` <-> `/usr/lib/x`).
fn usr_toggled(p: &Path) -> PathBuf {
    match p.strip_prefix("/usr") {
        Ok(rest) => Path::new("/").join(rest),
        Err(_) => Path::new("/usr").join(p.strip_prefix("/").unwrap_or(p)),
    }
}

/// Find the packages of the libraries the ELF files load from outside the
/// venv, as dpkg-shlibdeps does: resolve each `DT_NEEDED` through the
/// object's RPATH/RUNPATH (`$ORIGIN` expanded), then the ld.so cache and the
/// default directories; a library inside the venv needs nothing; one outside
/// is mapped to its package with `dpkg-query -S`, and that package's
/// `shlibs` file gives the relation (else `pkg (>= installed upstream version)`).
fn shlib_depends(venv: &Path, elves: &[ElfFile]) -> Result<Vec<String>> {
    if elves.iter().all(|e| e.needed.is_empty()) {
        return Ok(Vec::new());
    }
    let external = external_libs(venv, elves)?;
    if external.is_empty() {
        return Ok(Vec::new());
    }
    let candidates = |p: &Path| -> Vec<PathBuf> {
        let real = fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        vec![
            p.to_path_buf(),
            real.clone(),
            usr_toggled(p),
            usr_toggled(&real),
        ]
    };
    let mut query: Vec<OsString> = vec!["-S".into()];
    let mut all: BTreeSet<PathBuf> = BTreeSet::new();
    for (_, path) in external.keys() {
        all.extend(candidates(path));
    }
    query.extend(all.iter().map(|p| p.as_os_str().to_os_string()));
    let args: Vec<&OsStr> = query.iter().map(OsString::as_os_str).collect();
    let (_, out) = command_stdout("dpkg-query", &args)?;
    let owners = parse_dpkg_search(&out);

    let mut relations = Vec::new();
    let mut shlibs_cache = HashMap::new();
    for ((lib, path), user) in &external {
        let Some(pkg) = candidates(path).iter().find_map(|c| owners.get(c)) else {
            return Err(Error::file(
                user,
                format!(
                    "needs {lib} ({}), which no installed Debian package provides",
                    path.display()
                ),
            ));
        };
        relations.extend(relations_for(pkg, lib, &mut shlibs_cache)?);
    }
    Ok(merge_relations(relations))
}

/// The libraries the ELF files need from outside the venv:
/// (soname, resolved path) -> the first ELF file that needs it.
fn external_libs(venv: &Path, elves: &[ElfFile]) -> Result<BTreeMap<(String, PathBuf), PathBuf>> {
    let ldconfig = ["/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"]
        .iter()
        .find_map(|p| command_stdout(p, &[OsStr::new("-p")]).ok())
        .map(|(_, out)| parse_ldconfig(&out))
        .unwrap_or_default();
    let mut default_dirs: Vec<PathBuf> = ["/lib", "/usr/lib", "/lib64", "/usr/lib64"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let cache_dirs: BTreeSet<PathBuf> = ldconfig
        .values()
        .flatten()
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    default_dirs.extend(cache_dirs);

    let mut external = BTreeMap::new();
    for elf in elves {
        let origin = elf.path.parent().unwrap_or(venv);
        for lib in &elf.needed {
            let same_kind = |p: &Path| elf_kind(p) == Some(elf.kind);
            let found = if lib.contains('/') {
                Some(PathBuf::from(lib)).filter(|p| same_kind(p))
            } else {
                elf.search
                    .iter()
                    .flat_map(|e| expand_search(e, origin))
                    .map(|d| d.join(lib))
                    .chain(ldconfig.get(lib).into_iter().flatten().cloned())
                    .chain(default_dirs.iter().map(|d| d.join(lib)))
                    .find(|p| same_kind(p))
            };
            let Some(found) = found else {
                return Err(Error::file(
                    &elf.path,
                    format!(
                        "needs {lib}, which is neither in the venv nor installed on this system"
                    ),
                ));
            };
            let real = fs::canonicalize(&found).unwrap_or_else(|_| normalize(&found));
            if real.starts_with(venv) || normalize(&found).starts_with(venv) {
                continue;
            }
            external
                .entry((lib.clone(), found))
                .or_insert_with(|| elf.path.clone());
        }
    }
    Ok(external)
}

/// The relations for `lib` from package `pkg` (maybe `name:arch`): its
/// `shlibs` entry, else `name (>= installed upstream version)`.
fn relations_for(
    pkg: &str,
    lib: &str,
    cache: &mut HashMap<String, Option<(PathBuf, String)>>,
) -> Result<Vec<String>> {
    let shlibs = cache
        .entry(pkg.to_string())
        .or_insert_with(|| {
            let args = ["--control-path", pkg, "shlibs"].map(OsStr::new);
            let (ok, p) = command_stdout("dpkg-query", &args).ok()?;
            let p = PathBuf::from(p.trim());
            if !ok || p.as_os_str().is_empty() {
                return None;
            }
            let text = fs::read_to_string(&p).ok()?;
            Some((p, text))
        })
        .clone();
    let from_shlibs = soname_key(lib).and_then(|(n, v)| {
        shlibs
            .as_ref()
            .and_then(|(_, text)| shlibs_lookup(text, &n, &v))
    });
    let relations = if let Some(r) = from_shlibs {
        r
    } else {
        let args = ["-W", "-f=${Version}", pkg].map(OsStr::new);
        let (_, version) = command_stdout("dpkg-query", &args)?;
        let bare = pkg.split(':').next().unwrap_or(pkg);
        let v = upstream_version(version.trim());
        if v.is_empty() {
            vec![bare.to_string()]
        } else {
            vec![format!("{bare} (>= {v})")]
        }
    };
    for r in &relations {
        if let Err(reason) = debpipe_core::spec::relation(r) {
            let file = shlibs.map_or_else(|| PathBuf::from(pkg), |(p, _)| p);
            return Err(Error::file(file, reason));
        }
    }
    Ok(relations)
}

/// One relation per package, sorted by name: the one with the highest
/// `>=` version when several ask for the same package.
fn merge_relations(relations: Vec<String>) -> Vec<String> {
    let mut by_pkg: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in relations {
        let name = r.split([' ', '(']).next().unwrap_or(&r).to_string();
        by_pkg.entry(name).or_default().push(r);
    }
    by_pkg
        .into_values()
        .filter_map(|mut rels| {
            rels.sort();
            rels.dedup();
            rels.into_iter()
                .reduce(|best, r| if stricter(&r, &best) { r } else { best })
        })
        .collect()
}

/// True when relation `a` asks for a higher `>=` version than `b`.
fn stricter(a: &str, b: &str) -> bool {
    let min = |r: &str| {
        r.split_once("(>=")
            .and_then(|(_, v)| v.split_once(')'))
            .map(|(v, _)| v.trim().to_string())
    };
    match (min(a), min(b)) {
        (Some(va), Some(vb)) => {
            debpipe_core::version::compare(va.as_bytes(), vb.as_bytes())
                == std::cmp::Ordering::Greater
        }
        (Some(_), None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stricter_compares_versions_as_dpkg_does() {
        assert!(stricter("libc6 (>= 2.36)", "libc6 (>= 2.9)"));
        assert!(!stricter(
            "zlib1g (>= 1.2.13)",
            "zlib1g (>= 1:1.2.3.3.dfsg-1)"
        ));
        assert!(stricter("a (>= 1.0)", "a (>= 1.0~rc1)"));
        assert!(!stricter("a (>= 1.0)", "a (>= 1.0)"));
        assert!(stricter("a (>= 1)", "a"));
    }

    fn rel(from: &str, to: &str) -> Relocation {
        Relocation {
            from: from.as_bytes().to_vec(),
            to: to.as_bytes().to_vec(),
            stage: b"/stage".to_vec(),
        }
    }

    #[test]
    fn verify_cli() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn pyenv_python_is_refused_unless_forced() {
        let p = Path::new("/root/.pyenv/versions/3.11.7/bin/python3");
        let e = check_interpreter(p, None, false).unwrap_err();
        assert!(e.contains("refused") && e.contains("--force-python"), "{e}");
        assert!(check_interpreter(p, None, true).is_ok());
        assert!(check_interpreter(Path::new("/usr/bin/python3"), None, false).is_ok());
        assert!(check_interpreter(Path::new("/usr/local/bin/python3.12"), None, false).is_ok());
        assert!(check_interpreter(Path::new("python3"), None, true).is_err());
        // a /usr/bin symlink into pyenv is refused too
        let e = check_interpreter(Path::new("/usr/bin/python3"), Some(p), false).unwrap_err();
        assert!(e.contains("resolves to /root/.pyenv"), "{e}");
    }

    #[test]
    fn python_dependency_follows_the_interpreter() {
        assert_eq!(
            python_depends(Path::new("/usr/bin/python3"), (3, 11)),
            ["python3 (>= 3.11)", "python3 (<< 3.12)"]
        );
        assert_eq!(
            python_depends(Path::new("/usr/bin/python3.12"), (3, 12)),
            ["python3.12"]
        );
        assert!(python_depends(Path::new("/usr/local/bin/python3"), (3, 12)).is_empty());
    }

    #[test]
    fn hash_pins_are_detected_outside_comments() {
        assert!(requires_hashes("django==4.2 \\\n    --hash=sha256:ab\n"));
        assert!(requires_hashes("django==4.2 --hash sha256:ab\n"));
        assert!(!requires_hashes(
            "django<5\n# --hash=sha256:ab\nuwsgi # no --hash=x\n"
        ));
    }

    #[test]
    fn pip_env_drops_what_changes_the_install() {
        let vars = [
            ("PIP_FIND_LINKS", "/opt/wheels"),
            ("PIP_CERT", "/etc/ssl/certs/ca.crt"),
            ("PIP_NO_BINARY", ":all:"),
            ("PYTHONPATH", "/x"),
            ("VIRTUAL_ENV", "/v"),
            ("HOME", "/root"),
            ("https_proxy", "http://p:3128"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let env = pip_env(vars);
        let names: Vec<_> = env.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        for gone in [
            "PIP_FIND_LINKS",
            "PIP_NO_BINARY",
            "PYTHONPATH",
            "VIRTUAL_ENV",
        ] {
            assert!(!names.contains(&gone), "{gone}");
        }
        for kept in [
            "PIP_CERT",
            "HOME",
            "https_proxy",
            "PIP_CONFIG_FILE",
            "PYTHONDONTWRITEBYTECODE",
        ] {
            assert!(names.contains(&kept), "{kept}");
        }
    }

    #[test]
    fn pip_error_line() {
        let err = "Looking in links: /w\nERROR: Could not find a version that satisfies the requirement nope\nERROR: No matching distribution found for nope\n";
        assert_eq!(
            last_error_line(err, ""),
            "ERROR: No matching distribution found for nope"
        );
        assert_eq!(last_error_line("a\nboom\n\n", ""), "boom");
        assert_eq!(last_error_line("", "out\n"), "out");
    }

    #[test]
    fn short_shebang_is_rewritten_in_place() {
        let data = b"#!/stage/opt/.v.mkvenv-1/bin/python3\nimport x\n";
        let (out, sb) = relocate_bytes(data, &rel("/stage/opt/.v.mkvenv-1", "/opt/v"))
            .unwrap()
            .unwrap();
        assert!(sb);
        assert_eq!(out, b"#!/opt/v/bin/python3\nimport x\n");
    }

    #[test]
    fn sh_wrapper_becomes_a_shebang_when_the_install_path_is_short() {
        let from = format!("/stage/{}", "x".repeat(130));
        let data = format!(
            "#!/bin/sh\n'''exec' {from}/bin/python3 \"$0\" \"$@\"\n' '''\n# -*- coding: utf-8 -*-\nimport re\n"
        );
        let (out, _) = relocate_bytes(data.as_bytes(), &rel(&from, "/opt/v"))
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "#!/opt/v/bin/python3\n# -*- coding: utf-8 -*-\nimport re\n"
        );
    }

    #[test]
    fn long_install_path_gets_the_sh_wrapper() {
        let to = format!("/opt/{}", "y".repeat(130));
        let data = b"#!/stage/b/bin/python3 -E\nimport re\n";
        let (out, _) = relocate_bytes(data, &rel("/stage/b", &to))
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("#!/bin/sh\n'''exec' {to}/bin/python3 -E \"$0\" \"$@\"\n' '''\nimport re\n")
        );
        // and a wrapper stays a (correct) wrapper
        let from = format!("/stage/{}", "x".repeat(130));
        let data =
            format!("#!/bin/sh\n'''exec' {from}/bin/python3 \"$0\" \"$@\"\n' '''\nimport re\n");
        let (out, _) = relocate_bytes(data.as_bytes(), &rel(&from, &to))
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("#!/bin/sh\n'''exec' {to}/bin/python3 \"$0\" \"$@\"\n' '''\nimport re\n")
        );
    }

    #[test]
    fn shebang_length_limit_is_pips() {
        // "#!" + interp + "\n" == 127 bytes still fits
        let interp = format!("/{}", "a".repeat(123));
        assert!(shebang_header(interp.as_bytes(), b"").starts_with(b"#!/a"));
        let interp = format!("/{}", "a".repeat(124));
        assert!(shebang_header(interp.as_bytes(), b"").starts_with(b"#!/bin/sh\n"));
        assert!(shebang_header(b"/a b/python3", b"").starts_with(b"#!/bin/sh\n'''exec' \"/a b/"));
    }

    #[test]
    fn other_text_is_replaced_everywhere() {
        let data = b"VIRTUAL_ENV=\"/stage/b\"\nexport PATH=\"/stage/b/bin:$PATH\"\n";
        let (out, sb) = relocate_bytes(data, &rel("/stage/b", "/opt/v"))
            .unwrap()
            .unwrap();
        assert!(!sb);
        assert_eq!(
            out,
            b"VIRTUAL_ENV=\"/opt/v\"\nexport PATH=\"/opt/v/bin:$PATH\"\n"
        );
        // a shebang naming another interpreter is left alone
        let data = b"#!/usr/bin/env python3\nprint('/stage/b')\n";
        let (out, sb) = relocate_bytes(data, &rel("/stage/b", "/opt/v"))
            .unwrap()
            .unwrap();
        assert!(!sb);
        assert_eq!(out, b"#!/usr/bin/env python3\nprint('/opt/v')\n");
        assert_eq!(
            relocate_bytes(b"nothing here", &rel("/stage/b", "/opt/v")),
            Ok(None)
        );
    }

    #[test]
    fn binary_file_or_bare_staging_root_is_an_error() {
        let e = relocate_bytes(b"\x7fELF\0/stage/b\0", &rel("/stage/b", "/opt/v")).unwrap_err();
        assert!(e.contains("binary file"), "{e}");
        let e = relocate_bytes(b"/stage/b /stage/other\n", &rel("/stage/b", "/opt/v")).unwrap_err();
        assert!(e.contains("staging directory"), "{e}");
    }

    #[test]
    fn modes_follow_what_the_file_is() {
        // an ELF program, and a `#!` script in bin/, run
        assert_eq!(file_mode(b"\x7fELF\x02", true, false), 0o755);
        assert_eq!(file_mode(b"#!/opt/v/bin/python3\n", false, true), 0o755);
        assert_eq!(file_mode(b"#!/bin/sh\n'''exec' /x\n", false, true), 0o755);
        // a shared library, a module with a shebang, data, bin/activate do not
        assert_eq!(file_mode(b"\x7fELF\x02", false, false), 0o644);
        assert_eq!(file_mode(b"\x7fELF\x02", false, true), 0o644);
        assert_eq!(file_mode(b"#!/usr/bin/env python3\n", false, false), 0o644);
        assert_eq!(file_mode(b"\xde\x12\x04\x95", false, false), 0o644);
        assert_eq!(
            file_mode(b"# This file must be used with source\n", false, true),
            0o644
        );
    }

    /// A little-endian x86-64 ELF header of type `e_type`, with a
    /// `PT_INTERP` program header when `interp`, and a `PT_DYNAMIC` one
    /// holding `DT_FLAGS_1` = `flags_1` when given.
    fn elf64(e_type: u16, interp: bool, flags_1: Option<u64>) -> Vec<u8> {
        use goblin::elf::{dynamic, program_header};
        const INTERP: &[u8] = b"/lib64/ld-linux-x86-64.so.2\0";
        let mut phdrs: Vec<(u32, Vec<u8>)> = Vec::new();
        if interp {
            phdrs.push((program_header::PT_INTERP, INTERP.to_vec()));
        }
        if let Some(flags) = flags_1 {
            let mut dyns = Vec::new();
            for v in [dynamic::DT_FLAGS_1, flags, dynamic::DT_NULL, 0] {
                dyns.extend_from_slice(&v.to_le_bytes());
            }
            phdrs.push((program_header::PT_DYNAMIC, dyns));
        }
        let phnum = u16::try_from(phdrs.len()).unwrap();
        let mut out = b"\x7fELF\x02\x01\x01".to_vec();
        out.resize(16, 0);
        out.extend_from_slice(&e_type.to_le_bytes());
        out.extend_from_slice(&goblin::elf::header::EM_X86_64.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes()); // e_version
        out.extend_from_slice(&0u64.to_le_bytes()); // e_entry
        out.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
        out.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
        out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        for half in [64u16, 56, phnum, 64, 0, 0] {
            out.extend_from_slice(&half.to_le_bytes());
        }
        let mut offset = 64 + 56 * u64::from(phnum);
        for (p_type, body) in &phdrs {
            let size = body.len() as u64;
            out.extend_from_slice(&p_type.to_le_bytes());
            out.extend_from_slice(&4u32.to_le_bytes()); // p_flags: R
            // p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
            for v in [offset, offset, offset, size, size, 8] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            offset += size;
        }
        for (_, body) in phdrs {
            out.extend_from_slice(&body);
        }
        out
    }

    #[test]
    fn elf_executables_are_told_from_shared_libraries() {
        use goblin::elf::{dynamic::DF_1_PIE, header};
        let executable = |data: Vec<u8>| parse_elf(Path::new("x"), &data).unwrap().executable;
        // a position-dependent program
        assert!(executable(elf64(header::ET_EXEC, false, None)));
        assert!(executable(elf64(header::ET_EXEC, true, None)));
        // a PIE program: ET_DYN with an interpreter, or flagged PIE (static PIE)
        assert!(executable(elf64(header::ET_DYN, true, None)));
        assert!(executable(elf64(header::ET_DYN, false, Some(DF_1_PIE))));
        // a shared library or extension module: ET_DYN with neither
        assert!(!executable(elf64(header::ET_DYN, false, None)));
        assert!(!executable(elf64(header::ET_DYN, false, Some(0))));
        // an object file
        assert!(!executable(elf64(header::ET_REL, false, None)));
    }

    #[test]
    fn unversioned_python_shebangs_point_at_the_venv() {
        let point = |data: &str| {
            point_unversioned_python(data.as_bytes(), b"/opt/v")
                .map(|o| String::from_utf8(o).unwrap())
        };
        for line in [
            "#!python",
            "#!/usr/bin/python",
            "#!/usr/bin/env python",
            "#! /usr/bin/env  python",
            "#!/usr/local/bin/python",
            "#!/bin/python",
            "#!/usr/bin/python\r",
        ] {
            assert_eq!(
                point(&format!("{line}\nimport os\n")).as_deref(),
                Some("#!/opt/v/bin/python\nimport os\n"),
                "{line}"
            );
        }
        // arguments are kept; a file that is only the shebang keeps nothing else
        assert_eq!(
            point("#!/usr/bin/python -u\nx").as_deref(),
            Some("#!/opt/v/bin/python -u\nx")
        );
        assert_eq!(point("#!python").as_deref(), Some("#!/opt/v/bin/python\n"));
        // versioned, other interpreters, and no shebang are left alone
        for data in [
            "#!/usr/bin/env python3\n",
            "#!/usr/bin/python3.11\n",
            "#!/opt/v/bin/python\n",
            "#!/bin/sh\n",
            "#!/usr/bin/pythonw\n",
            "import os  # python\n",
            "",
        ] {
            assert_eq!(point(data), None, "{data}");
        }
        // a long venv path gets pip's sh wrapper, as bin/ scripts do
        let long = format!("/opt/{}", "y".repeat(130));
        let out = point_unversioned_python(b"#!python\nx\n", long.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("#!/bin/sh\n'''exec' {long}/bin/python \"$0\" \"$@\"\n' '''\nx\n")
        );
    }

    #[test]
    fn origin_is_expanded() {
        assert_eq!(
            expand_search("$ORIGIN/../x.libs:${ORIGIN}:/usr/lib", Path::new("/v/site")),
            [
                PathBuf::from("/v/site/../x.libs"),
                PathBuf::from("/v/site"),
                PathBuf::from("/usr/lib")
            ]
        );
    }

    #[test]
    fn ldconfig_and_dpkg_outputs_parse() {
        let ld = "1234 libs found in cache `/etc/ld.so.cache'\n\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1\n\tlibz.so.1 (libc6) => /lib/i386-linux-gnu/libz.so.1\n";
        let m = parse_ldconfig(ld);
        assert_eq!(m["libz.so.1"].len(), 2);
        assert_eq!(
            m["libz.so.1"][0],
            Path::new("/lib/x86_64-linux-gnu/libz.so.1")
        );
        let s = "zlib1g:amd64: /lib/x86_64-linux-gnu/libz.so.1\ndiversion by x from: /a\nlibc6:amd64, libc6:i386: /usr/share/x\n";
        let m = parse_dpkg_search(s);
        assert_eq!(
            m[Path::new("/lib/x86_64-linux-gnu/libz.so.1")],
            "zlib1g:amd64"
        );
        assert_eq!(m[Path::new("/usr/share/x")], "libc6:amd64");
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn shlibs_give_the_relation() {
        let text = "libcrypto 3 libssl3 (>= 3.0.19)\nlibssl 3 libssl3 (>= 3.0.19)\nudeb: libssl 3 libssl3-udeb (>= 3.0.19)\n";
        assert_eq!(
            shlibs_lookup(text, "libssl", "3").unwrap(),
            ["libssl3 (>= 3.0.19)"]
        );
        assert!(shlibs_lookup(text, "libssl", "1.1").is_none());
        assert_eq!(
            shlibs_lookup("libfoo 1 libfoo1 (>= 1.0), libbar\n", "libfoo", "1").unwrap(),
            ["libfoo1 (>= 1.0)", "libbar"]
        );
        assert_eq!(soname_key("libz.so.1"), Some(("libz".into(), "1".into())));
        assert_eq!(
            soname_key("libpython3.11.so.1.0"),
            Some(("libpython3.11".into(), "1.0".into()))
        );
        assert_eq!(
            soname_key("libfoo-1.2.so"),
            Some(("libfoo".into(), "1.2".into()))
        );
        assert_eq!(soname_key("libfoo.so"), None);
        assert_eq!(upstream_version("1:1.2.13.dfsg-1"), "1:1.2.13.dfsg");
        assert_eq!(upstream_version("2.36"), "2.36");
    }

    #[test]
    fn usr_merge_toggle() {
        assert_eq!(
            usr_toggled(Path::new("/lib/x/libz.so.1")),
            Path::new("/usr/lib/x/libz.so.1")
        );
        assert_eq!(
            usr_toggled(Path::new("/usr/lib/x/libz.so.1")),
            Path::new("/lib/x/libz.so.1")
        );
    }

    #[test]
    fn facts_render_as_json() {
        let f = Facts {
            venv: "/opt/www/venvs/a-api".into(),
            python: "3.11".into(),
            python_depends: vec!["python3 (>= 3.11)".into(), "python3 (<< 3.12)".into()],
            shlib_depends: vec![],
            architecture: Some("all".into()),
            compiled: true,
            ..Facts::default()
        };
        let s = render_facts(&f);
        assert!(s.ends_with("}\n"));
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["python_depends"][1], "python3 (<< 3.12)");
        assert_eq!(v["compiled"], true);
    }
}
