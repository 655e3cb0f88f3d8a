//! # Threads, scheduling and sleeping
//!
//! The memory code of Linux 2.6 assumes a kernel that can be interrupted
//! and can sleep: `kmap()` may sleep on `pkmap_map_wait` until a `kunmap()`
//! in another thread wakes it; `kmap_atomic()` raises the preemption count
//! so that its per-CPU slot cannot be taken by another thread; the per-CPU
//! page lists are used with interrupts off because interrupt handlers
//! allocate pages too.  This module is exactly the machinery those
//! semantics need: kernel threads, a round-robin scheduler with timer
//! preemption, and wait queues.  Interrupt entry, the tick and the
//! preemption count live in `arch/x86/irq.rs`, `arch/x86/time.rs` and
//! `preempt.rs`.
//!
//! | file | what it does | Linux counterpart |
//! |------|--------------|-------------------|
//! | `task.rs` | the task table, task states, the thread-function trait | `include/linux/sched.h` (`task_struct`), `kernel/fork.c` |
//! | `scheduler.rs` | run queues, `schedule`, `scheduler_tick`, wake-ups, preemption, `cond_resched`, the idle loop, `do_exit` | `kernel/sched.c`, `kernel/exit.c`, `process_32.c` (`cpu_idle`) |
//! | `kthread.rs` | `kthread_create`, `kthread_run`, `kthread_stop`, `kthread_join` | `kernel/kthread.c` |
//! | `wait.rs` | wait queues, `prepare_to_wait`/`finish_wait`, `wait_event`, `wake_up` | `kernel/wait.c`, `include/linux/wait.h` |
//! | `stack.rs` | thread stacks from the page allocator above guard pages | `kernel/fork.c` (`VMAP_STACK`) |
//! | `fifo.rs` | the bounded queue run and wait queues are made of | `include/linux/list.h` (as used for them) |
//!
//! ## Where it sits in boot
//! `start_kernel` calls [`sched_init`] (the boot thread becomes `swapper/0`,
//! the idle task), `init_IRQ`, `time_init`, enables interrupts, then
//! `rest_init` starts `kernel_init` as the first kernel thread and the
//! boot thread enters [`cpu_idle`] for good, as in Linux.  From then on
//! the test harness, and everything else, runs in kernel threads.
//!
//! ## What the memory code uses (seeds 000 and 001)
//! * `kmap()` sleeping on `pkmap_map_wait`: a `static` [`WaitQueueHead`];
//!   Linux's loop is `WaitQueueEntry::declare_waitqueue(current())`,
//!   `add_wait_queue`, [`set_current_state`]`(TASK_UNINTERRUPTIBLE)`, drop
//!   the kmap lock, [`schedule`], `remove_wait_queue`, retake the lock;
//!   `kunmap()` calls `wake_up` (after checking `waitqueue_active`).  Or
//!   simply `wait_event(|| condition)`.
//! * "must not run in interrupt context" / "may sleep":
//!   `crate::preempt::{in_interrupt, might_sleep}`.
//! * `kmap_atomic()`: `crate::preempt::{preempt_disable, preempt_enable}`
//!   (Linux 2.6 uses `pagefault_disable`, the same count).
//! * code that must run in an interrupt handler, e.g. `kmap_atomic` from the
//!   tick: `crate::arch::x86::irq::request_irq(TIMER_IRQ, handler, name)`
//!   and `free_irq(cookie)`; handlers run with interrupts off and
//!   `in_irq()` true.
//! * per-CPU page lists: `local_irq_save`/`local_irq_restore`; the zone
//!   lock is already taken with interrupts off (`crate::spinlock`).
//!
//! ## Per CPU
//! Run queues, `current`, the switch counters and the preemption count are
//! per-CPU (`crate::percpu::PerCpu`, indexed by `smp_processor_id`); a
//! task remembers its CPU.  Every CPU `arch/x86/smpboot.rs` brings up runs
//! its own idle loop and the threads placed or bound there; a wake-up from
//! another CPU reaches an idle CPU by the reschedule IPI (see
//! `scheduler.rs` for why tasks never migrate once running).

pub mod fifo;

#[cfg(target_os = "none")]
pub mod kthread;
#[cfg(target_os = "none")]
pub mod scheduler;
#[cfg(target_os = "none")]
pub mod stack;
#[cfg(target_os = "none")]
pub mod task;
#[cfg(target_os = "none")]
pub mod wait;

#[cfg(target_os = "none")]
pub use kthread::{
    EINTR, KthreadError, KthreadHandle, kthread_bind, kthread_create, kthread_create_on_cpu, kthread_join, kthread_run,
    kthread_should_stop, kthread_stop,
};
#[cfg(target_os = "none")]
pub use scheduler::{
    BindError, cond_resched, cpu_idle, current, current_on, do_exit, fork_idle, free_idle, need_resched, nr_context_switches, nr_running, preempt_schedule,
    preempt_schedule_irq, sched_init, schedule, scheduler_tick, set_current_state, try_to_wake_up, wake_up_process,
};
#[cfg(target_os = "none")]
pub use task::{TASK_DEAD, TASK_RUNNING, TASK_UNINTERRUPTIBLE, Task, TaskState, ThreadFn};
#[cfg(target_os = "none")]
pub use wait::{WaitQueueEntry, WaitQueueHead};

/// The host build of the memory code has no scheduler: nobody is waiting
/// for the CPU, so `cond_resched` never yields.
#[cfg(not(target_os = "none"))]
pub fn cond_resched() -> bool {
    false
}

/// Task slots: the most threads that can exist at once, idle threads
/// included (Linux has no fixed limit; `pid_max` bounds the pids).
pub const NR_TASKS: usize = 32;

/// Free pages in all zones (Linux `nr_free_pages`), for tests that check
/// nothing leaked.
#[cfg(all(test, target_os = "none"))]
pub(crate) fn nr_free_pages() -> usize {
    let node = crate::mm::init::node();
    // Freed single pages wait on the per-CPU lists: drain them first.
    node.drain_all_pages();
    crate::mm::mmzone::ZoneType::ALL.iter().map(|&zone| node.zone(zone).lock().free_pages()).sum()
}

#[cfg(all(test, target_os = "none"))]
mod tests;

const _: () = assert!(NR_TASKS <= u8::MAX as usize + 1, "queues store task numbers as u8");
