//! `cargo xtask`: builds, boots, tests and debugs the linmem kernel.
//!
//! A bare-metal kernel needs more than `cargo build`: a custom target with a
//! self-built `core`, a bootloader (GRUB on a CD image), an emulator (QEMU),
//! and for tests a way to read results out of a machine that has only a
//! serial port. This crate is that glue, written in Rust so it runs wherever
//! cargo does and needs no shell scripts or Makefile. It is an ordinary host
//! program with no dependencies beyond `std` (the `cargo xtask` alias in
//! `.cargo/config.toml` runs it).
//!
//! The pieces, in the order a boot uses them:
//!
//! * [`prereq`]: check for (and install) QEMU, GRUB, xorriso, gdb, rust-src.
//! * [`cargo`]: build the kernel or its test kernels; run host tests.
//! * [`iso`]: put the kernel and a grub.cfg on a bootable ISO.
//! * [`qemu`]: boot the ISO; map QEMU's exit status to the kernel's verdict.
//! * [`protocol`]: read test results from the serial output.
//! * [`matrix`]: which test kernel boots with how much RAM, expecting what.
//! * [`test_suite`], [`gdb`] and [`bench`]: the `test`, `gdb` and `bench`
//!   commands.

mod bench;
mod monitor_script;
mod cargo;
mod gdb;
mod iso;
mod json;
mod matrix;
mod prereq;
mod protocol;
mod qemu;
#[cfg(test)]
mod seed_names;
mod snapshot;
mod test_list;
mod test_suite;

use std::fmt;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use bench::BenchOptions;
use cargo::{Profile, Workspace};
use gdb::GdbOptions;
use iso::Staging;
use prereq::Needs;
use qemu::{GuestExit, Machine, MemSize, Serial};
use test_suite::TestOptions;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  build [--release]
      Build the kernel: target/i686-kernel/{debug,release}/kernel

  iso [--release] [--cmdline \"...\"]
      Build, then make target/iso/kernel.iso (GRUB + kernel, console on serial).

  run [--release] [--mem SIZE] [--smp N] [--cmdline \"...\"] [--monitor] [-- QEMU-ARGS...]
      Build, make the ISO and boot it in QEMU with the serial console on this
      terminal. On a terminal the boot ends in the kernel monitor (`help`
      lists its commands; Ctrl-A X leaves QEMU); --monitor feeds it the lines
      of stdin instead, one per prompt, then `poweroff`; with neither the
      kernel checks itself and powers off. Exits 0 if the kernel reports
      success, 1 otherwise. Defaults: --mem 128M --smp 1. Arguments after
      `--` go to QEMU.

  test [--filter SUBSTR] [--mem SIZE] [--verbose] [--timeout SECS]
      Host unit tests, then every test kernel in every configuration of
      xtask/src/matrix.rs. --filter runs only tests whose path contains SUBSTR
      (host and kernel tests), --mem only the configurations with that much RAM,
      --verbose shows all serial output, --timeout is how many seconds a silent
      kernel may take before it counts as hung (default 120).

  gdb [--release] [--mem SIZE] [--smp N] [--cmdline \"...\"] [--test NAME]
      Boot halted under QEMU's gdb stub and attach gdb, with the lm-* commands
      of scripts/gdb/linmem.py loaded. --test NAME debugs a test kernel (`lib`,
      or the name of a tests/*.rs file) instead.

  snapshot [--mem SIZE] [--smp N] [--out DIR] [--workload]
      Boot, optionally run a workload (the monitor's `stress 2`), and draw the
      kernel's memory as SVG: physical.svg (e820, zones, every pageblock),
      virtual.svg (the 3G/1G split, the top 128 MiB zoomed), buddy.svg (free
      lists). Defaults: --mem 2G, --out target/snapshot.

  bench [--mem SIZE] [--smp N] [--verbose]
      Benchmarks (figures only): boot the benchmark kernel (tests/bench.rs,
      release) with one vCPU and print its TSC table, boot it again with
      --smp N vCPUs for the scaling rows (default: as many as host cores, at
      most 4; skipped at 1), then run the host benchmark (xtask/hostbench/:
      the kernel's allocator against buddy_system_allocator and
      bitmap-allocator). Default --mem 1G; --verbose shows the boot logs.

  help
      Show this text.

SIZE is a RAM size as QEMU takes it, e.g. 32M, 896M, 2G.
";

/// An error for the user: printed as `error: <message>`, exit status 1.
#[derive(Debug)]
pub struct Error {
    message: String,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Help,
    Build {
        profile: Profile,
    },
    Iso {
        profile: Profile,
        cmdline: String,
    },
    Run {
        profile: Profile,
        machine: Machine,
        cmdline: String,
        qemu_args: Vec<String>,
        /// `--monitor`: feed the kernel monitor the script on stdin.
        monitor: bool,
    },
    Test(TestOptions),
    Gdb(GdbOptions),
    Bench(BenchOptions),
    Snapshot(snapshot::SnapshotOptions),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_args(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match execute(command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn execute(command: Command) -> Result<ExitCode, Error> {
    let ws = Workspace::locate();
    match command {
        Command::Help => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Build { profile } => {
            prereq::ensure(Needs::default())?;
            let elf = cargo::build_kernel(&ws, profile)?;
            println!("kernel: {}", elf.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Iso { profile, cmdline } => {
            prereq::ensure(Needs {
                iso: true,
                ..Needs::default()
            })?;
            let iso = make_kernel_iso(&ws, profile, &cmdline)?;
            println!("iso: {}", iso.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            profile,
            machine,
            cmdline,
            qemu_args,
            monitor,
        } => {
            prereq::ensure(Needs {
                iso: true,
                qemu: true,
                ..Needs::default()
            })?;
            // On a terminal the boot ends at the kernel monitor's prompt;
            // with --monitor the script on stdin drives it; otherwise the
            // kernel boots, checks itself and powers off.
            let on_terminal = !monitor && std::io::stdin().is_terminal();
            let cmdline = if monitor || on_terminal { format!("{cmdline} monitor") } else { cmdline };
            let iso = make_kernel_iso(&ws, profile, &cmdline)?;
            let serial = if on_terminal { Serial::Terminal } else { Serial::Stdio };
            let mut qemu_cmd = qemu::command(&iso, &machine, serial);
            qemu_cmd.args(&qemu_args);
            if monitor {
                return Ok(report_run(monitor_script::run(qemu_cmd, std::io::stdin().lock())?));
            }
            if on_terminal {
                println!("(the kernel monitor opens after the boot; Ctrl-A X leaves QEMU)");
            }
            Ok(report_run(qemu::run_interactive(qemu_cmd)?))
        }
        Command::Test(options) => {
            // gdb: the suite checks the lm-* gdb commands against a boot.
            prereq::ensure(Needs {
                iso: true,
                qemu: true,
                gdb: true,
            })?;
            test_suite::run(&ws, &options)
        }
        Command::Gdb(options) => {
            prereq::ensure(Needs {
                iso: true,
                qemu: true,
                gdb: true,
            })?;
            gdb::run(&ws, &options)
        }
        Command::Bench(options) => {
            prereq::ensure(Needs {
                iso: true,
                qemu: true,
                ..Needs::default()
            })?;
            bench::run(&ws, &options)
        }
        Command::Snapshot(options) => {
            prereq::ensure(Needs {
                iso: true,
                qemu: true,
                ..Needs::default()
            })?;
            snapshot::run(&ws, &options)
        }
    }
}

/// Builds the main kernel and puts it on `target/iso/kernel.iso`.
pub(crate) fn make_kernel_iso(
    ws: &Workspace,
    profile: Profile,
    cmdline: &str,
) -> Result<std::path::PathBuf, Error> {
    let elf = cargo::build_kernel(ws, profile)?;
    Ok(Staging::new(&ws.iso_dir(), "kernel", &elf)?
        .make_iso(cmdline)?
        .to_path_buf())
}

/// Tells the user how an interactive `run` ended and picks our exit status.
/// (Each message starts on a fresh line: the kernel may have stopped in the
/// middle of one.)
fn report_run(exit: GuestExit) -> ExitCode {
    match exit {
        GuestExit::Success => return ExitCode::SUCCESS,
        GuestExit::Failure => eprintln!("\nQEMU: the kernel reported failure ({exit})"),
        GuestExit::RestartNeeded => eprintln!(
            "\nQEMU: the kernel asked to be booted again ({exit}); only `cargo xtask test` does that"
        ),
        GuestExit::Reset => eprintln!("\nQEMU: guest reset (triple fault?)"),
        GuestExit::Other(_) | GuestExit::Signal(_) => eprintln!("\n{exit}"),
    }
    ExitCode::FAILURE
}

/// The option values one command accepts, gathered while parsing.
#[derive(Default)]
struct Options {
    release: bool,
    monitor: bool,
    mem: Option<MemSize>,
    smp: Option<u32>,
    cmdline: Option<String>,
    filter: Option<String>,
    verbose: bool,
    timeout: Option<Duration>,
    test: Option<String>,
    out: Option<String>,
    workload: bool,
    qemu_args: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    let Some((name, rest)) = args.split_first() else {
        return Err("no command given".to_string());
    };
    let allowed: &[&str] = match name.as_str() {
        "help" | "-h" | "--help" => &[],
        "build" => &["--release"],
        "iso" => &["--release", "--cmdline"],
        "run" => &["--release", "--mem", "--smp", "--cmdline", "--monitor", "--"],
        "test" => &["--filter", "--mem", "--verbose", "--timeout"],
        "gdb" => &["--release", "--mem", "--smp", "--cmdline", "--test"],
        "bench" => &["--mem", "--smp", "--verbose"],
        "snapshot" => &["--mem", "--smp", "--out", "--workload"],
        _ => return Err(format!("unknown command `{name}`")),
    };
    let o = parse_options(name, rest, allowed)?;
    let profile = if o.release {
        Profile::Release
    } else {
        Profile::Debug
    };
    let machine = Machine {
        mem: o.mem.unwrap_or(MemSize::parse("128M")?),
        smp: o.smp.unwrap_or(1),
    };
    let cmdline = o.cmdline.unwrap_or_default();
    Ok(match name.as_str() {
        "build" => Command::Build { profile },
        "iso" => Command::Iso { profile, cmdline },
        "run" => Command::Run {
            profile,
            machine,
            cmdline,
            qemu_args: o.qemu_args,
            monitor: o.monitor,
        },
        "test" => Command::Test(TestOptions {
            filter: o.filter,
            mem: o.mem,
            verbose: o.verbose,
            timeout: o.timeout.unwrap_or(Duration::from_secs(120)),
        }),
        "gdb" => Command::Gdb(GdbOptions {
            profile,
            machine,
            cmdline,
            test: o.test,
        }),
        "bench" => Command::Bench(BenchOptions {
            machine: Machine {
                mem: o.mem.unwrap_or(MemSize::parse("1G")?),
                // 0: as many vCPUs as the host has cores (bench::run decides).
                smp: o.smp.unwrap_or(0),
            },
            verbose: o.verbose,
        }),
        "snapshot" => Command::Snapshot(snapshot::SnapshotOptions {
            machine: Machine { mem: o.mem.unwrap_or(MemSize::parse("2G")?), smp: o.smp.unwrap_or(1) },
            out: o.out.map(std::path::PathBuf::from),
            workload: o.workload,
        }),
        _ => Command::Help,
    })
}

/// Reads `--flag`, `--flag VALUE` and `--flag=VALUE` options, accepting
/// only those in `allowed`.
fn parse_options(command: &str, args: &[String], allowed: &[&str]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        if !allowed.contains(&flag) {
            return Err(format!("`{command}` does not take `{arg}`"));
        }
        let mut value = || {
            inline_value
                .clone()
                .or_else(|| args.next().cloned())
                .ok_or_else(|| format!("`{flag}` needs a value"))
        };
        let no_value = |set: &mut bool| match inline_value {
            Some(_) => Err(format!("`{flag}` takes no value")),
            None => {
                *set = true;
                Ok(())
            }
        };
        match flag {
            "--release" => no_value(&mut o.release)?,
            "--monitor" => no_value(&mut o.monitor)?,
            "--workload" => no_value(&mut o.workload)?,
            "--out" => o.out = Some(value()?),
            "--verbose" => no_value(&mut o.verbose)?,
            "--mem" => o.mem = Some(MemSize::parse(&value()?)?),
            "--smp" => {
                let text = value()?;
                o.smp = Some(
                    text.parse()
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or(format!("invalid --smp `{text}`"))?,
                );
            }
            "--timeout" => {
                let text = value()?;
                let secs: u64 = text
                    .parse()
                    .ok()
                    .filter(|&s| s >= 1)
                    .ok_or(format!("invalid --timeout `{text}`"))?;
                o.timeout = Some(Duration::from_secs(secs));
            }
            "--cmdline" => o.cmdline = Some(value()?),
            "--filter" => {
                let filter = value()?;
                // The kernel splits its command line at spaces.
                if filter.is_empty() || filter.contains(char::is_whitespace) {
                    return Err(format!("invalid --filter `{filter}`: it must be one word"));
                }
                o.filter = Some(filter);
            }
            "--test" => o.test = Some(value()?),
            "--" => {
                o.qemu_args = args.by_ref().cloned().collect();
            }
            _ => unreachable!("every allowed flag is handled"),
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, String> {
        let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        parse_args(&args)
    }

    fn mem(text: &str) -> MemSize {
        MemSize::parse(text).unwrap()
    }

    #[test]
    fn parses_run() {
        assert_eq!(
            parse("run --mem 2G --smp=2 --cmdline=nopse --release -- -d int -S").unwrap(),
            Command::Run {
                profile: Profile::Release,
                machine: Machine {
                    mem: mem("2G"),
                    smp: 2
                },
                cmdline: "nopse".into(),
                qemu_args: vec!["-d".into(), "int".into(), "-S".into()],
                monitor: false,
            }
        );
        assert_eq!(
            parse("run").unwrap(),
            Command::Run {
                profile: Profile::Debug,
                machine: Machine {
                    mem: mem("128M"),
                    smp: 1
                },
                cmdline: String::new(),
                qemu_args: vec![],
                monitor: false,
            }
        );
        assert!(matches!(parse("run --monitor").unwrap(), Command::Run { monitor: true, .. }));
        assert!(parse("run --monitor=yes").is_err());
    }

    #[test]
    fn cmdline_keeps_spaces() {
        let args = ["iso", "--cmdline", "mem=1G nopse"].map(String::from);
        assert_eq!(
            parse_args(&args).unwrap(),
            Command::Iso {
                profile: Profile::Debug,
                cmdline: "mem=1G nopse".into()
            }
        );
    }

    #[test]
    fn parses_test() {
        assert_eq!(
            parse("test --filter buddy --mem 2048M --verbose --timeout 30").unwrap(),
            Command::Test(TestOptions {
                filter: Some("buddy".into()),
                mem: Some(mem("2G")),
                verbose: true,
                timeout: Duration::from_secs(30),
            })
        );
        let Command::Test(defaults) = parse("test").unwrap() else {
            panic!()
        };
        assert_eq!(
            (defaults.filter, defaults.mem, defaults.timeout),
            (None, None, Duration::from_secs(120))
        );
    }

    #[test]
    fn parses_gdb() {
        assert_eq!(
            parse("gdb --test harness_selftest --mem 1G").unwrap(),
            Command::Gdb(GdbOptions {
                profile: Profile::Debug,
                machine: Machine {
                    mem: mem("1G"),
                    smp: 1
                },
                cmdline: String::new(),
                test: Some("harness_selftest".into()),
            })
        );
    }

    #[test]
    fn parses_bench() {
        assert_eq!(
            parse("bench --mem 2G").unwrap(),
            Command::Bench(BenchOptions {
                machine: Machine {
                    mem: mem("2G"),
                    smp: 0
                },
                verbose: false,
            })
        );
        let Command::Bench(defaults) = parse("bench --verbose").unwrap() else {
            panic!()
        };
        assert_eq!((defaults.machine.mem, defaults.verbose), (mem("1G"), true));
        assert!(parse("bench --release").is_err());
    }

    #[test]
    fn rejects_bad_usage() {
        for bad in [
            "",
            "boot",
            "build --mem 2G",
            "build --release=yes",
            "test --release",
            "test --timeout 0",
            "test --timeout",
            "run --smp 0",
            "run --mem lots",
            "iso --",
            "gdb -- -S",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(parse_args(&["test", "--filter", "a b"].map(String::from)).is_err());
    }

    #[test]
    fn help_variants() {
        for help in ["help", "-h", "--help"] {
            assert_eq!(parse(help).unwrap(), Command::Help);
        }
    }
}
