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
}
