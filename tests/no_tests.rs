//! A test kernel with no tests: the harness must call that a failure, so a
//! broken test registration can never look like a green run.
#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

kernel::test_kernel_init!();
