//! Making a bootable CD image (ISO) with GRUB and our kernel.
//!
//! QEMU's own `-kernel` loader speaks only Multiboot 1, while the kernel is a
//! Multiboot 2 ELF (for the memory map and the command line). So we let GRUB
//! load it: `grub-mkrescue` builds an El Torito ISO holding GRUB's BIOS
//! boot image, its modules, and our staging directory:
//!
//! ```text
//! target/iso/<name>/boot/kernel.elf      the kernel's loadable part (see below)
//! target/iso/<name>/boot/grub/grub.cfg   boots it at once, console on COM1
//! target/iso/<name>.iso                  the result
//! ```
//!
//! The kernel's command line lives in grub.cfg, so each test boot (with its
//! own `test_resume=`) needs a fresh ISO. That costs about 0.2 s: the staging
//! directory is reused and only grub.cfg is rewritten.
//!
//! The staged kernel is the ELF cut after its last loadable byte
//! ([`loadable_part`]): the debug information (some 10 MiB of a 0.6 MiB
//! kernel) stays in `target/` for gdb. GRUB reads the whole file from the
//! emulated CD through the BIOS, which took 2.4 s per boot with it and
//! takes a fraction of that without.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// The GRUB configuration: no menu delay, everything on the serial port
/// (our only console), and one entry that boots the kernel via Multiboot 2.
pub fn grub_cfg(cmdline: &str) -> Result<String, Error> {
    if cmdline.contains(['\n', '\r']) {
        return Err(Error::new("the kernel command line must be a single line"));
    }
    let mut kernel_line = String::from("multiboot2 /boot/kernel.elf");
    for word in cmdline.split_whitespace() {
        kernel_line.push(' ');
        kernel_line.push_str(&grub_word(word));
    }
    Ok(format!(
        "set timeout=0\n\
         set default=0\n\
         serial --unit=0 --speed=115200\n\
         terminal_input serial\n\
         terminal_output serial\n\
         menuentry \"linmem\" {{\n\
         \x20   {kernel_line}\n\
         \x20   boot\n\
         }}\n"
    ))
}

/// Quotes one command-line word for GRUB's shell-like script syntax. Plain
/// words stay as they are (so grub.cfg stays readable); anything else goes in
/// single quotes, where GRUB expands nothing (`$`, `;` and `{` are special to
/// GRUB otherwise). GRUB hands the kernel the words joined by single spaces,
/// without our quotes; only quote characters and backslashes inside a word
/// reach the kernel backslash-escaped.
fn grub_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-=:,./+@%".contains(c);
    if word.chars().all(plain) {
        word.to_string()
    } else {
        // A single quote cannot appear inside single quotes: close, add an
        // escaped quote, reopen.
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The part of a 32-bit ELF executable a loader needs: everything up to the
/// end of the last `PT_LOAD` segment's file data (and of the program header
/// table), with the section header table dropped (`e_shoff`, `e_shnum`,
/// `e_shstrndx` zeroed) — sections, debug information included, lie after
/// the segments in what our linker writes, and a Multiboot2 loader only
/// follows the program headers.
pub fn loadable_part(elf: &[u8]) -> Result<Vec<u8>, &'static str> {
    let u16_at = |at: usize| elf.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |at: usize| elf.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    if elf.get(0..4) != Some(b"\x7fELF") || elf.get(4) != Some(&1) || elf.get(5) != Some(&1) {
        return Err("not a little-endian 32-bit ELF file");
    }
    let (phoff, phentsize, phnum) = match (u32_at(28), u16_at(42), u16_at(44)) {
        (Some(off), Some(size), Some(num)) if size >= 32 => (off, size, num),
        _ => return Err("truncated ELF header"),
    };
    let mut end = phoff + phentsize * phnum;
    for index in 0..phnum {
        let entry = phoff + index * phentsize;
        let (Some(kind), Some(offset), Some(filesz)) = (u32_at(entry), u32_at(entry + 4), u32_at(entry + 16)) else {
            return Err("truncated program header table");
        };
        const PT_LOAD: usize = 1;
        if kind == PT_LOAD {
            end = end.max(offset + filesz);
        }
    }
    let mut image = elf.get(..end).ok_or("a segment extends past the end of the file")?.to_vec();
    image[32..36].fill(0); // e_shoff
    image[48..52].fill(0); // e_shnum, e_shstrndx
    Ok(image)
}

/// A staging directory for one kernel, and the ISO made from it.
pub struct Staging {
    dir: PathBuf,
    iso: PathBuf,
}

impl Staging {
    /// Prepares `<iso_dir>/<name>/boot/` with a copy of `elf` as `kernel.elf`.
    pub fn new(iso_dir: &Path, name: &str, elf: &Path) -> Result<Staging, Error> {
        let dir = iso_dir.join(name);
        let grub_dir = dir.join("boot/grub");
        fs::create_dir_all(&grub_dir)
            .map_err(|e| Error::new(format!("cannot create {}: {e}", grub_dir.display())))?;
        let staged = dir.join("boot/kernel.elf");
        let image = fs::read(elf).map_err(|e| Error::new(format!("cannot read {}: {e}", elf.display())))?;
        let image = loadable_part(&image).map_err(|why| Error::new(format!("{}: {why}", elf.display())))?;
        fs::write(&staged, image).map_err(|e| Error::new(format!("cannot write {}: {e}", staged.display())))?;
        Ok(Staging {
            dir,
            iso: iso_dir.join(format!("{name}.iso")),
        })
    }

    /// Writes grub.cfg with this command line and runs grub-mkrescue.
    /// grub-mkrescue (and xorriso under it) narrate every step on stderr;
    /// that is kept quiet unless it fails.
    pub fn make_iso(&self, cmdline: &str) -> Result<&Path, Error> {
        let cfg_path = self.dir.join("boot/grub/grub.cfg");
        fs::write(&cfg_path, grub_cfg(cmdline)?)
            .map_err(|e| Error::new(format!("cannot write {}: {e}", cfg_path.display())))?;
        let output = Command::new("grub-mkrescue")
            // Fonts, translations and themes are for GRUB's graphical menu,
            // which a serial console never shows; leaving them out halves the ISO.
            .args(["--fonts=", "--locales=", "--themes="])
            .arg("-o")
            .arg(&self.iso)
            .arg(&self.dir)
            .output()
            .map_err(|e| {
                Error::new(format!(
                    "could not run grub-mkrescue: {e} (install the grub-common package)"
                ))
            })?;
        if !output.status.success() {
            return Err(Error::new(format!(
                "grub-mkrescue failed ({}) making {}. Its output:\n{}{}\n\
                 (grub-mkrescue needs the grub-pc-bin, xorriso and mtools packages)",
                output.status,
                self.iso.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            )));
        }
        Ok(&self.iso)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_cfg_layout() {
        let cfg = grub_cfg("test=buddy  test_resume=kernel::mm::a").unwrap();
        assert_eq!(
            cfg,
            "set timeout=0\nset default=0\nserial --unit=0 --speed=115200\n\
             terminal_input serial\nterminal_output serial\n\
             menuentry \"linmem\" {\n    multiboot2 /boot/kernel.elf test=buddy test_resume=kernel::mm::a\n    boot\n}\n"
        );
        assert!(
            grub_cfg("")
                .unwrap()
                .contains("    multiboot2 /boot/kernel.elf\n")
        );
    }

    #[test]
    fn quotes_special_words() {
        assert_eq!(grub_word("mem=1G"), "mem=1G");
        assert_eq!(grub_word("a;b"), "'a;b'");
        assert_eq!(grub_word("$x"), "'$x'");
        assert_eq!(grub_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn rejects_multi_line_command_lines() {
        assert!(grub_cfg("a\nboot").is_err());
    }

    /// A hand-made ELF: header, one program header, 8 bytes of segment, then
    /// "debug" bytes and a section table that must not survive.
    #[test]
    fn only_the_loadable_part_is_staged() {
        let mut elf = vec![0u8; 52 + 32 + 8 + 16];
        elf[0..6].copy_from_slice(b"\x7fELF\x01\x01");
        elf[28..32].copy_from_slice(&52u32.to_le_bytes()); // e_phoff
        elf[32..36].copy_from_slice(&92u32.to_le_bytes()); // e_shoff (the "debug" part)
        elf[42..44].copy_from_slice(&32u16.to_le_bytes()); // e_phentsize
        elf[44..46].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        elf[48..50].copy_from_slice(&3u16.to_le_bytes()); // e_shnum
        elf[52..56].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        elf[56..60].copy_from_slice(&84u32.to_le_bytes()); // p_offset
        elf[68..72].copy_from_slice(&8u32.to_le_bytes()); // p_filesz
        elf[84..92].copy_from_slice(b"SEGMENT!");
        let image = loadable_part(&elf).unwrap();
        assert_eq!(image.len(), 92);
        assert_eq!(&image[84..92], b"SEGMENT!");
        assert_eq!((&image[32..36], &image[48..52]), (&[0u8; 4][..], &[0u8; 4][..]));
        assert_eq!(loadable_part(b"MZ\x90\x00"), Err("not a little-endian 32-bit ELF file"));
        elf[68..72].copy_from_slice(&100u32.to_le_bytes());
        assert_eq!(loadable_part(&elf), Err("a segment extends past the end of the file"));
    }
}
