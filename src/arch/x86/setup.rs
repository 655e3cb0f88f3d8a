//! `setup_arch`: from the boot loader's information to a kernel that knows
//! its memory (Linux: `arch/x86/kernel/setup.c`).
//!
//! Steps, in Linux's order:
//! 1. read the Multiboot2 information GRUB left (boot loader name, command
//!    line, memory map) and print the memory map as Linux prints the BIOS
//!    e820 map (`BIOS-e820: [mem 0x...-0x...] usable`);
//! 2. parse the command line (`parse_early_param`);
//! 3. the memory setup of `mm/init.rs`: memblock from the memory map and
//!    its reservations, `find_low_pfn_range`, `paging_init` (the direct map
//!    in `swapper_pg_dir`) and `zone_sizes_init` (`mem_map` and the zones);
//! 4. find the CPUs in the ACPI MADT (`acpi_boot_init`; `smpboot.rs` numbers
//!    them and later wakes them).

use crate::cmdline::{self, KernelParams};
use crate::mm::init as mm_init;
use multiboot2::{BootInformation, BootInformationHeader, MemoryAreaType};

/// Capacity for memory-map entries we keep (Linux: `E820_X_MAX` is 128 too).
pub const E820_MAX_ENTRIES: usize = 128;

/// One entry of the firmware memory map, as GRUB reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    pub addr: u64,
    pub size: u64,
    pub kind: E820Type,
}

/// Entry types of the BIOS e820 map (Multiboot2 uses the same numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum E820Type {
    Ram,
    Reserved,
    AcpiData,
    AcpiNvs,
    Unusable,
    Other(u32),
}

impl E820Type {
    /// The word Linux prints for this type.
    pub fn name(self) -> &'static str {
        match self {
            E820Type::Ram => "usable",
            E820Type::Reserved => "reserved",
            E820Type::AcpiData => "ACPI data",
            E820Type::AcpiNvs => "ACPI NVS",
            E820Type::Unusable => "unusable",
            E820Type::Other(_) => "type unknown",
        }
    }
}

/// What the boot loader told us, copied into fixed-size storage.
pub struct BootData {
    pub bootloader_name: &'static str,
    pub command_line: &'static str,
    pub params: KernelParams<'static>,
    /// The RSDT address from the ACPI 1.0 RSDP GRUB copied into the boot
    /// information (Multiboot2 tag 14), if any.
    pub acpi_rsdt: Option<u32>,
    e820: [E820Entry; E820_MAX_ENTRIES],
    nr_e820: usize,
}

impl BootData {
    /// The firmware memory map in boot-loader order.
    pub fn e820(&self) -> &[E820Entry] {
        &self.e820[..self.nr_e820]
    }
}

static BOOT_DATA: spin::Once<BootData> = spin::Once::new();

/// The boot data recorded by [`setup_arch`].
pub fn boot_data() -> &'static BootData {
    BOOT_DATA.get().expect("setup_arch() has run")
}

/// Reads the Multiboot2 information from the boot copy; panics with a clear
/// message if it is missing or damaged — without a memory map nothing can
/// go on.
fn read_boot_information(bytes: &'static [u8]) -> &'static BootInformation<'static> {
    static INFO: spin::Once<BootInformation<'static>> = spin::Once::new();
    INFO.call_once(|| load_boot_information(bytes))
}

fn load_boot_information(bytes: &'static [u8]) -> BootInformation<'static> {
    // SAFETY: `bytes` is the page-aligned, complete copy `_start` made of
    // the structure GRUB built (boot_info_bytes checked its size), and it
    // stays unchanged for the life of the kernel.
    unsafe { BootInformation::load(bytes.as_ptr() as *const BootInformationHeader) }
        .unwrap_or_else(|e| panic!("the Multiboot2 boot information is malformed: {e:?}"))
}

fn e820_type(typ: MemoryAreaType) -> E820Type {
    match typ {
        MemoryAreaType::Available => E820Type::Ram,
        MemoryAreaType::Reserved => E820Type::Reserved,
        MemoryAreaType::AcpiAvailable => E820Type::AcpiData,
        MemoryAreaType::ReservedHibernate => E820Type::AcpiNvs,
        MemoryAreaType::Defective => E820Type::Unusable,
        MemoryAreaType::Custom(other) => E820Type::Other(other),
    }
}

/// Step 1 and 2 of the module doc.  Returns the recorded boot data.
pub fn setup_arch(boot_info: &'static [u8]) -> &'static BootData {
    let info = read_boot_information(boot_info);
    let bootloader_name = info.boot_loader_name_tag().and_then(|t| t.name().ok()).unwrap_or("unknown");
    let command_line = info.command_line_tag().and_then(|t| t.cmdline().ok()).unwrap_or("");
    log::info!("Boot loader: {bootloader_name}");
    log::info!("Command line: {command_line}");

    let mut e820 = [E820Entry { addr: 0, size: 0, kind: E820Type::Reserved }; E820_MAX_ENTRIES];
    let mut nr_e820 = 0;
    let areas = info
        .memory_map_tag()
        .map(|tag| tag.memory_areas())
        .unwrap_or_else(|| panic!("the boot loader passed no memory map (Multiboot2 tag 6)"));
    log::info!("e820: BIOS-provided physical RAM map:");
    for area in areas {
        let entry = E820Entry { addr: area.start_address(), size: area.size(), kind: e820_type(area.typ()) };
        log::info!("BIOS-e820: [mem {:#018x}-{:#018x}] {}", entry.addr,
            (entry.addr + entry.size).saturating_sub(1), entry.kind.name());
        if nr_e820 == E820_MAX_ENTRIES {
            log::warn!("e820: too many entries, ignoring [mem {:#018x}-...]", entry.addr);
            continue;
        }
        e820[nr_e820] = entry;
        nr_e820 += 1;
    }

    let params = cmdline::parse_args(command_line, |warning| log::warn!("{warning}"));
    if let Some(level) = params.loglevel {
        crate::printk::set_console_loglevel(level);
    }
    // The ACPI 1.0 RSDP (tag 14) carries the RSDT address; with only an
    // ACPI 2.0 copy (tag 15) `acpi.rs` finds the RSDP in the BIOS areas.
    let acpi_rsdt = info.rsdp_v1_tag().filter(|tag| tag.checksum_is_valid()).map(|tag| tag.rsdt_address() as u32);
    let data = BOOT_DATA.call_once(|| BootData { bootloader_name, command_line, params, acpi_rsdt, e820, nr_e820 });

    mm_init::memblock_setup(data.e820(), data.params.mem);
    mm_init::find_low_pfn_range();
    mm_init::init_memory_mapping(data.params.nopse);
    mm_init::zone_sizes_init();
    super::smpboot::find_cpus(data.acpi_rsdt, data.params.maxcpus);
    data
}

/// The RSDT address GRUB passed, if any (see [`BootData::acpi_rsdt`]).
pub fn acpi_rsdt_from_boot_info() -> Option<u32> {
    boot_data().acpi_rsdt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test_case]
    fn memory_map_is_parsed() {
        let data = boot_data();
        assert!(data.bootloader_name.starts_with("GRUB"), "{}", data.bootloader_name);
        let map = data.e820();
        assert!(!map.is_empty());
        // QEMU's BIOS always reports conventional memory at 0 and the RAM the
        // kernel was loaded into at 1 MiB as usable.
        let usable = |addr: u64| map.iter().any(|e| e.kind == E820Type::Ram && e.addr <= addr && addr < e.addr + e.size);
        assert!(usable(0x1000));
        assert!(usable(0x10_0000));
        assert!(!usable(0xf_0000), "the BIOS area is reserved");
    }
}
