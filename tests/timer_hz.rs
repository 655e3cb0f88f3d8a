//! The tick rate comes from the command line: xtask boots this kernel with
//! `hz=250` (see xtask/src/matrix.rs), a common Linux `CONFIG_HZ`.  (1000
//! works too, but under TCG on a busy host too many of its 1 ms ticks
//! collapse for a rate test to be honest; see `tick_rates_millihz`.)
//!
//! It also boots with `initial_jiffies=0xfffffa00`, 1536 ticks (6 s) before
//! the 32-bit `jiffies` wraps, so that kernel timers can be run across the
//! wrap on the real wheel.
#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

use kernel::arch::x86::time::{TICK_RATE_TOLERANCE_PERCENT, tick_rates_millihz};
use kernel::sched::scheduler::{DEF_TIMESLICE_MS, task_timeslice};
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use kernel::time::{hz, jiffies_32, msecs_to_jiffies};
use kernel::timer::{TimerList, add_timer, check_timer_wheel, msleep};

kernel::test_kernel_init!();

#[test_case]
fn hz_comes_from_the_command_line() {
    assert_eq!(hz(), 250);
    assert_eq!(msecs_to_jiffies(4), 1);
    assert_eq!(msecs_to_jiffies(5), 2);
    assert_eq!(task_timeslice(), DEF_TIMESLICE_MS / 4, "a slice is 100 ms of 4 ms ticks");
}

#[test_case]
fn the_timer_ticks_at_250_hz_counted_against_the_tsc() {
    let rates = tick_rates_millihz(250, 5, 200);
    log::info!("timer: {rates} over five 200 ms windows of TSC time, HZ=250");
    let measured = rates.closest_millihz;
    let allowed = 250 * 1000 * TICK_RATE_TOLERANCE_PERCENT / 100;
    assert!(measured.abs_diff(250 * 1000) <= allowed, "{measured} mHz is not 250 Hz within {TICK_RATE_TOLERANCE_PERCENT}%");
}

const DISTANCES: [u32; 5] = [1000, 1, 600, 10, 100];
static FIRED_AT: [AtomicU32; 5] = [const { AtomicU32::new(0) }; 5];
static FIRED_ORDER: [AtomicUsize; 5] = [const { AtomicUsize::new(usize::MAX) }; 5];
static NR_FIRED: AtomicUsize = AtomicUsize::new(0);

fn probe(index: usize) {
    FIRED_AT[index].store(jiffies_32(), Ordering::SeqCst);
    FIRED_ORDER[index].store(NR_FIRED.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
}

/// Timers 1, 10, 100, 600 and 1000 ticks ahead, set 512 ticks before the
/// 32-bit `jiffies` wraps: the last two expire after the wrap (and sat in
/// tv2, cascaded down at the wrap, where every level's index is 0). Each
/// fires within one tick of its expiry, in expiry order.
#[test_case]
fn timers_fire_in_order_within_a_tick_of_their_expiry_across_the_jiffies_wrap() {
    let wrap_in = |now: u32| 0u32.wrapping_sub(now);
    assert!(wrap_in(jiffies_32()) > 512, "booted early enough before the wrap ({} ticks left)", wrap_in(jiffies_32()));
    while wrap_in(jiffies_32()) > 512 {
        msleep(4);
    }
    let now = jiffies_32();
    let timers: [TimerList; 5] = core::array::from_fn(|i| TimerList::new(probe, i).unwrap());
    for (timer, distance) in timers.iter().zip(DISTANCES) {
        timer.set_expires(now.wrapping_add(distance));
        add_timer(timer);
    }
    assert!(now.wrapping_add(1000) < now, "the 1000-tick timer expires after the wrap");
    while NR_FIRED.load(Ordering::SeqCst) < DISTANCES.len() {
        msleep(20);
    }
    assert!(jiffies_32() < now, "the counter wrapped meanwhile");
    for (index, distance) in DISTANCES.iter().enumerate() {
        let late = FIRED_AT[index].load(Ordering::SeqCst).wrapping_sub(now.wrapping_add(*distance));
        assert!(late <= 1, "the {distance}-tick timer fired {late} ticks after its expiry");
    }
    let order = FIRED_ORDER.each_ref().map(|o| o.load(Ordering::SeqCst));
    assert_eq!(order, [4, 0, 3, 1, 2], "in expiry order: 1, 10, 100, 600, 1000 ticks");
    check_timer_wheel().unwrap();
}
