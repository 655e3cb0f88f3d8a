//! 32-bit x86 (i386, PAE off): boot entry, CPU tables, traps, devices, paging.
//!
//! | file        | what it does | Linux counterpart |
//! |-------------|--------------|-------------------|
//! | `boot.rs`   | Multiboot2 header, `_start`, boot page tables, jump to the higher half | `arch/x86/kernel/head_32.S` |
//! | `cpu.rs`    | CPUID features, control registers, halting | `arch/x86/kernel/cpu/common.c` |
//! | `gdt.rs`    | segment descriptors and the TSSs | `arch/x86/kernel/cpu/common.c` (`gdt_page`) |
//! | `heap.rs`   | the `#[global_allocator]` over `mm/heap.rs` | — (Rust's `GlobalAlloc`) |
//! | `highpage.rs`| zero-filling a low or high page frame (`__GFP_ZERO`) | `include/linux/highmem.h` (`clear_highpage`) |
//! | `traps.rs`  | IDT, exception entry stubs, fault reports | `arch/x86/kernel/traps.c`, `entry_32.S`, `mm/fault.c` |
//! | `irqflags.rs`| interrupts off/on, save/restore, `safe_halt` | `asm/irqflags.h` |
//! | `i8259.rs`  | the two 8259A PICs: remap, mask, EOI, spurious IRQ 7/15 | `arch/x86/kernel/i8259.c` |
//! | `irq.rs`    | IRQ entry stubs, `do_IRQ`, `request_irq`/`free_irq`, preemption on interrupt return | `entry_32.S`, `irq_32.c`, `kernel/irq/` |
//! | `i8253.rs`  | the PIT: the tick on channel 0, TSC calibration on channel 2 | `arch/x86/kernel/i8253.c`, `tsc.c` |
//! | `time.rs`   | `time_init`, the timer interrupt, `tsc_khz` | `arch/x86/kernel/time.c`, `tsc.c` |
//! | `switch_to.rs` | the context switch and a new thread's first frame | `asm/system.h` (`switch_to`), `process_32.c` |
//! | `setup.rs`  | boot information, memory map, `setup_arch` | `arch/x86/kernel/setup.c`, `e820.c` |
//! | `paging.rs` | page-table entries, `swapper_pg_dir`, `paging_init`, `lookup_address` | `arch/x86/mm/init_32.c`, `asm/pgtable*.h` |
//! | `sections.rs` | the linker's section boundaries | `asm/sections.h` |
//! | `acpi.rs`   | the RSDP, RSDT and MADT: which CPUs exist | `arch/x86/kernel/acpi/boot.c`, `drivers/acpi/tables.c` |
//! | `apic.rs`   | the local APIC: enable, its timer, sending IPIs, the APIC vectors | `arch/i386/kernel/apic.c` |
//! | `smpboot.rs`| the trampoline, INIT-SIPI-SIPI, `start_secondary`, `smp_init` | `arch/i386/kernel/smpboot.c`, `trampoline.S` |
//! | `smp.rs`    | per-CPU areas reached through `%fs`, `smp_processor_id`, the online map, `smp_call_function`, `on_each_cpu`, `smp_send_stop` | `arch/i386/kernel/smp.c`, `asm/percpu.h` (i386 2.6.2x) |
//! | `tlb.rs`    | TLB shootdown: `flush_tlb_all`, `flush_tlb_kernel_range`, `flush_tlb_one` | `arch/i386/kernel/smp.c` |
//! | `serial.rs` | COM1 console, receive interrupt into a ring buffer | `drivers/tty/serial/8250` |
//! | `reboot.rs` | restarting the machine through the keyboard controller | `arch/x86/kernel/reboot.c` (`machine_restart`) |
//! | `qemu.rs`   | leaving QEMU with an exit status | — (test infrastructure) |

pub mod acpi;
pub mod apic;
pub mod boot;
pub mod cpu;
pub mod gdt;
pub mod heap;
pub mod highpage;
pub mod i8253;
pub mod i8259;
pub mod irq;
pub mod irqflags;
pub mod paging;
pub mod qemu;
pub mod reboot;
pub mod sections;
pub mod serial;
pub mod setup;
pub mod smp;
pub mod smpboot;
pub mod switch_to;
pub mod time;
pub mod tlb;
pub mod traps;
