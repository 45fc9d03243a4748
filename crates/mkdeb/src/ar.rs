//! The ar container of a .deb, as dpkg writes it: the global magic, then
//! for each member a 60-byte header (name left-justified without `/`,
//! decimal mtime, uid and gid 0, mode `100644`, decimal size, then a
//! backquote and a newline), its data, and one newline when the size is
//! odd.

/// The global header.
pub const MAGIC: &[u8; 8] = b"!<arch>\n";

/// The largest member the 10-digit size field can describe.
pub const MAX_SIZE: u64 = 9_999_999_999;

/// The 60-byte header of a member of `size` bytes; `None` when `size` is
/// over [`MAX_SIZE`]. An mtime past the 12-digit field is clamped.
///
/// # Panics
/// When `name` is over 16 bytes (our member names are fixed and short).
pub fn member_header(name: &str, mtime: u64, size: u64) -> Option<[u8; 60]> {
    assert!(name.len() <= 16, "ar member name too long: {name}");
    if size > MAX_SIZE {
        return None;
    }
    let mtime = mtime.min(999_999_999_999);
    let s = format!(
        "{name:<16}{mtime:<12}{:<6}{:<6}{:<8}{size:<10}`\n",
        0, 0, "100644"
    );
    let mut h = [0u8; 60];
    h.copy_from_slice(s.as_bytes());
    Some(h)
}

/// The padding after a member of `size` bytes.
pub fn padding(size: u64) -> &'static [u8] {
    if size % 2 == 1 { b"\n" } else { b"" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_dpkg() {
        let h = member_header("debian-binary", 1_700_000_000, 4).unwrap();
        assert_eq!(
            &h[..],
            &b"debian-binary   1700000000  0     0     100644  4         `\n"[..]
        );
        assert_eq!(padding(4), b"");
        assert_eq!(padding(5), b"\n");
        assert!(member_header("data.tar", 0, MAX_SIZE + 1).is_none());
    }
}
