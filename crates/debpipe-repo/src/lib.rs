//! debpipe-repo: the apt repository engine that scanpkgs (a local
//! directory) and pushrepo (an S3 bucket) share. Formats live here once;
//! the tools decide what to publish and where.
//!
//! The modules:
//! - [`stanza`]: deb822 stanzas as dpkg reads and writes them, and the one
//!   field-order table of a Packages stanza;
//! - [`deb`]: reading a .deb's control file and hashes;
//! - [`packages`]: a Packages index: parsing it byte for byte, merging,
//!   retention, pool paths, rendering;
//! - [`release`]: the one Release writer and reader, with the one hash set
//!   (`MD5Sum`, `SHA1`, `SHA256`, `SHA512`);
//! - [`byhash`]: where the by-hash copies go (under SHA512, the strongest);
//! - [`gpg`]: signing a Release (`Release.gpg`, `InRelease`);
//! - [`publish`]: the write sequence of a publication (pool, by-hash,
//!   indexes, Release, `InRelease` last), for every store;
//! - [`store`]: the store a repository lives in, as a trait with
//!   conditional writes: [`store::dir::DirStore`] (a local directory),
//!   [`store::mem::MemStore`] (memory, for tests); pushrepo adds S3.
//!
//! The parsers of untrusted input (`.deb`s from anyone, indexes read from a
//! bucket) each have a `parse_*(bytes) -> Result` entry point, for fuzzing:
//! [`stanza::parse_stanza`], [`packages::parse_packages`],
//! [`release::parse_release`] and [`deb::parse_deb`].
#![deny(missing_docs)]

pub mod byhash;
pub mod deb;
pub mod gpg;
pub mod packages;
pub mod publish;
pub mod release;
pub mod stanza;
pub mod store;

pub use debpipe_core::{Error, Result};

#[cfg(test)]
mod fuzz;
