//! Waking the other CPUs (Linux 2.6.11 `arch/i386/kernel/smpboot.c`:
//! `smp_prepare_cpus`, `do_boot_cpu`, `wakeup_secondary_cpu`,
//! `start_secondary`; `trampoline.S`; `init/main.c` `smp_init`).
//!
//! At power-on one CPU, the *bootstrap processor*, runs the firmware and
//! then us; the others — *application processors* — wait, halted, for an
//! INIT and a STARTUP IPI. A STARTUP IPI names a page below 1 MiB, and the
//! AP starts there **in real mode**, like an 8086 after reset. So bringing
//! up a CPU means:
//!
//! 1. **At boot** ([`reserve_trampoline_memory`], from `memblock_setup`):
//!    reserve a page below 1 MiB from memblock for the trampoline (Linux
//!    2.6.11 `smp_alloc_memory`), and ([`find_cpus`], from `setup_arch`)
//!    read the MADT, map the local APIC, and number the CPUs: the boot CPU
//!    is CPU 0, the others follow in MADT order; more than `NR_CPUS` are
//!    reported and left asleep (Linux prints the same "NR_CPUS limit"
//!    warning); `maxcpus=` caps how many are brought up.
//! 2. **`smp_prepare_cpus`**: enable the boot CPU's APIC, calibrate the APIC
//!    timer against the PIT, start the boot CPU's APIC tick.
//! 3. **`smp_init` -> `do_boot_cpu`**, one AP at a time: give it an idle
//!    task with a stack (`fork_idle`), copy the trampoline into the low page
//!    with the AP's parameters (stack, page directory, CPU number, entry
//!    point), send INIT, wait 10 ms, and two STARTUP IPIs 300 + 200 µs
//!    apart (Intel's "universal start-up algorithm", Linux
//!    `wakeup_secondary_cpu`), then wait up to 5 s for the AP to call in.
//!    An AP that does not is reported (`Not responding.`), sent INIT again
//!    to park it, and counted out; the boot goes on.
//! 4. **The trampoline** (16-bit code, then 32-bit): load a three-entry GDT
//!    of its own, set CR0.PE, far-jump into 32-bit code, load CR4 (4 MiB
//!    pages if the boot CPU uses them) and a page directory that maps the
//!    kernel's gigabyte as `swapper_pg_dir` does *and* the first 4 MiB at
//!    address 0 — the trampoline's own physical address must stay valid
//!    across the `mov cr0` that turns paging on (Linux 2.6.3x's
//!    `trampoline_pg_dir`) —, turn on paging, switch to the idle stack and
//!    jump to [`start_secondary`] in the higher half.
//! 5. **`start_secondary`**: `swapper_pg_dir`, this CPU's GDT (with its
//!    per-CPU segment in `%fs`), TSSs and double-fault task, the shared
//!    IDT (Linux `cpu_init`); its local APIC and APIC tick; mark it online;
//!    interrupts on; the idle loop.
//!
//! `smp_init` prints `Brought up N CPUs` as Linux does.

use super::apic;
use super::smp::{num_online_cpus, set_cpu_online, set_cpu_to_apicid};
use crate::mm::PAGE_SIZE;
use crate::mm::layout::{NR_CPUS, __pa, __va};
use core::arch::global_asm;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// Physical address of the trampoline page (0: none reserved).
static TRAMPOLINE_BASE: AtomicU32 = AtomicU32::new(0);
/// CPUs found and allowed (`cpu_present_map` as a count: CPU numbers
/// 0..NR_PRESENT are present).
static NR_PRESENT: AtomicUsize = AtomicUsize::new(1);
/// How many CPUs to bring up at most (`maxcpus=`, `nosmp`).
static MAX_CPUS: AtomicUsize = AtomicUsize::new(NR_CPUS);
/// Bit `cpu` set once CPU `cpu` has reached `start_secondary` (Linux
/// `cpu_callin_map`).
static CPU_CALLIN_MAP: AtomicU32 = AtomicU32::new(1);

/// How long the boot CPU waits for an AP to call in (Linux: 5 s).
const CALLIN_TIMEOUT_MS: u64 = 5000;

/// Reserves the trampoline page below 1 MiB from memblock (Linux
/// `smp_alloc_memory`). Called by `memblock_setup` before it reserves the
/// BIOS area, so the page is free to take.
pub fn reserve_trampoline_memory(memblock: &mut crate::mm::memblock::Memblock) {
    // Below 0x9f000: the EBDA and the video memory follow.
    match memblock.alloc_base(PAGE_SIZE as u64, PAGE_SIZE as u64, 0x9f000) {
        Some(base) => {
            log::info!("SMP: trampoline page at {base:#07x}");
            TRAMPOLINE_BASE.store(base as u32, Ordering::Relaxed);
        }
        None => log::warn!("SMP: no free page below 1 MiB for the trampoline; only the boot CPU will run"),
    }
}

/// Physical address of the trampoline page, if one was reserved.
pub fn trampoline_base() -> Option<u32> {
    Some(TRAMPOLINE_BASE.load(Ordering::Relaxed)).filter(|&base| base != 0)
}

/// Reads the MADT, maps the local APIC and numbers the CPUs (see the
/// module doc, step 1). `maxcpus` is the command line's `maxcpus=`/`nosmp`.
pub fn find_cpus(rsdt_from_boot_info: Option<u32>, maxcpus: Option<usize>) {
    let madt = match super::acpi::acpi_boot_init(rsdt_from_boot_info) {
        Ok(madt) => madt,
        Err(why) => {
            log::warn!("ACPI: {why}; SMP disabled, only the boot CPU runs");
            return;
        }
    };
    apic::init_apic_mappings(madt.lapic_addr);
    let boot_apicid = apic::read_apic_id();
    set_cpu_to_apicid(0, boot_apicid);
    let mut present = 1;
    for (listed, lapic) in madt.lapics().iter().filter(|l| l.enabled && l.apic_id != boot_apicid).enumerate() {
        if present == NR_CPUS {
            log::warn!("NR_CPUS/possible_cpus limit of {NR_CPUS} reached. Processor {}/{:#x} ignored.", listed + 1, lapic.apic_id);
            continue;
        }
        set_cpu_to_apicid(present, lapic.apic_id);
        present += 1;
    }
    if madt.lapics_dropped > 0 {
        log::warn!("ACPI: {} more LAPIC entries than this kernel reads ignored", madt.lapics_dropped);
    }
    NR_PRESENT.store(present, Ordering::Relaxed);
    log::info!("SMP: Allowing {present} CPUs, 0 hotplug CPUs");
    if let Some(max) = maxcpus {
        MAX_CPUS.store(max.min(NR_CPUS), Ordering::Relaxed);
        log::info!("SMP: maxcpus={max}: at most {} CPU(s) will be brought up", max.min(present));
    }
}

/// CPUs the firmware listed that this kernel can run (at most `NR_CPUS`).
pub fn num_present_cpus() -> usize {
    NR_PRESENT.load(Ordering::Relaxed)
}

/// Step 2 of the module doc (Linux `smp_prepare_cpus` ->
/// `setup_local_APIC` + `setup_boot_APIC_clock`). Runs in `kernel_init`
/// with interrupts on and the PIT ticking.
pub fn smp_prepare_cpus() {
    if !apic::apic_mapped() {
        return;
    }
    apic::setup_local_APIC(true);
    log::info!("Using local APIC timer interrupts.");
    log::info!("calibrating APIC timer ...");
    apic::calibrate_APIC_clock();
    apic::setup_APIC_timer();
}

/// Brings up the present CPUs, at most `maxcpus` of them (Linux
/// `smp_init`), and prints how many run.
pub fn smp_init() {
    let wanted = num_present_cpus().min(MAX_CPUS.load(Ordering::Relaxed));
    if wanted > 1 {
        match (trampoline_base(), alloc_trampoline_pg_dir()) {
            (Some(base), Some(pg_dir)) => {
                for cpu in 1..wanted {
                    if let Err(why) = do_boot_cpu(cpu, base, pg_dir, CALLIN_TIMEOUT_MS) {
                        log::error!("CPU{cpu}: {why}");
                    }
                }
                free_trampoline_pg_dir(pg_dir);
            }
            (None, _) => log::warn!("SMP: no trampoline page, the other CPUs stay asleep"),
            (_, None) => log::warn!("SMP: no memory for the trampoline page directory, the other CPUs stay asleep"),
        }
    }
    let online = num_online_cpus();
    log::info!("Brought up {online} CPU{}", if online == 1 { "" } else { "s" });
}

/// A page directory for the trampoline: the kernel's gigabyte as in
/// `swapper_pg_dir` plus the first 4 MiB at address 0 (see the module doc).
/// Returns its direct-map address.
fn alloc_trampoline_pg_dir() -> Option<usize> {
    let node = crate::mm::init::node();
    let page = node.alloc_page(crate::mm::gfp::GfpFlags::GFP_KERNEL)?;
    let vaddr = __va((node.page_to_pfn(page)? as u64) << crate::mm::PAGE_SHIFT);
    super::paging::clone_pgd_for_trampoline(vaddr);
    Some(vaddr)
}

fn free_trampoline_pg_dir(vaddr: usize) {
    let node = crate::mm::init::node();
    let page = node.pfn_to_page((__pa(vaddr) >> crate::mm::PAGE_SHIFT) as usize).expect("a page of the direct map");
    node.__free_page(page);
}

/// What the trampoline reads at `trampoline_params` (keep in step with
/// the assembly below).
#[repr(C)]
struct TrampolineParams {
    cr3: u32,
    cr4: u32,
    stack: u32,
    entry: u32,
    cpu: u32,
}

/// Why an AP did not come up.
#[derive(Clone, Copy, Debug)]
enum BootCpuError {
    NoIdleTask(crate::sched::KthreadError),
    NoSlabArrays,
    NotResponding,
}

impl core::fmt::Display for BootCpuError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BootCpuError::NoIdleTask(why) => write!(f, "no idle task: {why}"),
            BootCpuError::NoSlabArrays => write!(f, "no memory for its slab arrays"),
            BootCpuError::NotResponding => write!(f, "Not responding."),
        }
    }
}

/// Wakes CPU `cpu` and waits up to `timeout_ms` until it runs (Linux
/// `do_boot_cpu`).
fn do_boot_cpu(cpu: usize, trampoline: u32, pg_dir: usize, timeout_ms: u64) -> Result<(), BootCpuError> {
    let apicid = super::smp::cpu_physical_id(cpu);
    // Linux's CPU_UP_PREPARE notifiers: the slab's per-CPU arrays.
    let slab = crate::mm::kmalloc::slab();
    slab.cpuup_prepare(cpu).map_err(|()| {
        slab.cpuup_canceled(cpu);
        BootCpuError::NoSlabArrays
    })?;
    let stack_top = crate::sched::fork_idle(cpu).map_err(|why| {
        slab.cpuup_canceled(cpu);
        BootCpuError::NoIdleTask(why)
    })?;
    let params = TrampolineParams {
        cr3: __pa(pg_dir) as u32,
        cr4: super::cpu::read_cr4().bits() as u32,
        stack: stack_top as u32,
        entry: start_secondary as *const () as usize as u32,
        cpu: cpu as u32,
    };
    install_trampoline(trampoline, &params);
    log::info!("Booting processor {cpu} APIC {apicid:#x} ip {trampoline:#x}");
    wakeup_secondary_cpu_via_init(apicid, trampoline);
    let deadline = super::cpu::rdtsc() + super::time::tsc_khz() * timeout_ms;
    while !super::smp::cpu_online(cpu) {
        if super::cpu::rdtsc() > deadline {
            // Park it again before its idle stack goes back to the allocator.
            apic::send_INIT(apicid, false);
            super::time::mdelay(10);
            apic::send_INIT(apicid, true);
            let called_in = CPU_CALLIN_MAP.load(Ordering::Acquire) & (1 << cpu) != 0;
            log::error!("CPU{cpu}: {} (APIC {apicid:#x}), counted out", if called_in { "called in but did not come online" } else { "did not call in" });
            crate::sched::free_idle(cpu);
            slab.cpuup_canceled(cpu);
            return Err(BootCpuError::NotResponding);
        }
        core::hint::spin_loop();
    }
    Ok(())
}

/// Copies the trampoline code into its page and fills in the parameters.
fn install_trampoline(base: u32, params: &TrampolineParams) {
    let start = trampoline_data as *const () as usize;
    let len = trampoline_end as *const () as usize - start;
    let params_offset = trampoline_params as *const () as usize - start;
    assert!(len <= PAGE_SIZE && params_offset + size_of::<TrampolineParams>() <= len);
    let dst = __va(base as u64);
    // `dst` is the direct map of the page reserved for the trampoline at
    // boot; APs are woken one at a time, each leaving it before it calls in.
    // SAFETY: so nobody else uses the page; the source is `len` bytes of image.
    unsafe {
        core::ptr::copy_nonoverlapping(start as *const u8, dst as *mut u8, len);
        core::ptr::write_volatile((dst + params_offset) as *mut TrampolineParams, core::ptr::read(params));
    }
}

/// INIT, then two STARTUP IPIs (Linux `wakeup_secondary_cpu`, with its
/// delays).
fn wakeup_secondary_cpu_via_init(apicid: u8, start_eip: u32) {
    apic::send_INIT(apicid, false);
    super::time::mdelay(10);
    apic::send_INIT(apicid, true);
    for _ in 0..2 {
        let status = apic::send_SIPI(apicid, (start_eip >> 12) as u8);
        if status != 0 {
            log::error!("APIC error on STARTUP IPI to APIC {apicid:#x}: {status:#x}");
        }
    }
}

/// Where an AP arrives from the trampoline, on its idle stack, paging on
/// (Linux `start_secondary` with `cpu_init` and `smp_callin`). Nothing here
/// may ask which CPU it runs on until `gdt::load` has set `%fs`.
extern "C" fn start_secondary(cpu: u32) -> ! {
    let cpu = cpu as usize;
    super::paging::load_swapper_pg_dir();
    cpu_init(cpu);
    CPU_CALLIN_MAP.fetch_or(1 << cpu, Ordering::AcqRel);
    apic::setup_local_APIC(false);
    apic::setup_APIC_timer();
    log::info!("Initializing CPU#{cpu} (APIC {:#x})", apic::read_apic_id());
    set_cpu_online(cpu, true);
    // Linux's CPU_ONLINE slab notifier: this CPU's cache_reap timer.
    crate::mm::kmalloc::start_cpu_timer();
    super::irqflags::local_irq_enable();
    crate::sched::cpu_idle()
}

/// This CPU's own descriptor tables (Linux `cpu_init`): its GDT with its
/// per-CPU segment in `%fs`, its TSSs and double-fault task, and the IDT
/// all CPUs share. (The boot CPU does the same in `start_kernel_entry`.)
fn cpu_init(cpu: usize) {
    super::gdt::load(cpu);
    super::traps::load_idt();
}

global_asm!(
    r#"
    .section .rodata.trampoline, "a"
    .balign 16
    .globl trampoline_data
trampoline_data:
    .code16
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    movzwl %ax, %ebx
    shll $4, %ebx                               /* ebx: our physical address */
    xorl %esi, %esi                             /* esi: our offset in DS */
    leal (tr_gdt - trampoline_data)(%ebx), %eax
    movl %eax, (tr_gdt_desc - trampoline_data + 2)(%esi)
    leal (tr_protected - trampoline_data)(%ebx), %eax
    movl %eax, (tr_far_jump - trampoline_data)(%esi)
    lgdtl (tr_gdt_desc - trampoline_data)(%esi)
    movl %cr0, %eax
    orl $1, %eax                                /* protected mode */
    movl %eax, %cr0
    ljmpl *(tr_far_jump - trampoline_data)(%esi) /* loads CS from tr_gdt */

    .code32
tr_protected:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movl (tr_cr4 - trampoline_data)(%ebx), %eax
    movl %eax, %cr4
    movl (tr_cr3 - trampoline_data)(%ebx), %eax
    movl %eax, %cr3
    movl %cr0, %eax
    orl $0x80010000, %eax                       /* paging and write-protect */
    movl %eax, %cr0
    movl (tr_stack - trampoline_data)(%ebx), %esp
    movl (tr_entry - trampoline_data)(%ebx), %ecx
    pushl (tr_cpu - trampoline_data)(%ebx)      /* start_secondary(cpu) */
    pushl $0                                    /* no return address */
    xorl %ebp, %ebp                             /* ends the backtrace */
    jmp *%ecx

    .balign 8
tr_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff                    /* flat 4 GiB code, ring 0 */
    .quad 0x00cf92000000ffff                    /* flat 4 GiB data, ring 0 */
tr_gdt_desc:
    .word 3 * 8 - 1
    .long 0                                     /* base: patched above */
tr_far_jump:
    .long 0                                     /* offset: patched above */
    .word 0x08
    .balign 4
    .globl trampoline_params
trampoline_params:
tr_cr3:   .long 0
tr_cr4:   .long 0
tr_stack: .long 0
tr_entry: .long 0
tr_cpu:   .long 0
    .globl trampoline_end
trampoline_end:
    .text
    "#,
    options(att_syntax)
);

unsafe extern "C" {
    /// The trampoline's first byte (never called from here: copied).
    fn trampoline_data();
    /// Its parameter block.
    fn trampoline_params();
    /// One past its last byte.
    fn trampoline_end();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86::smp::{cpu_online, cpu_physical_id};
    use crate::arch::x86::smp::set_cpu_to_apicid;

    /// The CPUs online are exactly those the firmware lists (read again
    /// here from the MADT, found by scanning the BIOS areas), capped by
    /// `NR_CPUS` and by `maxcpus=`/`nosmp` on the command line; each has
    /// the APIC id of its MADT entry, the boot CPU first.
    #[test_case]
    fn the_online_cpus_are_the_madt_s_capped_by_the_command_line() {
        let madt = super::super::acpi::acpi_boot_init(None).expect("QEMU has a MADT");
        let listed = madt.lapics().iter().filter(|l| l.enabled).count();
        let limit = crate::init::kernel_params().maxcpus.unwrap_or(NR_CPUS);
        let expected = listed.min(NR_CPUS).min(limit);
        log::info!("MADT lists {listed} CPUs, maxcpus {limit}: {expected} expected online");
        assert_eq!(num_online_cpus(), expected);
        for cpu in 0..NR_CPUS {
            assert_eq!(cpu_online(cpu), cpu < expected, "CPU{cpu}");
            if cpu < expected {
                assert_eq!(cpu_physical_id(cpu), madt.lapics()[cpu].apic_id, "QEMU lists the boot CPU first");
            }
        }
    }

    /// The trampoline lies in a page below 1 MiB that memblock holds
    /// reserved (so the buddy allocator never hands it out), and, once
    /// another CPU was woken, it holds the trampoline's code.
    #[test_case]
    fn the_trampoline_page_is_reserved_below_one_megabyte() {
        let base = trampoline_base().expect("a trampoline page") as u64;
        assert!(base < 0x10_0000 && base % PAGE_SIZE as u64 == 0);
        assert!(crate::mm::memblock::MEMBLOCK.lock().is_region_reserved(base, PAGE_SIZE as u64));
        let page = crate::mm::init::node().pfn_to_page((base >> crate::mm::PAGE_SHIFT) as usize).expect("in mem_map");
        assert!(page.is_reserved(), "the buddy allocator never got it");
        if num_online_cpus() > 1 {
            // SAFETY: both addresses are mapped: the trampoline page through
            // the direct map, its source in the kernel image.
            let (copy, source) = unsafe { (*(__va(base) as *const [u8; 16]), *(trampoline_data as *const () as *const [u8; 16])) };
            assert_eq!(copy, source, "smp_init copied the trampoline there");
        }
    }

    /// A CPU that never answers — an APIC id nobody has, in a CPU slot
    /// `maxcpus=` left free — is reported, parked and counted out: the
    /// boot CPU gets its idle task's slot and stack pages back, the CPU
    /// stays offline, and the others are untouched.
    #[test_case]
    fn a_cpu_that_does_not_answer_is_counted_out() {
        let Some(cpu) = (1..NR_CPUS).rev().find(|&cpu| !cpu_online(cpu)) else {
            crate::skip!("every CPU slot is online (boot with maxcpus= to leave one free)");
        };
        let (online, tasks) = (num_online_cpus(), crate::sched::task::nr_tasks_in_use());
        let stack_pages = || crate::mm::mmzone::ZoneType::ALL.map(crate::sched::stack::nr_stack_pages).iter().sum::<usize>();
        let pages = stack_pages();
        let saved = cpu_physical_id(cpu);
        set_cpu_to_apicid(cpu, 0x0f);
        let pg_dir = alloc_trampoline_pg_dir().expect("a page");
        let result = do_boot_cpu(cpu, trampoline_base().expect("a trampoline page"), pg_dir, 200);
        free_trampoline_pg_dir(pg_dir);
        set_cpu_to_apicid(cpu, saved);
        assert!(matches!(result, Err(BootCpuError::NotResponding)), "{result:?}");
        assert!(!cpu_online(cpu));
        assert_eq!(num_online_cpus(), online);
        assert_eq!(crate::sched::task::nr_tasks_in_use(), tasks, "the idle task's slot is free again");
        assert_eq!(stack_pages(), pages, "its stack pages went back");
    }
}
