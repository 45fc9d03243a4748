//! gen-control: not written yet (see the issue that introduces it).

use std::path::PathBuf;

/// Command line of gen-control.
#[derive(Debug, clap::Parser)]
#[command(version, about = "gen-control (not implemented yet)")]
pub struct Cli {
    /// Arguments
    pub args: Vec<PathBuf>,
}

/// Run the tool.
pub fn run(_cli: &Cli) -> debpipe_core::Result<()> {
    Err(debpipe_core::Error::Usage(
        "gen-control is not implemented yet".into(),
    ))
}
