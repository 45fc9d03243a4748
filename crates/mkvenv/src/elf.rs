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
