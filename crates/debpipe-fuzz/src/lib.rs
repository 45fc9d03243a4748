//! Fuzz targets for the code that reads files from anyone (issue 21, item 7),
//! and a small mutation fuzzer that runs them on stable Rust.
//!
//! - The targets ([`ar`], [`deb_control`], [`deb822`]) are thin: each calls
//!   one reader's public entry point by name, so that when a reader moves
//!   only this file
//!   changes. cargo-fuzz's targets in `fuzz/` (nightly, libFuzzer) call the
//!   same functions.
//! - [`seeds`]: the corpus: .debs built here with each control member
//!   compression dpkg writes (none, gzip, xz, zstd), the real .debs the
//!   scanpkgs tests download (in `~/.cache/debpipe/test-debs`) when present,
//!   and control stanzas.
//! - [`mutate`]: a seeded xorshift mutator (bit flips, bytes, decimal and
//!   octal numbers written over size fields, inserts, deletes, copies,
//!   splices, truncation) with no coverage feedback: every input is a few
//!   mutations of a seed, or random bytes.
//! - [`run`]: feeds a target `runs` inputs; a panic or an input slower than
//!   [`SLOW`] stops it and saves the input.
//!
//! Memory is bounded by the readers themselves (their caps on member,
//! decompressed and dictionary sizes); the tests and `make fuzz` run the
//! fuzzer under `ulimit -v`, so that an allocation past the bound aborts it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub mod mutate;
pub mod seeds;

/// The ar reader: `debpipe_core::ar::members` over `bytes`; every member
/// it returns lies inside the file.
pub fn ar(bytes: &[u8]) {
    let read_at = |offset: u64, len: u64| -> Result<Vec<u8>, String> {
        let start = usize::try_from(offset).map_err(|e| e.to_string())?;
        let end = usize::try_from(offset + len).map_err(|e| e.to_string())?;
        bytes
            .get(start..end)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| format!("read {start}..{end} past {}", bytes.len()))
    };
    if let Ok(members) = debpipe_core::ar::members(bytes.len() as u64, &read_at) {
        for m in members {
            assert!(m.offset + m.size <= bytes.len() as u64, "{m:?}");
        }
    }
}

/// The .deb reader: `debpipe_repo::deb::parse_deb` (ar layout, control
/// member decompression, the tar inside), then the control file through
/// [`deb822`] as scanpkgs and pushrepo read it next.
pub fn deb_control(bytes: &[u8]) {
    if let Ok(control) = debpipe_repo::deb::parse_deb(bytes).map(|d| d.control) {
        deb822(&control);
    }
}

/// The deb822 readers: `debpipe_repo::stanza::parse_stanza` (a .deb's
/// control file) and, on UTF-8, `debpipe_core::deb822::parse`.
pub fn deb822(bytes: &[u8]) {
    if let Ok(stanza) = debpipe_repo::stanza::parse_stanza(bytes) {
        let mut out = Vec::new();
        stanza.render(&mut out);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = debpipe_core::deb822::parse(text);
    }
}

/// The Packages reader of a repository someone else wrote (a bucket's):
/// `debpipe_repo::packages::parse_packages`, its entries rendered again.
pub fn packages(bytes: &[u8]) {
    if let Ok(entries) = debpipe_repo::packages::parse_packages(bytes) {
        let _ = debpipe_repo::packages::render(&entries);
    }
}

/// The Release reader: `debpipe_repo::release::parse_release`.
pub fn release(bytes: &[u8]) {
    let _ = debpipe_repo::release::parse_release(bytes);
}

/// A fuzz target: its name and function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("ar", ar),
    ("deb_control", deb_control),
    ("deb822", deb822),
    ("packages", packages),
    ("release", release),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().copied().find(|(n, _)| *n == name)
}

/// An input that takes longer than this counts as a hang.
pub const SLOW: Duration = Duration::from_secs(5);

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Inputs run.
    pub runs: u64,
    /// The slowest input's time.
    pub slowest: Duration,
}

/// Run `target` on `runs` inputs mutated from `corpus` with `seed`. On a
/// panic or an input slower than [`SLOW`], the input is written to
/// `artifacts` (created if needed) and the run panics naming the file.
pub fn run(target: Target, corpus: &[Vec<u8>], runs: u64, seed: u64, artifacts: &Path) -> Report {
    let (name, f) = target;
    let mut rng = mutate::Rng::new(seed);
    let mut slowest = Duration::ZERO;
    let mut input = Vec::new();
    for i in 0..runs {
        mutate::next_input(&mut rng, corpus, &mut input);
        let t0 = Instant::now();
        let outcome = std::panic::catch_unwind(|| f(&input));
        let took = t0.elapsed();
        slowest = slowest.max(took);
        let problem = match outcome {
            Err(_) => "panicked",
            Ok(()) if took > SLOW => "hung",
            Ok(()) => continue,
        };
        let path = save(artifacts, name, i, &input);
        panic!(
            "fuzz target {name} {problem} on input {i} (seed {seed}, {} bytes, took {took:?}): saved to {}",
            input.len(),
            path.display()
        );
    }
    Report { runs, slowest }
}

fn save(dir: &Path, name: &str, i: u64, input: &[u8]) -> PathBuf {
    let path = dir.join(format!("{name}-{i}.bin"));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::File::create(&path))
        .and_then(|mut file| file.write_all(input));
    if let Err(e) = written {
        eprintln!("debpipe-fuzz: cannot save {}: {e}", path.display());
    }
    path
}
