//! `scripts/stage-venv`: the staged venv is kept across restaging only while
//! it is mkvenv's current venv, and the stage it gives is the one `cp -al`
//! gives (same files, same modes and times above the venv).
#![allow(clippy::unwrap_used)] // a failed step should panic

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

const VENV: &str = "/opt/www/venvs/app";

fn stage_venv(action: &str, stage: &Path, venvroot: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/stage-venv");
    let o = Command::new(script)
        .args([
            action.as_ref(),
            stage.as_os_str(),
            venvroot.as_os_str(),
            VENV.as_ref(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// mkvenv's root: the venv and its parents, with a mode and time to keep.
fn make_venvroot(root: &Path, marker: &str) {
    let venv = root.join(VENV.trim_start_matches('/'));
    fs::create_dir_all(venv.join("bin")).unwrap();
    fs::write(venv.join("pyvenv.cfg"), marker).unwrap();
    fs::write(venv.join("bin/python3"), "#!python\n").unwrap();
    let www = root.join("opt/www");
    fs::set_permissions(&www, fs::Permissions::from_mode(0o750)).unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    fs::File::open(&www).unwrap().set_modified(old).unwrap();
}

/// What the package sees above and in the venv: mode and mtime of the
/// parents, content of the venv's files.
fn view(stage: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for p in ["opt", "opt/www", "opt/www/venvs"] {
        let m = fs::metadata(stage.join(p)).unwrap();
        out.push(format!("{p} {:o} {}", m.mode(), m.mtime()));
    }
    let venv = stage.join(VENV.trim_start_matches('/'));
    for f in ["pyvenv.cfg", "bin/python3"] {
        out.push(format!("{f} {}", fs::read_to_string(venv.join(f)).unwrap()));
    }
    out
}

fn ino(p: &Path) -> u64 {
    fs::metadata(p.join(VENV.trim_start_matches('/')).join("pyvenv.cfg"))
        .unwrap()
        .ino()
}

#[test]
fn the_venv_is_kept_only_while_it_is_mkvenvs_and_stages_as_cp_al_does() {
    let d = tempfile::tempdir().unwrap();
    let (venvroot, stage) = (d.path().join("venv"), d.path().join("stage"));
    make_venvroot(&venvroot, "one");
    // First stage: nothing kept, linked as cp -al.
    fs::create_dir_all(stage.join("opt/www/app")).unwrap();
    stage_venv("keep", &stage, &venvroot);
    stage_venv("put", &stage, &venvroot);
    let linked = view(&stage);
    assert_eq!(ino(&stage), ino(&venvroot));
    // A tool writes a new file into the staged venv (stage-django's manage).
    fs::write(stage.join("opt/www/venvs/app/bin/manage"), "m").unwrap();

    // Restage: kept (the same directory comes back), the same view.
    stage_venv("keep", &stage, &venvroot);
    let kept_dir = d.path().join("stage.venv");
    assert!(kept_dir.join("pyvenv.cfg").exists());
    let kept_ino = fs::metadata(&kept_dir).unwrap().ino();
    fs::remove_dir_all(&stage).unwrap();
    fs::create_dir_all(stage.join("opt/www/app")).unwrap();
    stage_venv("put", &stage, &venvroot);
    assert_eq!(view(&stage), linked);
    assert_eq!(
        fs::metadata(stage.join(VENV.trim_start_matches('/')))
            .unwrap()
            .ino(),
        kept_ino
    );
    assert!(!kept_dir.exists());

    // A file left in the staged venv (a killed tool's temporary file, a
    // manual pip install): not kept, linked anew without it.
    fs::write(stage.join("opt/www/venvs/app/bin/.tmp123"), "junk").unwrap();
    stage_venv("keep", &stage, &venvroot);
    assert!(!kept_dir.exists());
    fs::remove_dir_all(&stage).unwrap();
    fs::create_dir_all(stage.join("opt/www/app")).unwrap();
    stage_venv("put", &stage, &venvroot);
    assert!(!stage.join("opt/www/venvs/app/bin/.tmp123").exists());
    assert_eq!(view(&stage), linked);

    // Something already at the venv's path when it goes back: linked anew
    // and merged, as cp -al does, not moved inside it.
    fs::write(stage.join("opt/www/venvs/app/bin/manage"), "m").unwrap();
    stage_venv("keep", &stage, &venvroot);
    fs::remove_dir_all(&stage).unwrap();
    fs::create_dir_all(stage.join("opt/www/venvs/app/extra")).unwrap();
    stage_venv("put", &stage, &venvroot);
    assert!(!kept_dir.exists());
    assert!(!stage.join("opt/www/venvs/app/stage.venv").exists());
    assert!(stage.join("opt/www/venvs/app/extra").is_dir());
    assert_eq!(ino(&stage), ino(&venvroot));

    // A new venv (mkvenv ran again): the stage's is not kept.
    fs::remove_dir_all(&venvroot).unwrap();
    make_venvroot(&venvroot, "two");
    stage_venv("keep", &stage, &venvroot);
    assert!(!kept_dir.exists());
    fs::remove_dir_all(&stage).unwrap();
    fs::create_dir_all(stage.join("opt/www/app")).unwrap();
    stage_venv("put", &stage, &venvroot);
    assert_eq!(ino(&stage), ino(&venvroot));
    assert_eq!(
        fs::read_to_string(stage.join("opt/www/venvs/app/pyvenv.cfg")).unwrap(),
        "two"
    );
}
