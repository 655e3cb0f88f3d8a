//! Kernel threads (Linux `kernel/kthread.c`: `kthread_create`,
//! `kthread_run`, `kthread_stop`, `kthread_should_stop`).
//!
//! A kernel thread is a function running on a stack of its own, scheduled
//! like any other task.  [`kthread_create`] prepares one asleep:
//! 1. a task slot (`task.rs`) with a pid and a name;
//! 2. a stack from the page allocator, mapped above a guard page
//!    (`stack.rs`), so an overflow is caught instead of corrupting memory;
//! 3. the first frame on that stack (`copy_thread`), so that the first
//!    switch to the thread "returns" into `kthread`, the common entry,
//!    which finishes the switch (`schedule_tail`) and calls the function.
//!
//! [`wake_up_process`] (or [`kthread_run`], which does both) starts it, on
//! the least loaded CPU or on the one [`kthread_bind`] chose.
//! When the function returns, its value becomes the exit code (`do_exit`).
//! The creator gets a [`KthreadHandle`] and may
//! * [`kthread_stop`] it: set the flag [`kthread_should_stop`] returns, wake
//!   it, and wait for its exit code — the thread's loop is expected to check
//!   the flag;
//! * [`kthread_join`] it: wait for it to finish on its own (not in Linux,
//!   whose kernel threads are reaped by `kthreadd`; here the creator
//!   collects the exit code, so tests can check it);
//! * drop the handle: the thread runs on, and its slot is freed when it
//!   exits (like a Linux kernel thread nobody stops).
//!
//! A thread that was created but never woken must be stopped or woken, or
//! its slot and stack stay taken.

use super::scheduler::{
    BindError, current, detach_task, do_exit, sched_fork, schedule_tail, set_task_cpu_before_first_run, wait_task_zombie,
    wake_up_process,
};
use super::stack::alloc_thread_stack;
use super::task::{Task, ThreadFn, alloc_task, free_task};
use crate::arch::x86::switch_to::copy_thread;
use crate::preempt::might_sleep;
use core::sync::atomic::Ordering;

/// Exit code of a thread stopped before it ever ran (Linux `-EINTR`).
pub const EINTR: i32 = 4;

/// Why [`kthread_create`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KthreadError {
    /// All task slots are taken (Linux `-EAGAIN` from `copy_process`).
    NoTaskSlot,
    /// The page allocator had no pages for the stack (Linux `-ENOMEM`).
    NoMemory,
    /// `kthread_create_on_cpu` for a CPU that is not online (Linux `-EINVAL`).
    CpuOffline(usize),
}

impl core::fmt::Display for KthreadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KthreadError::NoTaskSlot => write!(f, "no free task slot (NR_TASKS = {})", super::NR_TASKS),
            KthreadError::NoMemory => write!(f, "no memory for the thread's stack"),
            KthreadError::CpuOffline(cpu) => write!(f, "CPU{cpu} is not online"),
        }
    }
}

/// The creator's claim on a kernel thread's exit code.  Dropping it
/// detaches the thread (see the module doc).
#[must_use = "dropping the handle detaches the thread; kthread_stop or kthread_join it to wait for it"]
pub struct KthreadHandle {
    task: &'static Task,
}

impl KthreadHandle {
    /// The thread's task (its state, pid, switch counts...).
    pub fn task(&self) -> &'static Task {
        self.task
    }
}

impl Drop for KthreadHandle {
    fn drop(&mut self) {
        detach_task(self.task);
    }
}

/// Creates a kernel thread that will run `threadfn`, asleep until
/// [`wake_up_process`] (Linux `kthread_create`).  May sleep (it allocates
/// with `GFP_KERNEL`), so it must not be called from atomic context.
pub fn kthread_create(threadfn: &'static dyn ThreadFn, name: &'static str) -> Result<KthreadHandle, KthreadError> {
    might_sleep();
    let task = alloc_task(name, None).ok_or(KthreadError::NoTaskSlot)?;
    let Some(stack) = alloc_thread_stack(task.index()) else {
        free_task(task);
        return Err(KthreadError::NoMemory);
    };
    // SAFETY: the stack was just mapped for this task alone; its top is
    // page aligned.
    let sp = unsafe { copy_thread(stack.top(), kthread, task.index()) };
    *task.stack.lock() = Some(stack);
    *task.threadfn.lock() = Some(threadfn);
    sched_fork(task, sp);
    Ok(KthreadHandle { task })
}

/// Binds a thread that has not been woken yet to CPU `cpu`: it will only
/// ever run there (Linux `kthread_bind`). Refused for an offline CPU or a
/// thread already woken.
pub fn kthread_bind(handle: &KthreadHandle, cpu: usize) -> Result<(), BindError> {
    set_task_cpu_before_first_run(handle.task, cpu)
}

/// [`kthread_create`] on CPU `cpu`, bound there, still asleep (Linux
/// `kthread_create_on_cpu`). The thread is stopped again if the CPU is
/// offline.
pub fn kthread_create_on_cpu(threadfn: &'static dyn ThreadFn, cpu: usize, name: &'static str) -> Result<KthreadHandle, KthreadError> {
    let handle = kthread_create(threadfn, name)?;
    if let Err(why) = kthread_bind(&handle, cpu) {
        log::warn!("kthread_create_on_cpu({name}, {cpu}): {why}");
        kthread_stop(handle);
        return Err(KthreadError::CpuOffline(cpu));
    }
    Ok(handle)
}

/// [`kthread_create`] and [`wake_up_process`] (Linux `kthread_run`).
pub fn kthread_run(threadfn: &'static dyn ThreadFn, name: &'static str) -> Result<KthreadHandle, KthreadError> {
    let handle = kthread_create(threadfn, name)?;
    wake_up_process(handle.task);
    Ok(handle)
}

/// Whether [`kthread_stop`] was called for the running thread (Linux
/// `kthread_should_stop`).
pub fn kthread_should_stop() -> bool {
    current().should_stop.load(Ordering::SeqCst)
}

/// Asks the thread to stop, wakes it, waits for it to exit and returns its
/// exit code (Linux `kthread_stop`).  A thread that never ran exits with
/// `-EINTR` without calling its function.
pub fn kthread_stop(handle: KthreadHandle) -> i32 {
    handle.task.should_stop.store(true, Ordering::SeqCst);
    wake_up_process(handle.task);
    kthread_join(handle)
}

/// Waits for the thread to finish and returns its exit code; the slot is
/// free again afterwards.
#[track_caller]
pub fn kthread_join(handle: KthreadHandle) -> i32 {
    might_sleep();
    let code = wait_task_zombie(handle.task);
    core::mem::forget(handle); // collected: nothing left to detach
    code
}

/// Where every kernel thread starts, on its own stack (Linux `kthread`,
/// reached through `ret_from_kernel_thread`).
extern "C" fn kthread(slot: usize) -> ! {
    schedule_tail();
    let task = current();
    debug_assert_eq!(task.index(), slot, "the scheduler switched to the task copy_thread was given");
    let threadfn = task.threadfn.lock().take().expect("kthread_create stored the function");
    let code = if kthread_should_stop() { -EINTR } else { threadfn.run() };
    do_exit(code)
}
