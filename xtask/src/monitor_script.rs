//! `cargo xtask run --monitor < script`: drives the kernel monitor from a
//! file or a pipe, as a user at the prompt would.
//!
//! Each time the kernel prints its prompt (`lm> `) the next line of the
//! script is typed (sent to the serial port); the kernel echoes it, so the
//! transcript reads like a session. Empty lines and `#` comments are
//! skipped. At the end of the script `poweroff` is typed, which ends QEMU.
//! A kernel that stays silent for two minutes is stopped.

use std::io::BufRead;
use std::process::Command;
use std::time::Duration;

use crate::Error;
use crate::qemu::{self, GuestExit, Timeouts};
use crate::protocol::BootEnd;

/// The kernel monitor's prompt (`src/monitor.rs`).
pub const PROMPT: &str = "lm> ";

/// The commands of a script: its lines without blanks and comments, then
/// `poweroff`.
pub fn script_lines(input: impl BufRead) -> Result<Vec<String>, Error> {
    let mut lines = Vec::new();
    for line in input.lines() {
        let line = line.map_err(|e| Error::new(format!("reading the monitor script: {e}")))?;
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            lines.push(line.to_string());
        }
    }
    lines.push("poweroff".to_string());
    Ok(lines)
}

/// Boots `cmd` and types the script at each prompt; prints everything the
/// kernel says. Returns how QEMU ended.
pub fn run(cmd: Command, input: impl BufRead) -> Result<GuestExit, Error> {
    let (exit, _transcript) = converse(cmd, script_lines(input)?, true)?;
    Ok(exit)
}

/// As [`run`], returning the transcript too (`print` says whether to show
/// it as it comes).
pub fn converse(cmd: Command, lines: Vec<String>, print: bool) -> Result<(GuestExit, String), Error> {
    println!("$ {} (typing {} monitor command(s))", qemu::display_command(&cmd), lines.len());
    let timeouts = Timeouts { silence: Duration::from_secs(120), total: Duration::from_secs(1200) };
    let mut next = lines.into_iter();
    let mut transcript = String::new();
    let captured = qemu::run_conversation(cmd, timeouts, true, |chunk| {
        let text = String::from_utf8_lossy(chunk);
        if print {
            print!("{text}");
        }
        transcript.push_str(&text);
        transcript.ends_with(PROMPT).then(|| next.next().map(|line| format!("{line}\r").into_bytes())).flatten()
    })?;
    match captured.end {
        BootEnd::Exited(exit) => Ok((exit, transcript)),
        other => Err(Error::new(format!("the monitor session ended with {other}{}", if captured.stderr.is_empty() {
            String::new()
        } else {
            format!("; QEMU said: {}", captured.stderr.trim())
        }))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_is_its_commands_then_poweroff() {
        let script = "buddyinfo\n\n# a comment\n  alloc 3  \n";
        assert_eq!(script_lines(script.as_bytes()).unwrap(), ["buddyinfo", "alloc 3", "poweroff"]);
    }
}
