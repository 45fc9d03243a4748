//! Override files: reading them (plain, or .gz, .xz, .zst by extension),
//! and the maintainer's and the section/priority overrides, and the extra
//! overrides, as dpkg-scanpackages applies them.

use std::path::Path;

use crate::scan::Entry;
use crate::{Error, Result};
use debpipe_repo::stanza as control;
use std::collections::{BTreeMap, HashSet};

/// Read an override file, decompressing by extension.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let res = match ext {
        "gz" => {
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&raw[..]), &mut out)
        }
        "xz" => std::io::Read::read_to_end(&mut xz2::read::XzDecoder::new(&raw[..]), &mut out),
        "zst" => zstd::stream::read::Decoder::new(&raw[..])
            .and_then(|mut d| std::io::Read::read_to_end(&mut d, &mut out)),
        _ => return Ok(raw),
    };
    res.map_err(|e| Error::io(path, e))?;
    Ok(out)
}

/// Split like Perl's `split /\s+/, $line, limit`: a leading empty field is
/// kept, the last field takes the rest of the line.
pub(crate) fn split_ws(line: &[u8], limit: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = line;
    while out.len() + 1 < limit {
        match rest.iter().position(|&b| control::is_space(b)) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = control::trim_start(&rest[i..]);
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

/// Lines of an override file without comments and trailing whitespace.
pub(crate) fn override_lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b'\n').filter_map(|line| {
        let line = match line.iter().position(|&b| b == b'#') {
            Some(i) => &line[..i],
            None => line,
        };
        let line = control::trim_end(line);
        (!line.is_empty()).then_some(line)
    })
}

pub(crate) fn apply_override(
    text: &[u8],
    packages: &mut BTreeMap<Vec<u8>, Vec<Entry>>,
    overridden: &mut HashSet<Vec<u8>>,
    messages: &mut Vec<String>,
) {
    let mut spurious = Vec::new();
    let mut changed = Vec::new();
    let mut same = Vec::new();
    for line in override_lines(text) {
        let parts = split_ws(line, 4);
        let p = parts[0];
        let pname = String::from_utf8_lossy(p).into_owned();
        let Some(entries) = packages.get_mut(p) else {
            spurious.push(pname);
            continue;
        };
        let priority = parts.get(1).copied().unwrap_or_default();
        let section = parts.get(2).copied().unwrap_or_default();
        let maint = parts.get(3).copied().filter(|m| !m.is_empty());
        for e in entries.iter_mut() {
            if let Some(m) = maint {
                let debmaint = e.stanza.get("Maintainer").unwrap_or_default().to_vec();
                if let Some((old, new)) = split_maint_change(m) {
                    let olds = split_alternatives(old);
                    if olds.contains(&debmaint.as_slice()) {
                        e.stanza.set(b"Maintainer", new);
                    } else {
                        changed.push(format!(
                            "  {pname} (package says {}, not {})",
                            String::from_utf8_lossy(&debmaint),
                            String::from_utf8_lossy(old)
                        ));
                    }
                } else if debmaint == m {
                    same.push(format!("  {pname} ({})", String::from_utf8_lossy(m)));
                } else {
                    messages.push(format!(
                        "warning: unconditional maintainer override for {pname}"
                    ));
                    e.stanza.set(b"Maintainer", m);
                }
            }
            e.stanza.set(b"Priority", priority);
            e.stanza.set(b"Section", section);
        }
        overridden.insert(p.to_vec());
    }
    if !changed.is_empty() {
        messages
            .push("warning: Packages in override file with incorrect old maintainer value:".into());
        messages.extend(changed.into_iter().map(|c| format!("warning: {c}")));
    }
    if !same.is_empty() {
        messages.push("warning: Packages specifying same maintainer as override file:".into());
        messages.extend(same.into_iter().map(|c| format!("warning: {c}")));
    }
    if !spurious.is_empty() {
        messages.push("warning: Packages in override file but not in archive:".into());
        messages.push(format!("warning:   {}", spurious.join(" ")));
    }
}

/// `OLD => NEW` in an override's maintainer column (the first `=>`, the
/// old value without its trailing whitespace, the new without leading).
pub(crate) fn split_maint_change(m: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = m.windows(2).skip(1).position(|w| w == b"=>")? + 1;
    let old = control::trim_end(&m[..i]);
    let new = control::trim_start(&m[i + 2..]);
    (!old.is_empty() && !new.is_empty()).then_some((old, new))
}

/// `a // b` alternatives of an old maintainer value.
pub(crate) fn split_alternatives(old: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = old;
    while let Some(i) = rest.windows(2).position(|w| w == b"//") {
        out.push(control::trim_end(&rest[..i]));
        rest = control::trim_start(&rest[i + 2..]);
    }
    out.push(rest);
    out
}

pub(crate) fn apply_extra_override(text: &[u8], packages: &mut BTreeMap<Vec<u8>, Vec<Entry>>) {
    for line in override_lines(text) {
        let parts = split_ws(line, 3);
        let Some(entries) = packages.get_mut(parts[0]) else {
            continue;
        };
        let Some(field) = parts.get(1).filter(|f| !f.is_empty()) else {
            continue;
        };
        let value = parts.get(2).copied().unwrap_or_default();
        for e in entries.iter_mut() {
            e.stanza.set(field, value);
        }
    }
}
