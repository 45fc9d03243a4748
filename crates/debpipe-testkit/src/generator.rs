//! The command-line contract every generator keeps (golden outputs,
//! `-` as stdin, usage errors, bad specs, atomic `-o`, `--root`), as
//! methods and as `#[test]` functions (`generator_contract_tests!`).

#![allow(clippy::unwrap_used)]

use crate::golden::{assert_golden, fixtures};
use crate::specs::{PACKAGER_ENV, assert_bad_specs_rejected, scrubbed};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

/// The command-line contract every generator (gen-uwsgi, gen-nginx,
/// gen-init) keeps, checked against its real binary. Each method is one
/// test's worth; the tools call them from their own `tests/cli.rs`.
#[derive(Debug, Clone)]
pub struct Generator {
    /// Tool name, as in its messages.
    pub tool: &'static str,
    /// The built binary.
    pub bin: PathBuf,
    /// Flags given before the spec (e.g. `--kind sysv`).
    pub args: Vec<String>,
    /// `tests/golden` of the tool.
    pub golden_dir: PathBuf,
    /// Golden file name suffix, e.g. `ini`, `service`.
    pub ext: &'static str,
    /// Install path of the example spec's output (for `--root`).
    pub example_install_path: &'static str,
    /// Mode of the written file.
    pub mode: u32,
    /// The folder of `tests/fixtures` holding its `example.json` and
    /// `minimal.json` (`specs`; `specs/gunicorn` for gunicorn's config).
    pub specs: &'static str,
}

impl Generator {
    /// A command with the tool's flags and a scrubbed environment.
    pub fn cmd(&self) -> Command {
        let mut c = scrubbed(&self.bin);
        c.envs(PACKAGER_ENV);
        c.args(&self.args);
        c
    }

    fn golden(&self, case: &str) -> PathBuf {
        self.golden_dir.join(format!("{case}.{}", self.ext))
    }

    fn ok_stdout(&self, c: &mut Command) -> Vec<u8> {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{} failed: {}",
            self.tool,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The example and minimal specs give the golden outputs.
    pub fn golden_cases(&self) {
        for case in ["example", "minimal"] {
            let spec = fixtures().join(format!("{}/{case}.json", self.specs));
            let out = self.ok_stdout(self.cmd().arg(spec));
            assert_golden(self.golden(case), &out);
        }
    }

    /// `--help` is the golden `help.txt` (only once per tool: no extra args).
    pub fn help_golden(&self) {
        let out = self.ok_stdout(Command::new(&self.bin).arg("--help"));
        assert_golden(self.golden_dir.join("help.txt"), &out);
    }

    /// `-` and no argument read the spec from stdin.
    pub fn dash_reads_stdin(&self) {
        let spec = fixtures().join(self.specs).join("example.json");
        let want = std::fs::read(self.golden("example")).unwrap();
        for dash in [true, false] {
            let mut c = self.cmd();
            if dash {
                c.arg("-");
            }
            c.stdin(std::fs::File::open(&spec).unwrap());
            assert_eq!(self.ok_stdout(&mut c), want, "dash={dash}");
        }
    }

    /// An unknown flag, and `-o` with `--root`, exit 2.
    pub fn usage_errors_exit_2(&self) {
        let out = self.cmd().arg("--frobnicate").output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let out = self
            .cmd()
            .args(["-o", "x", "--root", "y", "spec.json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
    }

    /// The bad-spec corpus with `-o`: see [`assert_bad_specs_rejected`].
    pub fn bad_specs_rejected(&self) {
        assert_bad_specs_rejected(self.tool, |out| {
            let mut c = self.cmd();
            c.arg("-o").arg(out);
            c
        });
    }

    /// A missing spec file: exit 1, the file named, nothing on stdout.
    pub fn missing_file_named(&self) {
        let out = self.cmd().arg("/nonexistent/app.json").output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        let want = format!("{}: error: /nonexistent/app.json: ", self.tool);
        assert!(err.starts_with(&want), "{err}");
    }

    /// `-o FILE` writes the golden bytes with the tool's mode, nothing else.
    pub fn dash_o_writes_atomically(&self) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let stdout = self.ok_stdout(
            self.cmd()
                .arg("-o")
                .arg(&out)
                .arg(fixtures().join(self.specs).join("example.json")),
        );
        assert!(stdout.is_empty());
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, self.mode, "mode of -o file");
        assert_golden(self.golden("example"), &std::fs::read(&out).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// `--root DIR` writes at the install path under DIR and prints it.
    pub fn root_writes_install_path(&self) {
        let dir = tempfile::tempdir().unwrap();
        let stdout = self.ok_stdout(
            self.cmd()
                .arg("--root")
                .arg(dir.path())
                .arg(fixtures().join(self.specs).join("example.json")),
        );
        let want = dir
            .path()
            .join(self.example_install_path.trim_start_matches('/'));
        assert_eq!(
            String::from_utf8(stdout).unwrap(),
            format!("{}\n", want.display())
        );
        assert_golden(self.golden("example"), &std::fs::read(&want).unwrap());
        let mode = std::fs::metadata(&want).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, self.mode);
    }
}

/// The [`Generator`] contract as named `#[test]` functions, for a tool's
/// `tests/cli.rs`: `generator_contract_tests!(tool());`
#[macro_export]
macro_rules! generator_contract_tests {
    ($tool:expr) => {
        #[test]
        fn example_and_minimal_specs_match_golden() {
            $tool.golden_cases();
        }
        #[test]
        fn help_matches_golden() {
            $tool.help_golden();
        }
        #[test]
        fn dash_reads_stdin() {
            $tool.dash_reads_stdin();
        }
        #[test]
        fn unknown_flag_and_conflicting_outputs_are_usage_error_2() {
            $tool.usage_errors_exit_2();
        }
        #[test]
        fn bad_specs_exit_1_name_field_and_write_nothing() {
            $tool.bad_specs_rejected();
        }
        #[test]
        fn missing_spec_file_is_named() {
            $tool.missing_file_named();
        }
        #[test]
        fn dash_o_writes_atomically_with_the_tools_mode() {
            $tool.dash_o_writes_atomically();
        }
        #[test]
        fn root_writes_at_install_path_and_prints_it() {
            $tool.root_writes_install_path();
        }
    };
}
