//! gen-nginx placeholder
use std::path::PathBuf;
/// Cli
#[derive(Debug, clap::Parser)]
pub struct Cli {
    /// spec
    pub spec: PathBuf,
}
/// run
pub fn run(_cli: &Cli) -> debpipe_core::Result<()> { Ok(()) }
