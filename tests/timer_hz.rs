//! The tick rate comes from the command line: xtask boots this kernel with
//! `hz=1000` (see xtask/src/matrix.rs), ten times the default.
#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

use kernel::arch::x86::time::{TICK_RATE_TOLERANCE_PERCENT, measure_tick_rate_millihz};
use kernel::sched::scheduler::{DEF_TIMESLICE_MS, task_timeslice};
use kernel::time::{hz, msecs_to_jiffies};

#[unsafe(no_mangle)]
fn kernel_init() -> ! {
    test_main();
    unreachable!("the test runner ends the QEMU run")
}

#[test_case]
fn hz_comes_from_the_command_line() {
    assert_eq!(hz(), 1000);
    assert_eq!(msecs_to_jiffies(1), 1);
    assert_eq!(task_timeslice(), DEF_TIMESLICE_MS, "a slice is 100 ms of 1 ms ticks");
}

#[test_case]
fn the_timer_ticks_at_1000_hz_counted_against_the_tsc() {
    let measured = measure_tick_rate_millihz(500);
    log::info!("timer: {}.{:03} Hz measured against the TSC, HZ=1000", measured / 1000, measured % 1000);
    let allowed = 1000 * 1000 * TICK_RATE_TOLERANCE_PERCENT / 100;
    assert!(measured.abs_diff(1000 * 1000) <= allowed, "{measured} mHz is not 1000 Hz within {TICK_RATE_TOLERANCE_PERCENT}%");
}
