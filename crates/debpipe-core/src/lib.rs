//! Shared library of the debpipe tools.
//!
//! Only what two or more tools need lives here. The modules, one concern each:
//! - [`app_server`] — which server runs the app, and its own fields;
//! - [`ar`] — the ar container of a .deb, written and read;
//! - [`cli`] — the arguments every generator shares (the spec, the output);
//! - [`date`] — Debian's date formats (Release, changelog), written and read;
//! - [`deb822`] — deb822 paragraphs (`DEBIAN/control`, `Packages`, `Release`);
//! - [`error`] — the one error type and the exit-code convention;
//! - [`facts`] — what mkvenv finds out and gen-control turns into fields;
//! - [`hex`] — lower-case hex digests;
//! - [`io`] — inputs (`-` is stdin) and atomic outputs;
//! - [`jobs`] — the app's daemons, timers and commands, and their checks;
//! - [`modes`] — the modes of shipped files (0755 for what runs, else 0644);
//! - [`pool`] — where a package's files go in a repository's pool;
//! - [`release`] — the Debian releases and what differs between them (`releases.tsv`);
//! - [`shell`] — shell quoting, and the one way to fill a template;
//! - [`spec`] — the app spec, its defaults and its validation;
//! - [`sysroot`] — the target's root (its python, ld.so cache, dpkg database);
//! - [`time`] — `SOURCE_DATE_EPOCH`;
//! - [`validate`] — the allow-lists every spec value is checked against;
//! - [`version`] — Debian version comparison.
#![deny(missing_docs)]

pub mod app_server;
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
