//! What dpkg-deb, dpkg and lintian make of mkdeb's package: contents,
//! byte-for-byte equality, md5sums, install and purge, lintian's errors.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::{
    CONTROL, PKG, build_with_dpkg_deb, build_with_mkdeb, contents, control_area, have, long_path,
    nix_root, run, scratch_tree, unpack, write,
};

#[test]
fn dpkg_deb_reads_it_and_lists_what_dpkg_deb_builds() {
    if !have("dpkg-deb") {
        return;
    }
    let (d, root) = scratch_tree();
    for format in ["xz", "gzip", "zstd", "none"] {
        let ours = build_with_mkdeb(&root, &d.path().join(format!("ours-{format}.deb")), format);
        let theirs = build_with_dpkg_deb(
            &root,
            &d.path().join(format!("theirs-{format}.deb")),
            format,
        );
        let listing = contents(&ours);
        assert_eq!(listing, contents(&theirs), "{format}");
        // Beyond the listing: the data tar is byte for byte dpkg-deb's.
        let tar = |deb: &Path| run("dpkg-deb", &["--fsys-tarfile".as_ref(), deb.as_os_str()]);
        assert!(tar(&ours) == tar(&theirs), "{format}: data.tar differs");
        let ar = run("ar", &["t".as_ref(), ours.as_os_str()]);
        let ext = match format {
            "xz" => ".xz",
            "gzip" => ".gz",
            "zstd" => ".zst",
            _ => "",
        };
        assert_eq!(
            String::from_utf8(ar).unwrap(),
            format!("debian-binary\ncontrol.tar{ext}\ndata.tar{ext}\n")
        );
    }
    let ours = d.path().join("ours-xz.deb");
    let listing = contents(&ours).join("\n");
    let long = long_path();
    for want in [
        "drwxr-xr-x root/root 0 ./".to_string(),
        format!("-rw-r--r-- root/root 5 ./{long}"),
        format!(
            "hrw-r--r-- root/root 0 ./usr/lib/{PKG}/app.py link to ./usr/lib/{PKG}/app-hardlink.py"
        ),
        format!("drwxr-xr-x root/root 0 ./usr/lib/{PKG}/empty/"),
        format!("-rw-r--r-- root/root 7 ./usr/lib/{PKG}/file with spaces.txt"),
        format!("-rwxr-xr-x root/root 19 ./usr/lib/{PKG}/run"),
        format!("lrwxrwxrwx root/root 0 ./usr/lib/{PKG}/link-long -> /{long}"),
    ] {
        assert!(listing.contains(&want), "missing {want:?} in\n{listing}");
    }

    // --info, and the control member's files and modes.
    let info = String::from_utf8(run("dpkg-deb", &["--info".as_ref(), ours.as_os_str()])).unwrap();
    for want in [
        "Package: debpipe-mkdeb-test",
        "Installed-Size: ",
        "md5sums",
        "postinst",
        "conffiles",
    ] {
        assert!(info.contains(want), "{want} not in\n{info}");
    }
    let ctrl = run("dpkg-deb", &["--ctrl-tarfile".as_ref(), ours.as_os_str()]);
    let ctrl_dir = d.path().join("ctrl.tar");
    fs::write(&ctrl_dir, ctrl).unwrap();
    let listing = String::from_utf8(run("tar", &["tvf".as_ref(), ctrl_dir.as_os_str()])).unwrap();
    let modes: Vec<(&str, &str)> = listing
        .lines()
        .map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            (t[0], t[5])
        })
        .collect();
    assert_eq!(
        modes,
        [
            ("drwxr-xr-x", "./"),
            ("-rw-r--r--", "./conffiles"),
            ("-rw-r--r--", "./control"),
            ("-rw-r--r--", "./md5sums"),
            ("-rwxr-xr-x", "./postinst"),
            ("-rwxr-xr-x", "./prerm"),
        ]
    );

    // -x extracts the same files.
    let x = unpack("-x", &ours, d.path().join("x"));
    assert_eq!(fs::read_to_string(x.join(&long)).unwrap(), "long\n");
    assert_eq!(
        fs::read_link(x.join(format!("usr/share/{PKG}/run"))).unwrap(),
        Path::new(&format!("../lib/{PKG}/run"))
    );
    assert!(x.join(format!("usr/lib/{PKG}/empty")).is_dir());
}

/// `md5sum -c` in `root` agrees with every line of `md5sums`.
#[track_caller]
fn assert_md5sum_agrees(md5sums: &Path, root: &Path) {
    let o = Command::new("md5sum")
        .arg("-c")
        .arg("--quiet")
        .arg(md5sums)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

/// With Installed-Size and md5sums already in DEBIAN/, mkdeb adds nothing,
/// and -Znone leaves no compressor to differ: the whole .deb (ar headers,
/// both tars) must be dpkg-deb's.
#[test]
fn uncompressed_package_is_byte_for_byte_dpkg_debs_given_the_same_control_area() {
    if !have("dpkg-deb") {
        return;
    }
    let (d, root) = scratch_tree();
    let e = control_area(&root, d.path(), "none");
    fs::copy(e.join("md5sums"), root.join("DEBIAN/md5sums")).unwrap();
    fs::copy(e.join("control"), root.join("DEBIAN/control")).unwrap();
    let ours = build_with_mkdeb(&root, &d.path().join("ours.deb"), "none");
    let theirs = build_with_dpkg_deb(&root, &d.path().join("theirs.deb"), "none");
    assert!(fs::read(ours).unwrap() == fs::read(theirs).unwrap());
}

/// What mkdeb adds to the control area: md5sums (sorted, every regular
/// file but the conffile, as md5sum checks them) and Installed-Size (where
/// dpkg-gencontrol puts it, counted as dpkg-deb counts).
#[test]
fn md5sums_and_installed_size_are_generated() {
    if !have("dpkg-deb") {
        return;
    }
    let (d, root) = scratch_tree();
    let e = control_area(&root, d.path(), "gzip");
    let sums = fs::read_to_string(e.join("md5sums")).unwrap();
    let paths: Vec<&str> = sums.lines().map(|l| &l[34..]).collect();
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    assert_eq!(paths, sorted);
    // Every regular file (hard link included) but the conffile.
    assert_eq!(paths.len(), 7, "{sums}");
    assert!(!sums.contains("app.conf"));
    assert!(sums.contains(&format!("  usr/lib/{PKG}/app-hardlink.py\n")));
    assert!(sums.contains(&format!("  usr/lib/{PKG}/file with spaces.txt\n")));
    // md5sum itself agrees.
    assert_md5sum_agrees(&e.join("md5sums"), &root);

    // Installed-Size right after Maintainer, as dpkg-gencontrol puts it; the
    // other fields in their order. 1 KiB for each directory (14 with the
    // root and DEBIAN/), each file and symlink rounded up to KiB, the hard
    // link once, big.bin 3 KiB, the control area's 4 files 1 each.
    let control = fs::read_to_string(e.join("control")).unwrap();
    let dirs = 14;
    let files = 1 + 1 + 1 + 1 + 1 + 3 + 1; // conf, copyright, app.py, run, spaces, big, long
    let links = 3;
    let debian = 4;
    let want = CONTROL.replace(
        "Section: misc\n",
        &format!(
            "Installed-Size: {}\nSection: misc\n",
            dirs + files + links + debian
        ),
    );
    assert_eq!(control, want);
}

/// Many files over several 1 MiB chunks: the MD5s are computed eight
/// files at a time from the chunks, so files that straddle chunks, a
/// file bigger than a chunk and empty files must all come out right.
#[test]
fn md5sums_of_a_many_chunk_tree_agree_with_md5sum() {
    if !have("dpkg-deb") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    write(&root, "DEBIAN/control", CONTROL, 0o644);
    let mut x: u32 = 12_345;
    let mut sizes: Vec<usize> = (0..150)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 8) as usize % 70_000
        })
        .collect();
    sizes.extend([0, 1, 64, 1 << 20, (1 << 20) + 1, 2_500_000, 0]);
    for (i, size) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..*size)
            .map(|j| ((j * 7 + i * 13 + j / 251) % 256).to_le_bytes()[0])
            .collect();
        let p = root.join(format!("usr/share/{PKG}/f{i:03}"));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }
    let e = control_area(&root, d.path(), "none");
    let sums = fs::read_to_string(e.join("md5sums")).unwrap();
    assert_eq!(sums.lines().count(), sizes.len());
    assert_md5sum_agrees(&e.join("md5sums"), &root);
}

#[test]
fn installs_verifies_and_purges_with_dpkg() {
    if !have("dpkg") || !nix_root() {
        return;
    }
    let (d, root) = scratch_tree();
    // gzip too: its independent members must read as one stream.
    for format in ["xz", "gzip"] {
        let deb = build_with_mkdeb(&root, &d.path().join(format!("p-{format}.deb")), format);
        let _ = Command::new("dpkg").args(["-P", PKG]).output();
        run("dpkg", &["-i".as_ref(), deb.as_os_str()]);
        let sums = fs::read_to_string(format!("/var/lib/dpkg/info/{PKG}.md5sums"));
        let verify = Command::new("dpkg")
            .args(["--verify", PKG])
            .output()
            .unwrap();
        let purge = Command::new("dpkg").args(["-P", PKG]).output().unwrap();
        assert!(
            sums.is_ok_and(|s| s.lines().count() == 7),
            "{format}: md5sums"
        );
        assert!(
            verify.status.success() && verify.stdout.is_empty(),
            "{format}: {verify:?}"
        );
        assert!(purge.status.success(), "{format}: {purge:?}");
        assert!(!Path::new(&format!("/usr/lib/{PKG}")).exists());
        assert!(!Path::new(&format!("/etc/{PKG}/app.conf")).exists());
    }
}

#[test]
fn lintian_finds_no_error_that_dpkg_deb_build_lacks() {
    if !have("lintian") || !have("dpkg-deb") {
        return;
    }
    let (d, root) = scratch_tree();
    let errors = |deb: &Path| -> std::collections::BTreeSet<String> {
        let o = Command::new("lintian")
            .args(["--no-cfg", "--tag-display-limit", "0"])
            .arg(deb)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.starts_with("E: "))
            .map(|l| l.split_whitespace().nth(2).unwrap_or(l).to_string())
            .collect()
    };
    let ours = errors(&build_with_mkdeb(&root, &d.path().join("ours.deb"), "xz"));
    let theirs = errors(&build_with_dpkg_deb(
        &root,
        &d.path().join("theirs.deb"),
        "xz",
    ));
    // The tree has no changelog: proof that lintian ran and was parsed.
    assert!(theirs.contains("no-changelog"), "{theirs:?}");
    let extra: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        extra.is_empty(),
        "lintian errors only in mkdeb's build: {extra:?}"
    );
}
