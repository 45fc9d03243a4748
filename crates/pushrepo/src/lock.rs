//! One writer at a time: the lock object.
//!
//! The lock is an object (`pushrepo.lock` at the repository root) created
//! with `If-None-Match: *`. It says who holds it and until when; a thread
//! renews it (`If-Match` on its last ETag) every third of its lifetime while
//! the publish runs. A publisher that finds it held waits (up to `--wait`)
//! and says who holds it; one that finds it expired takes it over with
//! `If-Match` on the ETag it read, so of two publishers taking over the same
//! expired lock only one succeeds. Releasing writes an expired lock (again
//! with `If-Match`), so a lock lost to a takeover is never released by its
//! old holder.
//!
//! Expiry is wall-clock time (Unix seconds in the lock): publishers' clocks
//! must agree to well within the lock's lifetime (`--lock-ttl`, 60 s), as
//! NTP keeps them. A holder also stops writing on its own once its last
//! renewal is about to run out, and its final write is conditional anyway.
//!
//! Before taking the lock, [`probe`] checks that the store honours
//! conditional writes at all: without that, the lock proves nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use debpipe_core::date;

use crate::{Error, Result};
use debpipe_repo::store::{Put, Store, Written};

/// The lock's key, relative to the repository.
pub const LOCK_KEY: &str = "pushrepo.lock";

/// Seconds since the epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Who we are, for the lock and for messages: `user@host pid N`, and the
/// CI job when there is one (GitLab `CI_JOB_URL`, GitHub Actions
/// `GITHUB_RUN_ID`, Jenkins `BUILD_URL`).
pub fn holder_name() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "localhost".into(), |h| h.trim().to_string());
    let job = ["CI_JOB_URL", "BUILD_URL"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(|| {
            std::env::var("GITHUB_RUN_ID").ok().map(|id| {
                let repo = std::env::var("GITHUB_REPOSITORY").unwrap_or_default();
                format!("github {repo} run {id}")
            })
        });
    match job {
        Some(j) => format!("{user}@{host} pid {} ({j})", std::process::id()),
        None => format!("{user}@{host} pid {}", std::process::id()),
    }
}

/// What a lock object says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockBody {
    /// Who holds it.
    pub holder: String,
    /// Unix time it expires at (0: released).
    pub expires: i64,
}

impl LockBody {
    /// The object's text.
    pub fn render(&self) -> String {
        let until = if self.expires == 0 {
            "released".to_string()
        } else {
            date::format(self.expires)
        };
        format!(
            "Holder: {}\nExpires: {}\nExpires-Date: {until}\n",
            self.holder.replace('\n', " "),
            self.expires
        )
    }

    /// Read a lock object; a body that does not parse counts as expired
    /// (held by "unknown"), so garbage cannot block publishing forever.
    pub fn parse(data: &[u8]) -> Self {
        let text = String::from_utf8_lossy(data);
        let mut body = Self {
            holder: "unknown".into(),
            expires: 0,
        };
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("Holder:") {
                body.holder = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("Expires:") {
                body.expires = v.trim().parse().unwrap_or(0);
            }
        }
        body
    }
}

/// Check that the store refuses a second create of one key and an update
/// with a wrong ETag. Writes and then deletes `pushrepo-probe.<holder>`.
pub fn probe(store: &dyn Store, tag: &str) -> Result<()> {
    let key = format!("pushrepo-probe.{tag}");
    let first = store.put(&key, b"probe 1\n", &Put::Create)?;
    if first == Written::Conflict {
        // A probe left by a killed run with the same tag: start again.
        store.delete(&key)?;
        if store.put(&key, b"probe 1\n", &Put::Create)? == Written::Conflict {
            return Err(refused(store, &key, "could not create the probe object"));
        }
    }
    let second = store.put(&key, b"probe 2\n", &Put::Create)?;
    let wrong = if second == Written::Conflict {
        store.put(
            &key,
            b"probe 3\n",
            &Put::Update("\"pushrepo-no-such-etag\"".into()),
        )?
    } else {
        Written::Conflict
    };
    store.delete(&key)?;
    if second != Written::Conflict {
        return Err(refused(
            store,
            &key,
            "the store ignores conditional writes: a second create with If-None-Match: * succeeded",
        ));
    }
    if wrong != Written::Conflict {
        return Err(refused(
            store,
            &key,
            "the store ignores conditional writes: a write with If-Match on a wrong ETag succeeded",
        ));
    }
    Ok(())
}

fn refused(store: &dyn Store, key: &str, why: &str) -> Error {
    Error::file(
        store.url(key),
        format!("{why}; refusing to publish without a working lock"),
    )
}

/// How to take the lock.
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// Our name in the lock.
    pub holder: String,
    /// How long a lock lives without renewal.
    pub ttl: Duration,
    /// How long to wait for another holder.
    pub wait: Duration,
}

#[derive(Debug)]
struct Shared {
    etag: Mutex<String>,
    /// Unix time our last successful write of the lock expires at.
    expires: Mutex<i64>,
    lost: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// A held lock, renewed by a thread until [`Lock::release`].
pub struct Lock<'s> {
    store: &'s dyn Store,
    opts: LockOptions,
    shared: Arc<Shared>,
    /// Set when we took over an expired lock: its holder.
    pub took_over: Option<String>,
}

impl std::fmt::Debug for Lock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("key", &self.store.url(LOCK_KEY))
            .field("opts", &self.opts)
            .field("took_over", &self.took_over)
            .finish_non_exhaustive()
    }
}

/// Messages from waiting, as callbacks so the caller decides where they go.
pub type Notify<'a> = &'a mut dyn FnMut(&str);

fn ttl_secs(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX)
}

/// Take the lock, waiting up to `opts.wait` for another holder.
pub fn acquire<'s>(
    store: &'s dyn Store,
    opts: &LockOptions,
    notify: Notify<'_>,
) -> Result<Lock<'s>> {
    let start = Instant::now();
    let mut waited_for: Option<String> = None;
    loop {
        let body = LockBody {
            holder: opts.holder.clone(),
            expires: unix_now() + ttl_secs(opts.ttl),
        };
        let text = body.render();
        if let Written::Done(etag) = store.put(LOCK_KEY, text.as_bytes(), &Put::Create)? {
            return Ok(Lock::new(store, opts, etag, body.expires, None));
        }
        let Some(current) = store.get(LOCK_KEY)? else {
            continue; // released and deleted between our two requests
        };
        let held = LockBody::parse(&current.data);
        if held.expires <= unix_now() {
            match store.put(LOCK_KEY, text.as_bytes(), &Put::Update(current.etag))? {
                Written::Done(etag) => {
                    let prev = (held.expires != 0).then_some(held.holder);
                    return Ok(Lock::new(store, opts, etag, body.expires, prev));
                }
                Written::Conflict => continue, // someone else was quicker
            }
        }
        if start.elapsed() >= opts.wait {
            return Err(Error::file(
                store.url(LOCK_KEY),
                format!(
                    "held by {} until {}; gave up after waiting {}s (--wait)",
                    held.holder,
                    date::format(held.expires),
                    start.elapsed().as_secs()
                ),
            ));
        }
        if waited_for.as_deref() != Some(held.holder.as_str()) {
            notify(&format!(
                "waiting for the lock {}: held by {} until {}",
                store.url(LOCK_KEY),
                held.holder,
                date::format(held.expires)
            ));
            waited_for = Some(held.holder.clone());
        }
        let left = opts.wait.saturating_sub(start.elapsed());
        std::thread::sleep(left.min(Duration::from_millis(
            200 + u64::from(std::process::id() % 7) * 50,
        )));
    }
}

impl<'s> Lock<'s> {
    fn new(
        store: &'s dyn Store,
        opts: &LockOptions,
        etag: String,
        expires: i64,
        took_over: Option<String>,
    ) -> Self {
        Self {
            store,
            opts: opts.clone(),
            shared: Arc::new(Shared {
                etag: Mutex::new(etag),
                expires: Mutex::new(expires),
                lost: AtomicBool::new(false),
                stop: Mutex::new(false),
                wake: Condvar::new(),
            }),
            took_over,
        }
    }

    /// Renew once: `If-Match` on our last ETag. A conflict means the lock
    /// was taken over: it is lost for good.
    pub fn renew(&self) -> Result<()> {
        if self.shared.lost.load(Ordering::SeqCst) {
            return Err(self.lost_error());
        }
        let etag = lock_or_recover(&self.shared.etag).clone();
        let body = LockBody {
            holder: self.opts.holder.clone(),
            expires: unix_now() + ttl_secs(self.opts.ttl),
        };
        match self
            .store
            .put(LOCK_KEY, body.render().as_bytes(), &Put::Update(etag))?
        {
            Written::Done(e) => {
                *lock_or_recover(&self.shared.etag) = e;
                *lock_or_recover(&self.shared.expires) = body.expires;
                Ok(())
            }
            Written::Conflict => {
                self.shared.lost.store(true, Ordering::SeqCst);
                Err(self.lost_error())
            }
        }
    }

    /// Fail unless we still hold the lock: not taken over, and not past the
    /// expiry of our last renewal (less a margin for clock and latency).
    pub fn ensure_held(&self) -> Result<()> {
        let margin = (ttl_secs(self.opts.ttl) / 6).max(1);
        if self.shared.lost.load(Ordering::SeqCst)
            || unix_now() + margin >= *lock_or_recover(&self.shared.expires)
        {
            self.shared.lost.store(true, Ordering::SeqCst);
            return Err(self.lost_error());
        }
        Ok(())
    }

    fn lost_error(&self) -> Error {
        Error::file(
            self.store.url(LOCK_KEY),
            "lock lost mid-publish (it expired, or another publisher took it over)",
        )
    }

    /// Run `f` while a thread renews the lock every third of its lifetime.
    /// Renewal failures other than a takeover are retried at the next tick.
    pub fn renewing<T>(&self, f: impl FnOnce() -> T) -> T {
        let every = (self.opts.ttl / 3).max(Duration::from_millis(200));
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut stop = lock_or_recover(&self.shared.stop);
                loop {
                    // Checked under the mutex before waiting: a stop set
                    // before this thread got here is not missed.
                    if *stop {
                        break;
                    }
                    let (guard, timeout) = self
                        .shared
                        .wake
                        .wait_timeout(stop, every)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    stop = guard;
                    if *stop || self.shared.lost.load(Ordering::SeqCst) {
                        break;
                    }
                    if timeout.timed_out() {
                        drop(stop);
                        let _ = self.renew();
                        stop = lock_or_recover(&self.shared.stop);
                    }
                }
            });
            let out = f();
            *lock_or_recover(&self.shared.stop) = true;
            self.shared.wake.notify_all();
            out
        })
    }

    /// Release: overwrite our lock with a released one (`If-Match`), so a
    /// lock that someone else took over stays theirs.
    pub fn release(self) -> Result<()> {
        if self.shared.lost.load(Ordering::SeqCst) {
            return Ok(());
        }
        let etag = lock_or_recover(&self.shared.etag).clone();
        let body = LockBody {
            holder: self.opts.holder.clone(),
            expires: 0,
        };
        self.store
            .put(LOCK_KEY, body.render().as_bytes(), &Put::Update(etag))?;
        Ok(())
    }
}

fn lock_or_recover<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use debpipe_repo::store::mem::MemStore;

    fn opts(holder: &str, ttl: u64, wait: u64) -> LockOptions {
        LockOptions {
            holder: holder.into(),
            ttl: Duration::from_secs(ttl),
            wait: Duration::from_millis(wait),
        }
    }

    #[test]
    fn body_round_trips_and_garbage_is_expired() {
        let b = LockBody {
            holder: "ci@h pid 1".into(),
            expires: 1_800_000_000,
        };
        assert_eq!(LockBody::parse(b.render().as_bytes()), b);
        assert_eq!(LockBody::parse(b"junk").expires, 0);
    }

    #[test]
    fn second_publisher_waits_names_holder_then_gives_up() {
        let s = MemStore::default();
        let a = acquire(&s, &opts("alice", 60, 0), &mut |_| {}).unwrap();
        let mut said = Vec::new();
        let e = acquire(&s, &opts("bob", 60, 300), &mut |m| said.push(m.to_string())).unwrap_err();
        assert!(e.to_string().contains("held by alice"), "{e}");
        assert!(e.to_string().contains("--wait"), "{e}");
        assert!(said[0].contains("held by alice"), "{said:?}");
        a.release().unwrap();
        let b = acquire(&s, &opts("bob", 60, 0), &mut |_| {}).unwrap();
        assert_eq!(b.took_over, None, "a released lock is no takeover");
    }

    #[test]
    fn expired_lock_is_taken_over_and_old_holder_cannot_renew_or_release() {
        let s = MemStore::default();
        let old = LockBody {
            holder: "dead".into(),
            expires: unix_now() - 5,
        };
        s.put(LOCK_KEY, old.render().as_bytes(), &Put::Create)
            .unwrap();
        let stale_etag = s.head(LOCK_KEY).unwrap().unwrap();
        let b = acquire(&s, &opts("bob", 60, 0), &mut |_| {}).unwrap();
        assert_eq!(b.took_over.as_deref(), Some("dead"));
        // The dead holder's ETag no longer matches.
        assert_eq!(
            s.put(LOCK_KEY, b"x", &Put::Update(stale_etag)).unwrap(),
            Written::Conflict
        );
        b.renew().unwrap();
        b.ensure_held().unwrap();
        assert!(LockBody::parse(&s.data(LOCK_KEY).unwrap()).holder == "bob");
    }

    #[test]
    fn taken_over_lock_is_lost_not_released() {
        let s = MemStore::default();
        let a = acquire(&s, &opts("alice", 60, 0), &mut |_| {}).unwrap();
        // Someone force-writes the lock (as a takeover after expiry would).
        let etag = s.head(LOCK_KEY).unwrap().unwrap();
        s.put(
            LOCK_KEY,
            b"Holder: carol\nExpires: 9999999999\n",
            &Put::Update(etag),
        )
        .unwrap();
        assert!(a.renew().unwrap_err().to_string().contains("lock lost"));
        assert!(a.ensure_held().is_err());
        a.release().unwrap();
        assert_eq!(LockBody::parse(&s.data(LOCK_KEY).unwrap()).holder, "carol");
    }

    #[test]
    fn renewal_thread_keeps_the_lock_alive() {
        let s = MemStore::default();
        let a = acquire(&s, &opts("alice", 3, 0), &mut |_| {}).unwrap();
        let before = s.write_count();
        a.renewing(|| std::thread::sleep(Duration::from_millis(2300)));
        assert!(s.write_count() > before, "renewed at least once");
        a.ensure_held().unwrap();
    }

    #[test]
    fn probe_accepts_a_conditional_store_and_refuses_one_that_ignores_them() {
        let good = MemStore::default();
        probe(&good, "t").unwrap();
        assert!(good.keys().is_empty(), "probe cleans up");
        let bad = MemStore::ignoring_conditions();
        let e = probe(&bad, "t").unwrap_err().to_string();
        assert!(e.contains("ignores conditional writes"), "{e}");
        assert!(e.starts_with("mem://pushrepo-probe.t"), "{e}");
    }
}
