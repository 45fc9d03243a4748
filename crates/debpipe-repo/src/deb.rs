//! Read one .deb: every byte hashed in a single pass (MD5, SHA-1 and SHA-256
//! together), the ar structure checked end to end, and only the control
//! member decompressed to get the control file.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;

use debpipe_core::ar::{self, Member};
use md5::Digest as _;

/// What a .deb yields for its Packages stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebInfo {
    /// The control file, as stored in the package.
    pub control: Vec<u8>,
    /// File size in bytes.
    pub size: u64,
    /// MD5 of the whole file.
    pub md5: [u8; 16],
    /// SHA-1 of the whole file.
    pub sha1: [u8; 20],
    /// SHA-256 of the whole file.
    pub sha256: [u8; 32],
}

/// How much of the file's start is kept to read the ar headers and the
/// control member from without a second read.
const HEAD: usize = 256 * 1024;
/// Read size for the rest of the file.
const CHUNK: usize = 1024 * 1024;
/// Largest control file accepted (dpkg's are a few KB).
const MAX_CONTROL: u64 = 16 * 1024 * 1024;

/// Buffers reused across files by one worker.
#[derive(Debug, Default)]
pub struct Buffers {
    head: Vec<u8>,
    chunk: Vec<u8>,
}

/// Read `file` (of `expected_len` bytes by its stat) and return its
/// control file and hashes, or the reason it is not a usable .deb.
pub fn read_deb(file: &mut File, expected_len: u64, bufs: &mut Buffers) -> Result<DebInfo, String> {
    let mut md5 = md5::Md5::new();
    let mut sha1 = sha1::Sha1::new();
    let mut sha256 = sha2::Sha256::new();

    bufs.head.resize(HEAD, 0);
    let mut head_len = 0;
    while head_len < HEAD {
        match file.read(&mut bufs.head[head_len..]) {
            Ok(0) => break,
            Ok(n) => head_len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read error: {e}")),
        }
    }
    let head = &bufs.head[..head_len];
    md5.update(head);
    sha1.update(head);
    sha256.update(head);
    let mut size = head_len as u64;
    if head_len == HEAD {
        bufs.chunk.resize(CHUNK, 0);
        loop {
            let n = match file.read(&mut bufs.chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read error: {e}")),
            };
            let c = &bufs.chunk[..n];
            md5.update(c);
            sha1.update(c);
            sha256.update(c);
            size += n as u64;
        }
    }
    if size != expected_len {
        return Err(format!(
            "changed while being read ({expected_len} bytes by stat, {size} read)"
        ));
    }

    let read_at = |offset: u64, len: u64| -> Result<Vec<u8>, String> {
        let end = offset + len;
        if end <= head_len as u64 {
            // Both are below HEAD, so they fit in usize.
            return Ok(head
                [usize::try_from(offset).unwrap_or(0)..usize::try_from(end).unwrap_or(0)]
                .to_vec());
        }
        let mut v = vec![0; usize::try_from(len).map_err(|_| "member too large".to_string())?];
        file.read_exact_at(&mut v, offset)
            .map_err(|e| format!("read error: {e}"))?;
        Ok(v)
    };

    Ok(DebInfo {
        control: control_of(size, &read_at)?,
        size,
        md5: md5.finalize().into(),
        sha1: sha1.finalize().into(),
        sha256: sha256.finalize().into(),
    })
}

/// [`read_deb`] on a .deb in memory: its control file and hashes, or the
/// reason it is not a usable .deb. The entry point for fuzzing the .deb
/// reader (ar layout, control member in every compression).
pub fn parse_deb(bytes: &[u8]) -> Result<DebInfo, String> {
    let read_at = |offset: u64, len: u64| -> Result<Vec<u8>, String> {
        let range = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(offset.saturating_add(len)).ok())
            .and_then(|(a, b)| bytes.get(a..b))
            .ok_or("truncated")?;
        Ok(range.to_vec())
    };
    Ok(DebInfo {
        control: control_of(bytes.len() as u64, &read_at)?,
        size: bytes.len() as u64,
        md5: md5::Md5::digest(bytes).into(),
        sha1: sha1::Sha1::digest(bytes).into(),
        sha256: sha2::Sha256::digest(bytes).into(),
    })
}

/// The control file of the .deb of `size` bytes that `read_at` reads.
fn control_of(
    size: u64,
    read_at: &dyn Fn(u64, u64) -> Result<Vec<u8>, String>,
) -> Result<Vec<u8>, String> {
    let members = ar::members(size, read_at)?;
    let control_member = check_layout(&members, read_at)?;
    if control_member.size > MAX_CONTROL {
        return Err(format!(
            "{} is {} bytes, too large for a control member",
            control_member.name, control_member.size
        ));
    }
    let raw = read_at(control_member.offset, control_member.size)?;
    control_from_tar(&control_member.name, &raw)
}

/// Check the member sequence of a binary package and return the control
/// member: `debian-binary` (format 2.x), optional `_` members, the control
/// tarball, then a data tarball.
fn check_layout<'a>(
    members: &'a [Member],
    read_at: &dyn Fn(u64, u64) -> Result<Vec<u8>, String>,
) -> Result<&'a Member, String> {
    let mut it = members.iter();
    let first = it.next().ok_or("no members in the ar archive")?;
    if first.name != "debian-binary" {
        return Err(format!(
            "not a Debian binary package: first member is {:?}, not debian-binary",
            first.name
        ));
    }
    let ver = read_at(first.offset, first.size.min(16))?;
    if !ver.starts_with(b"2.") {
        return Err(format!(
            "unsupported package format version {:?}",
            String::from_utf8_lossy(&ver).trim_end()
        ));
    }
    let control = it
        .by_ref()
        .find(|m| !m.name.starts_with('_'))
        .ok_or("no control member")?;
    if !matches!(
        control.name.as_str(),
        "control.tar" | "control.tar.gz" | "control.tar.xz" | "control.tar.zst"
    ) {
        return Err(format!(
            "expected a control.tar member, found {:?}",
            control.name
        ));
    }
    let data = it
        .find(|m| !m.name.starts_with('_'))
        .ok_or("no data member (truncated?)")?;
    if !data.name.starts_with("data.tar") {
        return Err(format!("expected a data.tar member, found {:?}", data.name));
    }
    Ok(control)
}

/// Largest decompressed control tarball read (dpkg's are a few KB; md5sums
/// of 100,000 files are 8 MB). A 16 MB gzip member can hold 16 GB of
/// zeros, which the tar reader would skip through for minutes, or hold in
/// memory as one GNU long name.
const MAX_CONTROL_TAR: u64 = 64 * 1024 * 1024;
/// liblzma's memory limit for a control.tar.xz: `xz -9` needs 65 MiB to
/// decode; a header may declare a 4 GiB dictionary.
const XZ_MEMLIMIT: u64 = 128 * 1024 * 1024;

/// A reader that fails, instead of ending, past `left` bytes.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // One byte past the cap tells a stream at the cap from a longer one.
        let max = usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX);
        let len = buf.len().min(max);
        let n = self.inner.read(&mut buf[..len])?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::other(format!(
                "decompresses to over {} MiB",
                MAX_CONTROL_TAR >> 20
            ))
        })?;
        Ok(n)
    }
}

/// Decompress the control tarball `raw` (member `name`) and return its
/// `./control` file.
fn control_from_tar(name: &str, raw: &[u8]) -> Result<Vec<u8>, String> {
    let reader: Box<dyn Read + '_> = match name {
        "control.tar.gz" => Box::new(flate2::read::GzDecoder::new(raw)),
        "control.tar.xz" => {
            let stream = xz2::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, 0)
                .map_err(|e| format!("{name}: {e}"))?;
            Box::new(xz2::read::XzDecoder::new_stream(raw, stream))
        }
        "control.tar.zst" => Box::new(
            zstd::stream::read::Decoder::with_buffer(raw).map_err(|e| format!("{name}: {e}"))?,
        ),
        _ => Box::new(raw),
    };
    let reader = Capped {
        inner: reader,
        left: MAX_CONTROL_TAR,
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| format!("{name}: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("{name}: {e}"))?;
        let path = entry.path_bytes();
        let path = path.strip_prefix(b"./").unwrap_or(&path);
        if path == b"control" && entry.header().entry_type().is_file() {
            let mut out =
                Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 20));
            entry
                .by_ref()
                .take(MAX_CONTROL)
                .read_to_end(&mut out)
                .map_err(|e| format!("{name}: control: {e}"))?;
            return Ok(out);
        }
    }
    Err(format!("{name} has no control file"))
}

/// Lower-case hex of `bytes` (the one encoder, in debpipe-core).
pub use debpipe_core::hex::encode as hex;

#[cfg(test)]
mod tests {
    use super::*;

    fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = b"!<arch>\n".to_vec();
        for (name, data) in members {
            out.extend_from_slice(
                format!(
                    "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                    0,
                    0,
                    0,
                    100_644,
                    data.len()
                )
                .as_bytes(),
            );
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    fn control_tar(control: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(control.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "./control", control).unwrap();
        b.into_inner().unwrap()
    }

    fn read(bytes: &[u8]) -> Result<DebInfo, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.deb");
        std::fs::write(&p, bytes).unwrap();
        let mut f = File::open(&p).unwrap();
        read_deb(&mut f, bytes.len() as u64, &mut Buffers::default())
    }

    fn deb(control: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &control_tar(control)).unwrap();
        let gz = gz.finish().unwrap();
        ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", &gz),
            ("data.tar", b"x"),
        ])
    }

    #[test]
    fn reads_control_and_hashes() {
        let bytes = deb(b"Package: p\n");
        let info = read(&bytes).unwrap();
        assert_eq!(info.control, b"Package: p\n");
        assert_eq!(info.size, bytes.len() as u64);
        assert_eq!(hex(&info.sha256), hex(&sha2::Sha256::digest(&bytes)));
        assert_eq!(hex(&info.md5), hex(&md5::Md5::digest(&bytes)));
    }

    #[test]
    fn uncompressed_control_and_underscore_members() {
        let t = control_tar(b"Package: q\n");
        let bytes = ar(&[
            ("debian-binary", b"2.0\n"),
            ("_extra", b"z"),
            ("control.tar", &t),
            ("data.tar.xz", b""),
        ]);
        assert_eq!(read(&bytes).unwrap().control, b"Package: q\n");
        assert_eq!(parse_deb(&bytes), read(&bytes));
    }

    #[test]
    fn bad_files_say_why() {
        let good = deb(b"Package: p\n");
        assert_eq!(read(b"").unwrap_err(), "empty file");
        assert!(read(b"hello world").unwrap_err().contains("no ar archive"));
        assert!(
            read(&good[..good.len() - 2])
                .unwrap_err()
                .starts_with("truncated: member data.tar")
        );
        assert!(read(&good[..100]).unwrap_err().starts_with("truncated"));
        assert!(read(&good[..5]).unwrap_err().starts_with("truncated"));
        let no_data = ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar", &control_tar(b"P: 1\n")),
        ]);
        assert!(read(&no_data).unwrap_err().contains("no data member"));
        let wrong = ar(&[("data.tar", b"x")]);
        assert!(read(&wrong).unwrap_err().contains("first member"));
        let v3 = ar(&[
            ("debian-binary", b"3.0\n"),
            ("control.tar", b""),
            ("data.tar", b""),
        ]);
        assert!(read(&v3).unwrap_err().contains("format version"));
        let junk = ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", b"junk"),
            ("data.tar", b""),
        ]);
        assert!(read(&junk).unwrap_err().starts_with("control.tar.gz: "));
    }
}
