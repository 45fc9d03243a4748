//! ELF files: which are programs (0755) and which shared libraries (0644).

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// An ELF file found in the venv.
#[derive(Debug, Clone)]
pub struct ElfFile {
    /// Its path (in the build directory).
    pub path: PathBuf,
    /// `DT_NEEDED` entries.
    pub needed: Vec<String>,
    /// Search path: `DT_RPATH` (when there is no `DT_RUNPATH`), then `DT_RUNPATH`.
    pub search: Vec<String>,
    /// `(is_64, little_endian, e_machine)`, to pick libraries of the same kind.
    pub kind: (bool, bool, u16),
    /// A program (mode 0755) rather than a shared library or object (0644).
    pub executable: bool,
}

/// True for an ELF file that is a program: `ET_EXEC`, or `ET_DYN` with a
/// `PT_INTERP` program header (a PIE) or the `DF_1_PIE` flag (a static PIE).
/// A shared library or extension module is `ET_DYN` with neither.
pub fn elf_is_executable(elf: &goblin::elf::Elf) -> bool {
    use goblin::elf::{dynamic::DF_1_PIE, header, program_header::PT_INTERP};
    match elf.header.e_type {
        header::ET_EXEC => true,
        header::ET_DYN => {
            elf.program_headers.iter().any(|ph| ph.p_type == PT_INTERP)
                || elf
                    .dynamic
                    .as_ref()
                    .is_some_and(|d| d.info.flags_1 & DF_1_PIE != 0)
        }
        _ => false,
    }
}

pub(crate) fn parse_elf(path: &Path, data: &[u8]) -> Option<ElfFile> {
    let elf = goblin::elf::Elf::parse(data).ok()?;
    let needed = elf.libraries.iter().map(|s| (*s).to_string()).collect();
    let mut search: Vec<String> = Vec::new();
    if elf.runpaths.is_empty() {
        search.extend(elf.rpaths.iter().map(|s| (*s).to_string()));
    }
    search.extend(elf.runpaths.iter().map(|s| (*s).to_string()));
    Some(ElfFile {
        path: path.to_path_buf(),
        needed,
        search,
        kind: (elf.is_64, elf.little_endian, elf.header.e_machine),
        executable: elf_is_executable(&elf),
    })
}

/// `(is_64, little_endian, e_machine)` of an ELF file, from its header.
pub(crate) fn elf_kind(path: &Path) -> Option<(bool, bool, u16)> {
    let mut head = [0u8; 20];
    fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    if !head.starts_with(b"\x7fELF") {
        return None;
    }
    let little = head[5] == 1;
    let machine = if little {
        u16::from_le_bytes([head[18], head[19]])
    } else {
        u16::from_be_bytes([head[18], head[19]])
    };
    Some((head[4] == 2, little, machine))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A little-endian x86-64 ELF header of type `e_type`, with a
    /// `PT_INTERP` program header when `interp`, and a `PT_DYNAMIC` one
    /// holding `DT_FLAGS_1` = `flags_1` when given.
    fn elf64(e_type: u16, interp: bool, flags_1: Option<u64>) -> Vec<u8> {
        use goblin::elf::{dynamic, program_header};
        const INTERP: &[u8] = b"/lib64/ld-linux-x86-64.so.2\0";
        let mut phdrs: Vec<(u32, Vec<u8>)> = Vec::new();
        if interp {
            phdrs.push((program_header::PT_INTERP, INTERP.to_vec()));
        }
        if let Some(flags) = flags_1 {
            let mut dyns = Vec::new();
            for v in [dynamic::DT_FLAGS_1, flags, dynamic::DT_NULL, 0] {
                dyns.extend_from_slice(&v.to_le_bytes());
            }
            phdrs.push((program_header::PT_DYNAMIC, dyns));
        }
        let phnum = u16::try_from(phdrs.len()).unwrap();
        let mut out = b"\x7fELF\x02\x01\x01".to_vec();
        out.resize(16, 0);
        out.extend_from_slice(&e_type.to_le_bytes());
        out.extend_from_slice(&goblin::elf::header::EM_X86_64.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes()); // e_version
        out.extend_from_slice(&0u64.to_le_bytes()); // e_entry
        out.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
        out.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
        out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        for half in [64u16, 56, phnum, 64, 0, 0] {
            out.extend_from_slice(&half.to_le_bytes());
        }
        let mut offset = 64 + 56 * u64::from(phnum);
        for (p_type, body) in &phdrs {
            let size = body.len() as u64;
            out.extend_from_slice(&p_type.to_le_bytes());
            out.extend_from_slice(&4u32.to_le_bytes()); // p_flags: R
            // p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
            for v in [offset, offset, offset, size, size, 8] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            offset += size;
        }
        for (_, body) in phdrs {
            out.extend_from_slice(&body);
        }
        out
    }

    #[test]
    fn elf_executables_are_told_from_shared_libraries() {
        use goblin::elf::{dynamic::DF_1_PIE, header};
        let executable = |data: Vec<u8>| parse_elf(Path::new("x"), &data).unwrap().executable;
        // a position-dependent program
        assert!(executable(elf64(header::ET_EXEC, false, None)));
        assert!(executable(elf64(header::ET_EXEC, true, None)));
        // a PIE program: ET_DYN with an interpreter, or flagged PIE (static PIE)
        assert!(executable(elf64(header::ET_DYN, true, None)));
        assert!(executable(elf64(header::ET_DYN, false, Some(DF_1_PIE))));
        // a shared library or extension module: ET_DYN with neither
        assert!(!executable(elf64(header::ET_DYN, false, None)));
        assert!(!executable(elf64(header::ET_DYN, false, Some(0))));
        // an object file
        assert!(!executable(elf64(header::ET_REL, false, None)));
    }
}
