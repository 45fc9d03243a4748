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

/// Build a `Description` value: the synopsis, then the long text folded as
/// deb822 wants (every line indented by the writer, blank lines as ` .`).
/// Returns just the synopsis when `long` is empty.
pub fn fold_description(synopsis: &str, long: &str) -> String {
    let mut v = synopsis.trim().to_string();
    let long = long.trim_matches('\n');
    for line in long.lines() {
        v.push('\n');
        let line = line.trim_end();
        if line.is_empty() {
            v.push('.');
        } else {
            v.push_str(line);
        }
    }
    v
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
