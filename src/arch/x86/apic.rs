//! The local APIC: each CPU's own interrupt controller and timer (Linux
//! 2.6.11 `arch/i386/kernel/apic.c`, `include/asm-i386/apic.h`,
//! `mach-default/irq_vectors.h`).
//!
//! Every CPU of a multiprocessor PC has a local APIC. It
//! * delivers interrupts to its CPU: from the 8259A through its LINT0 pin
//!   ("virtual wire" mode: the PICs stay in charge of device interrupts,
//!   as here — there is no I/O APIC driver), from its own timer, and
//!   **inter-processor interrupts** (IPIs) other CPUs send it;
//! * sends IPIs: write the destination's APIC id into `ICR2` and the
//!   vector and delivery mode into `ICR` (the write of `ICR` sends);
//! * has a timer that counts a bus-clock-derived rate down and interrupts at
//!   zero, periodically: each CPU's own tick.
//!
//! The registers are memory-mapped at physical 0xfee00000 (the MADT says
//! where), the same address on every CPU, each CPU seeing its own APIC
//! there. Linux maps them through a fixmap slot, `FIX_APIC_BASE`, uncached;
//! so do we ([`init_apic_mappings`]).
//!
//! ## Vectors (Linux 2.6.11's, highest priority class 0xf0-0xff)
//! [`SPURIOUS_APIC_VECTOR`] 0xff, [`ERROR_APIC_VECTOR`] 0xfe,
//! [`INVALIDATE_TLB_VECTOR`] 0xfd, [`RESCHEDULE_VECTOR`] 0xfc,
//! [`CALL_FUNCTION_VECTOR`] 0xfb, and [`LOCAL_TIMER_VECTOR`] 0xef in the
//! class below. Each enters through a stub here, the common interrupt path
//! of `irq.rs`, and [`smp_apic_interrupt`], which acknowledges it (`EOI`)
//! and dispatches — in hardirq context, then the same return path as a
//! device interrupt (softirqs, preemption).
//!
//! ## The tick
//! [`calibrate_APIC_clock`] counts how far the APIC timer runs down in a
//! number of PIT ticks (Linux waits on the PIT counter; we wait on
//! `jiffies`, which the PIT drives), giving the initial count for `HZ`
//! interrupts a second. Every CPU then runs its APIC timer periodically
//! ([`setup_APIC_timer`]). Linux 2.6.11 moves every CPU's
//! `update_process_times` to that timer and leaves the PIT only `do_timer`;
//! we keep the boot CPU's `update_process_times` on the PIT, as before SMP
//! (so one CPU behaves exactly as it did), count its APIC ticks, and let
//! the other CPUs' APIC ticks run their timer wheels and `scheduler_tick`.

// Linux's names (`setup_local_APIC`, `send_IPI`...), kept for grepping.
#![allow(non_snake_case)]

use super::irqflags::{local_irq_restore, local_irq_save};
use super::paging::{PAGE_KERNEL_NOCACHE, set_fixmap};
use super::traps::{TrapFrame, set_intr_gate};
use crate::mm::layout::{NR_CPUS, __fix_to_virt, fixed_addresses::FIX_APIC_BASE};
use crate::percpu::PerCpu;
use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Spurious-interrupt vector (Linux `SPURIOUS_APIC_VECTOR`).
pub const SPURIOUS_APIC_VECTOR: u8 = 0xff;
/// APIC error interrupt (Linux `ERROR_APIC_VECTOR`).
pub const ERROR_APIC_VECTOR: u8 = 0xfe;
/// TLB shootdown IPI (Linux `INVALIDATE_TLB_VECTOR`).
pub const INVALIDATE_TLB_VECTOR: u8 = 0xfd;
/// "Reschedule" IPI (Linux `RESCHEDULE_VECTOR`).
pub const RESCHEDULE_VECTOR: u8 = 0xfc;
/// "Run this function" IPI (Linux `CALL_FUNCTION_VECTOR`).
pub const CALL_FUNCTION_VECTOR: u8 = 0xfb;
/// The local APIC timer (Linux `LOCAL_TIMER_VECTOR`).
pub const LOCAL_TIMER_VECTOR: u8 = 0xef;
/// The lowest vector the APIC code owns (Linux `FIRST_SYSTEM_VECTOR`).
pub const FIRST_SYSTEM_VECTOR: u32 = LOCAL_TIMER_VECTOR as u32;

/// The vectors with a stub here, in stub order.
const APIC_VECTORS: [u8; 6] =
    [LOCAL_TIMER_VECTOR, CALL_FUNCTION_VECTOR, RESCHEDULE_VECTOR, INVALIDATE_TLB_VECTOR, ERROR_APIC_VECTOR, SPURIOUS_APIC_VECTOR];

// Register offsets (Intel SDM vol. 3, table 11-1; Linux `apicdef.h`).
const APIC_ID: usize = 0x20;
const APIC_LVR: usize = 0x30;
const APIC_TASKPRI: usize = 0x80;
const APIC_EOI: usize = 0xb0;
const APIC_SPIV: usize = 0xf0;
const APIC_ESR: usize = 0x280;
const APIC_ICR: usize = 0x300;
const APIC_ICR2: usize = 0x310;
const APIC_LVTT: usize = 0x320;
const APIC_LVT0: usize = 0x350;
const APIC_LVT1: usize = 0x360;
const APIC_LVTERR: usize = 0x370;
const APIC_TMICT: usize = 0x380;
const APIC_TMCCT: usize = 0x390;
const APIC_TDCR: usize = 0x3e0;

/// `SPIV` bit 8: the APIC is software-enabled.
const APIC_SPIV_APIC_ENABLED: u32 = 1 << 8;
/// An LVT entry's mask bit.
const APIC_LVT_MASKED: u32 = 1 << 16;
/// LVT timer mode: periodic.
const APIC_LVT_TIMER_PERIODIC: u32 = 1 << 17;
/// Delivery modes (bits 8-10 of an LVT entry or of `ICR`).
const APIC_DM_FIXED: u32 = 0x000;
const APIC_DM_NMI: u32 = 0x400;
const APIC_DM_INIT: u32 = 0x500;
const APIC_DM_STARTUP: u32 = 0x600;
const APIC_DM_EXTINT: u32 = 0x700;
/// `ICR` bit 12: the previous IPI is still being sent.
const APIC_ICR_BUSY: u32 = 1 << 12;
/// `ICR` bit 14: assert (for INIT: level asserted).
const APIC_INT_ASSERT: u32 = 1 << 14;
/// `ICR` bit 15: level-triggered.
const APIC_INT_LEVELTRIG: u32 = 1 << 15;
/// Timer divide configuration: divide the bus clock by 16.
const APIC_TDR_DIV_16: u32 = 0b0011;
/// The timer's divisor, for the bus-clock figure printed.
const APIC_DIVISOR: u64 = 16;

/// Whether [`init_apic_mappings`] mapped a local APIC.
static APIC_MAPPED: AtomicBool = AtomicBool::new(false);
/// APIC timer counts per tick (Linux `calibration_result`).
static CALIBRATION_RESULT: AtomicU32 = AtomicU32::new(0);

/// Interrupts taken per CPU and APIC vector, in [`APIC_VECTORS`] order
/// (Linux's `LOC`, `CAL`, `RES`, `TLB`, `ERR`, `SPU` rows of
/// `/proc/interrupts`).
static APIC_IRQS: PerCpu<[AtomicU64; APIC_VECTORS.len()]> =
    PerCpu::new([const { [const { AtomicU64::new(0) }; APIC_VECTORS.len()] }; NR_CPUS]);

fn apic_base() -> usize {
    __fix_to_virt(FIX_APIC_BASE)
}

/// Reads a local APIC register of this CPU (Linux `apic_read`).
fn apic_read(reg: usize) -> u32 {
    debug_assert!(APIC_MAPPED.load(Ordering::Relaxed));
    // `reg` is a 16-byte aligned register offset below 4 KiB, and the APIC
    // wants exactly this: an aligned 32-bit access.
    // SAFETY: FIX_APIC_BASE maps this CPU's APIC registers uncached
    // (init_apic_mappings runs before any caller).
    unsafe { ((apic_base() + reg) as *const u32).read_volatile() }
}

/// Writes a local APIC register of this CPU (Linux `apic_write`).
fn apic_write(reg: usize, value: u32) {
    debug_assert!(APIC_MAPPED.load(Ordering::Relaxed));
    // SAFETY: as in `apic_read`; a 32-bit store to a register.
    unsafe { ((apic_base() + reg) as *mut u32).write_volatile(value) }
}

/// Maps the local APIC's registers at `FIX_APIC_BASE`, uncached (Linux
/// `init_apic_mappings`). `phys` comes from the MADT.
pub fn init_apic_mappings(phys: u32) {
    set_fixmap(FIX_APIC_BASE, phys as u64, PAGE_KERNEL_NOCACHE);
    APIC_MAPPED.store(true, Ordering::Relaxed);
    log::info!("mapped APIC to {:08x} ({:08x})", apic_base(), phys);
}

/// Whether a local APIC was found and mapped.
pub fn apic_mapped() -> bool {
    APIC_MAPPED.load(Ordering::Relaxed)
}

/// This CPU's APIC id (Linux `read_apic_id`).
pub fn read_apic_id() -> u8 {
    (apic_read(APIC_ID) >> 24) as u8
}

/// Acknowledges the interrupt in service (Linux `ack_APIC_irq`).
pub fn ack_APIC_irq() {
    apic_write(APIC_EOI, 0);
}

/// Points the IDT's APIC vectors at their stubs (Linux `apic_intr_init` and
/// `smp_intr_init`, called from `init_IRQ`).
pub fn apic_intr_init() {
    for (index, vector) in APIC_VECTORS.iter().enumerate() {
        set_intr_gate(*vector as usize, apic_entries_start as *const () as usize + index * STUB_ALIGN);
    }
}

/// Enables this CPU's local APIC (Linux `setup_local_APIC`): accept every
/// priority, set the spurious vector with the enable bit, route LINT0 (the
/// 8259A's output) and LINT1 (NMI) on the boot CPU only — the PICs must
/// interrupt one CPU, not all —, and the error interrupt.
pub fn setup_local_APIC(boot_cpu: bool) {
    apic_write(APIC_TASKPRI, 0);
    apic_write(APIC_SPIV, APIC_SPIV_APIC_ENABLED | SPURIOUS_APIC_VECTOR as u32);
    if boot_cpu {
        apic_write(APIC_LVT0, APIC_DM_EXTINT);
        apic_write(APIC_LVT1, APIC_DM_NMI);
    } else {
        apic_write(APIC_LVT0, APIC_DM_EXTINT | APIC_LVT_MASKED);
        apic_write(APIC_LVT1, APIC_DM_NMI | APIC_LVT_MASKED);
    }
    apic_write(APIC_LVTERR, ERROR_APIC_VECTOR as u32);
    // The error status register latches on a write (SDM 11.5.3).
    apic_write(APIC_ESR, 0);
    apic_write(APIC_ESR, 0);
    if boot_cpu {
        let version = apic_read(APIC_LVR);
        log::info!("Local APIC of CPU#0: id {:#x}, version {:#x}, {} LVT entries", read_apic_id(), version & 0xff, ((version >> 16) & 0xff) + 1);
    }
}

/// Measures how many APIC timer counts make one tick (Linux
/// `calibrate_APIC_clock`): let the timer run down from its maximum,
/// one-shot and masked, across `HZ / 10` PIT ticks (at least 5). Runs on
/// the boot CPU with interrupts on and the PIT ticking.
pub fn calibrate_APIC_clock() -> u32 {
    let loops = (crate::time::hz() / 10).max(5) as u64;
    apic_write(APIC_TDCR, APIC_TDR_DIV_16);
    apic_write(APIC_LVTT, APIC_LVT_MASKED | LOCAL_TIMER_VECTOR as u32);
    let start = crate::time::jiffies();
    while crate::time::jiffies() == start {
        core::hint::spin_loop();
    }
    apic_write(APIC_TMICT, u32::MAX);
    let (tsc0, first) = (super::cpu::rdtsc(), crate::time::jiffies());
    while crate::time::jiffies() < first + loops {
        core::hint::spin_loop();
    }
    let (left, tsc1) = (apic_read(APIC_TMCCT), super::cpu::rdtsc());
    apic_write(APIC_TMICT, 0);
    let per_tick = ((u32::MAX - left) as u64 / loops) as u32;
    let hz = crate::time::hz() as u64;
    let cpu_khz = (tsc1 - tsc0) * hz / loops / 1000;
    let bus_khz = per_tick as u64 * APIC_DIVISOR * hz / 1000;
    log::info!("..... CPU clock speed is {}.{:03} MHz.", cpu_khz / 1000, cpu_khz % 1000);
    log::info!("..... host bus clock speed is {}.{:03} MHz.", bus_khz / 1000, bus_khz % 1000);
    CALIBRATION_RESULT.store(per_tick, Ordering::Relaxed);
    per_tick
}

/// Starts this CPU's APIC timer: periodic, `HZ` interrupts a second on
/// [`LOCAL_TIMER_VECTOR`] (Linux `setup_APIC_timer`, from
/// `setup_boot_APIC_clock` and `setup_secondary_APIC_clock`).
pub fn setup_APIC_timer() {
    let count = CALIBRATION_RESULT.load(Ordering::Relaxed);
    assert!(count != 0, "calibrate_APIC_clock() runs before any CPU's APIC timer starts");
    apic_write(APIC_TDCR, APIC_TDR_DIV_16);
    apic_write(APIC_LVTT, APIC_LVT_TIMER_PERIODIC | LOCAL_TIMER_VECTOR as u32);
    apic_write(APIC_TMICT, count);
}

/// Local APIC timer interrupts CPU `cpu` has taken (Linux
/// `irq_stat[cpu].apic_timer_irqs`).
pub fn apic_timer_irqs(cpu: usize) -> u64 {
    APIC_IRQS.cpu(cpu)[0].load(Ordering::Relaxed)
}

/// Interrupts of APIC vector `vector` taken by CPU `cpu`.
pub fn apic_irqs(vector: u8, cpu: usize) -> u64 {
    let index = APIC_VECTORS.iter().position(|&v| v == vector).expect("an APIC vector");
    APIC_IRQS.cpu(cpu)[index].load(Ordering::Relaxed)
}

/// The rows of `/proc/interrupts` for the APIC vectors: label, counts per
/// CPU, description (Linux `arch_show_interrupts`).
pub fn show_apic_interrupts(online: usize) {
    const ROWS: [(&str, &str); APIC_VECTORS.len()] = [
        ("LOC", "Local timer interrupts"),
        ("CAL", "Function call interrupts"),
        ("RES", "Rescheduling interrupts"),
        ("TLB", "TLB shootdowns"),
        ("ERR", "APIC error interrupts"),
        ("SPU", "Spurious interrupts"),
    ];
    for (index, (label, what)) in ROWS.iter().enumerate() {
        let mut line = crate::fixed_text::FixedText::<128>::new();
        for cpu in 0..online {
            let _ = core::fmt::write(&mut line, format_args!(" {:10}", APIC_IRQS.cpu(cpu)[index].load(Ordering::Relaxed)));
        }
        log::info!("{label}:{}   {what}", line.as_str());
    }
}

/// Waits until the APIC has sent the previous IPI (Linux
/// `apic_wait_icr_idle`).
fn apic_wait_icr_idle() {
    while apic_read(APIC_ICR) & APIC_ICR_BUSY != 0 {
        core::hint::spin_loop();
    }
}

/// Sends `icr` (vector and delivery mode) to the CPU with APIC id `apicid`
/// (Linux `__send_IPI_dest_field`). Interrupts are off across the two
/// register writes so that an interrupt handler sending its own IPI cannot
/// come between them and change the destination.
fn send_IPI_dest(apicid: u8, icr: u32) {
    let flags = local_irq_save();
    apic_wait_icr_idle();
    apic_write(APIC_ICR2, (apicid as u32) << 24);
    apic_write(APIC_ICR, icr);
    local_irq_restore(flags);
}

/// Sends fixed-delivery IPI `vector` to the CPU with APIC id `apicid`
/// (Linux `send_IPI_mask` for one CPU).
pub fn send_IPI(apicid: u8, vector: u8) {
    send_IPI_dest(apicid, APIC_DM_FIXED | vector as u32);
}

/// Sends an NMI to the CPU with APIC id `apicid` (Linux
/// `send_IPI_mask(mask, NMI_VECTOR)`): it arrives even where interrupts
/// are off.
pub fn send_NMI(apicid: u8) {
    send_IPI_dest(apicid, APIC_DM_NMI);
}

/// INIT, level asserted then deasserted: resets the target CPU into its
/// wait-for-SIPI state (the first half of Linux `wakeup_secondary_cpu`).
pub fn send_INIT(apicid: u8, deassert: bool) {
    let icr = if deassert { APIC_INT_LEVELTRIG | APIC_DM_INIT } else { APIC_INT_LEVELTRIG | APIC_INT_ASSERT | APIC_DM_INIT };
    apic_write(APIC_ESR, 0);
    send_IPI_dest(apicid, icr);
    apic_wait_icr_idle();
}

/// STARTUP IPI: the target starts in real mode at `page << 12` (the second
/// half of Linux `wakeup_secondary_cpu`). Returns the error status.
pub fn send_SIPI(apicid: u8, page: u8) -> u32 {
    apic_write(APIC_ESR, 0);
    send_IPI_dest(apicid, APIC_DM_STARTUP | page as u32);
    apic_wait_icr_idle();
    apic_write(APIC_ESR, 0);
    apic_read(APIC_ESR) & 0xef
}

/// Bytes between two APIC entry stubs.
const STUB_ALIGN: usize = 16;

// The stubs push the same frame as the IRQ stubs and share their common
// path (`irq.rs`), whose `do_IRQ` hands these vectors to `smp_apic_interrupt`.
global_asm!(
    r#"
    .section .text
    .balign {ALIGN}
    .global apic_entries_start
apic_entries_start:
    .irp vector, 0xef,0xfb,0xfc,0xfd,0xfe,0xff
    .balign {ALIGN}
    push 0                  /* no error code: keep the TrapFrame layout */
    push \vector
    jmp common_interrupt
    .endr
    "#,
    ALIGN = const STUB_ALIGN,
);

unsafe extern "C" {
    /// Start of the APIC vector stubs, `STUB_ALIGN` bytes apart, in
    /// [`APIC_VECTORS`] order.
    fn apic_entries_start();
}

/// The Rust half of every APIC vector (Linux's `smp_apic_timer_interrupt`,
/// `smp_call_function_interrupt`, `smp_reschedule_interrupt`,
/// `smp_invalidate_interrupt`, `smp_error_interrupt`,
/// `smp_spurious_interrupt`, each behind its own entry in `entry.S`),
/// called by `do_IRQ` for vectors from [`FIRST_SYSTEM_VECTOR`] up.
pub(super) fn smp_apic_interrupt(frame: &mut TrapFrame) {
    let vector = frame.vector as u8;
    let cpu = super::smp::smp_processor_id();
    let index = APIC_VECTORS.iter().position(|&v| v == vector).expect("a stub of APIC_VECTORS");
    APIC_IRQS.cpu(cpu)[index].fetch_add(1, Ordering::Relaxed);
    if vector == SPURIOUS_APIC_VECTOR {
        // Not in service: no EOI (SDM 11.9).
        return;
    }
    crate::preempt::irq_enter();
    ack_APIC_irq();
    match vector {
        LOCAL_TIMER_VECTOR => {
            // Linux `update_process_times` for this CPU: its timer wheel and
            // its time slice. The boot CPU's come from the PIT (module doc).
            if cpu != 0 {
                crate::timer::run_local_timers();
                crate::sched::scheduler_tick();
            }
        }
        CALL_FUNCTION_VECTOR => super::smp::smp_call_function_interrupt(),
        RESCHEDULE_VECTOR => {} // the return path below reschedules
        INVALIDATE_TLB_VECTOR => super::tlb::smp_invalidate_interrupt(),
        ERROR_APIC_VECTOR => {
            apic_write(APIC_ESR, 0);
            let status = apic_read(APIC_ESR);
            log::error!("APIC error on CPU{cpu}: {status:02x}");
        }
        _ => unreachable!("vector {vector:#x} has no APIC stub"),
    }
    crate::softirq::irq_exit();
    super::irq::ret_from_intr(frame);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86::smp::{cpu_online, num_online_cpus};
    use crate::arch::x86::time::{TICK_RATE_TOLERANCE_PERCENT, tsc_khz};

    /// Every online CPU takes its own APIC timer interrupts at `HZ`: the
    /// counts of each, sampled over five 200 ms windows of TSC time (the
    /// TSC was calibrated against the PIT, independently of the APIC), and
    /// the window closest to `HZ` is within the tolerance the PIT tick test
    /// allows (see `TICK_RATE_TOLERANCE_PERCENT` for why windows).
    #[test_case]
    fn every_cpu_takes_apic_timer_ticks_at_hz() {
        let hz = crate::time::hz() as u64;
        let window_cycles = tsc_khz() * 200;
        let mut closest = [0u64; NR_CPUS];
        for _ in 0..5 {
            let before: [u64; NR_CPUS] = core::array::from_fn(apic_timer_irqs);
            let start = crate::arch::x86::cpu::rdtsc();
            while crate::arch::x86::cpu::rdtsc() - start < window_cycles {
                core::hint::spin_loop();
            }
            for cpu in 0..NR_CPUS {
                let rate = (apic_timer_irqs(cpu) - before[cpu]) * 5 * 1000;
                if rate.abs_diff(hz * 1000) < closest[cpu].abs_diff(hz * 1000) {
                    closest[cpu] = rate;
                }
            }
        }
        log::info!("APIC timer, mHz per CPU: {:?} (HZ={hz}, {} CPUs online)", &closest[..num_online_cpus()], num_online_cpus());
        let allowed = hz * 1000 * TICK_RATE_TOLERANCE_PERCENT / 100;
        for cpu in 0..NR_CPUS {
            if cpu_online(cpu) {
                assert!(closest[cpu].abs_diff(hz * 1000) <= allowed, "CPU{cpu}: {} mHz is not HZ={hz}", closest[cpu]);
            } else {
                assert_eq!(closest[cpu], 0, "CPU{cpu} is offline and ticks nonetheless");
            }
        }
    }

    /// The fixmap slot maps the APIC the MADT names, uncached.
    #[test_case]
    fn the_apic_is_mapped_uncached_at_fix_apic_base() {
        let translation = crate::arch::x86::paging::lookup_address(apic_base()).expect("FIX_APIC_BASE is mapped");
        assert_eq!(translation.paddr, 0xfee0_0000);
        assert!(translation.flags.contains(crate::arch::x86::paging::PAGE_KERNEL_NOCACHE));
        assert_eq!(read_apic_id() as usize, crate::arch::x86::smp::smp_processor_id(), "QEMU numbers APIC ids like our CPUs");
    }
}
