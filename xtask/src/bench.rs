//! `cargo xtask bench`: the benchmarks.
//!
//! 1. The benchmark kernel (`tests/bench.rs`, built with optimisations)
//!    boots in QEMU and prints a table measured with the TSC, between two
//!    marker lines; the rest of the serial output is the boot log, shown
//!    only with `--verbose`.
//! 2. The host benchmark (`xtask/hostbench/`) runs the kernel's allocator code
//!    and two peer crates on the same workloads.
//!
//! Benchmarks print figures; they never judge them.

use std::process::ExitCode;
use std::time::Duration;

use crate::Error;
use crate::cargo::{self, Workspace};
use crate::iso::Staging;
use crate::protocol::{BootEnd, clean_line};
use crate::qemu::{self, GuestExit, Machine, Serial, Timeouts};

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOptions {
    pub machine: Machine,
    pub verbose: bool,
}

/// The kernel's `NR_CPUS`: the most vCPUs worth giving it.
const NR_CPUS: u32 = 4;

/// First and last line of the kernel's table.
const BEGIN_MARKER: &str = "=== kernel benchmark ===";
const END_MARKER: &str = "=== end of kernel benchmark ===";

pub fn run(ws: &Workspace, options: &BenchOptions) -> Result<ExitCode, Error> {
    println!("=== building the benchmark kernel (release)");
    let elf = cargo::build_bench_kernel(ws)?;
    let staging = Staging::new(&ws.iso_dir(), "bench", &elf)?;
    let iso = staging.make_iso("")?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    // The scaling rows need a vCPU per host core, and no more: extra vCPUs
    // would share cores and their TSC figures would mix in waiting.
    let scaling_smp = if options.machine.smp == 0 { cores.clamp(1, NR_CPUS) } else { options.machine.smp };
    // The per-operation rows boot with one vCPU, as the Linux peer does
    // (`../shared/linux-peer/run`): with more, QEMU runs its vCPUs as
    // parallel threads and must emulate every locked instruction with a
    // real host atomic, which alone makes a burst of page allocations
    // about 1.5x dearer. The scaling rows then get a boot of their own.
    let single = Machine { mem: options.machine.mem, smp: 1 };
    println!("=== booting it with {} of RAM and 1 vCPU (the per-operation rows)", single.mem);
    boot_and_print(iso, &single, options.verbose)?;
    if scaling_smp > 1 {
        let machine = Machine { mem: options.machine.mem, smp: scaling_smp };
        println!("=== booting it with {} of RAM and {} vCPUs on a host with {cores} core(s) (the scaling rows)", machine.mem, machine.smp);
        if machine.smp > cores {
            println!("note: more vCPUs than host cores: they time-slice, and the scaling rows show waiting, not cost");
        }
        boot_and_print(iso, &machine, options.verbose)?;
    } else {
        println!("=== no scaling rows: they need more than one vCPU (--smp N, N > 1)");
    }
    println!("\n=== host benchmark (release)");
    cargo::run_host_bench(ws)?;
    Ok(ExitCode::SUCCESS)
}

/// Boots the benchmark kernel on `machine` and prints its table (and, with
/// `verbose`, the whole boot log).
fn boot_and_print(iso: &std::path::Path, machine: &Machine, verbose: bool) -> Result<(), Error> {
    let cmd = qemu::command(iso, machine, Serial::Stdio);
    let timeouts = Timeouts {
        silence: Duration::from_secs(300),
        total: Duration::from_secs(1800),
    };
    let mut pending = Vec::new();
    let mut in_table = false;
    let captured = qemu::run_captured(cmd, timeouts, |bytes| {
        pending.extend_from_slice(bytes);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line = clean_line(&pending[..end]);
            pending.drain(..=end);
            in_table |= line == BEGIN_MARKER;
            // In the table, only its rows: the fragmentation runs log the
            // set-up of their synthetic nodes.
            let row = in_table && (line.starts_with('|') || line.starts_with("==="));
            if row || verbose {
                println!("{line}");
            }
            in_table &= line != END_MARKER;
        }
    })?;
    if captured.end != BootEnd::Exited(GuestExit::Success) {
        return Err(Error::new(format!(
            "the benchmark kernel ended with {} instead of success{}",
            captured.end,
            if captured.stderr.is_empty() {
                String::new()
            } else {
                format!("; QEMU said: {}", captured.stderr.trim())
            }
        )));
    }
    Ok(())
}
