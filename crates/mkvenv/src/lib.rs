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
//!
//! The modules, one concern each (this file keeps the CLI and [`run`]):
//! - `bundled` — shared libraries wheels bring along, and `no_binary`;
//! - `elf` — which ELF files are programs and which shared libraries;
//! - `interpreter` — which python a venv may be built with, its relations;
//! - `pip` — pip run hermetically, its arguments and its errors;
//! - `relocate` — paths, shebangs and modes rewritten for the install path;
//! - `shlibs` — shared-library `Depends`;
//! - `staging` — the build directory and its move into place;
//! - `wheels` — the wheelhouse fits the python.

mod bundled;
mod elf;
mod interpreter;
mod pip;
mod relocate;
mod shlibs;
mod staging;
mod wheels;

pub use bundled::*;
use debpipe_core::sysroot::Sysroot;
pub use elf::*;
pub use interpreter::*;
pub use pip::*;
pub use relocate::*;
pub use shlibs::*;
use staging::{make_build_dir, put_in_place};

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Instant;

use debpipe_core::error::{Status, status};
use debpipe_core::{AppSpec, Error, Result, io};

/// The longest shebang line Linux pip trusts (distlib's limit, newline
/// included); a longer one gets the `#!/bin/sh` wrapper.
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
A wheel that bundles shared libraries (auditwheel's `<name>.libs/`) gets a warning \
line naming it and them: Debian's security updates never reach those copies. The \
spec's `no_binary` projects must come from source builds (`linux_<arch>` wheels, \
as `make wheels` makes them): a wheelhouse with a manylinux or musllinux wheel of \
one is refused; without --no-index pip gets `--no-binary` for them.\n\n\
Prints a JSON object of facts on stdout: venv, python, python_depends, \
shlib_depends, architecture, compiled, bundled_libraries.",
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
    /// Build for the Debian root DIR (e.g. from `scripts/build-root trixie`):
    /// python and pip run in it through chroot, and the facts (python
    /// version, shared-library Depends) come from its ld.so cache and dpkg
    /// database. The stage, requirements and wheelhouses must be visible at
    /// the same paths inside it (run under `scripts/in-root DIR`)
    #[arg(long, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,
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

/// The sysroot, with the interpreter checked in it (see [`check_interpreter`]).
fn target_python(cli: &Cli) -> Result<Sysroot> {
    let sysroot = match &cli.sysroot {
        Some(dir) => Sysroot::new(dir)?,
        None => Sysroot::host(),
    };
    check_interpreter(&cli.python, None, cli.force_python)
        .map_err(|r| Error::file(&cli.python, r))?;
    let resolved = match sysroot.root() {
        None => fs::canonicalize(&cli.python).map_err(|e| Error::io(&cli.python, e))?,
        Some(root) => sysroot.canonicalize(&cli.python).ok_or_else(|| {
            Error::file(
                &cli.python,
                format!("No such file in the sysroot {}", root.display()),
            )
        })?,
    };
    check_interpreter(&cli.python, Some(&resolved), cli.force_python)
        .map_err(|r| Error::file(&cli.python, r))?;
    Ok(sysroot)
}

/// Run the tool.
pub fn run(cli: &Cli) -> Result<()> {
    let started = Instant::now();
    let spec = AppSpec::from_json(&cli.spec, &io::read_input(&cli.spec)?)?;
    let install = spec.venv.clone();

    let sysroot = target_python(cli)?;
    let pip = PipInputs::new(cli, &sysroot)?;
    let env = pip_env(std::env::vars_os());
    let version = probe_python(&sysroot, &cli.python, &env)?;
    if cli.no_index {
        wheels::check_wheelhouses(&pip.local_dirs(), version)?;
    }
    check_no_binary_wheelhouses(&pip.local_dirs(), &spec.no_binary)?;

    fs::create_dir_all(&cli.root).map_err(|e| Error::io(&cli.root, e))?;
    let stage = fs::canonicalize(&cli.root).map_err(|e| Error::io(&cli.root, e))?;
    sysroot.check_visible(&stage, "the staging root")?;
    let target = stage.join(install.trim_start_matches('/'));
    let build = make_build_dir(&target)?;
    let build_dir = build.path().to_path_buf();

    let mut venv_cmd = sysroot.command(&cli.python);
    venv_cmd.arg("-m").arg("venv");
    if cli.without_pip {
        venv_cmd.arg("--without-pip");
    }
    venv_cmd.arg(&build_dir);
    run_quiet(venv_cmd, &env, &cli.python, "python -m venv", cli.verbose)?;
    pip.install(
        cli,
        &sysroot,
        &build_dir.join("bin/python"),
        &spec.no_binary,
        &env,
    )?;
    check_no_binary_installed(&build_dir, &spec.no_binary)?;

    let relocation = Relocation {
        from: build_dir.as_os_str().as_bytes().to_vec(),
        to: install.as_bytes().to_vec(),
        stage: stage.as_os_str().as_bytes().to_vec(),
    };
    let mut stats = Stats::default();
    let mut elves = Vec::new();
    let bin = build_dir.join("bin");
    relocate::drop_venv_gitignore(&build_dir)?;
    relocate_tree(&build_dir, &bin, &relocation, &mut stats, &mut elves)?;
    fs::set_permissions(&build_dir, fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(&build_dir, e))?;

    let shlib_depends = shlib_depends(&sysroot, &build_dir, &elves)?;
    let architecture = if elves.is_empty() {
        "all".to_string()
    } else {
        dpkg_architecture(&sysroot)?
    };
    let python_depends = python_depends(&cli.python, version);
    if python_depends.is_empty() {
        status(
            &mut std::io::stderr(),
            "mkvenv",
            Status::Warning,
            format_args!(
                "{} is not a Debian package's python3; declare the dependency on it yourself",
                cli.python.display()
            ),
        );
    }

    let bundles = bundled_libraries(&build_dir);
    warn_bundles(&mut std::io::stderr(), &bundles);

    put_in_place(build, &target)?;

    let facts = Facts {
        venv: install,
        python: format!("{}.{}", version.0, version.1),
        python_depends,
        shlib_depends,
        architecture: Some(architecture),
        compiled: true,
        bundled_libraries: bundles.into_iter().map(|b| b.facts).collect(),
        ..Facts::default()
    };
    if cli.verbose {
        status(
            &mut std::io::stderr(),
            "mkvenv",
            Status::Info,
            format_args!(
                "built {} in {:.1}s: {} files, {} rewritten ({} shebangs, {} of them unversioned python), {} symlinks, {} bytecode removed, {} modes fixed, {} ELF files ({} executable)",
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
            ),
        );
    }
    io::write_output(cli.output.as_deref(), facts.to_json().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    debpipe_testkit::verify_cli!(Cli);

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
        let s = f.to_json();
        assert!(s.ends_with("}\n"));
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["python_depends"][1], "python3 (<< 3.12)");
        assert_eq!(v["compiled"], true);
    }
}
