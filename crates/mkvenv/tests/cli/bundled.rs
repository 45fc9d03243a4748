//! Bundled libraries in the facts, and `no_binary` (built from source, a manylinux wheel refused).

use super::*;

/// The `bundled_libraries` of the facts, as (project, dir, libraries).
fn bundles(f: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    f["bundled_libraries"]
        .as_array()
        .expect("facts list bundled_libraries")
        .iter()
        .map(|b| {
            let s = |k: &str| b[k].as_str().unwrap().to_string();
            let libs = b["libraries"].as_array().unwrap();
            let libs = libs.iter().map(|l| l.as_str().unwrap().to_string());
            (s("project"), s("dir"), libs.collect())
        })
        .collect()
}

/// Issue 20: a wheel bundling OpenSSL, libcurl and krb5 (`pycurl.libs/`)
/// went in silently. psycopg2-binary's and Pillow's manylinux wheels bundle
/// theirs in `<name>.libs/` the same way.
#[test]
fn regression_20_bundled_libraries_are_in_the_facts_with_one_warning_per_wheel() {
    let (tmp, stage, install, spec) = scratch();
    let req = write_requirements(tmp.path(), "psycopg2-binary==2.9.13\npillow==13.0.0\n");
    let out = build_offline(&spec, &req, &[wheelhouse(), binary_wheelhouse()], &stage);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let f = facts(&out.stdout);
    let found = bundles(&f);
    let projects: Vec<(&str, &str)> = found
        .iter()
        .map(|(p, d, _)| (p.as_str(), d.as_str()))
        .collect();
    assert_eq!(
        projects,
        [
            ("pillow", "pillow.libs"),
            ("psycopg2-binary", "psycopg2_binary.libs")
        ],
        "{f}"
    );
    // the very files in the directories, sorted
    let venv = staged(&stage, &install);
    let site = venv.join(format!("lib/python{}/site-packages", python_version()));
    for (_, dir, libs) in &found {
        let mut on_disk: Vec<String> = fs::read_dir(site.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".so"))
            .collect();
        on_disk.sort();
        assert_eq!(libs, &on_disk, "{dir}");
    }
    let psycopg_libs = &found[1].2;
    for lib in ["libpq-", "libssl-", "libcrypto-"] {
        assert!(
            psycopg_libs.iter().any(|l| l.starts_with(lib)),
            "{lib} in {psycopg_libs:?}"
        );
    }
    // one warning line per wheel, naming the wheel and its libraries
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("mkvenv: warning: "))
        .collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    // named as the wheelhouse names the file
    let wheel = fs::read_dir(wheelhouse())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.starts_with("psycopg2_binary-"))
        .unwrap();
    let psycopg = warnings
        .iter()
        .find(|l| l.starts_with(&format!("mkvenv: warning: {wheel} bundles its own ")))
        .unwrap_or_else(|| panic!("no warning naming {wheel}: {stderr}"));
    assert!(
        psycopg_libs.iter().all(|l| psycopg.contains(l.as_str())),
        "{psycopg}"
    );
    assert!(
        psycopg.contains("manylinux")
            && psycopg.contains("security updates never reach")
            && psycopg.contains(r#""no_binary": ["psycopg2-binary"]"#),
        "{psycopg}"
    );
    // the same venv gives the same facts
    let again = build_offline(&spec, &req, &[wheelhouse(), binary_wheelhouse()], &stage);
    assert!(again.status.success());
    assert_eq!(
        facts(&again.stdout)["bundled_libraries"],
        f["bundled_libraries"]
    );
}

/// A `no_binary` project whose wheel in the wheelhouse is a manylinux one
/// (the wheelhouse was filled before `no_binary` named it) is refused before
/// pip runs, naming the wheel.
#[test]
fn no_binary_refuses_a_manylinux_wheel_naming_it_and_stages_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let spec = write_spec_with(
        tmp.path(),
        &tmp.path().join("venv-wechat"),
        r#","no_binary":["psycopg2-binary"]"#,
    );
    let req = write_requirements(tmp.path(), REQUIREMENTS);
    let out = build_offline(&spec, &req, &[wheelhouse()], &stage);
    let stderr = assert_fails(&out, 1);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let wheel = fs::read_dir(wheelhouse())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("psycopg2_binary-"))
        .unwrap();
    assert!(
        stderr.starts_with(&format!(
            "mkvenv: error: {}: a binary wheel (manylinux",
            wheel.display()
        )) && stderr.contains("rerun `make wheels`"),
        "{stderr}"
    );
    let parent = staged(&stage, tmp.path());
    assert!(
        fs::read_dir(&parent).map_or(true, |mut d| d.next().is_none()),
        "staged something"
    );
    // uWSGI's wheel is a source build (linux_<arch>): accepted
    let spec = write_spec_with(
        tmp.path(),
        &tmp.path().join("venv-wechat"),
        r#","no_binary":["uwsgi"]"#,
    );
    let out = build_offline(&spec, &req, &[wheelhouse()], &stage);
    assert_success(&out);
}

/// Built from source (as `make wheels` does for a `no_binary` project),
/// psycopg2-binary links Debian's libpq: no bundled copy, no warning, and
/// `libpq5` in the shared-library Depends.
#[test]
fn no_binary_source_build_depends_on_debians_library() {
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let install = tmp.path().join("venv-wechat");
    let spec = write_spec_with(tmp.path(), &install, r#","no_binary":["psycopg2_binary"]"#);
    let req = write_requirements(tmp.path(), "psycopg2-binary==2.9.13\n");
    let out = build_offline(&spec, &req, &[source_wheelhouse()], &stage);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let f = facts(&out.stdout);
    assert_eq!(f["bundled_libraries"], serde_json::json!([]), "{f}");
    let shlibs = shlib_depends(&f);
    assert!(
        shlibs.iter().any(|d| d.starts_with("libpq5 (>= ")),
        "{shlibs:?}"
    );
    // and it loads Debian's libpq from the staged venv
    let venv = staged(&stage, &install);
    let out = Command::new(venv.join("bin/python"))
        .args(["-c", "import psycopg2; print(psycopg2.__libpq_version__)"])
        .output()
        .unwrap();
    assert_success(&out);
}
