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
//! | 2G-smp2, 3G | most of RAM is HighMem; at 2G two CPUs run the whole suite  |
//! | 4G-smp4  | QEMU puts part of the RAM above 4 GiB, unusable without PAE; four CPUs run the whole suite |
//! | 2G-nopse | the direct map built from 4 KiB pages instead of 4 MiB pages   |
//! | 4G-mem1G | `mem=1G` trims memblock before the zones are sized             |
//! | 128M-smp4-nosmp, 128M-smp4-maxcpus2 | four CPUs present, one or two brought up (the SMP tests only) |
//! | 128M-smp6 | six CPUs present, `NR_CPUS` = 4 brought up (the SMP tests only) |
//!
//! Tests that do not depend on the RAM size (the command-line parser,
//! interrupts, threads, locks: [`RAM_INDEPENDENT_TESTS`]) run in the
//! reference configuration (128M, one CPU) and in the two multiprocessor
//! configurations, where they run with every CPU up; the other sizes boot
//! with `test_exclude=` and run only the rest.
//!
//! How many tests each configuration must report comes from the source
//! ([`crate::test_list`]), not from the kernel: a test that vanishes from a
//! run is a failure.
//!
//! Integration kernels (`tests/<name>.rs`) are listed with the outcome they
//! must produce. Most must simply pass; the harness self-test and the
//! no-tests kernel check that the harness reports failures correctly, so
//! they are expected to fail in a precise way.

use std::collections::BTreeSet;
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
    /// Which of the library's tests run here.
    pub scope: TestScope,
}

/// Which of the library's tests a configuration runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestScope {
    /// Every test: the reference configuration.
    All,
    /// All but [`RAM_INDEPENDENT_TESTS`].
    RamDependent,
    /// Only the tests under these path prefixes (`test_only=`): for a
    /// configuration that checks one thing, such as `nosmp`.
    Only(&'static [&'static str]),
}

/// The tests that check which CPUs came up (for [`TestScope::Only`]).
const SMP_TESTS: &[&str] = &["kernel::arch::x86::smpboot::", "kernel::arch::x86::smp::"];

/// Path prefixes of the library's tests whose outcome cannot depend on the
/// amount of RAM: they run in the reference configuration only. (Each
/// prefix must match some test, so a stale entry is noticed.)
pub const RAM_INDEPENDENT_TESTS: &[&str] = &[
    "kernel::arch::x86::boot::",
    "kernel::arch::x86::i8253::",
    "kernel::arch::x86::irq::",
    "kernel::arch::x86::irqflags::",
    "kernel::arch::x86::serial::",
    "kernel::arch::x86::time::",
    "kernel::cmdline::",
    "kernel::mm::page_alloc::kernel_tests::a_request_that_may_sleep_is_reported_in_atomic_context",
    "kernel::mm::page_alloc::kernel_tests::a_zeroed_high_page_is_refused_in_interrupt_context",
    "kernel::mm::registry::",
    "kernel::mm::vmalloc::kernel_tests::overrunning_an_area_faults_in_its_guard_page",
    "kernel::mm::vmalloc::tests::",
    "kernel::percpu::",
    "kernel::preempt::",
    "kernel::sched::",
    "kernel::softirq::tests::a_softirq_raised_in_the_timer_interrupt_runs_after_it_in_softirq_context",
    "kernel::softirq::tests::a_softirq_that_keeps_raising_itself_is_handed_to_ksoftirqd",
    "kernel::softirq::tests::irq_exit_runs_what_was_raised_and_keeps_the_interrupt_flag",
    "kernel::softirq::tests::kmap_in_a_softirq_is_reported",
    "kernel::softirq::tests::local_bh_disable_defers_a_softirq_until_local_bh_enable",
    "kernel::spinlock::",
    "kernel::time::",
    "kernel::timer::",
];

/// The library's test kernel runs once in each of these.
pub const LIB_CONFIGS: &[LibConfig] = &[
    LibConfig {
        name: "32M",
        mem: "32M",
        smp: 1,
        cmdline: "",
        scope: TestScope::RamDependent,
    },
    LibConfig {
        name: "128M",
        mem: "128M",
        smp: 1,
        cmdline: "",
        scope: TestScope::All,
    },
    LibConfig {
        name: "896M",
        mem: "896M",
        smp: 1,
        cmdline: "",
        scope: TestScope::RamDependent,
    },
    LibConfig {
        name: "1G",
        mem: "1G",
        smp: 1,
        cmdline: "",
        scope: TestScope::RamDependent,
    },
    LibConfig {
        name: "3G",
        mem: "3G",
        smp: 1,
        cmdline: "",
        scope: TestScope::RamDependent,
    },
    LibConfig {
        name: "2G-nopse",
        mem: "2G",
        smp: 1,
        cmdline: "nopse",
        scope: TestScope::RamDependent,
    },
    LibConfig {
        name: "4G-mem1G",
        mem: "4G",
        smp: 1,
        cmdline: "mem=1G",
        scope: TestScope::RamDependent,
    },
    LibConfig {
        name: "2G-smp2",
        mem: "2G",
        smp: 2,
        cmdline: "",
        scope: TestScope::All,
    },
    LibConfig {
        name: "4G-smp4",
        mem: "4G",
        smp: 4,
        cmdline: "",
        scope: TestScope::All,
    },
    LibConfig {
        name: "128M-smp4-nosmp",
        mem: "128M",
        smp: 4,
        cmdline: "nosmp",
        scope: TestScope::Only(SMP_TESTS),
    },
    LibConfig {
        name: "128M-smp6",
        mem: "128M",
        smp: 6,
        cmdline: "",
        scope: TestScope::Only(SMP_TESTS),
    },
    LibConfig {
        name: "128M-smp4-maxcpus2",
        mem: "128M",
        smp: 4,
        cmdline: "maxcpus=2",
        scope: TestScope::Only(SMP_TESTS),
    },
];

/// How an integration kernel is booted and judged.
pub struct IntegrationKernel {
    /// The file name in `tests/` without `.rs`.
    pub name: &'static str,
    pub mem: &'static str,
    /// QEMU `-smp`.
    pub smp: u32,
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
        /// (test, text): the failed test's diagnostics must contain the text.
        failed_saying: &'static [(&'static str, &'static str)],
        /// Exactly these tests skip.
        skipped: &'static [&'static str],
        /// At least these tests pass.
        passed_at_least: &'static [&'static str],
        /// The verdict of the run as a whole.
        exit: RunVerdict,
    },
    /// The kernel has no tests: it must plan `1..0` and exit with failure (an empty test run must never look like a success).
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
        smp: 1,
        cmdline: "",
        expectation: Expectation::Pass,
    },
    IntegrationKernel {
        name: "stack_overflow",
        mem: "128M",
        smp: 1,
        cmdline: "",
        expectation: Expectation::Pass,
    },
    IntegrationKernel {
        name: "harness_selftest",
        mem: "128M",
        smp: 1,
        cmdline: "",
        expectation: Expectation::Expect {
            failed: &[
                "harness_selftest::deliberately_failing",
                "harness_selftest::panicking_test",
                "harness_selftest::panic_in_a_kernel_thread",
                "harness_selftest::panic_in_an_interrupt_handler",
                "harness_selftest::leaves_interrupts_disabled",
            ],
            failed_saying: &[("harness_selftest::panic_in_a_kernel_thread", "panicked on CPU 0: a panic in a kernel thread")],
            skipped: &["harness_selftest::skipping_test"],
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
        smp: 1,
        cmdline: "",
        expectation: Expectation::ExpectNoTests,
    },
    IntegrationKernel {
        name: "kthread_faults",
        mem: "128M",
        smp: 1,
        cmdline: "",
        expectation: Expectation::Pass,
    },
    IntegrationKernel {
        name: "timer_hz",
        mem: "128M",
        smp: 1,
        cmdline: "hz=250 initial_jiffies=0xfffffa00",
        expectation: Expectation::Pass,
    },
    IntegrationKernel {
        name: "smp_panic",
        mem: "128M",
        smp: 2,
        cmdline: "",
        expectation: Expectation::Expect {
            failed: &["smp_panic::a_panic_on_cpu_1_is_reported_with_its_number"],
            failed_saying: &[(
                "smp_panic::a_panic_on_cpu_1_is_reported_with_its_number",
                "panicked on CPU 1: a panic on CPU 1",
            )],
            skipped: &[],
            passed_at_least: &["smp_panic::both_cpus_run_again_after_the_panic"],
            exit: RunVerdict::Failure,
        },
    },
    IntegrationKernel {
        name: "kmap_debug",
        mem: "2G",
        smp: 1,
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
    smp: 1,
    cmdline: "",
    expectation: Expectation::Pass,
};

/// One configuration the suite will run, possibly over several boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `lib` or the integration test's name.
    pub kernel: String,
    pub elf: PathBuf,
    /// The kernel's crate root, relative to the repository (`src/lib.rs`,
    /// `tests/<name>.rs`), and its crate name: where [`crate::test_list`]
    /// finds the tests compiled into it.
    pub source: PathBuf,
    pub crate_name: String,
    /// Prefix of result lines: `lib@2G-nopse`, `page_fault@128M`.
    pub label: String,
    pub machine: Machine,
    /// Extra kernel command-line words from the table.
    pub cmdline: &'static str,
    /// Path prefixes of tests left out here (`test_exclude=`).
    pub exclude: &'static [&'static str],
    /// If not empty, only tests under these prefixes run (`test_only=`).
    pub only: &'static [&'static str],
    pub expectation: Expectation,
}

/// What [`plan`] found besides the plans.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PlanReport {
    /// For the user's information (a kernel booted with default settings).
    pub notes: Vec<String>,
    /// Failures of the suite itself: a kernel missing, a table entry
    /// without its file, a `--mem` no configuration has.
    pub errors: Vec<String>,
}

/// Turns the test kernels cargo built into the list of configurations to
/// run: `lib` at every [`LIB_CONFIGS`] entry, then each integration kernel
/// (table order, then unknown ones by name). `test_files` are the names of
/// the files in `tests/` (without `.rs`): each must have been built, and
/// each table entry must have its file. `mem_filter` keeps only the
/// configurations with that much RAM.
pub fn plan(kernels: &[TestKernel], test_files: &[String], mem_filter: Option<MemSize>) -> (Vec<Plan>, PlanReport) {
    let mut plans = Vec::new();
    let mut report = PlanReport::default();
    let mem = |text: &str| MemSize::parse(text).expect("table sizes are checked by a unit test");

    match kernels.iter().find(|k| k.name == "lib") {
        Some(lib) => {
            for config in LIB_CONFIGS {
                plans.push(Plan {
                    kernel: lib.name.clone(),
                    elf: lib.elf.clone(),
                    source: PathBuf::from("src/lib.rs"),
                    crate_name: "kernel".to_string(),
                    label: format!("lib@{}", config.name),
                    machine: Machine { mem: mem(config.mem), smp: config.smp },
                    cmdline: config.cmdline,
                    exclude: match config.scope {
                        TestScope::All | TestScope::Only(_) => &[],
                        TestScope::RamDependent => RAM_INDEPENDENT_TESTS,
                    },
                    only: match config.scope {
                        TestScope::Only(prefixes) => prefixes,
                        TestScope::All | TestScope::RamDependent => &[],
                    },
                    expectation: Expectation::Pass,
                });
            }
        }
        None => report.errors.push("cargo built no library test kernel (`lib`)".to_string()),
    }

    for entry in INTEGRATION_KERNELS {
        if !test_files.iter().any(|f| f == entry.name) {
            report.errors.push(format!(
                "xtask/src/matrix.rs lists `{}`, but there is no tests/{}.rs",
                entry.name, entry.name
            ));
        }
    }
    for file in test_files {
        if !kernels.iter().any(|k| &k.name == file) && !BENCH_ONLY_KERNELS.contains(&file.as_str()) {
            report.errors.push(format!(
                "tests/{file}.rs was not built: it needs a [[test]] entry in Cargo.toml"
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
                report.notes.push(format!(
                    "tests/{}.rs has no entry in xtask/src/matrix.rs: booting it at {} and expecting every test to pass",
                    kernel.name, DEFAULT_INTEGRATION.mem
                ));
                &DEFAULT_INTEGRATION
            }
        };
        let machine = Machine { mem: mem(entry.mem), smp: entry.smp };
        plans.push(Plan {
            kernel: kernel.name.clone(),
            elf: kernel.elf.clone(),
            source: PathBuf::from(format!("tests/{}.rs", kernel.name)),
            crate_name: kernel.name.clone(),
            label: match machine.smp {
                1 => format!("{}@{}", kernel.name, machine.mem),
                smp => format!("{}@{}-smp{smp}", kernel.name, machine.mem),
            },
            machine,
            cmdline: entry.cmdline,
            exclude: &[],
            only: &[],
            expectation: entry.expectation,
        });
    }

    if let Some(wanted) = mem_filter {
        plans.retain(|p| p.machine.mem == wanted);
        if plans.is_empty() {
            report.errors.push(format!("--mem {wanted}: no configuration has that much RAM"));
        }
    }
    (plans, report)
}

/// The tests one configuration runs, out of those compiled into its kernel:
/// not under an excluded prefix, under an `only` prefix if there are any,
/// and matching the filter if there is one (the kernel applies the same
/// `test=`, `test_only=` and `test_exclude=` rules).
pub fn selected_tests(compiled: &BTreeSet<String>, plan: &Plan, filter: Option<&str>) -> BTreeSet<String> {
    compiled
        .iter()
        .filter(|path| !plan.exclude.iter().any(|prefix| path.starts_with(prefix)))
        .filter(|path| plan.only.is_empty() || plan.only.iter().any(|prefix| path.starts_with(prefix)))
        .filter(|path| filter.is_none_or(|f| path.contains(f)))
        .cloned()
        .collect()
}

/// Prefixes of [`RAM_INDEPENDENT_TESTS`] that match none of `compiled`:
/// stale entries.
pub fn stale_exclusions(compiled: &BTreeSet<String>) -> Vec<&'static str> {
    RAM_INDEPENDENT_TESTS
        .iter()
        .copied()
        .filter(|prefix| !compiled.iter().any(|path| path.starts_with(prefix)))
        .collect()
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
            Expectation::Expect { failed, failed_saying, skipped, passed_at_least, exit } => {
                for (path, text) in *failed_saying {
                    let said = run.results().iter().any(|r| r.path == *path && r.details.iter().any(|d| d.contains(text)));
                    if !said {
                        diffs.push(format!("{path} should fail saying \"{text}\", but its diagnostics do not"));
                    }
                }
                for path in with(Outcome::Failed).filter(|p| !failed.contains(p)) {
                    diffs.push(format!("{path} failed, but it should pass"));
                }
                for path in failed
                    .iter()
                    .filter(|p| !with(Outcome::Failed).any(|f| f == **p))
                {
                    diffs.push(format!("{path} should fail, but {}", describe(run, path)));
                }
                for path in with(Outcome::Skipped).filter(|p| !skipped.contains(p)) {
                    diffs.push(format!("{path} skipped, but it should not"));
                }
                for path in skipped.iter().filter(|p| !with(Outcome::Skipped).any(|f| f == **p)) {
                    diffs.push(format!("{path} should skip, but {}", describe(run, path)));
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
                match run.planned() {
                    Some(0) => {}
                    Some(n) => diffs.push(format!("the kernel planned `1..{n}` instead of `1..0`")),
                    None => diffs.push("the kernel never printed the plan `1..0`".to_string()),
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

/// "it passed" / "it failed" / "it skipped" / "it never reported a result", for messages.
fn describe(run: &ConfigRun, path: &str) -> &'static str {
    match run
        .results()
        .iter()
        .find(|r| r.path == path)
        .map(|r| r.outcome)
    {
        Some(Outcome::Ok) => "it passed",
        Some(Outcome::Failed) => "it failed",
        Some(Outcome::Skipped) => "it skipped",
        None => "it never reported a result",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{BootEnd, BootTranscript, Event};
    use crate::qemu::GuestExit;

    fn kernel(name: &str) -> TestKernel {
        TestKernel { name: name.into(), elf: format!("/t/{name}").into() }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    /// Runs transcripts through a ConfigRun the way the suite does.
    fn run_of(boots: &[(&str, GuestExit)], expected: &[&str], zero_tests_ok: bool) -> ConfigRun {
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
        run.finish(&expected.iter().map(|p| p.to_string()).collect(), zero_tests_ok);
        run
    }

    /// One boot's KTAP document: the plan, then (path, verdict) results.
    fn ktap(plan: usize, results: &[(&str, &str)]) -> String {
        let mut text = format!("KTAP version 1\n1..{plan}\n");
        for (number, (path, verdict)) in results.iter().enumerate() {
            text += &format!("# running {path}\n{verdict} {} {path}\n", number + 1);
        }
        text
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
        let kernels = [kernel("lib"), kernel("zz_new"), kernel("no_tests"), kernel("bench"), kernel("page_fault")];
        let files = names(&["zz_new", "no_tests", "bench", "page_fault", "orphan"]);
        let (plans, report) = plan(&kernels, &files, None);
        let labels: Vec<&str> = plans.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "lib@32M",
                "lib@128M",
                "lib@896M",
                "lib@1G",
                "lib@3G",
                "lib@2G-nopse",
                "lib@4G-mem1G",
                "lib@2G-smp2",
                "lib@4G-smp4",
                "lib@128M-smp4-nosmp",
                "lib@128M-smp6",
                "lib@128M-smp4-maxcpus2",
                "page_fault@128M",
                "no_tests@128M",
                "zz_new@128M",
            ]
        );
        assert_eq!(plans[5].cmdline, "nopse");
        assert_eq!(plans[1].exclude, &[] as &[&str], "the reference configuration runs everything");
        assert_eq!(plans[0].exclude, RAM_INDEPENDENT_TESTS);
        assert_eq!(plans[13].expectation, Expectation::ExpectNoTests);
        assert_eq!((plans[12].source.to_str(), plans[12].crate_name.as_str()), (Some("tests/page_fault.rs"), "page_fault"));
        assert_eq!((plans[0].source.to_str(), plans[0].crate_name.as_str()), (Some("src/lib.rs"), "kernel"));
        let smp: Vec<(&str, u32)> = plans.iter().filter(|p| p.machine.smp > 1).map(|p| (p.label.as_str(), p.machine.smp)).collect();
        assert_eq!(
            smp,
            [("lib@2G-smp2", 2), ("lib@4G-smp4", 4), ("lib@128M-smp4-nosmp", 4), ("lib@128M-smp6", 6), ("lib@128M-smp4-maxcpus2", 4)]
        );
        assert_eq!((plans[7].exclude, plans[8].exclude), (&[] as &[&str], &[] as &[&str]), "two and four CPUs run everything");
        assert_eq!((plans[9].cmdline, plans[9].only), ("nosmp", SMP_TESTS));
        assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
        assert!(report.notes[0].contains("tests/zz_new.rs has no entry"));
        // stack_overflow, harness_selftest, kthread_faults, timer_hz, smp_panic, kmap_debug have no file; orphan was not built.
        assert_eq!(report.errors.len(), 7, "{:?}", report.errors);
        assert!(report.errors.iter().any(|e| e.contains("lists `timer_hz`, but there is no tests/timer_hz.rs")));
        assert!(report.errors.iter().any(|e| e.contains("tests/orphan.rs was not built")));
    }

    #[test]
    fn a_missing_library_kernel_is_an_error() {
        let (plans, report) = plan(&[], &[], None);
        assert!(plans.is_empty());
        assert!(report.errors.iter().any(|e| e.contains("no library test kernel")));
    }

    #[test]
    fn mem_filter_keeps_matching_sizes() {
        let kernels = [kernel("lib"), kernel("page_fault")];
        let files = names(&["page_fault"]);
        let (plans, _) = plan(&kernels, &files, Some(MemSize::parse("2048M").unwrap()));
        let labels: Vec<&str> = plans.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["lib@2G-nopse", "lib@2G-smp2"]);
        let (plans, _) = plan(&kernels, &files, Some(MemSize::parse("128M").unwrap()));
        let labels: Vec<&str> = plans.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["lib@128M", "lib@128M-smp4-nosmp", "lib@128M-smp6", "lib@128M-smp4-maxcpus2", "page_fault@128M"]);
        let (plans, report) = plan(&kernels, &files, Some(MemSize::parse("5M").unwrap()));
        assert!(plans.is_empty());
        assert!(report.errors.iter().any(|e| e.contains("no configuration has")), "{report:?}");
    }

    #[test]
    fn selection_follows_exclusions_and_filter() {
        let compiled: BTreeSet<String> =
            ["kernel::cmdline::tests::good_input", "kernel::mm::init::tests::zones", "kernel::sched::tests::wake"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let (plans, _) = plan(&[kernel("lib")], &[], None);
        let at_32m = &plans[0];
        let at_128m = &plans[1];
        assert_eq!(selected_tests(&compiled, at_128m, None).len(), 3);
        assert_eq!(
            selected_tests(&compiled, at_32m, None).into_iter().collect::<Vec<_>>(),
            ["kernel::mm::init::tests::zones"]
        );
        assert_eq!(selected_tests(&compiled, at_128m, Some("wake")).len(), 1);
        assert!(selected_tests(&compiled, at_32m, Some("wake")).is_empty());
        let stale = stale_exclusions(&compiled);
        assert!(stale.contains(&"kernel::preempt::") && !stale.contains(&"kernel::sched::"), "{stale:?}");
    }

    const SELFTEST: Expectation = INTEGRATION_KERNELS[2].expectation;

    const SELFTEST_TESTS: &[&str] = &[
        "harness_selftest::passing_test",
        "harness_selftest::deliberately_failing",
        "harness_selftest::should_panic_test",
        "harness_selftest::skipping_test",
        "harness_selftest::panicking_test",
        "harness_selftest::runs_after_panic",
        "harness_selftest::panic_in_a_kernel_thread",
        "harness_selftest::panic_in_an_interrupt_handler",
        "harness_selftest::leaves_interrupts_disabled",
        "harness_selftest::runs_after_thread_and_interrupt_panics",
    ];

    #[test]
    fn harness_selftest_as_expected() {
        let boot1 = ktap(
            10,
            &[
                ("harness_selftest::passing_test", "ok"),
                ("harness_selftest::deliberately_failing", "not ok"),
                ("harness_selftest::should_panic_test", "ok"),
            ],
        );
        let boot2 = "KTAP version 1\n1..7\n# running harness_selftest::skipping_test\n\
                     ok 1 harness_selftest::skipping_test # SKIP this test skips itself\n\
                     # running harness_selftest::panicking_test\nnot ok 2 harness_selftest::panicking_test\n";
        let boot3 = "KTAP version 1\n1..5\n# running harness_selftest::runs_after_panic\nok 1 harness_selftest::runs_after_panic\n\
                     # running harness_selftest::panic_in_a_kernel_thread\n# panicked on CPU 0: a panic in a kernel thread at x.rs:1:1\n\
                     not ok 2 harness_selftest::panic_in_a_kernel_thread\n";
        let boot4 = ktap(3, &[("harness_selftest::panic_in_an_interrupt_handler", "not ok")]);
        let boot5 = ktap(2, &[("harness_selftest::leaves_interrupts_disabled", "not ok")]);
        let boot6 = ktap(1, &[("harness_selftest::runs_after_thread_and_interrupt_panics", "ok")])
            + "# Totals: pass:1 fail:0 skip:0 total:1\n";
        let run = run_of(
            &[
                (&boot1, GuestExit::RestartNeeded),
                (boot2, GuestExit::RestartNeeded),
                (boot3, GuestExit::RestartNeeded),
                (&boot4, GuestExit::RestartNeeded),
                (&boot5, GuestExit::RestartNeeded),
                (&boot6, GuestExit::Success),
            ],
            SELFTEST_TESTS,
            true,
        );
        assert_eq!(SELFTEST.differences(&run), Vec::<String>::new());
    }

    #[test]
    fn harness_selftest_differences() {
        let text = ktap(
            4,
            &[
                ("harness_selftest::passing_test", "not ok"),
                ("harness_selftest::deliberately_failing", "not ok"),
                ("harness_selftest::skipping_test", "ok"),
                ("harness_selftest::panicking_test", "ok"),
            ],
        ) + "# Totals: pass:2 fail:2 skip:0 total:4\n";
        let diffs = SELFTEST.differences(&run_of(&[(&text, GuestExit::Failure)], &SELFTEST_TESTS[..5], true));
        assert_eq!(
            diffs,
            [
                "unexpected harness failure: the kernel planned 4 test(s), but 5 are compiled in for this configuration",
                "unexpected harness failure: 1 test(s) compiled in but never reported: harness_selftest::should_panic_test",
                "harness_selftest::panic_in_a_kernel_thread should fail saying \"panicked on CPU 0: a panic in a kernel thread\", but its diagnostics do not",
                "harness_selftest::passing_test failed, but it should pass",
                "harness_selftest::panicking_test should fail, but it passed",
                "harness_selftest::panic_in_a_kernel_thread should fail, but it never reported a result",
                "harness_selftest::panic_in_an_interrupt_handler should fail, but it never reported a result",
                "harness_selftest::leaves_interrupts_disabled should fail, but it never reported a result",
                "harness_selftest::skipping_test should skip, but it passed",
                "harness_selftest::passing_test should pass, but it failed",
                "harness_selftest::should_panic_test should pass, but it never reported a result",
                "harness_selftest::runs_after_panic should pass, but it never reported a result",
                "harness_selftest::runs_after_thread_and_interrupt_panics should pass, but it never reported a result",
            ]
        );
    }

    #[test]
    fn selftest_that_claims_success_is_caught() {
        let text = ktap(
            2,
            &[("harness_selftest::deliberately_failing", "not ok"), ("harness_selftest::panicking_test", "not ok")],
        );
        let diffs = SELFTEST.differences(&run_of(&[(&text, GuestExit::Success)], &SELFTEST_TESTS[..0], true));
        assert!(diffs[0].starts_with("unexpected harness failure"), "{diffs:?}");
    }

    #[test]
    fn no_tests_kernel() {
        let empty = "KTAP version 1\n1..0\n# Totals: pass:0 fail:0 skip:0 total:0\n# error: no tests were run\n";
        let good = run_of(&[(empty, GuestExit::Failure)], &[], true);
        assert_eq!(Expectation::ExpectNoTests.differences(&good), Vec::<String>::new());

        let claims_success = run_of(&[(empty, GuestExit::Success)], &[], true);
        assert_eq!(
            Expectation::ExpectNoTests.differences(&claims_success),
            ["an empty run must exit with failure (35), but it ended with exit 33, success"]
        );

        let crashed = run_of(&[("boot panic\n", GuestExit::Failure)], &[], true);
        let diffs = Expectation::ExpectNoTests.differences(&crashed);
        assert!(diffs.iter().any(|d| d.contains("never printed")), "{diffs:?}");
    }
}
