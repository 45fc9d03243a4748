//! Quoting for the shell scripts the tools write (SysV scripts, maintainer
//! scripts, the admin helper), and the one way values get into them and into
//! every other template: [`Template`].
//!
//! Templates are files beside the crate that fills them, complete and
//! shellcheck-clean as they stand. A template has three kinds of marks:
//!
//! - a variable block, the lines from `# @vars...` to `# @end`, with example
//!   values: [`Template::vars`] writes the spec's values in its place, one
//!   `NAME='value'` line each (or [`Template::vars_text`] for a template in
//!   another language, e.g. Python, whose lines the caller writes);
//! - words `@NAME@` (upper case, digits, `_`), e.g. the package's name in a
//!   title, an LSB header or after `update-rc.d`, where lintian wants it
//!   literal: [`Template::word`] gives each one's value, written as is (the
//!   caller's values need no quoting there: package and unit names);
//! - blocks, the lines from `# @name...` to `# @end-name` (lower case):
//!   [`Template::block`] keeps their lines or puts a text in their place.
//!
//! Filling is strict, so a template and its caller cannot drift apart: a
//! word, block or variable block the caller gives no value for, a value
//! the template has no place for, and a variable the template's example
//! block assigns but the caller does not give (or the other way round) are
//! each an error ([`FillError`]).

use std::collections::BTreeSet;
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

impl Var {
    fn name(&self) -> &'static str {
        match self {
            Self::Set(n, _) | Self::ExportFn(n, _) => n,
        }
    }
}

/// What a block of a template becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Its lines stay (their words are filled); the mark lines go.
    Keep,
    /// The text takes the place of the block and its mark lines.
    Replace(String),
}

/// A template that cannot be filled with the values given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template}: {problem}")]
pub struct FillError {
    /// The template's name.
    pub template: String,
    /// What does not fit.
    pub problem: String,
}

/// The variable block's new text.
#[derive(Debug, Clone)]
enum VarsBlock {
    Shell(Vec<Var>),
    Text(String),
}

/// A template and the values for its marks (see the module's doc).
#[derive(Debug, Clone)]
pub struct Template<'a> {
    name: &'a str,
    text: &'a str,
    words: Vec<(&'a str, String)>,
    blocks: Vec<(&'a str, Block)>,
    vars: Option<VarsBlock>,
}

impl<'a> Template<'a> {
    /// The template `text`, named `name` in errors (its file name).
    pub fn new(name: &'a str, text: &'a str) -> Self {
        Self {
            name,
            text,
            words: Vec::new(),
            blocks: Vec::new(),
            vars: None,
        }
    }

    /// `@NAME@` becomes `value`, wherever it is outside the variable block.
    #[must_use]
    pub fn word(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.words.push((name, value.into()));
        self
    }

    /// The block `# @name` ... `# @end-name` becomes `block`.
    #[must_use]
    pub fn block(mut self, name: &'a str, block: Block) -> Self {
        self.blocks.push((name, block));
        self
    }

    /// The variable block becomes `vars`, quoted for the shell. The names
    /// must be those the template's example block assigns.
    #[must_use]
    pub fn vars(mut self, vars: Vec<Var>) -> Self {
        self.vars = Some(VarsBlock::Shell(vars));
        self
    }

    /// The variable block becomes `text`, written as is (a template in
    /// another language, whose values the caller quotes).
    #[must_use]
    pub fn vars_text(mut self, text: impl Into<String>) -> Self {
        self.vars = Some(VarsBlock::Text(text.into()));
        self
    }

    /// The filled template, or what does not fit.
    pub fn try_fill(&self) -> Result<String, FillError> {
        let err = |problem: String| FillError {
            template: self.name.to_string(),
            problem,
        };
        let mut out = String::with_capacity(self.text.len() + 1024);
        let mut used_words = BTreeSet::new();
        let mut used_blocks = BTreeSet::new();
        let mut vars_done = false;
        // The block being read: its name, and whether its lines stay.
        let mut open: Option<(&str, bool)> = None;
        let mut example: Option<Vec<&str>> = None;
        for line in self.text.split_inclusive('\n') {
            let bare = line.trim_end_matches('\n');
            if let Some(names) = &mut example {
                if bare == "# @end" {
                    self.write_vars(&mut out, names).map_err(err)?;
                    example = None;
                    vars_done = true;
                } else if let Some(n) = assigned_name(bare) {
                    names.push(n);
                }
                continue;
            }
            if let Some(mark) = bare.strip_prefix("# @") {
                let name: &str = mark
                    .split(|c: char| !(c.is_ascii_lowercase() || c == '-'))
                    .next()
                    .unwrap_or_default();
                if name == "vars" {
                    if open.is_some() || vars_done {
                        return Err(err("a second or nested `# @vars` block".into()));
                    }
                    example = Some(Vec::new());
                    continue;
                }
                if let Some(closed) = name.strip_prefix("end-") {
                    match open.take() {
                        Some((n, _)) if n == closed => continue,
                        _ => return Err(err(format!("`# @{name}` closes no open block"))),
                    }
                }
                if !name.is_empty() {
                    if open.is_some() {
                        return Err(err(format!("block `{name}` inside another")));
                    }
                    let Some((_, block)) = self.blocks.iter().find(|(n, _)| *n == name) else {
                        return Err(err(format!("no value for the block `{name}`")));
                    };
                    used_blocks.insert(name);
                    match block {
                        Block::Keep => open = Some((name, true)),
                        Block::Replace(text) => {
                            out.push_str(text);
                            open = Some((name, false));
                        }
                    }
                    continue;
                }
            }
            if matches!(open, Some((_, false))) {
                continue;
            }
            self.fill_words(line, &mut out, &mut used_words)
                .map_err(err)?;
        }
        if example.is_some() {
            return Err(err("`# @vars` without `# @end`".into()));
        }
        if let Some((n, _)) = open {
            return Err(err(format!("block `{n}` without `# @end-{n}`")));
        }
        if self.vars.is_some() && !vars_done {
            return Err(err("values for a `# @vars` block it does not have".into()));
        }
        if let Some((w, _)) = self.words.iter().find(|(w, _)| !used_words.contains(w)) {
            return Err(err(format!("a value for `@{w}@`, which it does not use")));
        }
        if let Some((b, _)) = self.blocks.iter().find(|(b, _)| !used_blocks.contains(b)) {
            return Err(err(format!(
                "a value for the block `{b}`, which it does not have"
            )));
        }
        Ok(out)
    }

    /// The filled template.
    ///
    /// # Panics
    /// When it does not fit ([`Template::try_fill`]): templates are compiled
    /// in, so a test of each caller catches it.
    pub fn fill(&self) -> String {
        self.try_fill().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Write the variable block, whose example assigns `names`.
    fn write_vars(&self, out: &mut String, names: &[&str]) -> Result<(), String> {
        match &self.vars {
            None => Err("no values for its `# @vars` block".into()),
            Some(VarsBlock::Text(t)) => {
                out.push_str(t);
                Ok(())
            }
            Some(VarsBlock::Shell(vars)) => {
                let given: Vec<&str> = vars.iter().map(Var::name).collect();
                if let Some(n) = names.iter().find(|n| !given.contains(n)) {
                    return Err(format!("no value for the variable {n}"));
                }
                if let Some(n) = given.iter().find(|n| !names.contains(n)) {
                    return Err(format!(
                        "a value for the variable {n}, which its `# @vars` block does not assign"
                    ));
                }
                for v in vars {
                    match v {
                        Var::Set(k, v) => {
                            let _ = writeln!(out, "{k}={}", quote(v));
                        }
                        Var::ExportFn(name, env) => {
                            let _ = writeln!(out, "{name}() {{");
                            for (k, v) in env {
                                let _ = writeln!(out, "    export {k}={}", quote(v));
                            }
                            out.push_str("}\n");
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Copy `line` to `out` with its `@NAME@` words filled.
    fn fill_words<'t>(
        &self,
        line: &'t str,
        out: &mut String,
        used: &mut BTreeSet<&'a str>,
    ) -> Result<(), String> {
        let mut rest = line;
        while let Some(at) = rest.find('@') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let len = after
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(after.len());
            if len > 0 && after[len..].starts_with('@') {
                let word = &after[..len];
                let Some((w, value)) = self.words.iter().find(|(w, _)| *w == word) else {
                    return Err(format!("no value for `@{word}@`"));
                };
                used.insert(*w);
                out.push_str(value);
                rest = &after[len + 1..];
            } else {
                out.push('@');
                rest = after;
            }
        }
        out.push_str(rest);
        Ok(())
    }
}

/// The name an example line of a variable block assigns: `NAME=...` or
/// `name() {`.
fn assigned_name(line: &str) -> Option<&str> {
    let (name, rest) = line.split_at(
        line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(line.len()),
    );
    let starts_well = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    (starts_well && (rest.starts_with('=') || rest.starts_with("() {"))).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "#!/bin/sh\n# x of @PACKAGE@ @VERSION@.\nA=1\n# @vars: here\nB=example\nenv() {\n    export K=v\n}\n# @end\necho \"$B\" \"$@\" a@b.example\n# @opt: kept or not\necho @PACKAGE@\n# @end-opt\n";

    fn full() -> Template<'static> {
        Template::new("t.sh", T)
            .word("PACKAGE", "p")
            .word("VERSION", "1.0")
            .block("opt", Block::Keep)
            .vars(vec![
                Var::Set("B", "it's".into()),
                Var::ExportFn("env", vec![("K".into(), "v".into())]),
            ])
    }

    #[test]
    fn fill_replaces_the_block_the_words_and_the_marks() {
        assert_eq!(
            full().try_fill().unwrap(),
            "#!/bin/sh\n# x of p 1.0.\nA=1\nB='it'\\''s'\nenv() {\n    export K='v'\n}\necho \"$B\" \"$@\" a@b.example\necho p\n"
        );
        let mut t = full();
        t.blocks = vec![("opt", Block::Replace("echo other\n".into()))];
        assert!(t.try_fill().unwrap().ends_with("a@b.example\necho other\n"));
    }

    #[test]
    fn vars_text_is_written_as_is() {
        let t = Template::new("s.py", "x = 1\n# @vars\n_A = 2\n# @end\ny = 3\n")
            .vars_text("_A = \"b\"\n");
        assert_eq!(t.try_fill().unwrap(), "x = 1\n_A = \"b\"\ny = 3\n");
    }

    fn problem(t: &Template) -> String {
        let e = t.try_fill().unwrap_err();
        assert_eq!(e.template, "t.sh");
        assert!(e.to_string().starts_with("template t.sh: "), "{e}");
        e.problem
    }

    #[test]
    fn a_word_without_a_value_is_an_error() {
        let mut t = full();
        t.words.retain(|(w, _)| *w != "VERSION");
        assert_eq!(problem(&t), "no value for `@VERSION@`");
    }

    #[test]
    fn a_value_the_template_has_no_place_for_is_an_error() {
        assert_eq!(
            problem(&full().word("NAME", "x")),
            "a value for `@NAME@`, which it does not use"
        );
        assert_eq!(
            problem(&full().block("other", Block::Keep)),
            "a value for the block `other`, which it does not have"
        );
        let mut t = full();
        t.vars = Some(VarsBlock::Shell(vec![
            Var::Set("B", "1".into()),
            Var::ExportFn("env", vec![]),
            Var::Set("C", "2".into()),
        ]));
        assert_eq!(
            problem(&t),
            "a value for the variable C, which its `# @vars` block does not assign"
        );
        let t = Template::new("t.sh", "echo\n").vars(vec![]);
        assert_eq!(problem(&t), "values for a `# @vars` block it does not have");
    }

    #[test]
    fn a_variable_or_block_left_unfilled_is_an_error() {
        let mut t = full();
        t.vars = Some(VarsBlock::Shell(vec![Var::Set("B", "1".into())]));
        assert_eq!(problem(&t), "no value for the variable env");
        let mut t = full();
        t.vars = None;
        assert_eq!(problem(&t), "no values for its `# @vars` block");
        let mut t = full();
        t.blocks.clear();
        assert_eq!(problem(&t), "no value for the block `opt`");
    }

    #[test]
    fn broken_marks_are_errors() {
        let t = Template::new("t.sh", "# @vars\nA=1\n");
        assert_eq!(problem(&t.vars(vec![])), "`# @vars` without `# @end`");
        let t = Template::new("t.sh", "# @opt\necho\n").block("opt", Block::Keep);
        assert_eq!(problem(&t), "block `opt` without `# @end-opt`");
        let t = Template::new("t.sh", "# @end-opt\n");
        assert_eq!(problem(&t), "`# @end-opt` closes no open block");
    }

    #[test]
    #[should_panic(expected = "template t.sh: no value for `@X@`")]
    fn fill_panics_on_a_template_that_does_not_fit() {
        let _ = Template::new("t.sh", "@X@\n").fill();
    }

    #[test]
    fn quote_escapes_single_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
        assert_eq!(quote("$(id) `x`"), "'$(id) `x`'");
    }
}
