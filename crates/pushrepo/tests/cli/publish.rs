//! Publishing: merging, concurrent publishers, --keep and --grace, apt reading the signed repository.

use super::*;

#[test]
fn publish_merges_packages_and_republish_writes_nothing() {
    let repo = Repo::new("merge");
    let a = repo.deb("hello", "1.0", "a");
    let b = repo.deb("world", "2.0+b1~rc1", "b");
    repo.publish_ok(&[], &[&a]);
    repo.publish_ok(&[], &[&b]);
    assert_eq!(repo.listed(), ["hello=1.0", "world=2.0+b1~rc1"]);
    assert!(repo.exists("pool/main/w/world/world_2.0+b1~rc1_amd64.deb"));
    let (_, release) = repo.get("dists/stable/Release");
    assert!(String::from_utf8_lossy(&release).contains("Acquire-By-Hash: yes"));

    // Unchanged: nothing written, not even the lock.
    let keys = [
        "dists/stable/Release",
        "dists/stable/main/binary-amd64/Packages",
        "dists/stable/main/binary-amd64/Packages.gz",
        "dists/stable/pushrepo-pending",
        "pushrepo.lock",
    ];
    let before: Vec<_> = keys.iter().map(|k| repo.get(k)).collect();
    let err = repo.publish_ok(&[], &[&a, &b]);
    assert!(
        err.contains("unchanged (2 packages listed); nothing written"),
        "{err}"
    );
    let after: Vec<_> = keys.iter().map(|k| repo.get(k)).collect();
    assert_eq!(before, after);

    // Same name, other bytes: an error naming the file; nothing changes.
    let a2 = repo.deb("hello", "1.0", "changed");
    let out = repo.publish(&[], &[&a2]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("s3://{BUCKET}/merge/pool/main/h/hello/hello_1.0_amd64.deb: already published with different contents")),
        "{err}"
    );
    assert_eq!(repo.listed(), ["hello=1.0", "world=2.0+b1~rc1"]);
}

#[test]
fn concurrent_publishers_are_all_listed() {
    let repo = Repo::new("concurrent");
    let debs: Vec<PathBuf> = (0..4)
        .map(|i| repo.deb(&format!("pkg{i}"), "1.0", "x"))
        .collect();
    let children: Vec<_> = debs.iter().map(|d| repo.spawn(&[], d)).collect();
    let mut waited = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        waited += usize::from(err.contains("waiting for the lock"));
    }
    assert_eq!(
        repo.listed(),
        ["pkg0=1.0", "pkg1=1.0", "pkg2=1.0", "pkg3=1.0"]
    );
    eprintln!("{waited} of 4 publishers waited for the lock");
}

#[test]
fn keep_2_prunes_the_index_now_and_the_pool_after_grace() {
    let repo = Repo::new("retention");
    let debs: Vec<PathBuf> = (1..=4)
        .map(|v| repo.deb("app", &format!("{v}.0"), "r"))
        .collect();
    let by_hash_of = |repo: &Repo| -> Vec<String> {
        let (_, r) = repo.get("dists/stable/Release");
        let r = String::from_utf8_lossy(&r).into_owned();
        let sha = r.split("SHA512:\n").nth(1).unwrap().to_string();
        sha.lines()
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                format!("dists/stable/main/binary-amd64/by-hash/SHA512/{}", w[0])
            })
            .collect()
    };
    let mut old_by_hash = Vec::new();
    for d in &debs {
        repo.publish_ok(&["--keep", "2", "--grace", "4s"], &[d]);
        old_by_hash.extend(by_hash_of(&repo));
    }
    let current = by_hash_of(&repo);
    old_by_hash.retain(|k| !current.contains(k));
    assert_eq!(repo.listed(), ["app=3.0", "app=4.0"]);
    let pool = |v: u32| format!("pool/main/a/app/app_{v}.0_amd64.deb");
    // Within the grace period, everything an older InRelease named is there.
    assert!((1..=4).all(|v| repo.exists(&pool(v))));
    assert!(
        old_by_hash.iter().all(|k| repo.exists(k)),
        "{old_by_hash:?}"
    );
    // Unchanged while grace runs: still nothing written.
    let err = repo.publish_ok(&["--keep", "2", "--grace", "4s"], &[&debs[3]]);
    assert!(err.contains("nothing written"), "{err}");
    std::thread::sleep(Duration::from_secs(5));
    let err = repo.publish_ok(&["--keep", "2", "--grace", "4s"], &[&debs[3]]);
    assert!(err.contains("deleted after the grace period"), "{err}");
    assert!(!repo.exists(&pool(1)) && !repo.exists(&pool(2)));
    assert!(repo.exists(&pool(3)) && repo.exists(&pool(4)));
    assert!(old_by_hash.iter().all(|k| !repo.exists(k)));
    assert!(current.iter().all(|k| repo.exists(k)));
    assert_eq!(repo.listed(), ["app=3.0", "app=4.0"]);
}

/// apt-get with its own lists, cache and sources, as root without the
/// `_apt` sandbox; `Debug::Acquire::http` shows the URLs it fetches.
fn apt(dir: &Path, args: &[&str]) -> Output {
    let opt = |k: &str, v: &Path| format!("-o{k}={}", v.display());
    for d in ["lists/partial", "cache/archives/partial", "parts", "prefs"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let status = dir.join("status");
    if !status.exists() {
        std::fs::write(&status, "").unwrap();
    }
    Command::new("apt-get")
        .current_dir(dir)
        .args(["-q", "-y"])
        .arg(opt("Dir::Etc::SourceList", &dir.join("sources.list")))
        .arg(opt("Dir::Etc::SourceParts", &dir.join("parts")))
        .arg(opt("Dir::Etc::PreferencesParts", &dir.join("prefs")))
        .arg(opt("Dir::State::Lists", &dir.join("lists")))
        .arg(opt("Dir::Cache", &dir.join("cache")))
        .arg(opt("Dir::State::status", &status))
        .args([
            "-oAPT::Sandbox::User=root",
            "-oAcquire::Languages=none",
            "-oAPT::Architecture=amd64",
            "-oAPT::Architectures::=amd64",
            "-oDebug::Acquire::http=true",
        ])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn apt_reads_the_signed_repository_over_http_by_hash() {
    let repo = Repo::new("apt").signed();
    let a = repo.deb("hello", "1.0", "a");
    let b = repo.deb("world", "1:2.0+b1~rc1", "b");
    repo.publish_ok(&[], &[&a]);
    repo.publish_ok(&[], &[&b]);
    let d = repo.dir.path().join("apt");
    std::fs::create_dir_all(&d).unwrap();
    let g = repo.gpg.as_ref().unwrap();
    let key = Command::new("gpg")
        .arg("--homedir")
        .arg(g.dir.path())
        .args(["--export", GpgHome::UID_EMAIL])
        .output()
        .unwrap()
        .stdout;
    std::fs::write(d.join("key.gpg"), key).unwrap();
    std::fs::write(
        d.join("sources.list"),
        format!(
            "deb [signed-by={}] http://127.0.0.1:{}/{BUCKET}/apt stable main\n",
            d.join("key.gpg").display(),
            repo.s3_port
        ),
    )
    .unwrap();
    let out = apt(&d, &["update"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("W:") && !text.contains("E:"), "{text}");
    assert!(text.contains("/dists/stable/InRelease"), "{text}");
    assert!(
        text.contains("/main/binary-amd64/by-hash/SHA512/"),
        "apt fetched by hash: {text}"
    );
    let out = apt(&d, &["download", "hello", "world"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(d.join("hello_1.0_amd64.deb")).unwrap(),
        std::fs::read(&a).unwrap()
    );
    assert_eq!(
        // apt download names the file with the epoch, %-encoded.
        std::fs::read(d.join("world_1%3a2.0+b1~rc1_amd64.deb")).unwrap(),
        std::fs::read(&b).unwrap()
    );
}
