//! GNU tar headers, written byte for byte as GNU tar 1.34 writes them for
//! `dpkg-deb --root-owner-group --build` (`tar --format=gnu --owner=root:0
//! --group=root:0`): `ustar  \0` magic, 7-digit octal mode, uid/gid 0 with
//! names `root`, 11-digit octal size and mtime, empty device fields, names
//! and link targets over 100 bytes in `././@LongLink` records (`L`, `K`),
//! never PAX. An archive ends with two zero blocks and is padded to a
//! 10,240-byte record.

/// Size of a tar block.
pub const BLOCK: usize = 512;
/// GNU tar's default record size (blocking factor 20): archives are padded
/// to a multiple of it.
pub const RECORD: u64 = 10_240;

const NAME_LEN: usize = 100;

/// What a tar entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory (its name ends with `/`).
    Dir,
    /// A regular file of `size` bytes; its content follows the header.
    File {
        /// Content length.
        size: u64,
    },
    /// A symbolic link to `target`.
    Symlink {
        /// The link target, as stored by `readlink`.
        target: Vec<u8>,
    },
    /// A hard link to the earlier entry named `target` (`./path`).
    HardLink {
        /// The tar name of the first entry of this inode.
        target: Vec<u8>,
    },
}

/// Append the header block(s) of one entry to `out`: a `K` record when the
/// link target is over 100 bytes, an `L` record when the name is, then the
/// entry's own header. The file content and its padding are not included.
pub fn push_header(out: &mut Vec<u8>, name: &[u8], kind: &Kind, mode: u32, mtime: u64) {
    let (typeflag, size, link): (u8, u64, &[u8]) = match kind {
        Kind::Dir => (b'5', 0, b""),
        Kind::File { size } => (b'0', *size, b""),
        Kind::Symlink { target } => (b'2', 0, target),
        Kind::HardLink { target } => (b'1', 0, target),
    };
    if link.len() > NAME_LEN {
        push_long(out, b'K', link);
    }
    if name.len() > NAME_LEN {
        push_long(out, b'L', name);
    }
    out.extend_from_slice(&header(name, typeflag, mode, size, mtime, link));
}

/// Bytes of zero padding that follow `len` bytes of content.
pub fn padding(len: u64) -> usize {
    // Always < 512, so the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    let rem = (len % BLOCK as u64) as usize;
    if rem == 0 { 0 } else { BLOCK - rem }
}

/// Bytes that end an archive of `len` bytes: two zero blocks, then zeros up
/// to the next multiple of [`RECORD`].
pub fn trailer_len(len: u64) -> u64 {
    let with_end = len + 2 * BLOCK as u64;
    with_end.div_ceil(RECORD) * RECORD - len
}

/// The number of bytes `push_header` writes for this entry, plus the content
/// and its padding: used to size the archive before writing it.
pub fn entry_len(name_len: usize, kind: &Kind) -> u64 {
    let long = |n: usize| {
        if n > NAME_LEN {
            (BLOCK + (n + 1).div_ceil(BLOCK) * BLOCK) as u64
        } else {
            0
        }
    };
    let (size, link_len) = match kind {
        Kind::Dir => (0, 0),
        Kind::File { size } => (*size, 0),
        Kind::Symlink { target } | Kind::HardLink { target } => (0, target.len()),
    };
    long(link_len) + long(name_len) + BLOCK as u64 + size + padding(size) as u64
}

fn push_long(out: &mut Vec<u8>, typeflag: u8, data: &[u8]) {
    let size = data.len() as u64 + 1;
    out.extend_from_slice(&header(b"././@LongLink", typeflag, 0o644, size, 0, b""));
    out.extend_from_slice(data);
    out.push(0);
    out.resize(out.len() + padding(size), 0);
}

fn header(name: &[u8], typeflag: u8, mode: u32, size: u64, mtime: u64, link: &[u8]) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let n = name.len().min(NAME_LEN);
    h[..n].copy_from_slice(&name[..n]);
    octal(&mut h[100..108], u64::from(mode & 0o7777));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    numeric(&mut h[124..136], size);
    numeric(&mut h[136..148], mtime);
    h[148..156].fill(b' ');
    h[156] = typeflag;
    let l = link.len().min(NAME_LEN);
    h[157..157 + l].copy_from_slice(&link[..l]);
    h[257..265].copy_from_slice(b"ustar  \0");
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let chk = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(chk.as_bytes());
    h
}

/// `value` as zero-padded octal filling `field` but its last byte (NUL).
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

/// Octal when it fits, else GNU base-256 (first byte 0x80, big-endian).
fn numeric(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    if value < 1u64 << (3 * digits) {
        octal(field, value);
    } else {
        field.fill(0);
        field[0] = 0x80;
        let len = field.len();
        field[len - 8..].copy_from_slice(&value.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(h: &[u8], r: std::ops::Range<usize>) -> &str {
        std::str::from_utf8(&h[r]).unwrap()
    }

    #[test]
    fn directory_header_matches_gnu_tar() {
        let mut out = Vec::new();
        push_header(&mut out, b"./", &Kind::Dir, 0o755, 1_700_000_000);
        assert_eq!(out.len(), BLOCK);
        assert_eq!(&out[..3], b"./\0");
        assert_eq!(field(&out, 100..108), "0000755\0");
        assert_eq!(field(&out, 108..124), "0000000\u{0}0000000\0");
        assert_eq!(field(&out, 124..136), "00000000000\0");
        assert_eq!(field(&out, 136..148), "14524770400\0");
        // Checksum of this exact header, as GNU tar 1.34 wrote it.
        assert_eq!(field(&out, 148..156), "007714\0 ");
        assert_eq!(out[156], b'5');
        assert_eq!(field(&out, 257..269), "ustar  \0root");
        assert_eq!(field(&out, 297..301), "root");
        assert!(out[329..].iter().all(|&b| b == 0));
    }

    #[test]
    fn hundred_byte_name_fits_longer_gets_longlink() {
        let name = vec![b'a'; 100];
        let mut out = Vec::new();
        push_header(&mut out, &name, &Kind::File { size: 0 }, 0o644, 0);
        assert_eq!(out.len(), BLOCK);
        assert_eq!(&out[..100], &name[..]);

        let name = vec![b'b'; 207];
        let mut out = Vec::new();
        push_header(&mut out, &name, &Kind::File { size: 3 }, 0o644, 0);
        assert_eq!(out.len(), 3 * BLOCK);
        assert_eq!(&out[..14], b"././@LongLink\0");
        assert_eq!(out[156], b'L');
        assert_eq!(field(&out, 124..136), "00000000320\0");
        assert_eq!(&out[BLOCK..BLOCK + 207], &name[..]);
        assert_eq!(out[BLOCK + 207], 0);
        assert_eq!(&out[2 * BLOCK..2 * BLOCK + 100], &name[..100]);
        assert_eq!(out[2 * BLOCK + 156], b'0');
        assert_eq!(entry_len(207, &Kind::File { size: 3 }), 4 * BLOCK as u64);
    }

    #[test]
    fn long_link_target_comes_before_long_name() {
        let target = vec![b'c'; 101];
        let name = vec![b'd'; 101];
        let kind = Kind::Symlink {
            target: target.clone(),
        };
        let mut out = Vec::new();
        push_header(&mut out, &name, &kind, 0o777, 0);
        assert_eq!(out[156], b'K');
        assert_eq!(out[2 * BLOCK + 156], b'L');
        assert_eq!(out[4 * BLOCK + 156], b'2');
        assert_eq!(&out[4 * BLOCK + 157..4 * BLOCK + 257], &target[..100]);
        assert_eq!(out.len() as u64, entry_len(101, &kind));
    }

    #[test]
    fn huge_sizes_use_base_256() {
        let mut f = [0u8; 12];
        numeric(&mut f, 8 * 1024 * 1024 * 1024);
        assert_eq!(f[0], 0x80);
        assert_eq!(&f[4..], &(8u64 << 30).to_be_bytes());
        numeric(&mut f, 0o77_777_777_777);
        assert_eq!(&f, b"77777777777\0");
    }

    #[test]
    fn archive_is_padded_to_a_record() {
        assert_eq!(trailer_len(0), RECORD);
        assert_eq!(trailer_len(512), RECORD - 512);
        assert_eq!(trailer_len(RECORD - 1024), 1024);
        assert_eq!(trailer_len(RECORD - 512), RECORD + 512);
        assert_eq!(padding(0), 0);
        assert_eq!(padding(3), 509);
        assert_eq!(padding(512), 0);
    }
}
