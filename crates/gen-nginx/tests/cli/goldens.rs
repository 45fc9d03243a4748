//! The outputs of the specs in `tests/specs/` (production shapes beyond the
//! shared example), and `nginx -t` on every golden file.

use std::path::{Path, PathBuf};

use debpipe_testkit::{NginxWrapper, assert_golden};

use crate::tls::test_ca;
use crate::tool;

/// The certificate paths of `tests/specs/production.json`.
const CERT: &str = "/etc/ssl/certs/shop.example.com.pem";
const KEY: &str = "/etc/ssl/private/shop.example.com.key";

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub)
}

fn sorted(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

#[test]
fn specs_in_tests_dir_give_their_golden_files() {
    let specs = sorted(&dir("specs"), "json");
    assert!(specs.len() >= 2, "{specs:?}");
    for spec in specs {
        let out = tool().cmd().arg(&spec).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            spec.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stem = spec.file_stem().unwrap().to_string_lossy();
        assert_golden(dir("golden").join(format!("{stem}.conf")), &out.stdout);
    }
}

/// Every golden file passes `nginx -t`: a server block at http level (where
/// conf.d files land; its certificate paths pointed at a test CA's), a
/// snippet inside a server block.
#[test]
fn nginx_accepts_every_golden_file() {
    let ca = tempfile::tempdir().unwrap();
    let (_, cert, key) = test_ca(ca.path());
    let work = tempfile::tempdir().unwrap();
    let goldens = sorted(&dir("golden"), "conf");
    assert!(goldens.len() >= 4, "{goldens:?}");
    for golden in goldens {
        let text = std::fs::read_to_string(&golden)
            .unwrap()
            .replace(CERT, cert.to_str().unwrap())
            .replace(KEY, key.to_str().unwrap());
        let conf = work.path().join(golden.file_name().unwrap());
        std::fs::write(&conf, &text).unwrap();
        let http = if text.contains("\nserver {") {
            format!("include {};", conf.display())
        } else {
            format!(
                "server {{ listen 127.0.0.1:8; include {}; }}",
                conf.display()
            )
        };
        NginxWrapper::new(&http)
            .test()
            .unwrap_or_else(|e| panic!("{}: nginx -t: {e}", golden.display()));
    }
}
