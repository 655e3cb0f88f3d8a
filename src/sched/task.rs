//! Tasks: the table of thread descriptors (Linux `struct task_struct` in
//! `include/linux/sched.h`, and the part of `kernel/fork.c`/`exit.c` that
//! hands out and takes back descriptors).
//!
//! Every thread — the boot CPU's idle thread, `kernel_init`, and each
//! kernel thread — is described by one [`Task`] in a fixed table of
//! [`NR_TASKS`] slots (there is no heap; Linux allocates `task_struct`s from
//! a slab cache).  A task is named by its slot number inside the scheduler
//! (that is what run and wait queues hold) and by its `pid` in messages.
//!
//! ## Fields and what their values mean
//! * `state` (Linux `task->state`): [`TaskState::Running`] — on a run queue
//!   or running; [`TaskState::Uninterruptible`] — asleep, only a wake-up
//!   makes it runnable; [`TaskState::Dead`] — it has called `do_exit` and
//!   will never run again.  There are no signals, so there is no
//!   `TASK_INTERRUPTIBLE`.
//! * `on_rq`: the scheduler counts it as runnable (it is running, or
//!   waiting in its CPU's run queue).  A task that sets its state to
//!   sleep keeps `on_rq` until `schedule()` takes it off — the window a
//!   wake-up may hit, see `wait.rs`.
//! * `exit_state` (Linux `task->exit_state`): `None` while alive;
//!   [`ExitState::Zombie`] once dead and its stack freed, until someone
//!   collects the exit code; then the slot is free again.
//! * `saved_preempt_count`: this CPU's `preempt_count` while the task is
//!   switched out (see `preempt.rs`).
//!
//! Every field is an atomic or behind a `SpinLockIrq`, so `&'static Task`
//! can be shared freely; which code may change what is said on each field.

use super::stack::ThreadStack;
use super::wait::WaitQueueHead;
use super::NR_TASKS;
use crate::preempt::PreemptCount;
use crate::spinlock::SpinLockIrq;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicUsize, Ordering};

/// A task's scheduling state (Linux `TASK_*`, with Linux's numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TaskState {
    #[doc(alias = "TASK_RUNNING")]
    Running = 0,
    #[doc(alias = "TASK_UNINTERRUPTIBLE")]
    Uninterruptible = 2,
    #[doc(alias = "TASK_DEAD")]
    Dead = 64,
}

/// Linux's name for [`TaskState::Running`].
pub const TASK_RUNNING: TaskState = TaskState::Running;
/// Linux's name for [`TaskState::Uninterruptible`].
pub const TASK_UNINTERRUPTIBLE: TaskState = TaskState::Uninterruptible;
/// Linux's name for [`TaskState::Dead`].
pub const TASK_DEAD: TaskState = TaskState::Dead;

impl TaskState {
    fn from_u8(value: u8) -> TaskState {
        match value {
            0 => TaskState::Running,
            2 => TaskState::Uninterruptible,
            64 => TaskState::Dead,
            _ => unreachable!("only TaskState values are stored"),
        }
    }
}

/// What is left of a task after it died (Linux `EXIT_ZOMBIE`, `EXIT_DEAD`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitState {
    /// Dead, stack freed, exit code waiting for `kthread_stop`/`kthread_join`.
    Zombie,
}

/// Bookkeeping of a task's end, under one lock so that "detach" and "exit"
/// cannot cross.
#[derive(Clone, Copy, Debug)]
pub(super) struct ExitInfo {
    pub exit_state: Option<ExitState>,
    pub exit_code: i32,
    /// Nobody will collect the exit code: free the slot at exit.
    pub detached: bool,
}

/// The body of a kernel thread: returns its exit code (Linux
/// `int (*threadfn)(void *data)`).  Any `Fn() -> i32 + Sync` closure is
/// one: `kthread_run(&|| { ...; 0 }, "name")`.
pub trait ThreadFn: Sync {
    fn run(&self) -> i32;
}

impl<F: Fn() -> i32 + Sync> ThreadFn for F {
    fn run(&self) -> i32 {
        self()
    }
}

/// One thread (Linux `struct task_struct`).
pub struct Task {
    /// The slot is taken.
    in_use: AtomicBool,
    /// Process id for messages; 0 for the idle thread.
    pid: AtomicU32,
    /// Name, as `ps` would show it (Linux `comm`).
    comm: SpinLockIrq<&'static str>,
    /// [`TaskState`] as a byte.  Written by the task itself (going to sleep,
    /// dying) or by a waker under the run-queue lock.
    state: AtomicU8,
    /// See the module doc; changed under the run-queue lock.
    pub(super) on_rq: AtomicBool,
    /// The CPU whose run queue the task belongs to (Linux `task_cpu`).
    pub(super) cpu: AtomicUsize,
    /// The timer asked for a reschedule (Linux `TIF_NEED_RESCHED`).
    need_resched: AtomicBool,
    /// Ticks left of the current time slice.
    pub(super) time_slice: AtomicU32,
    /// Saved ESP while switched out (Linux `thread.sp`).
    pub(super) thread_sp: AtomicUsize,
    /// See the module doc.
    pub(super) saved_preempt_count: AtomicU32,
    /// The allocator's `current->flags` (`PF_MEMALLOC`) while the task is
    /// switched out: like the preempt count, the live copy is per CPU
    /// (`PgData::current_flags`) and travels with the task at each switch.
    pub(super) saved_flags: AtomicU32,
    /// Context switches because the task slept (Linux `nvcsw`).
    pub(super) nvcsw: AtomicU32,
    /// Context switches because the task was preempted or yielded (Linux `nivcsw`).
    pub(super) nivcsw: AtomicU32,
    /// The stack from the page allocator; `None` for the boot thread.
    pub(super) stack: SpinLockIrq<Option<ThreadStack>>,
    /// What a kernel thread runs.
    pub(super) threadfn: SpinLockIrq<Option<&'static dyn ThreadFn>>,
    /// `kthread_stop` was called (Linux `kthread_should_stop`).
    pub(super) should_stop: AtomicBool,
    pub(super) exit: SpinLockIrq<ExitInfo>,
    /// Woken when the task becomes a zombie (Linux: the `exited`
    /// completion `kthread_stop` waits on).
    pub(super) exited: WaitQueueHead,
}

impl Task {
    const fn new() -> Task {
        Task {
            in_use: AtomicBool::new(false),
            pid: AtomicU32::new(0),
            comm: SpinLockIrq::new(""),
            state: AtomicU8::new(TaskState::Running as u8),
            on_rq: AtomicBool::new(false),
            cpu: AtomicUsize::new(0),
            need_resched: AtomicBool::new(false),
            time_slice: AtomicU32::new(0),
            thread_sp: AtomicUsize::new(0),
            saved_preempt_count: AtomicU32::new(0),
            saved_flags: AtomicU32::new(0),
            nvcsw: AtomicU32::new(0),
            nivcsw: AtomicU32::new(0),
            stack: SpinLockIrq::new(None),
            threadfn: SpinLockIrq::new(None),
            should_stop: AtomicBool::new(false),
            exit: SpinLockIrq::new(ExitInfo { exit_state: None, exit_code: 0, detached: false }),
            exited: WaitQueueHead::new(),
        }
    }

    /// Whether the slot holds a task.
    pub fn in_use(&self) -> bool {
        self.in_use.load(Ordering::Acquire)
    }

    /// The CPU whose run queue the task belongs to (Linux `task_cpu`).
    pub fn task_cpu(&self) -> usize {
        self.cpu.load(Ordering::Relaxed)
    }

    /// The task's slot number (what queues hold).
    pub fn index(&'static self) -> usize {
        (self as *const Task as usize - TASKS.as_ptr() as usize) / size_of::<Task>()
    }

    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::Relaxed)
    }

    pub fn comm(&self) -> &'static str {
        *self.comm.lock()
    }

    pub fn state(&self) -> TaskState {
        TaskState::from_u8(self.state.load(Ordering::SeqCst))
    }

    pub(super) fn set_state(&self, state: TaskState) {
        self.state.store(state as u8, Ordering::SeqCst);
    }

    pub fn need_resched(&self) -> bool {
        self.need_resched.load(Ordering::Relaxed)
    }

    /// Linux `set_tsk_need_resched`.
    pub fn set_need_resched(&self) {
        self.need_resched.store(true, Ordering::Relaxed);
    }

    /// Linux `clear_tsk_need_resched`.
    pub(super) fn clear_need_resched(&self) {
        self.need_resched.store(false, Ordering::Relaxed);
    }

    /// Whether the scheduler counts the task as runnable.
    pub fn on_rq(&self) -> bool {
        self.on_rq.load(Ordering::Relaxed)
    }

    /// Voluntary context switches: the task went to sleep (Linux `nvcsw`).
    pub fn nvcsw(&self) -> u32 {
        self.nvcsw.load(Ordering::Relaxed)
    }

    /// Involuntary context switches: the task was preempted, or yielded
    /// while runnable (Linux `nivcsw`).
    pub fn nivcsw(&self) -> u32 {
        self.nivcsw.load(Ordering::Relaxed)
    }

    /// The preemption count the task will resume with.
    pub fn saved_preempt_count(&self) -> PreemptCount {
        PreemptCount(self.saved_preempt_count.load(Ordering::Relaxed))
    }

    pub fn exit_state(&self) -> Option<ExitState> {
        self.exit.lock().exit_state
    }
}

/// The task table.
static TASKS: [Task; NR_TASKS] = [const { Task::new() }; NR_TASKS];

/// The next pid to hand out (0 is the idle thread's).
static NEXT_PID: AtomicU32 = AtomicU32::new(1);

/// The task in slot `index`.
pub fn task(index: usize) -> &'static Task {
    &TASKS[index]
}

/// Claims a free slot and resets it for a new task named `comm` (Linux
/// `dup_task_struct` + `alloc_pid`).  The task starts asleep and off every
/// queue.  `None` when all [`NR_TASKS`] slots are taken.
pub(super) fn alloc_task(comm: &'static str, pid: Option<u32>) -> Option<&'static Task> {
    let task = TASKS.iter().find(|t| t.in_use.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_ok())?;
    let pid = pid.unwrap_or_else(|| NEXT_PID.fetch_add(1, Ordering::Relaxed));
    task.pid.store(pid, Ordering::Relaxed);
    *task.comm.lock() = comm;
    task.set_state(TASK_UNINTERRUPTIBLE);
    task.on_rq.store(false, Ordering::Relaxed);
    task.need_resched.store(false, Ordering::Relaxed);
    task.time_slice.store(0, Ordering::Relaxed);
    task.thread_sp.store(0, Ordering::Relaxed);
    task.saved_preempt_count.store(0, Ordering::Relaxed);
    task.saved_flags.store(0, Ordering::Relaxed);
    task.nvcsw.store(0, Ordering::Relaxed);
    task.nivcsw.store(0, Ordering::Relaxed);
    *task.threadfn.lock() = None;
    task.should_stop.store(false, Ordering::Relaxed);
    *task.exit.lock() = ExitInfo { exit_state: None, exit_code: 0, detached: false };
    Some(task)
}

/// Gives a slot back (Linux `free_task`): the task is dead and its stack
/// already freed, or it never ran.
pub(super) fn free_task(task: &Task) {
    debug_assert!(task.stack.lock().is_none(), "freeing a task that still has a stack");
    task.in_use.store(false, Ordering::Release);
}

/// Tasks in use, for tests and diagnostics.
pub fn nr_tasks_in_use() -> usize {
    TASKS.iter().filter(|t| t.in_use.load(Ordering::Relaxed)).count()
}
