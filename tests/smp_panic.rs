//! A panic on another CPU: a thread bound to CPU 1 panics while the test
//! runs on CPU 0. The panicking CPU stops the other one (`smp_send_stop`),
//! the report names CPU 1, the test fails, and the next boot runs both CPUs
//! again. xtask boots this kernel with two CPUs and expects exactly that.
#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

use kernel::arch::x86::smp::num_online_cpus;
use kernel::sched::{kthread_create_on_cpu, kthread_join, wake_up_process};

kernel::test_kernel_init!();

#[test_case]
fn a_panic_on_cpu_1_is_reported_with_its_number() {
    let thread = kthread_create_on_cpu(&|| -> i32 { panic!("a panic on CPU 1") }, 1, "panicker").expect("a second CPU");
    wake_up_process(thread.task());
    kthread_join(thread);
}

#[test_case]
fn both_cpus_run_again_after_the_panic() {
    assert_eq!(num_online_cpus(), 2);
    let thread = kthread_create_on_cpu(&|| kernel::arch::x86::smp::smp_processor_id() as i32, 1, "after").expect("CPU 1");
    wake_up_process(thread.task());
    assert_eq!(kthread_join(thread), 1);
}
