//! The ar container of a .deb, written (mkdeb) and read (scanpkgs) here
//! only: the global magic, then for each member a 60-byte header (name
//! left-justified, `/`-terminated in GNU ar, decimal mtime, uid and gid,
//! mode, decimal size, then a backquote and a newline), its data, and one
//! newline when the size is odd. dpkg writes names without `/`, uid and gid
//! 0 and mode `100644`, as [`member_header`] does.

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

/// One ar member: name and where its data lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The name, without GNU ar's trailing `/`.
    pub name: String,
    /// Where its data starts in the file.
    pub offset: u64,
    /// Its size in bytes.
    pub size: u64,
}

/// Walk the ar headers of a file of `len` bytes, read through `read_at(offset,
/// len)`; every member must lie wholly inside the file.
///
/// # Errors
/// Why the file is not an ar archive, or where it is truncated or corrupt.
pub fn members(
    len: u64,
    read_at: &dyn Fn(u64, u64) -> Result<Vec<u8>, String>,
) -> Result<Vec<Member>, String> {
    if len == 0 {
        return Err("empty file".into());
    }
    let magic = read_at(0, len.min(8))?;
    if magic != MAGIC {
        if MAGIC.starts_with(&magic) {
            return Err(format!("truncated: {len} bytes, inside the ar header"));
        }
        return Err("not a Debian package (no ar archive signature)".into());
    }
    let mut members = Vec::new();
    let mut offset = 8u64;
    while offset < len {
        if offset + 60 > len {
            return Err(format!(
                "truncated: {len} bytes, inside the ar member header at offset {offset}"
            ));
        }
        let h = read_at(offset, 60)?;
        if &h[58..60] != b"`\n" {
            return Err(format!("corrupt ar member header at offset {offset}"));
        }
        let name = String::from_utf8_lossy(&h[..16])
            .trim_end_matches(' ')
            .trim_end_matches('/')
            .to_string();
        let size_field = String::from_utf8_lossy(&h[48..58]).trim_end().to_string();
        let size: u64 = size_field.parse().map_err(|_| {
            format!("corrupt ar member header at offset {offset}: size {size_field:?}")
        })?;
        let data = offset + 60;
        if data + size > len {
            return Err(format!(
                "truncated: member {name} needs {} bytes, the file has {len}",
                data + size
            ));
        }
        members.push(Member {
            name,
            offset: data,
            size,
        });
        offset = data + size + (size & 1);
    }
    Ok(members)
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

    #[test]
    fn members_read_back_what_member_header_writes() {
        let mut f = MAGIC.to_vec();
        for (name, data) in [("debian-binary", &b"2.0\n"[..]), ("data.tar", b"odd")] {
            let len = data.len() as u64;
            f.extend_from_slice(&member_header(name, 0, len).unwrap());
            f.extend_from_slice(data);
            f.extend_from_slice(padding(len));
        }
        let at = |o: u64| usize::try_from(o).unwrap();
        let read_at = |o: u64, n: u64| Ok(f[at(o)..at(o + n)].to_vec());
        let m = members(f.len() as u64, &read_at).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!((m[1].name.as_str(), m[1].size), ("data.tar", 3));
        let short = |n: usize| members(n as u64, &read_at);
        assert!(short(f.len() - 2).unwrap_err().contains("truncated"));
        assert!(short(4).unwrap_err().contains("inside the ar header"));
    }
}
