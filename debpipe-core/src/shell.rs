//! Quoting for the shell scripts the tools write (SysV script, maintainer
//! scripts).

/// Quote `v` for a POSIX shell: single quotes, each `'` as `'\''`.
pub fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_single_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
        assert_eq!(quote("$(id) `x`"), "'$(id) `x`'");
    }
}
