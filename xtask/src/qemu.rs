//! Starting QEMU and reading how the guest ended.
//!
//! Every boot uses the same machine: a PC (`qemu-system-i386`, TCG) that
//! boots GRUB from our ISO, with COM1 wired to QEMU's stdio (or a file, for
//! `gdb`), no display and no monitor, and `-no-reboot` so that a triple fault
//! ends QEMU instead of rebooting forever.
//!
//! The guest reports its verdict through the `isa-debug-exit` device at I/O
//! port 0xf4: writing a value `v` there makes QEMU exit with status
//! `(v << 1) | 1`. The kernel writes 0x10 (success), 0x11 (failure) or 0x12
//! (a test panicked, boot me again), which arrive here as 33, 35 and 37. A
//! plain exit status 0 means QEMU stopped for another reason, which with
//! `-no-reboot` is a reset: usually a triple fault.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::Error;
use crate::protocol::BootEnd;

/// QEMU exit status for the kernel's "success" (it wrote 0x10 to port 0xf4).
pub const EXIT_SUCCESS: i32 = 33;
/// QEMU exit status for the kernel's "failure" (0x11).
pub const EXIT_FAILURE: i32 = 35;
/// QEMU exit status for "a test panicked, boot again and resume after it" (0x12).
pub const EXIT_RESTART_NEEDED: i32 = 37;

/// Why QEMU exited, in the kernel's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestExit {
    /// 33: the kernel finished and everything passed.
    Success,
    /// 35: the kernel finished and something failed.
    Failure,
    /// 37: a test panicked; only the test suite knows how to continue.
    RestartNeeded,
    /// 0: the guest reset or shut down without writing to the exit port.
    Reset,
    /// Any other status: QEMU itself failed (bad option, missing file...).
    Other(i32),
    /// QEMU was killed by this signal (Ctrl-C, or xtask's own timeout).
    Signal(i32),
}

impl GuestExit {
    pub fn from_status(status: ExitStatus) -> GuestExit {
        match (status.code(), status.signal()) {
            (Some(EXIT_SUCCESS), _) => GuestExit::Success,
            (Some(EXIT_FAILURE), _) => GuestExit::Failure,
            (Some(EXIT_RESTART_NEEDED), _) => GuestExit::RestartNeeded,
            (Some(0), _) => GuestExit::Reset,
            (Some(code), _) => GuestExit::Other(code),
            (None, Some(signal)) => GuestExit::Signal(signal),
            (None, None) => GuestExit::Other(-1),
        }
    }
}

impl fmt::Display for GuestExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuestExit::Success => write!(f, "exit {EXIT_SUCCESS}, success"),
            GuestExit::Failure => write!(f, "exit {EXIT_FAILURE}, failure"),
            GuestExit::RestartNeeded => write!(f, "exit {EXIT_RESTART_NEEDED}, restart needed"),
            GuestExit::Reset => write!(f, "guest reset, triple fault?"),
            GuestExit::Other(code) => write!(f, "QEMU exit status {code}"),
            GuestExit::Signal(signal) => write!(f, "QEMU killed by signal {signal}"),
        }
    }
}

/// A RAM size as QEMU's `-m` takes it: a number with an optional `K`/`M`/`G`
/// suffix (no suffix means MiB, like QEMU). Kept in MiB so that `2G` and
/// `2048M` compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemSize {
    mib: u64,
}

impl MemSize {
    pub fn parse(text: &str) -> Result<MemSize, String> {
        let bad = || format!("invalid memory size `{text}` (expected e.g. 128M or 2G)");
        let upper = text.trim().to_ascii_uppercase();
        let (digits, kib_per_unit) = match upper.strip_suffix(['K', 'M', 'G']) {
            Some(digits) if upper.ends_with('K') => (digits, 1),
            Some(digits) if upper.ends_with('M') => (digits, 1024),
            Some(digits) => (digits, 1024 * 1024),
            None => (upper.as_str(), 1024),
        };
        let kib = digits
            .parse::<u64>()
            .map_err(|_| bad())?
            .checked_mul(kib_per_unit)
            .ok_or_else(bad)?;
        if kib == 0 || !kib.is_multiple_of(1024) {
            return Err(format!(
                "memory size `{text}` must be a positive whole number of MiB"
            ));
        }
        Ok(MemSize { mib: kib / 1024 })
    }
}

impl fmt::Display for MemSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mib.is_multiple_of(1024) {
            write!(f, "{}G", self.mib / 1024)
        } else {
            write!(f, "{}M", self.mib)
        }
    }
}

/// The virtual PC's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    pub mem: MemSize,
    /// Number of CPUs (`-smp`).
    pub smp: u32,
}

/// Where COM1 goes.
pub enum Serial<'a> {
    /// QEMU's stdin/stdout (interactive `run`, and the test suite's pipe).
    Stdio,
    /// The terminal, in raw mode, shared with QEMU's monitor (Ctrl-A X
    /// quits, Ctrl-A H lists the keys): for the kernel monitor.
    Terminal,
    /// A file (for `gdb`, whose terminal belongs to gdb).
    File(&'a Path),
}

/// The QEMU command line shared by `run`, `test` and `gdb`.
pub fn command(iso: &Path, machine: &Machine, serial: Serial<'_>) -> Command {
    // A person at the terminal may `reboot` the guest like a PC; everywhere
    // else a reset must end QEMU so that xtask sees it (usually a triple fault).
    let interactive = matches!(serial, Serial::Terminal);
    let serial = match serial {
        Serial::Stdio => "stdio".to_string(),
        Serial::Terminal => "mon:stdio".to_string(),
        // QEMU option values escape a literal comma by doubling it.
        Serial::File(path) => format!("file:{}", path.display().to_string().replace(',', ",,")),
    };
    let mut cmd = Command::new("qemu-system-i386");
    cmd.arg("-cdrom")
        .arg(iso)
        .args(["-m", &format!("{}M", machine.mem.mib)])
        .args(["-smp", &machine.smp.to_string()])
        .args(["-serial", &serial])
        .args(["-display", "none", "-monitor", "none"])
        .args(if interactive { &[][..] } else { &["-no-reboot"][..] })
        // Port 0xf4, 4 bytes wide: the kernel's way to end QEMU with a status.
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
    cmd
}

/// Shows a command the way a user would type it, so they can rerun it by hand.
pub fn display_command(cmd: &Command) -> String {
    let quote = |s: &str| {
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_=:,./+@%".contains(c))
        {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| quote(&s.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs QEMU attached to the terminal (serial on stdio, so the user can type
/// to the kernel) and returns how the guest ended.
pub fn run_interactive(mut cmd: Command) -> Result<GuestExit, Error> {
    println!("$ {}", display_command(&cmd));
    let mut child = spawn(&mut cmd)?;
    // Ctrl-C in this terminal reaches QEMU (which ends the guest) and us. We
    // stay alive to report how QEMU ended instead of dying mid-sentence.
    ignore_interrupts();
    let status = child
        .wait()
        .map_err(|e| Error::new(format!("waiting for QEMU failed: {e}")))?;
    Ok(GuestExit::from_status(status))
}

/// How long a captured boot may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Longest gap between two pieces of serial output.
    pub silence: Duration,
    /// Longest boot, start to end.
    pub total: Duration,
}

/// What a captured boot left behind besides its serial output.
pub struct Captured {
    pub end: BootEnd,
    /// QEMU's own messages (errors about options, missing files...).
    pub stderr: String,
}

/// Runs QEMU with its serial output (stdout) piped to `on_output` as it
/// arrives, killing it when the guest goes quiet or runs too long.
///
/// Two reader threads drain QEMU's stdout and stderr, so QEMU never blocks
/// on a full pipe; the stdout thread forwards chunks over a channel, and this
/// thread waits on that channel with a deadline. That deadline is how we
/// notice a hung guest without any platform-specific polling.
pub fn run_captured(cmd: Command, timeouts: Timeouts, mut on_output: impl FnMut(&[u8])) -> Result<Captured, Error> {
    run_conversation(cmd, timeouts, false, |chunk| {
        on_output(chunk);
        None
    })
}

/// [`run_captured`] with QEMU's stdin (the guest's serial input) piped too:
/// whatever `on_output` returns is written to it.
pub fn run_conversation(
    mut cmd: Command,
    timeouts: Timeouts,
    with_input: bool,
    mut on_output: impl FnMut(&[u8]) -> Option<Vec<u8>>,
) -> Result<Captured, Error> {
    cmd.stdin(if with_input { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut qemu = KillOnDrop(spawn(&mut cmd)?);
    let mut stdin = qemu.0.stdin.take();
    let mut stdout = qemu.0.stdout.take().expect("stdout is piped");
    let mut stderr = qemu.0.stderr.take().expect("stderr is piped");

    let (chunks, received) = mpsc::channel::<Vec<u8>>();
    let stdout_reader = thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // A read error ends the stream just like EOF: QEMU is gone either way.
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            if chunks.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let stderr_reader = thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    });

    let start = Instant::now();
    let mut last_output = start;
    let timed_out = loop {
        let silence_left = timeouts.silence.saturating_sub(last_output.elapsed());
        let total_left = timeouts.total.saturating_sub(start.elapsed());
        if total_left.is_zero() {
            break Some(BootEnd::TooLong(timeouts.total));
        }
        if silence_left.is_zero() {
            break Some(BootEnd::Silent(timeouts.silence));
        }
        match received.recv_timeout(silence_left.min(total_left)) {
            Ok(chunk) => {
                last_output = Instant::now();
                if let (Some(reply), Some(input)) = (on_output(&chunk), stdin.as_mut()) {
                    // A guest that stopped reading shows up as silence or an exit.
                    let _ = input.write_all(&reply).and_then(|()| input.flush());
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break None,
        }
    };

    let end = match timed_out {
        Some(timeout) => {
            qemu.kill();
            timeout
        }
        None => {
            let status = qemu
                .0
                .wait()
                .map_err(|e| Error::new(format!("waiting for QEMU failed: {e}")))?;
            BootEnd::Exited(GuestExit::from_status(status))
        }
    };
    // Both pipes are closed now that QEMU is gone, so the readers finish.
    let _ = stdout_reader.join();
    let stderr = stderr_reader.join().unwrap_or_default();
    Ok(Captured { end, stderr })
}

/// Starts QEMU in the background for gdb: in its own process group, so that
/// pressing Ctrl-C in gdb (to stop the guest) does not also kill QEMU.
pub fn spawn_background(mut cmd: Command) -> Result<KillOnDrop, Error> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0);
    println!("$ {} &", display_command(&cmd));
    let mut qemu = KillOnDrop(spawn(&mut cmd)?);
    // A QEMU that cannot start (port 1234 taken, bad option) exits at once;
    // say so now rather than let gdb report a refused connection.
    thread::sleep(Duration::from_millis(300));
    if let Ok(Some(status)) = qemu.0.try_wait() {
        return Err(Error::new(format!(
            "QEMU exited immediately ({}); see its message above",
            GuestExit::from_status(status)
        )));
    }
    Ok(qemu)
}

fn spawn(cmd: &mut Command) -> Result<Child, Error> {
    cmd.spawn().map_err(|e| {
        Error::new(format!(
            "could not start {}: {e} (is the qemu-system-x86 package installed?)",
            cmd.get_program().to_string_lossy()
        ))
    })
}

/// A QEMU process that is killed when this handle is dropped, so no error
/// path (or panic) in xtask can leave a guest running in the background.
pub struct KillOnDrop(Child);

impl KillOnDrop {
    pub fn kill(&mut self) {
        // Killing an already-exited child fails harmlessly; reaping it
        // afterwards keeps it from lingering as a zombie.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Makes this process ignore SIGINT (Ctrl-C) from now on. Used while a
/// foreground child (interactive QEMU, gdb) owns the terminal: Ctrl-C is
/// meant for that child, and xtask must survive it to clean up and report.
pub fn ignore_interrupts() {
    const SIGINT: i32 = 2;
    const SIG_IGN: usize = 1;
    unsafe extern "C" {
        // libc's `signal(2)`; std links libc on every Unix.
        fn signal(signum: i32, handler: usize) -> usize;
    }
    // SAFETY: installing SIG_IGN runs no code of ours in signal context and
    // touches no Rust-visible state; SIGINT and SIG_IGN have these values on
    // Linux and the BSDs.
    unsafe {
        signal(SIGINT, SIG_IGN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_exit_statuses() {
        let status = |code: i32| ExitStatus::from_raw(code << 8);
        assert_eq!(GuestExit::from_status(status(33)), GuestExit::Success);
        assert_eq!(GuestExit::from_status(status(35)), GuestExit::Failure);
        assert_eq!(GuestExit::from_status(status(37)), GuestExit::RestartNeeded);
        assert_eq!(GuestExit::from_status(status(0)), GuestExit::Reset);
        assert_eq!(GuestExit::from_status(status(1)), GuestExit::Other(1));
        assert_eq!(
            GuestExit::from_status(ExitStatus::from_raw(9)),
            GuestExit::Signal(9)
        );
    }

    #[test]
    fn parses_memory_sizes() {
        assert_eq!(MemSize::parse("128M").unwrap().to_string(), "128M");
        assert_eq!(
            MemSize::parse("2g").unwrap(),
            MemSize::parse("2048M").unwrap()
        );
        assert_eq!(MemSize::parse("2048").unwrap().to_string(), "2G");
        assert_eq!(MemSize::parse("1048576K").unwrap().to_string(), "1G");
        for bad in ["", "0M", "-1G", "1.5G", "12X", "100K", "G"] {
            assert!(MemSize::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn builds_the_qemu_command_line() {
        let machine = Machine {
            mem: MemSize::parse("2G").unwrap(),
            smp: 2,
        };
        let cmd = command(
            Path::new("/t/k.iso"),
            &machine,
            Serial::File(Path::new("/t/a,b.log")),
        );
        assert_eq!(
            display_command(&cmd),
            "qemu-system-i386 -cdrom /t/k.iso -m 2048M -smp 2 -serial file:/t/a,,b.log \
             -display none -monitor none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04"
        );
    }

    #[test]
    fn captures_output_and_exit_status() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "printf 'a\\nb'; echo oops >&2; exit 35"]);
        let mut seen = Vec::new();
        let timeouts = Timeouts {
            silence: Duration::from_secs(10),
            total: Duration::from_secs(20),
        };
        let captured = run_captured(cmd, timeouts, |b| seen.extend_from_slice(b)).unwrap();
        assert_eq!(seen, b"a\nb");
        assert_eq!(captured.end, BootEnd::Exited(GuestExit::Failure));
        assert_eq!(captured.stderr, "oops\n");
    }

    #[test]
    fn kills_a_silent_process() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 30"]);
        let timeouts = Timeouts {
            silence: Duration::from_millis(300),
            total: Duration::from_secs(20),
        };
        let begin = Instant::now();
        let captured = run_captured(cmd, timeouts, |_| {}).unwrap();
        assert_eq!(captured.end, BootEnd::Silent(timeouts.silence));
        assert!(begin.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn kills_a_process_that_talks_forever() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "while true; do echo tick; sleep 0.05; done"]);
        let timeouts = Timeouts {
            silence: Duration::from_secs(5),
            total: Duration::from_millis(500),
        };
        let captured = run_captured(cmd, timeouts, |_| {}).unwrap();
        assert_eq!(captured.end, BootEnd::TooLong(timeouts.total));
    }
}

/// Runs `cmd` to completion and returns its standard output (standard error
/// merged in after it), killing it if it takes longer than `limit`.
pub fn output_with_timeout(mut cmd: Command, limit: std::time::Duration) -> Result<Vec<u8>, String> {
    use std::io::Read;
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("could not start {}: {e}", display_command(&cmd)))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {} s", limit.as_secs()));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut bytes = out.join().unwrap_or_default();
    bytes.extend(err.join().unwrap_or_default());
    Ok(bytes)
}
