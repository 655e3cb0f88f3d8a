//! The Global Descriptor Table and the two Task State Segments, one set per
//! CPU.
//!
//! Paging does all the memory protection in this kernel, so segmentation is
//! "flat": one code and one data segment, both base 0 and limit 4 GiB.  Two
//! more descriptors point at TSSs:
//!
//! * the **main TSS**, loaded into TR.  The CPU needs a current task before
//!   it can switch tasks at all, and when the double-fault task gate fires,
//!   the CPU saves the faulting context (EIP, ESP...) here — which is how the
//!   double-fault handler learns where the kernel was.
//! * the **double-fault TSS**, the target of the task gate in IDT vector 8.
//!   A kernel stack overflow faults while pushing onto the guard page; the
//!   CPU cannot push the page-fault frame either and raises #DF.  An ordinary
//!   interrupt gate would need that same broken stack and the CPU would
//!   triple-fault (reset).  A task gate loads a whole new context from the
//!   TSS — including a fresh ESP — so the overflow can be reported.  Linux
//!   on i386 does exactly this (`doublefault_tss` in
//!   `arch/x86/kernel/doublefault.c`).
//!
//! Every CPU has its own GDT, TSSs and double-fault stack (Linux's per-CPU
//! `gdt_page` and `init_tss`): `ltr` marks a TSS descriptor busy, a task
//! switch writes the TSS, and the per-CPU descriptor's base differs per
//! CPU — none of that can be shared. The selectors are the same on every
//! CPU, so the IDT (shared) names the same double-fault TSS selector and
//! each CPU finds its own TSS through its own GDT.
//!
//! Selectors (Linux uses other numbers, `__KERNEL_CS` = 0x60, because its GDT
//! also holds user, TLS and APM/PnP BIOS segments we do not need):

use crate::mm::layout::NR_CPUS;
use core::arch::asm;
use core::cell::UnsafeCell;
use core::mem::size_of;

/// Kernel code segment selector.
pub const KERNEL_CS: u16 = 0x08;
/// Kernel data segment selector.
pub const KERNEL_DS: u16 = 0x10;
/// Selector of the main TSS.
pub const TSS_SELECTOR: u16 = 0x18;
/// Selector of the double-fault TSS (the IDT's task gate names it).
pub const DOUBLEFAULT_TSS_SELECTOR: u16 = 0x20;
/// Selector of this CPU's per-CPU segment, kept in `%fs` (Linux i386's
/// `__KERNEL_PERCPU`): its base is this CPU's [`PerCpuArea`](super::smp::PerCpuArea).
pub const PERCPU_SELECTOR: u16 = 0x28;

const GDT_ENTRIES: usize = 6;
const DOUBLEFAULT_STACK_SIZE: usize = 16 * 1024;

/// The 32-bit hardware task state (Intel SDM vol. 3, figure 8-2).  Segment
/// fields are 16 bits wide followed by 16 reserved bits; we store them as
/// u32 with the upper half zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Tss32 {
    pub link: u32,
    pub esp0: u32,
    pub ss0: u32,
    pub esp1: u32,
    pub ss1: u32,
    pub esp2: u32,
    pub ss2: u32,
    pub cr3: u32,
    pub eip: u32,
    pub eflags: u32,
    pub eax: u32,
    pub ecx: u32,
    pub edx: u32,
    pub ebx: u32,
    pub esp: u32,
    pub ebp: u32,
    pub esi: u32,
    pub edi: u32,
    pub es: u32,
    pub cs: u32,
    pub ss: u32,
    pub ds: u32,
    pub fs: u32,
    pub gs: u32,
    pub ldt: u32,
    /// Trap bit (bit 0) and, in the upper 16 bits, the I/O bitmap offset.
    pub trap_iomap: u32,
}
const _: () = assert!(size_of::<Tss32>() == 104);

/// Tables the CPU reads (and, for TSSs, writes) behind Rust's back.
struct CpuTables {
    gdt: [u64; GDT_ENTRIES],
    tss: Tss32,
    doublefault_tss: Tss32,
    doublefault_stack: DoubleFaultStack,
}

#[repr(C, align(16))]
struct DoubleFaultStack([u8; DOUBLEFAULT_STACK_SIZE]);

struct CpuTablesCell(UnsafeCell<CpuTables>);
// SAFETY: each CPU's tables are written by `load(cpu)` on that CPU, once,
// before it enables interrupts; afterwards only that CPU (task switches)
// writes its TSSs, and Rust reads them only from its double-fault handler.
// `set_doublefault_cr3` stores one aligned word while no task switch runs.
unsafe impl Sync for CpuTablesCell {}

static TABLES: [CpuTablesCell; NR_CPUS] = [const {
    CpuTablesCell(UnsafeCell::new(CpuTables {
        gdt: [0; GDT_ENTRIES],
        tss: Tss32::ZERO,
        doublefault_tss: Tss32::ZERO,
        doublefault_stack: DoubleFaultStack([0; DOUBLEFAULT_STACK_SIZE]),
    }))
}; NR_CPUS];

impl Tss32 {
    const ZERO: Tss32 = Tss32 {
        link: 0, esp0: 0, ss0: 0, esp1: 0, ss1: 0, esp2: 0, ss2: 0, cr3: 0, eip: 0, eflags: 0,
        eax: 0, ecx: 0, edx: 0, ebx: 0, esp: 0, ebp: 0, esi: 0, edi: 0, es: 0, cs: 0, ss: 0,
        ds: 0, fs: 0, gs: 0, ldt: 0, trap_iomap: 0,
    };
}

/// Encodes a segment descriptor: `access` is the type/DPL/present byte,
/// `flags` the granularity/size nibble.
const fn descriptor(base: u32, limit: u32, access: u8, flags: u8) -> u64 {
    (limit as u64 & 0xffff)
        | ((base as u64 & 0xff_ffff) << 16)
        | ((access as u64) << 40)
        | (((limit as u64 >> 16) & 0xf) << 48)
        | (((flags as u64) & 0xf) << 52)
        | (((base as u64 >> 24) & 0xff) << 56)
}

/// Present, ring 0, code, readable; 4 KiB granularity, 32-bit.
const KERNEL_CODE: u64 = descriptor(0, 0xfffff, 0x9a, 0xc);
/// Present, ring 0, data, writable; 4 KiB granularity, 32-bit.
const KERNEL_DATA: u64 = descriptor(0, 0xfffff, 0x92, 0xc);
/// Present, ring 0, available 32-bit TSS.
const TSS_ACCESS: u8 = 0x89;

/// Builds CPU `cpu`'s GDT and TSSs, loads GDTR, reloads every segment
/// register and loads TR (Linux: `cpu_init` -> `switch_to_new_gdt` +
/// `load_TR_desc`). Runs on that CPU, first thing, interrupts off.
pub fn load(cpu: usize) {
    let tables = TABLES[cpu].0.get();
    // SAFETY: called once per CPU, on that CPU, before it enables
    // interrupts; nobody else holds a reference into its tables.
    let tables = unsafe { &mut *tables };

    let stack_top = tables.doublefault_stack.0.as_ptr() as u32 + DOUBLEFAULT_STACK_SIZE as u32;
    tables.doublefault_tss = Tss32 {
        esp: stack_top,
        esp0: stack_top,
        ss0: KERNEL_DS as u32,
        eip: crate::arch::x86::traps::doublefault_task_entry as *const () as usize as u32,
        eflags: 0x2, // interrupts off, reserved bit 1 set
        cr3: crate::arch::x86::cpu::read_cr3(),
        cs: KERNEL_CS as u32,
        ss: KERNEL_DS as u32,
        ds: KERNEL_DS as u32,
        es: KERNEL_DS as u32,
        // The handler may ask which CPU it is on: the per-CPU segment.
        fs: PERCPU_SELECTOR as u32,
        gs: KERNEL_DS as u32,
        trap_iomap: (size_of::<Tss32>() as u32) << 16, // no I/O bitmap
        ..Tss32::ZERO
    };
    tables.tss.trap_iomap = (size_of::<Tss32>() as u32) << 16;
    tables.tss.ss0 = KERNEL_DS as u32;

    let tss_limit = size_of::<Tss32>() as u32 - 1;
    tables.gdt = [
        0,
        KERNEL_CODE,
        KERNEL_DATA,
        descriptor(&raw const tables.tss as u32, tss_limit, TSS_ACCESS, 0),
        descriptor(&raw const tables.doublefault_tss as u32, tss_limit, TSS_ACCESS, 0),
        // This CPU's per-CPU area: byte granular, present, ring 0, data.
        descriptor(super::smp::per_cpu_area_base(cpu), size_of::<super::smp::PerCpuArea>() as u32 - 1, 0x92, 0x4),
    ];

    let pointer = x86::dtables::DescriptorTablePointer::<u64> {
        limit: (size_of::<[u64; GDT_ENTRIES]>() - 1) as u16,
        base: tables.gdt.as_ptr(),
    };
    // SAFETY: the GDT just built has valid flat code/data descriptors at the
    // selectors reloaded below, a per-CPU descriptor over a static area for
    // %fs, and valid TSS descriptors; it lives in a static, so it outlives
    // every use by the CPU.
    unsafe {
        x86::dtables::lgdt(&pointer);
        asm!(
            "push {cs}",
            "lea {tmp}, [2f]",
            "push {tmp}",
            "retf",
            "2:",
            "mov ds, {ds:x}",
            "mov es, {ds:x}",
            "mov fs, {percpu:x}",
            "mov gs, {ds:x}",
            "mov ss, {ds:x}",
            cs = const KERNEL_CS as u32,
            ds = in(reg) KERNEL_DS as u32,
            percpu = in(reg) PERCPU_SELECTOR as u32,
            tmp = out(reg) _,
        );
        x86::task::load_tr(x86::segmentation::SegmentSelector::from_raw(TSS_SELECTOR));
    }
}

/// Points every CPU's double-fault task at a new page directory: called
/// whenever the kernel switches CR3 (`paging_init`), so the handler runs
/// with the same mappings as the code it interrupts.
pub fn set_doublefault_cr3(cr3: u32) {
    for tables in &TABLES {
        // SAFETY: the double-fault TSS is only read by the CPU during a task
        // switch; this single aligned store happens with no switch in progress.
        unsafe { (*tables.0.get()).doublefault_tss.cr3 = cr3 };
    }
}

/// A copy of this CPU's main TSS: after a double fault the CPU has stored
/// the interrupted context there.
pub fn interrupted_task_state() -> Tss32 {
    let cpu = super::smp::smp_processor_id();
    // SAFETY: read from the double-fault task, while the interrupted context
    // is frozen; a plain copy of plain integers.
    unsafe { (*TABLES[cpu].0.get()).tss }
}

/// The `[low, high)` range of this CPU's double-fault stack.
pub fn doublefault_stack_range() -> (usize, usize) {
    let cpu = super::smp::smp_processor_id();
    // SAFETY: only the address of the array is taken.
    let low = unsafe { (*TABLES[cpu].0.get()).doublefault_stack.0.as_ptr() } as usize;
    (low, low + DOUBLEFAULT_STACK_SIZE)
}
