//! A private network namespace for servers that listen on fixed ports (80,
//! 443) or need several loopback source addresses, so tests never touch the
//! host's ports.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::services::run_ok;

/// A named network namespace (`ip netns`) with its loopback up, deleted
/// when dropped. All of 127.0.0.0/8 is local on Linux's loopback, so
/// clients in it can speak from 127.0.0.1 or 127.0.0.2 (`curl --interface`).
/// Drop the processes started in it first (declare it before them).
#[derive(Debug)]
pub struct NetNs {
    /// The namespace's name under `/run/netns`.
    pub name: String,
}

impl NetNs {
    /// Create it (needs root, as the tests of nginx run).
    pub fn new() -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "debpipe-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        run_ok("ip", &["netns".as_ref(), "add".as_ref(), name.as_ref()]);
        let ns = Self { name };
        let st = ns
            .command("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(st.success(), "ip link set lo up in {}", ns.name);
        ns
    }

    /// `program` run inside the namespace (`ip netns exec` execs it, so
    /// the child's pid is the program's).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// `cmd` (program and arguments; not its environment or directory) run
    /// inside the namespace.
    pub fn wrap(&self, cmd: &Command) -> Command {
        let mut c = self.command(cmd.get_program());
        c.args(cmd.get_args());
        c
    }
}

impl Default for NetNs {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}
