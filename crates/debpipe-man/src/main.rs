//! Render `<tool>.1` for every debpipe tool into the directory given as the
//! only argument, from the same clap definitions `--help` uses: nothing
//! hand-written to drift.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::CommandFactory;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: debpipe-man OUTDIR");
        return ExitCode::from(2);
    };
    let commands = [
        ("appspec", appspec::Cli::command()),
        ("gen-uwsgi", gen_uwsgi::Cli::command()),
        ("gen-gunicorn", gen_gunicorn::Cli::command()),
        ("gen-nginx", gen_nginx::Cli::command()),
        ("gen-init", gen_init::Cli::command()),
        ("gen-control", gen_control::Cli::command()),
        ("mkvenv", mkvenv::Cli::command()),
        ("mkdeb", mkdeb::Cli::command()),
        ("scanpkgs", scanpkgs::Cli::command()),
        ("pushrepo", pushrepo::Cli::command()),
        ("stage-app", stage_app::Cli::command()),
        ("stage-django", stage_django::Cli::command()),
    ];
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("debpipe-man: error: {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for (name, cmd) in commands {
        let path = dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        let res = clap_mangen::Man::new(cmd.name(name))
            .render(&mut buf)
            .and_then(|()| std::fs::write(&path, &buf));
        if let Err(e) = res {
            eprintln!("debpipe-man: error: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{}", path.display());
    }
    ExitCode::SUCCESS
}
