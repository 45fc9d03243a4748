//! Reading inputs (`-` is stdin) and writing outputs atomically.
//!
//! Every file a tool creates goes through [`AtomicFile`]: a temporary file in
//! the target's own directory (rename does not cross filesystems), written,
//! given its final mode, synced, then renamed over the target. A failure at
//! any step leaves no partial file behind: the temporary file is removed when
//! the [`AtomicFile`] is dropped without [`AtomicFile::commit`].

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The name used for stdin in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// True when `path` means stdin (`-`).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// How to name `path` in messages: `<stdin>` for `-`.
pub fn display_name(path: &Path) -> PathBuf {
    if is_stdin(path) {
        PathBuf::from(STDIN_NAME)
    } else {
        path.to_path_buf()
    }
}

/// Read all of `path`, or of stdin when `path` is `-`.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if is_stdin(path) {
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .map_err(|e| Error::io(STDIN_NAME, e))?;
    } else {
        buf = fs::read(path).map_err(|e| Error::io(path, e))?;
    }
    Ok(buf)
}

/// Write `data` to stdout, or atomically to `path` with mode 0644.
pub fn write_output(path: Option<&Path>, data: &[u8]) -> Result<()> {
    match path {
        None => write_stdout(data),
        Some(p) => write_atomic(p, data, 0o644),
    }
}

/// Write `data` to stdout in one go and flush it.
pub fn write_stdout(data: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(data)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("<stdout>", e))
}

/// Write `data` to `path` atomically, with `mode` (e.g. `0o644`).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let mut f = AtomicFile::new(path)?;
    f.write_all(data).map_err(|e| Error::io(path, e))?;
    f.commit(mode)
}

/// A file being written beside its target, renamed into place on
/// [`commit`](AtomicFile::commit), removed if dropped before.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    /// Start writing `target`: create a hidden temporary file in its directory.
    pub fn new(target: &Path) -> Result<Self> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .ok_or_else(|| Error::file(target, "not a file name"))?;
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(name);
        prefix.push(".");
        let tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io(target, e))?;
        Ok(Self {
            tmp,
            target: target.to_path_buf(),
        })
    }

    /// The file being written.
    pub fn file(&mut self) -> &mut fs::File {
        self.tmp.as_file_mut()
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Set `mode`, flush to disk and rename over the target.
    pub fn commit(self, mode: u32) -> Result<()> {
        let target = self.target;
        let f = self.tmp.as_file();
        f.set_permissions(fs::Permissions::from_mode(mode))
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(&target, e))?;
        self.tmp
            .persist(&target)
            .map_err(|e| Error::io(&target, e.error))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tmp.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.tmp.write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.tmp.flush()
    }
}

/// Write `data` at `root` + `install_path` (an absolute path), creating the
/// parent directories (mode 0755), atomically with `mode`. Returns the path
/// written. This is how generators place their output in a staging tree.
pub fn write_staged(root: &Path, install_path: &str, data: &[u8], mode: u32) -> Result<PathBuf> {
    let rel = install_path.trim_start_matches('/');
    let target = root.join(rel);
    if let Some(parent) = target.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(|e| Error::io(parent, e))?;
    }
    write_atomic(&target, data, mode)?;
    Ok(target)
}

/// Where a generator's output goes: stdout, `-o FILE`, or `--root DIR` (the
/// file's install path under DIR, whose path is then printed on stdout so
/// the next tool in a pipe can take it).
pub fn emit(
    output: Option<&Path>,
    root: Option<&Path>,
    install_path: &str,
    data: &[u8],
    mode: u32,
) -> Result<()> {
    match (output, root) {
        (_, Some(root)) => {
            let written = write_staged(root, install_path, data, mode)?;
            write_stdout(format!("{}\n", written.display()).as_bytes())
        }
        (Some(out), None) => write_atomic(out, data, mode),
        (None, None) => write_stdout(data),
    }
}

/// `data` as `gzip -9n` writes it: best compression, no name and no
/// timestamp in the header, so the same input gives the same bytes
/// (lintian: package-contains-timestamped-gzip).
pub fn gzip9n(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip9n_has_no_timestamp_and_round_trips() {
        let g = gzip9n(b"hello hello hello");
        assert_eq!(&g[..4], &[0x1f, 0x8b, 8, 0], "no FNAME flag");
        assert_eq!(&g[4..8], &[0, 0, 0, 0], "mtime 0");
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&g[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, b"hello hello hello");
    }

    #[test]
    fn atomic_write_sets_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        write_atomic(&p, b"hello\n", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello\n");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o644);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn dropped_atomic_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        {
            let mut f = AtomicFile::new(&p).unwrap();
            f.write_all(b"partial").unwrap();
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn staged_write_creates_parents() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_staged(dir.path(), "/etc/app/x.ini", b"x", 0o755).unwrap();
        assert_eq!(p, dir.path().join("etc/app/x.ini"));
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755);
    }

    #[test]
    fn missing_input_names_file() {
        let e = read_input(Path::new("/nonexistent/app.json")).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/app.json: "), "{e}");
    }
}
