//! A venv built and relocated: it works at its install path, whatever the path's length.

use super::*;

#[test]
fn relocated_venv_works_at_its_install_path() {
    let tmp = tempfile::tempdir().unwrap();
    // a staging path over 127 bytes (pip writes its sh wrapper there) and a
    // short install path (so the result is a plain shebang)
    let stage = tmp.path().join("s".repeat(120));
    let install = tmp.path().join("venv-wechat");
    let spec = write_spec(tmp.path(), &install);
    let req = write_requirements(tmp.path(), REQUIREMENTS);
    let out = from_wheelhouse(&spec, &req)
        .args(["--preinstall", "asgiref"])
        .arg("--root")
        .arg(&stage)
        .output()
        .unwrap();
    assert_success(&out);
    let f = facts(&out.stdout);
    assert_eq!(f["venv"], install.to_str().unwrap());
    assert_python_depends(&f);
    assert_eq!(f["architecture"], dpkg_arch());
    assert_eq!(f["compiled"], true);
    let shlibs = shlib_depends(&f);
    // uWSGI links libpython and libc from the system...
    assert!(
        shlibs.iter().any(|d| d.starts_with("libpython3")),
        "{shlibs:?}"
    );
    assert!(
        shlibs.iter().any(|d| d.starts_with("libc6 (>= ")),
        "{shlibs:?}"
    );
    // ...psycopg2-binary bundles libpq in psycopg2_binary.libs: no libpq5,
    // although libpq5 may well be installed here
    assert!(!shlibs.iter().any(|d| d.starts_with("libpq")), "{shlibs:?}");

    let venv = staged(&stage, &install);
    assert_no_trace(&venv, &stage);
    assert_eq!(
        head(&venv.join("bin/django-admin"), 200)
            .lines()
            .next()
            .unwrap(),
        format!("#!{}/bin/python", install.display())
    );
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    assert!(
        cfg.contains(&format!(
            "command = /usr/bin/python3 -m venv {}\n",
            install.display()
        )),
        "{cfg}"
    );
    let mode = fs::metadata(&venv).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755);
    // nothing but the venv in its parent (no temporary directory left)
    assert_eq!(fs::read_dir(venv.parent().unwrap()).unwrap().count(), 1);
    install_and_use(&stage, &install);
}

#[test]
fn long_install_path_gets_the_sh_wrapper_and_works() {
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let install = tmp.path().join("l".repeat(130)).join("venv-wechat");
    assert!(install.as_os_str().len() > 127);
    let spec = write_spec(tmp.path(), &install);
    let req = write_requirements(tmp.path(), REQUIREMENTS);
    let out = mkvenv()
        .arg(&spec)
        .args(["-r".as_ref(), req.as_os_str()])
        .arg("--find-links")
        .arg(wheelhouse())
        .args(["--no-index", "--upgrade-pip", "--root"])
        .arg(&stage)
        .output()
        .unwrap();
    assert_success(&out);
    assert_python_depends(&facts(&out.stdout));
    let venv = staged(&stage, &install);
    assert_no_trace(&venv, &stage);
    for script in ["django-admin", "pip"] {
        assert!(
            head(&venv.join("bin").join(script), 400).starts_with(&format!(
                "#!/bin/sh\n'''exec' {}/bin/python \"$0\" \"$@\"\n' '''\n",
                install.display()
            )),
            "{script}"
        );
    }
    install_and_use(&stage, &install);
    let pip = Command::new(install.join("bin/pip"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&pip.stdout).starts_with("pip 24.3.1 "));
}
