//! In-kernel tests of kernel threads, preemption, wait queues, `might_sleep`
//! and interrupt-time allocation.
//!
//! Threads share state with the test through statics (a thread function is
//! a `&'static` closure).  Waiting for another thread never depends on
//! speed: [`yield_until`] gives the CPU away until a condition holds, and
//! its deadline only turns a hang into a clear failure message.

use super::fifo::Fifo;
use super::kthread::{EINTR, kthread_create, kthread_join, kthread_run, kthread_should_stop, kthread_stop};
use super::scheduler::{cond_resched, current, need_resched, nr_context_switches, schedule, set_current_state, task_timeslice};
use super::task::{TASK_RUNNING, TASK_UNINTERRUPTIBLE, TaskState, nr_tasks_in_use};
use super::wait::{WaitQueueEntry, WaitQueueHead};
use super::nr_free_pages;
use crate::arch::x86::irq::{IrqReturn, TIMER_IRQ, free_irq, request_irq};
use crate::arch::x86::irqflags::{local_irq_restore, local_irq_save};
use crate::mm::gfp::GfpFlags;
use crate::mm::init::node;
use crate::mm::mmzone::ZoneType;
use crate::preempt::{
    PreemptCount, in_irq, last_might_sleep_report, might_sleep, might_sleep_reports, preempt_count, preempt_disable,
    preempt_enable,
};
use crate::spinlock::SpinLockIrq;
use crate::time::{jiffies, msecs_to_jiffies};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};

/// Starts a thread on this CPU (the preemption tests need their threads to
/// compete for one CPU; unbound ones would go to idle CPUs).
fn kthread_run_here(threadfn: &'static dyn super::ThreadFn, name: &'static str) -> super::KthreadHandle {
    let handle = super::kthread::kthread_create_on_cpu(threadfn, crate::arch::x86::smp::smp_processor_id(), name).unwrap();
    super::scheduler::wake_up_process(handle.task());
    handle
}

/// Yields the CPU until `condition` holds; false if `timeout_ms` passed first.
fn yield_until(timeout_ms: u32, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = jiffies() + msecs_to_jiffies(timeout_ms);
    while !condition() {
        if jiffies() >= deadline {
            return false;
        }
        schedule();
    }
    true
}

// ---------------------------------------------------------------------------
// Life cycle

#[test_case]
fn a_thread_runs_exits_and_gives_everything_back() {
    let (tasks, pages) = (nr_tasks_in_use(), nr_free_pages());
    let handle = kthread_run(&|| 42, "answer").expect("a thread");
    assert_eq!(handle.task().comm(), "answer");
    assert_eq!(kthread_join(handle), 42);
    assert_eq!(nr_tasks_in_use(), tasks, "the task slot is free again");
    assert_eq!(nr_free_pages(), pages, "the stack went back to the page allocator");
}

static STOP_LOOPS: AtomicU32 = AtomicU32::new(0);
static NEVER_RAN: AtomicBool = AtomicBool::new(true);

#[test_case]
fn kthread_stop_ends_a_loop_and_returns_its_exit_code() {
    let handle = kthread_run(
        &|| {
            while !kthread_should_stop() {
                STOP_LOOPS.fetch_add(1, SeqCst);
                schedule();
            }
            7
        },
        "stoppable",
    )
    .unwrap();
    assert!(yield_until(2000, || STOP_LOOPS.load(SeqCst) > 0), "the thread started");
    assert_eq!(kthread_stop(handle), 7);

    // A thread stopped before it was ever woken exits without running.
    let handle = kthread_create(&|| { NEVER_RAN.store(false, SeqCst); 0 }, "unstarted").unwrap();
    assert_eq!(kthread_stop(handle), -EINTR);
    assert!(NEVER_RAN.load(SeqCst), "its function was not called");
}

static DETACHED_DONE: AtomicBool = AtomicBool::new(false);

#[test_case]
fn a_detached_thread_frees_its_slot_when_it_exits() {
    let tasks = nr_tasks_in_use();
    drop(kthread_run(&|| { DETACHED_DONE.store(true, SeqCst); 0 }, "detached").unwrap());
    assert!(yield_until(2000, || DETACHED_DONE.load(SeqCst) && nr_tasks_in_use() == tasks));
}

// ---------------------------------------------------------------------------
// Preemption

/// Two threads that spin without ever calling `schedule()`.
static BUSY_STOP: AtomicBool = AtomicBool::new(false);
static BUSY_SPINS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// How often each busy thread found that the other had run since its own last turn.
static BUSY_TURNS: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
static BUSY_LAST: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The thread's (voluntary, involuntary) switch counts when it stopped.
static BUSY_SWITCHES: [(AtomicU32, AtomicU32); 2] = [(AtomicU32::new(0), AtomicU32::new(0)), (AtomicU32::new(0), AtomicU32::new(0))];

fn busy(me: usize) -> i32 {
    while !BUSY_STOP.load(SeqCst) {
        BUSY_SPINS[me].fetch_add(1, SeqCst);
        if BUSY_LAST.swap(me, SeqCst) != me {
            BUSY_TURNS[me].fetch_add(1, SeqCst);
        }
    }
    BUSY_SWITCHES[me].0.store(current().nvcsw(), SeqCst);
    BUSY_SWITCHES[me].1.store(current().nivcsw(), SeqCst);
    0
}

fn reset_busy() {
    BUSY_STOP.store(false, SeqCst);
    BUSY_LAST.store(usize::MAX, SeqCst);
    for me in 0..2 {
        BUSY_SPINS[me].store(0, SeqCst);
        BUSY_TURNS[me].store(0, SeqCst);
    }
}

/// Neither thread ever gives up the CPU (both on this one), yet both keep
/// getting it back: the timer takes it from them.  All their switches are
/// involuntary.
#[test_case]
fn the_timer_preempts_two_busy_threads_in_turn() {
    reset_busy();
    let a = kthread_run_here(&|| busy(0), "busy0");
    let b = kthread_run_here(&|| busy(1), "busy1");
    let slices = 8;
    let end = jiffies() + slices * task_timeslice() as u64;
    assert!(yield_until(30_000, || jiffies() >= end));
    BUSY_STOP.store(true, SeqCst);
    assert_eq!((kthread_join(a), kthread_join(b)), (0, 0));
    let turns = [BUSY_TURNS[0].load(SeqCst), BUSY_TURNS[1].load(SeqCst)];
    let switches = [0, 1].map(|me| (BUSY_SWITCHES[me].0.load(SeqCst), BUSY_SWITCHES[me].1.load(SeqCst)));
    log::info!("preemption: {slices} slices of {} ticks: turns {turns:?}, (voluntary, involuntary) switches {switches:?}", task_timeslice());
    assert!(turns.iter().all(|&t| t >= 3), "each thread got the CPU back at least 3 times: {turns:?}");
    assert!(switches.iter().all(|&(voluntary, involuntary)| voluntary == 0 && involuntary >= 3), "{switches:?}");
}

/// What the thread holding `preempt_disable` saw.
static HELD_OTHER_SPINS: AtomicU64 = AtomicU64::new(u64::MAX);
static HELD_SWITCHES_DURING: AtomicU32 = AtomicU32::new(u32::MAX);
static HELD_SWITCHES_AFTER: AtomicU32 = AtomicU32::new(0);
static HELD_NEED_RESCHED: AtomicBool = AtomicBool::new(false);
static HELD_TICKS: AtomicU64 = AtomicU64::new(0);

/// Spins for three time slices with preemption disabled, next to a busy
/// thread that wants the CPU.
fn hold_the_cpu() -> i32 {
    preempt_disable();
    let task = current();
    let (switches, other, start) = (task.nivcsw(), BUSY_SPINS[1].load(SeqCst), jiffies());
    while jiffies() - start < 3 * task_timeslice() as u64 {
        core::hint::spin_loop();
    }
    HELD_TICKS.store(jiffies() - start, SeqCst);
    HELD_OTHER_SPINS.store(BUSY_SPINS[1].load(SeqCst) - other, SeqCst);
    HELD_SWITCHES_DURING.store(task.nivcsw() - switches, SeqCst);
    HELD_NEED_RESCHED.store(need_resched(), SeqCst);
    preempt_enable();
    HELD_SWITCHES_AFTER.store(task.nivcsw() - switches, SeqCst);
    0
}

/// While `preempt_count` > 0 the tick still comes and asks for a
/// reschedule, but no switch happens; `preempt_enable` switches at once.
#[test_case]
fn no_preemption_while_preempt_count_is_raised() {
    reset_busy();
    let other = kthread_run_here(&|| busy(1), "busy1");
    assert!(yield_until(2000, || BUSY_SPINS[1].load(SeqCst) > 0), "the busy thread runs");
    assert_eq!(kthread_join(kthread_run_here(&hold_the_cpu, "holder")), 0);
    BUSY_STOP.store(true, SeqCst);
    assert_eq!(kthread_join(other), 0);
    let ticks = HELD_TICKS.load(SeqCst);
    assert!(ticks >= 3 * task_timeslice() as u64, "the tick went on: {ticks} ticks");
    assert_eq!(HELD_SWITCHES_DURING.load(SeqCst), 0, "not preempted with preemption disabled");
    assert_eq!(HELD_OTHER_SPINS.load(SeqCst), 0, "the other thread did not run meanwhile");
    assert!(HELD_NEED_RESCHED.load(SeqCst), "the tick asked for a reschedule");
    assert!(HELD_SWITCHES_AFTER.load(SeqCst) >= 1, "preempt_enable switched to the waiting thread");
}

/// `cond_resched` switches only when a reschedule is pending.
#[test_case]
fn cond_resched_yields_only_when_asked() {
    reset_busy();
    let other = kthread_run_here(&|| busy(1), "busy1");
    assert!(yield_until(2000, || BUSY_SPINS[1].load(SeqCst) > 0));
    let me = current();

    // A full slice ahead and nothing pending: no switch.
    me.time_slice.store(task_timeslice() + 1, SeqCst);
    me.clear_need_resched();
    let switches = nr_context_switches();
    assert!(!cond_resched());
    assert_eq!(nr_context_switches(), switches);

    // A pending reschedule: the other thread runs before cond_resched returns.
    let spins = BUSY_SPINS[1].load(SeqCst);
    me.set_need_resched();
    assert!(cond_resched());
    assert!(BUSY_SPINS[1].load(SeqCst) > spins, "the busy thread ran");
    BUSY_STOP.store(true, SeqCst);
    assert_eq!(kthread_join(other), 0);
}

// ---------------------------------------------------------------------------
// Wait queues

const ITEMS: u32 = 10_000;
const BUFFER_SLOTS: usize = 8;
static BUFFER: SpinLockIrq<Fifo<u32, BUFFER_SLOTS>> = SpinLockIrq::new(Fifo::new(0));
static NOT_FULL: WaitQueueHead = WaitQueueHead::new();
static NOT_EMPTY: WaitQueueHead = WaitQueueHead::new();
static CONSUMED: AtomicU32 = AtomicU32::new(0);
static CONSUMED_SUM: AtomicU64 = AtomicU64::new(0);
static OUT_OF_ORDER: AtomicU32 = AtomicU32::new(0);
/// Times the producer / consumer went to sleep (their `nvcsw` at the end).
static PRODUCER_SLEEPS: AtomicU32 = AtomicU32::new(0);
static CONSUMER_SLEEPS: AtomicU32 = AtomicU32::new(0);

fn producer() -> i32 {
    for item in 0..ITEMS {
        NOT_FULL.wait_event(|| BUFFER.lock().len() < BUFFER_SLOTS);
        BUFFER.lock().push_back(item).expect("only the producer fills the buffer");
        NOT_EMPTY.wake_up();
    }
    PRODUCER_SLEEPS.store(current().nvcsw(), SeqCst);
    0
}

fn consumer() -> i32 {
    for expected in 0..ITEMS {
        NOT_EMPTY.wait_event(|| !BUFFER.lock().is_empty());
        let item = BUFFER.lock().pop_front().expect("only the consumer empties the buffer");
        if item != expected {
            OUT_OF_ORDER.fetch_add(1, SeqCst);
        }
        CONSUMED_SUM.fetch_add(item as u64, SeqCst);
        CONSUMED.fetch_add(1, SeqCst);
        NOT_FULL.wake_up();
    }
    CONSUMER_SLEEPS.store(current().nvcsw(), SeqCst);
    0
}

/// 10,000 items through an 8-slot buffer: each side sleeps on its wait
/// queue when it cannot go on and is woken by the other.  A lost wake-up
/// would leave both asleep (the run then hangs and xtask reports it); a
/// lost or doubled item shows in the count, the sum and the order.
#[test_case]
fn producer_and_consumer_pass_10000_items_over_wait_queues() {
    let (consumer_thread, producer_thread) =
        (kthread_run(&consumer, "consumer").unwrap(), kthread_run(&producer, "producer").unwrap());
    assert_eq!((kthread_join(producer_thread), kthread_join(consumer_thread)), (0, 0));
    let (producer_sleeps, consumer_sleeps) = (PRODUCER_SLEEPS.load(SeqCst), CONSUMER_SLEEPS.load(SeqCst));
    log::info!("producer/consumer: {ITEMS} items; the producer slept {producer_sleeps} times, the consumer {consumer_sleeps}");
    assert_eq!(CONSUMED.load(SeqCst), ITEMS);
    assert_eq!(CONSUMED_SUM.load(SeqCst), ITEMS as u64 * (ITEMS as u64 - 1) / 2);
    assert_eq!(OUT_OF_ORDER.load(SeqCst), 0);
    assert!(BUFFER.lock().is_empty());
    assert!(producer_sleeps > 0 && consumer_sleeps > 0, "both sides really waited");
    assert!(!NOT_FULL.waitqueue_active() && !NOT_EMPTY.waitqueue_active());
}

static EVENT: WaitQueueHead = WaitQueueHead::new();
static EVENT_HAPPENED: AtomicBool = AtomicBool::new(false);
static SLEEPER_SLEPT: AtomicU32 = AtomicU32::new(0);

fn sleeper() -> i32 {
    EVENT.wait_event(|| EVENT_HAPPENED.load(SeqCst));
    SLEEPER_SLEPT.store(current().nvcsw(), SeqCst);
    0
}

/// A thread asleep on a wait queue (off the run queue) is woken by another
/// thread's `wake_up`.
#[test_case]
fn a_sleeping_thread_is_woken_by_another_thread() {
    EVENT_HAPPENED.store(false, SeqCst);
    let sleeping = kthread_run(&sleeper, "sleeper").unwrap();
    let task = sleeping.task();
    assert!(
        yield_until(2000, || EVENT.waitqueue_active() && task.state() == TASK_UNINTERRUPTIBLE && !task.on_rq()),
        "the sleeper went to sleep"
    );
    let waker = kthread_run(
        &|| {
            EVENT_HAPPENED.store(true, SeqCst);
            EVENT.wake_up() as i32
        },
        "waker",
    )
    .unwrap();
    assert_eq!(kthread_join(waker), 1, "wake_up woke exactly the sleeper");
    assert_eq!(kthread_join(sleeping), 0);
    assert!(SLEEPER_SLEPT.load(SeqCst) >= 1);
    assert!(!EVENT.waitqueue_active(), "the woken entry left the queue");
}

static SLOT_FREE: AtomicBool = AtomicBool::new(false);
static SLOT_WAIT: WaitQueueHead = WaitQueueHead::new();
static SLOT_WAITER_ROUNDS: AtomicU32 = AtomicU32::new(0);

/// The way `kmap_high` waits on `pkmap_map_wait`: an entry that stays
/// queued across wake-ups (`DECLARE_WAITQUEUE`), the state set by hand.
fn wait_for_a_slot() -> i32 {
    let wait = WaitQueueEntry::declare_waitqueue(current());
    SLOT_WAIT.add_wait_queue(&wait);
    loop {
        set_current_state(TASK_UNINTERRUPTIBLE);
        if SLOT_FREE.load(SeqCst) {
            break;
        }
        SLOT_WAITER_ROUNDS.fetch_add(1, SeqCst);
        schedule();
    }
    set_current_state(TASK_RUNNING);
    SLOT_WAIT.remove_wait_queue(&wait);
    0
}

/// `add_wait_queue` entries are woken without leaving the queue: a
/// spurious wake-up sends the thread round its loop and back to sleep,
/// the real one lets it out, and only `remove_wait_queue` unqueues it.
#[test_case]
fn an_add_wait_queue_entry_stays_queued_across_wake_ups() {
    SLOT_FREE.store(false, SeqCst);
    SLOT_WAITER_ROUNDS.store(0, SeqCst);
    let waiter = kthread_run(&wait_for_a_slot, "slot-waiter").unwrap();
    let task = waiter.task();
    let asleep = || task.state() == TASK_UNINTERRUPTIBLE && !task.on_rq();
    assert!(yield_until(2000, asleep));
    assert_eq!(SLOT_WAIT.wake_up(), 1, "a wake-up with the condition still false");
    assert!(SLOT_WAIT.waitqueue_active(), "the entry stayed on the queue");
    assert!(yield_until(2000, || asleep() && SLOT_WAITER_ROUNDS.load(SeqCst) == 2), "it went back to sleep");
    SLOT_FREE.store(true, SeqCst);
    assert_eq!(SLOT_WAIT.wake_up(), 1);
    assert_eq!(kthread_join(waiter), 0);
    assert!(!SLOT_WAIT.waitqueue_active(), "remove_wait_queue took it off");
}

static IRQ_EVENT_WOKE: AtomicU32 = AtomicU32::new(0);
static IRQ_EVENT_IN_IRQ: AtomicBool = AtomicBool::new(false);

/// Timer hook: once someone sleeps on EVENT and the tick interrupted the
/// idle task (every thread is asleep: idle sat in `hlt`), make the event
/// happen and wake the sleeper — from hardirq context.
fn wake_from_the_tick(_irq: u32) -> IrqReturn {
    if !EVENT_HAPPENED.load(SeqCst) && EVENT.waitqueue_active() && current().pid() == 0 {
        EVENT_HAPPENED.store(true, SeqCst);
        IRQ_EVENT_IN_IRQ.store(in_irq(), SeqCst);
        IRQ_EVENT_WOKE.store(EVENT.wake_up() as u32, SeqCst);
    }
    IrqReturn::Handled
}

/// The same sleeper, woken by an interrupt handler that interrupted the
/// idle thread: with the sleeper and the test thread both asleep, idle
/// runs, the tick wakes it, and the woken sleeper runs to its end.
#[test_case]
fn a_sleeping_thread_is_woken_by_an_interrupt_handler() {
    EVENT_HAPPENED.store(false, SeqCst);
    SLEEPER_SLEPT.store(0, SeqCst);
    let cookie = request_irq(TIMER_IRQ, wake_from_the_tick, "test-waker").unwrap();
    let sleeping = kthread_run(&sleeper, "sleeper").unwrap();
    assert_eq!(kthread_join(sleeping), 0);
    free_irq(cookie);
    assert!(IRQ_EVENT_IN_IRQ.load(SeqCst), "the wake-up came from hardirq context");
    assert_eq!(IRQ_EVENT_WOKE.load(SeqCst), 1);
    assert!(SLEEPER_SLEPT.load(SeqCst) >= 1, "the thread was asleep when woken");
}

static WINDOW_ARMED: AtomicBool = AtomicBool::new(false);
static WINDOW_COND: AtomicBool = AtomicBool::new(false);
static WINDOW_STATE_AT_SCHEDULE: AtomicU32 = AtomicU32::new(u32::MAX);
static WINDOW: WaitQueueHead = WaitQueueHead::new();

fn wake_in_the_window(_irq: u32) -> IrqReturn {
    if WINDOW_ARMED.swap(false, SeqCst) {
        WINDOW_COND.store(true, SeqCst);
        WINDOW.wake_up();
    }
    IrqReturn::Handled
}

/// The wake-up lands exactly in the dangerous window: after
/// `prepare_to_wait` and the condition check, before `schedule()`.  It
/// must not be lost: the state is back to running, so `schedule()` keeps
/// the thread runnable and returns (were it lost, this test would hang).
fn sleep_after_a_wake_up_in_the_window() -> i32 {
    let wait = WaitQueueEntry::define_wait();
    WINDOW.prepare_to_wait(&wait, TaskState::Uninterruptible);
    assert!(!WINDOW_COND.load(SeqCst), "the condition is still false at the check");
    WINDOW_ARMED.store(true, SeqCst);
    while !WINDOW_COND.load(SeqCst) {
        core::hint::spin_loop(); // the timer handler wakes us here
    }
    WINDOW_STATE_AT_SCHEDULE.store(current().state() as u32, SeqCst);
    schedule();
    WINDOW.finish_wait(&wait);
    0
}

#[test_case]
fn a_wake_up_between_the_check_and_schedule_is_not_lost() {
    WINDOW_COND.store(false, SeqCst);
    let cookie = request_irq(TIMER_IRQ, wake_in_the_window, "test-window").unwrap();
    // On the CPU that takes the tick: the wake-up must interrupt the
    // thread itself, between its check and schedule().
    assert_eq!(kthread_join(kthread_run_here(&sleep_after_a_wake_up_in_the_window, "window")), 0);
    free_irq(cookie);
    assert_eq!(WINDOW_STATE_AT_SCHEDULE.load(SeqCst), TASK_RUNNING as u32, "the wake-up reset the state");
    assert!(!WINDOW.waitqueue_active());
}

// ---------------------------------------------------------------------------
// might_sleep

/// A `kmap_atomic`-like section: preemption disabled around the use of a
/// per-CPU resource.  A sleeping call inside is reported with its location.
#[test_case]
fn might_sleep_in_an_atomic_section_is_reported() {
    let reports = might_sleep_reports();
    might_sleep();
    assert_eq!(might_sleep_reports(), reports, "no report in a sleepable context");

    preempt_disable();
    let line = line!() + 1;
    might_sleep();
    preempt_enable();
    let report = last_might_sleep_report().expect("a report");
    assert_eq!(might_sleep_reports(), reports + 1);
    assert_eq!((report.location.file(), report.location.line()), (file!(), line));
    assert_eq!(report.preempt_count, PreemptCount(1));
    assert!(!report.irqs_disabled);

    // wait_event checks too, and blames its caller.
    preempt_disable();
    let line = line!() + 1;
    EVENT.wait_event(|| true);
    preempt_enable();
    let report = last_might_sleep_report().unwrap();
    assert_eq!((report.location.file(), report.location.line()), (file!(), line));

    // Interrupts off is no place to sleep either.
    let flags = local_irq_save();
    might_sleep();
    local_irq_restore(flags);
    let report = last_might_sleep_report().unwrap();
    assert!(report.irqs_disabled && report.preempt_count == PreemptCount(0));
    assert_eq!(might_sleep_reports(), reports + 3);
}

static SLEEP_IN_IRQ_ARMED: AtomicBool = AtomicBool::new(false);
static SLEEP_IN_IRQ_LINE: AtomicU32 = AtomicU32::new(0);

fn sleep_in_the_tick(_irq: u32) -> IrqReturn {
    if SLEEP_IN_IRQ_ARMED.swap(false, SeqCst) {
        SLEEP_IN_IRQ_LINE.store(line!() + 1, SeqCst);
        might_sleep();
    }
    IrqReturn::Handled
}

#[test_case]
fn might_sleep_in_an_interrupt_handler_is_reported() {
    let reports = might_sleep_reports();
    SLEEP_IN_IRQ_LINE.store(0, SeqCst);
    SLEEP_IN_IRQ_ARMED.store(true, SeqCst);
    let cookie = request_irq(TIMER_IRQ, sleep_in_the_tick, "test-might-sleep").unwrap();
    assert!(yield_until(2000, || SLEEP_IN_IRQ_LINE.load(SeqCst) != 0 && might_sleep_reports() > reports));
    free_irq(cookie);
    let report = last_might_sleep_report().unwrap();
    assert_eq!((report.location.file(), report.location.line()), (file!(), SLEEP_IN_IRQ_LINE.load(SeqCst)));
    assert!(report.preempt_count.in_irq(), "reported in hardirq context: {:#x}", report.preempt_count.0);
    assert!(report.irqs_disabled);
}

// ---------------------------------------------------------------------------
// Interrupt-time allocation

/// Blocks the interrupt handler holds: (pfn, order).
static IRQ_STASH: SpinLockIrq<Fifo<(usize, u8), 16>> = SpinLockIrq::new(Fifo::new((0, 0)));
static IRQ_ALLOCS: AtomicU32 = AtomicU32::new(0);
static IRQ_ALLOC_FAILURES: AtomicU32 = AtomicU32::new(0);
/// The hammer thread is inside the page allocator.
static HAMMER_IN_ALLOCATOR: AtomicBool = AtomicBool::new(false);
/// Interrupts that arrived while it was.
static HITS_INSIDE: AtomicU32 = AtomicU32::new(0);
static HAMMER_STOP: AtomicBool = AtomicBool::new(false);
static HAMMER_ROUNDS: AtomicU32 = AtomicU32::new(0);

fn free_block(pfn: usize, order: u8) {
    let node = node();
    node.__free_pages(node.pfn_to_page(pfn).expect("a page we allocated"), order as usize);
}

/// Timer hook: allocate a block of order 0-2 with GFP_ATOMIC, keep up to
/// 16, free the oldest beyond that.
fn allocate_in_the_tick(_irq: u32) -> IrqReturn {
    if HAMMER_IN_ALLOCATOR.load(SeqCst) {
        HITS_INSIDE.fetch_add(1, SeqCst);
    }
    let node = node();
    let order = IRQ_ALLOCS.load(SeqCst) % 3;
    match node.alloc_pages(GfpFlags::GFP_ATOMIC, order as usize) {
        Some(page) => {
            IRQ_ALLOCS.fetch_add(1, SeqCst);
            let pfn = node.page_to_pfn(page).unwrap();
            let mut stash = IRQ_STASH.lock();
            if let Err(block) = stash.push_back((pfn, order as u8)) {
                let (old_pfn, old_order) = stash.pop_front().unwrap();
                stash.push_back(block).unwrap();
                drop(stash);
                free_block(old_pfn, old_order);
            }
        }
        None => {
            IRQ_ALLOC_FAILURES.fetch_add(1, SeqCst);
        }
    }
    IrqReturn::Handled
}

/// Order-0 alloc/free in a tight loop, 8 pages at a time.
fn hammer() -> i32 {
    let node = node();
    while !HAMMER_STOP.load(SeqCst) {
        let mut pages = [None; 8];
        HAMMER_IN_ALLOCATOR.store(true, SeqCst);
        for slot in &mut pages {
            *slot = node.alloc_page(GfpFlags::GFP_KERNEL);
        }
        for page in pages.into_iter().flatten() {
            node.__free_page(page);
        }
        HAMMER_IN_ALLOCATOR.store(false, SeqCst);
        HAMMER_ROUNDS.fetch_add(1, SeqCst);
    }
    0
}

/// Free pages per zone, with the per-CPU lists drained into the buddy.
fn free_counts() -> [usize; 3] {
    node().drain_all_pages();
    ZoneType::ALL.map(|zone| node().zone(zone).lock().free_pages())
}

/// A thread hammers the allocator while the timer interrupt allocates and
/// frees GFP_ATOMIC blocks in between.  Afterwards every zone has exactly
/// the free pages it had, and its free lists are consistent.  Without
/// interrupt-safe zone locks the handler would spin forever on a lock held
/// by the thread it interrupted.
#[test_case]
fn atomic_allocations_in_interrupts_leave_free_counts_exact() {
    let before = free_counts();
    HAMMER_STOP.store(false, SeqCst);
    HITS_INSIDE.store(0, SeqCst);
    IRQ_ALLOCS.store(0, SeqCst);
    let cookie = request_irq(TIMER_IRQ, allocate_in_the_tick, "test-gfp-atomic").unwrap();
    let hammering = kthread_run(&hammer, "hammer").unwrap();
    let enough = yield_until(20_000, || HITS_INSIDE.load(SeqCst) >= 20 && IRQ_ALLOCS.load(SeqCst) >= 40);
    HAMMER_STOP.store(true, SeqCst);
    assert_eq!(kthread_join(hammering), 0);
    free_irq(cookie);
    while let Some((pfn, order)) = IRQ_STASH.lock().pop_front() {
        free_block(pfn, order);
    }
    let (hits, allocs, rounds) = (HITS_INSIDE.load(SeqCst), IRQ_ALLOCS.load(SeqCst), HAMMER_ROUNDS.load(SeqCst));
    log::info!("GFP_ATOMIC: {allocs} allocations in the tick, {hits} of them while the thread was inside the allocator ({rounds} rounds of 8)");
    assert!(enough, "the tick ran often enough inside the allocator: {hits} hits, {allocs} allocations");
    assert_eq!(IRQ_ALLOC_FAILURES.load(SeqCst), 0);
    assert_eq!(free_counts(), before, "free pages per zone (DMA, Normal, HighMem)");
    for zone in ZoneType::ALL {
        node().zone(zone).lock().check_free_lists().unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test_case]
fn a_new_thread_starts_with_preemption_and_interrupts_enabled() {
    static SEEN: AtomicU32 = AtomicU32::new(u32::MAX);
    static IRQS_ON: AtomicBool = AtomicBool::new(false);
    let handle = kthread_run(
        &|| {
            SEEN.store(preempt_count().0, SeqCst);
            IRQS_ON.store(crate::arch::x86::irqflags::irqs_enabled(), SeqCst);
            0
        },
        "fresh",
    )
    .unwrap();
    assert_eq!(kthread_join(handle), 0);
    assert_eq!(SEEN.load(SeqCst), 0);
    assert!(IRQS_ON.load(SeqCst));
    assert_eq!(current().state(), TASK_RUNNING);
}

static PEER_SAW_MEMALLOC: AtomicBool = AtomicBool::new(true);
static PEER_RAN: AtomicBool = AtomicBool::new(false);

/// `PF_MEMALLOC` (may use every free page) is the reclaiming task's, not
/// its CPU's: a thread switched in while another reclaims must not inherit
/// it.
#[test_case]
fn pf_memalloc_belongs_to_the_task_not_the_cpu() {
    use crate::mm::vmscan::TaskFlags;
    let node = crate::mm::init::node();
    PEER_RAN.store(false, SeqCst);
    let saved = node.memalloc_noreclaim_save();
    let peer = crate::sched::kthread_run(
        &|| {
            let flags = crate::mm::init::node().current_flags();
            PEER_SAW_MEMALLOC.store(flags.contains(TaskFlags::PF_MEMALLOC), SeqCst);
            PEER_RAN.store(true, SeqCst);
            0
        },
        "pf-memalloc-peer",
    )
    .unwrap();
    while !PEER_RAN.load(SeqCst) {
        crate::sched::schedule();
    }
    assert!(node.current_flags().contains(TaskFlags::PF_MEMALLOC), "still set when this thread runs again");
    node.memalloc_noreclaim_restore(saved);
    assert_eq!(crate::sched::kthread_join(peer), 0);
    assert!(!PEER_SAW_MEMALLOC.load(SeqCst), "the other thread did not inherit it");
}

// ---------------------------------------------------------------------------
// Several CPUs

/// A thread bound to another CPU sleeps on a wait queue; this CPU wakes it.
/// It runs — on its own CPU —, and the idle CPU was woken by a reschedule
/// IPI (its `RES` count went up).
#[test_case]
fn a_thread_woken_from_another_cpu_runs_on_its_own_cpu() {
    use crate::arch::x86::apic::{RESCHEDULE_VECTOR, apic_irqs};
    use crate::arch::x86::smp::{online_cpus, smp_processor_id};
    static WOKEN: WaitQueueHead = WaitQueueHead::new();
    static CONDITION: AtomicBool = AtomicBool::new(false);
    static RAN_ON: AtomicUsize = AtomicUsize::new(usize::MAX);
    let Some(target) = online_cpus().find(|&cpu| cpu != smp_processor_id()) else {
        crate::skip!("needs a second CPU (boot with -smp 2 or more)");
    };
    CONDITION.store(false, SeqCst);
    RAN_ON.store(usize::MAX, SeqCst);
    let handle = super::kthread::kthread_create_on_cpu(
        &|| {
            WOKEN.wait_event(|| CONDITION.load(SeqCst));
            RAN_ON.store(crate::arch::x86::smp::smp_processor_id(), SeqCst);
            0
        },
        target,
        "woken-remote",
    )
    .expect("a thread");
    super::scheduler::wake_up_process(handle.task());
    assert!(yield_until(2000, || handle.task().state() == TASK_UNINTERRUPTIBLE && !handle.task().on_rq()), "the thread went to sleep");
    assert!(yield_until(2000, || super::scheduler::nr_running(target) == 0), "CPU{target} is idle");
    let ipis = apic_irqs(RESCHEDULE_VECTOR, target);
    CONDITION.store(true, SeqCst);
    WOKEN.wake_up();
    assert_eq!(kthread_join(handle), 0);
    assert_eq!(RAN_ON.load(SeqCst), target);
    assert!(apic_irqs(RESCHEDULE_VECTOR, target) > ipis, "the wake-up sent CPU{target} a reschedule IPI");
}

/// `kthread_bind` refuses an offline CPU and a thread already woken; a
/// thread created by `kthread_create_on_cpu` for an offline CPU is not
/// left behind.
#[test_case]
fn kthread_bind_refuses_offline_cpus_and_running_threads() {
    use crate::arch::x86::smp::num_online_cpus;
    use crate::mm::layout::NR_CPUS;
    use super::scheduler::BindError;
    let tasks = nr_tasks_in_use();
    let handle = kthread_create(&|| 0, "bind-test").expect("a thread");
    assert_eq!(super::kthread::kthread_bind(&handle, NR_CPUS), Err(BindError::CpuOffline(NR_CPUS)));
    if num_online_cpus() < NR_CPUS {
        let offline = num_online_cpus();
        assert_eq!(super::kthread::kthread_bind(&handle, offline), Err(BindError::CpuOffline(offline)));
        assert!(matches!(super::kthread::kthread_create_on_cpu(&|| 0, offline, "offline"), Err(super::KthreadError::CpuOffline(_))));
    }
    assert_eq!(super::kthread::kthread_bind(&handle, 0), Ok(()));
    super::scheduler::wake_up_process(handle.task());
    assert_eq!(super::kthread::kthread_bind(&handle, 0), Err(BindError::AlreadyRunning));
    assert_eq!(kthread_join(handle), 0);
    assert_eq!(nr_tasks_in_use(), tasks, "every slot given back");
}
