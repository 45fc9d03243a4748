//! The corpus the mutator starts from: .debs built here with every control
//! member compression, the real .debs of the scanpkgs tests when they have
//! been downloaded, and control stanzas.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use debpipe_core::ar;

/// A control file like the ones dpkg-deb packs.
pub const CONTROL: &[u8] = b"Package: debpipe-fuzz\n\
Version: 1:1.0-1\n\
Architecture: all\n\
Maintainer: debpipe <debpipe@example.invalid>\n\
Depends: libc6 (>= 2.36), python3 | python3-minimal\n\
Description: fuzz seed\n A package built as a seed.\n .\n Second paragraph.\n";

/// An ar archive of `members`, as dpkg-deb writes it.
pub fn ar_archive(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = ar::MAGIC.to_vec();
    for (name, data) in members {
        let len = data.len() as u64;
        let header = ar::member_header(name, 0, len).unwrap_or([b' '; 60]);
        out.extend_from_slice(&header);
        out.extend_from_slice(data);
        out.extend_from_slice(ar::padding(len));
    }
    out
}

/// A control tar: `./`, `./control` and `./md5sums`.
pub fn control_tar(control: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_cksum();
    let mut entries = b.append_data(&mut dir, "./", &[][..]);
    for (path, data) in [
        ("./control", control),
        (
            "./md5sums",
            &b"d41d8cd98f00b204e9800998ecf8427e  usr/share/doc/x\n"[..],
        ),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        entries = entries.and_then(|()| b.append_data(&mut h, path, data));
    }
    entries.and_then(|()| b.into_inner()).unwrap_or_default()
}

/// `data` compressed as the member suffix `ext` says (`""`, `.gz`, `.xz`,
/// `.zst`).
pub fn compress(ext: &str, data: &[u8]) -> Vec<u8> {
    let out = match ext {
        ".gz" => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            gz.write_all(data).and_then(|()| gz.finish())
        }
        ".xz" => {
            let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
            xz.write_all(data).and_then(|()| xz.finish())
        }
        ".zst" => zstd::encode_all(data, 3),
        _ => Ok(data.to_vec()),
    };
    out.unwrap_or_default()
}

/// A .deb with a `control.tar{ext}` member holding `control`.
pub fn deb(ext: &str, control: &[u8]) -> Vec<u8> {
    let member = format!("control.tar{ext}");
    let data = compress(
        ext,
        &tar::Builder::new(Vec::new())
            .into_inner()
            .unwrap_or_default(),
    );
    ar_archive(&[
        ("debian-binary", b"2.0\n"),
        (&member, &compress(ext, &control_tar(control))),
        (&format!("data.tar{ext}"), &data),
    ])
}

/// Where the scanpkgs tests keep the real .debs they download.
pub fn real_debs_dir() -> PathBuf {
    let cache = std::env::var_os("DEBPIPE_CACHE").map_or_else(
        || Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".cache/debpipe"),
        PathBuf::from,
    );
    cache.join("test-debs")
}

/// The .deb seeds: ours (every compression, and one with an `_` member),
/// then the real ones in `real_debs_dir()` (sorted, up to 1 MB each).
pub fn debs() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = ["", ".gz", ".xz", ".zst"]
        .iter()
        .map(|ext| deb(ext, CONTROL))
        .collect();
    let tar = control_tar(b"Package: q\nVersion: 1\n");
    seeds.push(ar_archive(&[
        ("debian-binary", b"2.0\n"),
        ("_extra", b"odd"),
        ("control.tar", &tar),
        ("data.tar", b""),
    ]));
    let mut real: Vec<PathBuf> = std::fs::read_dir(real_debs_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    real.sort();
    for p in real {
        if let Ok(bytes) = std::fs::read(&p)
            && bytes.len() <= 1 << 20
        {
            seeds.push(bytes);
        }
    }
    seeds
}

/// The deb822 seeds: the control files of [`debs`], and stanzas with
/// comments, continuation lines and several paragraphs.
pub fn stanzas() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = debs()
        .iter()
        .filter_map(|d| debpipe_repo::deb::parse_deb(d).map(|d| d.control).ok())
        .collect();
    seeds.push(b"# comment\n\nPackage: a\nDescription: x\n y\n .\n z\n\nPackage: b\n".to_vec());
    seeds.push(b"Origin: debpipe\nSHA256:\n 0123 45 Packages\n 4567 89 Packages.gz\n".to_vec());
    seeds.push(
        b"Origin: debpipe\nSuite: bookworm\nCodename: bookworm\nDate: Fri, 04 Dec 2026 18:00:00 UTC\n\
Architectures: amd64\nComponents: main\nAcquire-By-Hash: yes\nMD5Sum:\n \
d41d8cd98f00b204e9800998ecf8427e 0 main/binary-amd64/Packages\nSHA512:\n \
cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e \
0 main/binary-amd64/Packages\n"
            .to_vec(),
    );
    seeds
}

/// The seeds for the target called `name`.
pub fn for_target(name: &str) -> Vec<Vec<u8>> {
    if matches!(name, "deb822" | "packages" | "release") {
        stanzas()
    } else {
        debs()
    }
}
