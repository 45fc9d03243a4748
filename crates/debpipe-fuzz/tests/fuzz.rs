//! The short fuzz run of `make test` (20,000 inputs per target), and inputs
//! crafted to declare huge sizes: each reader must refuse them quickly
//! without allocating what they declare. Every test runs its body in a
//! child process under `ulimit -v` (see [`under_memory_limit`]), so an
//! allocation past the limit aborts the child and fails the test.
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use debpipe_fuzz::seeds;

/// Address space for a child, in KiB: the test binary and its threads
/// take about 100 MiB; the readers' own caps stay under 256 MiB.
const LIMIT_KIB: u64 = 768 * 1024;
const CHILD: &str = "DEBPIPE_FUZZ_CHILD";

/// True in the child: run the test's body. In the parent, run the test
/// `name` in a child under `ulimit -v`, check it passed, and return false.
fn under_memory_limit(name: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {LIMIT_KIB} && exec \"$0\" \"$@\""))
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} under ulimit -v {LIMIT_KIB}: {}\n{stdout}\n{stderr}",
        out.status
    );
    eprint!("{stderr}");
    false
}

fn short_run(target: &str) {
    let t = debpipe_fuzz::target(target).unwrap();
    let corpus = seeds::for_target(target);
    let dir = tempfile::tempdir().unwrap();
    let r = debpipe_fuzz::run(t, &corpus, 20_000, 21, dir.path());
    eprintln!(
        "{target}: {} inputs from {} seeds, slowest {:?}",
        r.runs,
        corpus.len(),
        r.slowest
    );
}

/// `#[test] fn NAME`: the short run of `TARGET`, under the memory limit
/// (the child runs the test of the same name).
macro_rules! short_run_test {
    ($($name:ident: $target:literal,)*) => {$(
        #[test]
        fn $name() {
            if under_memory_limit(stringify!($name)) {
                short_run($target);
            }
        }
    )*};
}

short_run_test! {
    fuzz_ar_20000_inputs: "ar",
    fuzz_deb_control_20000_inputs: "deb_control",
    fuzz_deb822_20000_inputs: "deb822",
    fuzz_packages_20000_inputs: "packages",
    fuzz_release_20000_inputs: "release",
}

#[test]
fn seeds_are_read_as_debs() {
    let debs = seeds::debs();
    for ext in ["", ".gz", ".xz", ".zst"] {
        assert_eq!(
            debpipe_repo::deb::parse_deb(&seeds::deb(ext, seeds::CONTROL))
                .map(|d| d.control)
                .unwrap(),
            seeds::CONTROL
        );
    }
    for d in &debs {
        assert!(debpipe_repo::deb::parse_deb(d).map(|d| d.control).is_ok());
    }
}

/// A .deb whose control member `name` is `member`: its error, returned
/// within a second (under the memory limit).
fn control_member_refused(name: &str, member: &[u8]) -> String {
    let deb = seeds::ar_archive(&[
        ("debian-binary", b"2.0\n"),
        (name, member),
        ("data.tar", b""),
    ]);
    refused_quickly(|| debpipe_repo::deb::parse_deb(&deb).map(|d| d.control))
}

/// `f` returns an error within a second (under the memory limit).
fn refused_quickly<T: std::fmt::Debug>(f: impl FnOnce() -> Result<T, String>) -> String {
    let t0 = Instant::now();
    let e = f().unwrap_err();
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "{e}: {:?}",
        t0.elapsed()
    );
    e
}

#[test]
fn ar_member_declaring_10_gb_is_refused_without_allocating() {
    if !under_memory_limit("ar_member_declaring_10_gb_is_refused_without_allocating") {
        return;
    }
    let mut deb = seeds::ar_archive(&[("debian-binary", b"2.0\n")]);
    deb.extend_from_slice(
        &debpipe_core::ar::member_header("control.tar", 0, 9_999_999_999).unwrap(),
    );
    deb.extend_from_slice(&[0; 100]);
    let e = refused_quickly(|| debpipe_repo::deb::parse_deb(&deb).map(|d| d.control));
    assert!(e.starts_with("truncated: member control.tar needs"), "{e}");
}

/// A control.tar.gz whose tar holds a GNU long name of 10 GB declared and
/// 1 GiB of zeros given (the gzip member is 1 MB): tar reads a long name
/// into memory whole, so without a cap on the decompressed size this
/// allocates 1 GiB (and a 16 MB member, 16 GB).
#[test]
fn regression_fuzz_gzip_bomb_long_name_is_capped() {
    if !under_memory_limit("regression_fuzz_gzip_bomb_long_name_is_capped") {
        return;
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::GNULongName);
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    h.set_size(10_000_000_000);
    h.set_mode(0o644);
    h.set_cksum();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(h.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        gz.write_all(&zeros).unwrap();
    }
    let member = gz.finish().unwrap();
    assert!(member.len() < 16 << 20);
    let e = control_member_refused("control.tar.gz", &member);
    assert!(e.contains("decompresses to over 64 MiB"), "{e}");
}

/// A control.tar.xz whose block header declares a 4 GiB dictionary:
/// refused by the decoder's memory limit before it allocates.
#[test]
fn regression_fuzz_xz_4_gib_dictionary_hits_the_memory_limit() {
    if !under_memory_limit("regression_fuzz_xz_4_gib_dictionary_hits_the_memory_limit") {
        return;
    }
    let mut xz = seeds::compress(".xz", &seeds::control_tar(seeds::CONTROL));
    // Stream header (12 bytes), then the block header: size, flags (no
    // sizes, one filter), LZMA2's id 0x21, one property byte: the
    // dictionary size; CRC32 at the end of the header.
    let size = usize::from(xz[12] + 1) * 4;
    assert_eq!(&xz[13..16], &[0, 0x21, 1]);
    xz[16] = 40;
    let mut crc = flate2::Crc::new();
    crc.update(&xz[12..12 + size - 4]);
    xz[12 + size - 4..12 + size].copy_from_slice(&crc.sum().to_le_bytes());
    let e = control_member_refused("control.tar.xz", &xz);
    assert!(
        e.starts_with("control.tar.xz: ") && e.contains("limit"),
        "{e}"
    );
}

/// A zstd frame declaring a 2 GiB window: zstd's own limit (128 MiB)
/// refuses it.
#[test]
fn zstd_2_gib_window_is_refused() {
    if !under_memory_limit("zstd_2_gib_window_is_refused") {
        return;
    }
    // Magic, a descriptor with no sizes, window 2^(10 + 21), then a block.
    let frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 0x01, 0x00, 0x00];
    let e = control_member_refused("control.tar.zst", &frame);
    assert!(e.starts_with("control.tar.zst: "), "{e}");
}

/// A control file of 50,000 distinct fields (650 KB; a control member
/// may hold 16 MB): the duplicate check compared each field with every one
/// before it, so such a .deb held scanpkgs for minutes.
#[test]
fn regression_fuzz_many_fields_parse_in_linear_time() {
    let mut control = Vec::new();
    for i in 0..50_000 {
        control.extend_from_slice(format!("Field-{i}: v\n").as_bytes());
    }
    let t0 = Instant::now();
    let stanza = debpipe_repo::stanza::parse_stanza(&control).unwrap();
    assert_eq!(stanza.get("field-49999"), Some(&b"v"[..]));
    // About a second unoptimised on a loaded machine; minutes before.
    eprintln!("50,000 fields parsed in {:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    control.extend_from_slice(b"FIELD-5: again\n");
    let e = debpipe_repo::stanza::parse_stanza(&control).unwrap_err();
    assert!(e.contains("duplicate field FIELD-5"), "{e}");
}
