//! `server.tls`: HTTPS through real nginx to uWSGI with a certificate from a
//! test CA, and plain HTTP answering a redirect to it.

use std::path::{Path, PathBuf};

use debpipe_testkit::{assert_fails, run_ok};

use crate::{Mode, Site, tool};

/// A test CA and a certificate for `app.test` signed by it, in `dir`:
/// (CA certificate, server certificate, server key).
pub fn test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let run = |args: &[&str]| {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(AsRef::as_ref).collect();
        run_ok("openssl", &args);
    };
    let (ca, ca_key, cert, key, csr, ext) = (
        p("ca.pem"),
        p("ca.key"),
        p("app.pem"),
        p("app.key"),
        p("app.csr"),
        p("ext.cnf"),
    );
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    let (ca_s, ca_key_s) = (s(&ca), s(&ca_key));
    a.extend([
        "-keyout",
        &ca_key_s,
        "-out",
        &ca_s,
        "-days",
        "2",
        "-subj",
        "/CN=debpipe test CA",
    ]);
    run(&a);
    let (key_s, csr_s) = (s(&key), s(&csr));
    let mut a = vec!["req"];
    a.extend(ec);
    a.extend(["-keyout", &key_s, "-out", &csr_s, "-subj", "/CN=app.test"]);
    run(&a);
    std::fs::write(&ext, "subjectAltName=DNS:app.test\n").unwrap();
    let (cert_s, ext_s) = (s(&cert), s(&ext));
    run(&[
        "x509",
        "-req",
        "-in",
        &csr_s,
        "-CA",
        &ca_s,
        "-CAkey",
        &ca_key_s,
        "-CAcreateserial",
        "-out",
        &cert_s,
        "-days",
        "2",
        "-extfile",
        &ext_s,
    ]);
    (ca, cert, key)
}

#[test]
fn https_answers_through_nginx_with_a_test_ca_and_http_redirects_to_it() {
    let ca_dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_ca(ca_dir.path());
    let site = Site::start("dpt-gen-nginx-tls", Mode::Server, |_| {
        format!(
            r#""server":{{"listen":"80","server_name":["app.test"],"tls":{{"certificate":"{}","key":"{}"}}}}"#,
            cert.display(),
            key.display()
        )
    });
    let ca = ca.to_str().unwrap();

    // The app knows the request was secure, whatever the client claims.
    for tls_max in ["1.3", "1.2"] {
        let env = site.environ(&[
            "--cacert",
            ca,
            "--tls-max",
            tls_max,
            "-H",
            "X-Forwarded-Proto: http",
            "https://app.test/api/scratch/environ",
        ]);
        for (k, want) in [
            ("HTTPS", "on"),
            ("wsgi.url_scheme", "https"),
            ("HTTP_X_FORWARDED_PROTO", "https"),
            ("HTTP_X_FORWARDED_PORT", "443"),
        ] {
            assert_eq!(
                env.get(k).and_then(|v| v.as_str()),
                Some(want),
                "TLS {tls_max}: {k}"
            );
        }
    }

    // Plain HTTP: a redirect to the same URL over HTTPS, for every path.
    for path in ["/api/scratch/ping?a=1", "/elsewhere"] {
        let r = site.curl(&[&format!("http://app.test{path}")]);
        assert_eq!(r.status, 301, "{r:?}");
        assert_eq!(
            r.header("Location"),
            Some(format!("https://app.test{path}").as_str()),
            "{}",
            r.head
        );
    }

    // The redirect followed lands on the app.
    let r = site.curl(&["--cacert", ca, "-L", "http://app.test/api/scratch/ping"]);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(String::from_utf8_lossy(&r.body).contains(r#""path": "/api/scratch/ping""#));
}

/// With `server.tls`, `listen` is the plain-HTTP address: port 443 there
/// would be two servers on one port, which nginx refuses.
#[test]
fn listen_on_443_with_tls_exits_1_names_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("app.json");
    std::fs::write(
        &spec,
        r#"{"module":"a","version":"1","server":{"listen":"127.0.0.1:443","tls":{"certificate":"/etc/a.pem","key":"/etc/a.key"}}}"#,
    )
    .unwrap();
    let out_file = dir.path().join("out.conf");
    let out = tool()
        .cmd()
        .arg("-o")
        .arg(&out_file)
        .arg(&spec)
        .output()
        .unwrap();
    let err = assert_fails(&out, 1);
    assert!(
        err.starts_with("gen-nginx: error: ") && err.contains("`server.listen`"),
        "{err}"
    );
    assert!(err.contains(&spec.display().to_string()), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!out_file.exists());
}
