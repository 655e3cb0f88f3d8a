//! Finding the CPUs: the ACPI MADT (Linux `arch/x86/kernel/acpi/boot.c`
//! `acpi_boot_init` -> `acpi_parse_madt` / `acpi_parse_lapic`, and
//! `drivers/acpi/tables.c` for the table walk).
//!
//! A PC's firmware describes its processors in ACPI tables. The chain:
//! 1. the **RSDP** ("RSD PTR "), which GRUB copies into the Multiboot2
//!    information (tags 14 and 15). Without those tags we search where the
//!    ACPI specification says it lies, as Linux's `acpi_find_root_pointer`
//!    does: the first KiB of the EBDA, then the BIOS ROM 0xe0000-0xfffff,
//!    on 16-byte boundaries;
//! 2. the **RSDT**, a list of 32-bit physical addresses of tables, each
//!    starting with the common 36-byte header (signature, length, checksum);
//! 3. the **MADT** (signature "APIC"): the local APIC's physical address,
//!    then variable-length entries. Type 0, "processor local APIC", is one
//!    CPU: its ACPI processor id, its APIC id, and whether it is enabled.
//!    We also print (but do not use: no I/O APIC driver here, the 8259A
//!    stays in charge of device interrupts) the I/O APIC, interrupt source
//!    override and local APIC NMI entries, in Linux's format.
//!
//! Every table's checksum is verified (the bytes sum to 0 mod 256); a bad
//! one is reported and the table ignored, and without a usable MADT the
//! kernel runs on the boot CPU alone (Linux: "ACPI: no MADT found").
//!
//! The tables lie in RAM the e820 map calls "ACPI data", at the top of the
//! memory below 4 GiB — above the 896 MiB direct map when there is more
//! RAM than that. Like Linux 2.6's `__acpi_map_table` we read them through
//! fixmap pages (`FIX_ACPI_BEGIN`..`FIX_ACPI_END`) when they are not in the
//! direct map, copying each table out before parsing it.
//!
//! Simplified: no XSDT (QEMU's SeaBIOS provides ACPI 1.0 tables, and an
//! XSDT of a 32-bit PC points below 4 GiB anyway: we follow the RSDT both
//! revisions carry), no MP-table fallback, no SRAT/NUMA.

use crate::arch::x86::paging::{PAGE_KERNEL, clear_fixmap, set_fixmap};
use crate::mm::layout::{__fix_to_virt, __va, fixed_addresses};
use crate::mm::{PAGE_SHIFT, PAGE_SIZE};

/// Most local-APIC entries kept from the MADT (more are reported).
pub const MAX_MADT_LAPICS: usize = 16;
/// Largest table we copy out (a MADT of 16 CPUs is under 300 bytes).
const TABLE_BUFFER: usize = 4096;
/// Size of the common table header (`struct acpi_table_header`).
const SDT_HEADER_LEN: usize = 36;

/// One "processor local APIC" entry of the MADT (`struct acpi_madt_local_apic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MadtLapic {
    /// The processor's id in the ACPI namespace.
    pub acpi_id: u8,
    /// Its local APIC id: the destination of an IPI.
    pub apic_id: u8,
    /// Whether the firmware says it may be used (`ACPI_MADT_ENABLED`).
    pub enabled: bool,
}

/// What the MADT told us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Madt {
    /// Physical address of every CPU's local APIC registers.
    pub lapic_addr: u32,
    /// The local-APIC entries in table order (the first `nr_lapics`).
    lapics: [MadtLapic; MAX_MADT_LAPICS],
    nr_lapics: usize,
    /// Local-APIC entries beyond [`MAX_MADT_LAPICS`], counted only.
    pub lapics_dropped: usize,
}

impl Madt {
    /// The CPUs the firmware lists, in table order.
    pub fn lapics(&self) -> &[MadtLapic] {
        &self.lapics[..self.nr_lapics]
    }
}

/// Why the MADT could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// No RSDP in the boot information or the BIOS areas.
    NoRsdp,
    /// A table whose bytes do not sum to 0.
    BadChecksum(&'static str),
    /// A table shorter than its header says, or longer than we copy.
    BadLength(&'static str),
    /// The RSDT lists no "APIC" table.
    NoMadt,
}

impl core::fmt::Display for AcpiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AcpiError::NoRsdp => write!(f, "no RSDP (neither in the Multiboot2 tags nor in the BIOS areas)"),
            AcpiError::BadChecksum(table) => write!(f, "{table} checksum error"),
            AcpiError::BadLength(table) => write!(f, "{table} has an impossible length"),
            AcpiError::NoMadt => write!(f, "no MADT found"),
        }
    }
}

/// Whether `bytes` sum to zero modulo 256 (the ACPI checksum rule).
fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b)) == 0
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes([bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]])
}

fn text(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("?").trim_end_matches([' ', '\0'])
}

/// Parses a MADT held in `table` (header included) and prints its entries
/// as Linux does (`acpi_table_print_madt_entry`).
pub fn acpi_parse_madt(table: &[u8]) -> Result<Madt, AcpiError> {
    if table.len() < SDT_HEADER_LEN + 8 || u32_at(table, 4) as usize != table.len() {
        return Err(AcpiError::BadLength("MADT"));
    }
    if !checksum_ok(table) {
        return Err(AcpiError::BadChecksum("MADT"));
    }
    let mut madt = Madt {
        lapic_addr: u32_at(table, SDT_HEADER_LEN),
        lapics: [MadtLapic { acpi_id: 0, apic_id: 0, enabled: false }; MAX_MADT_LAPICS],
        nr_lapics: 0,
        lapics_dropped: 0,
    };
    log::info!("ACPI: Local APIC address {:#010x}", madt.lapic_addr);
    let mut offset = SDT_HEADER_LEN + 8;
    while offset + 2 <= table.len() {
        let (kind, len) = (table[offset], table[offset + 1] as usize);
        if len < 2 || offset + len > table.len() {
            log::warn!("ACPI: MADT entry at offset {offset} has a bad length {len}, rest of the table ignored");
            break;
        }
        let entry = &table[offset..offset + len];
        match (kind, len) {
            (0, 8) => {
                let lapic = MadtLapic { acpi_id: entry[2], apic_id: entry[3], enabled: u32_at(entry, 4) & 1 != 0 };
                log::info!("ACPI: LAPIC (acpi_id[{:#04x}] lapic_id[{:#04x}] {})", lapic.acpi_id, lapic.apic_id,
                    if lapic.enabled { "enabled" } else { "disabled" });
                if madt.nr_lapics < MAX_MADT_LAPICS {
                    madt.lapics[madt.nr_lapics] = lapic;
                    madt.nr_lapics += 1;
                } else {
                    madt.lapics_dropped += 1;
                }
            }
            (1, 12) => log::info!("ACPI: IOAPIC (id[{:#04x}] address[{:#010x}] gsi_base[{}])", entry[2], u32_at(entry, 4), u32_at(entry, 8)),
            (2, 10) => log::info!("ACPI: INT_SRC_OVR (bus {} bus_irq {} global_irq {} flags {:#x})",
                entry[2], entry[3], u32_at(entry, 4), u16::from_le_bytes([entry[8], entry[9]])),
            (4, 6) => log::info!("ACPI: LAPIC_NMI (acpi_id[{:#04x}] flags {:#x} lint[{:#x}])",
                entry[2], u16::from_le_bytes([entry[3], entry[4]]), entry[5]),
            (5, 12) => {
                let addr = u64::from_le_bytes(entry[4..12].try_into().expect("8 bytes"));
                log::info!("ACPI: LAPIC_ADDR_OVR (address[{addr:#018x}])");
                if let Ok(addr) = u32::try_from(addr) {
                    madt.lapic_addr = addr;
                }
            }
            _ => log::debug!("ACPI: MADT entry type {kind} (length {len}) ignored"),
        }
        offset += len;
    }
    Ok(madt)
}

/// Copies `buf.len()` bytes of physical memory at `paddr` into `buf`:
/// through the direct map where it reaches, else through the fixmap's ACPI
/// window one page at a time (Linux `__acpi_map_table`). Only for boot
/// code that runs before other CPUs (the window is not shared safely).
fn copy_from_phys(paddr: u64, buf: &mut [u8]) {
    let direct_end = (crate::mm::init::max_low_pfn() as u64) << PAGE_SHIFT;
    let mut done = 0;
    while done < buf.len() {
        let addr = paddr + done as u64;
        let in_page = (PAGE_SIZE - (addr as usize & (PAGE_SIZE - 1))).min(buf.len() - done);
        let (vaddr, mapped) = if addr + in_page as u64 <= direct_end {
            (__va(addr), false)
        } else {
            set_fixmap(fixed_addresses::FIX_ACPI_BEGIN, addr, PAGE_KERNEL);
            (__fix_to_virt(fixed_addresses::FIX_ACPI_BEGIN) + (addr as usize & (PAGE_SIZE - 1)), true)
        };
        // SAFETY: `vaddr` maps `in_page` bytes of the page holding `addr`
        // (the direct map, or the ACPI fixmap slot just pointed at it); the
        // firmware's tables are plain memory that nothing writes.
        let src = unsafe { core::slice::from_raw_parts(vaddr as *const u8, in_page) };
        buf[done..done + in_page].copy_from_slice(src);
        if mapped {
            clear_fixmap(fixed_addresses::FIX_ACPI_BEGIN);
        }
        done += in_page;
    }
}

/// Reads the table at `paddr` into `buf`, checks its length and checksum;
/// returns its bytes.
fn read_table<'b>(paddr: u64, what: &'static str, buf: &'b mut [u8; TABLE_BUFFER]) -> Result<&'b [u8], AcpiError> {
    copy_from_phys(paddr, &mut buf[..SDT_HEADER_LEN]);
    let len = u32_at(&buf[..], 4) as usize;
    if !(SDT_HEADER_LEN..=TABLE_BUFFER).contains(&len) {
        return Err(AcpiError::BadLength(what));
    }
    copy_from_phys(paddr, &mut buf[..len]);
    let table = &buf[..len];
    if !checksum_ok(table) {
        return Err(AcpiError::BadChecksum(what));
    }
    log::info!("ACPI: {} {:#010x} {:06X} (v{:02} {:6} {:8} {:08X})", text(&table[0..4]), paddr, len, table[8],
        text(&table[10..16]), text(&table[16..24]), u32_at(table, 24));
    Ok(table)
}

/// Looks for "RSD PTR " with a valid checksum on 16-byte boundaries of the
/// direct-mapped physical range [start, end) (Linux `acpi_scan_rsdp`).
fn scan_rsdp(start: u64, end: u64) -> Option<u32> {
    let mut candidate = [0u8; 20];
    (start..end).step_by(16).find_map(|paddr| {
        copy_from_phys(paddr, &mut candidate);
        (&candidate[..8] == b"RSD PTR " && checksum_ok(&candidate)).then(|| u32_at(&candidate, 16))
    })
}

/// The RSDT's address: from the RSDP GRUB passed (`rsdt_from_boot_info`),
/// else from a search of the EBDA and the BIOS ROM (Linux
/// `acpi_find_root_pointer`).
fn find_rsdt(rsdt_from_boot_info: Option<u32>) -> Result<u32, AcpiError> {
    if let Some(rsdt) = rsdt_from_boot_info {
        log::info!("ACPI: RSDP from the boot loader, RSDT at {rsdt:#010x}");
        return Ok(rsdt);
    }
    let mut ebda_segment = [0u8; 2];
    copy_from_phys(0x40e, &mut ebda_segment);
    let ebda = (u16::from_le_bytes(ebda_segment) as u64) << 4;
    let found = if ebda >= 0x400 { scan_rsdp(ebda, ebda + 1024) } else { None }.or_else(|| scan_rsdp(0xe0000, 0x100000));
    let rsdt = found.ok_or(AcpiError::NoRsdp)?;
    log::info!("ACPI: RSDP found by scanning the BIOS areas, RSDT at {rsdt:#010x}");
    Ok(rsdt)
}

/// Finds and parses the MADT (Linux `acpi_boot_init` -> `acpi_process_madt`).
/// `rsdt_from_boot_info` is the RSDT address of the RSDP in the Multiboot2
/// tags, if GRUB passed one. Needs the fixmap, so it runs after `paging_init`.
pub fn acpi_boot_init(rsdt_from_boot_info: Option<u32>) -> Result<Madt, AcpiError> {
    let rsdt_addr = find_rsdt(rsdt_from_boot_info)?;
    let mut rsdt_buf = [0u8; TABLE_BUFFER];
    let rsdt = read_table(rsdt_addr as u64, "RSDT", &mut rsdt_buf)?;
    let mut table_buf = [0u8; TABLE_BUFFER];
    for entry in rsdt[SDT_HEADER_LEN..].chunks_exact(4) {
        let paddr = u32_at(entry, 0) as u64;
        let mut signature = [0u8; 4];
        copy_from_phys(paddr, &mut signature);
        if &signature == b"APIC" {
            let table = read_table(paddr, "MADT", &mut table_buf)?;
            return acpi_parse_madt(table);
        }
    }
    Err(AcpiError::NoMadt)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A MADT built by hand: two CPUs (APIC ids 0 and 3, the second
    /// disabled), an I/O APIC, a truncated last entry.
    fn sample_madt(bytes: &mut [u8; 80]) -> &[u8] {
        let mut table = [0u8; 80];
        table[0..4].copy_from_slice(b"APIC");
        table[8] = 3;
        table[SDT_HEADER_LEN..SDT_HEADER_LEN + 4].copy_from_slice(&0xfee0_0000u32.to_le_bytes());
        let entries: [&[u8]; 3] = [
            &[0, 8, 0x00, 0x00, 1, 0, 0, 0],
            &[0, 8, 0x01, 0x03, 0, 0, 0, 0],
            &[1, 12, 0x00, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0],
        ];
        let mut offset = SDT_HEADER_LEN + 8;
        for entry in entries {
            table[offset..offset + entry.len()].copy_from_slice(entry);
            offset += entry.len();
        }
        table[4..8].copy_from_slice(&(offset as u32).to_le_bytes());
        let sum = table[..offset].iter().fold(0u8, |s, &b| s.wrapping_add(b));
        table[9] = 0u8.wrapping_sub(sum);
        *bytes = table;
        &bytes[..offset]
    }

    #[test_case]
    fn a_hand_built_madt_is_parsed_and_a_damaged_one_refused() {
        let mut bytes = [0u8; 80];
        let table = sample_madt(&mut bytes);
        let madt = acpi_parse_madt(table).expect("a valid MADT");
        assert_eq!(madt.lapic_addr, 0xfee0_0000);
        assert_eq!(madt.lapics(), &[
            MadtLapic { acpi_id: 0, apic_id: 0, enabled: true },
            MadtLapic { acpi_id: 1, apic_id: 3, enabled: false },
        ]);
        let len = table.len();
        let mut damaged = bytes;
        damaged[SDT_HEADER_LEN + 11] ^= 0x01;
        assert_eq!(acpi_parse_madt(&damaged[..len]), Err(AcpiError::BadChecksum("MADT")));
        assert_eq!(acpi_parse_madt(&bytes[..len - 1]), Err(AcpiError::BadLength("MADT")), "length field disagrees");
    }

    /// The firmware's MADT lists exactly the CPUs QEMU was started with
    /// (`-smp N`; the count CPUID cannot tell us, so xtask passes nothing
    /// and we compare with the RSDT found independently by scanning).
    #[test_case]
    fn the_madt_found_by_scanning_matches_the_one_from_the_boot_loader() {
        let from_tags = acpi_boot_init(crate::arch::x86::setup::acpi_rsdt_from_boot_info()).expect("QEMU has a MADT");
        let scanned = acpi_boot_init(None).expect("the BIOS areas hold the RSDP too");
        assert_eq!(from_tags, scanned);
        assert!(!from_tags.lapics().is_empty());
        assert_eq!(from_tags.lapics()[0].apic_id, 0, "QEMU's boot CPU has APIC id 0 and comes first");
        assert!(from_tags.lapics().iter().all(|l| l.enabled));
        assert_eq!(from_tags.lapic_addr, 0xfee0_0000);
    }
}
