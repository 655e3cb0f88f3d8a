//! # Kernel timers: the 2.6 timer wheel, `schedule_timeout`, `msleep`
//!
//! A kernel timer calls a function at a given tick: `timer.function(data)`
//! once `jiffies` reaches `timer.expires`. Linux 2.6 keeps the pending
//! timers of each CPU in a *timer wheel* (`struct tvec_base`) that makes
//! adding, deleting and expiring all O(1), however many timers there are:
//!
//! ```text
//!  tv1: 256 lists, one per tick        timers due in the next 256 ticks
//!  tv2:  64 lists, 256 ticks each      ... in the next 2^14 ticks
//!  tv3:  64 lists, 2^14 ticks each     ... in the next 2^20 ticks
//!  tv4:  64 lists, 2^20 ticks each     ... in the next 2^26 ticks
//!  tv5:  64 lists, 2^26 ticks each     the rest, up to 2^32 ticks
//! ```
//!
//! `internal_add_timer` puts a timer in the list that covers its expiry,
//! relative to `timer_jiffies` (the tick the wheel has been run up to).
//! Every tick, `TIMER_SOFTIRQ` runs [`__run_timers`]: it advances
//! `timer_jiffies` one tick at a time, runs every timer of that tick's tv1
//! list, and each time tv1 wraps round (every 256 ticks) *cascades* the next
//! tv2 list down into tv1 — and when tv2 wraps, a tv3 list into tv2, and so
//! on. A timer therefore moves down at most four times before it runs.
//!
//! Expiry times are 32-bit `jiffies` ([`crate::time::jiffies_32`]), which
//! wrap; the wheel only ever subtracts them, so it works across the wrap
//! (the `timer_wrap` test kernel boots just before it).
//!
//! Timers run in softirq context: they may not sleep (`might_sleep`
//! reports it), may use `GFP_ATOMIC` and `kmap_atomic(KM_SOFTIRQ0)`, and
//! while one runs the thread it interrupted waits.
//!
//! On top of the wheel: [`schedule_timeout`] (sleep until woken or until a
//! timer wakes you), [`msleep`], and `wait_event_timeout` in `sched/wait.rs`.
//!
//! ## Linux source
//! `kernel/timer.c` of 2.6.11 (`tvec_base_t`, `internal_add_timer`,
//! `__mod_timer`, `add_timer`, `mod_timer`, `del_timer`, `del_timer_sync`,
//! `cascade`, `__run_timers`, `run_timer_softirq`, `run_local_timers`,
//! `process_timeout`, `schedule_timeout`, `msleep`), `include/linux/timer.h`,
//! `include/linux/jiffies.h`; the `/proc/timer_list` dump is modelled on
//! 2.6.21's. *Understanding the Linux Kernel*, 3rd ed., §6.5 "Software
//! Timers and Delay Functions".
//!
//! ## What we simplified
//! * Linux embeds a `struct timer_list` in whatever owns it. Without a heap
//!   we keep the timers in one fixed table of [`MAX_TIMERS`] entries,
//!   linked into the wheel's lists by index (like the page lists by PFN);
//!   a [`TimerList`] is the owner's handle on its entry, and gives it back
//!   when dropped (deleting the timer first).
//! * One lock covers the table and every CPU's wheel (Linux has a lock per
//!   CPU's base). Each CPU runs its own wheel from its own tick: the PIT's
//!   on the boot CPU, the local APIC timer's on the others
//!   (`arch/x86/apic.rs`); a timer fires on the CPU that added it.

use crate::arch::current::smp::smp_processor_id;
use crate::mm::layout::NR_CPUS;
#[cfg(target_os = "none")]
use crate::sched::{TASK_RUNNING, TASK_UNINTERRUPTIBLE};
#[cfg(target_os = "none")]
use crate::softirq::{SoftirqNr, open_softirq, raise_softirq};
use crate::spinlock::SpinLockIrq;
use crate::time::{jiffies_32, time_after_eq};
use core::sync::atomic::{AtomicUsize, Ordering};

/// Bits of the expiry that index tv1 (Linux `TVR_BITS`).
pub const TVR_BITS: u32 = 8;
/// Bits that index each of tv2..tv5 (Linux `TVN_BITS`).
pub const TVN_BITS: u32 = 6;
const TVR_SIZE: usize = 1 << TVR_BITS;
const TVN_SIZE: usize = 1 << TVN_BITS;
const TVR_MASK: u32 = TVR_SIZE as u32 - 1;
const TVN_MASK: u32 = TVN_SIZE as u32 - 1;
/// Lists per wheel: tv1 then tv2..tv5.
const NR_LISTS: usize = TVR_SIZE + 4 * TVN_SIZE;

/// Timers that can exist at once (each sleeping `schedule_timeout` uses
/// one for its duration).
pub const MAX_TIMERS: usize = 128;

/// "Sleep until woken, no timer" (Linux `MAX_SCHEDULE_TIMEOUT`).
pub const MAX_SCHEDULE_TIMEOUT: i64 = i64::MAX;

/// The function a timer calls, with its `data` (Linux `timer.function`).
pub type TimerFn = fn(usize);

#[derive(Clone, Copy)]
struct TimerEntry {
    function: TimerFn,
    data: usize,
    expires: u32,
    /// The wheel list it is on (a pending timer), and on which CPU's wheel.
    list: Option<(u8, u16)>,
    prev: Option<u16>,
    next: Option<u16>,
    /// Has it ever been added? (to tell a `del_timer` of a timer that was
    /// never added from one of a timer that already ran)
    ever_added: bool,
    in_use: bool,
}

const fn no_timer(_: usize) {}

const UNUSED: TimerEntry = TimerEntry {
    function: no_timer,
    data: 0,
    expires: 0,
    list: None,
    prev: None,
    next: None,
    ever_added: false,
    in_use: false,
};

/// One CPU's wheel (Linux `tvec_base_t`).
struct TvecBase {
    /// The tick the wheel has been run up to: the next tick to expire.
    timer_jiffies: u32,
    /// The timer whose function is running now, if any (what
    /// `del_timer_sync` waits for).
    running_timer: Option<u16>,
    /// The tv1 list of the tick being run (its timers are due).
    expiring: Option<u16>,
    /// tv1 (256 lists) then tv2..tv5 (64 each): the first entry of each.
    heads: [Option<u16>; NR_LISTS],
    /// The last entry of each list, so that adding at the tail is O(1).
    tails: [Option<u16>; NR_LISTS],
}

struct TimerWheel {
    timers: [TimerEntry; MAX_TIMERS],
    bases: [TvecBase; NR_CPUS],
    /// Test-only switch: skip the cascades, to show that the tests notice.
    #[cfg(test)]
    no_cascade: bool,
}

impl TimerWheel {
    /// No timers; every wheel at tick 0.
    const fn new() -> Self {
        TimerWheel {
            timers: [UNUSED; MAX_TIMERS],
            bases: [const {
                TvecBase {
                    timer_jiffies: 0,
                    running_timer: None,
                    expiring: None,
                    heads: [None; NR_LISTS],
                    tails: [None; NR_LISTS],
                }
            }; NR_CPUS],
            #[cfg(test)]
            no_cascade: false,
        }
    }
}

static WHEEL: SpinLockIrq<TimerWheel> = SpinLockIrq::new(TimerWheel::new());

/// Misuse reported so far (an `add_timer` of a pending timer, ...).
static TIMER_BUGS: AtomicUsize = AtomicUsize::new(0);

/// Why a timer could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerError {
    /// All [`MAX_TIMERS`] entries are in use.
    NoFreeTimer,
}

/// A kernel timer, owned by whoever made it (Linux `struct timer_list`;
/// see the module doc for why it is a handle). Dropping it deletes it.
pub struct TimerList {
    slot: u16,
}

impl TimerList {
    /// A timer that will call `function(data)` (Linux `init_timer` plus
    /// setting `.function` and `.data`; 2.6.15's `setup_timer`). Not
    /// pending until [`add_timer`] or [`mod_timer`].
    #[doc(alias = "init_timer", alias = "setup_timer")]
    pub fn new(function: TimerFn, data: usize) -> Result<TimerList, TimerError> {
        let slot = WHEEL.lock().alloc(function, data)?;
        Ok(TimerList { slot })
    }

    /// The expiry (Linux `timer.expires`).
    pub fn expires(&self) -> u32 {
        WHEEL.lock().timers[self.slot as usize].expires
    }

    /// Sets the expiry of a timer that is not pending, for [`add_timer`]
    /// (Linux `timer.expires = ...`).
    pub fn set_expires(&self, expires: u32) {
        WHEEL.lock().timers[self.slot as usize].expires = expires;
    }
}

impl Drop for TimerList {
    fn drop(&mut self) {
        del_timer_sync(self);
        WHEEL.lock().timers[self.slot as usize] = UNUSED;
    }
}

impl TvecBase {
    /// The list a timer expiring at `expires` belongs on (Linux
    /// `internal_add_timer`): relative to `timer_jiffies`, the first 256
    /// ticks are tv1's, then tv2 covers 2^14, tv3 2^20, tv4 2^26 and tv5
    /// the rest; a timer already due goes on the list of the next tick to
    /// run.
    fn list_for(&self, expires: u32) -> usize {
        let idx = expires.wrapping_sub(self.timer_jiffies);
        let level = |n: u32| (expires >> (TVR_BITS + n * TVN_BITS)) & TVN_MASK;
        if idx < TVR_SIZE as u32 {
            (expires & TVR_MASK) as usize
        } else if idx < 1 << (TVR_BITS + TVN_BITS) {
            TVR_SIZE + level(0) as usize
        } else if idx < 1 << (TVR_BITS + 2 * TVN_BITS) {
            TVR_SIZE + TVN_SIZE + level(1) as usize
        } else if idx < 1 << (TVR_BITS + 3 * TVN_BITS) {
            TVR_SIZE + 2 * TVN_SIZE + level(2) as usize
        } else if (idx as i32) < 0 {
            (self.timer_jiffies & TVR_MASK) as usize
        } else {
            TVR_SIZE + 3 * TVN_SIZE + level(3) as usize
        }
    }
}

impl TimerWheel {
    /// Takes a free entry for a timer calling `function(data)`.
    fn alloc(&mut self, function: TimerFn, data: usize) -> Result<u16, TimerError> {
        let slot = self.timers.iter().position(|t| !t.in_use).ok_or(TimerError::NoFreeTimer)?;
        self.timers[slot] = TimerEntry { function, data, in_use: true, ..UNUSED };
        Ok(slot as u16)
    }

    /// Makes timer `slot` pending at `expires` on CPU `cpu`'s wheel,
    /// moving it if it was pending; returns whether it was.
    fn modify(&mut self, slot: u16, cpu: usize, expires: u32) -> bool {
        let was_pending = self.detach_timer(slot);
        let entry = &mut self.timers[slot as usize];
        entry.expires = expires;
        entry.ever_added = true;
        self.internal_add_timer(cpu, slot);
        was_pending
    }

    /// Puts timer `slot` at the tail of the list its expiry calls for on
    /// CPU `cpu`'s wheel.
    fn internal_add_timer(&mut self, cpu: usize, slot: u16) {
        let list = self.bases[cpu].list_for(self.timers[slot as usize].expires);
        let tail = self.bases[cpu].tails[list];
        let timer = &mut self.timers[slot as usize];
        timer.list = Some((cpu as u8, list as u16));
        timer.prev = tail;
        timer.next = None;
        match tail {
            Some(tail) => self.timers[tail as usize].next = Some(slot),
            None => self.bases[cpu].heads[list] = Some(slot),
        }
        self.bases[cpu].tails[list] = Some(slot);
    }

    /// Takes timer `slot` off its list; returns whether it was pending
    /// (Linux `detach_timer`).
    fn detach_timer(&mut self, slot: u16) -> bool {
        let timer = self.timers[slot as usize];
        let Some((cpu, list)) = timer.list else { return false };
        let base = &mut self.bases[cpu as usize];
        match timer.prev {
            Some(prev) => self.timers[prev as usize].next = timer.next,
            None => base.heads[list as usize] = timer.next,
        }
        match timer.next {
            Some(next) => self.timers[next as usize].prev = timer.prev,
            None => base.tails[list as usize] = timer.prev,
        }
        let timer = &mut self.timers[slot as usize];
        timer.list = None;
        timer.prev = None;
        timer.next = None;
        true
    }

    /// Moves every timer of list `list` of CPU `cpu` to where it belongs
    /// now, one level down (Linux `cascade`).
    fn cascade(&mut self, cpu: usize, list: usize) {
        while let Some(slot) = self.bases[cpu].heads[list] {
            self.detach_timer(slot);
            self.internal_add_timer(cpu, slot);
        }
    }
}

/// Makes `timer` pending at `expires` on this CPU, whether or not it was
/// pending; returns whether it was (Linux `__mod_timer`).
fn __mod_timer(timer: &TimerList, expires: u32) -> bool {
    WHEEL.lock().modify(timer.slot, smp_processor_id(), expires)
}

/// Is `timer` pending? (Linux `timer_pending`)
pub fn timer_pending(timer: &TimerList) -> bool {
    WHEEL.lock().timers[timer.slot as usize].list.is_some()
}

/// Starts a timer that is not pending, at the expiry set with
/// [`TimerList::set_expires`] (Linux `add_timer`). Adding a pending timer
/// is a bug (Linux `BUG_ON(timer_pending(timer))`): reported, and the
/// timer keeps its old expiry.
#[track_caller]
pub fn add_timer(timer: &TimerList) {
    if timer_pending(timer) {
        report_timer_bug("add_timer() of a pending timer; ignored");
        return;
    }
    let expires = timer.expires();
    __mod_timer(timer, expires);
}

/// Makes `timer` pending at `expires`, moving it if it already was;
/// returns whether it was (Linux `mod_timer`).
pub fn mod_timer(timer: &TimerList, expires: u32) -> bool {
    __mod_timer(timer, expires)
}

/// Takes `timer` off the wheel; returns whether it was pending (Linux
/// `del_timer`). Its function may still be running on another CPU: see
/// [`del_timer_sync`]. Deleting a timer that was never added is allowed,
/// as in Linux, but reported: it usually means the caller confused two
/// timers.
#[track_caller]
pub fn del_timer(timer: &TimerList) -> bool {
    let mut wheel = WHEEL.lock();
    if !wheel.timers[timer.slot as usize].ever_added {
        drop(wheel);
        report_timer_bug("del_timer() of a timer that was never added");
        return false;
    }
    wheel.detach_timer(timer.slot)
}

/// [`del_timer`], then waits until the timer's function is not running on
/// any CPU (Linux `del_timer_sync`): after it, the function is neither
/// pending nor running, so what it uses may be freed. It must not be
/// called from an interrupt (the function it waits for could be the one
/// it interrupted, on this very CPU: it would wait for ever); that is
/// reported and it returns at once, like `del_timer`.
#[track_caller]
pub fn del_timer_sync(timer: &TimerList) -> bool {
    if crate::preempt::in_interrupt() {
        report_timer_bug("del_timer_sync() from interrupt context; not waiting");
        return WHEEL.lock().detach_timer(timer.slot);
    }
    loop {
        let mut wheel = WHEEL.lock();
        let was_pending = wheel.detach_timer(timer.slot);
        if !wheel.bases.iter().any(|base| base.running_timer == Some(timer.slot)) {
            return was_pending;
        }
        drop(wheel);
        core::hint::spin_loop();
    }
}

/// Is `timer`'s function running now, on some CPU?
pub fn timer_is_running(timer: &TimerList) -> bool {
    WHEEL.lock().bases.iter().any(|base| base.running_timer == Some(timer.slot))
}

#[track_caller]
fn report_timer_bug(what: &str) {
    TIMER_BUGS.fetch_add(1, Ordering::Relaxed);
    let at = core::panic::Location::caller();
    log::error!("BUG: {what} at {}:{}", at.file(), at.line());
    crate::arch::current::traps::dump_stack();
}

/// Timer misuse reported so far.
pub fn timer_bugs() -> usize {
    TIMER_BUGS.load(Ordering::Relaxed)
}

impl TimerWheel {
    /// The next timer of CPU `cpu` that is due at `now`, taken off the
    /// wheel; `None` when the wheel has caught up (the steps of Linux's
    /// `__run_timers`): tick by tick from `timer_jiffies` up to `now`,
    /// cascade the upper levels down whenever tv1 wraps (at tick 0 mod 256
    /// the next tv2 list, and if that index is 0 too, the next tv3 list,
    /// and so on), advance `timer_jiffies`, and hand out the timers of that
    /// tick's tv1 list one by one.
    fn next_due(&mut self, cpu: usize, now: u32) -> Option<u16> {
        loop {
            let base = &mut self.bases[cpu];
            if let Some(list) = base.expiring {
                match base.heads[list as usize] {
                    Some(slot) => {
                        self.detach_timer(slot);
                        return Some(slot);
                    }
                    None => base.expiring = None,
                }
            }
            let tick = self.bases[cpu].timer_jiffies;
            if !time_after_eq(now, tick) {
                return None;
            }
            let index = tick & TVR_MASK;
            #[cfg(test)]
            let cascading = !self.no_cascade;
            #[cfg(not(test))]
            let cascading = true;
            if index == 0 && cascading {
                for level in 0..4u32 {
                    let slot = ((tick >> (TVR_BITS + level * TVN_BITS)) & TVN_MASK) as usize;
                    self.cascade(cpu, TVR_SIZE + level as usize * TVN_SIZE + slot);
                    if slot != 0 {
                        break;
                    }
                }
            }
            let base = &mut self.bases[cpu];
            base.timer_jiffies = tick.wrapping_add(1);
            base.expiring = Some(index as u16);
        }
    }
}

/// Runs every timer of this CPU that is due (Linux `__run_timers`, see
/// [`TimerWheel::next_due`]), calling each due timer's function with the
/// lock dropped: the function may add, modify or delete timers, itself
/// included. While it runs, `running_timer` names it for `del_timer_sync`.
#[cfg(target_os = "none")]
fn __run_timers(cpu: usize) {
    let mut wheel = WHEEL.lock();
    while let Some(slot) = wheel.next_due(cpu, jiffies_32()) {
        let TimerEntry { function, data, .. } = wheel.timers[slot as usize];
        wheel.bases[cpu].running_timer = Some(slot);
        drop(wheel);
        function(data);
        wheel = WHEEL.lock();
        wheel.bases[cpu].running_timer = None;
    }
}

/// `TIMER_SOFTIRQ`'s action (Linux `run_timer_softirq`).
#[cfg(target_os = "none")]
fn run_timer_softirq() {
    __run_timers(smp_processor_id());
}

/// Called by the tick: raises `TIMER_SOFTIRQ`, which runs the wheel on the
/// way out of the interrupt (Linux `run_local_timers`).
#[cfg(target_os = "none")]
pub fn run_local_timers() {
    raise_softirq(SoftirqNr::TIMER_SOFTIRQ);
}

/// Starts the wheels at the current tick and installs `TIMER_SOFTIRQ`
/// (Linux `init_timers`). Called by `start_kernel` once `time_init` has set
/// the counter's start, before interrupts are enabled.
#[cfg(target_os = "none")]
pub fn init_timers() {
    let now = jiffies_32();
    for base in &mut WHEEL.lock().bases {
        base.timer_jiffies = now;
    }
    open_softirq(SoftirqNr::TIMER_SOFTIRQ, Some(run_timer_softirq));
}

/// The timer function of [`schedule_timeout`]: wakes the sleeper (Linux
/// `process_timeout`).
#[cfg(target_os = "none")]
fn process_timeout(task: usize) {
    crate::sched::wake_up_process(crate::sched::task::task(task));
}

/// Sleeps until woken or until `timeout` ticks have passed, in the state
/// the caller set with `set_current_state` (Linux `schedule_timeout`).
/// Returns the ticks that were left when it was woken (0 if the time ran
/// out). `MAX_SCHEDULE_TIMEOUT` sleeps with no timer. A negative timeout
/// is a caller's bug: reported with a call trace, and it returns 0 at
/// once with the task running again, as Linux does.
#[cfg(target_os = "none")]
#[track_caller]
pub fn schedule_timeout(timeout: i64) -> i64 {
    if timeout == MAX_SCHEDULE_TIMEOUT {
        crate::sched::schedule();
        return timeout;
    }
    if timeout < 0 {
        report_timer_bug("schedule_timeout: wrong timeout value (negative)");
        crate::sched::set_current_state(TASK_RUNNING);
        return 0;
    }
    let timeout = timeout.min(i32::MAX as i64 - 1);
    let expire = jiffies_32().wrapping_add(timeout as u32);
    let timer = match TimerList::new(process_timeout, crate::sched::current().index()) {
        Ok(timer) => timer,
        Err(why) => {
            log::error!("schedule_timeout: no timer ({why:?}); not sleeping");
            crate::sched::set_current_state(TASK_RUNNING);
            return 0;
        }
    };
    mod_timer(&timer, expire);
    crate::sched::schedule();
    drop(timer);
    (expire.wrapping_sub(jiffies_32()) as i32).max(0) as i64
}

/// [`schedule_timeout`] in `TASK_UNINTERRUPTIBLE` (Linux
/// `schedule_timeout_uninterruptible`, 2.6.14).
#[cfg(target_os = "none")]
#[track_caller]
pub fn schedule_timeout_uninterruptible(timeout: i64) -> i64 {
    crate::sched::set_current_state(TASK_UNINTERRUPTIBLE);
    schedule_timeout(timeout)
}

/// Sleeps at least `msecs` milliseconds (Linux `msleep`): the ticks that
/// many milliseconds take, plus one, because the first tick may be due
/// almost at once.
#[cfg(target_os = "none")]
#[track_caller]
pub fn msleep(msecs: u32) {
    crate::preempt::might_sleep();
    let mut timeout = crate::time::msecs_to_jiffies(msecs) as i64 + 1;
    while timeout > 0 {
        timeout = schedule_timeout_uninterruptible(timeout);
    }
}

/// Prints the pending timers of every CPU, in the spirit of Linux's
/// `/proc/timer_list`: the wheel's position, then each timer with its
/// expiry, how far away that is, and its function.
pub fn show_timer_list() {
    let wheel = WHEEL.lock();
    let now = jiffies_32();
    log::info!("Timer List Version: linmem386 (2.6 timer wheel)");
    log::info!("jiffies: {now:#010x}");
    // Linux: for_each_online_cpu (CPUs come up in order and stay up).
    for (cpu, base) in wheel.bases.iter().enumerate().take(crate::arch::current::smp::num_online_cpus()) {
        let pending = wheel.timers.iter().filter(|t| t.list.is_some_and(|(c, _)| c as usize == cpu)).count();
        log::info!("cpu: {cpu}  timer_jiffies: {:#010x}  pending: {pending}", base.timer_jiffies);
        for (slot, timer) in wheel.timers.iter().enumerate() {
            if let Some((c, list)) = timer.list
                && c as usize == cpu
            {
                let level = if (list as usize) < TVR_SIZE { 1 } else { 2 + (list as usize - TVR_SIZE) / TVN_SIZE };
                log::info!(
                    " #{slot}: expires {:#010x} (in {} ticks), tv{level}, function {:#010x}, data {:#x}",
                    timer.expires,
                    timer.expires.wrapping_sub(now) as i32,
                    timer.function as usize,
                    timer.data
                );
            }
        }
    }
}

/// Timers in use (pending or not), and pending.
pub fn nr_timers() -> (usize, usize) {
    let wheel = WHEEL.lock();
    let in_use = wheel.timers.iter().filter(|t| t.in_use).count();
    let pending = wheel.timers.iter().filter(|t| t.list.is_some()).count();
    (in_use, pending)
}

impl TimerWheel {
    /// Checks every CPU's wheel: each list's links agree both ways, each
    /// pending timer is on exactly the list it records, and each list holds
    /// only timers that belong there (tv1: expiry on that tick, or overdue;
    /// upper levels: the expiry's bits for that level).
    fn check(&self) -> Result<(), &'static str> {
        let mut seen = 0;
        for (cpu, base) in self.bases.iter().enumerate() {
            for list in 0..NR_LISTS {
                let mut prev = None;
                let mut cursor = base.heads[list];
                while let Some(slot) = cursor {
                    let timer = self.timers[slot as usize];
                    if timer.list != Some((cpu as u8, list as u16)) || timer.prev != prev {
                        return Err("a timer's links disagree with the list it is on");
                    }
                    if list < TVR_SIZE {
                        let overdue = !time_after_eq(timer.expires, base.timer_jiffies);
                        if (timer.expires & TVR_MASK) as usize != list && !overdue {
                            return Err("a tv1 timer sits on the wrong tick");
                        }
                    } else {
                        let (level, index) = ((list - TVR_SIZE) / TVN_SIZE, (list - TVR_SIZE) % TVN_SIZE);
                        if ((timer.expires >> (TVR_BITS + level as u32 * TVN_BITS)) & TVN_MASK) as usize != index {
                            return Err("an upper-level timer sits in the wrong list");
                        }
                    }
                    seen += 1;
                    prev = cursor;
                    cursor = timer.next;
                }
                if base.tails[list] != prev {
                    return Err("a list's tail is not its last timer");
                }
            }
        }
        let pending = self.timers.iter().filter(|t| t.list.is_some()).count();
        if pending != seen {
            return Err("a pending timer is on no list");
        }
        Ok(())
    }
}

/// Checks the timer wheels (see `TimerWheel::check`).
pub fn check_timer_wheel() -> Result<(), &'static str> {
    WHEEL.lock().check()
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::*;

    /// A private wheel whose clock the test drives, starting at `start`.
    fn wheel_at(start: u32) -> Box<TimerWheel> {
        let mut wheel = Box::new(TimerWheel::new());
        wheel.bases[0].timer_jiffies = start;
        wheel
    }

    /// The level a pending timer sits on: 1 for tv1 ... 5 for tv5.
    fn level_of(wheel: &TimerWheel, slot: u16) -> usize {
        let (_, list) = wheel.timers[slot as usize].list.expect("pending");
        if (list as usize) < TVR_SIZE { 1 } else { 2 + (list as usize - TVR_SIZE) / TVN_SIZE }
    }

    #[test]
    fn a_timer_goes_on_the_level_that_covers_its_distance() {
        let start = 0x1234_5600;
        let mut wheel = wheel_at(start);
        let cases = [(0, 1), (255, 1), (256, 2), ((1 << 14) - 1, 2), (1 << 14, 3), (1 << 20, 4), (1 << 26, 5), (u32::MAX / 2, 5)];
        for (distance, level) in cases {
            let slot = wheel.alloc(no_timer, 0).unwrap();
            wheel.modify(slot, 0, start.wrapping_add(distance));
            assert_eq!(level_of(&wheel, slot), level, "{distance} ticks away");
        }
        // A timer already due goes on the list of the next tick to run.
        let late = wheel.alloc(no_timer, 0).unwrap();
        wheel.modify(late, 0, start - 5);
        assert_eq!(wheel.timers[late as usize].list, Some((0, (start & TVR_MASK) as u16)));
        wheel.check().unwrap();
    }

    /// Timers on every level, over a span that crosses the 32-bit wrap:
    /// each fires exactly at its tick (not one tick early), in expiry order,
    /// after cascading down from tv2..tv5 as `timer_jiffies` passes their
    /// boundaries.
    #[test]
    fn timers_fire_at_their_tick_in_order_through_every_level_and_across_the_wrap() {
        let start = 0xfc00_0000u32 - 50;
        let mut wheel = wheel_at(start);
        let distances: [u32; 10] = [1, 10, 100, 1000, 300, 20_000, 2_000_000, 70_000_000, 256, 0];
        let mut expected: Vec<(u32, u16)> = Vec::new();
        for distance in distances {
            let slot = wheel.alloc(no_timer, distance as usize).unwrap();
            let expires = start.wrapping_add(distance);
            wheel.modify(slot, 0, expires);
            expected.push((distance, slot));
        }
        assert_eq!(level_of(&wheel, expected[7].1), 5, "the 70,000,000-tick timer starts in tv5");
        assert!(start.wrapping_add(70_000_000) < start, "the span crosses the wrap");
        expected.sort();
        for (distance, slot) in expected {
            let expires = start.wrapping_add(distance);
            if distance > 0 {
                assert_eq!(wheel.next_due(0, expires.wrapping_sub(1)), None, "nothing due before {distance}");
                wheel.check().unwrap();
            }
            assert_eq!(wheel.next_due(0, expires), Some(slot), "the {distance}-tick timer fires at its tick");
            assert_eq!(wheel.next_due(0, expires), None, "and alone");
        }
        assert!(wheel.timers.iter().all(|t| t.list.is_none()));
    }

    /// With the cascades switched off, a timer beyond tv1's 256 ticks never
    /// fires: the test above would notice a wheel that does not cascade.
    #[test]
    fn without_cascading_a_timer_beyond_tv1_never_fires() {
        let start = 0x1000_0000;
        let mut wheel = wheel_at(start);
        wheel.no_cascade = true;
        let near = wheel.alloc(no_timer, 0).unwrap();
        let far = wheel.alloc(no_timer, 1).unwrap();
        wheel.modify(near, 0, start + 10);
        wheel.modify(far, 0, start + 300);
        assert_eq!(wheel.next_due(0, start + 10), Some(near));
        assert_eq!(wheel.next_due(0, start + 10_000), None, "the tv2 timer is stuck");
        wheel.no_cascade = false;
        wheel.modify(far, 0, start + 10_300);
        assert_eq!(wheel.next_due(0, start + 10_300), Some(far), "with cascading it fires");
    }

    /// 1,000 random adds, modifies and deletes at random times, the clock
    /// moving on in between: the wheel stays consistent after every step,
    /// and each timer fires exactly once, at its last expiry, unless it was
    /// deleted.
    #[test]
    fn random_add_mod_del_keeps_the_wheel_consistent() {
        let start = 0xffff_0000u32;
        let mut wheel = wheel_at(start);
        let mut rng = crate::xorshift::XorShift32(0x7153_9bd1);
        let mut now = start;
        let mut model: Vec<Option<u32>> = Vec::new();
        let slots: Vec<u16> = (0..64).map(|i| wheel.alloc(no_timer, i).unwrap()).collect();
        model.resize(slots.len(), None);
        let mut fired = 0;
        for step in 0..1000 {
            let i = rng.below(slots.len());
            match rng.below(4) {
                0 | 1 => {
                    let distance = [rng.below(300), rng.below(20_000), rng.below(1 << 21)][rng.below(3)] as u32;
                    let expires = now.wrapping_add(distance);
                    let was = wheel.modify(slots[i], 0, expires);
                    assert_eq!(was, model[i].is_some(), "step {step}");
                    model[i] = Some(expires);
                }
                2 => {
                    assert_eq!(wheel.detach_timer(slots[i]), model[i].is_some(), "step {step}");
                    model[i] = None;
                }
                _ => {
                    now = now.wrapping_add(rng.below(5000) as u32);
                    while let Some(slot) = wheel.next_due(0, now) {
                        let index = slots.iter().position(|&s| s == slot).unwrap();
                        let expires = model[index].take().expect("only pending timers fire");
                        assert!(time_after_eq(now, expires), "step {step}: not early");
                        assert!(!time_after_eq(wheel.bases[0].timer_jiffies.wrapping_sub(2), expires), "step {step}: on its tick");
                        fired += 1;
                    }
                }
            }
            wheel.check().unwrap_or_else(|e| panic!("step {step}: {e}"));
        }
        assert!(fired > 50, "{fired} timers fired");
    }
}

#[cfg(all(test, target_os = "none"))]
mod kernel_tests {
    use super::*;
    use crate::arch::x86::irq::{IrqReturn, TIMER_IRQ, free_irq, request_irq};
    use crate::spinlock::SpinLockIrq;
    use core::sync::atomic::{AtomicBool, AtomicU32};

    const NR_PROBES: usize = 4;
    /// The tick each probe timer fired at.
    static FIRED_AT: [AtomicU32; NR_PROBES] = [const { AtomicU32::new(0) }; NR_PROBES];
    /// The order they fired in.
    static FIRED_ORDER: [AtomicUsize; NR_PROBES] = [const { AtomicUsize::new(usize::MAX) }; NR_PROBES];
    static NR_FIRED: AtomicUsize = AtomicUsize::new(0);

    fn probe(index: usize) {
        FIRED_AT[index].store(jiffies_32(), Ordering::SeqCst);
        FIRED_ORDER[index].store(NR_FIRED.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
    }

    fn reset_probes() {
        NR_FIRED.store(0, Ordering::SeqCst);
        for index in 0..NR_PROBES {
            FIRED_AT[index].store(0, Ordering::SeqCst);
            FIRED_ORDER[index].store(usize::MAX, Ordering::SeqCst);
        }
    }

    /// Timers 100, 1, 30 and 10 ticks ahead (added in that order) each fire
    /// within one tick of their expiry, in expiry order, and leave the
    /// wheel empty and consistent.
    #[test_case]
    fn timers_fire_within_one_tick_of_their_expiry_in_order() {
        reset_probes();
        let (in_use, pending) = nr_timers();
        let distances = [100u32, 1, 30, 10];
        let now = jiffies_32();
        let timers: [TimerList; NR_PROBES] = core::array::from_fn(|i| TimerList::new(probe, i).unwrap());
        for (timer, distance) in timers.iter().zip(distances) {
            timer.set_expires(now.wrapping_add(distance));
            add_timer(timer);
        }
        check_timer_wheel().unwrap();
        while NR_FIRED.load(Ordering::SeqCst) < NR_PROBES {
            crate::timer::msleep(10);
        }
        for (index, distance) in distances.iter().enumerate() {
            let late = FIRED_AT[index].load(Ordering::SeqCst).wrapping_sub(now.wrapping_add(*distance));
            assert!(late <= 1, "the {distance}-tick timer fired {late} ticks late");
        }
        let order = FIRED_ORDER.each_ref().map(|o| o.load(Ordering::SeqCst));
        assert_eq!(order, [3, 0, 2, 1], "in expiry order: 1, 10, 30, 100 ticks");
        assert!(timers.iter().all(|t| !timer_pending(t)));
        drop(timers);
        assert_eq!(nr_timers(), (in_use, pending), "every entry given back");
        check_timer_wheel().unwrap();
    }

    /// `mod_timer` moves a pending timer (and says it was pending);
    /// `del_timer` cancels one, which then never fires.
    #[test_case]
    fn mod_timer_moves_a_timer_and_del_timer_cancels_it() {
        reset_probes();
        let now = jiffies_32();
        let moved = TimerList::new(probe, 0).unwrap();
        let cancelled = TimerList::new(probe, 1).unwrap();
        assert!(!mod_timer(&moved, now.wrapping_add(50)), "not pending before");
        assert!(mod_timer(&moved, now.wrapping_add(3)), "pending: moved");
        mod_timer(&cancelled, now.wrapping_add(2));
        assert!(del_timer(&cancelled) && !timer_pending(&cancelled));
        assert!(!del_timer(&cancelled), "no longer pending");
        crate::timer::msleep(60);
        assert_eq!(NR_FIRED.load(Ordering::SeqCst), 1, "only the moved one fired");
        assert!(FIRED_AT[0].load(Ordering::SeqCst).wrapping_sub(now) <= 4, "at its new expiry");
    }

    /// `add_timer` of a pending timer and `del_timer` of a timer never
    /// added are reported; the first changes nothing, the second returns
    /// false.
    #[test_case]
    fn add_timer_of_a_pending_timer_and_del_timer_of_one_never_added_are_reported() {
        let bugs = timer_bugs();
        let now = jiffies_32();
        let timer = TimerList::new(probe, 0).unwrap();
        timer.set_expires(now.wrapping_add(500));
        add_timer(&timer);
        timer.set_expires(now.wrapping_add(5));
        add_timer(&timer);
        assert_eq!(timer_bugs(), bugs + 1, "a second add_timer is a bug");
        let never_added = TimerList::new(probe, 1).unwrap();
        assert!(!del_timer(&never_added));
        assert_eq!(timer_bugs(), bugs + 2, "deleting a timer that was never added is reported");
        assert!(del_timer(&timer), "the first add_timer still stands");
        check_timer_wheel().unwrap();
    }

    static RUNNING_SEEN_FROM_IRQ: AtomicBool = AtomicBool::new(false);
    static SYNC_FROM_IRQ_RETURNED: AtomicBool = AtomicBool::new(false);
    static LONG_DONE: AtomicBool = AtomicBool::new(false);
    static LONG_TIMER: SpinLockIrq<Option<TimerList>> = SpinLockIrq::new(None);

    /// A timer function that runs for three ticks, with interrupts on.
    fn long_running(_: usize) {
        let start = crate::time::jiffies();
        while crate::time::jiffies() < start + 3 {
            core::hint::spin_loop();
        }
        LONG_DONE.store(true, Ordering::SeqCst);
    }

    /// The tick, interrupting the long timer function.
    fn look_at_the_running_timer(_irq: u32) -> IrqReturn {
        if let Some(timer) = LONG_TIMER.try_lock().as_ref().and_then(|t| t.as_ref())
            && timer_is_running(timer)
            && !RUNNING_SEEN_FROM_IRQ.swap(true, Ordering::SeqCst)
        {
            del_timer_sync(timer);
            SYNC_FROM_IRQ_RETURNED.store(true, Ordering::SeqCst);
        }
        IrqReturn::Handled
    }

    /// While a timer's function runs, the wheel names it as running — what
    /// `del_timer_sync` waits on (with one CPU running, nothing else can
    /// call it meanwhile but an interrupt). From that interrupt
    /// `del_timer_sync` is reported and returns without waiting, instead of
    /// spinning for ever on its own CPU. Afterwards the timer is neither
    /// pending nor running.
    #[test_case]
    fn a_running_timer_is_visible_and_del_timer_sync_from_an_interrupt_does_not_wait() {
        RUNNING_SEEN_FROM_IRQ.store(false, Ordering::SeqCst);
        SYNC_FROM_IRQ_RETURNED.store(false, Ordering::SeqCst);
        LONG_DONE.store(false, Ordering::SeqCst);
        let bugs = timer_bugs();
        let timer = TimerList::new(long_running, 0).unwrap();
        mod_timer(&timer, jiffies_32().wrapping_add(2));
        *LONG_TIMER.lock() = Some(timer);
        let cookie = request_irq(TIMER_IRQ, look_at_the_running_timer, "timer-test").unwrap();
        while !LONG_DONE.load(Ordering::SeqCst) {
            crate::sched::schedule();
        }
        free_irq(cookie);
        let timer = LONG_TIMER.lock().take().unwrap();
        assert!(RUNNING_SEEN_FROM_IRQ.load(Ordering::SeqCst), "the interrupt saw the timer running");
        assert!(SYNC_FROM_IRQ_RETURNED.load(Ordering::SeqCst), "and del_timer_sync returned in it");
        assert_eq!(timer_bugs(), bugs + 1, "reported");
        assert!(!timer_is_running(&timer) && !timer_pending(&timer));
        assert!(!del_timer_sync(&timer));
    }

    static WAKE_EARLY_TASK: AtomicUsize = AtomicUsize::new(0);

    fn wake_the_sleeper(task: usize) {
        crate::sched::wake_up_process(crate::sched::task::task(task));
    }

    /// `schedule_timeout` returns 0 when its time runs out and what is left
    /// when woken early; a negative timeout is reported and returns 0 at
    /// once with the task running.
    #[test_case]
    fn schedule_timeout_returns_the_time_left() {
        let start = jiffies_32();
        assert_eq!(schedule_timeout_uninterruptible(5), 0);
        let slept = jiffies_32().wrapping_sub(start);
        assert!((5..=6).contains(&slept), "slept {slept} ticks for 5");

        WAKE_EARLY_TASK.store(crate::sched::current().index(), Ordering::SeqCst);
        let early = TimerList::new(wake_the_sleeper, crate::sched::current().index()).unwrap();
        mod_timer(&early, jiffies_32().wrapping_add(3));
        let left = schedule_timeout_uninterruptible(100);
        assert!((96..=97).contains(&left), "woken after 3 of 100 ticks: {left} left");
        drop(early);

        let bugs = timer_bugs();
        crate::sched::set_current_state(TASK_UNINTERRUPTIBLE);
        assert_eq!(schedule_timeout(-1), 0);
        assert_eq!(timer_bugs(), bugs + 1);
        assert_eq!(crate::sched::current().state(), TASK_RUNNING);
    }

    /// `msleep(20)` at HZ=100: two ticks' worth plus the one Linux adds,
    /// and at least 20 ms of TSC time.
    #[test_case]
    fn msleep_20_sleeps_two_ticks_and_twenty_milliseconds() {
        if crate::time::hz() != 100 {
            crate::skip!("the numbers are for HZ=100");
        }
        let (ticks_before, tsc_before) = (crate::time::jiffies(), crate::arch::x86::cpu::rdtsc());
        msleep(20);
        let ticks = crate::time::jiffies() - ticks_before;
        let micros = (crate::arch::x86::cpu::rdtsc() - tsc_before) * 1000 / crate::arch::x86::time::tsc_khz();
        assert!((2..=3).contains(&ticks), "{ticks} ticks");
        assert!(micros >= 19_000, "{micros} us of TSC time");
    }

    static CONDITION: AtomicBool = AtomicBool::new(false);
    static WAITERS: crate::sched::WaitQueueHead = crate::sched::WaitQueueHead::new();

    fn make_it_true(_: usize) {
        CONDITION.store(true, Ordering::SeqCst);
        WAITERS.wake_up();
    }

    /// `wait_event_timeout`: the condition made true by a timer after 3
    /// ticks leaves most of the timeout; a condition that never comes true
    /// returns 0 after the timeout.
    #[test_case]
    fn wait_event_timeout_returns_the_time_left_or_0() {
        CONDITION.store(false, Ordering::SeqCst);
        let timer = TimerList::new(make_it_true, 0).unwrap();
        mod_timer(&timer, jiffies_32().wrapping_add(3));
        let left = WAITERS.wait_event_timeout(|| CONDITION.load(Ordering::SeqCst), 50);
        assert!((46..=47).contains(&left), "{left} ticks left of 50");
        let start = jiffies_32();
        assert_eq!(WAITERS.wait_event_timeout(|| false, 4), 0);
        assert!(jiffies_32().wrapping_sub(start) >= 4);
    }

    static SLEEPY_RAN: AtomicBool = AtomicBool::new(false);

    fn sleepy_timer(_: usize) {
        let node = crate::mm::init::node();
        node.__free_page(node.alloc_page(crate::mm::gfp::GfpFlags::GFP_KERNEL).expect("plenty of memory"));
        SLEEPY_RAN.store(true, Ordering::SeqCst);
    }

    /// A timer function that calls something that may sleep (a `GFP_KERNEL`
    /// allocation) is reported by `might_sleep`: timers run in softirq
    /// context.
    #[test_case]
    fn a_timer_function_that_may_sleep_is_reported() {
        SLEEPY_RAN.store(false, Ordering::SeqCst);
        let reports = crate::preempt::might_sleep_reports();
        let timer = TimerList::new(sleepy_timer, 0).unwrap();
        mod_timer(&timer, jiffies_32().wrapping_add(1));
        while !SLEEPY_RAN.load(Ordering::SeqCst) {
            crate::sched::schedule();
        }
        assert_eq!(crate::preempt::might_sleep_reports(), reports + 1);
        assert!(crate::preempt::last_might_sleep_report().unwrap().preempt_count.in_softirq());
    }

    /// 1,000 random operations on 16 real timers, the clock running:
    /// `check_timer_wheel` holds after every one, and every entry comes
    /// back.
    #[test_case]
    fn random_timer_operations_keep_the_wheel_consistent() {
        let (in_use, pending) = nr_timers();
        let mut rng = crate::xorshift::XorShift32(0x51ed_2704);
        let timers: [TimerList; 16] = core::array::from_fn(|_| TimerList::new(no_timer, 0).unwrap());
        for step in 0..1000 {
            let timer = &timers[rng.below(timers.len())];
            match rng.below(3) {
                0 => {
                    mod_timer(timer, jiffies_32().wrapping_add([rng.below(8), rng.below(400), rng.below(30_000)][rng.below(3)] as u32));
                }
                1 => {
                    if timer_pending(timer) {
                        del_timer(timer);
                    }
                }
                _ => crate::sched::schedule(),
            }
            check_timer_wheel().unwrap_or_else(|e| panic!("step {step}: {e}"));
        }
        drop(timers);
        assert_eq!(nr_timers(), (in_use, pending));
    }
}
