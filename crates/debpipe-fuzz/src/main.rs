//! `debpipe-fuzz [--runs N] [--seed S] [--artifacts DIR] [TARGET...]`: run
//! the stable fuzzer (default: every target, 1,000,000 inputs each);
//! `debpipe-fuzz --seed-corpus DIR`: write the seeds as files for
//! cargo-fuzz (`DIR/<target>/seed-<n>`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut runs: u64 = 1_000_000;
    let mut seed: u64 = 1;
    let mut artifacts = PathBuf::from("target/fuzz-artifacts");
    let mut names = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match a.as_str() {
            "--runs" => runs = value().parse().unwrap_or(runs),
            "--seed" => seed = value().parse().unwrap_or(seed),
            "--artifacts" => artifacts = PathBuf::from(value()),
            "--seed-corpus" => return seed_corpus(&PathBuf::from(value())),
            _ => names.push(a),
        }
    }
    let targets: Vec<_> = if names.is_empty() {
        debpipe_fuzz::TARGETS.to_vec()
    } else {
        let found: Option<Vec<_>> = names.iter().map(|n| debpipe_fuzz::target(n)).collect();
        let Some(found) = found else {
            eprintln!("debpipe-fuzz: error: unknown target in {names:?}");
            return ExitCode::from(2);
        };
        found
    };
    for t in targets {
        let corpus = debpipe_fuzz::seeds::for_target(t.0);
        let r = debpipe_fuzz::run(t, &corpus, runs, seed, &artifacts);
        println!(
            "{}: {} inputs from {} seeds, no panic, slowest {:?}",
            t.0,
            r.runs,
            corpus.len(),
            r.slowest
        );
    }
    ExitCode::SUCCESS
}

fn seed_corpus(dir: &std::path::Path) -> ExitCode {
    for (name, _) in debpipe_fuzz::TARGETS {
        let d = dir.join(name);
        for (i, s) in debpipe_fuzz::seeds::for_target(name).iter().enumerate() {
            let written = std::fs::create_dir_all(&d)
                .and_then(|()| std::fs::write(d.join(format!("seed-{i}")), s));
            if let Err(e) = written {
                eprintln!("debpipe-fuzz: error: {}: {e}", d.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
