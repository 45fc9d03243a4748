//! Signing a Release with gpg: `InRelease` and `Release.gpg`.

use crate::repo::RepoOptions;
use crate::{Error, Result};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// Run gpg on `input`, returning what it writes. `target` names the file
/// in errors.
pub fn gpg(
    opts: &RepoOptions,
    key: &str,
    args: &[&str],
    input: &[u8],
    target: &Path,
) -> Result<Vec<u8>> {
    let mut cmd = Command::new("gpg");
    cmd.args(["--batch", "--yes", "--no-tty", "--quiet"]);
    if let Some(h) = &opts.gpg_homedir {
        cmd.arg("--homedir").arg(h);
    }
    cmd.args(["--local-user", key, "--digest-algo", "SHA512"])
        .args(args)
        .args(["--output", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::file(target, format!("cannot run gpg: {e}")))?;
    let mut stdin = child.stdin.take();
    let out = std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(mut w) = stdin.take() {
                let _ = w.write_all(input);
            }
        });
        child.wait_with_output()
    })
    .map_err(|e| Error::file(target, format!("gpg: {e}")))?;
    if !out.status.success() || out.stdout.is_empty() {
        let err = String::from_utf8_lossy(&out.stderr);
        let msg = err
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::file(
            target,
            format!(
                "gpg {} with key {key} failed ({}): {msg}",
                args.join(" "),
                out.status
            ),
        ));
    }
    Ok(out.stdout)
}
