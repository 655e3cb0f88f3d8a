//! Which test kernel boots on which virtual machine, and what must happen.
//!
//! This is the one table to edit when adding a RAM size or an integration
//! test with special needs. Why so many RAM sizes? Because the memory code
//! takes different paths depending on how much RAM there is, exactly like
//! Linux on a 32-bit PC:
//!
//! | RAM      | what it exercises                                              |
//! |----------|----------------------------------------------------------------|
//! | 32M      | a 16 MiB ZONE_DMA and a small ZONE_NORMAL; tight boot memory   |
//! | 128M     | the common small machine                                       |
//! | 896M     | all RAM just fits the 896 MiB direct map: still no HighMem     |
//! | 1G       | the smallest machine with ZONE_HIGHMEM (RAM above 896 MiB)     |
//! | 2G, 3G   | most of RAM is HighMem                                         |
//! | 4G       | QEMU puts part of the RAM above 4 GiB, unusable without PAE    |
//! | 2G-nopse | the direct map built from 4 KiB pages instead of 4 MiB pages   |
//! | 4G-mem1G | `mem=1G` trims memblock before the zones are sized             |
//! | 2G-smp2  | a second CPU, for the per-CPU page lists                       |
//!
//! Integration kernels (`tests/<name>.rs`) are listed with the outcome they
//! must produce. Most must simply pass; the harness self-test and the
//! no-tests kernel check that the harness reports failures correctly, so
//! they are expected to fail in a precise way.

use std::path::PathBuf;

use crate::cargo::TestKernel;
use crate::protocol::{ConfigRun, Outcome};
use crate::qemu::{Machine, MemSize};

/// One boot configuration of the library's test kernel.
pub struct LibConfig {
    /// Shown in result lines: `test lib@<name>/<path> ... ok`.
    pub name: &'static str,
    /// QEMU `-m`.
    pub mem: &'static str,
    /// QEMU `-smp`.
    pub smp: u32,
    /// Extra kernel command-line words.
    pub cmdline: &'static str,
}

/// The library's test kernel runs once in each of these.
pub const LIB_CONFIGS: &[LibConfig] = &[
    LibConfig {
        name: "32M",
        mem: "32M",
        smp: 1,
        cmdline: "",
    },
    LibConfig {
        name: "128M",
        mem: "128M",
        smp: 1,
        cmdline: "",
    },
    LibConfig {
        name: "896M",
        mem: "896M",
        smp: 1,
        cmdline: "",
    },
    LibConfig {
        name: "1G",
        mem: "1G",
        smp: 1,
        cmdline: "",
    },
    LibConfig {
        name: "2G",
        mem: "2G",
        smp: 1,
        cmdline: "",
    },
    LibConfig {
        name: "3G",
        mem: "3G",
        smp: 1,
        cmdline: "",
    },
    LibConfig {
        name: "4G",
        mem: "4G",
        smp: 1,
        cmdline: "",
    },
    LibConfig {
        name: "2G-nopse",
        mem: "2G",
        smp: 1,
        cmdline: "nopse",
    },
    LibConfig {
        name: "4G-mem1G",
        mem: "4G",
        smp: 1,
        cmdline: "mem=1G",
    },
    LibConfig {
        name: "2G-smp2",
        mem: "2G",
        smp: 2,
        cmdline: "",
    },
];

/// How an integration kernel is booted and judged.
pub struct IntegrationKernel {
    /// The file name in `tests/` without `.rs`.
    pub name: &'static str,
    pub mem: &'static str,
    pub cmdline: &'static str,
    pub expectation: Expectation,
}

/// What a test kernel's run must look like to count as a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// Every test passes; each test is one result line of the suite.
    Pass,
    /// A precise mix of passes and failures (for testing the harness
    /// itself). Reported as one result line.
    Expect {
        /// Exactly these tests fail.
        failed: &'static [&'static str],
        /// At least these tests pass.
        passed_at_least: &'static [&'static str],
        /// The verdict of the run as a whole.
        exit: RunVerdict,
    },
    /// The kernel has no tests: it must announce `running 0 tests` and exit
    /// with failure (an empty test run must never look like a success).
    ExpectNoTests,
}

/// The overall outcome of a run: see [`ConfigRun::failed_overall`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunVerdict {
    Success,
    Failure,
}

/// Integration kernels with their needs. A `tests/*.rs` not listed here
/// boots with [`DEFAULT_INTEGRATION`]'s settings.
pub const INTEGRATION_KERNELS: &[IntegrationKernel] = &[
    IntegrationKernel {
        name: "page_fault",
        mem: "128M",
        cmdline: "",
        expectation: Expectation::Pass,
    },
    IntegrationKernel {
        name: "stack_overflow",
        mem: "128M",
        cmdline: "",
        expectation: Expectation::Pass,
    },
    IntegrationKernel {
        name: "harness_selftest",
        mem: "128M",
        cmdline: "",
        expectation: Expectation::Expect {
            failed: &[
                "harness_selftest::deliberately_failing",
                "harness_selftest::panicking_test",
                "harness_selftest::panic_in_a_kernel_thread",
                "harness_selftest::panic_in_an_interrupt_handler",
            ],
            passed_at_least: &[
                "harness_selftest::passing_test",
                "harness_selftest::should_panic_test",
                "harness_selftest::runs_after_panic",
                "harness_selftest::runs_after_thread_and_interrupt_panics",
            ],
            exit: RunVerdict::Failure,
        },
    },
    IntegrationKernel {
        name: "no_tests",
        mem: "128M",
        cmdline: "",
        expectation: Expectation::ExpectNoTests,
    },
    IntegrationKernel {
        name: "kthread_faults",
        mem: "128M",
        cmdline: "",
        expectation: Expectation::Pass,
    },
    IntegrationKernel {
        name: "timer_hz",
        mem: "128M",
        cmdline: "hz=250",
        expectation: Expectation::Pass,
    },
    IntegrationKernel {
        name: "kmap_debug",
        mem: "2G",
        cmdline: "",
        expectation: Expectation::Pass,
    },
];

/// Kernels in `tests/` that are no test kernels: `cargo xtask bench` boots
/// them, `cargo xtask test` leaves them out.
pub const BENCH_ONLY_KERNELS: &[&str] = &["bench"];

/// Settings for an integration kernel the table does not know.
pub const DEFAULT_INTEGRATION: IntegrationKernel = IntegrationKernel {
    name: "",
    mem: "128M",
    cmdline: "",
    expectation: Expectation::Pass,
};

/// One configuration the suite will run, possibly over several boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `lib` or the integration test's name.
    pub kernel: String,
    pub elf: PathBuf,
    /// Prefix of result lines: `lib@2G-nopse`, `page_fault@128M`.
    pub label: String,
    pub machine: Machine,
    /// Extra kernel command-line words from the table.
    pub cmdline: &'static str,
    pub expectation: Expectation,
}

/// Turns the test kernels cargo built into the list of configurations to
/// run: `lib` at every [`LIB_CONFIGS`] entry, then each integration kernel
/// (table order, then unknown ones by name). `mem_filter` keeps only the
/// configurations with that much RAM. Also returns notes for the user about
/// table entries without a kernel and kernels without a table entry.
pub fn plan(kernels: &[TestKernel], mem_filter: Option<MemSize>) -> (Vec<Plan>, Vec<String>) {
    let mut plans = Vec::new();
    let mut notes = Vec::new();
    let mem = |text: &str| MemSize::parse(text).expect("table sizes are checked by a unit test");

    match kernels.iter().find(|k| k.name == "lib") {
        Some(lib) => {
            for config in LIB_CONFIGS {
                plans.push(Plan {
                    kernel: lib.name.clone(),
                    elf: lib.elf.clone(),
                    label: format!("lib@{}", config.name),
                    machine: Machine {
                        mem: mem(config.mem),
                        smp: config.smp,
                    },
                    cmdline: config.cmdline,
                    expectation: Expectation::Pass,
                });
            }
        }
        None => notes.push("cargo built no library test kernel (`lib`)".to_string()),
    }

    for entry in INTEGRATION_KERNELS {
        if !kernels.iter().any(|k| k.name == entry.name) {
            notes.push(format!(
                "xtask/src/matrix.rs lists `{}`, but there is no tests/{}.rs",
                entry.name, entry.name
            ));
        }
    }
    let known = |name: &str| INTEGRATION_KERNELS.iter().position(|e| e.name == name);
    let mut integration: Vec<&TestKernel> = kernels
        .iter()
        .filter(|k| k.name != "lib" && !BENCH_ONLY_KERNELS.contains(&k.name.as_str()))
        .collect();
    integration.sort_by_key(|k| (known(&k.name).unwrap_or(usize::MAX), k.name.clone()));
    for kernel in integration {
        let entry = match known(&kernel.name) {
            Some(index) => &INTEGRATION_KERNELS[index],
            None => {
                notes.push(format!(
                    "tests/{}.rs has no entry in xtask/src/matrix.rs: booting it at {} and expecting every test to pass",
                    kernel.name, DEFAULT_INTEGRATION.mem
                ));
                &DEFAULT_INTEGRATION
            }
        };
        let machine = Machine {
            mem: mem(entry.mem),
            smp: 1,
        };
        plans.push(Plan {
            kernel: kernel.name.clone(),
            elf: kernel.elf.clone(),
            label: format!("{}@{}", kernel.name, machine.mem),
            machine,
            cmdline: entry.cmdline,
            expectation: entry.expectation,
        });
    }

    if let Some(wanted) = mem_filter {
        plans.retain(|p| p.machine.mem == wanted);
        if plans.is_empty() {
            notes.push(format!("no configuration has {wanted} of RAM"));
        }
    }
    (plans, notes)
}

impl Expectation {
    /// Compares a finished run with what this expectation demands. Returns
    /// the differences, empty when the run is as expected. (For `Pass`
    /// kernels every result is reported on its own instead.)
    pub fn differences(&self, run: &ConfigRun) -> Vec<String> {
        let mut diffs: Vec<String> = run
            .problems()
            .iter()
            .map(|p| format!("unexpected {} failure: {}", p.kind, p.reason))
            .collect();
        let with = |outcome| {
            run.results()
                .iter()
                .filter(move |r| r.outcome == outcome)
                .map(|r| r.path.as_str())
        };
        match self {
            Expectation::Pass => {
                diffs.extend(with(Outcome::Failed).map(|path| format!("{path} failed")));
            }
            Expectation::Expect {
                failed,
                passed_at_least,
                exit,
            } => {
                for path in with(Outcome::Failed).filter(|p| !failed.contains(p)) {
                    diffs.push(format!("{path} failed, but it should pass"));
                }
                for path in failed
                    .iter()
                    .filter(|p| !with(Outcome::Failed).any(|f| f == **p))
                {
                    diffs.push(format!("{path} should fail, but {}", describe(run, path)));
                }
                for path in passed_at_least
                    .iter()
                    .filter(|p| !with(Outcome::Ok).any(|f| f == **p))
                {
                    diffs.push(format!("{path} should pass, but {}", describe(run, path)));
                }
                let verdict = if run.failed_overall() {
                    RunVerdict::Failure
                } else {
                    RunVerdict::Success
                };
                if verdict != *exit {
                    diffs.push(format!(
                        "the run as a whole should end in {exit:?}, but it ended in {verdict:?}"
                    ));
                }
            }
            Expectation::ExpectNoTests => {
                match run.announced() {
                    Some(0) => {}
                    Some(n) => diffs.push(format!(
                        "the kernel announced `running {n} tests` instead of 0"
                    )),
                    None => diffs.push("the kernel never printed `running 0 tests`".to_string()),
                }
                if !run.results().is_empty() {
                    diffs.push(format!(
                        "{} test result(s) were reported",
                        run.results().len()
                    ));
                }
                if run.boots() != 1 {
                    diffs.push(format!("it took {} boots instead of one", run.boots()));
                }
                if let Some(end) = run.last_end()
                    && end != crate::protocol::BootEnd::Exited(crate::qemu::GuestExit::Failure)
                {
                    diffs.push(format!(
                        "an empty run must exit with failure (35), but it ended with {end}"
                    ));
                }
            }
        }
        diffs
    }
}

/// "it passed" / "it failed" / "it never reported a result", for messages.
fn describe(run: &ConfigRun, path: &str) -> &'static str {
    match run
        .results()
        .iter()
        .find(|r| r.path == path)
        .map(|r| r.outcome)
    {
        Some(Outcome::Ok) => "it passed",
        Some(Outcome::Failed) => "it failed",
        None => "it never reported a result",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{BootEnd, BootTranscript, Event};
    use crate::qemu::GuestExit;

    fn kernel(name: &str) -> TestKernel {
        TestKernel {
            name: name.into(),
            elf: format!("/t/{name}").into(),
        }
    }

    /// Runs transcripts through a ConfigRun the way the suite does.
    fn run_of(boots: &[(&str, GuestExit)], zero_tests_ok: bool) -> ConfigRun {
        let mut run = ConfigRun::default();
        for (text, exit) in boots {
            let mut t = BootTranscript::default();
            let mut events = t.feed(text.as_bytes());
            events.extend(t.finish());
            for event in events {
                if let Event::Result(r) = event {
                    run.record(r);
                }
            }
            run.end_boot(&t, BootEnd::Exited(*exit));
        }
        run.finish(zero_tests_ok);
        run
    }

    #[test]
    fn table_sizes_parse() {
        for config in LIB_CONFIGS {
            MemSize::parse(config.mem).unwrap();
        }
        for entry in INTEGRATION_KERNELS.iter().chain([&DEFAULT_INTEGRATION]) {
            MemSize::parse(entry.mem).unwrap();
        }
    }

    #[test]
    fn plans_every_configuration() {
        let kernels = [
            kernel("lib"),
            kernel("zz_new"),
            kernel("no_tests"),
            kernel("bench"),
            kernel("page_fault"),
        ];
        let (plans, notes) = plan(&kernels, None);
        let labels: Vec<&str> = plans.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "lib@32M",
                "lib@128M",
                "lib@896M",
                "lib@1G",
                "lib@2G",
                "lib@3G",
                "lib@4G",
                "lib@2G-nopse",
                "lib@4G-mem1G",
                "lib@2G-smp2",
                "page_fault@128M",
                "no_tests@128M",
                "zz_new@128M",
            ]
        );
        let smp2 = &plans[9];
        assert_eq!(
            (smp2.machine.smp, smp2.machine.mem.to_string()),
            (2, "2G".to_string())
        );
        assert_eq!(plans[7].cmdline, "nopse");
        assert_eq!(plans[11].expectation, Expectation::ExpectNoTests);
        // stack_overflow, harness_selftest, kthread_faults, timer_hz, kmap_debug missing; zz_new unknown
        assert_eq!(notes.len(), 6, "{notes:?}");
        assert!(
            notes
                .iter()
                .any(|n| n.contains("tests/zz_new.rs has no entry"))
        );
    }

    #[test]
    fn mem_filter_keeps_matching_sizes() {
        let (plans, _) = plan(
            &[kernel("lib"), kernel("page_fault")],
            Some(MemSize::parse("2048M").unwrap()),
        );
        let labels: Vec<&str> = plans.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["lib@2G", "lib@2G-nopse", "lib@2G-smp2"]);
        let (plans, _) = plan(
            &[kernel("lib"), kernel("page_fault")],
            Some(MemSize::parse("128M").unwrap()),
        );
        assert_eq!(plans.len(), 2);
    }

    const SELFTEST: Expectation = INTEGRATION_KERNELS[2].expectation;

    #[test]
    fn harness_selftest_as_expected() {
        let boot1 = "running 8 tests\ntest harness_selftest::passing_test ... ok\n\
                     test harness_selftest::deliberately_failing ... FAILED\n    assertion failed\n\
                     test harness_selftest::should_panic_test ... ok\n";
        let boot2 = "running 2 tests\ntest harness_selftest::panicking_test ... FAILED\n";
        let boot3 = "running 4 tests\ntest harness_selftest::runs_after_panic ... ok\n\
                     test harness_selftest::panic_in_a_kernel_thread ... FAILED\n";
        let boot4 = "running 2 tests\ntest harness_selftest::panic_in_an_interrupt_handler ... FAILED\n";
        let boot5 = "running 1 test\ntest harness_selftest::runs_after_thread_and_interrupt_panics ... ok\n\
                     test result: ok. 1 passed; 0 failed\n";
        let run = run_of(
            &[
                (boot1, GuestExit::RestartNeeded),
                (boot2, GuestExit::RestartNeeded),
                (boot3, GuestExit::RestartNeeded),
                (boot4, GuestExit::RestartNeeded),
                (boot5, GuestExit::Success),
            ],
            true,
        );
        assert_eq!(SELFTEST.differences(&run), Vec::<String>::new());
    }

    #[test]
    fn harness_selftest_differences() {
        let text = "running 3 tests\ntest harness_selftest::passing_test ... FAILED\n\
                    test harness_selftest::deliberately_failing ... FAILED\n\
                    test harness_selftest::panicking_test ... ok\ntest result: FAILED. 1 passed; 2 failed\n";
        let diffs = SELFTEST.differences(&run_of(&[(text, GuestExit::Failure)], true));
        assert_eq!(
            diffs,
            [
                "harness_selftest::passing_test failed, but it should pass",
                "harness_selftest::panicking_test should fail, but it passed",
                "harness_selftest::panic_in_a_kernel_thread should fail, but it never reported a result",
                "harness_selftest::panic_in_an_interrupt_handler should fail, but it never reported a result",
                "harness_selftest::passing_test should pass, but it failed",
                "harness_selftest::should_panic_test should pass, but it never reported a result",
                "harness_selftest::runs_after_panic should pass, but it never reported a result",
                "harness_selftest::runs_after_thread_and_interrupt_panics should pass, but it never reported a result",
            ]
        );
    }

    #[test]
    fn selftest_that_claims_success_is_caught() {
        let text = "running 2 tests\ntest harness_selftest::deliberately_failing ... FAILED\n\
                    test harness_selftest::panicking_test ... FAILED\n";
        let diffs = SELFTEST.differences(&run_of(&[(text, GuestExit::Success)], true));
        assert!(
            diffs[0].starts_with("unexpected harness failure"),
            "{diffs:?}"
        );
    }

    #[test]
    fn no_tests_kernel() {
        let good = run_of(
            &[(
                "running 0 tests\ntest result: FAILED. 0 passed; 0 failed\n",
                GuestExit::Failure,
            )],
            true,
        );
        assert_eq!(
            Expectation::ExpectNoTests.differences(&good),
            Vec::<String>::new()
        );

        let claims_success = run_of(&[("running 0 tests\n", GuestExit::Success)], true);
        assert_eq!(
            Expectation::ExpectNoTests.differences(&claims_success),
            ["an empty run must exit with failure (35), but it ended with exit 33, success"]
        );

        let crashed = run_of(&[("boot panic\n", GuestExit::Failure)], true);
        let diffs = Expectation::ExpectNoTests.differences(&crashed);
        assert!(
            diffs.iter().any(|d| d.contains("never printed")),
            "{diffs:?}"
        );
    }
}
