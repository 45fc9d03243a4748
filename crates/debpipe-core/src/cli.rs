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
