//! The context switch and a new thread's first frame (Linux i386
//! `switch_to` in `asm/system.h` / `__switch_to` in `process_32.c`,
//! `copy_thread`, `ret_from_fork`).
//!
//! A kernel thread that is not running is nothing but its stack: the
//! scheduler calls [`switch_to`] from inside `schedule()`, which pushes the
//! callee-saved registers (EBP, EBX, ESI, EDI) on the outgoing thread's
//! stack, stores ESP in that thread's task (Linux `thread.sp`), loads the
//! incoming thread's saved ESP, pops *its* registers and returns — on the
//! incoming thread's stack, into *its* call of `schedule()`.  The
//! caller-saved registers need no saving: the compiler already assumes a
//! function call destroys them.  EIP needs none either: it is the return
//! address `call` pushed.  Interrupts are off throughout (the scheduler
//! disabled them), and each thread restores its own interrupt state as it
//! leaves `schedule()`.
//!
//! A new thread has never called `schedule()`, so [`copy_thread`] forges
//! the frame a switch would pop: four registers and a return address
//! pointing at `ret_from_kernel_thread`, which calls the thread's Rust
//! entry function with one argument.  The "registers" carry that function
//! (ESI) and its argument (EBX), and EBP = 0 ends the backtrace.
//!
//! Simplified: no FPU state (the kernel is soft-float), no TSS `esp0`
//! update (there is no user mode), no TLS or debug registers.

use core::arch::global_asm;
use core::sync::atomic::AtomicUsize;

global_asm!(
    r#"
    .section .text
    .global __switch_to_asm
__switch_to_asm:                /* (prev_sp: *mut usize, next_sp: usize) */
    mov eax, [esp + 4]
    mov edx, [esp + 8]
    push ebp
    push ebx
    push esi
    push edi
    mov [eax], esp              /* prev->thread.sp = esp */
    mov esp, edx                /* esp = next->thread.sp */
    pop edi
    pop esi
    pop ebx
    pop ebp
    ret                         /* into next's schedule(), or ret_from_kernel_thread */

    .global ret_from_kernel_thread
ret_from_kernel_thread:         /* esi = entry, ebx = argument, from copy_thread */
    xor ebp, ebp
    and esp, -16
    sub esp, 12
    push ebx                    /* 16-byte aligned at the call, as the ABI wants */
    call esi
    ud2                         /* the entry function never returns */
    "#
);

unsafe extern "C" {
    fn __switch_to_asm(prev_sp: *mut usize, next_sp: usize);
    fn ret_from_kernel_thread();
}

/// The entry of a new thread: runs on the thread's own stack, gets the
/// argument given to [`copy_thread`], never returns.
pub type ThreadEntry = extern "C" fn(arg: usize) -> !;

/// Builds a new thread's first frame at the top of its stack and returns
/// the stack pointer to store as its saved ESP (Linux `copy_thread`).
///
/// # Safety
/// `stack_top` must be the 16-byte aligned end of mapped, writable memory
/// that belongs to the new thread alone, with at least 20 bytes below it.
pub unsafe fn copy_thread(stack_top: usize, entry: ThreadEntry, arg: usize) -> usize {
    assert!(stack_top.is_multiple_of(16), "thread stack top {stack_top:#x} is not 16-byte aligned");
    // Popped by __switch_to_asm in this order: EDI, ESI, EBX, EBP, return address.
    let frame = [0, entry as usize, arg, 0, ret_from_kernel_thread as *const () as usize];
    let sp = stack_top - size_of_val(&frame);
    // SAFETY: the caller guarantees the 20 bytes below stack_top are the
    // new thread's, mapped and writable; sp is 4-byte aligned.
    unsafe { (sp as *mut [usize; 5]).write(frame) };
    sp
}

/// Saves the running thread's registers and stack pointer into `prev_sp`
/// and continues the thread whose saved stack pointer is `next_sp`
/// (Linux `switch_to`).  Returns when some later `switch_to` resumes the
/// calling thread.
///
/// # Safety
/// Interrupts must be off.  `next_sp` must be a value that `switch_to`
/// stored or [`copy_thread`] returned, for a stack that is still mapped and
/// whose thread is not running anywhere; `prev_sp` must be the running
/// thread's own slot.
pub unsafe fn switch_to(prev_sp: &AtomicUsize, next_sp: usize) {
    // SAFETY: see the function's contract; the assembly saves and restores
    // every callee-saved register, so to the compiler this is an ordinary
    // call that returns with them intact.
    unsafe { __switch_to_asm(prev_sp.as_ptr(), next_sp) }
}
