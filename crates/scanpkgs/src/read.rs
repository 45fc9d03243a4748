//! Reading the .debs in parallel, each once, with buffers reused per thread.

use crate::cache::{Cache, Key};
use crate::scan::Found;
use debpipe_repo::deb::{self, Buffers, DebInfo};
use std::fs;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Read every found file not in `old` (in parallel), returning for each
/// file its result in walk order, and the new cache.
pub(crate) fn read_all(
    found: &[Found],
    old: &Cache,
    jobs: usize,
) -> (Vec<Result<DebInfo, String>>, Cache, usize) {
    let mut results: Vec<Option<Result<DebInfo, String>>> = Vec::with_capacity(found.len());
    let mut cache = Cache::default();
    let mut todo = Vec::new();
    for (i, f) in found.iter().enumerate() {
        let key = Key::of(&f.meta);
        if let Some(info) = old.get(&f.path, &key) {
            cache.insert(&f.path, key, info.clone());
            results.push(Some(Ok(info.clone())));
        } else {
            results.push(None);
            todo.push(i);
        }
    }
    let jobs = if jobs == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        jobs
    }
    .min(todo.len())
    .max(1);
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, ReadResult)>> = Mutex::new(Vec::with_capacity(todo.len()));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                let mut bufs = Buffers::default();
                let mut mine = Vec::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = todo.get(k) else { break };
                    mine.push((i, read_one(&found[i].path, &mut bufs)));
                }
                done.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(mine);
            });
        }
    });
    for (i, r) in done
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        results[i] = Some(r.map(|(key, info)| {
            cache.insert(&found[i].path, key, info.clone());
            info
        }));
    }
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not read".into())))
        .collect();
    (results, cache, todo.len())
}

pub(crate) fn read_one(path: &Path, bufs: &mut Buffers) -> ReadResult {
    let mut f = fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let meta = f.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    let info = deb::read_deb(&mut f, meta.len(), bufs)?;
    Ok((Key::of(&meta), info))
}

/// What reading one file gives: its key and contents, or why not.
pub(crate) type ReadResult = Result<(Key, DebInfo), String>;
