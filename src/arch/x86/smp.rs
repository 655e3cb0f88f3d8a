//! Which CPU is this? (Linux `smp_processor_id()`.)
//!
//! Every CPU has a small area of its own, a [`PerCpuArea`], and its `%fs`
//! segment starts there (the GDT's per-CPU descriptor, loaded by
//! `gdt::load`). Reading this CPU's number is then one memory load,
//! `mov eax, fs:[0]`, as on Linux i386 2.6.2x, where `%fs` is based at
//! `__per_cpu_offset[cpu]` and `smp_processor_id()` reads `cpu_number`
//! through it. (Before, this kernel asked `CPUID` every time: a serialising
//! instruction, and a VM exit under KVM.)
//!
//! Only the boot CPU runs kernel code so far (QEMU's `-smp N` starts the
//! other CPUs, but nothing wakes them out of the firmware); each CPU that is
//! brought up will get a descriptor over its own area.

use crate::mm::layout::NR_CPUS;
use core::arch::asm;

/// What a CPU finds at the base of its `%fs` segment (Linux's per-CPU
/// variables of i386, of which we need one so far).
#[repr(C, align(64))]
pub struct PerCpuArea {
    /// This CPU's number (Linux `per_cpu(cpu_number)`); at offset 0.
    cpu_number: u32,
}

/// One area per possible CPU; each on a cache line of its own, so that no
/// CPU writes a line another CPU reads.
static PER_CPU_AREAS: [PerCpuArea; NR_CPUS] = {
    let mut areas = [const { PerCpuArea { cpu_number: 0 } }; NR_CPUS];
    let mut cpu = 0;
    while cpu < NR_CPUS {
        areas[cpu].cpu_number = cpu as u32;
        cpu += 1;
    }
    areas
};

/// The base of CPU `cpu`'s per-CPU area (Linux `__per_cpu_offset[cpu]`),
/// for its segment descriptor.
pub fn per_cpu_area_base(cpu: usize) -> u32 {
    &raw const PER_CPU_AREAS[cpu] as u32
}

/// The number of the CPU running this code, below [`NR_CPUS`]: one load
/// through `%fs`.
pub fn smp_processor_id() -> usize {
    let cpu: u32;
    // SAFETY: from `gdt::load` on (the kernel's first step) %fs is this
    // CPU's per-CPU segment, its `PerCpuArea`, whose offset 0 is
    // `cpu_number`; the load has no side effects.
    unsafe { asm!("mov {0:e}, fs:[0]", out(reg) cpu, options(nostack, readonly, preserves_flags)) };
    cpu as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86::cpu::cpuid;

    /// The number read through %fs agrees with an independent source: the
    /// initial APIC ID CPUID reports (QEMU numbers CPUs 0, 1, ...), and %fs
    /// holds the per-CPU selector.
    #[test_case]
    fn smp_processor_id_is_read_through_the_per_cpu_segment() {
        let apic_id = (cpuid(1, 0).ebx >> 24) as usize;
        assert_eq!(smp_processor_id(), apic_id);
        let fs: u16;
        // SAFETY: reading a segment register has no side effects.
        unsafe { asm!("mov {0:x}, fs", out(reg) fs, options(nomem, nostack, preserves_flags)) };
        assert_eq!(fs, crate::arch::x86::gdt::PERCPU_SELECTOR);
        assert_eq!(PER_CPU_AREAS[smp_processor_id()].cpu_number as usize, smp_processor_id());
    }
}
