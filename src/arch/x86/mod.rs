//! 32-bit x86 (i386, PAE off): boot entry, CPU tables, traps, devices, paging.
//!
//! | file        | what it does | Linux counterpart |
//! |-------------|--------------|-------------------|
//! | `boot.rs`   | Multiboot2 header, `_start`, boot page tables, jump to the higher half | `arch/x86/kernel/head_32.S` |
//! | `cpu.rs`    | CPUID features, control registers, halting | `arch/x86/kernel/cpu/common.c` |
//! | `gdt.rs`    | segment descriptors and the TSSs | `arch/x86/kernel/cpu/common.c` (`gdt_page`) |
//! | `highpage.rs`| zero-filling a low or high page frame (`__GFP_ZERO`) | `include/linux/highmem.h` (`clear_highpage`) |
//! | `traps.rs`  | IDT, exception entry stubs, fault reports | `arch/x86/kernel/traps.c`, `entry_32.S`, `mm/fault.c` |
//! | `irqflags.rs`| interrupts off/on, save/restore | `asm/irqflags.h` |
//! | `setup.rs`  | boot information, memory map, `setup_arch` | `arch/x86/kernel/setup.c`, `e820.c` |
//! | `paging.rs` | page-table entries, `swapper_pg_dir`, `paging_init`, `lookup_address` | `arch/x86/mm/init_32.c`, `asm/pgtable*.h` |
//! | `sections.rs` | the linker's section boundaries | `asm/sections.h` |
//! | `smp.rs`    | `smp_processor_id` | `asm/smp.h` |
//! | `serial.rs` | COM1 console | `drivers/tty/serial/8250` (early console) |
//! | `qemu.rs`   | leaving QEMU with an exit status | — (test infrastructure) |

pub mod boot;
pub mod cpu;
pub mod gdt;
pub mod highpage;
pub mod irqflags;
pub mod paging;
pub mod qemu;
pub mod sections;
pub mod serial;
pub mod setup;
pub mod smp;
pub mod traps;
