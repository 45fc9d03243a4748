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
//! The modules, by concern: `pip` (running pip hermetically), `interpreter`
//! (which python, its relations), `staging` (the build directory and its move
//! into place), `relocate` (paths, shebangs, modes), `elf` (programs and
//! libraries), `shlibs` (shared-library `Depends`), `wheels` (the wheelhouse
//! fits the python) and `bundled` (libraries wheels bring along, and the
//! projects built from source: `no_binary`). This file keeps the CLI and
//! [`run`].

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
    use std::ffi::OsString;
    use std::path::Path;

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
    fn no_binary_reaches_pip_only_when_an_index_may_be_used() {
        let names = ["pycurl".to_string(), "PyYAML".to_string()];
        assert_eq!(
            no_binary_args(false, &names),
            [
                OsString::from("--no-binary"),
                OsString::from("pycurl,PyYAML")
            ]
        );
        assert!(no_binary_args(true, &names).is_empty());
        assert!(no_binary_args(false, &[]).is_empty());
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
        let s = f.to_json();
        assert!(s.ends_with("}\n"));
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["python_depends"][1], "python3 (<< 3.12)");
        assert_eq!(v["compiled"], true);
    }
}
