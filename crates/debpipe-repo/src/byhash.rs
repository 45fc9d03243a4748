//! by-hash copies of the indexes, for apt's `Acquire-By-Hash: yes`: each
//! index is also stored as `<index dir>/by-hash/<hash>/<digest>`, under the
//! strongest hash the Release lists, which is the one apt asks for: SHA512
//! for every Release written here ([`crate::release::HASHES`]). A client
//! that read a Release then fetches exactly the indexes it names, even when
//! a newer publication replaced the canonical files meanwhile, so it never
//! sees a "Hash Sum mismatch". Publishers write the copies before the
//! canonical files and the Release, and keep those of the previous Release
//! for a while (one generation in scanpkgs, a grace period in pushrepo).
//! Copies under a weaker hash (by-hash/SHA256, from Releases that listed
//! no SHA512) are read, never written.

/// The directory of the copies written, relative to an index directory.
pub const DIR: &str = "by-hash/SHA512";

/// The directory of the copies under the Release hash section `hash`
/// (`SHA256` -> `by-hash/SHA256`).
pub fn dir_for(hash: &str) -> String {
    format!("by-hash/{hash}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dir_is_the_strongest_hash() {
        assert_eq!(super::dir_for(crate::release::HASHES[3]), super::DIR);
    }
}
