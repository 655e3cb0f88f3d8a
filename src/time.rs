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
//! Two views of one counter, as in Linux: [`jiffies`] is the whole 64-bit
//! `jiffies_64`, which never wraps in practice; [`jiffies_32`] is its low
//! half, what 32-bit Linux calls `jiffies` and what the timer wheel counts
//! in. The low half wraps every 2^32 ticks (497 days at HZ=100), so every
//! comparison of 32-bit jiffies goes through [`time_after`] and friends,
//! which are right across the wrap. To flush out code that is not, the
//! counter starts five minutes before the wrap ([`INITIAL_JIFFIES`], as in
//! Linux), and `initial_jiffies=N` starts it wherever a test wants.

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

/// Sets the tick rate and starts the counter at `initial` (default
/// [`INITIAL_JIFFIES`] for that rate); called once by `time_init`, before
/// the timer runs.
pub fn set_hz(hz: u32, initial: Option<u32>) {
    HZ.store(hz, Ordering::Relaxed);
    JIFFIES_64.store(initial.unwrap_or(INITIAL_JIFFIES(hz)) as u64, Ordering::Relaxed);
}

/// Where the counter starts: five minutes before the 32-bit `jiffies`
/// wraps (Linux `INITIAL_JIFFIES`, `(unsigned int)(-300 * HZ)`).
#[allow(non_snake_case)]
pub const fn INITIAL_JIFFIES(hz: u32) -> u32 {
    0u32.wrapping_sub(300 * hz)
}

/// The low 32 bits of the counter: Linux's `jiffies` on i386.
#[doc(alias = "jiffies")]
pub fn jiffies_32() -> u32 {
    jiffies() as u32
}

/// Is `a` later than `b`? Right across the wrap, for times less than 2^31
/// ticks apart (Linux `time_after`).
pub const fn time_after(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) < 0
}

/// Is `a` earlier than `b`? (Linux `time_before`)
pub const fn time_before(a: u32, b: u32) -> bool {
    time_after(b, a)
}

/// Is `a` later than or equal to `b`? (Linux `time_after_eq`)
pub const fn time_after_eq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

/// Is `a` earlier than or equal to `b`? (Linux `time_before_eq`)
pub const fn time_before_eq(a: u32, b: u32) -> bool {
    time_after_eq(b, a)
}

/// The tick counter (Linux `get_jiffies_64`; on 32-bit Linux, `jiffies` is
/// its low half, [`jiffies_32`]). It starts at [`INITIAL_JIFFIES`], not 0:
/// use differences.
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

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn comparisons_hold_across_the_wrap() {
        let before_wrap = 0xffff_fff0_u32;
        let after_wrap = before_wrap.wrapping_add(0x20);
        assert!(after_wrap < before_wrap, "the raw values are the wrong way round");
        assert!(time_after(after_wrap, before_wrap) && time_before(before_wrap, after_wrap));
        assert!(!time_after(before_wrap, after_wrap) && !time_before(after_wrap, before_wrap));
        assert!(time_after_eq(after_wrap, after_wrap) && time_before_eq(after_wrap, after_wrap));
        assert!(!time_after(after_wrap, after_wrap));
        assert_eq!(INITIAL_JIFFIES(100), 0xffff_8ad0, "five minutes (30000 ticks) before the wrap");
        assert_eq!(INITIAL_JIFFIES(1000), 0u32.wrapping_sub(300_000));
    }
}
