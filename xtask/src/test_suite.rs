//! `cargo xtask test`: the whole test suite, host and kernel.
//!
//! 1. Host unit tests: the allocator algorithms are plain Rust and run under
//!    `cargo test` on the development machine (plus xtask's own tests).
//! 2. Test kernels: `cargo test --no-run` for the kernel's target builds one
//!    bootable kernel for the library's `#[test]`s (`lib`) and one per
//!    `tests/<name>.rs`.
//! 3. Boots: each kernel runs in the configurations of [`matrix`]. TCG is
//!    CPU-bound and a one-CPU guest keeps one host core busy, so two
//!    consecutive single-CPU configurations boot side by side (on a host
//!    with two cores or more; `LINMEM_TEST_JOBS=1` turns it off), and a
//!    multiprocessor configuration boots alone, its vCPUs on every core. The serial
//!    output streams through [`crate::protocol`], which tells us each result as it
//!    arrives and what to do when a boot ends early.
//!
//! Every result is one `test <config>/<path> ... ok|FAILED|skipped (reason)`
//! line; the last line of the output is `N passed, M failed, K skipped`, and
//! the exit status is 0 only if nothing failed and something passed.
//!
//! What each configuration must report is known before it boots: the tests
//! compiled into its kernel ([`crate::test_list`], read from the source)
//! that the configuration selects. A test that does not report, a kernel
//! that is missing, or a `--filter` that matches nothing fails the suite.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::Error;
use crate::cargo::{self, Profile, TestKernel, Workspace};
use crate::iso::Staging;
use crate::matrix::{self, Expectation, Plan};
use crate::test_list;
use crate::protocol::{BootTranscript, ConfigRun, Event, Outcome, Problem, TAIL_LINES, TestResult};
use crate::qemu::{self, MemSize, Serial, Timeouts};

/// What the user asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOptions {
    /// Run only tests whose path contains this (passed to the kernel as `test=`).
    pub filter: Option<String>,
    /// Boot only the configurations with this much RAM.
    pub mem: Option<MemSize>,
    /// Show every line of serial output.
    pub verbose: bool,
    /// Longest silence on the serial port before a boot counts as hung.
    pub timeout: Duration,
}

/// A boot may take at most this many `--timeout`s in total, so a kernel that
/// keeps printing but never finishes is stopped too.
const BOOT_TIME_LIMIT_FACTOR: u32 = 10;

pub fn run(ws: &Workspace, options: &TestOptions) -> Result<ExitCode, Error> {
    let mut totals = Totals::default();
    host_tests(ws, options, &mut totals)?;
    let host_tests_run = totals.passed + totals.failed;

    if options.filter.as_deref().is_none_or(|f| "monitor".contains(f)) && options.mem.is_none() {
        monitor_session(ws, &mut totals)?;
    }
    if options.filter.as_deref().is_none_or(|f| "gdb".contains(f)) && options.mem.is_none() {
        gdb_session(ws, &mut totals)?;
    }
    if options.filter.as_deref().is_none_or(|f| "snapshot".contains(f)) && options.mem.is_none() {
        snapshot_pictures(ws, &mut totals)?;
    }

    section("building the test kernels");
    match cargo::build_test_kernels(ws, Profile::Debug) {
        Ok(kernels) => {
            let kernel_tests_selected = boot_all(ws, options, &kernels, &mut totals)?;
            if let Some(filter) = &options.filter
                && host_tests_run + kernel_tests_selected == 0
            {
                totals.error(format!("--filter {filter} matches no test"));
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            totals.fail("test kernels (build)".to_string());
        }
    }
    Ok(totals.finish())
}

/// The monitor script of [`monitor_session`]: every command, good and bad.
const MONITOR_SCRIPT: &str = "help
buddyinfo
alloc 3
buddyinfo
free #1
buddyinfo
alloc 3 GFP_HIGHUSER
kmap 0x40000
pkmap
kunmap 0x40000
kunmap 0x40000
kmap_atomic 0x40000 KM_USER1
kmap_atomic 0x40000 KM_IRQ0
vmalloc 64K
vmallocinfo
vfree 0x1234
layout
zoneinfo Normal
zoneinfo Moon
frag Normal
stress 1
stress 0
alloc 11
alloc 2 GFP_FOO
alloc
free #9
free
page 0x1000
page 0xffffff
page lots
pt 0xc0100000
pt 0x1000
peek 0xc0100000 16
peek 0x1000
meminfo
slabinfo
kmalloc 100
kfree 0x1000
zoneinfo
pagetypeinfo
vmstat
e820
memblock
cpus
threads
bogus
";

/// Step 2: the normal kernel at 2 GiB with two CPUs, its monitor driven by
/// [`MONITOR_SCRIPT`] (`cargo xtask run --monitor`); the answers are
/// checked: `alloc 3` splits a block and `free` restores buddyinfo
/// exactly, a high page gets a pkmap slot and gives it back, every bad
/// input gets its one-line error, and the session ends with `poweroff`.
fn monitor_session(ws: &Workspace, totals: &mut Totals) -> Result<(), Error> {
    section("the kernel monitor: cargo xtask run --monitor --mem 2G --smp 2 < script");
    let iso = crate::make_kernel_iso(ws, Profile::Debug, "monitor")?;
    let machine = qemu::Machine { mem: MemSize::parse("2G").map_err(Error::new)?, smp: 2 };
    let lines = crate::monitor_script::script_lines(MONITOR_SCRIPT.as_bytes())?;
    let (exit, transcript) = crate::monitor_script::converse(qemu::command(&iso, &machine, Serial::Stdio), lines, false)?;
    let mut problems = check_monitor_transcript(&transcript);
    if exit != qemu::GuestExit::Success {
        problems.push(format!("the session ended with {exit}, not poweroff's success"));
    }
    // `reboot` resets the machine: under -no-reboot, QEMU ends with a reset.
    let reboot = crate::monitor_script::script_lines(b"reboot\n".as_slice())?;
    let (reboot_exit, reboot_transcript) = crate::monitor_script::converse(qemu::command(&iso, &machine, Serial::Stdio), reboot, false)?;
    if reboot_exit != qemu::GuestExit::Reset || !reboot_transcript.contains("Restarting system.") {
        problems.push(format!("`reboot` should print \"Restarting system.\" and reset the machine, ended with {reboot_exit}"));
    }
    report_step(totals, "monitor session (cargo xtask run --monitor)", &problems, &transcript);
    Ok(())
}

/// The gdb commands the batch session runs at the breakpoint.
const GDB_COMMANDS: &[&str] = &[
    "lm-buddyinfo",
    "lm-zoneinfo",
    "lm-page 0",
    "lm-pte 0xc0100000",
    "lm-memblock",
    "lm-pkmap",
    "lm-kmap-atomic",
    "lm-slabinfo",
    // The pretty printers: the page of the kernel image's first frame, and
    // GFP_KERNEL's bits as a GfpFlags value.
    "python print(page_of(0x100))",
    "python print(gdb.Value(b'\\xd0\\x00\\x00\\x00', gdb.lookup_type('kernel::mm::gfp::GfpFlags')))",
];

/// Step 3: `scripts/gdb/linmem.py` against a real boot, gdb in batch mode
/// (the kernel stopped in `show_buddyinfo`): `lm-buddyinfo` must print the
/// very numbers the boot log prints next, and the other commands what the
/// machine has.
fn gdb_session(ws: &Workspace, totals: &mut Totals) -> Result<(), Error> {
    section("gdb: scripts/gdb/linmem.py in batch mode, the kernel stopped in show_buddyinfo (2 GiB, 2 CPUs)");
    let machine = qemu::Machine { mem: MemSize::parse("2G").map_err(Error::new)?, smp: 2 };
    let session = crate::gdb::batch_session(ws, &machine, GDB_COMMANDS)?;
    let problems = check_gdb_session(&session.gdb_output, &session.serial);
    report_step(totals, "gdb session (lm-* commands)", &problems, &session.gdb_output);
    Ok(())
}

/// Step 4: `cargo xtask snapshot` at 2 GiB after a workload: the three
/// SVGs are well-formed and show the zones where Linux puts them — DMA
/// below 16 MiB, Normal up to 896 MiB, HighMem up to the end of the last
/// usable e820 entry (computed here from the e820 lines, not from the
/// kernel's zone lines) — and a square for every pageblock.
fn snapshot_pictures(ws: &Workspace, totals: &mut Totals) -> Result<(), Error> {
    section("pictures: cargo xtask snapshot --mem 2G --workload");
    let machine = qemu::Machine { mem: MemSize::parse("2G").map_err(Error::new)?, smp: 1 };
    let out = ws.target_dir.join("snapshot-test");
    let name = "snapshot pictures (physical, virtual, buddy SVG)";
    let mut problems = Vec::new();
    match crate::snapshot::snapshot(ws, &machine, true, &out) {
        Err(e) => problems.push(e.to_string()),
        Ok((snapshot, files)) => {
            let ram_end_pfn = snapshot.e820.iter().filter(|e| e.kind == "usable").map(|e| e.end >> 12).max().unwrap_or(0);
            let expected = [("DMA", 0, 0x1000), ("Normal", 0x1000, 0x38000), ("HighMem", 0x38000, ram_end_pfn)];
            let physical = std::fs::read_to_string(&files[0]).unwrap_or_default();
            for (zone, start, end) in expected {
                let rect = format!("data-zone=\"{zone}\" data-start-pfn=\"{start:#x}\" data-end-pfn=\"{end:#x}\"");
                if !physical.contains(&rect) {
                    problems.push(format!("physical.svg has no zone rectangle with {rect}"));
                }
            }
            let blocks = physical.matches("class=\"pageblock\"").count();
            if blocks as u64 != ram_end_pfn.div_ceil(1024) {
                problems.push(format!("physical.svg has {blocks} pageblocks, the RAM {}", ram_end_pfn.div_ceil(1024)));
            }
            let virtual_svg = std::fs::read_to_string(&files[1]).unwrap_or_default();
            if !virtual_svg.contains("data-name=\"lowmem\" data-start=\"0xc0000000\" data-end=\"0xf8000000\"") {
                problems.push("virtual.svg should show lowmem as 0xc0000000-0xf8000000 (896 MiB)".to_string());
            }
            let buddy_svg = std::fs::read_to_string(&files[2]).unwrap_or_default();
            if buddy_svg.matches("class=\"order\"").count() != 3 * 11 {
                problems.push("buddy.svg should have 11 orders for each of the 3 zones".to_string());
            }
        }
    }
    report_step(totals, name, &problems, "");
    Ok(())
}

/// What the gdb session must have printed (see [`gdb_session`]).
fn check_gdb_session(gdb_output: &str, serial: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let buddyinfo = |text: &str| -> Vec<String> {
        text.lines().filter(|l| l.starts_with("Node 0, zone")).take(3).map(|l| l.trim_end().to_string()).collect()
    };
    let (from_gdb, from_boot) = (buddyinfo(gdb_output), buddyinfo(serial));
    if from_gdb.len() != 3 || from_gdb != from_boot {
        problems.push(format!("lm-buddyinfo {from_gdb:?} should be the boot log's buddyinfo {from_boot:?}"));
    }
    for (command, text) in [
        ("lm-page 0", "pfn 0x0: flags"),
        ("lm-page 0", "PG_reserved"),
        ("lm-pte 0xc0100000", "phys 0x100000"),
        ("lm-memblock", " memory[0x0]\t[0x0000000000000000-"),
        ("lm-pkmap", "0 slot(s) in use, last_pkmap_nr 0"),
        ("lm-kmap-atomic", "0 window(s) mapped"),
        ("lm-slabinfo", "size-131072       objsize 131072 num    1 pages  32"),
        ("lm-zoneinfo", "zone_start_pfn 4096"),
        ("Page pretty printer", "Page { flags 0x00000400 (PG_reserved) zone DMA _count 1"),
        ("GfpFlags pretty printer", "GfpFlags(0xd0: __GFP_WAIT | __GFP_IO | __GFP_FS)"),
    ] {
        if !gdb_output.contains(text) {
            problems.push(format!("`{command}` should print \"{text}\""));
        }
    }
    if gdb_output.contains("Python Exception") || gdb_output.contains("Error occurred in Python") {
        problems.push("a command raised a Python exception".to_string());
    }
    problems
}

/// Count a scripted step (monitor, gdb, pictures) as one test: ok, or
/// FAILED with its problems and the transcript that shows them.
fn report_step(totals: &mut Totals, name: &str, problems: &[String], transcript: &str) {
    if problems.is_empty() {
        println!("test {name} ... ok");
        totals.passed += 1;
    } else {
        println!("test {name} ... FAILED");
        problems.iter().for_each(|p| println!("    {p}"));
        transcript.lines().for_each(|l| println!("  | {l}"));
        totals.fail(name.to_string());
    }
}

/// What the monitor must have answered to [`MONITOR_SCRIPT`].
fn check_monitor_transcript(transcript: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let answer = |command: &str| -> Vec<&str> {
        let prompt = format!("lm> {command}");
        let Some(start) = transcript.lines().position(|l| l.trim_end() == prompt) else { return Vec::new() };
        transcript.lines().skip(start + 1).take_while(|l| !l.starts_with("lm> ")).collect()
    };
    let buddyinfo: Vec<Vec<&str>> = transcript
        .split("lm> buddyinfo")
        .skip(1)
        .map(|part| part.lines().skip(1).take_while(|l| !l.starts_with("lm> ")).collect())
        .collect();
    if buddyinfo.len() != 3 || buddyinfo[0] == buddyinfo[1] || buddyinfo[0] != buddyinfo[2] {
        problems.push(format!("buddyinfo should change after `alloc 3` and be restored by `free #1`: {buddyinfo:?}"));
    }
    let expect = |problems: &mut Vec<String>, command: &str, text: &str| {
        if !answer(command).iter().any(|l| l.contains(text)) {
            problems.push(format!("`{command}` should answer \"{text}\", got {:?}", answer(command)));
        }
    };
    expect(&mut problems, "alloc 3", "#1: pfn 0x");
    expect(&mut problems, "slabinfo", "slabinfo - version: 2.1");
    expect(&mut problems, "kmalloc 100", "100 bytes from size-128");
    expect(&mut problems, "kfree 0x1000", "error: kfree(0x1000) refused: NotSlabMemory");
    expect(&mut problems, "meminfo", "Slab:");
    expect(&mut problems, "free #1", "#1: pfn 0x");
    expect(&mut problems, "alloc 3 GFP_HIGHUSER", "zone HighMem");
    expect(&mut problems, "kmap 0x40000", "pfn 0x40000 mapped at 0xff");
    expect(&mut problems, "pkmap", "count 2 (users 1), pfn 0x40000");
    expect(&mut problems, "kunmap 0x40000", "pfn 0x40000 kunmapped");
    if !transcript.contains("error: pfn 0x40000 is not kmapped") {
        problems.push("the second `kunmap 0x40000` should be refused: not kmapped".to_string());
    }
    expect(&mut problems, "alloc 11", "error: order 11 is not below MAX_ORDER (11)");
    expect(&mut problems, "alloc 2 GFP_FOO", "error: 'GFP_FOO' is not GFP_KERNEL, GFP_ATOMIC, GFP_HIGHUSER or GFP_DMA");
    expect(&mut problems, "alloc", "error: missing an order");
    expect(&mut problems, "free #9", "error: no allocation has handle #9");
    expect(&mut problems, "free", "error: missing a handle");
    expect(&mut problems, "kmap_atomic 0x40000 KM_USER1", "pfn 0x40000 in KM_USER1's window of CPU0 at 0xff");
    expect(&mut problems, "kmap_atomic 0x40000 KM_IRQ0", "error: 'KM_IRQ0' is not KM_USER0 or KM_USER1");
    expect(&mut problems, "vmalloc 64K", "vmalloc(65536) = 0x");
    expect(&mut problems, "vmallocinfo", " 69632 vmalloc pages=16");
    expect(&mut problems, "vfree 0x1234", "error: 0x00001234 does not start a vmalloc area");
    expect(&mut problems, "layout", "pkmap: kmap's 1024 slots");
    expect(&mut problems, "zoneinfo Normal", "Node 0, zone   Normal");
    if answer("zoneinfo Normal").iter().any(|l| l.contains("zone      DMA")) {
        problems.push("`zoneinfo Normal` should show Normal only".to_string());
    }
    expect(&mut problems, "zoneinfo Moon", "error: 'Moon' is not a zone (DMA, Normal, HighMem)");
    expect(&mut problems, "frag Normal", "pageblocks of Normal");
    expect(&mut problems, "stress 1", "every page back: yes");
    expect(&mut problems, "stress 0", "error: a stress of 0 s: give 1 to 60 seconds");
    expect(&mut problems, "page 0x1000", "zone Normal");
    expect(&mut problems, "page 0xffffff", "error: pfn 0xffffff is not in any zone's RAM");
    expect(&mut problems, "page lots", "error: 'lots' is not a pfn");
    expect(&mut problems, "pt 0xc0100000", "4 MiB page: phys 0x100000");
    expect(&mut problems, "pt 0x1000", "not mapped");
    expect(&mut problems, "peek 0x1000", "error: 0x00001000 is not mapped");
    expect(&mut problems, "meminfo", "MemTotal:");
    expect(&mut problems, "zoneinfo", "pages free");
    expect(&mut problems, "pagetypeinfo", "Free pages count per migrate type");
    expect(&mut problems, "vmstat", "pgfree");
    expect(&mut problems, "e820", "BIOS-e820: [mem 0x0000000000000000-");
    expect(&mut problems, "memblock", "MEMBLOCK configuration:");
    expect(&mut problems, "cpus", "CPU1: APIC id 0x1");
    expect(&mut problems, "threads", "kswapd0");
    expect(&mut problems, "bogus", "error: unknown command 'bogus' (try 'help')");
    expect(&mut problems, "help", "poweroff");
    problems
}

/// Step 1: `cargo test` on the host (with the same `--filter`), output shown
/// as cargo prints it.
fn host_tests(ws: &Workspace, options: &TestOptions, totals: &mut Totals) -> Result<(), Error> {
    let filter = options.filter.as_deref();
    for (package, cargo_args) in [
        ("kernel", &["--package", "kernel", "--lib"][..]),
        ("xtask", &["--package", "xtask"][..]),
    ] {
        let command = format!(
            "cargo test {}{}",
            cargo_args.join(" "),
            filter.map(|f| format!(" -- {f}")).unwrap_or_default()
        );
        section(&format!("host unit tests: {command}"));
        let host = cargo::run_host_tests(ws, cargo_args, filter)?;
        totals.passed += host.passed;
        totals.failed += host.failed;
        totals.skipped += host.ignored;
        totals.failures.extend(
            host.failed_tests
                .iter()
                .map(|t| format!("host {package}: {t}")),
        );
        if !host.success && host.failed == 0 {
            // Cargo failed without a failing test: the build broke.
            totals.fail(format!("host {package}: `{command}` failed (see above)"));
        }
    }
    Ok(())
}

/// Step 3: every configuration of every test kernel, one after the other.
/// Returns how many kernel tests the filter selected.
fn boot_all(
    ws: &Workspace,
    options: &TestOptions,
    kernels: &[TestKernel],
    totals: &mut Totals,
) -> Result<usize, Error> {
    let (plans, report) = matrix::plan(kernels, &test_files(ws)?, options.mem);
    for note in report.notes {
        println!("note: {note}");
    }
    for error in report.errors {
        totals.error(error);
    }
    // The tests compiled into each kernel, read once per kernel.
    let mut compiled: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for plan in &plans {
        if !compiled.contains_key(plan.kernel.as_str()) {
            let tests = test_list::compiled_tests(&ws.root.join(&plan.source), &plan.crate_name)?;
            compiled.insert(&plan.kernel, tests);
        }
    }
    if let Some(lib) = compiled.get("lib") {
        for prefix in matrix::stale_exclusions(lib) {
            totals.error(format!("xtask/src/matrix.rs: RAM_INDEPENDENT_TESTS lists `{prefix}`, which matches no test"));
        }
    }
    let jobs = parallel_boots();
    section(&format!(
        "booting {} configuration(s), {} (hung after {}s of silence)",
        plans.len(),
        if jobs > 1 { "two single-CPU ones side by side, multiprocessor ones alone" } else { "one QEMU at a time" },
        options.timeout.as_secs()
    ));
    let timeouts = Timeouts {
        silence: options.timeout,
        total: options.timeout * BOOT_TIME_LIMIT_FACTOR,
    };
    let mut selected = 0;
    let mut index = 0;
    while index < plans.len() {
        let plan = &plans[index];
        let partner = plans.get(index + 1).filter(|next| jobs > 1 && plan.machine.smp == 1 && next.machine.smp == 1);
        let Some(partner) = partner else {
            selected += run_config(ws, plan, &compiled[plan.kernel.as_str()], options, timeouts, totals, &Sink::Stdout)?;
            index += 1;
            continue;
        };
        // Two single-CPU QEMUs, one per host core: the first reports as it
        // goes, the second into a buffer shown when it is done.
        let (first, second) = std::thread::scope(|scope| {
            let background = scope.spawn(|| {
                let (mut totals, sink) = (Totals::default(), Sink::buffered());
                let result = run_config(ws, partner, &compiled[partner.kernel.as_str()], options, timeouts, &mut totals, &sink);
                (result, totals, sink)
            });
            let first = run_config(ws, plan, &compiled[plan.kernel.as_str()], options, timeouts, totals, &Sink::Stdout);
            (first, background.join().expect("the second configuration's thread panicked"))
        });
        let (second, second_totals, second_sink) = second;
        second_sink.flush();
        totals.merge(second_totals);
        selected += first? + second?;
        index += 2;
    }
    Ok(selected)
}

/// How many single-CPU configurations boot at once: two where the host
/// has at least two cores (TCG runs a one-CPU guest on one host thread),
/// else one. `LINMEM_TEST_JOBS=1` forces one at a time.
fn parallel_boots() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let wanted = std::env::var("LINMEM_TEST_JOBS").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(2);
    wanted.clamp(1, 2).min(cores)
}

/// The names of the kernels in `tests/` (file names without `.rs`).
fn test_files(ws: &Workspace) -> Result<Vec<String>, Error> {
    let dir = ws.root.join("tests");
    let entries = std::fs::read_dir(&dir).map_err(|e| Error::new(format!("reading {}: {e}", dir.display())))?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.strip_suffix(".rs").map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

/// Runs one configuration and reports it: one line per result for `Pass`
/// kernels, one verdict line for expected-outcome kernels, then a line with
/// the configuration's counts and wall time. Returns how many tests it
/// selected (0 when the filter leaves none, and then it does not boot).
fn run_config(
    ws: &Workspace,
    plan: &Plan,
    compiled: &BTreeSet<String>,
    options: &TestOptions,
    timeouts: Timeouts,
    totals: &mut Totals,
    sink: &Sink,
) -> Result<usize, Error> {
    let per_test = plan.expectation == Expectation::Pass;
    // An expected-outcome kernel is judged on its complete set of tests, so
    // it never runs filtered: with --filter it runs only if the filter names it.
    let filter = match &options.filter {
        Some(filter) if !per_test && !plan.kernel.contains(filter.as_str()) => return Ok(0),
        Some(_) if !per_test => None,
        filter => filter.as_deref(),
    };
    let expected = matrix::selected_tests(compiled, plan, filter);
    let zero_tests_ok = plan.expectation == Expectation::ExpectNoTests;
    if expected.is_empty() && filter.is_some() {
        return Ok(0);
    }
    let begin = Instant::now();
    let out = Printer {
        label: &plan.label,
        per_test,
        verbose: options.verbose,
        colour: std::io::stdout().is_terminal(),
        sink,
    };
    let (mut run, last_boot) = boot_until_done(ws, plan, filter, timeouts, &out)?;

    let closing = run.finish(&expected, zero_tests_ok);
    for problem in &closing {
        out.problem(problem);
    }
    let timing = {
        let boots = run.boots();
        let plural = if boots == 1 { "" } else { "s" };
        format!("{boots} boot{plural}, {:.1}s", begin.elapsed().as_secs_f64())
    };

    if per_test {
        if !closing.is_empty() {
            out.tail(&last_boot);
        }
        totals.passed += run.nr_passed();
        totals.skipped += run.nr_skipped();
        for result in run.results().iter().filter(|r| r.outcome == Outcome::Failed) {
            totals.fail(format!("{}/{}", plan.label, result.path));
        }
        for problem in run.problems() {
            totals.fail(format!("{}/{} ({})", plan.label, problem.kind, problem.reason));
        }
        out.say(format!(
            "    {}: {} passed, {} failed, {} skipped of {} ({timing})",
            plan.label,
            run.nr_passed(),
            run.nr_failed(),
            run.nr_skipped(),
            expected.len()
        ));
    } else {
        let name = format!("{} (expected outcome)", plan.kernel);
        let differences = plan.expectation.differences(&run);
        out.line(&name, differences.is_empty(), None);
        if differences.is_empty() {
            totals.passed += 1;
        } else {
            for difference in &differences {
                out.say(format!("    {difference}"));
            }
            out.tail(&last_boot);
            totals.fail(name);
        }
        out.say(format!("    {}: {timing}", plan.label));
    }
    // An expected-outcome kernel with no tests of its own (`no_tests`) still
    // counts as something the filter selected.
    Ok(expected.len().max(1))
}

/// What a failure report shows of one boot.
struct BootRecord {
    number: usize,
    cmdline: String,
    /// The last [`TAIL_LINES`] lines of serial output.
    tail: Vec<String>,
    qemu_stderr: String,
}

/// Boots one configuration as often as it takes (a panicking test ends a
/// boot; the next one resumes after it), streaming results as they arrive.
/// Returns the results and the last boot, for failures found afterwards.
fn boot_until_done(
    ws: &Workspace,
    plan: &Plan,
    filter: Option<&str>,
    timeouts: Timeouts,
    out: &Printer<'_>,
) -> Result<(ConfigRun, BootRecord), Error> {
    // One staging directory per configuration (two may boot at once): each
    // boot only rewrites grub.cfg.
    let staging = Staging::new(&ws.iso_dir(), &format!("test-{}", plan.label.replace('@', "-")), &plan.elf)?;
    let mut run = ConfigRun::default();
    let mut resume_after: Option<String> = None;
    loop {
        let cmdline = kernel_cmdline(plan.cmdline, plan.exclude, plan.only, filter, resume_after.as_deref());
        let iso = staging.make_iso(&cmdline)?;
        let cmd = qemu::command(iso, &plan.machine, Serial::Stdio);
        let mut transcript = BootTranscript::default();
        let mut boot_failed = false;
        let captured = qemu::run_captured(cmd, timeouts, |bytes| {
            for event in transcript.feed(bytes) {
                out.event(event, &mut run, &mut boot_failed);
            }
        })?;
        for event in transcript.finish() {
            out.event(event, &mut run, &mut boot_failed);
        }

        let step = run.end_boot(&transcript, captured.end);
        for result in &step.results {
            out.result(result);
        }
        for problem in &step.problems {
            out.problem(problem);
        }
        let record = BootRecord {
            number: run.boots(),
            cmdline,
            tail: transcript.tail().map(str::to_string).collect(),
            qemu_stderr: captured.stderr,
        };
        let failed = boot_failed || !step.results.is_empty() || !step.problems.is_empty();
        if failed && out.per_test {
            out.tail(&record);
        }
        match step.resume_after {
            Some(path) => resume_after = Some(path),
            None => return Ok((run, record)),
        }
    }
}

/// The kernel command line of one boot: the table's words, the tests left
/// out, the filter, and where to resume.
fn kernel_cmdline(extra: &str, exclude: &[&str], only: &[&str], filter: Option<&str>, resume_after: Option<&str>) -> String {
    let exclude = (!exclude.is_empty()).then(|| format!("test_exclude={}", exclude.join(",")));
    let only = (!only.is_empty()).then(|| format!("test_only={}", only.join(",")));
    let filter = filter.map(|f| format!("test={f}"));
    let resume = resume_after.map(|p| format!("test_resume={p}"));
    [Some(extra.to_string()), exclude, only, filter, resume]
        .into_iter()
        .flatten()
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where a configuration's report goes: straight to the terminal, or into a
/// buffer printed when it is done (the second of two configurations booting
/// side by side, so their lines do not interleave).
enum Sink {
    Stdout,
    Buffer(std::sync::Mutex<String>),
}

impl Sink {
    fn buffered() -> Sink {
        Sink::Buffer(std::sync::Mutex::new(String::new()))
    }

    /// Prints what a buffer holds.
    fn flush(self) {
        if let Sink::Buffer(text) = self {
            print!("{}", text.into_inner().unwrap_or_else(|poison| poison.into_inner()));
        }
    }
}

/// Prints one configuration's progress.
struct Printer<'a> {
    label: &'a str,
    /// One line per test (`Pass` kernels), or silence until the verdict?
    per_test: bool,
    verbose: bool,
    colour: bool,
    sink: &'a Sink,
}

impl Printer<'_> {
    /// One line of the report.
    fn say(&self, line: String) {
        match self.sink {
            Sink::Stdout => println!("{line}"),
            Sink::Buffer(text) => {
                let mut text = text.lock().unwrap_or_else(|poison| poison.into_inner());
                text.push_str(&line);
                text.push('\n');
            }
        }
    }

    /// Handles one event of the serial stream as it happens.
    fn event(&self, event: Event, run: &mut ConfigRun, boot_failed: &mut bool) {
        match event {
            Event::Line(line) if self.verbose => self.say(format!("  | {line}")),
            Event::Result(result) => {
                *boot_failed |= result.outcome == Outcome::Failed;
                if run.record(result.clone()) {
                    self.result(&result);
                } else if self.per_test {
                    self.say(format!("    (a second result for {} was ignored)", result.path));
                }
            }
            // In verbose mode the detail was just printed as a serial line.
            Event::Detail(line) if self.per_test && !self.verbose => self.say(format!("    {line}")),
            _ => {}
        }
    }

    fn result(&self, result: &TestResult) {
        if self.per_test {
            let name = format!("{}/{}", self.label, result.path);
            match result.outcome {
                Outcome::Skipped => self.skipped(&name, result.note.as_deref().unwrap_or("no reason given")),
                outcome => self.line(&name, outcome == Outcome::Ok, result.note.as_deref()),
            }
        }
    }

    /// `test <name> ... skipped (reason)`.
    fn skipped(&self, name: &str, reason: &str) {
        let word = if self.colour { "\x1b[33mskipped\x1b[0m" } else { "skipped" };
        self.say(format!("test {name} ... {word} ({reason})"));
    }

    fn problem(&self, problem: &Problem) {
        if self.per_test {
            self.line(
                &format!("{}/{}", self.label, problem.kind),
                false,
                Some(&problem.reason),
            );
        }
    }

    /// `test <name> ... ok` or `test <name> ... FAILED (note)`.
    fn line(&self, name: &str, ok: bool, note: Option<&str>) {
        let (word, colour) = if ok { ("ok", "32") } else { ("FAILED", "31") };
        let word = if self.colour {
            format!("\x1b[{colour}m{word}\x1b[0m")
        } else {
            word.to_string()
        };
        match note {
            Some(note) => self.say(format!("test {name} ... {word} ({note})")),
            None => self.say(format!("test {name} ... {word}")),
        }
    }

    /// The end of a failed boot's serial output (unless `--verbose` already
    /// showed all of it) and anything QEMU complained about. Only `Pass`
    /// kernels show this per boot; expected-outcome kernels call it when
    /// their verdict is wrong.
    fn tail(&self, boot: &BootRecord) {
        if !self.verbose {
            self.say(format!(
                "  ---- {} boot {} (cmdline `{}`): last {TAIL_LINES} lines of serial output ----",
                self.label, boot.number, boot.cmdline
            ));
            for line in &boot.tail {
                self.say(format!("  | {line}"));
            }
        }
        if !boot.qemu_stderr.trim().is_empty() {
            self.say(format!("  ---- QEMU said ----"));
            for line in boot.qemu_stderr.lines() {
                self.say(format!("  | {line}"));
            }
        }
        if !self.verbose || !boot.qemu_stderr.trim().is_empty() {
            self.say(format!("  ----"));
        }
    }
}

/// Running totals over host tests, kernel tests and expectation kernels.
#[derive(Default)]
struct Totals {
    passed: usize,
    failed: usize,
    skipped: usize,
    /// What failed, for the list at the end.
    failures: Vec<String>,
}

impl Totals {
    /// Adds the counts and failures of a configuration run on its own.
    fn merge(&mut self, other: Totals) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.failures.extend(other.failures);
    }

    fn fail(&mut self, what: String) {
        self.failed += 1;
        self.failures.push(what);
    }

    /// A failure of the suite itself (not of a test): said at once, and
    /// counted.
    fn error(&mut self, what: String) {
        println!("error: {what}");
        self.fail(what);
    }

    /// Prints the failure list and the final `N passed, M failed, K skipped` line.
    fn finish(self) -> ExitCode {
        if !self.failures.is_empty() {
            println!("\nfailures:");
            for failure in &self.failures {
                println!("    {failure}");
            }
        }
        println!("\n{} passed, {} failed, {} skipped", self.passed, self.failed, self.skipped);
        if self.failed == 0 && self.passed > 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

fn section(title: &str) {
    println!("\n=== {title}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composes_kernel_command_lines() {
        assert_eq!(kernel_cmdline("", &[], &[], None, None), "");
        assert_eq!(kernel_cmdline("nopse", &[], &[], None, None), "nopse");
        assert_eq!(kernel_cmdline("nosmp", &[], &["k::smp::"], None, None), "nosmp test_only=k::smp::");
        assert_eq!(
            kernel_cmdline("mem=1G", &["k::x::", "k::y::"], &[], Some("buddy"), Some("kernel::mm::a")),
            "mem=1G test_exclude=k::x::,k::y:: test=buddy test_resume=kernel::mm::a"
        );
        assert_eq!(kernel_cmdline("", &[], &[], None, Some("k::a")), "test_resume=k::a");
    }
}
