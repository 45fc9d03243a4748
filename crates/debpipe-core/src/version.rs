//! Debian version comparison, as `dpkg --compare-versions` and `Dpkg::Version`.

use std::cmp::Ordering;

/// Compare two Debian versions `[epoch:]upstream[-revision]`.
///
/// Parsed leniently, as `Dpkg::Version` does for comparison: the epoch is the
/// text before the first `:` (read as a number, 0 when not one), the
/// revision the text after the last `-` (`0` when there is none).
pub fn compare(a: &[u8], b: &[u8]) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

fn split(v: &[u8]) -> (u64, &[u8], &[u8]) {
    let (epoch, rest) = match v.iter().position(|&c| c == b':') {
        Some(i) if i + 1 < v.len() => (perl_number(&v[..i]), &v[i + 1..]),
        _ => (0, v),
    };
    match rest.iter().rposition(|&c| c == b'-') {
        Some(i) => (epoch, &rest[..i], &rest[i + 1..]),
        None => (epoch, rest, b"0"),
    }
}

/// The leading decimal number of `s` (Perl's numeric value of a string).
fn perl_number(s: &[u8]) -> u64 {
    // Perl skips leading white space (space, tab, newline, CR, FF, VT).
    let start = s
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\x0b'))
        .unwrap_or(s.len());
    let s = &s[start..];
    s.iter()
        .take_while(|c| c.is_ascii_digit())
        .fold(0u64, |n, &c| {
            n.saturating_mul(10).saturating_add(u64::from(c - b'0'))
        })
}

/// Sort weight of a character in the non-digit parts: `~` before the end of
/// the string, the end before letters, letters before everything else.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's comparison of an upstream version or revision: alternating runs
/// of non-digits (`~` first, then the end, letters, others) and digits
/// (compared as numbers).
pub fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff = Ordering::Equal;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::{Equal, Greater, Less};

    fn cmp(a: &str, b: &str) -> Ordering {
        compare(a.as_bytes(), b.as_bytes())
    }

    #[test]
    fn dpkg_reference_cases() {
        // Results checked with `dpkg --compare-versions`.
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.10", "1.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0", "1.0a", Less),
            ("1.0a", "1.0+", Less),
            ("1:1.0", "2.0", Greater),
            ("0:1.0", "1.0", Equal),
            ("1.0-1", "1.0-2", Less),
            ("1.0-10", "1.0-9", Greater),
            ("1.0", "1.0-0", Equal),
            ("1.001", "1.1", Equal),
            ("2.30-1+deb12u1", "2.30-1", Greater),
            ("1.2-3-4", "1.2-3-5", Less),
            ("8:6.9", "4:12", Greater),
            ("a", "", Greater),
            ("", "~", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    /// The same table and more tricky pairs, asked of the real dpkg: epochs,
    /// tildes, letters against digits, empty and missing revisions.
    #[test]
    fn agrees_with_dpkg_compare_versions() {
        let pairs = [
            ("1.0", "1.0"),
            ("1:0.1", "0.9"),
            ("1:1.0", "1.0"),
            ("0:1.0-1", "1.0-1"),
            ("1.0~rc1", "1.0"),
            ("1.0~rc1", "1.0~rc2"),
            ("1.0~", "1.0~~"),
            ("1.0+b1", "1.0"),
            ("1.0a", "1.0b"),
            ("1.0a", "1.0.1"),
            ("1.0a", "1.01"),
            ("1.2.3", "1.2.10"),
            ("1.0-1", "1.0-1.1"),
            ("1.0-1~bpo1", "1.0-1"),
            ("1.0", "1.0-0"),
            ("1.0", "1.0-1"),
            ("2.30-1+deb12u1", "2.30-1+deb12u2"),
            ("1.0.0+deb12", "1.0.0+deb13"),
            ("1.0.0+deb11", "1.0.0"),
            ("0.0", "0"),
            ("10", "9a"),
            ("1.0+git20260101", "1.0+git20251231"),
        ];
        for (a, b) in pairs {
            let said: Vec<Ordering> = [("lt", Less), ("eq", Equal), ("gt", Greater)]
                .into_iter()
                .filter(|(op, _)| {
                    std::process::Command::new("dpkg")
                        .args(["--compare-versions", a, op, b])
                        .status()
                        .expect("run dpkg --compare-versions")
                        .success()
                })
                .map(|(_, ord)| ord)
                .collect();
            assert_eq!(said.len(), 1, "{a} vs {b}: dpkg answered {said:?}");
            let dpkg = said[0];
            assert_eq!(cmp(a, b), dpkg, "{a} vs {b}: dpkg says {dpkg:?}");
        }
    }
}
