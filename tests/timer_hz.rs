//! The tick rate comes from the command line: xtask boots this kernel with
//! `hz=250` (see xtask/src/matrix.rs), a common Linux `CONFIG_HZ`.  (1000
//! works too, but under TCG on a busy host too many of its 1 ms ticks
//! collapse for a rate test to be honest; see `tick_rates_millihz`.)
#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

use kernel::arch::x86::time::{TICK_RATE_TOLERANCE_PERCENT, tick_rates_millihz};
use kernel::sched::scheduler::{DEF_TIMESLICE_MS, task_timeslice};
use kernel::time::{hz, msecs_to_jiffies};

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
