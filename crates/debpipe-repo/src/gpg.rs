//! Signing a Release with gpg: `InRelease` and `Release.gpg`.

use crate::{Error, Result};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// Who signs: the key, and gpg's home directory (`None`: gpg's own, or
/// `GNUPGHOME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The key (`--local-user`).
    pub key: String,
    /// `--homedir`
    pub homedir: Option<std::path::PathBuf>,
}

/// A Release signed both ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `Release.gpg`: the detached armoured signature.
    pub detached: Vec<u8>,
    /// `InRelease`: the clear-signed Release.
    pub inline: Vec<u8>,
}

impl Signer {
    /// Sign `release` as `Release.gpg` and `InRelease`; `dir` (the
    /// Release's directory or URL) names them in errors.
    pub fn sign_release(&self, release: &[u8], dir: &Path) -> Result<Signed> {
        Ok(Signed {
            detached: self.gpg(
                &["--armor", "--detach-sign"],
                release,
                &dir.join("Release.gpg"),
            )?,
            inline: self.gpg(&["--clearsign"], release, &dir.join("InRelease"))?,
        })
    }

    /// Run gpg on `input`, returning what it writes. `target` names the
    /// file in errors.
    pub fn gpg(&self, args: &[&str], input: &[u8], target: &Path) -> Result<Vec<u8>> {
        gpg(self.homedir.as_deref(), &self.key, args, input, target)
    }
}

/// Run gpg on `input`, returning what it writes. `target` names the file
/// in errors.
fn gpg(
    homedir: Option<&Path>,
    key: &str,
    args: &[&str],
    input: &[u8],
    target: &Path,
) -> Result<Vec<u8>> {
    let mut cmd = Command::new("gpg");
    cmd.args(["--batch", "--yes", "--no-tty", "--quiet"]);
    if let Some(h) = homedir {
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
