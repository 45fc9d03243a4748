//! pip, run hermetically: its environment, its arguments, the requirements
//! (hash pins), and its errors reduced to one line.

use crate::Cli;
use debpipe_core::sysroot::Sysroot;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use debpipe_core::{Error, Result};

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
/// The requirements and wheelhouses, checked and made absolute.
pub(crate) struct PipInputs {
    requirements: PathBuf,
    hashes: bool,
    find_links: Vec<OsString>,
}

impl PipInputs {
    pub(crate) fn new(cli: &Cli, sysroot: &Sysroot) -> Result<Self> {
        let text = fs::read(&cli.requirements).map_err(|e| Error::io(&cli.requirements, e))?;
        let requirements =
            fs::canonicalize(&cli.requirements).map_err(|e| Error::io(&cli.requirements, e))?;
        sysroot.check_visible(&requirements, "the requirements file")?;
        let mut find_links = Vec::new();
        for link in &cli.find_links {
            if link.contains("://") {
                find_links.push(OsString::from(link));
            } else {
                let p = fs::canonicalize(link).map_err(|e| Error::io(link, e))?;
                sysroot.check_visible(&p, "the wheelhouse")?;
                find_links.push(p.into_os_string());
            }
        }
        Ok(Self {
            requirements,
            hashes: requires_hashes(&String::from_utf8_lossy(&text)),
            find_links,
        })
    }

    /// The wheelhouses that are directories (not URLs).
    pub(crate) fn local_dirs(&self) -> Vec<PathBuf> {
        self.find_links
            .iter()
            .filter(|l| !l.to_string_lossy().contains("://"))
            .map(PathBuf::from)
            .collect()
    }

    /// pip's runs: pip itself, the preinstalled packages, the requirements.
    /// With an index, the `no_binary` projects are built from source
    /// (`--no-binary`); from a wheelhouse alone (`--no-index`) their wheels
    /// are the source builds `make wheels` made, which `--no-binary` would
    /// refuse.
    pub(crate) fn install(
        &self,
        cli: &Cli,
        sysroot: &Sysroot,
        python: &Path,
        no_binary: &[String],
        env: &[(OsString, OsString)],
    ) -> Result<()> {
        let mut base = pip_base_args(&self.find_links, cli.no_index);
        base.extend(no_binary_args(cli.no_index, no_binary));
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
            let mut c = sysroot.command(program);
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

/// `--no-binary A,B` for the spec's `no_binary` projects when pip may use an
/// index; none from a wheelhouse alone (`--no-index`), whose wheels of them
/// are source builds that `--no-binary` would refuse.
pub fn no_binary_args(no_index: bool, no_binary: &[String]) -> Vec<OsString> {
    if no_index || no_binary.is_empty() {
        return Vec::new();
    }
    vec!["--no-binary".into(), no_binary.join(",").into()]
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

pub(crate) fn apply_env(cmd: &mut Command, env: &[(OsString, OsString)]) {
    cmd.env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
}

/// Run a step, capturing its output; on failure, an error naming `about`
/// (the file the step works on) with the step's last error line.
pub(crate) fn run_quiet(
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

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
}
