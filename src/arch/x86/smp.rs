//! Which CPU is this? (Linux `smp_processor_id()`.)
//!
//! Only the boot CPU runs kernel code so far (QEMU's `-smp N` starts the
//! other CPUs, but nothing wakes them out of the firmware), yet per-CPU
//! structures are indexed by a real CPU number so that starting more CPUs
//! later needs no changes there.  The number is the initial local-APIC ID
//! that CPUID leaf 1 reports (EBX bits 31..24), which QEMU numbers 0, 1, ...

use crate::mm::layout::NR_CPUS;
use crate::arch::x86::cpu::cpuid;

/// The number of the CPU running this code, below [`NR_CPUS`].
pub fn smp_processor_id() -> usize {
    let apic_id = (cpuid(1, 0).ebx >> 24) as usize;
    assert!(apic_id < NR_CPUS, "CPU with APIC ID {apic_id} but NR_CPUS is {NR_CPUS}");
    apic_id
}
