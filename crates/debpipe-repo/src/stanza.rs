//! deb822 stanzas exactly as dpkg-scanpackages reads and writes them: the
//! control file of a .deb, and each stanza of a Packages index.
//!
//! `debpipe_core::deb822` keeps field-name case and field order and rejects
//! a bare `Name` line, while dpkg's `Dpkg::Control::HashCore` (which
//! dpkg-scanpackages uses for its output) does not: it renames every field
//! to its canonical capitalisation (`multi-arch` -> `Multi-Arch`, `sha1` ->
//! `SHA1`, `XB-Foo` -> `Xb-Foo`), writes the fields of a Packages stanza in a
//! fixed order with every other field after them sorted by name, drops
//! empty fields and trailing blank continuation lines, writes a line made of
//! dots with one more dot, and skips `#` comment lines. Values are bytes, as
//! Perl reads them: a control file need not be UTF-8.

/// The fields of a Packages stanza in the order dpkg writes them
/// (`field_ordered_list(CTRL_INDEX_PKG)` in dpkg 1.21): debpipe-core's one
/// table of dpkg's field order. Other fields follow, sorted by name.
pub const PACKAGES_ORDER: &[&str] = debpipe_core::deb822::FIELD_ORDER;

/// Known fields whose canonical name is not the generic capitalisation.
const SPECIAL_NAMES: &[&str] = &[
    "MD5sum",
    "SHA1",
    "SHA256",
    "NotAutomatic",
    "ButAutomaticUpgrades",
    "No-Support-for-Architecture-all",
];

/// Whitespace as Perl's `\s` sees it in a byte string.
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `s` without trailing whitespace.
pub fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., last] = s {
        if is_space(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// `s` without leading whitespace.
pub fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_space(*first) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// dpkg's canonical spelling of a field name: the known exceptions, else
/// every `-`-separated word lower-cased with its first letter upper-cased
/// (trailing empty words dropped, as Perl's `split` does).
pub fn canonical_name(name: &[u8]) -> Vec<u8> {
    let lower = name.to_ascii_lowercase();
    if let Some(special) = SPECIAL_NAMES
        .iter()
        .find(|s| s.as_bytes().eq_ignore_ascii_case(&lower))
    {
        return special.as_bytes().to_vec();
    }
    let mut parts: Vec<&[u8]> = lower.split(|&b| b == b'-').collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    let mut out = Vec::with_capacity(lower.len());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'-');
        }
        if let [first, rest @ ..] = part {
            out.push(first.to_ascii_uppercase());
            out.extend_from_slice(rest);
        }
    }
    out
}

/// Parse the first stanza of `bytes` as dpkg does ([`Stanza::parse`]): the
/// entry point for fuzzing.
pub fn parse_stanza(bytes: &[u8]) -> Result<Stanza, String> {
    Stanza::parse(bytes)
}

/// One stanza: canonical field names and raw values. A value holds its
/// logical lines joined by `\n`, continuation lines without their leading
/// space, a ` .` line stored as an empty line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stanza {
    fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Stanza {
    /// The value of `name` (any case).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }

    /// The value of `name` as text (lossy), or `""`.
    pub fn get_str(&self, name: &str) -> String {
        String::from_utf8_lossy(self.get(name).unwrap_or_default()).into_owned()
    }

    /// Set `name` (any case; stored canonically) to `value`.
    pub fn set(&mut self, name: &[u8], value: impl Into<Vec<u8>>) {
        let value = value.into();
        if let Some(slot) = self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            slot.1 = value;
        } else {
            self.fields.push((canonical_name(name), value));
        }
    }

    /// Parse the first stanza of a control file the way dpkg does.
    pub fn parse(text: &[u8]) -> Result<Self, String> {
        let mut st = Stanza::default();
        // Lower-cased names seen: a lookup per field, not a scan of all the
        // fields before it (a 16 MB control file holds a million).
        let mut seen = std::collections::HashSet::new();
        let mut at_border = true;
        let mut lines = text.split(|&b| b == b'\n').peekable();
        let mut lineno = 0;
        while let Some(raw) = lines.next() {
            lineno += 1;
            if raw.is_empty() && lines.peek().is_none() {
                break; // the text after the final newline
            }
            let line = trim_end(raw);
            if line.is_empty() && at_border {
                continue;
            }
            if line.first() == Some(&b'#') {
                continue;
            }
            at_border = false;
            if line.is_empty() {
                break; // end of the first stanza
            }
            let (name, value) = match line.iter().position(|&b| b == b':') {
                Some(i) => (trim_end(&line[..i]), trim_start(&line[i + 1..])),
                None => (line, &b""[..]),
            };
            if !name.is_empty() && !name.iter().any(|&b| is_space(b)) {
                if name[0] == b'-' {
                    return Err(format!(
                        "control line {lineno}: field cannot start with a hyphen"
                    ));
                }
                if !seen.insert(name.to_ascii_lowercase()) {
                    return Err(format!(
                        "control line {lineno}: duplicate field {}",
                        String::from_utf8_lossy(name)
                    ));
                }
                st.fields.push((canonical_name(name), value.to_vec()));
            } else if is_space(line[0]) {
                let Some((_, v)) = st.fields.last_mut() else {
                    return Err(format!(
                        "control line {lineno}: continued value line not in field"
                    ));
                };
                let mut cont = &line[1..];
                if cont.iter().all(|&b| b == b'.') {
                    cont = &cont[1..];
                }
                v.push(b'\n');
                v.extend_from_slice(cont);
            } else {
                return Err(format!(
                    "control line {lineno}: line with unknown format (not field-colon-value)"
                ));
            }
        }
        if st.fields.is_empty() {
            return Err("control file has no fields".into());
        }
        Ok(st)
    }

    /// Append the stanza as dpkg-scanpackages writes it (without the blank
    /// line that ends it).
    pub fn render(&self, out: &mut Vec<u8>) {
        let mut order: Vec<(usize, &[u8], &[u8])> = self
            .fields
            .iter()
            .map(|(k, v)| {
                let rank = PACKAGES_ORDER
                    .iter()
                    .position(|o| o.as_bytes() == k.as_slice())
                    .unwrap_or(usize::MAX);
                (rank, k.as_slice(), v.as_slice())
            })
            .collect();
        order.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        for (_, name, value) in order {
            if value.iter().all(|&b| is_space(b)) {
                continue;
            }
            let mut parts: Vec<&[u8]> = value.split(|&b| b == b'\n').collect();
            while parts.last().is_some_and(|p| p.is_empty()) {
                parts.pop();
            }
            out.extend_from_slice(name);
            out.push(b':');
            let mut parts = parts.into_iter();
            if let Some(first) = parts.next().filter(|f| !f.is_empty()) {
                out.push(b' ');
                out.extend_from_slice(first);
            }
            out.push(b'\n');
            for line in parts {
                let line = trim_end(line);
                if line.iter().all(|&b| b == b'.') {
                    out.extend_from_slice(b" .");
                } else {
                    out.push(b' ');
                }
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(st: &Stanza) -> String {
        let mut out = Vec::new();
        st.render(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn canonical_names() {
        assert_eq!(canonical_name(b"multi-arch"), b"Multi-Arch");
        assert_eq!(canonical_name(b"XB-Python-Version"), b"Xb-Python-Version");
        assert_eq!(canonical_name(b"md5SUM"), b"MD5sum");
        assert_eq!(canonical_name(b"sha256"), b"SHA256");
        assert_eq!(canonical_name(b"Foo-"), b"Foo");
        assert_eq!(canonical_name(b"a--b"), b"A--B");
    }

    #[test]
    fn order_known_then_sorted_unknown() {
        let st = Stanza::parse(
            b"Description: d\nRuby-Versions: all\nVersion: 1\nPackage: p\nAardvark: x\nmulti-arch: same\n",
        )
        .unwrap();
        assert_eq!(
            render(&st),
            "Package: p\nVersion: 1\nMulti-Arch: same\nDescription: d\nAardvark: x\nRuby-Versions: all\n"
        );
    }

    #[test]
    fn continuation_lines_dots_comments_and_empties() {
        let text = b"# comment\n\nPackage: p\nDepends:\nEmpty:   \nDescription: short  \n long\n .\n ..\n\tTabbed\n#c\n .\n";
        let st = Stanza::parse(text).unwrap();
        assert_eq!(
            st.get("description"),
            Some(&b"short\nlong\n\n.\nTabbed\n"[..])
        );
        assert_eq!(
            render(&st),
            "Package: p\nDescription: short\n long\n .\n ..\n Tabbed\n"
        );
    }

    #[test]
    fn stops_at_first_stanza_and_reads_bare_names() {
        let st = Stanza::parse(b"Package: p\nBare\n\nPackage: q\n").unwrap();
        assert_eq!(st.get_str("Package"), "p");
        assert_eq!(st.get("bare"), Some(&b""[..]));
        assert_eq!(render(&st), "Package: p\n");
    }

    #[test]
    fn errors_name_the_line() {
        assert!(
            Stanza::parse(b"Package: p\npackage: q\n")
                .unwrap_err()
                .contains("line 2: duplicate")
        );
        assert!(
            Stanza::parse(b" cont\n")
                .unwrap_err()
                .contains("not in field")
        );
        assert!(Stanza::parse(b"-Foo: x\n").unwrap_err().contains("hyphen"));
        assert!(
            Stanza::parse(b"a b: c\n")
                .unwrap_err()
                .contains("unknown format")
        );
        assert!(Stanza::parse(b"\n\n").is_err());
    }

    #[test]
    fn set_replaces_in_place_and_capitalises() {
        let mut st = Stanza::parse(b"Package: p\n").unwrap();
        st.set(b"sha1", "ab");
        st.set(b"PACKAGE", "q");
        assert_eq!(render(&st), "Package: q\nSHA1: ab\n");
    }
}
