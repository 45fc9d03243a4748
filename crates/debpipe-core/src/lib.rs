//! Shared library of the debpipe tools.
//!
//! Only what two or more tools need lives here: the app spec model and its
//! validation ([`spec`], its allow-lists in [`validate`]), deb822
//! paragraphs ([`deb822`]), input and atomic output ([`io`]), `SOURCE_DATE_EPOCH` ([`time`]) and Debian's date
//! formats ([`date`]), Debian version comparison ([`version`]), the Debian releases
//! and what differs between them ([`release`], the repository's `releases.tsv`), hex
//! digests ([`hex`]), shell quoting and script templates ([`shell`]), and
//! the error type with its exit-code convention ([`error`]).
#![deny(missing_docs)]

pub mod ar;
pub mod cli;
pub mod date;
pub mod deb822;
pub mod error;
pub mod facts;
pub mod hex;
pub mod io;
pub mod jobs;
pub mod modes;
pub mod pool;
pub mod release;
pub mod shell;
pub mod spec;
pub mod sysroot;
pub mod time;
pub mod validate;
pub mod version;

pub use error::{Error, Result};
pub use spec::AppSpec;
