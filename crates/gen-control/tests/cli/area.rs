//! The control area written: goldens and modes, conffiles from the stage, the seed's hook.

use super::*;

#[test]
fn example_and_minimal_control_match_golden() {
    tool().golden_cases();
}

#[test]
fn example_control_area_matches_golden_with_modes() {
    let dir = tempfile::tempdir().unwrap();
    let area = example_area(dir.path());
    let mut names: Vec<_> = std::fs::read_dir(&area)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["conffiles", "control", "postinst", "postrm", "prerm"]
    );
    for name in &names {
        let path = area.join(name);
        assert_golden(
            golden_dir().join(format!("area/{name}")),
            &std::fs::read(&path).unwrap(),
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        let want = if SCRIPTS.contains(&name.as_str()) {
            0o755
        } else {
            0o644
        };
        assert_eq!(mode, want, "{name}");
    }
}

/// With --root, conffiles lists every file under STAGE/etc and the area
/// lands in STAGE/DEBIAN; Depends has nginx only when its file is staged.
#[test]
fn root_lists_staged_etc_files_as_conffiles() {
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path();
    for f in [
        "etc/init.d/wechat-api",
        "etc/wechat/wechat.yaml",
        "etc/nginx/sites-available/wechat-api.conf",
    ] {
        let p = stage.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x").unwrap();
    }
    let out = cmd()
        .arg(fixtures().join("specs/example.json"))
        .arg("--root")
        .arg(stage)
        .output()
        .unwrap();
    let area = stage.join("DEBIAN");
    assert_prints_path(&out, &area);
    assert_eq!(
        std::fs::read_to_string(area.join("conffiles")).unwrap(),
        "/etc/init.d/wechat-api\n/etc/nginx/sites-available/wechat-api.conf\n/etc/wechat/wechat.yaml\n"
    );
    assert!(
        std::fs::read_to_string(area.join("control"))
            .unwrap()
            .contains("Depends: nginx, ")
    );

    std::fs::remove_file(stage.join("etc/nginx/sites-available/wechat-api.conf")).unwrap();
    assert!(
        cmd()
            .arg(fixtures().join("specs/example.json"))
            .arg("--root")
            .arg(stage)
            .status()
            .unwrap()
            .success()
    );
    let control = std::fs::read_to_string(area.join("control")).unwrap();
    let deps = control
        .lines()
        .find(|l| l.starts_with("Depends: "))
        .unwrap();
    assert!(!deps.contains("nginx"), "{deps}");
}

/// The seed's convention: a staged app with scripts/updateconfig.py and no
/// `config_hook` in the spec gets it run by postinst; without the file,
/// postinst runs no hook.
#[test]
fn seed_hook_runs_by_default_when_the_app_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path();
    let spec = stage.join("app.json");
    std::fs::write(
        &spec,
        r#"{"module":"wechat","version":"1.0","maintainer":"A <a@example.com>"}"#,
    )
    .unwrap();
    let postinst = || {
        let out = cmd().arg(&spec).arg("--root").arg(stage).output().unwrap();
        assert_success(&out);
        std::fs::read_to_string(stage.join("DEBIAN/postinst")).unwrap()
    };
    assert!(postinst().contains("\nCONFIG_HOOK=''\n"));
    let hook = stage.join("opt/www/wechat/scripts/updateconfig.py");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, "print('hi')\n").unwrap();
    assert!(postinst().contains("\nCONFIG_HOOK='scripts/updateconfig.py'\n"));
}
