//! The scheduler: run queues, `schedule()`, the tick, wake-ups, preemption,
//! idle (Linux 2.6 `kernel/sched.c`, and `arch/x86/kernel/process_32.c`
//! `cpu_idle`).
//!
//! ## Policy: round robin
//! Each CPU has a run queue: a FIFO of the runnable tasks that are not
//! running, plus its idle task, which runs only when the FIFO is empty.
//! A running task keeps the CPU for one time slice of [`DEF_TIMESLICE_MS`]
//! (100 ms, Linux 2.6's default slice) worth of ticks; when
//! [`scheduler_tick`] has used it up, it sets the task's `need_resched`.
//! `schedule()` then puts the task at the back of the FIFO and runs the
//! one at the front.  Linux 2.6's O(1) scheduler adds priorities, an
//! active and an expired array and interactivity bonuses; with every task
//! at the same priority it reduces to this.
//!
//! ## When does `schedule()` run?
//! * **Voluntarily**: a thread that waits (`wait_event`) or exits calls it.
//!   A thread that calls it while still `TASK_RUNNING` just yields the
//!   rest of its slice (Linux `yield()`).
//! * **On return from an interrupt** (`do_IRQ` -> [`preempt_schedule_irq`]):
//!   the interrupted code had interrupts on, `preempt_count` is 0 and
//!   `need_resched` is set.  This is what takes the CPU from a thread that
//!   never gives it up.
//! * **At `preempt_enable()`** ([`preempt_schedule`]): the tick asked for a
//!   reschedule while preemption was disabled; the switch happens as soon
//!   as it is allowed again.
//! * **At [`cond_resched`]**: an explicit "reschedule if someone is waiting
//!   for the CPU" point in long loops.
//!
//! Involuntary switches run `schedule()` with `PREEMPT_ACTIVE` in
//! `preempt_count`: the task is switched out but stays runnable even if it
//! had already set its state to sleep (it was preempted between
//! `prepare_to_wait` and `schedule()`; it will finish that itself).
//!
//! ## Locking, and why tasks do not migrate
//! A run queue is changed under its `SpinLockIrq`.  `schedule()` keeps
//! interrupts off from the decision to the end of the switch; the lock
//! itself is dropped before `switch_to`.  Linux holds it across the switch
//! (`finish_lock_switch`) because another CPU may *pull* a queued task
//! (load balancing, migration) — and the outgoing task is back on the
//! queue while its registers are still being saved.  Here a task never
//! changes CPU once it has run: only its own CPU pops its run queue, so
//! it cannot be picked up before that CPU has finished switching away from
//! it.  A waker on another CPU only pushes (under the lock) and sends a
//! reschedule IPI if that CPU is idle.  New threads are placed on the
//! least loaded CPU when created ([`sched_balance_fork`]), or where
//! `kthread_bind` puts them.
//!
//! ## Thread life cycle
//! A new thread starts asleep (`kthread_create`); [`wake_up_process`]
//! queues it; its first run starts in `ret_from_kernel_thread`, which
//! calls `schedule_tail`.  [`do_exit`] marks it dead and switches away
//! for good; the next task, in `finish_task_switch`, frees the dead
//! thread's stack — it cannot free the stack it is running on — and then
//! wakes whoever waits for the exit code.

use super::stack::free_thread_stack;
use super::task::{ExitState, TASK_DEAD, TASK_RUNNING, TASK_UNINTERRUPTIBLE, Task, TaskState, alloc_task, free_task, task};
use super::fifo::Fifo;
use super::NR_TASKS;
use crate::arch::x86::irqflags::{irqs_enabled, local_irq_disable, local_irq_enable, local_irq_restore, local_irq_save, safe_halt};
use crate::arch::x86::smp::{cpu_online, online_cpus, smp_processor_id, smp_send_reschedule};
use crate::arch::x86::switch_to::switch_to;
use crate::mm::layout::NR_CPUS;
use crate::percpu::PerCpu;
use crate::preempt::{
    PREEMPT_ACTIVE, add_preempt_count, might_sleep, preempt_count, preempt_disable, preempt_enable_no_resched,
    set_preempt_count, sub_preempt_count,
};
use crate::spinlock::SpinLockIrq;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Length of a time slice (Linux 2.6 `DEF_TIMESLICE`).
pub const DEF_TIMESLICE_MS: u32 = 100;

/// A time slice in ticks at the running `HZ`, at least one.
pub fn task_timeslice() -> u32 {
    crate::time::msecs_to_jiffies(DEF_TIMESLICE_MS).max(1) as u32
}

/// One CPU's run queue (Linux `struct rq`).
struct RunQueue {
    /// Runnable tasks other than the running one, next to run first.
    queue: Fifo<u8, NR_TASKS>,
    /// This CPU's idle task.
    idle: u8,
    /// The task that switched to the running one, for `finish_task_switch`
    /// (Linux gets it back from `switch_to` as `last`).
    prev: u8,
}

static RUNQUEUES: PerCpu<SpinLockIrq<RunQueue>> =
    PerCpu::new([const { SpinLockIrq::new(RunQueue { queue: Fifo::new(0), idle: 0, prev: 0 }) }; NR_CPUS]);

/// The running task of each CPU (Linux `current`, `rq->curr`).
static CURRENT: PerCpu<AtomicUsize> = PerCpu::new([const { AtomicUsize::new(0) }; NR_CPUS]);

/// Context switches per CPU (Linux `rq->nr_switches`).
static NR_SWITCHES: PerCpu<AtomicU64> = PerCpu::new([const { AtomicU64::new(0) }; NR_CPUS]);

/// The task running this code (Linux `current`).
pub fn current() -> &'static Task {
    task(CURRENT.this_cpu().load(Ordering::Relaxed))
}

/// The task running on CPU `cpu` (Linux `cpu_curr(cpu)`).
pub fn current_on(cpu: usize) -> &'static Task {
    task(CURRENT.cpu(cpu).load(Ordering::Relaxed))
}

/// Whether the running task should give up the CPU (Linux `need_resched`).
pub fn need_resched() -> bool {
    current().need_resched()
}

/// Context switches this CPU has made (Linux `nr_context_switches`).
pub fn nr_context_switches() -> u64 {
    NR_SWITCHES.this_cpu().load(Ordering::Relaxed)
}

/// Makes the boot thread this CPU's idle task, `swapper/0` with pid 0
/// (Linux `sched_init` -> `init_idle(current)`), and prepares the stack
/// area for kernel threads.
pub fn sched_init() {
    let cpu = smp_processor_id();
    let idle = alloc_task(IDLE_NAMES[cpu], Some(0)).expect("a task slot for the idle thread");
    idle.set_state(TASK_RUNNING);
    idle.on_rq.store(true, Ordering::Relaxed);
    idle.cpu.store(cpu, Ordering::Relaxed);
    RUNQUEUES.this_cpu().lock().idle = idle.index() as u8;
    CURRENT.this_cpu().store(idle.index(), Ordering::Relaxed);
    super::stack::thread_stack_init();
}

const IDLE_NAMES: [&str; NR_CPUS] = ["swapper/0", "swapper/1", "swapper/2", "swapper/3"];

/// Sets the running task's state (Linux `set_current_state`): the first
/// step of going to sleep by hand — set the state, then check the
/// condition, then `schedule()` (see `wait.rs` for why in that order).
pub fn set_current_state(state: TaskState) {
    current().set_state(state);
}

/// Makes `p` runnable if it sleeps (Linux `try_to_wake_up`); returns
/// whether it was asleep.  A task that set its state to sleep but has not
/// reached `schedule()` yet only gets its state back — that is the
/// no-lost-wake-up guarantee of `wait.rs`.  Waking a task while the idle
/// task runs asks idle to reschedule.  Safe from interrupt handlers.
pub fn try_to_wake_up(p: &'static Task) -> bool {
    let cpu = p.cpu.load(Ordering::Relaxed);
    let mut rq = RUNQUEUES.cpu(cpu).lock();
    if p.state() != TASK_UNINTERRUPTIBLE {
        return false;
    }
    p.set_state(TASK_RUNNING);
    if !p.on_rq() {
        p.on_rq.store(true, Ordering::Relaxed);
        rq.queue.push_back(p.index() as u8).expect("the run queue holds every task at most once");
        let running = CURRENT.cpu(cpu).load(Ordering::Relaxed);
        if running == rq.idle as usize {
            task(running).set_need_resched();
            // Another CPU's idle loop may be halted: an IPI wakes it, and
            // its interrupt return path reschedules (Linux `resched_task`).
            if cpu != smp_processor_id() {
                smp_send_reschedule(cpu);
            }
        }
    }
    true
}

/// Wakes `p` (Linux `wake_up_process`): see [`try_to_wake_up`].
pub fn wake_up_process(p: &'static Task) -> bool {
    try_to_wake_up(p)
}

/// Charges the running task one tick; when its slice is used up, refills
/// it and asks for a reschedule (Linux `scheduler_tick`).  Called by the
/// timer interrupt.
pub fn scheduler_tick() {
    let rq = RUNQUEUES.this_cpu().lock();
    let p = current();
    if p.index() == rq.idle as usize {
        return;
    }
    let left = p.time_slice.load(Ordering::Relaxed);
    if left <= 1 {
        p.time_slice.store(task_timeslice(), Ordering::Relaxed);
        p.set_need_resched();
    } else {
        p.time_slice.store(left - 1, Ordering::Relaxed);
    }
}

/// Gives the CPU to the next runnable task (Linux `schedule`); see the
/// module doc for when it is called.  Returns when this task is chosen
/// again.  Calling it in atomic context is a bug that is reported (Linux
/// `BUG: scheduling while atomic`) — the switch still happens, and the
/// task gets its count back when it resumes.
pub fn schedule() {
    let prev = current();
    if preempt_count().in_atomic() && prev.state() != TASK_DEAD {
        log::error!("BUG: scheduling while atomic: {}/{}/{:#010x}", prev.comm(), prev.pid(), preempt_count().0);
        crate::arch::x86::traps::dump_stack();
    }
    loop {
        preempt_disable();
        __schedule();
        preempt_enable_no_resched();
        if !need_resched() {
            break;
        }
    }
}

/// The core of [`schedule`]: pick the next task and switch to it.
fn __schedule() {
    let flags = local_irq_save();
    let prev = current();
    let next = {
        let mut rq = RUNQUEUES.this_cpu().lock();
        prev.clear_need_resched();
        let preempted = preempt_count().0 & PREEMPT_ACTIVE != 0;
        let goes_to_sleep = prev.state() != TASK_RUNNING && !preempted;
        if goes_to_sleep {
            prev.on_rq.store(false, Ordering::Relaxed); // deactivate_task
        } else if prev.index() != rq.idle as usize {
            rq.queue.push_back(prev.index() as u8).expect("the run queue holds every task at most once");
        }
        let next = task(rq.queue.pop_front().unwrap_or(rq.idle) as usize);
        if core::ptr::eq(next, prev) {
            None
        } else {
            let switches = if goes_to_sleep { &prev.nvcsw } else { &prev.nivcsw };
            switches.fetch_add(1, Ordering::Relaxed);
            NR_SWITCHES.this_cpu().fetch_add(1, Ordering::Relaxed);
            if next.time_slice.load(Ordering::Relaxed) == 0 {
                next.time_slice.store(task_timeslice(), Ordering::Relaxed);
            }
            rq.prev = prev.index() as u8;
            CURRENT.this_cpu().store(next.index(), Ordering::Relaxed);
            Some(next)
        }
    };
    if let Some(next) = next {
        context_switch(prev, next);
        finish_task_switch();
    }
    local_irq_restore(flags);
}

/// Hands this CPU's preemption count and the allocator's task flags over
/// and switches stacks (Linux `context_switch`; the count hand-over is Linux
/// x86's `__switch_to`, and Linux keeps `PF_MEMALLOC` in the task itself).
fn context_switch(prev: &'static Task, next: &'static Task) {
    prev.saved_preempt_count.store(preempt_count().0, Ordering::Relaxed);
    set_preempt_count(next.saved_preempt_count());
    if let Some(node) = crate::mm::mmzone::node_data() {
        prev.saved_flags.store(node.current_flags().bits(), Ordering::Relaxed);
        node.set_current_flags(crate::mm::vmscan::TaskFlags::from_bits_truncate(next.saved_flags.load(Ordering::Relaxed)));
    }
    // Why the switch is sound: interrupts are off (__schedule); next came
    // off this CPU's run queue, so it is not running; its saved stack
    // pointer was stored by switch_to or built by copy_thread, on a stack
    // that stays mapped until the task is dead and switched away from.
    // SAFETY: see above; prev is the running task and thread_sp its own slot.
    unsafe { switch_to(&prev.thread_sp, next.thread_sp.load(Ordering::Relaxed)) };
}

/// Cleans up after the task we just switched from (Linux
/// `finish_task_switch`): if it died, free its stack and either free its
/// slot (nobody will collect it) or make it a zombie and wake whoever
/// waits for it.  Runs on the new task's stack, interrupts off.
pub(super) fn finish_task_switch() {
    let prev = task(RUNQUEUES.this_cpu().lock().prev as usize);
    if prev.state() != TASK_DEAD {
        return;
    }
    if let Some(stack) = prev.stack.lock().take() {
        free_thread_stack(stack);
    }
    let detached = {
        let mut exit = prev.exit.lock();
        exit.exit_state = Some(ExitState::Zombie);
        exit.detached
    };
    if detached {
        free_task(prev);
    } else {
        prev.exited.wake_up();
    }
}

/// The first code of a new thread, before its function (Linux
/// `schedule_tail`): finish the switch that brought us here, then turn on
/// interrupts and end the preemption-disabled section `schedule()` began
/// (a new task starts with a count of 1 for that).
pub(super) fn schedule_tail() {
    finish_task_switch();
    local_irq_enable();
    crate::preempt::preempt_enable();
}

/// Reschedules at the end of a preemption-disabled section (Linux
/// `preempt_schedule`, called by `preempt_enable`).  Does nothing if
/// preemption is still disabled or interrupts are off.
pub fn preempt_schedule() {
    if preempt_count().0 != 0 || !irqs_enabled() {
        return;
    }
    while need_resched() {
        add_preempt_count(PREEMPT_ACTIVE);
        schedule();
        sub_preempt_count(PREEMPT_ACTIVE);
    }
}

/// Preempts the interrupted task on the way out of an interrupt (Linux
/// `preempt_schedule_irq`), called by `do_IRQ` with interrupts off and
/// `preempt_count` 0.  Unlike Linux we keep interrupts off across the
/// switch: `schedule()` disables them anyway, and the interrupted frame
/// restores the task's own state when it finally returns from the
/// interrupt.
pub fn preempt_schedule_irq() {
    debug_assert!(preempt_count().0 == 0 && !irqs_enabled());
    while need_resched() {
        add_preempt_count(PREEMPT_ACTIVE);
        schedule();
        sub_preempt_count(PREEMPT_ACTIVE);
    }
}

/// If someone is waiting for the CPU and we may sleep, let them run now
/// (Linux `cond_resched`).  Returns whether it rescheduled.  Also a
/// `might_sleep` point.
#[track_caller]
pub fn cond_resched() -> bool {
    might_sleep();
    if preempt_count().0 != 0 || !need_resched() {
        return false;
    }
    preempt_schedule();
    true
}

/// The idle loop (Linux `cpu_idle`): halt until an interrupt, and schedule
/// when something became runnable.  The check of `need_resched` and the
/// `hlt` happen with interrupts off until the `sti` right before `hlt`
/// (`safe_halt`), so a wake-up from an interrupt handler cannot slip in
/// between and leave the CPU halted with work queued.
pub fn cpu_idle() -> ! {
    loop {
        local_irq_disable();
        if need_resched() {
            local_irq_enable();
            schedule();
        } else {
            safe_halt();
        }
    }
}

/// Ends the running thread with `code` (Linux `do_exit`): mark it dead and
/// switch away for good; `finish_task_switch` in the next task frees the
/// stack and wakes whoever waits for the exit code.
pub fn do_exit(code: i32) -> ! {
    let task = current();
    local_irq_disable();
    task.exit.lock().exit_code = code;
    task.set_state(TASK_DEAD);
    schedule();
    unreachable!("{} (pid {}) was scheduled after do_exit", task.comm(), task.pid());
}

/// A kernel thread waits for `task` to die and collects its exit code,
/// freeing the slot (Linux: the end of `kthread_stop`; `release_task`).
pub(super) fn wait_task_zombie(task: &'static Task) -> i32 {
    assert!(!core::ptr::eq(task, current()), "a thread cannot wait for its own exit");
    task.exited.wait_event(|| task.exit_state() == Some(ExitState::Zombie));
    let code = task.exit.lock().exit_code;
    free_task(task);
    code
}

/// Gives up the claim on `task`'s exit code (a dropped kthread handle):
/// free it now if it is already a zombie, else when it exits.
pub(super) fn detach_task(task: &'static Task) {
    let mut exit = task.exit.lock();
    if exit.exit_state == Some(ExitState::Zombie) {
        drop(exit);
        free_task(task);
    } else {
        exit.detached = true;
    }
}

/// Sets up a new task to start asleep with a saved stack pointer and a
/// fresh slice (the scheduler's part of Linux `sched_fork`): its
/// `preempt_count` starts at 1, which `schedule_tail` drops. Its CPU is
/// the least loaded online one ([`sched_balance_fork`]) until
/// `kthread_bind` says otherwise.
pub(super) fn sched_fork(p: &'static Task, thread_sp: usize) {
    p.thread_sp.store(thread_sp, Ordering::Relaxed);
    p.saved_preempt_count.store(crate::preempt::PREEMPT_OFFSET, Ordering::Relaxed);
    p.time_slice.store(task_timeslice(), Ordering::Relaxed);
    p.cpu.store(sched_balance_fork(), Ordering::Relaxed);
    p.set_state(TASK_UNINTERRUPTIBLE);
}

/// Runnable tasks of CPU `cpu`: queued ones plus the running one unless it
/// is the idle task (Linux `rq->nr_running`).
pub fn nr_running(cpu: usize) -> usize {
    let rq = RUNQUEUES.cpu(cpu).lock();
    rq.queue.len() + usize::from(CURRENT.cpu(cpu).load(Ordering::Relaxed) != rq.idle as usize)
}

/// Where a new, unbound task starts: the online CPU with the fewest
/// runnable tasks, this CPU on a tie (Linux 2.6.12's `sched_balance_fork`
/// picks the idlest CPU of the domain the same way; 2.6.11 starts a child
/// on its parent's CPU and leaves spreading to the periodic balancer,
/// which we do not have — a task stays on its CPU for life).
fn sched_balance_fork() -> usize {
    let me = smp_processor_id();
    online_cpus().min_by_key(|&cpu| (nr_running(cpu), cpu != me)).unwrap_or(me)
}

/// Moves a task that has never run to CPU `cpu` (Linux `kthread_bind`,
/// which also requires the task to be inactive). Refused, with a message,
/// for an offline CPU or a task that was already woken.
pub(super) fn set_task_cpu_before_first_run(p: &'static Task, cpu: usize) -> Result<(), BindError> {
    if !cpu_online(cpu) {
        return Err(BindError::CpuOffline(cpu));
    }
    let rq = RUNQUEUES.cpu(p.cpu.load(Ordering::Relaxed)).lock();
    if p.on_rq() || p.state() != TASK_UNINTERRUPTIBLE || p.nvcsw() + p.nivcsw() != 0 {
        return Err(BindError::AlreadyRunning);
    }
    p.cpu.store(cpu, Ordering::Relaxed);
    drop(rq);
    Ok(())
}

/// Why [`set_task_cpu_before_first_run`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindError {
    /// The CPU is not online (or does not exist).
    CpuOffline(usize),
    /// The task was woken already: it may be running, and moving a running
    /// task needs a migration thread this scheduler does not have.
    AlreadyRunning,
}

impl core::fmt::Display for BindError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BindError::CpuOffline(cpu) => write!(f, "CPU{cpu} is not online"),
            BindError::AlreadyRunning => write!(f, "the thread was already woken"),
        }
    }
}

/// Makes an idle task for CPU `cpu` before it is woken (Linux
/// `fork_idle` + `init_idle`): a `swapper/N` task with pid 0 and a stack,
/// installed as that CPU's idle and current task. Returns the stack top the
/// CPU starts on.
pub fn fork_idle(cpu: usize) -> Result<usize, super::KthreadError> {
    let idle = alloc_task(IDLE_NAMES[cpu], Some(0)).ok_or(super::KthreadError::NoTaskSlot)?;
    let Some(stack) = super::stack::alloc_thread_stack(idle.index()) else {
        free_task(idle);
        return Err(super::KthreadError::NoMemory);
    };
    let top = stack.top();
    *idle.stack.lock() = Some(stack);
    idle.set_state(TASK_RUNNING);
    idle.on_rq.store(true, Ordering::Relaxed);
    idle.cpu.store(cpu, Ordering::Relaxed);
    RUNQUEUES.cpu(cpu).lock().idle = idle.index() as u8;
    CURRENT.cpu(cpu).store(idle.index(), Ordering::Relaxed);
    Ok(top)
}

/// Gives back the idle task of a CPU that never came up.
pub fn free_idle(cpu: usize) {
    let idle = task(CURRENT.cpu(cpu).load(Ordering::Relaxed));
    if let Some(stack) = idle.stack.lock().take() {
        free_thread_stack(stack);
    }
    free_task(idle);
    CURRENT.cpu(cpu).store(0, Ordering::Relaxed);
    RUNQUEUES.cpu(cpu).lock().idle = 0;
}
