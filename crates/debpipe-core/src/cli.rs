//! The command-line arguments every generator shares (gen-uwsgi, gen-nginx,
//! gen-init): the spec, and where the output goes.

use std::path::PathBuf;

use crate::{AppSpec, Result, io};

/// `[SPEC] [-o FILE | --root DIR]`, flattened into each generator's `Cli`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenArgs {
    /// App spec (JSON); `-` reads stdin
    #[arg(value_name = "SPEC", default_value = "-")]
    pub spec: PathBuf,
    /// Write FILE atomically instead of stdout
    #[arg(short, long, value_name = "FILE", conflicts_with = "root")]
    pub output: Option<PathBuf>,
    /// Write the file at its install path under DIR and print that path
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

impl GenArgs {
    /// Read and validate the spec.
    pub fn spec(&self) -> Result<AppSpec> {
        AppSpec::from_json(&self.spec, &io::read_input(&self.spec)?)
    }

    /// Write `text` where the flags say: stdout, `-o FILE`, or
    /// `--root DIR` + `install_path` (see [`io::emit`]).
    pub fn emit(&self, install_path: &str, text: &str, mode: u32) -> Result<()> {
        io::emit(
            self.output.as_deref(),
            self.root.as_deref(),
            install_path,
            text.as_bytes(),
            mode,
        )
    }
}

/// The release that drops the deprecated spellings ([`deprecated`]).
pub const DROPPED_IN: &str = "0.2.0";

/// The one warning line for a deprecated spelling `old` of a tool's
/// command line: it still works, `new` is the form to use, and the
/// release that drops it ([`DROPPED_IN`]). `CHANGELOG.md` lists each one.
pub fn deprecation_warning(tool: &str, old: &str, new: &str) -> String {
    format!("{tool}: warning: {old} is deprecated, use {new} (it goes away in {DROPPED_IN})")
}

/// Print [`deprecation_warning`] on stderr.
pub fn deprecated(tool: &str, old: &str, new: &str) {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr().lock(),
        "{}",
        deprecation_warning(tool, old, new)
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn deprecation_warning_is_one_line_naming_the_new_form_and_the_release() {
        let w = super::deprecation_warning("t", "--old", "--new");
        assert_eq!(
            w,
            "t: warning: --old is deprecated, use --new (it goes away in 0.2.0)"
        );
    }
}
