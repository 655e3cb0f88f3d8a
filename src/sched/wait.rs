//! Wait queues: sleeping until something happens (Linux `kernel/wait.c`,
//! `include/linux/wait.h`).
//!
//! A [`WaitQueueHead`] is the place where threads wait for one kind of
//! event — "a pkmap slot was freed" (`pkmap_map_wait`), "the buffer has
//! room", "the thread exited".  Whoever makes the event happen calls
//! [`WaitQueueHead::wake_up`], which makes every waiter runnable again.
//!
//! ## Waiting without losing a wake-up
//! The naive "if the condition is false, sleep" has a hole: the waker may
//! make the condition true and call `wake_up` *between* the check and the
//! sleep; the wake-up finds nobody on the queue and the thread then sleeps
//! forever.  Linux closes the hole by ordering the steps so that the
//! thread is already visible to the waker when it checks:
//!
//! ```text
//! DEFINE_WAIT(wait);
//! for (;;) {
//!     prepare_to_wait(&wq, &wait, TASK_UNINTERRUPTIBLE); // 1. on the queue, state = asleep
//!     if (condition)                                      // 2. check
//!         break;
//!     schedule();                                         // 3. sleep, unless woken since 1
//! }
//! finish_wait(&wq, &wait);                                // state = running, off the queue
//! ```
//!
//! If the wake-up comes after step 1, it sets the state back to running;
//! `schedule()` in step 3 then sees a running task and does not take it off
//! the run queue, so the thread goes round the loop and sees the condition.
//! If it comes before step 1, the condition is already true at step 2.
//! Either way nothing is lost.  [`WaitQueueHead::wait_event`] is that loop
//! (Linux's `wait_event` macro).  Timer preemption in the middle of the
//! loop is harmless too: preemption switches the thread out with
//! `PREEMPT_ACTIVE`, which keeps it runnable whatever its state.
//!
//! The same guarantee holds for the older pattern `kmap_high` uses, with
//! an entry that stays on the queue (`DECLARE_WAITQUEUE`):
//! `add_wait_queue`, `set_current_state(TASK_UNINTERRUPTIBLE)`, check,
//! `schedule()`, `remove_wait_queue` — the entry is visible to wakers
//! before the check.
//!
//! ## Simplified
//! The queue holds task numbers in a bounded FIFO ([`Fifo`]) instead of
//! `wait_queue_t`s linked into a list; each entry remembers whether it
//! leaves the queue when woken (`DEFINE_WAIT`'s `autoremove_wake_function`)
//! or stays until `remove_wait_queue` (`DECLARE_WAITQUEUE`).  There are no
//! exclusive waiters (`prepare_to_wait_exclusive`): `wake_up` wakes all,
//! and every waiter rechecks its condition.

use super::fifo::Fifo;
use super::scheduler::{current, try_to_wake_up};
use super::task::{TASK_RUNNING, Task, TaskState, task};
use super::NR_TASKS;
use crate::preempt::might_sleep;
use crate::spinlock::SpinLockIrq;

/// One waiter as the queue stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Waiter {
    task: u8,
    /// Leave the queue when woken.
    autoremove: bool,
}

/// A queue of sleeping threads (Linux `wait_queue_head_t`).
pub struct WaitQueueHead {
    waiters: SpinLockIrq<Fifo<Waiter, NR_TASKS>>,
}

/// A thread's ticket for one wait queue (Linux `wait_queue_t`).
#[derive(Clone, Copy)]
pub struct WaitQueueEntry {
    task: &'static Task,
    autoremove: bool,
}

impl WaitQueueEntry {
    /// An entry for the running thread that a wake-up removes from the
    /// queue (Linux `DEFINE_WAIT`): for the `prepare_to_wait` loop.
    #[doc(alias = "DEFINE_WAIT")]
    pub fn define_wait() -> Self {
        Self { task: current(), autoremove: true }
    }

    /// An entry for `task` that stays queued until `remove_wait_queue`
    /// (Linux `DECLARE_WAITQUEUE`): for `add_wait_queue` loops.
    #[doc(alias = "DECLARE_WAITQUEUE")]
    pub fn declare_waitqueue(task: &'static Task) -> Self {
        Self { task, autoremove: false }
    }

    fn waiter(&self) -> Waiter {
        Waiter { task: self.task.index() as u8, autoremove: self.autoremove }
    }
}

impl WaitQueueHead {
    /// An empty queue (Linux `DECLARE_WAIT_QUEUE_HEAD`, `init_waitqueue_head`).
    pub const fn new() -> Self {
        Self { waiters: SpinLockIrq::new(Fifo::new(Waiter { task: 0, autoremove: false })) }
    }

    /// Puts `wait` on the queue if it is not there yet.
    fn enqueue(waiters: &mut Fifo<Waiter, NR_TASKS>, wait: &WaitQueueEntry) {
        let task = wait.task.index() as u8;
        if !waiters.any(|w| w.task == task) {
            waiters.push_back(wait.waiter()).expect("a task is at most once in a queue of NR_TASKS");
        }
    }

    /// Adds `wait` to the queue (Linux `add_wait_queue`).
    pub fn add_wait_queue(&self, wait: &WaitQueueEntry) {
        Self::enqueue(&mut self.waiters.lock(), wait);
    }

    /// Takes `wait` off the queue if it is there (Linux `remove_wait_queue`).
    pub fn remove_wait_queue(&self, wait: &WaitQueueEntry) {
        let task = wait.task.index() as u8;
        self.waiters.lock().retain(|w| w.task != task);
    }

    /// Step 1 of the wait loop: queue `wait` (if not queued) and set the
    /// running thread's state to `state`, both under the queue lock so that
    /// a `wake_up` sees either neither or both (Linux `prepare_to_wait`).
    pub fn prepare_to_wait(&self, wait: &WaitQueueEntry, state: TaskState) {
        assert!(core::ptr::eq(wait.task, current()), "prepare_to_wait: the entry belongs to another task");
        let mut waiters = self.waiters.lock();
        Self::enqueue(&mut waiters, wait);
        super::scheduler::set_current_state(state);
    }

    /// Ends a wait: state back to running, entry off the queue (Linux
    /// `finish_wait`).
    pub fn finish_wait(&self, wait: &WaitQueueEntry) {
        wait.task.set_state(TASK_RUNNING);
        self.remove_wait_queue(wait);
    }

    /// Makes every waiting thread runnable; entries from `define_wait`
    /// leave the queue (Linux `wake_up` -> `__wake_up_common`, non-exclusive
    /// waiters only).  Safe from interrupt handlers.  Returns how many
    /// threads were asleep and are now runnable.
    pub fn wake_up(&self) -> usize {
        let mut woken = 0;
        self.waiters.lock().retain(|waiter| {
            let was_asleep = try_to_wake_up(task(waiter.task as usize));
            woken += was_asleep as usize;
            !(was_asleep && waiter.autoremove)
        });
        woken
    }

    /// Whether anyone is on the queue (Linux `waitqueue_active`).  Without
    /// the lock the answer may be stale at once; it is meant for "is a
    /// wake-up worth calling?" after the condition was made true.
    pub fn waitqueue_active(&self) -> bool {
        !self.waiters.lock().is_empty()
    }

    /// Sleeps until `condition()` is true (Linux `wait_event`): the loop of
    /// the module doc.  `condition` is evaluated with the thread already
    /// queued, so it must not sleep itself.  Reports (through
    /// `might_sleep`) a call from atomic or interrupt context.
    #[track_caller]
    pub fn wait_event(&self, mut condition: impl FnMut() -> bool) {
        might_sleep();
        if condition() {
            return;
        }
        let wait = WaitQueueEntry::define_wait();
        loop {
            self.prepare_to_wait(&wait, TaskState::Uninterruptible);
            if condition() {
                break;
            }
            super::schedule();
        }
        self.finish_wait(&wait);
    }

    /// Sleeps until `condition()` is true or `timeout` ticks have passed
    /// (Linux `wait_event_timeout`); returns the ticks left, 0 if the time
    /// ran out first. The same loop as [`wait_event`](Self::wait_event),
    /// with `schedule_timeout` for `schedule`.
    #[track_caller]
    pub fn wait_event_timeout(&self, mut condition: impl FnMut() -> bool, timeout: i64) -> i64 {
        might_sleep();
        if condition() {
            return timeout.max(1);
        }
        let wait = WaitQueueEntry::define_wait();
        let mut remaining = timeout;
        loop {
            self.prepare_to_wait(&wait, TaskState::Uninterruptible);
            if condition() {
                remaining = remaining.max(1);
                break;
            }
            remaining = crate::timer::schedule_timeout(remaining);
            if remaining == 0 {
                break;
            }
        }
        self.finish_wait(&wait);
        remaining
    }
}

impl Default for WaitQueueHead {
    fn default() -> Self {
        Self::new()
    }
}
