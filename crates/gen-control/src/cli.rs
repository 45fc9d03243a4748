//! The command line: flags, and the check of `--version-suffix`.

use std::path::PathBuf;

/// Generate the package's control area.
#[derive(Debug, clap::Parser)]
#[command(
    version,
    about = "Generate the package's control area (control, conffiles, maintainer scripts)",
    long_about = "Generate the package's DEBIAN/ control area from the app spec (JSON, see README) \
and the facts files of other tools (mkvenv's JSON: python and shared-library dependencies, \
architecture).\n\n\
With --root STAGE, conffiles lists every file under STAGE/etc and the area is written to \
STAGE/DEBIAN (or --out-dir DIR); the directory is printed. Without --root or --out-dir, the control \
file is printed.",
    after_help = "Examples:\n  gen-control app.json                       # print the control file\n  mkvenv app.json -r requirements.txt --root stage > facts.json\n  gen-control app.json --facts facts.json --root stage   # writes stage/DEBIAN\n  mkdeb stage dist/"
)]
pub struct Cli {
    /// App spec (JSON); `-` reads stdin
    #[arg(value_name = "SPEC", default_value = "-")]
    pub spec: PathBuf,
    /// Facts JSON from another tool (mkvenv); may be repeated
    #[arg(long, value_name = "FILE")]
    pub facts: Vec<PathBuf>,
    /// Staging tree: conffiles come from STAGE/etc, output goes to STAGE/DEBIAN
    #[arg(long, value_name = "STAGE")]
    pub root: Option<PathBuf>,
    /// Append SUFFIX to the package's Version, e.g. `+deb13` for a build for
    /// Debian 13 (`make DIST=trixie` passes it): one app version built for
    /// several releases gets distinct file names, sorting by release
    #[arg(long, value_name = "SUFFIX", value_parser = version_suffix)]
    pub version_suffix: Option<String>,
    /// Write the control area to DIR (created if missing) and print DIR
    #[arg(long = "out-dir", value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Deprecated spellings of --out-dir, `-o DIR` and `--out DIR` (`-o` is
    /// a FILE in the other tools): they warn and go away in 0.2.0
    #[arg(
        short = 'o',
        long = "out",
        value_name = "DIR",
        hide = true,
        conflicts_with = "out"
    )]
    pub out_deprecated: Option<PathBuf>,
}

impl Cli {
    /// The output directory given: --out-dir, or a deprecated spelling of it
    /// (with its warning on stderr).
    pub fn out_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = &self.out_deprecated {
            debpipe_core::cli::deprecated("gen-control", "-o/--out DIR", "--out-dir DIR");
            return Some(dir.clone());
        }
        self.out.clone()
    }
}

/// A version suffix: `+` or `~` and then letters, digits, `.`, `+`, `~`
/// (what Debian's own rebuilds use: `+deb13u1`, `~bpo12+1`).
pub fn version_suffix(v: &str) -> std::result::Result<String, String> {
    let mut chars = v.chars();
    let ok = matches!(chars.next(), Some('+' | '~'))
        && v.len() > 1
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~'));
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!(
            "'{v}' is not a version suffix: a '+' or '~', then letters, digits, '.', '+' or '~' (e.g. +deb13)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_suffixes_are_debians_rebuild_suffixes() {
        assert_eq!(version_suffix("+deb13").unwrap(), "+deb13");
        assert!(version_suffix("~bpo12+1").is_ok());
        for bad in ["deb13", "+", "+deb 13", "+deb13-1", "+deb_13", ""] {
            assert!(version_suffix(bad).is_err(), "{bad}");
        }
    }

    debpipe_testkit::verify_cli!(Cli);
}
