//! CPU exceptions: the IDT, the assembly entry stubs and the reports.
//!
//! Vectors 0-31 are the CPU's exceptions.  Each gets a tiny stub that makes
//! the stack look the same for every vector (a dummy error code where the
//! CPU pushes none, then the vector number), saves the general registers and
//! calls [`do_exception`] with a pointer to that [`TrapFrame`] — the job of
//! Linux's `entry_32.S` and the `do_*` handlers in `arch/x86/kernel/traps.c`.
//!
//! Vector 8 (double fault) is different: it is a *task gate* (see `gdt.rs`),
//! so it runs on a stack of its own even when the kernel stack is gone.
//!
//! An exception in the kernel is a bug (there is no user space to blame, and
//! no exception-table fixups yet), so the handlers print an oops in Linux's
//! format — registers, the faulting address and a frame-pointer backtrace —
//! and panic.  The panic message carries the essentials (vector, address),
//! so a test that provokes a fault on purpose can check them.

use crate::arch::x86::{cpu, gdt};
use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::fmt;
use core::mem::size_of;

/// Number of IDT entries (the architecture's maximum).
const IDT_ENTRIES: usize = 256;
/// Page-fault vector.
pub const X86_TRAP_PF: u32 = 14;
/// Non-maskable interrupt vector.
pub const X86_TRAP_NMI: u32 = 2;
/// Double-fault vector.
pub const X86_TRAP_DF: u32 = 8;
/// Bytes between consecutive exception stubs (see the assembly below).
const STUB_ALIGN: usize = 16;

/// The stack as [`do_exception`] sees it: `pushad` registers, then what the
/// stub pushed, then what the CPU pushed.  No privilege change ever happens
/// (everything runs in ring 0), so the CPU pushes no SS:ESP.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TrapFrame {
    pub edi: u32,
    pub esi: u32,
    pub ebp: u32,
    /// ESP as `pushad` saw it (pointing at `edi`'s slot + 32); not restored.
    pub esp_at_pushad: u32,
    pub ebx: u32,
    pub edx: u32,
    pub ecx: u32,
    pub eax: u32,
    pub vector: u32,
    pub error_code: u32,
    pub eip: u32,
    pub cs: u32,
    pub eflags: u32,
}

impl TrapFrame {
    /// ESP at the moment of the exception (before the CPU pushed EFLAGS/CS/EIP).
    pub fn interrupted_esp(&self) -> u32 {
        // `pushad` saved the ESP that pointed at `vector`; above it lie the
        // vector, the error code and the CPU's EIP, CS and EFLAGS.
        self.esp_at_pushad + 5 * 4
    }
}

global_asm!(
    r#"
    .section .text
    .balign {ALIGN}
    .global exception_stubs
exception_stubs:
    .irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .balign {ALIGN}
    .if (\vector == 8) || (\vector == 10) || (\vector == 11) || (\vector == 12) || (\vector == 13) || (\vector == 14) || (\vector == 17) || (\vector == 21) || (\vector == 29) || (\vector == 30)
    .else
    push 0                  /* no error code from the CPU: push a dummy */
    .endif
    push \vector
    jmp exception_common
    .endr

exception_common:
    pushad
    cld
    push esp                /* argument: &mut TrapFrame */
    call do_exception
    add esp, 4
    popad
    add esp, 8              /* vector and error code */
    iretd
    "#,
    ALIGN = const STUB_ALIGN,
);

unsafe extern "C" {
    /// Start of the 32 exception stubs, `STUB_ALIGN` bytes apart.
    fn exception_stubs();
}

/// One IDT entry (gate descriptor).
#[derive(Clone, Copy)]
#[repr(transparent)]
struct Gate(u64);

impl Gate {
    const MISSING: Gate = Gate(0);

    /// Present, ring-0, 32-bit interrupt gate (IF cleared on entry).
    fn interrupt(handler: usize) -> Gate {
        let offset = handler as u64;
        Gate((offset & 0xffff) | ((gdt::KERNEL_CS as u64) << 16) | (0x8e << 40) | ((offset >> 16) << 48))
    }

    /// Present task gate naming a TSS selector.
    fn task(tss_selector: u16) -> Gate {
        Gate(((tss_selector as u64) << 16) | (0x85 << 40))
    }
}

struct IdtCell(UnsafeCell<[Gate; IDT_ENTRIES]>);
// SAFETY: written only by `trap_init`/`set_intr_gate` on the boot CPU with
// interrupts off; the CPU reads it.
unsafe impl Sync for IdtCell {}
static IDT_TABLE: IdtCell = IdtCell(UnsafeCell::new([Gate::MISSING; IDT_ENTRIES]));

/// Fills the IDT with the exception stubs and the double-fault task gate and
/// loads IDTR (Linux: `trap_init()`).
pub fn trap_init() {
    for vector in 0..32 {
        let stub = exception_stubs as *const () as usize + vector * STUB_ALIGN;
        set_gate(vector, Gate::interrupt(stub));
    }
    set_gate(X86_TRAP_DF as usize, Gate::task(gdt::DOUBLEFAULT_TSS_SELECTOR));
    load_idt();
}

/// Loads IDTR with the one IDT every CPU shares (the boot CPU in
/// [`trap_init`], the others in `start_secondary`; Linux `load_idt`).
pub fn load_idt() {
    let pointer = x86::dtables::DescriptorTablePointer::<Gate> {
        limit: (size_of::<[Gate; IDT_ENTRIES]>() - 1) as u16,
        base: IDT_TABLE.0.get() as *const Gate,
    };
    // SAFETY: IDT_TABLE is a static with valid (or not-present) gates for
    // every vector; it outlives every use by the CPU.
    unsafe { x86::dtables::lidt(&pointer) };
}

/// Installs an interrupt gate for `vector` (Linux: `set_intr_gate`).
pub fn set_intr_gate(vector: usize, handler: usize) {
    set_gate(vector, Gate::interrupt(handler));
}

fn set_gate(vector: usize, gate: Gate) {
    let flags = crate::arch::x86::irqflags::local_irq_save();
    // SAFETY: interrupts are off on the only CPU that writes the IDT, so no
    // other reference to this entry exists while we write it.
    unsafe { (*IDT_TABLE.0.get())[vector] = gate };
    crate::arch::x86::irqflags::local_irq_restore(flags);
}

/// Names of the CPU exceptions, indexed by vector.
const EXCEPTION_NAMES: [&str; 32] = [
    "divide error", "debug", "nmi", "int3", "overflow", "bounds", "invalid opcode",
    "device not available", "double fault", "coprocessor segment overrun", "invalid TSS",
    "segment not present", "stack segment", "general protection fault", "page fault",
    "spurious interrupt bug", "coprocessor error", "alignment check", "machine check",
    "SIMD floating-point exception", "virtualization exception", "control protection",
    "reserved", "reserved", "reserved", "reserved", "reserved", "reserved",
    "hypervisor injection", "VMM communication", "security exception", "reserved",
];

/// Common Rust entry for vectors 0-31 (not 8, which is a task gate).
#[unsafe(no_mangle)]
extern "C" fn do_exception(frame: &mut TrapFrame) {
    match frame.vector {
        X86_TRAP_PF => do_page_fault(frame),
        // Another CPU panicked and stops this one (`smp_send_stop`).
        X86_TRAP_NMI if crate::arch::x86::smp::stopping() => crate::arch::x86::smp::stop_this_cpu(),
        vector => die(EXCEPTION_NAMES[vector as usize % 32], frame),
    }
}

/// Bits of the page-fault error code (Linux: `enum x86_pf_error_code`).
pub mod pf {
    /// 0: the page was not present; 1: a protection violation.
    pub const PROT: u32 = 1 << 0;
    /// 0: a read; 1: a write.
    pub const WRITE: u32 = 1 << 1;
    /// 0: kernel mode; 1: user mode.
    pub const USER: u32 = 1 << 2;
    /// A reserved bit was set in a paging entry.
    pub const RSVD: u32 = 1 << 3;
    /// The access was an instruction fetch.
    pub const INSTR: u32 = 1 << 4;
}

/// The decoded page-fault error code, printed as e.g.
/// `not-present page, write access, kernel mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFaultError(pub u32);

impl fmt::Display for PageFaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.0;
        let present = if code & pf::PROT != 0 { "protection violation" } else { "not-present page" };
        let access = match (code & pf::INSTR != 0, code & pf::WRITE != 0) {
            (true, _) => "instruction fetch",
            (false, true) => "write access",
            (false, false) => "read access",
        };
        let mode = if code & pf::USER != 0 { "user mode" } else { "kernel mode" };
        write!(f, "{present}, {access}, {mode}")?;
        if code & pf::RSVD != 0 {
            write!(f, ", reserved bit set")?;
        }
        Ok(())
    }
}

/// A kernel-mode page fault: there is no user space and nothing is paged
/// out, so every fault is a bug (Linux: `do_page_fault` ->
/// `no_context`/`bad_area`).  Prints Linux's oops header and panics with a
/// message naming the address, the decoded error code and EIP.
fn do_page_fault(frame: &TrapFrame) {
    let address = cpu::read_cr2();
    let error = PageFaultError(frame.error_code);
    if address < crate::mm::PAGE_SIZE {
        log::error!("BUG: unable to handle kernel NULL pointer dereference at {address:08x}");
    } else {
        log::error!("BUG: unable to handle kernel paging request at {address:08x}");
    }
    log::error!("IP: [<{:08x}>] ({error})", frame.eip);
    let site = crate::mm::vmalloc::describe_address(address);
    if let Some(site) = site {
        log::error!("the address lies in the {site}");
    }
    show_regs("Oops", frame);
    match site {
        Some(site) => panic!("page fault at {address:#010x} ({error}) in {site}, ip {:#010x}", frame.eip),
        None => panic!("page fault at {address:#010x} ({error}), ip {:#010x}", frame.eip),
    }
}

/// An exception with no recovery: print the oops and panic (Linux: `die`).
fn die(name: &str, frame: &TrapFrame) -> ! {
    show_regs(name, frame);
    panic!("{name} (vector {}, error code {:#x}) at ip {:#010x}", frame.vector, frame.error_code, frame.eip);
}

/// Prints the register block of an oops (Linux: `show_regs`/`__show_regs`).
fn show_regs(what: &str, frame: &TrapFrame) {
    log::error!("{what}: {:04x} [#1]", frame.error_code);
    log::error!("EIP: {:04x}:[<{:08x}>] EFLAGS: {:08x}", frame.cs, frame.eip, frame.eflags);
    log::error!("EAX: {:08x} EBX: {:08x} ECX: {:08x} EDX: {:08x}", frame.eax, frame.ebx, frame.ecx, frame.edx);
    log::error!("ESI: {:08x} EDI: {:08x} EBP: {:08x} ESP: {:08x}", frame.esi, frame.edi, frame.ebp, frame.interrupted_esp());
    log::error!("CR0: {:08x} CR2: {:08x} CR3: {:08x} CR4: {:08x}",
        cpu::read_cr0().bits(), cpu::read_cr2(), cpu::read_cr3(), cpu::read_cr4().bits());
    dump_stack_from(frame.ebp);
}

/// Prints the call chain of the caller (Linux `dump_stack`).
#[inline(never)]
pub fn dump_stack() {
    let ebp: u32;
    // SAFETY: reads the frame-pointer register, nothing else.
    unsafe { core::arch::asm!("mov {}, ebp", out(reg) ebp, options(nomem, nostack, preserves_flags)) };
    dump_stack_from(ebp);
}

/// Prints the call chain by following saved frame pointers (the kernel is
/// built with frame pointers, see `i686-kernel.json`).  Each frame holds
/// the caller's EBP and, above it, the return address.
pub fn dump_stack_from(mut ebp: u32) {
    log::error!("Call Trace:");
    for _ in 0..16 {
        if ebp < crate::mm::layout::PAGE_OFFSET as u32 || ebp % 4 != 0 || ebp > u32::MAX - 8 {
            break;
        }
        // A corrupt chain could still point at unmapped kernel memory and
        // fault inside the oops: acceptable for a debugging aid; the
        // 16-frame bound stops loops.
        // SAFETY: EBP is a higher-half stack address (checked above) where a
        // frame stores [saved EBP, return address].
        let (next, ret) = unsafe { (*(ebp as *const u32), *((ebp + 4) as *const u32)) };
        if ret == 0 {
            break;
        }
        log::error!(" [<{ret:08x}>]");
        ebp = next;
    }
}

/// Entry of the double-fault task (see `gdt.rs`).  The CPU switched to the
/// double-fault TSS, so this runs on its own stack; the interrupted context
/// was saved into the main TSS.
pub extern "C" fn doublefault_task_entry() -> ! {
    let interrupted = gdt::interrupted_task_state();
    log::error!("double fault: the interrupted context (from the main TSS):");
    log::error!("eip = {:08x}, esp = {:08x}", interrupted.eip, interrupted.esp);
    log::error!("eax = {:08x}, ebx = {:08x}, ecx = {:08x}, edx = {:08x}",
        interrupted.eax, interrupted.ebx, interrupted.ecx, interrupted.edx);
    log::error!("esi = {:08x}, edi = {:08x}, ebp = {:08x}, cr2 = {:08x}",
        interrupted.esi, interrupted.edi, interrupted.ebp, cpu::read_cr2());
    let fault_address = cpu::read_cr2();
    let stack_overflow = fault_address.abs_diff(interrupted.esp as usize) < crate::mm::PAGE_SIZE;
    if stack_overflow {
        // The thread whose stack ran out is the one that was running.
        let task = crate::sched::current();
        let guard = if crate::sched::stack::is_guard_page(fault_address) { ", stack guard page hit" } else { "" };
        panic!("double fault: kernel stack overflow in {}{guard} (pid {}, esp {:#010x}, fault at {:#010x}), ip {:#010x}",
            task.comm(), task.pid(), interrupted.esp, fault_address, interrupted.eip);
    }
    panic!("double fault at ip {:#010x}, esp {:#010x}", interrupted.eip, interrupted.esp);
}
