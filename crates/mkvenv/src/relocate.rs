//! Relocation: the build path rewritten to the install path in every
//! file, shebangs regenerated (and unversioned python ones pointed at the
//! venv), modes set from what each file is.

use crate::Stats;
use crate::elf::{ElfFile, parse_elf};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use debpipe_core::{Error, Result, io};
use memchr::memmem;

/// The longest shebang line Linux pip trusts (distlib's limit, newline
/// included); a longer one gets the `#!/bin/sh` wrapper.
pub const MAX_SHEBANG: usize = 127;

/// What to rewrite: the build directory becomes the install path; the
/// staging root must not be left anywhere either.
#[derive(Debug, Clone)]
pub struct Relocation {
    /// The directory the venv was built in.
    pub from: Vec<u8>,
    /// Its install path.
    pub to: Vec<u8>,
    /// The staging root.
    pub stage: Vec<u8>,
}

/// Python 3.13's `venv` writes a `.gitignore` of `*` at the venv's top, for
/// a venv inside a git checkout; in a package it is a stray VCS file
/// (lintian: package-contains-vcs-control-file). Only that file, as venv
/// writes it, is removed.
pub(crate) fn drop_venv_gitignore(venv: &Path) -> Result<()> {
    let path = venv.join(".gitignore");
    match fs::read(&path) {
        Ok(text) if text.starts_with(b"# Created by venv") => {
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Walk the venv: remove bytecode, rewrite traces of the build path and
/// unversioned python shebangs, fix modes, and collect ELF files. `bin` is
/// the venv's `bin/` directory, where `#!` scripts stay executable.
pub(crate) fn relocate_tree(
    dir: &Path,
    bin: &Path,
    rel: &Relocation,
    stats: &mut Stats,
    elves: &mut Vec<ElfFile>,
) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(dir, e))?;
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            let link = fs::read_link(&path).map_err(|e| Error::io(&path, e))?;
            if let Some(new) = replace_all(link.as_os_str().as_bytes(), &rel.from, &rel.to) {
                fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&new), &path)
                    .map_err(|e| Error::io(&path, e))?;
                stats.symlinks += 1;
            }
        } else if ft.is_dir() {
            if path.file_name() == Some(OsStr::new("__pycache__")) {
                fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
                stats.bytecode_removed += 1;
                continue;
            }
            fix_mode(
                &path,
                meta.permissions().mode(),
                debpipe_core::modes::EXECUTABLE,
                stats,
            )?;
            relocate_tree(&path, bin, rel, stats, elves)?;
        } else if ft.is_file() {
            if path.extension().is_some_and(|e| e == "pyc" || e == "pyo") {
                fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                stats.bytecode_removed += 1;
                continue;
            }
            stats.files += 1;
            relocate_file(
                &path,
                meta.permissions().mode(),
                dir == bin,
                rel,
                stats,
                elves,
            )?;
        } else {
            return Err(Error::file(&path, "special file in the venv"));
        }
    }
    Ok(())
}

/// One regular file: its content relocated and its mode set by what it is.
pub(crate) fn relocate_file(
    path: &Path,
    mode: u32,
    in_bin: bool,
    rel: &Relocation,
    stats: &mut Stats,
    elves: &mut Vec<ElfFile>,
) -> Result<()> {
    let data = fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut executable_elf = false;
    if data.starts_with(b"\x7fELF")
        && let Some(elf) = parse_elf(path, &data)
    {
        executable_elf = elf.executable;
        elves.push(elf);
    }
    let (mut new, mut shebang) = match relocate_bytes(&data, rel) {
        Ok(Some((new, shebang))) => (Some(new), shebang),
        Ok(None) => (None, false),
        Err(reason) => return Err(Error::file(path, reason)),
    };
    if let Some(fixed) = point_unversioned_python(new.as_deref().unwrap_or(&data), &rel.to) {
        new = Some(fixed);
        shebang = true;
        stats.unversioned += 1;
    }
    let want = file_mode(new.as_deref().unwrap_or(&data), executable_elf, in_bin);
    match new {
        None => fix_mode(path, mode, want, stats),
        Some(new) => {
            io::write_atomic(path, &new, want)?;
            stats.rewritten += 1;
            stats.shebangs += usize::from(shebang);
            if want != mode & 0o7777 {
                stats.modes_fixed += 1;
            }
            Ok(())
        }
    }
}

/// The mode of a regular file in the venv: debpipe-core's one rule, with
/// `#!` scripts runnable in the venv's `bin/` only.
pub fn file_mode(data: &[u8], executable_elf: bool, in_bin: bool) -> u32 {
    debpipe_core::modes::file_mode(data, executable_elf, in_bin)
}

/// Set `want` (0755/0644) unless the file already has exactly that mode.
pub(crate) fn fix_mode(path: &Path, mode: u32, want: u32, stats: &mut Stats) -> Result<()> {
    if mode & 0o7777 != want {
        fs::set_permissions(path, fs::Permissions::from_mode(want))
            .map_err(|e| Error::io(path, e))?;
        stats.modes_fixed += 1;
    }
    Ok(())
}

/// Relocate one file's content: `Ok(None)` when it needs no change,
/// `Ok(Some((new, shebang_rewritten)))`, or why it cannot be relocated.
pub fn relocate_bytes(
    data: &[u8],
    rel: &Relocation,
) -> std::result::Result<Option<(Vec<u8>, bool)>, String> {
    let has = |hay: &[u8], needle: &[u8]| memmem::find(hay, needle).is_some();
    if !has(data, &rel.from) {
        return Ok(None);
    }
    if data.contains(&0) {
        return Err(format!(
            "binary file names the build directory {}; cannot relocate it",
            String::from_utf8_lossy(&rel.from)
        ));
    }
    let (mut out, body, shebang) = match rewrite_shebang(data, &rel.from, &rel.to) {
        Some((header, body_at)) => (header, &data[body_at..], true),
        None => (Vec::new(), data, false),
    };
    out.extend_from_slice(&replace_all(body, &rel.from, &rel.to).unwrap_or_else(|| body.to_vec()));
    if !has(&rel.to, &rel.stage) && has(&out, &rel.stage) {
        return Err(format!(
            "still names the staging directory {} after relocation",
            String::from_utf8_lossy(&rel.stage)
        ));
    }
    Ok(Some((out, shebang)))
}

/// Replace every `from` in `hay` by `to`; `None` when there is none.
pub fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(hay.len());
    let mut last = 0;
    for at in memmem::find_iter(hay, from) {
        if at < last {
            continue;
        }
        out.extend_from_slice(&hay[last..at]);
        out.extend_from_slice(to);
        last = at + from.len();
    }
    if last == 0 {
        return None;
    }
    out.extend_from_slice(&hay[last..]);
    Some(out)
}

pub(crate) const SH_WRAPPER: &[u8] = b"#!/bin/sh\n'''exec' ";
pub(crate) const SH_WRAPPER_ARGS: &[u8] = b" \"$0\" \"$@\"";
pub(crate) const SH_WRAPPER_END: &[u8] = b"' '''";

/// When `data` starts with a shebang (`#!INTERP ARGS` or pip's two-line
/// `#!/bin/sh` + `'''exec' INTERP ARGS "$0" "$@"` + `' '''` wrapper) whose
/// interpreter lies under `from`, the header for the relocated interpreter
/// and the offset where the rest of the file starts.
pub fn rewrite_shebang(data: &[u8], from: &[u8], to: &[u8]) -> Option<(Vec<u8>, usize)> {
    let line_end = |at: usize| {
        data[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| at + i)
    };
    let (command, body_at) = if data.starts_with(SH_WRAPPER) {
        let l2_end = line_end(SH_WRAPPER.len());
        let cmd = data[SH_WRAPPER.len()..l2_end].strip_suffix(SH_WRAPPER_ARGS)?;
        let l3 = (l2_end + 1).min(data.len());
        let l3_end = line_end(l3);
        if &data[l3..l3_end] != SH_WRAPPER_END {
            return None;
        }
        (cmd, (l3_end + 1).min(data.len()))
    } else if data.starts_with(b"#!") {
        let end = line_end(2);
        (&data[2..end], (end + 1).min(data.len()))
    } else {
        return None;
    };
    let (interp, args) = split_command(command)?;
    let rest = interp.strip_prefix(from)?;
    if !(rest.is_empty() || rest.starts_with(b"/")) {
        return None;
    }
    let mut new_interp = to.to_vec();
    new_interp.extend_from_slice(rest);
    Some((shebang_header(&new_interp, args), body_at))
}

/// Split `INTERP ARGS` (INTERP maybe in double quotes) into INTERP and
/// ARGS (with its leading space).
pub(crate) fn split_command(cmd: &[u8]) -> Option<(&[u8], &[u8])> {
    if let Some(quoted) = cmd.strip_prefix(b"\"") {
        let end = quoted.iter().position(|&b| b == b'"')?;
        Some((&quoted[..end], &quoted[end + 1..]))
    } else {
        let end = cmd.iter().position(|&b| b == b' ').unwrap_or(cmd.len());
        Some((&cmd[..end], &cmd[end..]))
    }
}

/// The script header pip would write for `interp` + `args`: a `#!` line
/// when it fits in [`MAX_SHEBANG`] bytes and the path has no space, else the
/// `#!/bin/sh` wrapper that execs the interpreter on the script (the second
/// and third lines are a no-op string to Python).
pub fn shebang_header(interp: &[u8], args: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if !interp.contains(&b' ') && 2 + interp.len() + args.len() < MAX_SHEBANG {
        out.extend_from_slice(b"#!");
        out.extend_from_slice(interp);
        out.extend_from_slice(args);
    } else {
        out.extend_from_slice(SH_WRAPPER);
        if interp.contains(&b' ') {
            out.push(b'"');
            out.extend_from_slice(interp);
            out.push(b'"');
        } else {
            out.extend_from_slice(interp);
        }
        out.extend_from_slice(args);
        out.extend_from_slice(SH_WRAPPER_ARGS);
        out.push(b'\n');
        out.extend_from_slice(SH_WRAPPER_END);
    }
    out.push(b'\n');
    out
}

/// Interpreters of an unversioned python shebang: what lintian's
/// `script-uses-unversioned-python-in-shebang` matches (`python`,
/// `/usr/bin/python`, after `/usr/bin/env`), and the other usual places.
pub const UNVERSIONED_PYTHON: [&[u8]; 4] = [
    b"python",
    b"/usr/bin/python",
    b"/bin/python",
    b"/usr/local/bin/python",
];

/// When `data` starts with an unversioned python shebang (`#!python`,
/// `#!/usr/bin/python -u`, `#!/usr/bin/env python`...), the file with that
/// line replaced by one running `<venv>/bin/python` with the same
/// arguments (pip's `#!/bin/sh` wrapper when it is too long).
pub fn point_unversioned_python(data: &[u8], venv: &[u8]) -> Option<Vec<u8>> {
    fn first_word(s: &[u8]) -> (&[u8], &[u8]) {
        let end = s
            .iter()
            .position(u8::is_ascii_whitespace)
            .unwrap_or(s.len());
        (&s[..end], s[end..].trim_ascii_start())
    }
    let rest = data.strip_prefix(b"#!")?;
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let (mut interp, mut args) = first_word(rest[..end].trim_ascii());
    if interp == b"/usr/bin/env" || interp == b"/bin/env" {
        (interp, args) = first_word(args);
    }
    if !UNVERSIONED_PYTHON.contains(&interp) {
        return None;
    }
    let mut python = venv.to_vec();
    python.extend_from_slice(b"/bin/python");
    let args = if args.is_empty() {
        Vec::new()
    } else {
        [b" ", args].concat()
    };
    let mut out = shebang_header(&python, &args);
    out.extend_from_slice(rest.get(end + 1..).unwrap_or_default());
    Some(out)
}

#[cfg(test)]
mod gitignore_tests {
    #[test]
    fn only_venvs_own_gitignore_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join(".gitignore"),
            "# Created by venv; see https://docs.python.org/3/library/venv.html\n*\n",
        )
        .unwrap();
        super::drop_venv_gitignore(d.path()).unwrap();
        assert!(!d.path().join(".gitignore").exists());
        std::fs::write(d.path().join(".gitignore"), "build/\n").unwrap();
        super::drop_venv_gitignore(d.path()).unwrap();
        assert!(d.path().join(".gitignore").exists());
        super::drop_venv_gitignore(&d.path().join("none")).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(from: &str, to: &str) -> Relocation {
        Relocation {
            from: from.as_bytes().to_vec(),
            to: to.as_bytes().to_vec(),
            stage: b"/stage".to_vec(),
        }
    }

    /// `data` relocated from `from` to `to` (it must name `from`), and
    /// whether its shebang was rewritten.
    fn relocated(data: &[u8], from: &str, to: &str) -> (Vec<u8>, bool) {
        relocate_bytes(data, &rel(from, to)).unwrap().unwrap()
    }

    #[test]
    fn short_shebang_is_rewritten_in_place() {
        let data = b"#!/stage/opt/.v.mkvenv-1/bin/python3\nimport x\n";
        let (out, sb) = relocated(data, "/stage/opt/.v.mkvenv-1", "/opt/v");
        assert!(sb);
        assert_eq!(out, b"#!/opt/v/bin/python3\nimport x\n");
    }

    #[test]
    fn sh_wrapper_becomes_a_shebang_when_the_install_path_is_short() {
        let from = format!("/stage/{}", "x".repeat(130));
        let data = format!(
            "#!/bin/sh\n'''exec' {from}/bin/python3 \"$0\" \"$@\"\n' '''\n# -*- coding: utf-8 -*-\nimport re\n"
        );
        let (out, _) = relocated(data.as_bytes(), &from, "/opt/v");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "#!/opt/v/bin/python3\n# -*- coding: utf-8 -*-\nimport re\n"
        );
    }

    #[test]
    fn long_install_path_gets_the_sh_wrapper() {
        let to = format!("/opt/{}", "y".repeat(130));
        let data = b"#!/stage/b/bin/python3 -E\nimport re\n";
        let (out, _) = relocated(data, "/stage/b", &to);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("#!/bin/sh\n'''exec' {to}/bin/python3 -E \"$0\" \"$@\"\n' '''\nimport re\n")
        );
        // and a wrapper stays a (correct) wrapper
        let from = format!("/stage/{}", "x".repeat(130));
        let data =
            format!("#!/bin/sh\n'''exec' {from}/bin/python3 \"$0\" \"$@\"\n' '''\nimport re\n");
        let (out, _) = relocated(data.as_bytes(), &from, &to);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("#!/bin/sh\n'''exec' {to}/bin/python3 \"$0\" \"$@\"\n' '''\nimport re\n")
        );
    }

    #[test]
    fn shebang_length_limit_is_pips() {
        // "#!" + interp + "\n" == 127 bytes still fits
        let interp = format!("/{}", "a".repeat(123));
        assert!(shebang_header(interp.as_bytes(), b"").starts_with(b"#!/a"));
        let interp = format!("/{}", "a".repeat(124));
        assert!(shebang_header(interp.as_bytes(), b"").starts_with(b"#!/bin/sh\n"));
        assert!(shebang_header(b"/a b/python3", b"").starts_with(b"#!/bin/sh\n'''exec' \"/a b/"));
    }

    #[test]
    fn other_text_is_replaced_everywhere() {
        let data = b"VIRTUAL_ENV=\"/stage/b\"\nexport PATH=\"/stage/b/bin:$PATH\"\n";
        let (out, sb) = relocated(data, "/stage/b", "/opt/v");
        assert!(!sb);
        assert_eq!(
            out,
            b"VIRTUAL_ENV=\"/opt/v\"\nexport PATH=\"/opt/v/bin:$PATH\"\n"
        );
        // a shebang naming another interpreter is left alone
        let data = b"#!/usr/bin/env python3\nprint('/stage/b')\n";
        let (out, sb) = relocated(data, "/stage/b", "/opt/v");
        assert!(!sb);
        assert_eq!(out, b"#!/usr/bin/env python3\nprint('/opt/v')\n");
        assert_eq!(
            relocate_bytes(b"nothing here", &rel("/stage/b", "/opt/v")),
            Ok(None)
        );
    }

    #[test]
    fn binary_file_or_bare_staging_root_is_an_error() {
        let e = relocate_bytes(b"\x7fELF\0/stage/b\0", &rel("/stage/b", "/opt/v")).unwrap_err();
        assert!(e.contains("binary file"), "{e}");
        let e = relocate_bytes(b"/stage/b /stage/other\n", &rel("/stage/b", "/opt/v")).unwrap_err();
        assert!(e.contains("staging directory"), "{e}");
    }

    #[test]
    fn unversioned_python_shebangs_point_at_the_venv() {
        let point = |data: &str| {
            point_unversioned_python(data.as_bytes(), b"/opt/v")
                .map(|o| String::from_utf8(o).unwrap())
        };
        for line in [
            "#!python",
            "#!/usr/bin/python",
            "#!/usr/bin/env python",
            "#! /usr/bin/env  python",
            "#!/usr/local/bin/python",
            "#!/bin/python",
            "#!/usr/bin/python\r",
        ] {
            assert_eq!(
                point(&format!("{line}\nimport os\n")).as_deref(),
                Some("#!/opt/v/bin/python\nimport os\n"),
                "{line}"
            );
        }
        // arguments are kept; a file that is only the shebang keeps nothing else
        assert_eq!(
            point("#!/usr/bin/python -u\nx").as_deref(),
            Some("#!/opt/v/bin/python -u\nx")
        );
        assert_eq!(point("#!python").as_deref(), Some("#!/opt/v/bin/python\n"));
        // versioned, other interpreters, and no shebang are left alone
        for data in [
            "#!/usr/bin/env python3\n",
            "#!/usr/bin/python3.11\n",
            "#!/opt/v/bin/python\n",
            "#!/bin/sh\n",
            "#!/usr/bin/pythonw\n",
            "import os  # python\n",
            "",
        ] {
            assert_eq!(point(data), None, "{data}");
        }
        // a long venv path gets pip's sh wrapper, as bin/ scripts do
        let long = format!("/opt/{}", "y".repeat(130));
        let out = point_unversioned_python(b"#!python\nx\n", long.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("#!/bin/sh\n'''exec' {long}/bin/python \"$0\" \"$@\"\n' '''\nx\n")
        );
    }
}
