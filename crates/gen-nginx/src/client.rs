//! Who the client is, as the app sees it: nginx's own view, never what the
//! client says about itself.
//!
//! nginx passes every request header to uWSGI as an `HTTP_*` parameter,
//! unless a `uwsgi_param` of the same `HTTP_*` name is set in the location:
//! then the client's header of that name (any case, `-` or `_`) is dropped.
//! So each forwarding header an app or a library may read is either set to
//! nginx's value, or declared empty with `if_not_empty`, which sends
//! nothing and still drops the client's copy.
//!
//! `REMOTE_ADDR` comes from `uwsgi_params` (`$remote_addr`). With
//! `trusted_proxies`, the real-ip module replaces `$remote_addr` by the
//! right-most address of `X-Forwarded-For` that is not a trusted proxy, so a
//! client cannot forge it through the load balancer either; the app still
//! sees only nginx's resolved address.
//!
//! The scheme: `uwsgi_params` sends `HTTPS=on` over TLS (uWSGI then sets
//! `wsgi.url_scheme` to `https`), and `X-Forwarded-Proto` is `$scheme`,
//! the header the settings overlay names in `SECURE_PROXY_SSL_HEADER` when
//! `server.tls` is set. Both say what nginx itself was spoken to with.

use std::fmt::Write as _;

use debpipe_core::AppSpec;

/// Forwarding headers set to nginx's view of the request, as `uwsgi_param`
/// name and nginx variable.
pub const SET: &[(&str, &str)] = &[
    ("HTTP_X_FORWARDED_FOR", "$remote_addr"),
    (AppSpec::CLIENT_ADDR_PARAM, "$remote_addr"),
    ("HTTP_X_FORWARDED_PROTO", "$scheme"),
    ("HTTP_X_FORWARDED_HOST", "$host"),
    ("HTTP_X_FORWARDED_PORT", "$server_port"),
];

/// Headers that name the client or the scheme in other spellings (RFC 7239
/// `Forwarded`, the ones django-ipware and others read): never passed.
pub const DROPPED: &[&str] = &[
    "HTTP_FORWARDED",
    "HTTP_FORWARDED_FOR",
    "HTTP_X_FORWARDED",
    "HTTP_X_FORWARDED_SERVER",
    "HTTP_X_FORWARDED_SSL",
    "HTTP_X_FORWARDED_SCHEME",
    "HTTP_X_URL_SCHEME",
    "HTTP_X_CLIENT_IP",
    "HTTP_CLIENT_IP",
    "HTTP_X_CLUSTER_CLIENT_IP",
    "HTTP_TRUE_CLIENT_IP",
    "HTTP_CF_CONNECTING_IP",
    "HTTP_FASTLY_CLIENT_IP",
    "HTTP_X_ORIGINAL_FORWARDED_FOR",
];

/// The `uwsgi_param` lines of the app's location, after `include
/// uwsgi_params;`.
pub fn params(ind: &str, out: &mut String) {
    let _ = writeln!(
        out,
        "{ind}# The app sees nginx's view of the client: the client's own X-Forwarded-*\n\
         {ind}# and similar headers never reach it (a uwsgi_param HTTP_X drops header X)."
    );
    for (name, var) in SET {
        let _ = writeln!(out, "{ind}uwsgi_param {name} {var};");
    }
    for name in DROPPED {
        let _ = writeln!(out, "{ind}uwsgi_param {name} \"\" if_not_empty;");
    }
}

/// The HTTP header a `uwsgi_param` name stands for: `HTTP_X_REAL_IP` is
/// `X-Real-Ip` (header names are case-blind).
pub fn header_name(param: &str) -> String {
    param
        .trim_start_matches("HTTP_")
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_string() + &c.as_str().to_ascii_lowercase()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The `proxy_set_header` lines of a location passed on over HTTP (the
/// ASGI server): the same headers as [`params`], set to nginx's view or,
/// set empty, not passed at all (an empty `proxy_set_header` drops the
/// client's header).
pub fn proxy_headers(ind: &str, out: &mut String) {
    let _ = writeln!(
        out,
        "{ind}# The app sees nginx's view of the client: the client's own X-Forwarded-*\n\
         {ind}# and similar headers never reach it (an empty proxy_set_header drops header X)."
    );
    let _ = writeln!(out, "{ind}proxy_set_header Host $host;");
    for (name, var) in SET {
        let _ = writeln!(out, "{ind}proxy_set_header {} {var};", header_name(name));
    }
    for name in DROPPED {
        let _ = writeln!(out, "{ind}proxy_set_header {} \"\";", header_name(name));
    }
}

/// The real-ip directives for `trusted_proxies` (none without them).
pub fn real_ip(spec: &AppSpec, ind: &str, out: &mut String) {
    if spec.trusted_proxies.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{ind}# Behind these proxies the client is the right-most untrusted X-Forwarded-For entry."
    );
    for cidr in &spec.trusted_proxies {
        let _ = writeln!(out, "{ind}set_real_ip_from {cidr};");
    }
    let _ = writeln!(
        out,
        "{ind}real_ip_header X-Forwarded-For;\n{ind}real_ip_recursive on;"
    );
}
