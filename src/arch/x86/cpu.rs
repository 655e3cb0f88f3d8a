//! CPU identification, control registers, halting.
//!
//! Small wrappers so the rest of the kernel never writes inline assembly:
//! `cpu_has_pse()` answers what Linux's `boot_cpu_has(X86_FEATURE_PSE)`
//! answers, `read_cr*` return the control registers the boot tests look at.

use core::arch::asm;
use x86::cpuid::{CpuId, CpuIdResult};

/// Executes CPUID.  The `x86` crate's default reader needs SSE, which this
/// soft-float kernel does not enable, so we hand it our own.
pub fn cpuid(leaf: u32, subleaf: u32) -> CpuIdResult {
    let (eax, ebx, ecx, edx): (u32, u32, u32, u32);
    // SAFETY: CPUID only reads identification data.  EBX may be reserved by
    // the compiler, so it is saved in a scratch register around the
    // instruction and the result swapped back out.
    unsafe {
        asm!(
            "mov {tmp}, ebx",
            "cpuid",
            "xchg {tmp}, ebx",
            tmp = out(reg) ebx,
            inout("eax") leaf => eax,
            inout("ecx") subleaf => ecx,
            out("edx") edx,
            options(nostack, preserves_flags),
        );
    }
    CpuIdResult { eax, ebx, ecx, edx }
}

fn cpu_id() -> CpuId {
    CpuId::with_cpuid_fn(cpuid)
}

/// Whether the CPU supports 4 MiB pages (CPUID.01h:EDX.PSE).
pub fn cpu_has_pse() -> bool {
    cpu_id().get_feature_info().is_some_and(|f| f.has_pse())
}

/// Whether the CPU has a time-stamp counter.
pub fn cpu_has_tsc() -> bool {
    cpu_id().get_feature_info().is_some_and(|f| f.has_tsc())
}

/// CR0 (PG, WP, PE...).
pub fn read_cr0() -> x86::controlregs::Cr0 {
    // SAFETY: reading CR0 has no side effects; we run at CPL 0.
    unsafe { x86::controlregs::cr0() }
}

/// CR2: the linear address of the last page fault.
pub fn read_cr2() -> usize {
    // SAFETY: reading CR2 has no side effects; we run at CPL 0.
    unsafe { x86::controlregs::cr2() }
}

/// CR3: physical address of the current page directory.
pub fn read_cr3() -> u32 {
    // SAFETY: reading CR3 has no side effects; we run at CPL 0.
    unsafe { x86::controlregs::cr3() as u32 }
}

/// CR4 (PAE, PSE, PGE...).
pub fn read_cr4() -> x86::controlregs::Cr4 {
    // SAFETY: reading CR4 has no side effects; we run at CPL 0.
    unsafe { x86::controlregs::cr4() }
}

/// Reads the time-stamp counter (cycles since reset).
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads a counter; CR4.TSD is clear at CPL 0.
    unsafe { x86::time::rdtsc() }
}

/// Disables interrupts and halts this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: with interrupts off, HLT simply parks the CPU.
        unsafe {
            x86::irq::disable();
            x86::halt();
        }
    }
}

/// Switches to the stack whose top is `stack_top` and calls `f` there; `f`
/// never returns, so the old stack is abandoned.  Used to run code on a
/// stack with a guard page (the stack-overflow test).
///
/// # Safety
/// `stack_top` must be the 16-byte aligned top of mapped, writable memory
/// that nothing else uses, large enough for `f`'s first frame.
pub unsafe fn call_on_stack(stack_top: usize, f: extern "C" fn() -> !) -> ! {
    // SAFETY: the caller guarantees the new stack; `f` diverges, so nothing
    // ever returns to the abandoned frame.  EBP = 0 ends the backtrace.
    unsafe {
        asm!(
            "mov esp, {stack}",
            "xor ebp, ebp",
            "call {f}",
            stack = in(reg) stack_top,
            f = in(reg) f,
            options(noreturn),
        )
    }
}
