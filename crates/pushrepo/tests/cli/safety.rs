//! Readers never see a torn repository: killed servers and holders, lock takeover, stores that ignore conditional writes.

use super::*;

#[test]
fn readers_never_see_a_torn_repository() {
    let repo = Repo::new("torn").signed();
    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let (stop, checks, errors) = (stop.clone(), checks.clone(), errors.clone());
        let (port, prefix) = (repo.s3_port, repo.prefix.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match check(port, &prefix, "stable") {
                    Ok(_) => checks.fetch_add(1, Ordering::SeqCst),
                    Err(e) => {
                        errors.lock().unwrap().push(e);
                        0
                    }
                };
            }
        })
    };
    // 10 publishes: 4 alone, then 3 rounds of 2 at once; --keep 3 rewrites
    // the index on every one.
    let mut version = 0;
    let mut next = |repo: &Repo| {
        version += 1;
        let name = if version % 2 == 0 { "even" } else { "odd" };
        repo.deb(name, &format!("1.{version}"), "p")
    };
    for _ in 0..4 {
        let d = next(&repo);
        repo.publish_ok(&["--keep", "3"], &[&d]);
    }
    for _ in 0..3 {
        let (d1, d2) = (next(&repo), next(&repo));
        let c: Vec<_> = [d1, d2]
            .iter()
            .map(|d| repo.spawn(&["--keep", "3"], d))
            .collect();
        for c in c {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    let errors = errors.lock().unwrap();
    let n = checks.load(Ordering::SeqCst);
    eprintln!("reader: {n} full checks, {} mismatches", errors.len());
    assert!(
        errors.is_empty(),
        "{} mismatches, first: {}",
        errors.len(),
        errors[0]
    );
    assert!(n >= 10, "the reader ran only {n} checks");
    assert_eq!(
        repo.listed(),
        [
            "even=1.10",
            "even=1.6",
            "even=1.8",
            "odd=1.5",
            "odd=1.7",
            "odd=1.9"
        ]
    );
    // Signed: InRelease verifies with the key.
    let (_, inrelease) = repo.get("dists/stable/InRelease");
    let g = repo.gpg.as_ref().unwrap();
    let mut v = Command::new("gpg")
        .arg("--homedir")
        .arg(g.dir.path())
        .args(["--batch", "--verify"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    v.stdin.take().unwrap().write_all(&inrelease).unwrap();
    assert!(v.wait().unwrap().success(), "InRelease signature verifies");
}

#[test]
fn killed_lock_holder_is_taken_over_after_expiry() {
    let repo = Repo::new("takeover").signed();
    // A gpg that hangs: the first publisher holds the lock while "signing".
    let a = repo.deb("first", "1", "a");
    let (mut holder, mark) = spawn_signing(
        &repo,
        |mark| format!("#!/bin/sh\necho $$ > {}\nexec sleep 30\n", mark.display()),
        "3s",
        &a,
        Stdio::null(),
    );
    let lock = String::from_utf8_lossy(&repo.get("pushrepo.lock").1).into_owned();
    let who = format!("pid {}", holder.id());
    assert!(lock.contains(&who), "{lock}");
    holder.kill().unwrap();
    holder.wait().unwrap();
    if let Ok(pid) = std::fs::read_to_string(&mark) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
    // A publisher with a short --wait gives up, naming the holder.
    let b = repo.deb("second", "1", "b");
    let out = repo.publish(&["--wait", "0"], &[&b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("held by") && stderr(&out).contains(&who),
        "{}",
        stderr(&out)
    );
    // One that waits takes it over once it expires.
    let t = Instant::now();
    let err = repo.publish_ok(&["--wait", "30s"], &[&b]);
    assert!(
        err.contains("waiting for the lock") && err.contains(&who),
        "{err}"
    );
    assert!(err.contains("took over the expired lock"), "{err}");
    eprintln!("took over after {:?}", t.elapsed());
    assert_eq!(repo.listed(), ["second=1"]);
}

/// A .deb of about `kb` KB of incompressible payload (stored, so the upload
/// takes a while).
fn big_deb(dir: &Path, name: &str, kb: usize) -> PathBuf {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ name.len() as u64;
    let noise: String = (0..kb * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + u8::try_from(x % 90).unwrap())
        })
        .collect();
    build_deb(dir, name, "1.0", &noise)
}

/// Publish `debs` in the background, kill the cluster parts `kill` as soon
/// as the first of them is in the pool, and return pushrepo's exit status
/// and stderr.
fn publish_killing(
    repo: &Repo,
    weed: &mut Weed,
    debs: &[PathBuf],
    kill: &[&str],
) -> (bool, String) {
    let first = debs[0].file_name().unwrap().to_string_lossy().into_owned();
    let name = first.split('_').next().unwrap().to_string();
    let publisher = repo
        .cmd()
        .args(["--lock-ttl", "5s", "--wait", "60s"])
        .arg(repo.url())
        .args(debs)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let key = format!("pool/main/{}/{name}/{name}_1.0_amd64.deb", &name[..1]);
    assert!(
        debpipe_testkit::wait_until(60, || repo.exists(&key)),
        "the publish never started uploading"
    );
    for k in kill {
        weed.kill(k);
    }
    let out = publisher.wait_with_output().unwrap();
    (out.status.success(), stderr(&out))
}

/// Wait until a reader sees exactly `old` or `new` (the store may take a
/// moment to serve everything again after a restart); panic on a mix.
fn assert_old_or_new(repo: &Repo, old: &[String], new: &[String]) -> Vec<String> {
    let mut seen = Vec::new();
    let ok = debpipe_testkit::wait_until(60, || {
        seen = check(repo.s3_port, &repo.prefix, "stable").unwrap_or_else(|e| vec![e]);
        seen == old || seen == new
    });
    assert!(
        ok,
        "the repository is neither the old nor the new one: {seen:?}"
    );
    seen
}

#[test]
fn volume_servers_killed_mid_publish_leave_a_consistent_repository_and_a_rerun_completes() {
    // Enough data (N packages of 1 MB) that the uploads are still going
    // when the first pool file can be seen.
    const N: usize = 30;
    let mut weed = Weed::cluster();
    let repo = Repo::on(&weed, "fault");
    let base = repo.deb("base", "1.0", "b");
    repo.publish_ok(&[], &[&base]);
    let names =
        |prefix: &str| -> Vec<String> { (0..N).map(|i| format!("{prefix}{i:02}=1.0")).collect() };
    let mut listed = vec!["base=1.0".to_string()];

    // 1. One of three volume servers killed: the store may absorb it
    //    (retries land on the others) or the publish may fail.
    let debs1: Vec<PathBuf> = (0..N)
        .map(|i| big_deb(repo.dir.path(), &format!("one{i:02}"), 1024))
        .collect();
    let (ok, err) = publish_killing(&repo, &mut weed, &debs1, &["volume2"]);
    eprintln!("one volume server killed: success {ok}: {err}");
    weed.restart("volume2");
    let new: Vec<String> = listed.iter().cloned().chain(names("one")).collect();
    listed = assert_old_or_new(&repo, &listed, &new);
    if !ok {
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }

    // 2. All volume servers killed: writes cannot succeed; the publish
    //    fails, says which object and that readers still see the old one.
    let debs2: Vec<PathBuf> = (0..N)
        .map(|i| big_deb(repo.dir.path(), &format!("two{i:02}"), 1024))
        .collect();
    let (ok, err) = publish_killing(&repo, &mut weed, &debs2, &["volume1", "volume2", "volume3"]);
    eprintln!("all volume servers killed: success {ok}: {err}");
    assert!(!ok, "a publish with no volume server cannot succeed: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("pushrepo: error: s3://repo/fault/"),
        "names the object: {err}"
    );
    assert!(
        err.contains("readers still see the previous publication; run pushrepo again"),
        "{err}"
    );
    for v in ["volume1", "volume2", "volume3"] {
        weed.restart(v);
    }
    let seen = assert_old_or_new(&repo, &listed, &listed);
    assert_eq!(seen, listed);

    // 3. Reruns complete both publishes (the dead run's lock expires).
    let t = Instant::now();
    let all: Vec<&Path> = debs1.iter().chain(&debs2).map(PathBuf::as_path).collect();
    let err = repo.publish_ok(&["--lock-ttl", "5s", "--wait", "60s"], &all);
    eprintln!("rerun in {:?}: {err}", t.elapsed());
    let mut want: Vec<String> = std::iter::once("base=1.0".to_string())
        .chain(names("one"))
        .chain(names("two"))
        .collect();
    want.sort();
    assert_eq!(repo.listed(), want);
}

/// Objects of the stand-in store, by request path.
type Objects = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

/// `kill SIG pid`, which must succeed.
fn signal(sig: &str, pid: &str) {
    assert!(
        Command::new("kill")
            .args([sig, pid])
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn a_stalled_holder_whose_lock_was_taken_over_cannot_publish() {
    let repo = Repo::new("stalled").signed();
    let base = repo.deb("base", "1", "x");
    repo.publish_ok(&[], &[&base]);
    // A gpg that takes 3 s: the first publisher holds the lock meanwhile.
    let gpg = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v gpg"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let a = repo.deb("stalled", "1", "a");
    let (stalled, _) = spawn_signing(
        &repo,
        |mark| {
            format!(
                "#!/bin/sh\ntouch {}\nsleep 3\nexec {} \"$@\"\n",
                mark.display(),
                gpg.trim()
            )
        },
        "2s",
        &a,
        Stdio::piped(),
    );
    // Stall it (no renewal either) past its lock's expiry; B takes over.
    let pid = stalled.id().to_string();
    signal("-STOP", &pid);
    std::thread::sleep(Duration::from_millis(2500));
    let b = repo.deb("newer", "1", "b");
    let err = repo.publish_ok(&["--wait", "30s"], &[&b]);
    assert!(err.contains("took over the expired lock"), "{err}");
    let newer = repo.get("dists/stable/InRelease");
    signal("-CONT", &pid);
    let out = stalled.wait_with_output().unwrap();
    let err = stderr(&out);
    eprintln!("stalled publisher: {err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("lock lost") || err.contains("changed by another writer"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        repo.get("dists/stable/InRelease"),
        newer,
        "the newer publication stays"
    );
    assert_eq!(repo.listed(), ["base=1", "newer=1"]);
}

/// An S3 look-alike that ignores If-None-Match and If-Match: it accepts
/// every PUT. Objects in memory; no authentication.
fn ignoring_store() -> (u16, Objects) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let objects = Objects::default();
    let store = objects.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || serve_ignoring(&conn, &store));
        }
    });
    (port, objects)
}

/// One keep-alive connection to the stand-in store.
fn serve_ignoring(conn: &std::net::TcpStream, store: &Objects) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut len = 0;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            if h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let key = path.split('?').next().unwrap().to_string();
        let mut objs = store.lock().unwrap();
        let (code, etag, out) = match method.as_str() {
            "PUT" => {
                let e = sha256(&body);
                objs.insert(key, body);
                (200, e, Vec::new())
            }
            "GET" | "HEAD" => match objs.get(&key) {
                Some(b) if method == "GET" => (200, sha256(b), b.clone()),
                Some(b) => (200, sha256(b), Vec::new()),
                None => (
                    404,
                    String::new(),
                    b"<Error><Code>NoSuchKey</Code></Error>".to_vec(),
                ),
            },
            "DELETE" => {
                objs.remove(&key);
                (204, String::new(), Vec::new())
            }
            // object_store deletes through DeleteObjects.
            "POST" if path.ends_with("?delete") => {
                let text = String::from_utf8_lossy(&body).into_owned();
                let mut done = String::new();
                for (k, _) in text
                    .split("<Key>")
                    .skip(1)
                    .filter_map(|p| p.split_once("</Key>"))
                {
                    objs.remove(&format!("{key}/{k}"));
                    done += "<Deleted><Key>";
                    done += k;
                    done += "</Key></Deleted>";
                }
                let xml = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><DeleteResult>{done}</DeleteResult>"
                );
                (200, String::new(), xml.into_bytes())
            }
            _ => (400, String::new(), Vec::new()),
        };
        drop(objs);
        let reason = match code {
            200 => "OK",
            204 => "No Content",
            404 => "Not Found",
            _ => "Bad Request",
        };
        let head = format!(
            "HTTP/1.1 {code} {reason}\r\nETag: \"{etag}\"\r\nLast-Modified: Mon, 30 Nov 2026 00:00:00 GMT\r\nContent-Length: {}\r\n\r\n",
            out.len()
        );
        let _ = w.write_all(head.as_bytes());
        if method != "HEAD" {
            let _ = w.write_all(&out);
        }
    }
}

#[test]
fn a_store_that_ignores_conditional_writes_is_refused() {
    let (port, objects) = ignoring_store();
    let repo = Repo {
        s3_port: port,
        prefix: "ignoring".into(),
        dir: tempfile::tempdir().unwrap(),
        gpg: None,
    };
    let a = repo.deb("hello", "1.0", "a");
    let out = repo.publish(&[], &[&a]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ignores conditional writes"), "{err}");
    assert!(
        err.contains("refusing to publish without a working lock"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let keys: Vec<String> = objects.lock().unwrap().keys().cloned().collect();
    assert!(
        keys.is_empty(),
        "nothing published, the probe removed: {keys:?}"
    );
}
