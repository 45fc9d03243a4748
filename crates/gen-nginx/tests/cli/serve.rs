//! nginx -t and a running nginx serving the app through uWSGI, as a
//! snippet in the admin's server block and as a whole server block.

use std::path::Path;

use debpipe_testkit::{
    NginxWrapper, ScratchApp, fixtures, free_port, http_get, start_uwsgi_as_www_data, wait_until,
};

use crate::generate;

/// `nginx -t` accepts the snippet inside a server block, and the server
/// block alone at http level (where conf.d files land).
#[test]
fn nginx_accepts_snippet_in_server_and_server_block_alone() {
    let dir = tempfile::tempdir().unwrap();
    let snippet = dir.path().join("snippet.conf");
    generate(&fixtures().join("specs/minimal.json"), &snippet);
    let w = NginxWrapper::new(&format!(
        "server {{ listen 127.0.0.1:{}; include {}; }}",
        free_port(),
        snippet.display()
    ));
    w.test().unwrap();

    let server = dir.path().join("server.conf");
    generate(&fixtures().join("specs/example.json"), &server);
    let w = NginxWrapper::new(&format!("include {};", server.display()));
    w.test().unwrap();
}

/// A snippet is not valid at http level: the tool's default output is for
/// inclusion in a server, as documented (guards against emitting the wrong kind).
#[test]
fn snippet_alone_at_http_level_is_refused_by_nginx() {
    let dir = tempfile::tempdir().unwrap();
    let snippet = dir.path().join("snippet.conf");
    generate(&fixtures().join("specs/minimal.json"), &snippet);
    let w = NginxWrapper::new(&format!("include {};", snippet.display()));
    let err = w.test().unwrap_err();
    assert!(
        err.contains("\"location\" directive is not allowed here"),
        "{err}"
    );
}

/// Real nginx with the generated server block (and, second, with the
/// snippet inside a server block) passes requests to real uWSGI (running as
/// www-data with the generated ini) through the 0660 socket, serves the
/// static alias, and does not serve files outside it.
#[test]
fn nginx_serves_the_app_through_uwsgi_and_static_files_with_server_block_and_snippet() {
    let app = ScratchApp::new();
    let pkg = "dpt-gen-nginx-serve";
    let port = free_port();
    let static_dir = app.dir.path().join("static");
    std::fs::create_dir_all(&static_dir).unwrap();
    std::fs::write(static_dir.join("hello.txt"), "static hello\n").unwrap();
    let spec_text = app.spec(
        pkg,
        &format!(
            r#""user":"www-data","group":"www-data","static":{{"url":"/static/","dir":"{}"}},"server":{{"listen":"127.0.0.1:{port}","server_name":["app.test"]}}"#,
            static_dir.display()
        ),
    );
    let spec = app.dir.path().join("app.json");
    std::fs::write(&spec, spec_text).unwrap();

    let ini = app.dir.path().join("app.ini");
    // The ini as gen-uwsgi renders it (a sibling package: use its library).
    let parsed = debpipe_core::AppSpec::from_json(&spec, &std::fs::read(&spec).unwrap()).unwrap();
    std::fs::write(&ini, gen_uwsgi::render(&parsed)).unwrap();
    let _uwsgi = start_uwsgi_as_www_data(&ini, pkg);

    let server = app.dir.path().join("server.conf");
    generate(&spec, &server);
    let w = NginxWrapper::new(&format!("include {};", server.display()));
    w.test().unwrap();
    let _nginx = w.start();

    let ok = wait_until(20, || {
        http_get(port, "app.test", "/api/scratch/ping").is_ok_and(|r| r.contains(" 200 "))
    });
    let resp = http_get(port, "app.test", "/api/scratch/ping").unwrap_or_default();
    assert!(
        ok,
        "no 200 through nginx: {resp}\n{}",
        std::fs::read_to_string(w.dir.path().join("error.log")).unwrap_or_default()
    );
    assert!(resp.contains(r#""path": "/api/scratch/ping""#), "{resp}");

    let resp = http_get(port, "app.test", "/static/hello.txt").unwrap();
    assert!(
        resp.contains(" 200 ") && resp.ends_with("static hello\n"),
        "{resp}"
    );
    let resp = http_get(port, "app.test", "/static../scratch/pro_setting/wsgi.py").unwrap();
    assert!(
        !resp.contains("def application"),
        "alias traversal served source: {resp}"
    );

    // The default output, a snippet, included in a server block of the
    // admin's: the same app through a second nginx.
    let snippet_spec = app.dir.path().join("snippet.json");
    std::fs::write(
        &snippet_spec,
        app.spec(
            pkg,
            &format!(
                r#""static":{{"url":"/static/","dir":"{}"}}"#,
                static_dir.display()
            ),
        ),
    )
    .unwrap();
    let snippet = app.dir.path().join("snippet.conf");
    generate(&snippet_spec, &snippet);
    let port2 = free_port();
    let w2 = NginxWrapper::new(&format!(
        "server {{ listen 127.0.0.1:{port2}; server_name _; include {}; }}",
        snippet.display()
    ));
    w2.test().unwrap();
    let _nginx2 = w2.start();
    let ok = wait_until(20, || {
        http_get(port2, "any.test", "/api/scratch/ping").is_ok_and(|r| r.contains(" 200 "))
    });
    assert!(ok, "no 200 through the snippet");
    let resp = http_get(port2, "any.test", "/static/hello.txt").unwrap();
    assert!(resp.ends_with("static hello\n"), "{resp}");
    let _ = std::fs::remove_dir_all(Path::new("/run").join(pkg));
}
