//! A whole server block (the spec has `server`): the upstream, then one
//! server on `listen`, or with `server.tls` a redirect on `listen` and an
//! HTTPS server on port 443 of the same address.
//!
//! HTTP/2 is left off: the one output serves every release, and the
//! releases spell it differently (`listen ... ssl http2` on nginx 1.18 and
//! 1.22, which 1.26 warns about at every reload; `http2 on;` since 1.25.1,
//! which 1.22 refuses).

use std::fmt::Write as _;

use debpipe_core::spec::Server;
use debpipe_core::{AppSpec, Error, Result};

/// Port of the HTTPS server with `server.tls`.
pub const HTTPS_PORT: u16 = 443;

/// The upstream a server block defines: `debpipe_<package>`, `-`, `.` and
/// `+` as `_`.
pub fn upstream_name(spec: &AppSpec) -> String {
    format!("debpipe_{}", spec.package.replace(['-', '.', '+'], "_"))
}

/// What nginx would refuse although the spec is valid: with `server.tls`,
/// `listen` is the plain-HTTP address and must not be port 443 itself.
pub fn check(spec: &AppSpec) -> Result<()> {
    if let Some(s) = &spec.server
        && s.tls.is_some()
        && port(&s.listen) == HTTPS_PORT.to_string()
    {
        return Err(Error::invalid(
            "server.listen",
            format!(
                "with `server.tls`, `listen` is the plain-HTTP address that redirects to port {HTTPS_PORT}; got {:?}",
                s.listen
            ),
        ));
    }
    Ok(())
}

/// The port part of a validated `listen` (`80`, `ADDR:80`, `[V6]:80`).
fn port(listen: &str) -> &str {
    listen.rsplit(':').next().unwrap_or(listen)
}

/// `listen` with its port replaced by 443: `443`, `ADDR:443`, `[V6]:443`.
pub fn https_listen(listen: &str) -> String {
    match listen.rsplit_once(':') {
        Some((addr, _)) => format!("{addr}:{HTTPS_PORT}"),
        None => HTTPS_PORT.to_string(),
    }
}

/// The upstream and server block(s); `locations` writes the locations at
/// the indentation it is given.
pub fn render(
    spec: &AppSpec,
    server: &Server,
    out: &mut String,
    locations: impl Fn(&str, &mut String),
) {
    // uWSGI's socket twice: a worker stopping for a graceful reload may
    // close a connection it accepted without answering; nginx then passes a
    // GET or HEAD (never a POST) on to the second entry, the same socket,
    // instead of answering 502. max_fails=0 keeps nginx from ever marking
    // the socket down.
    let _ = write!(
        out,
        "upstream {up} {{\n    server unix:{sock} max_fails=0;\n    server unix:{sock} max_fails=0 backup;\n}}\n\n",
        up = upstream_name(spec),
        sock = spec.socket(),
    );
    let names = server.server_name.join(" ");
    let body = |out: &mut String| {
        if !spec.trusted_proxies.is_empty() {
            out.push('\n');
        }
        crate::client::real_ip(spec, "    ", out);
        out.push('\n');
        locations("    ", out);
        out.push_str("}\n");
    };
    match &server.tls {
        None => {
            let _ = write!(
                out,
                "server {{\n    listen {};\n    server_name {names};\n",
                server.listen
            );
            body(out);
        }
        Some(tls) => {
            let _ = write!(
                out,
                "server {{\n    listen {listen};\n    server_name {names};\n\n    \
                 return 301 https://$host$request_uri;\n}}\n\n\
                 server {{\n    listen {https} ssl;\n    server_name {names};\n\n    \
                 ssl_certificate {cert};\n    ssl_certificate_key {key};\n    \
                 ssl_protocols TLSv1.2 TLSv1.3;\n",
                listen = server.listen,
                https = https_listen(&server.listen),
                cert = tls.certificate,
                key = tls.key,
            );
            body(out);
        }
    }
}
