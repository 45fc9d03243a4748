//! Modes and shebangs of the shipped files, and bundled libraries loading through their loader.

use super::*;

/// Issue 20: pretalx's venv failed with "libfreetype-….so.6.20.4 needs
/// libpng16-….so.16.50.0, which is neither in the venv nor installed":
/// auditwheel's libraries in `pillow.libs/` carry no search path of their
/// own, and ld.so finds their siblings through the extension module that
/// loads them (its `DT_RPATH`, and the objects it already loaded).
#[test]
fn regression_20_bundled_libraries_resolve_through_their_loader() {
    let (tmp, stage, _, spec) = scratch();
    let req = write_requirements(tmp.path(), "pillow==12.0.0\n");
    let out = build_offline(&spec, &req, &[pillow12_wheelhouse()], &stage);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let deps = facts["shlib_depends"].to_string();
    assert!(
        !deps.contains("libpng") && !deps.contains("libfreetype"),
        "{deps}"
    );
}

/// Issue 13: lintian failed a Pillow project's package with 21
/// `shared-library-is-executable`, a `script-uses-unversioned-python-in-shebang`
/// and `executable-not-elf-or-script` on `.po`/`.mo` files, because pip keeps
/// the executable bits of the wheels' zip entries.
#[test]
fn regression_13_only_programs_and_bin_scripts_are_executable() {
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let install = tmp.path().join("venv-wechat");
    build_with_pillow_and_modedemo(tmp.path(), &stage, &install);
    let venv = staged(&stage, &install);
    let bin = venv.join("bin");
    let files = regular_files(&venv);

    // Pillow's and psycopg2's bundled libraries, and the extension modules
    let libs = named_modes(
        &venv,
        files.iter().filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".so") || n.contains(".so.")
        }),
    );
    assert!(
        libs.iter()
            .filter(|(n, _)| n.contains("/pillow.libs/"))
            .count()
            >= 10,
        "Pillow's bundled libraries are missing: {libs:?}"
    );
    assert!(
        libs.iter().all(|(_, mode)| mode == "0644"),
        "shared libraries not 0644: {libs:?}"
    );

    // no unversioned python shebang with an x bit in site-packages, nor
    // without one anywhere (lintian reads it whatever the mode)
    let unversioned: Vec<&PathBuf> = files
        .iter()
        .filter(|p| unversioned_python_shebang(&fs::read(p).unwrap()))
        .collect();
    let in_site_and_executable =
        |p: &&PathBuf| p.to_string_lossy().contains("/site-packages/") && mode_of(p) & 0o111 != 0;
    let site = named_modes(
        &venv,
        unversioned.iter().copied().filter(in_site_and_executable),
    );
    assert!(
        site.is_empty(),
        "executable with an unversioned python shebang: {site:?}"
    );
    let all = named_modes(&venv, unversioned.into_iter());
    assert!(all.is_empty(), "unversioned python shebangs: {all:?}");

    // anything else executable is an ELF file or a bin/ script: not data,
    // not a module, not a script outside bin/
    let odd = named_modes(
        &venv,
        files.iter().filter(|p| {
            let data = fs::read(p).unwrap();
            mode_of(p) & 0o111 != 0
                && !(data.starts_with(b"\x7fELF")
                    || (p.parent() == Some(&bin) && data.starts_with(b"#!")))
        }),
    );
    assert!(odd.is_empty(), "executable data: {odd:?}");
    let demo = named_modes(
        &venv,
        files
            .iter()
            .filter(|p| p.components().any(|c| c.as_os_str() == "modedemo")),
    );
    assert_eq!(demo.len(), 7, "{demo:?}");
    assert!(demo.iter().all(|(_, mode)| mode == "0644"), "{demo:?}");

    // bin/: programs and scripts run, the rest does not
    for script in ["uwsgi", "django-admin", "modedemo-env", "modedemo-plain"] {
        assert_eq!(mode_of(&bin.join(script)), 0o755, "bin/{script}");
    }
    for data in ["activate", "modedemo.conf"] {
        assert_eq!(mode_of(&bin.join(data)), 0o644, "bin/{data}");
    }
    assert_eq!(
        head(&bin.join("modedemo-env"), 200).lines().next().unwrap(),
        format!("#!{}/bin/python", install.display())
    );

    // and the venv works at its install path: the libraries load without an
    // x bit, the rewritten script runs
    install_and_use(&stage, &install);
    let pil = "from PIL import Image, features; print(Image.new('RGB', (1, 1)).size, features.check('jpg'))";
    let out = Command::new(install.join("bin/python"))
        .args(["-c", pil])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "(1, 1) True",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(install.join("bin/modedemo-env"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "env\n");
}
