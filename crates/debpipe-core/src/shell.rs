//! Quoting for the shell scripts the tools write (SysV script, maintainer
//! scripts), and the one way their values get in: [`fill`].
//!
//! Scripts are `.sh` files beside the crate that writes them, complete and
//! shellcheck-clean as they stand, with example values in a block between
//! the lines `# @vars...` and `# @end`. [`fill`] puts the spec's values in
//! place of that block, and the package and version in the title line.

use std::fmt::Write as _;

/// Quote `v` for a POSIX shell: single quotes, each `'` as `'\''`.
pub fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// One line of a script's variable block: `NAME='value'`, or a shell
/// function exporting the app's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    /// `NAME='value'`.
    Set(&'static str, String),
    /// `name() { export K='v'; ... }`.
    ExportFn(&'static str, Vec<(String, String)>),
}

/// Fill a script template: `@PACKAGE@ @VERSION@` in its title becomes
/// `title`, and the block from `# @vars` to `# @end` becomes `vars`.
///
/// # Panics
/// When the template has no such block: templates are compiled in, so a
/// test of each catches it.
pub fn fill(template: &str, title: &str, vars: &[Var]) -> String {
    let mut block = String::new();
    for v in vars {
        match v {
            Var::Set(k, v) => {
                let _ = writeln!(block, "{k}={}", quote(v));
            }
            Var::ExportFn(name, env) => {
                let _ = writeln!(block, "{name}() {{");
                for (k, v) in env {
                    let _ = writeln!(block, "    export {k}={}", quote(v));
                }
                block.push_str("}\n");
            }
        }
    }
    replace_vars_block(template, &block).replacen("@PACKAGE@ @VERSION@", title, 1)
}

/// Put `block` in place of a template's lines from `# @vars` to `# @end`
/// (both included); the shell scripts and the Python settings overlay share
/// this form.
///
/// # Panics
/// When the template has no such block: templates are compiled in, so a
/// test of each catches it.
pub fn replace_vars_block(template: &str, block: &str) -> String {
    let (before, _, after) = split_block(template, "# @vars", "# @end");
    format!("{before}{block}{after}")
}

/// A template cut around a marked block: the text before the line that
/// starts with `open`, the lines between it and the line `close`, and the
/// text after that line.
///
/// # Panics
/// When the template has no such block: templates are compiled in, so a
/// test of each catches it.
pub fn split_block<'a>(template: &'a str, open: &str, close: &str) -> (&'a str, &'a str, &'a str) {
    let start = template
        .find(&format!("\n{open}"))
        .unwrap_or_else(|| panic!("template without a `{open}` line"))
        + 1;
    let inner = template[start..]
        .find('\n')
        .map_or(template.len(), |i| start + i + 1);
    let close_line = format!("\n{close}\n");
    let end = template[start..]
        .find(&close_line)
        .unwrap_or_else(|| panic!("template without a `{close}` line"))
        + start;
    (
        &template[..start],
        &template[inner..=end],
        &template[end + close_line.len()..],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_the_block_and_the_title() {
        let t = "#!/bin/sh\n# x of @PACKAGE@ @VERSION@.\nA=1\n# @vars: here\nB=example\n# @end\necho \"$B\"\n";
        let out = fill(
            t,
            "p 1.0",
            &[
                Var::Set("B", "it's".into()),
                Var::ExportFn("env", vec![("K".into(), "v".into())]),
            ],
        );
        assert_eq!(
            out,
            "#!/bin/sh\n# x of p 1.0.\nA=1\nB='it'\\''s'\nenv() {\n    export K='v'\n}\necho \"$B\"\n"
        );
    }

    #[test]
    fn quote_escapes_single_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
        assert_eq!(quote("$(id) `x`"), "'$(id) `x`'");
    }
}
