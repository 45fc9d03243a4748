//! Static files through real nginx: a year of `immutable` caching for
//! manifest-hashed names only, and precompressed `.gz` siblings served to
//! clients that accept gzip.

use std::io::Write as _;

use crate::{Mode, Site};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut c = std::process::Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(data).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn hashed_static_names_are_immutable_and_gz_siblings_are_served_to_gzip_clients() {
    let css = b"body { color: #333; }\n".repeat(200);
    let gz = gzip(&css);
    let site = Site::start("dpt-gen-nginx-static", Mode::Server, |app| {
        let dir = Site::static_dir(app);
        let spec = Site::static_spec(app);
        for name in ["app.3f2a9c1b7e4d.css", "app.css", "app.3f2a9c1b7e4.css"] {
            std::fs::write(dir.join(name), &css).unwrap();
            std::fs::write(dir.join(format!("{name}.gz")), &gz).unwrap();
        }
        // Django hashes a name without extension as NAME.HASH.
        std::fs::write(dir.join("LICENSE.0123456789ab"), "license\n").unwrap();
        let media = app.dir.path().join("media");
        std::fs::create_dir_all(&media).unwrap();
        std::fs::write(media.join("upload.3f2a9c1b7e4d.css"), "upload\n").unwrap();
        format!(
            r#"{spec},"media":{{"url":"/media/","dir":"{}"}},"server":{{"listen":"80","server_name":["app.test"]}}"#,
            media.display()
        )
    });
    let url = |p: &str| format!("http://app.test{p}");
    let gzip_ok = ["-H", "Accept-Encoding: gzip"];

    // A hashed name: immutable, the .gz bytes with Content-Encoding to a
    // client that accepts gzip (also through a proxy that adds Via), the
    // plain bytes to one that does not.
    let hashed = url("/static/app.3f2a9c1b7e4d.css");
    for via in [None, Some("Via: 1.1 lb.example")] {
        let mut args = gzip_ok.to_vec();
        if let Some(v) = via {
            args.extend(["-H", v]);
        }
        args.push(&hashed);
        let r = site.curl(&args);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            r.header("Content-Encoding"),
            Some("gzip"),
            "via {via:?}: {}",
            r.head
        );
        assert_eq!(r.body, gz, "via {via:?}: not the .gz file's bytes");
        assert_eq!(r.header("Cache-Control"), Some(IMMUTABLE), "{}", r.head);
        assert_eq!(r.header("Vary"), Some("Accept-Encoding"), "{}", r.head);
    }
    let r = site.curl(&[&hashed]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("Content-Encoding"), None, "{}", r.head);
    assert_eq!(r.body, css);
    assert_eq!(r.header("Cache-Control"), Some(IMMUTABLE), "{}", r.head);

    let r = site.curl(&[&url("/static/LICENSE.0123456789ab")]);
    assert_eq!(r.header("Cache-Control"), Some(IMMUTABLE), "{}", r.head);

    // Unhashed names (and 11 hex digits are no hash): short caching.
    for name in ["app.css", "app.3f2a9c1b7e4.css"] {
        let u = url(&format!("/static/{name}"));
        let r = site.curl(&[gzip_ok[0], gzip_ok[1], &u]);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            r.header("Cache-Control"),
            Some("public, max-age=60"),
            "{name}: {}",
            r.head
        );
        assert_eq!(
            r.header("Content-Encoding"),
            Some("gzip"),
            "{name}: {}",
            r.head
        );
    }

    // Uploads are the users' files: no caching promise, whatever the name.
    let r = site.curl(&[&url("/media/upload.3f2a9c1b7e4d.css")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("Cache-Control"), None, "{}", r.head);
    assert_eq!(r.body, b"upload\n");
}
