//! The first instructions: from GRUB's 32-bit protected mode to Rust in the
//! higher half.
//!
//! GRUB (Multiboot2) enters `_start` with paging off, flat 4 GiB segments,
//! `EAX` = the Multiboot2 magic and `EBX` = the physical address of the boot
//! information.  The kernel is linked at `PAGE_OFFSET + 1 MiB` but loaded at
//! physical 1 MiB, so until paging is on every absolute address must have
//! `PAGE_OFFSET` subtracted.  Linux does the same dance in
//! `arch/x86/kernel/head_32.S` (`startup_32`), where `pa(x)` is that
//! subtraction.  The steps:
//!
//! 1. Copy the boot information into `BOOT_INFO`, a buffer inside `.data`.
//!    GRUB is free to put it anywhere it considers free — including the
//!    kernel's own `.bss`, which we are about to fill with page tables.
//!    After the copy the original is never read again.
//! 2. Build `boot_page_directory`: the first `BOOT_MAPPED_MB` megabytes of
//!    physical memory mapped twice, at 0 (identity, so the instruction after
//!    `mov cr0` still exists) and at `PAGE_OFFSET` (where the kernel is
//!    linked).  4 KiB page tables are used, so booting does not depend on
//!    PSE; `paging_init()` later builds the real `swapper_pg_dir`.
//! 3. Clear CR4.PAE (two-level 32-bit paging), set CR0.PG and CR0.WP.
//! 4. Jump to the higher half, switch to the boot stack, remove the
//!    identity mapping and flush the TLB: from here on a stray access to a
//!    low address faults instead of silently working.
//! 5. Call [`start_kernel_entry`] with the magic and the original address.

use core::arch::global_asm;
use core::cell::UnsafeCell;

/// Magic value a Multiboot2 loader leaves in EAX.
pub const MULTIBOOT2_BOOTLOADER_MAGIC: u32 = 0x36d7_6289;
/// Megabytes of physical memory the boot page tables map.  The kernel image,
/// its `.bss` and the early page tables `paging_init()` allocates must fit.
pub const BOOT_MAPPED_MB: usize = 16;
/// Size of the buffer the boot information is copied into.
pub const BOOT_INFO_MAX: usize = 32 * 1024;
/// Size of the boot (and first kernel thread's) stack.
pub const BOOT_STACK_SIZE: usize = 16 * 1024;

const NR_BOOT_PAGE_TABLES: usize = BOOT_MAPPED_MB / 4;
const PAGE_OFFSET: usize = crate::mm::layout::PAGE_OFFSET;

/// A page-aligned block of boot-time memory the CPU or the boot assembly
/// writes behind Rust's back.
#[repr(C, align(4096))]
pub struct BootArea<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: the boot areas are written only by `_start` before any Rust code
// runs, or (the stack) used by exactly one CPU; Rust code reads them through
// raw pointers in `boot_info()` only.
unsafe impl<const N: usize> Sync for BootArea<N> {}

impl<const N: usize> BootArea<N> {
    const fn new() -> Self {
        Self(UnsafeCell::new([0; N]))
    }
    /// Virtual address range `[start, end)` of the area.
    pub fn range(&self) -> (usize, usize) {
        let start = self.0.get() as usize;
        (start, start + N)
    }
}

/// The boot information copied out of GRUB's memory (in `.data`, so GRUB
/// loads it as part of the image and cannot have placed anything there).
#[unsafe(no_mangle)]
#[unsafe(link_section = ".data.boot_info")]
pub static BOOT_INFO: BootArea<BOOT_INFO_MAX> = BootArea::new();

/// The boot page directory (`initial_page_table` in Linux).
#[unsafe(no_mangle)]
#[unsafe(link_section = ".bss.page_aligned")]
pub static boot_page_directory: BootArea<4096> = BootArea::new();

/// Page tables behind `boot_page_directory`.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".bss.page_aligned")]
pub static boot_page_tables: BootArea<{ NR_BOOT_PAGE_TABLES * 4096 }> = BootArea::new();

/// The boot stack (Linux: `init_thread_union`).
#[unsafe(no_mangle)]
#[unsafe(link_section = ".bss.page_aligned")]
pub static boot_stack: BootArea<BOOT_STACK_SIZE> = BootArea::new();

global_asm!(
    r#"
    .section .multiboot2_header, "a"
    .balign 8
mb2_header_start:
    .long 0xe85250d6                        /* Multiboot2 header magic */
    .long 0                                 /* architecture: i386 protected mode */
    .long mb2_header_end - mb2_header_start
    .long 0x100000000 - (0xe85250d6 + (mb2_header_end - mb2_header_start))
    .short 0                                /* end tag */
    .short 0
    .long 8
mb2_header_end:

    .section .init.text, "ax"
    .global _start
    .code32
_start:
    cli
    cld
    mov ebp, eax                            /* keep the magic */
    mov edx, ebx                            /* keep the boot information address */

    /* 1. copy the boot information (only if the magic says EBX is valid) */
    cmp eax, {MB2_MAGIC}
    jne .Lno_boot_info
    mov esi, ebx
    mov ecx, [ebx]                          /* total_size, first field */
    cmp ecx, {INFO_MAX}
    jbe .Lcopy
    mov ecx, {INFO_MAX}                     /* truncated: Rust reports it */
.Lcopy:
    mov edi, offset BOOT_INFO - {PAGE_OFFSET}
    rep movsb
.Lno_boot_info:

    /* 2. boot page tables: PTE i maps physical i * 4 KiB, present + writable */
    mov edi, offset boot_page_tables - {PAGE_OFFSET}
    mov eax, 0x003
    mov ecx, {NR_PT} * 1024
.Lfill_pte:
    stosd
    add eax, 0x1000
    loop .Lfill_pte

    /* the directory: clear it, then point entries 0.. and 768.. at the tables */
    mov edi, offset boot_page_directory - {PAGE_OFFSET}
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov edi, offset boot_page_directory - {PAGE_OFFSET}
    mov eax, offset boot_page_tables - {PAGE_OFFSET} + 0x003
    mov ecx, {NR_PT}
.Lfill_pde:
    mov [edi], eax
    mov [edi + {PDE_OFFSET} * 4], eax
    add eax, 0x1000
    add edi, 4
    loop .Lfill_pde

    /* 3. two-level paging: PAE off, paging and write-protect on */
    mov eax, offset boot_page_directory - {PAGE_OFFSET}
    mov cr3, eax
    mov eax, cr4
    and eax, ~0x20
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80010000
    mov cr0, eax

    /* 4. continue at the virtual address of the next label */
    mov eax, offset .Lhigher_half
    jmp eax
.Lhigher_half:
    mov esp, offset boot_stack + {STACK_SIZE}
    xor eax, eax
    mov edi, offset boot_page_directory
    mov ecx, {NR_PT}
    rep stosd                               /* drop the identity mapping */
    mov eax, cr3
    mov cr3, eax                            /* and flush it from the TLB */

    /* 5. into Rust: start_kernel_entry(magic, boot_info_phys) */
    push edx
    push ebp
    xor ebp, ebp                            /* ends the frame-pointer chain */
    call start_kernel_entry
.Lhang:
    hlt
    jmp .Lhang
    "#,
    MB2_MAGIC = const MULTIBOOT2_BOOTLOADER_MAGIC,
    INFO_MAX = const BOOT_INFO_MAX,
    PAGE_OFFSET = const PAGE_OFFSET,
    NR_PT = const NR_BOOT_PAGE_TABLES,
    PDE_OFFSET = const PAGE_OFFSET >> 22,
    STACK_SIZE = const BOOT_STACK_SIZE,
);

/// What `_start` hands to Rust.
#[derive(Clone, Copy, Debug)]
pub struct BootHandoff {
    /// EAX at entry: [`MULTIBOOT2_BOOTLOADER_MAGIC`] if a Multiboot2 loader started us.
    pub magic: u32,
    /// EBX at entry: where GRUB put the boot information (physical).
    pub boot_info_paddr: u32,
}

/// The copied Multiboot2 boot information, or an error if the copy is not
/// trustworthy (wrong magic, or a structure larger than the buffer).
pub fn boot_info_bytes(handoff: &BootHandoff) -> Result<&'static [u8], &'static str> {
    if handoff.magic != MULTIBOOT2_BOOTLOADER_MAGIC {
        return Err("not started by a Multiboot2 loader (bad magic in EAX)");
    }
    let (start, _) = BOOT_INFO.range();
    // SAFETY: `_start` finished writing BOOT_INFO before any Rust code ran
    // and nothing writes it afterwards, so a shared view is sound.
    let bytes: &'static [u8; BOOT_INFO_MAX] = unsafe { &*(start as *const [u8; BOOT_INFO_MAX]) };
    let total_size = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    if total_size > BOOT_INFO_MAX {
        return Err("Multiboot2 information larger than the boot copy buffer");
    }
    Ok(&bytes[..total_size])
}

/// The Rust entry point, called by `_start` on the boot stack in the higher
/// half.  Loads the kernel's own GDT/IDT first so that any fault from here on
/// is reported, then hands over to [`crate::init::start_kernel`].
#[unsafe(no_mangle)]
extern "C" fn start_kernel_entry(magic: u32, boot_info_paddr: u32) -> ! {
    crate::arch::x86::gdt::load(0);
    crate::arch::x86::traps::trap_init();
    crate::init::start_kernel(BootHandoff { magic, boot_info_paddr })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86::cpu;
    use crate::mm::layout::PAGE_OFFSET;
    use x86::controlregs::{Cr0, Cr4};

    #[test_case]
    fn kernel_runs_in_the_higher_half() {
        let code = start_kernel_entry as *const () as usize;
        let data = &raw const BOOT_INFO as usize;
        let local = 0u32;
        let stack = &raw const local as usize;
        assert!(code >= PAGE_OFFSET + 0x10_0000, "code at {code:#x}");
        assert!(data >= PAGE_OFFSET, "data at {data:#x}");
        assert!(stack >= PAGE_OFFSET, "stack at {stack:#x}");
    }

    #[test_case]
    fn two_level_paging_is_on() {
        assert!(cpu::read_cr0().contains(Cr0::CR0_ENABLE_PAGING));
        assert!(cpu::read_cr0().contains(Cr0::CR0_WRITE_PROTECT));
        assert!(!cpu::read_cr4().contains(Cr4::CR4_ENABLE_PAE), "PAE must be off");
    }

    #[test_case]
    fn identity_mapping_is_gone() {
        // The page directory in use: no entry below PAGE_OFFSET is present.
        let pgd = crate::mm::layout::__va(cpu::read_cr3() as u64) as *const u32;
        for index in 0..(PAGE_OFFSET >> 22) {
            // SAFETY: CR3 holds the physical address of a page directory in
            // low memory, which the direct map covers; 1024 entries of 4 bytes.
            let entry = unsafe { pgd.add(index).read_volatile() };
            assert_eq!(entry & 1, 0, "user-half PDE {index} is present: {entry:#x}");
        }
    }

    #[test_case]
    fn boot_information_was_copied_whole() {
        let handoff = BootHandoff { magic: MULTIBOOT2_BOOTLOADER_MAGIC, boot_info_paddr: 0 };
        let bytes = boot_info_bytes(&handoff).expect("valid copy");
        assert!(bytes.len() >= 16 && bytes.len() <= BOOT_INFO_MAX);
        // The last tag of a Multiboot2 structure is the end tag: type 0, size 8.
        let end = &bytes[bytes.len() - 8..];
        assert_eq!(end, &[0, 0, 0, 0, 8, 0, 0, 0]);
    }

    #[test_case]
    fn bad_magic_is_refused_with_a_clear_message() {
        let handoff = BootHandoff { magic: 0x2bad_b002, boot_info_paddr: 0x1000 };
        assert_eq!(boot_info_bytes(&handoff), Err("not started by a Multiboot2 loader (bad magic in EAX)"));
    }
}
