//! mkdeb: not written yet (see the issue that introduces it).

use std::path::PathBuf;

/// Command line of mkdeb.
#[derive(Debug, clap::Parser)]
#[command(version, about = "mkdeb (not implemented yet)")]
pub struct Cli {
    /// Arguments
    pub args: Vec<PathBuf>,
}

/// Run the tool.
pub fn run(_cli: &Cli) -> debpipe_core::Result<()> {
    Err(debpipe_core::Error::Usage("mkdeb is not implemented yet".into()))
}
