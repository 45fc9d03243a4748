//! Property tests of the parsers that read untrusted input
//! ([`crate::stanza::parse_stanza`], [`crate::packages::parse_packages`],
//! [`crate::release::parse_release`], [`crate::deb::parse_deb`]): random and
//! mutated inputs, seeded from real Packages, Release and .deb files made
//! here with the crate's own writers. Each must return (`Ok` or `Err`),
//! never panic, and in bounded time. `DEBPIPE_FUZZ_ITERS` scales the count
//! (default 20,000 per text parser, 2,000 for .debs).

use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crate::packages::Entry;
use crate::release::{IndexSum, ReleaseFields, render_release};

/// xorshift64*: a seeded generator, so a failure repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }
}

/// Pieces that matter to the parsers, spliced in by [`mutate`].
const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\n\n",
    b" ",
    b"\t",
    b":",
    b" .",
    b"#",
    b"-",
    b"Package: ",
    b"Version: ",
    b"Filename: ",
    b"SHA512:\n",
    b"SHA256:\n",
    b"MD5Sum:\n",
    b"Date: ",
    b"-----BEGIN PGP SIGNATURE-----\n",
    b"99999999999999999999999",
    b"18446744073709551615",
    b"\xff\xfe",
    b"!<arch>\n",
    b"control.tar.xz  ",
    b"data.tar        ",
    b"2.0\n",
    b"`\n",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(8) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let end = (at + rng.below(64)).min(v.len());
                v.drain(at..end);
            }
            2 => v.truncate(at),
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            4 => {
                let end = (at + rng.below(256)).min(v.len());
                let copy = v[at..end].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, copy);
            }
            5 => {
                let n = rng.below(32);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next().to_le_bytes()[0]).collect();
                v.splice(at..at, bytes);
            }
            _ if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next().to_le_bytes()[0];
            }
            _ => {}
        }
    }
    v
}

fn iterations(default: usize) -> usize {
    std::env::var("DEBPIPE_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Feed `parse` the seeds, `n` mutations of them and random bytes; fail on
/// a panic (naming the input) or on one input taking over a second.
fn run<T>(name: &str, seeds: &[Vec<u8>], n: usize, parse: impl Fn(&[u8]) -> Result<T, String>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    let (mut ok, mut err) = (0usize, 0usize);
    let mut slowest = Duration::ZERO;
    for i in 0..n + seeds.len() {
        let input = match i.checked_sub(n) {
            Some(s) => seeds[s].clone(),
            None if i % 16 == 0 => (0..rng.below(512))
                .map(|_| rng.next().to_le_bytes()[0])
                .collect(),
            None => {
                let seed = &seeds[rng.below(seeds.len())];
                mutate(&mut rng, seed)
            }
        };
        let start = Instant::now();
        match catch_unwind(AssertUnwindSafe(|| parse(&input))) {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(_)) => err += 1,
            Err(why) => panic!(
                "{name} panicked ({why:?}) on input {i}: {:?}",
                String::from_utf8_lossy(&input[..input.len().min(2000)])
            ),
        }
        let took = start.elapsed();
        slowest = slowest.max(took);
        assert!(
            took < Duration::from_secs(1),
            "{name} took {took:?} on input {i}: {:?}",
            String::from_utf8_lossy(&input[..input.len().min(2000)])
        );
    }
    eprintln!(
        "{name}: {} inputs, {ok} Ok, {err} Err, slowest {slowest:?}",
        n + seeds.len()
    );
    assert!(ok > 0 && err > 0, "{name}: the inputs reach both outcomes");
}

fn packages_seed() -> Vec<u8> {
    let mut text = Vec::new();
    for (p, v) in [("hello", "1.0"), ("libfoo1", "1:2.3~rc1-1"), ("doc", "0.1")] {
        let control = format!(
            "Package: {p}\nVersion: {v}\nArchitecture: amd64\nMaintainer: A <a@b.example>\n\
             Depends: libc6 (>= 2.36), python3 | python3-minimal\nDescription: short\n long\n .\n more\n"
        );
        let info = crate::deb::DebInfo {
            control: control.into_bytes(),
            size: 1234,
            md5: [1; 16],
            sha1: [2; 20],
            sha256: [3; 32],
        };
        let e = Entry::from_deb(&info, "main").unwrap();
        text.extend_from_slice(&crate::packages::render(&[e]));
    }
    text
}

fn release_seed() -> Vec<u8> {
    let sums = [
        IndexSum::of("main/binary-amd64/Packages".into(), &packages_seed()),
        IndexSum::of("main/binary-amd64/Packages.gz".into(), b"gz"),
        IndexSum::of("main/binary-all/Packages".into(), b""),
    ];
    let fields = ReleaseFields {
        origin: Some("Acme".into()),
        suite: Some("stable".into()),
        architectures: Some("all amd64".into()),
        components: Some("main".into()),
        description: Some("d\n more".into()),
        acquire_by_hash: true,
        ..ReleaseFields::default()
    };
    render_release(&fields, "Thu, 01 Jan 1970 00:00:10 UTC", &sums).into_bytes()
}

fn deb_seed(compression: &str) -> Vec<u8> {
    let control = b"Package: p\nVersion: 1\nArchitecture: all\nDescription: d\n";
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(control.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "./control", &control[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let (name, member) = match compression {
        "gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&tar).unwrap();
            ("control.tar.gz", e.finish().unwrap())
        }
        "xz" => {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(&tar).unwrap();
            ("control.tar.xz", e.finish().unwrap())
        }
        "zst" => ("control.tar.zst", zstd::encode_all(&tar[..], 1).unwrap()),
        _ => ("control.tar", tar),
    };
    let mut out = b"!<arch>\n".to_vec();
    for (n, data) in [
        ("debian-binary", &b"2.0\n"[..]),
        (name, &member),
        ("data.tar", b"x"),
    ] {
        let header = format!(
            "{n:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            0,
            0,
            0,
            100_644,
            data.len()
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

#[test]
fn parse_stanza_never_panics() {
    let seeds = vec![
        packages_seed(),
        b"# c\n\nPackage: p\nDescription: x\n .\n ..\n\tt\n".to_vec(),
    ];
    run(
        "parse_stanza",
        &seeds,
        iterations(20_000),
        crate::stanza::parse_stanza,
    );
}

#[test]
fn parse_packages_never_panics() {
    run(
        "parse_packages",
        &[packages_seed()],
        iterations(20_000),
        crate::packages::parse_packages,
    );
}

#[test]
fn parse_release_never_panics() {
    let mut signed = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n".to_vec();
    signed.extend_from_slice(&release_seed());
    signed.extend_from_slice(b"-----BEGIN PGP SIGNATURE-----\n\niQ\n-----END PGP SIGNATURE-----\n");
    run(
        "parse_release",
        &[release_seed(), signed],
        iterations(20_000),
        crate::release::parse_release,
    );
}

#[test]
fn parse_deb_never_panics() {
    let seeds: Vec<Vec<u8>> = ["gz", "xz", "zst", "none"].map(deb_seed).to_vec();
    for s in &seeds {
        assert!(crate::deb::parse_deb(s).is_ok(), "seed reads");
    }
    run(
        "parse_deb",
        &seeds,
        iterations(2_000),
        crate::deb::parse_deb,
    );
}
