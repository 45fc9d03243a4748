//! The app sees nginx's view of the client: a real request through real
//! nginx and uWSGI to an app that echoes its WSGI environ.

use crate::{Mode, Site};

const ENVIRON: &str = "http://app.test/api/scratch/environ";

/// Headers a client may send to pass itself off as someone else, or as
/// having come over HTTPS.
const FORGED: &[&str] = &[
    "X-Forwarded-For: 6.6.6.6",
    "X-Real-IP: 6.6.6.6",
    "X-Forwarded-Proto: https",
    "X-Forwarded-Host: evil.test",
    "X-Forwarded-Port: 66666",
    "X-Forwarded-Ssl: on",
    "Forwarded: for=6.6.6.6;proto=https;host=evil.test",
    "X-Client-IP: 6.6.6.6",
    "True-Client-IP: 6.6.6.6",
    "CF-Connecting-IP: 6.6.6.6",
];

fn forged_from(source: &str) -> Vec<&str> {
    let mut args = vec!["--interface", source];
    for h in FORGED {
        args.extend(["-H", h]);
    }
    args.push(ENVIRON);
    args
}

fn str_of<'a>(env: &'a serde_json::Map<String, serde_json::Value>, k: &str) -> &'a str {
    env.get(k).and_then(|v| v.as_str()).unwrap_or("<missing>")
}

/// Every forged header is replaced by nginx's value or dropped: the address
/// is the peer's (127.0.0.1 or 127.0.0.2, nginx's `$remote_addr`), the
/// scheme plain HTTP, the host and port nginx's.
fn forged_headers_never_reach_the_app(mode: Mode, package: &str) {
    let site = Site::start(package, mode, |_| {
        if mode == Mode::Server {
            r#""server":{"listen":"80","server_name":["app.test"]}"#.into()
        } else {
            String::new()
        }
    });
    for peer in ["127.0.0.1", "127.0.0.2"] {
        let env = site.environ(&forged_from(peer));
        let leaked: Vec<_> = env
            .iter()
            .filter(|(_, v)| {
                let v = v.as_str().unwrap_or("");
                v.contains("6.6.6.6") || v.contains("evil.test") || v.contains("66666")
            })
            .collect();
        assert!(
            leaked.is_empty(),
            "{mode:?} {peer}: forged values reached the app: {leaked:?}"
        );
        for (k, want) in [
            ("REMOTE_ADDR", peer),
            ("HTTP_X_FORWARDED_FOR", peer),
            ("HTTP_X_REAL_IP", peer),
            ("HTTP_X_FORWARDED_PROTO", "http"),
            ("wsgi.url_scheme", "http"),
            ("HTTP_X_FORWARDED_HOST", "app.test"),
            ("HTTP_X_FORWARDED_PORT", "80"),
        ] {
            assert_eq!(str_of(&env, k), want, "{mode:?} {peer}: {k} in {env:?}");
        }
        for k in [
            "HTTPS",
            "HTTP_FORWARDED",
            "HTTP_X_FORWARDED_SSL",
            "HTTP_X_CLIENT_IP",
        ] {
            assert!(!env.contains_key(k), "{mode:?} {peer}: {k} in {env:?}");
        }
    }
}

#[test]
fn forged_forwarding_headers_never_reach_the_app_through_a_server_block() {
    forged_headers_never_reach_the_app(Mode::Server, "dpt-gen-nginx-forged-server");
}

#[test]
fn forged_forwarding_headers_never_reach_the_app_through_a_snippet() {
    forged_headers_never_reach_the_app(Mode::Snippet, "dpt-gen-nginx-forged-snippet");
}

/// With 127.0.0.2 as the trusted proxy, its `X-Forwarded-For` gives the
/// client (the right-most entry that is not a trusted proxy, so a client
/// cannot forge one through it); a request from 127.0.0.1, not trusted,
/// is the peer whatever it says.
fn trusted_proxies_give_the_client_address(mode: Mode, package: &str) {
    let site = Site::start(package, mode, |_| {
        let server = if mode == Mode::Server {
            r#","server":{"listen":"80","server_name":["app.test"]}"#
        } else {
            ""
        };
        format!(r#""trusted_proxies":["127.0.0.2/32","::1"]{server}"#)
    });
    for (peer, xff, want) in [
        ("127.0.0.2", "6.6.6.6", "6.6.6.6"),
        // The client sent 1.2.3.4 to the proxy, which appended its peer.
        ("127.0.0.2", "1.2.3.4, 6.6.6.6", "6.6.6.6"),
        // Two hops through trusted proxies (real_ip_recursive).
        ("127.0.0.2", "6.6.6.6, 127.0.0.2", "6.6.6.6"),
        ("127.0.0.1", "6.6.6.6", "127.0.0.1"),
    ] {
        let h = format!("X-Forwarded-For: {xff}");
        let env = site.environ(&["--interface", peer, "-H", &h, ENVIRON]);
        for k in ["REMOTE_ADDR", "HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP"] {
            assert_eq!(
                str_of(&env, k),
                want,
                "{mode:?} from {peer}, XFF {xff}: {k}"
            );
        }
    }
}

#[test]
fn trusted_proxies_give_the_client_address_through_a_server_block() {
    trusted_proxies_give_the_client_address(Mode::Server, "dpt-gen-nginx-realip-server");
}

#[test]
fn trusted_proxies_give_the_client_address_through_a_snippet() {
    trusted_proxies_give_the_client_address(Mode::Snippet, "dpt-gen-nginx-realip-snippet");
}
