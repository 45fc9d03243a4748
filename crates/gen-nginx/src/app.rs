//! The app's location: its URL prefix passed to the app server, over the
//! uwsgi protocol (uWSGI, gunicorn's WSGI) or over HTTP (the ASGI worker),
//! and the websocket paths of an ASGI app.

use std::fmt::Write as _;

use debpipe_core::AppSpec;
use debpipe_core::spec::AppServer;

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
    let timeout = spec.harakiri + READ_TIMEOUT_MARGIN;
    if spec.app_server == AppServer::GunicornAsgi {
        proxy(pass, &inner, out);
        let _ = writeln!(out, "{inner}proxy_read_timeout {timeout}s;");
    } else {
        let _ = writeln!(out, "{inner}include uwsgi_params;");
        crate::client::params(&inner, out);
        let _ = write!(
            out,
            "{inner}uwsgi_pass {pass};\n\
             {inner}uwsgi_read_timeout {timeout}s;\n",
        );
    }
    let _ = write!(
        out,
        "{inner}client_max_body_size {size};\n{ind}}}\n",
        size = spec.client_max_body_size,
    );
    for path in &spec.websocket_paths {
        websocket(spec, path, pass, ind, out);
    }
}

/// Seconds a websocket may stay silent before nginx closes it.
pub const WEBSOCKET_TIMEOUT: u32 = 3600;

/// HTTP/1.1 to the ASGI server on `pass`, with nginx's view of the client.
fn proxy(pass: &str, ind: &str, out: &mut String) {
    // A unix socket is `http://unix:PATH:` to proxy_pass.
    let colon = if pass.starts_with("unix:") { ":" } else { "" };
    let _ = writeln!(
        out,
        "{ind}proxy_pass http://{pass}{colon};\n{ind}proxy_http_version 1.1;"
    );
    crate::client::proxy_headers(ind, out);
}

/// A websocket path: the upgrade passed on, long timeouts, no buffering.
fn websocket(spec: &AppSpec, path: &str, pass: &str, ind: &str, out: &mut String) {
    let inner = format!("{ind}    ");
    let _ = writeln!(out, "{ind}location ^~ {path} {{");
    if spec.server.is_none() {
        crate::client::real_ip(spec, &inner, out);
    }
    proxy(pass, &inner, out);
    let _ = write!(
        out,
        "{inner}proxy_set_header Upgrade $http_upgrade;\n\
         {inner}proxy_set_header Connection \"upgrade\";\n\
         {inner}proxy_buffering off;\n\
         {inner}proxy_read_timeout {WEBSOCKET_TIMEOUT}s;\n\
         {inner}proxy_send_timeout {WEBSOCKET_TIMEOUT}s;\n\
         {ind}}}\n",
    );
}
