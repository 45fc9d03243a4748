//! The Debian releases debpipe builds for: the repository's `releases.tsv`,
//! built in, so the tools and the shell scripts (`scripts/release.sh`) read
//! one table. A new release is a row there.

use std::sync::OnceLock;

use crate::{Error, Result};

/// The table, as the repository holds it.
pub const TABLE: &str = include_str!("../../../releases.tsv");

/// The columns, in order (the table's header line).
const COLUMNS: [&str; 8] = [
    "codename",
    "number",
    "python",
    "pip",
    "unit_dir",
    "dpkg",
    "compressions",
    "suffix",
];

/// Where systemd units go when no release is named: the path every
/// release reads (from Debian 13 on, /lib is an alias of /usr/lib).
pub const DEFAULT_UNIT_DIR: &str = "/lib/systemd/system";

/// One Debian release: a row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The suite name: `bookworm`.
    pub codename: &'static str,
    /// Debian's release number: 12.
    pub number: u32,
    /// `MAJOR.MINOR` of its python3.
    pub python: &'static str,
    /// The version of its python3-pip.
    pub pip: &'static str,
    /// Where its packages install systemd units.
    pub unit_dir: &'static str,
    /// The dpkg it was released with.
    pub dpkg: &'static str,
    /// The .deb member compressions that dpkg reads (`gzip`, `xz`, `zstd`).
    pub compressions: Vec<&'static str>,
    /// The Version suffix of a build for it: `+deb12`.
    pub suffix: &'static str,
}

impl Release {
    /// True when its dpkg reads members compressed with `format` (`zstd`).
    pub fn reads(&self, format: &str) -> bool {
        self.compressions.contains(&format)
    }
}

/// Parse a table in the form of `releases.tsv`.
pub fn parse(table: &'static str) -> std::result::Result<Vec<Release>, String> {
    let mut rows = table
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let header: Vec<&str> = rows
        .next()
        .map(|(_, l)| l.split('\t').collect())
        .unwrap_or_default();
    if header != COLUMNS {
        return Err(format!(
            "the header is {header:?}, not the columns {COLUMNS:?}"
        ));
    }
    let mut releases: Vec<Release> = Vec::new();
    for (n, line) in rows {
        let at = |why: String| format!("line {}: {why}", n + 1);
        // The fields in the order of COLUMNS.
        let f: [&'static str; COLUMNS.len()] = line
            .split('\t')
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|f: Vec<_>| {
                at(format!(
                    "{} fields, not {} (tab-separated)",
                    f.len(),
                    COLUMNS.len()
                ))
            })?;
        let (codename, number) = (f[0], f[1]);
        let number = number
            .parse()
            .map_err(|_| at(format!("number '{number}' is not a number")))?;
        if releases.iter().any(|r| r.codename == codename) {
            return Err(at(format!("{codename} is listed twice")));
        }
        releases.push(Release {
            codename,
            number,
            python: f[2],
            pip: f[3],
            unit_dir: f[4],
            dpkg: f[5],
            compressions: f[6].split(',').collect(),
            suffix: f[7],
        });
    }
    Ok(releases)
}

/// Every release, oldest first.
pub fn all() -> &'static [Release] {
    static ALL: OnceLock<Vec<Release>> = OnceLock::new();
    ALL.get_or_init(|| parse(TABLE).unwrap_or_else(|e| panic!("releases.tsv (built in): {e}")))
}

/// The release named `codename`; a usage error lists the known ones.
pub fn get(codename: &str) -> Result<&'static Release> {
    all()
        .iter()
        .find(|r| r.codename == codename)
        .ok_or_else(|| {
            Error::Usage(format!(
                "unknown DIST '{codename}': supported are {}",
                supported()
            ))
        })
}

/// The codenames as a sentence: `bullseye, bookworm and trixie`.
pub fn supported() -> String {
    let names: Vec<&str> = all().iter().map(|r| r.codename).collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// For clap: a codename of the table.
pub fn parse_dist(v: &str) -> std::result::Result<&'static Release, String> {
    get(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_its_rows_agree_with_debian() {
        let all = all();
        assert!(all.len() >= 3);
        for pair in all.windows(2) {
            assert!(pair[0].number < pair[1].number, "oldest first: {pair:?}");
        }
        for r in all {
            assert_eq!(r.suffix, format!("+deb{}", r.number), "{}", r.codename);
            assert!(
                r.unit_dir.starts_with('/') && r.unit_dir.ends_with("/systemd/system"),
                "{r:?}"
            );
            assert!(r.codename.bytes().all(|b| b.is_ascii_lowercase()), "{r:?}");
            let (major, minor) = r.python.split_once('.').expect("python is MAJOR.MINOR");
            assert!(major == "3" && minor.parse::<u32>().is_ok(), "{r:?}");
            assert!(r.reads("gzip") && r.reads("xz"), "{r:?}");
        }
        assert_eq!(get("bookworm").unwrap().unit_dir, DEFAULT_UNIT_DIR);
        assert_eq!(get("trixie").unwrap().unit_dir, "/usr/lib/systemd/system");
    }

    #[test]
    fn unknown_dist_is_a_usage_error_listing_the_table() {
        let e = get("sid").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            format!("unknown DIST 'sid': supported are {}", supported())
        );
        let last = all().last().unwrap().codename;
        assert!(supported().starts_with("bullseye, bookworm"));
        assert!(supported().ends_with(&format!(" and {last}")));
    }

    #[test]
    fn a_bad_table_names_the_line() {
        let head = "codename\tnumber\tpython\tpip\tunit_dir\tdpkg\tcompressions\tsuffix\n";
        let short: &'static str = format!("{head}forky\t14\n").leak();
        assert!(parse(short).unwrap_err().starts_with("line 2: 2 fields"));
        let nan: &'static str = format!("{head}forky\tx\t3\t1\t/u\t1\tgzip\t+deb14\n").leak();
        assert!(parse(nan).unwrap_err().contains("'x' is not a number"));
        assert!(parse("codename\tnumber\n").is_err());
    }
}
