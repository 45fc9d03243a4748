//! Lower-case hex, as Debian's index and checksum files write digests
//! (`Packages`, `Release`, `md5sums`).

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Append the lower-case hex of `bytes` to `out`.
pub fn push(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
}

/// The lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::new();
    push(&mut s, bytes);
    s
}

/// Whether `s` is made of lower-case hex digits only (as [`encode`]
/// writes them), e.g. a cache entry's name.
pub fn is_lower(s: &[u8]) -> bool {
    s.iter().all(|b| DIGITS.contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_nibble_lower_case() {
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[0x00, 0x0f, 0xa0, 0xff, 0x12]), "000fa0ff12");
        let mut s = String::from("x");
        push(&mut s, &[0xde, 0xad]);
        assert_eq!(s, "xdead");
    }

    #[test]
    fn lower_hex_is_only_lower_case_digits() {
        assert!(is_lower(encode(&[0x01, 0xab, 0xff]).as_bytes()));
        assert!(is_lower(b""));
        assert!(!is_lower(b"00AB"));
        assert!(!is_lower(b"0g"));
        assert!(!is_lower(b".tmp-1"));
    }
}
