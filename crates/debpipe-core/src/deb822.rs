//! deb822 paragraphs: the format of `DEBIAN/control`, `Packages` and `Release`.
//!
//! A [`Paragraph`] keeps its fields in the order they were added or parsed.
//! A value is stored as its logical lines joined by `\n`: the first line is
//! the text after `Name:` (leading whitespace trimmed), each continuation line
//! is stored without the one leading space that marks it as a continuation.
//! Written back, every continuation line gets that space again, an empty one
//! is written ` .` (deb822 has no empty lines inside a paragraph), and
//! trailing whitespace is dropped. So a parsed paragraph is written back byte
//! for byte, and [`fold_description`] builds a `Description` value.

use std::fmt::{self, Write as _};

/// The fields of a binary package in the order dpkg writes them: a
/// Packages stanza (`field_ordered_list(CTRL_INDEX_PKG)` in dpkg 1.21), and
/// the same order for a .deb's control file, which has no `Filename`,
/// `Size` or checksums (`CTRL_PKG_DEB`). debpipe-repo writes Packages in
/// this order; mkdeb puts a computed `Installed-Size` by it.
pub const FIELD_ORDER: &[&str] = &[
    "Package",
    "Package-Type",
    "Source",
    "Version",
    "Kernel-Version",
    "Built-For-Profiles",
    "Auto-Built-Package",
    "Architecture",
    "Subarchitecture",
    "Installer-Menu-Item",
    "Build-Essential",
    "Essential",
    "Protected",
    "Origin",
    "Bugs",
    "Maintainer",
    "Installed-Size",
    "Pre-Depends",
    "Depends",
    "Recommends",
    "Suggests",
    "Enhances",
    "Conflicts",
    "Breaks",
    "Replaces",
    "Provides",
    "Built-Using",
    "Static-Built-Using",
    "Filename",
    "Size",
    "MD5sum",
    "SHA1",
    "SHA256",
    "Section",
    "Priority",
    "Multi-Arch",
    "Homepage",
    "Description",
    "Tag",
    "Task",
];

/// One paragraph (stanza) of `Name: value` fields, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

/// Why a deb822 text does not parse: the line number (1-based) and reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl Paragraph {
    /// An empty paragraph.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `name` (case-insensitive, as deb822 field names are).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Set `name` to `value`: replace it in place if present, else append.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        if let Some(slot) = self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            slot.1 = value;
        } else {
            self.fields.push((name.to_string(), value));
        }
    }

    /// Remove `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self
            .fields
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(name))?;
        Some(self.fields.remove(i).1)
    }

    /// The fields in order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl FromIterator<(String, String)> for Paragraph {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut p = Paragraph::new();
        for (k, v) in iter {
            p.set(&k, v);
        }
        p
    }
}

impl fmt::Display for Paragraph {
    /// Write the paragraph, each field on its line(s), without the blank
    /// line that separates paragraphs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in &self.fields {
            let mut lines = value.split('\n');
            let first = lines.next().unwrap_or("").trim_end();
            if first.is_empty() {
                writeln!(f, "{name}:")?;
            } else {
                writeln!(f, "{name}: {}", first.trim_start())?;
            }
            for line in lines {
                let line = line.trim_end();
                if line.is_empty() {
                    f.write_str(" .\n")?;
                } else {
                    f.write_char(' ')?;
                    f.write_str(line)?;
                    f.write_char('\n')?;
                }
            }
        }
        Ok(())
    }
}

/// Write paragraphs separated by blank lines (as `Packages` files are: every
/// paragraph followed by one blank line).
pub fn write_all(paragraphs: &[Paragraph]) -> String {
    let mut out = String::new();
    for p in paragraphs {
        let _ = write!(out, "{p}");
        out.push('\n');
    }
    out
}

/// Parse deb822 text into paragraphs. Blank (or whitespace-only) lines
/// separate paragraphs; a field name may not repeat within one.
pub fn parse(text: &str) -> Result<Vec<Paragraph>, ParseError> {
    let mut out = Vec::new();
    let mut cur = Paragraph::new();
    for (i, raw) in text.split('\n').enumerate() {
        let lineno = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            let Some(last) = cur.fields.last_mut() else {
                return Err(ParseError {
                    line: lineno,
                    reason: "continuation line before any field".into(),
                });
            };
            last.1.push('\n');
            last.1.push_str(line[1..].trim_end());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ParseError {
                line: lineno,
                reason: format!("expected `Name: value`, got {line:?}"),
            });
        };
        if name.is_empty() || name.contains(char::is_whitespace) || name.starts_with('-') {
            return Err(ParseError {
                line: lineno,
                reason: format!("bad field name {name:?}"),
            });
        }
        if cur.get(name).is_some() {
            return Err(ParseError {
                line: lineno,
                reason: format!("duplicate field `{name}`"),
            });
        }
        cur.fields
            .push((name.to_string(), value.trim().to_string()));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// How wide a line of an extended description may be, in characters,
/// counting the space that starts it as a continuation line: lintian warns
/// `extended-description-line-too-long` above this (Policy 3.4.1 asks for
/// lines that fit an 80-column terminal).
pub const DESCRIPTION_WIDTH: usize = 80;

/// Build a `Description` value: the synopsis, then the long text folded as
/// deb822 wants (every line indented by the writer, blank lines as ` .`).
/// Returns just the synopsis when `long` is empty.
///
/// A paragraph line wider than [`DESCRIPTION_WIDTH`] (with its leading
/// space) is wrapped at spaces. Two kinds of line cannot be wrapped and are
/// kept as written, so that [`unfoldable_description_line`] can name them:
/// a line that starts with a space (Debian shows it verbatim, as a code
/// block or a table) and a line with a word wider than the limit.
pub fn fold_description(synopsis: &str, long: &str) -> String {
    let mut v = synopsis.trim().to_string();
    let long = long.trim_matches('\n');
    for line in long.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            v.push_str("\n.");
            continue;
        }
        // A line that cannot be wrapped is kept as it is.
        for piece in wrap_description_line(line).unwrap_or_else(|| vec![line]) {
            v.push('\n');
            v.push_str(piece);
        }
    }
    v
}

/// The first line of a long description that [`fold_description`] cannot
/// bring within [`DESCRIPTION_WIDTH`]: a verbatim line (starting with a
/// space) that is too wide, or a line with a word wider than the limit.
/// Returns its 1-based number among `long`'s lines, and the line.
pub fn unfoldable_description_line(long: &str) -> Option<(usize, &str)> {
    long.lines()
        .map(str::trim_end)
        .enumerate()
        .find(|(_, l)| !l.is_empty() && wrap_description_line(l).is_none())
        .map(|(i, l)| (i + 1, l))
}

/// The pieces a non-empty, right-trimmed long-description line is written
/// as, each fitting [`DESCRIPTION_WIDTH`] with its leading space: the line
/// itself when it fits, else its words filled greedily (breaking at
/// spaces, which are dropped at the breaks). `None` when that cannot fit:
/// the line starts with a space (verbatim), or has a word that is too wide.
fn wrap_description_line(line: &str) -> Option<Vec<&str>> {
    // The text of a line: the width less the leading space.
    const TEXT: usize = DESCRIPTION_WIDTH - 1;
    if line.chars().count() <= TEXT {
        return Some(vec![line]);
    }
    if line.starts_with(' ') {
        return None;
    }
    let mut pieces = Vec::new();
    let mut rest = line;
    loop {
        // Byte offset of the first character past the limit, if any.
        let Some((over, _)) = rest.char_indices().nth(TEXT) else {
            pieces.push(rest);
            return Some(pieces);
        };
        // Break at the last space within the limit, or at the one just past it.
        let cut = if rest[over..].starts_with(' ') {
            over
        } else {
            rest[..over].rfind(' ')?
        };
        pieces.push(rest[..cut].trim_end());
        rest = rest[cut..].trim_start();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTROL: &str =
        "Package: hello\nVersion: 1:2.0-1\nDescription: short\n long line\n .\n  indented\n";

    #[test]
    fn parse_and_write_round_trip() {
        let ps = parse(CONTROL).unwrap();
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].get("package"), Some("hello"));
        assert_eq!(
            ps[0].get("Description"),
            Some("short\nlong line\n.\n indented")
        );
        assert_eq!(ps[0].to_string(), CONTROL);
    }

    #[test]
    fn set_keeps_order_and_replaces() {
        let mut p = Paragraph::new();
        p.set("Package", "a");
        p.set("Version", "1");
        p.set("package", "b");
        assert_eq!(p.to_string(), "Package: b\nVersion: 1\n");
        assert_eq!(p.remove("VERSION").as_deref(), Some("1"));
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn empty_first_line_and_blank_continuations() {
        let mut p = Paragraph::new();
        p.set("Conffiles", "\n/etc/a\n\n/etc/b  ");
        assert_eq!(p.to_string(), "Conffiles:\n /etc/a\n .\n /etc/b\n");
    }

    #[test]
    fn several_paragraphs() {
        let ps = parse("A: 1\n\n\nB: 2\nC: 3\n").unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(write_all(&ps), "A: 1\n\nB: 2\nC: 3\n\n");
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("A: 1\nnocolon\n").unwrap_err().line, 2);
        assert_eq!(parse(" cont\n").unwrap_err().line, 1);
        assert!(
            parse("A: 1\na: 2\n")
                .unwrap_err()
                .reason
                .contains("duplicate")
        );
    }

    /// Each line of a folded description as it is written (with its space).
    fn written_long_lines(value: &str) -> Vec<String> {
        let mut p = Paragraph::new();
        p.set("Description", value);
        p.to_string().lines().skip(1).map(str::to_string).collect()
    }

    #[test]
    fn fold_description_wraps_long_paragraph_lines_at_80_columns() {
        let words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod \
            tempor incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis \
            nostrud exercitation ullamco laboris";
        let long = format!("{words}\n\nShort line.\n");
        let d = fold_description("Synopsis", &long);
        let lines = written_long_lines(&d);
        for l in &lines {
            assert!(l.chars().count() <= DESCRIPTION_WIDTH, "{l:?}");
        }
        // Only the long line is split; the words and the rest stay.
        let (para, rest) = lines.split_at(lines.iter().position(|l| l == " .").unwrap());
        assert!(para.len() > 1, "{para:?}");
        let rejoined: Vec<&str> = para.iter().map(|l| &l[1..]).collect();
        assert_eq!(rejoined.join(" "), words);
        assert_eq!(rest, [" .", " Short line."]);
        // Greedy: each piece is as full as it can be.
        for w in para.windows(2) {
            let next_word = w[1][1..].split(' ').next().unwrap();
            assert!(
                w[0].chars().count() + 1 + next_word.chars().count() > 80,
                "{w:?}"
            );
        }
        assert_eq!(unfoldable_description_line(&long), None);
    }

    #[test]
    fn fold_description_limit_counts_the_leading_space_and_characters() {
        // 79 characters fit (80 with the space); 80 do not.
        let fits = format!("{} {}", "a".repeat(39), "b".repeat(39));
        assert_eq!(fits.chars().count(), 79);
        assert_eq!(fold_description("S", &fits), format!("S\n{fits}"));
        let over = format!("{fits}c");
        assert_eq!(
            fold_description("S", &over),
            format!("S\n{}\n{}c", "a".repeat(39), "b".repeat(39))
        );
        // A space right at the limit is a break, and is dropped.
        let at = format!("{} {}", "a".repeat(79), "b");
        assert_eq!(
            fold_description("S", &at),
            format!("S\n{}\nb", "a".repeat(79))
        );
        // Characters, not bytes: 79 two-byte characters fit.
        let e = "é".repeat(79);
        assert_eq!(fold_description("S", &e), format!("S\n{e}"));
    }

    #[test]
    fn fold_description_keeps_lines_it_cannot_wrap() {
        // A verbatim line (starting with a space) is never reflowed, even
        // when too wide; nor is a line with a word wider than the limit.
        let verbatim = format!("  {}", "x ".repeat(45).trim_end());
        let url = format!("see https://example.com/{} for more", "p".repeat(80));
        let long = format!("Intro.\n{verbatim}\n  short verbatim\n{url}");
        assert_eq!(
            fold_description("S", &long),
            format!("S\nIntro.\n{verbatim}\n  short verbatim\n{url}")
        );
        assert_eq!(
            unfoldable_description_line(&long),
            Some((2, verbatim.as_str()))
        );
        assert_eq!(
            unfoldable_description_line(&format!("ok\n\n{url}\n")),
            Some((3, url.as_str()))
        );
        // A verbatim line that fits is fine.
        assert_eq!(unfoldable_description_line("  short verbatim"), None);
    }

    #[test]
    fn fold_description_marks_blank_lines() {
        let d = fold_description("Synopsis", "First para.\n\nSecond.\n");
        assert_eq!(d, "Synopsis\nFirst para.\n.\nSecond.");
        let mut p = Paragraph::new();
        p.set("Description", d);
        assert_eq!(
            p.to_string(),
            "Description: Synopsis\n First para.\n .\n Second.\n"
        );
    }
}
