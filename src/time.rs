//! The tick: `HZ` and `jiffies` (Linux `kernel/timer.c`, `include/linux/jiffies.h`).
//!
//! The timer interrupt arrives `HZ` times a second; each one adds 1 to
//! `jiffies_64` ([`do_timer`]) and charges the running thread one tick of its
//! time slice (`sched::scheduler_tick`).  Everything time-based in the kernel
//! counts in jiffies: time slices, timeouts, the timer-rate test.
//!
//! Linux fixes `HZ` when it is compiled (`CONFIG_HZ`: 100, 250, 300 or
//! 1000); here the `hz=` command-line word chooses it at boot (default
//! [`DEFAULT_HZ`], 100, the classic i386 value), so a student can watch the
//! same kernel at different tick rates.  That makes `HZ` a function,
//! [`hz`], rather than a constant.
//!
//! Simplified: no `INITIAL_JIFFIES` (Linux starts the counter five minutes
//! before it wraps, to flush out wrap-around bugs early); the 64-bit counter
//! does not wrap in practice and [`jiffies`] returns all of it.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The tick rate when the command line does not set one.
pub const DEFAULT_HZ: u32 = 100;

static HZ: AtomicU32 = AtomicU32::new(DEFAULT_HZ);

/// Ticks since the timer was started (Linux `jiffies_64`).
static JIFFIES_64: AtomicU64 = AtomicU64::new(0);

/// Timer interrupts per second (Linux `HZ`).
#[doc(alias = "HZ")]
pub fn hz() -> u32 {
    HZ.load(Ordering::Relaxed)
}

/// Sets the tick rate; called once by `time_init`, before the timer runs.
pub fn set_hz(hz: u32) {
    HZ.store(hz, Ordering::Relaxed);
}

/// Ticks since boot (Linux `get_jiffies_64`; on 32-bit Linux, `jiffies` is
/// its low half).
#[doc(alias = "get_jiffies_64")]
pub fn jiffies() -> u64 {
    JIFFIES_64.load(Ordering::Relaxed)
}

/// Advances the clock by `ticks` (Linux `do_timer`, called by the timer
/// interrupt with interrupts off).
pub fn do_timer(ticks: u64) {
    JIFFIES_64.fetch_add(ticks, Ordering::Relaxed);
}

/// Milliseconds to ticks, rounded up so a wait is never shorter than asked
/// (Linux `msecs_to_jiffies`).
pub fn msecs_to_jiffies(ms: u32) -> u64 {
    (ms as u64 * hz() as u64).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn msecs_round_up_to_whole_ticks() {
        // At 100 Hz a tick is 10 ms; at 1000 Hz, 1 ms (HZ as the kernel runs).
        let per_tick_ms = 1000 / hz();
        assert_eq!(msecs_to_jiffies(0), 0);
        assert_eq!(msecs_to_jiffies(1), 1);
        assert_eq!(msecs_to_jiffies(per_tick_ms), 1);
        assert_eq!(msecs_to_jiffies(per_tick_ms + 1), 2);
        assert_eq!(msecs_to_jiffies(1000), hz() as u64);
    }
}
