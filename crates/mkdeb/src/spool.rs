//! Where the compressed data member waits for the control member, which
//! comes before it in the archive but needs its files' MD5s: in memory as a
//! list of buffers (members are kept as they come, never copied into a
//! growing buffer), or, past a limit, in an unnamed file beside the target.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::compress::Sink;

/// Size of the buffers `write` fills.
const PART: usize = 1 << 20;

/// The compressed data member, in memory or in a file.
#[derive(Debug)]
pub struct Spool {
    parts: Vec<Vec<u8>>,
    held: usize,
    limit: usize,
    dir: PathBuf,
    file: Option<File>,
    len: u64,
}

impl Spool {
    /// A spool keeping up to `limit` bytes in memory, then moving to a file
    /// in `dir`.
    pub fn new(limit: usize, dir: PathBuf) -> Self {
        Self {
            parts: Vec::new(),
            held: 0,
            limit,
            dir,
            file: None,
            len: 0,
        }
    }

    /// Bytes written.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Write everything to `out`, in order; returns the length.
    pub fn copy_to(self, out: &mut File) -> io::Result<u64> {
        if let Some(mut f) = self.file {
            // copy_file_range on Linux.
            use std::io::Seek;
            f.rewind()?;
            return std::io::copy(&mut f, out);
        }
        for p in &self.parts {
            out.write_all(p)?;
        }
        Ok(self.len)
    }

    /// Past the limit: move what is held to a file, and write there from
    /// now on.
    fn spill(&mut self) -> io::Result<()> {
        let mut f = tempfile::tempfile_in(&self.dir)?;
        for p in self.parts.drain(..) {
            f.write_all(&p)?;
        }
        self.held = 0;
        self.file = Some(f);
        Ok(())
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(f) = &mut self.file {
            let n = f.write(buf)?;
            self.len += n as u64;
            return Ok(n);
        }
        let last = match self.parts.last_mut() {
            Some(p) if p.capacity() > p.len() => p,
            _ => {
                self.parts.push(Vec::with_capacity(PART));
                self.parts
                    .last_mut()
                    .ok_or_else(|| io::Error::other("no part"))?
            }
        };
        let n = buf.len().min(last.capacity() - last.len());
        last.extend_from_slice(&buf[..n]);
        self.held += n;
        self.len += n as u64;
        if self.held > self.limit {
            self.spill()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for Spool {
    fn push(&mut self, member: Vec<u8>) -> io::Result<()> {
        if self.file.is_some() {
            return self.write_all(&member);
        }
        self.held += member.len();
        self.len += member.len() as u64;
        self.parts.push(member);
        if self.held > self.limit {
            self.spill()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek};

    fn contents(s: Spool) -> Vec<u8> {
        let mut f = tempfile::tempfile().unwrap();
        let n = s.copy_to(&mut f).unwrap();
        f.rewind().unwrap();
        let mut v = Vec::new();
        f.read_to_end(&mut v).unwrap();
        assert_eq!(n, v.len() as u64);
        v
    }

    #[test]
    fn writes_and_members_keep_their_order_in_memory_and_on_disk() {
        for limit in [usize::MAX, 1000] {
            let mut s = Spool::new(limit, std::env::temp_dir());
            s.write_all(&[1; 700]).unwrap();
            s.push(vec![2; 500]).unwrap();
            s.write_all(&vec![3; PART + 10]).unwrap();
            s.push(vec![4; 3]).unwrap();
            assert_eq!(s.len(), 700 + 500 + PART as u64 + 10 + 3);
            assert_eq!(s.file.is_some(), limit == 1000);
            let mut want = vec![1; 700];
            want.extend(vec![2; 500]);
            want.extend(vec![3; PART + 10]);
            want.extend(vec![4; 3]);
            assert_eq!(contents(s), want);
        }
    }
}
