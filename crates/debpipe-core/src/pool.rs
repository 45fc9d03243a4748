//! The pool layout of a Debian repository: where a package's files go.
//!
//! Debian's archive (and reprepro, aptly, dak) file each package under
//! `pool/<component>/<prefix>/<source>/`, the prefix being the first letter
//! of the source package's name, or `lib` and the next letter for names
//! starting with `lib` (`pool/main/libz/libzstd/`). debpipe's packages are
//! their own source, so the binary package's name stands for it.

/// The pool prefix of a source package: `w` for `wechat-api`, `libp` for
/// `libpq`; a name of just `lib` (no next letter) is filed under `l`.
pub fn prefix(source: &str) -> &str {
    if source.len() > 3 && source.starts_with("lib") {
        &source[..4]
    } else {
        source.get(..1).unwrap_or("")
    }
}

/// The directory, relative to the repository's root, for `source`'s files in
/// `component`: `pool/main/w/wechat-api`.
pub fn dir(component: &str, source: &str) -> String {
    format!("pool/{component}/{}/{source}", prefix(source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_debians_archive() {
        assert_eq!(dir("main", "wechat-api"), "pool/main/w/wechat-api");
        assert_eq!(dir("main", "libzstd"), "pool/main/libz/libzstd");
        assert_eq!(prefix("lib"), "l");
        assert_eq!(prefix("lib2"), "lib2");
        assert_eq!(prefix("0ad"), "0");
    }
}
