//! debpipe's test kit: what the tools' tests share, as its own dev-only
//! crate (the production crates carry no test code), split by concern:
//!
//! - [`golden`]: golden files (`BLESS=1` rewrites them) and the shared
//!   `tests/fixtures/`;
//! - [`specs`]: the bad-spec corpus, a validated spec for unit tests, and
//!   the environment to clear (a command without it) or set;
//! - [`services`]: real uWSGI, nginx and HTTP for tests, and processes that
//!   die with the test;
//! - [`netns`]: a private network namespace for servers on fixed ports and
//!   clients on several loopback addresses;
//! - [`generator`]: the generators' command-line contract;
//! - [`seaweed`]: a real SeaweedFS (S3) for the publisher's tests;
//! - [`accounts`]: the service's system user, its `debpipe.env`, and
//!   environment files read by systemd's own parser;
//! - [`cache`]: the one place that resolves the cache directory for slow
//!   inputs (wheelhouses, roots);
//! - [`run`]: a finished command succeeded, or the test shows its stderr;
//!   it failed with a code and wrote nothing to stdout; it printed the
//!   path it wrote; shellcheck passes a script;
//! - [`files`]: a test's input files, their parents made, with a mode;
//! - [`cli`]: the tools' clap definitions checked ([`verify_cli!`]);
//! - [`repo`]: what the repository tools' tests share (scanpkgs, pushrepo).
#![allow(clippy::missing_panics_doc)]

pub mod accounts;
pub mod cache;
pub mod cli;
pub mod files;
pub mod generator;
pub mod golden;
pub mod netns;
pub mod repo;
pub mod run;
pub mod seaweed;
pub mod services;
pub mod specs;

pub use accounts::{ensure_system_user, ids, systemd_environment, write_service_env};
pub use cache::cache_dir;
pub use files::{write, write_mode};
pub use generator::Generator;
pub use golden::{assert_golden, fixtures};
pub use netns::NetNs;
pub use run::{assert_fails, assert_prints_path, assert_shellcheck, assert_success};
pub use services::{
    KillOnDrop, NginxWrapper, ScratchApp, free_port, http_get, run_ok, start_uwsgi_as_www_data,
    uwsgi_request, wait_until, www_data,
};
pub use specs::{PACKAGER_ENV, SCRUB_ENV, assert_bad_specs_rejected, bad_specs, scrubbed, spec};
