//! The app's location: its URL prefix passed to uWSGI.

use std::fmt::Write as _;

use debpipe_core::AppSpec;

/// Seconds nginx waits beyond `harakiri` before answering 504: a worker that
/// uWSGI lets run must not be cut off by nginx first.
pub const READ_TIMEOUT_MARGIN: u32 = 5;

/// The `location` block passing `spec.location` to `pass` (the upstream, or
/// `unix:<socket>` in a snippet). A snippet carries the real-ip directives
/// here, as it has no server block of its own.
pub fn location(spec: &AppSpec, pass: &str, ind: &str, out: &mut String) {
    let _ = writeln!(out, "{ind}location ^~ {} {{", spec.location);
    let inner = format!("{ind}    ");
    if spec.server.is_none() {
        crate::client::real_ip(spec, &inner, out);
    }
    let _ = writeln!(out, "{inner}include uwsgi_params;");
    crate::client::params(&inner, out);
    let _ = write!(
        out,
        "{inner}uwsgi_pass {pass};\n\
         {inner}uwsgi_read_timeout {timeout}s;\n\
         {inner}client_max_body_size {size};\n\
         {ind}}}\n",
        timeout = spec.harakiri + READ_TIMEOUT_MARGIN,
        size = spec.client_max_body_size,
    );
}
