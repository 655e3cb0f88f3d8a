//! `cargo xtask gdb`: debugging the kernel with gdb through QEMU's gdb stub.
//!
//! QEMU starts halted before the first BIOS instruction (`-S`) and listens
//! for gdb on TCP port 1234 (`-s`). It runs in the background with the
//! serial console going to a file, because the terminal belongs to gdb.
//! gdb loads the kernel ELF for its symbols: the kernel is linked at its
//! higher-half virtual addresses, so the symbols match the running code
//! once paging is on.
//!
//! The one trap is the boot code before paging. GRUB loads the kernel at its
//! *physical* (load) addresses and jumps to the physical address of the
//! entry point `_start`, so until the boot code turns paging on, the CPU runs
//! at, say, 0x126000, while gdb knows `_start` as 0xc0126000. A breakpoint
//! there needs the physical address, and is best a hardware breakpoint
//! (`hbreak`, one of the CPU's debug registers): it writes nothing into
//! memory, so it cannot be confused by paging changing what an address
//! means. xtask reads the ELF to print the exact `hbreak` command.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use crate::Error;
use crate::cargo::{self, Profile, Workspace};
use crate::iso::Staging;
use crate::qemu::{self, Machine, Serial};

/// What `cargo xtask gdb` was asked to debug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GdbOptions {
    pub profile: Profile,
    pub machine: Machine,
    pub cmdline: String,
    /// Debug this test kernel (`lib` or an integration test's name) instead
    /// of the main kernel.
    pub test: Option<String>,
}

pub fn run(ws: &Workspace, options: &GdbOptions) -> Result<ExitCode, Error> {
    let (iso_name, elf) = match &options.test {
        None => (
            "kernel".to_string(),
            cargo::build_kernel(ws, options.profile)?,
        ),
        Some(name) => (
            format!("test-{name}"),
            find_test_kernel(ws, options.profile, name)?,
        ),
    };
    let iso = Staging::new(&ws.iso_dir(), &iso_name, &elf)?
        .make_iso(&options.cmdline)?
        .to_path_buf();

    let serial_log = ws.target_dir.join("gdb-serial.log");
    let mut qemu_cmd = qemu::command(&iso, &options.machine, Serial::File(&serial_log));
    qemu_cmd.args(["-s", "-S"]);
    let mut qemu = qemu::spawn_background(qemu_cmd)?;

    println!("QEMU is halted at the first instruction, waiting for gdb on localhost:1234.");
    println!(
        "The kernel's serial output goes to {}",
        serial_log.display()
    );
    println!(
        "  (follow it from another terminal: tail -f {})",
        serial_log.display()
    );
    println!("Hints:");
    match fs::read(&elf).ok().as_deref().and_then(physical_entry) {
        Some(entry) => {
            let command = format!("hbreak *{:#x}", entry.paddr);
            println!(
                "  {command:<22}stop at _start, before paging is on: the CPU runs at physical"
            );
            println!(
                "  {:<22}addresses there (to gdb, `_start` is the higher-half {:#x})",
                "", entry.vaddr
            );
        }
        None => println!("  (cannot read the entry point from {})", elf.display()),
    }
    println!(
        "  {:<22}stop in Rust code, once paging is on (also: break start_kernel)",
        "break kernel_init"
    );
    println!("  {:<22}run; Ctrl-C stops the guest again", "continue");
    println!("Quitting gdb stops QEMU.");

    println!("  {:<22}linmem386's commands (scripts/gdb/linmem.py): lm-buddyinfo, lm-zoneinfo,", "lm-*");
    println!("  {:<22}lm-page PFN, lm-pte VADDR, lm-pkmap, lm-kmap-atomic, lm-memblock, lm-slabinfo", "");

    let mut gdb = Command::new("gdb");
    gdb.arg("-q")
        .arg(&elf)
        .args(["-ex", "target remote localhost:1234"])
        .arg("-x")
        .arg(gdb_script(ws));
    println!("$ {}", qemu::display_command(&gdb));
    let mut gdb = gdb.spawn().map_err(|e| {
        Error::new(format!(
            "could not start gdb: {e} (install the gdb package)"
        ))
    })?;
    // Ctrl-C is for gdb (to interrupt the guest); xtask must live on to stop QEMU.
    qemu::ignore_interrupts();
    let status = gdb
        .wait()
        .map_err(|e| Error::new(format!("waiting for gdb failed: {e}")))?;
    qemu.kill();
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The repository's gdb commands (`lm-buddyinfo` and friends).
pub fn gdb_script(ws: &Workspace) -> PathBuf {
    ws.root.join("scripts/gdb/linmem.py")
}

/// The gdb port of the suite's batch session (not 1234, which an
/// interactive `cargo xtask gdb` may hold).
const BATCH_GDB_PORT: u16 = 12_345;

/// What the batch session printed, gdb's and the kernel's side.
pub struct BatchSession {
    /// gdb's standard output (the lm-* commands' answers).
    pub gdb_output: String,
    /// The kernel's serial output.
    pub serial: String,
}

/// Boots the kernel at `machine` halted, runs gdb in batch mode with the
/// repository's script: stop at `PgData::show_buddyinfo` (after `mem_init`
/// and `kmem_cache_init`, just before the boot log prints buddyinfo), run
/// `commands`, let the function print (`finish`), and return both outputs.
pub fn batch_session(ws: &Workspace, machine: &Machine, commands: &[&str]) -> Result<BatchSession, Error> {
    let elf = cargo::build_kernel(ws, Profile::Debug)?;
    let iso = Staging::new(&ws.iso_dir(), "gdb-batch", &elf)?.make_iso("")?.to_path_buf();
    let serial_log = ws.target_dir.join("gdb-batch-serial.log");
    let _ = fs::remove_file(&serial_log);
    let mut qemu_cmd = qemu::command(&iso, machine, Serial::File(&serial_log));
    qemu_cmd.args(["-gdb", &format!("tcp::{BATCH_GDB_PORT}"), "-S"]);
    let mut qemu = qemu::spawn_background(qemu_cmd)?;
    let mut gdb = Command::new("gdb");
    gdb.args(["-batch", "-nx"]).arg(&elf);
    for command in [format!("target remote localhost:{BATCH_GDB_PORT}"), format!("source {}", gdb_script(ws).display())]
        .iter()
        .map(String::as_str)
        .chain(["hbreak kernel::mm::mmzone::PgData::show_buddyinfo", "continue"])
        .chain(commands.iter().copied())
        .chain(["finish"])
    {
        gdb.args(["-ex", command]);
    }
    println!("$ {}", qemu::display_command(&gdb));
    let output = crate::qemu::output_with_timeout(gdb, std::time::Duration::from_secs(120))
        .map_err(|e| Error::new(format!("gdb: {e} (install the gdb package)")))?;
    qemu.kill();
    Ok(BatchSession {
        gdb_output: String::from_utf8_lossy(&output).into_owned(),
        serial: fs::read_to_string(&serial_log).unwrap_or_default(),
    })
}

/// Builds the test kernels and returns the ELF of the one called `name`.
fn find_test_kernel(ws: &Workspace, profile: Profile, name: &str) -> Result<PathBuf, Error> {
    let kernels = cargo::build_test_kernels(ws, profile)?;
    let names: Vec<&str> = kernels.iter().map(|k| k.name.as_str()).collect();
    kernels
        .iter()
        .find(|k| k.name == name)
        .map(|k| k.elf.clone())
        .ok_or_else(|| {
            Error::new(format!(
                "no test kernel called `{name}`; there are: {}",
                names.join(", ")
            ))
        })
}

/// The kernel's entry point at its link (virtual) address and at the
/// physical address where GRUB actually jumps.
#[derive(Debug, PartialEq, Eq)]
struct EntryPoint {
    vaddr: u32,
    paddr: u32,
}

/// Reads `e_entry` from a 32-bit little-endian ELF file and translates it
/// to a physical address the way GRUB's Multiboot 2 loader does: through
/// the loadable segment (`PT_LOAD` program header) that contains it, whose
/// `p_paddr` says where the segment was put in memory.
fn physical_entry(elf: &[u8]) -> Option<EntryPoint> {
    const PT_LOAD: u32 = 1;
    let u16_at = |offset: usize| {
        Some(u16::from_le_bytes(
            elf.get(offset..offset + 2)?.try_into().ok()?,
        ))
    };
    let u32_at = |offset: usize| {
        Some(u32::from_le_bytes(
            elf.get(offset..offset + 4)?.try_into().ok()?,
        ))
    };
    // "\x7fELF", 32-bit class (1), little-endian (1).
    if elf.get(..6)? != b"\x7fELF\x01\x01" {
        return None;
    }
    let entry = u32_at(24)?;
    let program_headers = u32_at(28)? as usize;
    let header_size = usize::from(u16_at(42)?);
    let nr_headers = usize::from(u16_at(44)?);
    (0..nr_headers).find_map(|i| {
        let header = program_headers + i * header_size;
        let (kind, vaddr, paddr, memsz) = (
            u32_at(header)?,
            u32_at(header + 8)?,
            u32_at(header + 12)?,
            u32_at(header + 20)?,
        );
        (kind == PT_LOAD && (vaddr..vaddr.wrapping_add(memsz)).contains(&entry)).then(|| {
            EntryPoint {
                vaddr: entry,
                paddr: entry - vaddr + paddr,
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF32 image: the file header and `segments` as
    /// (type, vaddr, paddr, memsz) program headers.
    fn elf(entry: u32, segments: &[(u32, u32, u32, u32)]) -> Vec<u8> {
        let mut image = vec![0u8; 52];
        image[..6].copy_from_slice(b"\x7fELF\x01\x01");
        image[24..28].copy_from_slice(&entry.to_le_bytes());
        image[28..32].copy_from_slice(&52u32.to_le_bytes());
        image[42..44].copy_from_slice(&32u16.to_le_bytes());
        image[44..46].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for &(kind, vaddr, paddr, memsz) in segments {
            let mut header = [0u8; 32];
            header[0..4].copy_from_slice(&kind.to_le_bytes());
            header[8..12].copy_from_slice(&vaddr.to_le_bytes());
            header[12..16].copy_from_slice(&paddr.to_le_bytes());
            header[20..24].copy_from_slice(&memsz.to_le_bytes());
            image.extend_from_slice(&header);
        }
        image
    }

    #[test]
    fn translates_the_entry_point_through_its_segment() {
        let image = elf(
            0xc012_6010,
            &[
                (1, 0xc010_0000, 0x0010_0000, 0x1000),
                (4, 0xc012_6000, 0, 0x100),
                (1, 0xc012_6000, 0x0012_6000, 0x100),
            ],
        );
        assert_eq!(
            physical_entry(&image),
            Some(EntryPoint {
                vaddr: 0xc012_6010,
                paddr: 0x0012_6010
            })
        );
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert_eq!(
            physical_entry(b"not an elf file at all, not even close to one........"),
            None
        );
        assert_eq!(
            physical_entry(&elf(0xdead_0000, &[(1, 0xc010_0000, 0x0010_0000, 0x1000)])),
            None
        );
        let truncated = elf(0xc010_0000, &[(1, 0xc010_0000, 0x0010_0000, 0x1000)]);
        assert_eq!(physical_entry(&truncated[..60]), None);
    }
}
