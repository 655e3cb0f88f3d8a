//! Reading the kernel test harness's serial output.
//!
//! A test kernel cannot return a `Vec` of results to us: all it has is a
//! serial port (COM1, which QEMU connects to our pipe) and the `isa-debug-exit`
//! device (whose value becomes QEMU's exit status). The harness therefore
//! *prints* its progress in libtest's familiar format and xtask reads it back.
//! This module is that reader. It is pure: bytes and exit reasons in, results
//! out, so every corner of the protocol is unit-tested with sample transcripts
//! at the bottom of this file.
//!
//! # The protocol
//!
//! ```text
//! running 3 tests                              <- harness starts (count after filter/resume)
//! test kernel::mm::a ... ok                    <- a test that finished quietly
//! test kernel::mm::b ...                       <- started (no newline yet), then it logged:
//! [INFO] something the test logged
//! test kernel::mm::b ... ok                    <- so the harness repeats the full line
//! test kernel::mm::c ... FAILED
//!     assertion failed: nr_free == 3           <- indented lines after FAILED: details
//! test result: FAILED. 2 passed; 1 failed      <- end of a complete run, then exit 33/35
//! ```
//!
//! A *result* is a whole line `test <path> ... ok|FAILED`; a *start* is a line
//! (or the unterminated last line) `test <path> ... ` without a result. The
//! difference matters when a boot dies: the started-but-unfinished test is the
//! one to blame.
//!
//! A test that panics cannot unwind (the kernel is `panic = "abort"`), so the
//! harness prints that test's result and exits with status 37, "restart me
//! after this test". xtask boots the same kernel again with
//! `test_resume=<path>` on its command line and keeps adding up results until
//! a boot finishes with 33 (all ok) or 35 (something failed). [`ConfigRun`]
//! does that bookkeeping; [`judge_boot`] decides what one boot's ending means.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use crate::qemu::GuestExit;

/// How many lines of serial output we keep per boot to show when it fails.
pub const TAIL_LINES: usize = 40;

/// Upper bound on boots of one configuration. Every restart must move past at
/// least one test, so a harness that keeps restarting is stuck in a loop.
const MAX_BOOTS_PER_CONFIG: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
}

/// One test's result as xtask records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// The test's full path as the kernel printed it, e.g. `kernel::mm::buddy::tests::split`.
    pub path: String,
    pub outcome: Outcome,
    /// Why xtask marked the test FAILED itself (timeout, reset...), when the
    /// kernel never printed a result for it.
    pub note: Option<String>,
}

/// A failure that belongs to no single test: the boot died before any test
/// started, or the harness broke its own protocol. Printed as
/// `test <config>/boot ... FAILED (<reason>)` (or `/harness`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The machine did not get as far as running a test (or hung between tests).
    Boot,
    /// The harness said something inconsistent, e.g. "success" after a failure.
    Harness,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProblemKind::Boot => "boot",
            ProblemKind::Harness => "harness",
        })
    }
}

/// The final `test result:` line of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub ok: bool,
    pub passed: usize,
    pub failed: usize,
}

/// What one line of serial output is, as far as the protocol is concerned.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// `running N tests`
    Running(usize),
    /// `test <path> ... ` with no result (possibly with a log message glued on).
    Started(&'a str),
    /// `test <path> ... ok` / `test <path> ... FAILED`
    Result(&'a str, Outcome),
    /// `test result: ok. N passed; M failed`
    Summary(Summary),
    /// Anything else: boot messages, logs, failure details.
    Other,
}

/// Classifies one line that has already been through [`clean_line`].
pub fn classify(line: &str) -> Line<'_> {
    if let Some(summary) = parse_summary(line) {
        return Line::Summary(summary);
    }
    if let Some(count) = parse_running(line) {
        return Line::Running(count);
    }
    let Some(rest) = line.strip_prefix("test ") else {
        return Line::Other;
    };
    let Some((path, after)) = rest.split_once(" ...") else {
        return Line::Other;
    };
    if path.is_empty() || path.contains(char::is_whitespace) {
        return Line::Other;
    }
    match after.trim_end() {
        " ok" => Line::Result(path, Outcome::Ok),
        " FAILED" => Line::Result(path, Outcome::Failed),
        // Nothing after the dots (the kernel is still running the test), or a
        // log line that was printed before the harness could end the line.
        _ => Line::Started(path),
    }
}

/// Parses libtest's summary line, `test result: ok. 12 passed; 0 failed; ...`.
/// The kernel harness prints the same format, so this reads both the host
/// unit tests' output and the kernels' serial output.
pub fn parse_summary(line: &str) -> Option<Summary> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let (ok, rest) = match rest.strip_prefix("ok.") {
        Some(rest) => (true, rest),
        None => (false, rest.strip_prefix("FAILED.")?),
    };
    let mut counts = rest.split(';').map(str::trim);
    let passed = counts.next()?.strip_suffix(" passed")?.parse().ok()?;
    let failed = counts.next()?.strip_suffix(" failed")?.parse().ok()?;
    Some(Summary { ok, passed, failed })
}

/// `running 3 tests` / `running 1 test` -> the count.
fn parse_running(line: &str) -> Option<usize> {
    let rest = line.trim().strip_prefix("running ")?;
    let count = rest
        .strip_suffix(" tests")
        .or_else(|| rest.strip_suffix(" test"))?;
    count.parse().ok()
}

/// Turns raw serial bytes into plain text: invalid UTF-8 becomes U+FFFD, ANSI
/// escape sequences (colours from the kernel's logger, GRUB's screen
/// clearing) and carriage returns disappear, and other control characters
/// except tabs are dropped.
pub fn clean_line(raw: &[u8]) -> String {
    strip_ansi(&String::from_utf8_lossy(raw))
}

/// Removes ANSI escape sequences and control characters (keeping tabs).
///
/// Handled forms: CSI `ESC [ params final` (colours, cursor movement), OSC
/// `ESC ] ... BEL` or `ESC ] ... ESC \`, character-set selection `ESC ( X`,
/// and any other two-byte `ESC X`.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => {
                    // Parameter and intermediate bytes are 0x20..=0x3F; the
                    // final byte is 0x40..=0x7E.
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                Some('(' | ')') => {
                    chars.next();
                }
                _ => {}
            },
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Something the transcript noticed, in order, for the driver to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Every complete serial line (shown with `--verbose`).
    Line(String),
    /// The harness announced how many tests this boot will run.
    Running(usize),
    /// A test finished.
    Result(TestResult),
    /// An indented line right after a FAILED result: the failure's details.
    Detail(String),
}

/// Everything one boot printed, digested as it streams in.
#[derive(Debug, Default)]
pub struct BootTranscript {
    /// Bytes after the last newline: a line still being written.
    partial: Vec<u8>,
    /// `running N tests` (the first one, if the kernel printed several).
    announced: Option<usize>,
    results: Vec<TestResult>,
    /// The last test that started and has no result yet.
    started: Option<String>,
    summary: Option<Summary>,
    /// Are we in the indented lines right after a FAILED?
    in_failure_details: bool,
    tail: VecDeque<String>,
}

impl BootTranscript {
    /// Adds a chunk of serial output; returns what it completed. A chunk may
    /// end mid-line (or mid-character): that part waits for the next chunk.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.partial.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(newline) = self.partial.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.partial.drain(..=newline).collect();
            let line = clean_line(&raw[..raw.len() - 1]);
            self.take_line(line, &mut events);
        }
        events
    }

    /// The boot is over: treats an unterminated last line as complete. This
    /// is how we see `test x ... ` of a test that hung or crashed the machine.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        if !self.partial.is_empty() {
            let line = clean_line(&std::mem::take(&mut self.partial));
            self.take_line(line, &mut events);
        }
        events
    }

    fn take_line(&mut self, line: String, events: &mut Vec<Event>) {
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.clone());
        events.push(Event::Line(line.clone()));

        let details_continue = match classify(&line) {
            Line::Running(count) => {
                self.announced.get_or_insert(count);
                events.push(Event::Running(count));
                false
            }
            Line::Started(path) => {
                self.started = Some(path.to_string());
                false
            }
            Line::Result(path, outcome) => {
                self.started = None;
                let result = TestResult {
                    path: path.to_string(),
                    outcome,
                    note: None,
                };
                self.results.push(result.clone());
                events.push(Event::Result(result));
                // Details follow only a failure; this line itself is not one.
                self.in_failure_details = outcome == Outcome::Failed;
                return;
            }
            Line::Summary(summary) => {
                self.summary = Some(summary);
                false
            }
            Line::Other => {
                let indented = line.starts_with([' ', '\t']) && !line.trim().is_empty();
                if self.in_failure_details && indented {
                    events.push(Event::Detail(line));
                    true
                } else {
                    false
                }
            }
        };
        self.in_failure_details = details_continue;
    }

    /// The `running N tests` count of this boot, if the harness got that far.
    pub fn announced(&self) -> Option<usize> {
        self.announced
    }

    pub fn results(&self) -> &[TestResult] {
        &self.results
    }

    /// The test that started and never reported a result (call after [`finish`](Self::finish)).
    pub fn unfinished_test(&self) -> Option<&str> {
        self.started.as_deref()
    }

    pub fn summary(&self) -> Option<Summary> {
        self.summary
    }

    /// The last [`TAIL_LINES`] lines, oldest first.
    pub fn tail(&self) -> impl Iterator<Item = &str> {
        self.tail.iter().map(String::as_str)
    }

    fn nr_failed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .count()
    }
}

/// How a QEMU run ended, from xtask's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootEnd {
    /// QEMU exited on its own.
    Exited(GuestExit),
    /// The serial port stayed quiet for this long, so we killed QEMU.
    Silent(Duration),
    /// The boot as a whole took longer than this, so we killed QEMU.
    TooLong(Duration),
}

impl fmt::Display for BootEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootEnd::Exited(exit) => write!(f, "{exit}"),
            BootEnd::Silent(limit) => {
                write!(f, "timeout: no serial output for {}s", limit.as_secs())
            }
            BootEnd::TooLong(limit) => {
                write!(f, "timeout: the boot took longer than {}s", limit.as_secs())
            }
        }
    }
}

/// What one boot's ending means for the run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BootVerdict {
    /// The test that was running when the boot ended abnormally; xtask marks it FAILED.
    pub interrupted: Option<TestResult>,
    /// A failure of the boot or the harness rather than of one test.
    pub problem: Option<Problem>,
    /// Boot again with `test_resume=<this path>`.
    pub resume_after: Option<String>,
}

/// Decides what one boot's transcript and ending mean: which test (if any) to
/// blame, whether the boot itself failed, and whether to boot again.
///
/// * 37 "restart needed": the harness printed the panicking test's result;
///   resume after the last result of this boot.
/// * 33/35: a complete run. The status must agree with the results: 33 with a
///   FAILED test, or 35 although every test passed, is a harness bug; so is
///   a `test result:` line whose counts differ from this boot's results.
/// * Reset (triple fault) and timeouts: the started-but-unfinished test is
///   FAILED and the run resumes after it; with no test running, the boot
///   itself failed and there is nothing to resume.
///
/// There is no point resuming when the boot already accounted for every test
/// it announced (the panicking test was the last one), so then we don't.
pub fn judge_boot(transcript: &BootTranscript, end: &BootEnd) -> BootVerdict {
    let unfinished = transcript.unfinished_test();
    let blame = |path: &str, note: String| TestResult {
        path: path.to_string(),
        outcome: Outcome::Failed,
        note: Some(note),
    };
    let problem = |kind, reason: String| Some(Problem { kind, reason });
    let mut verdict = BootVerdict::default();

    match end {
        BootEnd::Exited(GuestExit::RestartNeeded) => {
            if let Some(path) = unfinished {
                let note = "the kernel asked for a restart before reporting this test's result";
                verdict.interrupted = Some(blame(path, note.to_string()));
                verdict.resume_after = Some(path.to_string());
            } else if let Some(last) = transcript.results().last() {
                verdict.resume_after = Some(last.path.clone());
            } else {
                verdict.problem = problem(
                    ProblemKind::Harness,
                    "the kernel asked for a restart (exit 37) before any test ran".to_string(),
                );
            }
        }
        BootEnd::Exited(exit @ (GuestExit::Success | GuestExit::Failure)) => {
            if let Some(path) = unfinished {
                let note = format!("the kernel exited ({exit}) while this test was running");
                verdict.interrupted = Some(blame(path, note));
            }
            verdict.problem = check_complete_run(transcript, *exit);
        }
        BootEnd::Exited(GuestExit::Reset) | BootEnd::Silent(_) | BootEnd::TooLong(_) => {
            let reason = match end {
                BootEnd::Exited(_) => "triple fault or reset".to_string(),
                timeout => timeout.to_string(),
            };
            if let Some(path) = unfinished {
                verdict.interrupted = Some(blame(path, reason));
                verdict.resume_after = Some(path.to_string());
            } else {
                verdict.problem = problem(ProblemKind::Boot, reason);
            }
        }
        BootEnd::Exited(exit @ (GuestExit::Other(_) | GuestExit::Signal(_))) => {
            let during = unfinished
                .map(|p| format!(" while {p} was running"))
                .unwrap_or_default();
            verdict.problem = problem(
                ProblemKind::Boot,
                format!("QEMU stopped unexpectedly ({exit}){during}"),
            );
        }
    }
    // No need to boot again if the test that ended the boot was the last one
    // this boot announced: every test has its result.
    let reported = transcript.results().len() + usize::from(verdict.interrupted.is_some());
    if transcript.announced() == Some(reported) {
        verdict.resume_after = None;
    }
    verdict
}

/// The consistency checks for a boot that ended with 33 or 35: the exit
/// status must agree with the results the boot printed, and so must the
/// `test result:` line.
fn check_complete_run(transcript: &BootTranscript, exit: GuestExit) -> Option<Problem> {
    let nr_results = transcript.results().len();
    let nr_failed = transcript.nr_failed();
    let nr_passed = nr_results - nr_failed;
    let running = transcript.unfinished_test().is_some();
    let harness = |reason: String| {
        Some(Problem {
            kind: ProblemKind::Harness,
            reason,
        })
    };

    if exit == GuestExit::Success && nr_failed > 0 {
        harness(format!(
            "the kernel exited with success although {nr_failed} test(s) failed"
        ))
    } else if exit == GuestExit::Failure && nr_results == 0 && !running {
        // `running 0 tests` + failure is how the harness says "nothing to
        // run"; ConfigRun::finish decides whether that is allowed. Anything
        // else is a kernel that died before its first test (a boot panic).
        (transcript.announced() != Some(0)).then(|| Problem {
            kind: ProblemKind::Boot,
            reason: "the kernel failed before reporting any test result".to_string(),
        })
    } else if exit == GuestExit::Failure && nr_failed == 0 && !running {
        harness(format!(
            "the kernel exited with failure although all {nr_results} test(s) it reported passed"
        ))
    } else if let Some(summary) = transcript.summary()
        && (summary.passed, summary.failed) != (nr_passed, nr_failed)
    {
        harness(format!(
            "the summary says {} passed, {} failed, but this boot reported {nr_passed} passed, \
             {nr_failed} failed",
            summary.passed, summary.failed
        ))
    } else {
        None
    }
}

/// What [`ConfigRun::end_boot`] found: failures xtask adds on its own and
/// whether to boot again.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BootStep {
    pub results: Vec<TestResult>,
    pub problems: Vec<Problem>,
    pub resume_after: Option<String>,
}

/// The results of one configuration (one kernel at one memory size and
/// command line) across all of its boots.
#[derive(Debug, Default)]
pub struct ConfigRun {
    /// `running N` of the first boot: the number of tests the configuration has.
    announced: Option<usize>,
    results: Vec<TestResult>,
    problems: Vec<Problem>,
    boots: usize,
    /// Did any boot exit with "failure" (35)?
    saw_failure_exit: bool,
    last_end: Option<BootEnd>,
    /// Every test we resumed after, to notice a harness that does not advance.
    resumed_after: Vec<String>,
}

impl ConfigRun {
    /// Records a result the kernel printed. Returns `false` (and ignores it)
    /// if this test already has a result, so a confused harness cannot make
    /// one test count twice.
    pub fn record(&mut self, result: TestResult) -> bool {
        if self.results.iter().any(|r| r.path == result.path) {
            return false;
        }
        self.results.push(result);
        true
    }

    /// Closes one boot (whose results were already [`record`](Self::record)ed
    /// as they streamed in): judges its ending, records the failures that
    /// implies, and says whether to boot again and where to resume.
    pub fn end_boot(&mut self, transcript: &BootTranscript, end: BootEnd) -> BootStep {
        self.boots += 1;
        if self.boots == 1 {
            self.announced = transcript.announced();
        }
        self.saw_failure_exit |= end == BootEnd::Exited(GuestExit::Failure);
        self.last_end = Some(end);

        let verdict = judge_boot(transcript, &end);
        let mut step = BootStep::default();
        if let Some(result) = verdict.interrupted
            && self.record(result.clone())
        {
            step.results.push(result);
        }
        step.problems.extend(verdict.problem);

        if let Some(path) = verdict.resume_after {
            if self.resumed_after.contains(&path) {
                step.problems.push(Problem {
                    kind: ProblemKind::Harness,
                    reason: format!(
                        "asked to resume after {path} twice: the harness is not advancing"
                    ),
                });
            } else if self.boots >= MAX_BOOTS_PER_CONFIG {
                step.problems.push(Problem {
                    kind: ProblemKind::Harness,
                    reason: format!("gave up after {MAX_BOOTS_PER_CONFIG} boots"),
                });
            } else {
                self.resumed_after.push(path.clone());
                step.resume_after = Some(path);
            }
        }
        self.problems.extend(step.problems.iter().cloned());
        step
    }

    /// Checks that need all boots: a configuration that ran no test at all
    /// fails (unless `zero_tests_ok`: a `--filter` that matches nothing here,
    /// or a kernel that is supposed to have no tests), and a run without
    /// other problems must have reported as many tests as its first boot
    /// announced.
    pub fn finish(&mut self, zero_tests_ok: bool) -> Vec<Problem> {
        let mut found = Vec::new();
        if self.results.is_empty() && self.problems.is_empty() && !zero_tests_ok {
            found.push(Problem {
                kind: ProblemKind::Harness,
                reason: "no tests ran".to_string(),
            });
        } else if let Some(announced) = self.announced
            && self.problems.is_empty()
            && self.results.len() != announced
        {
            found.push(Problem {
                kind: ProblemKind::Harness,
                reason: format!(
                    "the kernel announced {announced} test(s) but reported {}",
                    self.results.len()
                ),
            });
        }
        self.problems.extend(found.iter().cloned());
        found
    }

    pub fn results(&self) -> &[TestResult] {
        &self.results
    }

    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    pub fn announced(&self) -> Option<usize> {
        self.announced
    }

    pub fn boots(&self) -> usize {
        self.boots
    }

    pub fn last_end(&self) -> Option<BootEnd> {
        self.last_end
    }

    /// The verdict of the whole run as a user would read it: some boot exited
    /// with "failure" or some test failed. (A single boot cannot know about
    /// failures in earlier boots, so no one exit status says this.)
    pub fn failed_overall(&self) -> bool {
        self.saw_failure_exit || self.results.iter().any(|r| r.outcome == Outcome::Failed)
    }

    pub fn nr_passed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == Outcome::Ok)
            .count()
    }

    /// Failed tests plus boot/harness problems.
    pub fn nr_failed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .count()
            + self.problems.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(text: &str) -> BootTranscript {
        let mut t = BootTranscript::default();
        t.feed(text.as_bytes());
        t.finish();
        t
    }

    fn paths(results: &[TestResult], outcome: Outcome) -> Vec<&str> {
        results
            .iter()
            .filter(|r| r.outcome == outcome)
            .map(|r| r.path.as_str())
            .collect()
    }

    /// Plays one configuration: each boot is (serial output, ending). Checks
    /// that xtask resumes after the right test between boots.
    fn play(boots: &[(&str, BootEnd, Option<&str>)], zero_tests_ok: bool) -> ConfigRun {
        let mut run = ConfigRun::default();
        for (text, end, expected_resume) in boots {
            let mut t = BootTranscript::default();
            let mut events = t.feed(text.as_bytes());
            events.extend(t.finish());
            for event in events {
                if let Event::Result(r) = event {
                    run.record(r);
                }
            }
            let step = run.end_boot(&t, *end);
            assert_eq!(
                step.resume_after.as_deref(),
                *expected_resume,
                "after boot {text:?}"
            );
        }
        run.finish(zero_tests_ok);
        run
    }

    const SUCCESS: BootEnd = BootEnd::Exited(GuestExit::Success);
    const FAILURE: BootEnd = BootEnd::Exited(GuestExit::Failure);
    const RESTART: BootEnd = BootEnd::Exited(GuestExit::RestartNeeded);
    const RESET: BootEnd = BootEnd::Exited(GuestExit::Reset);

    #[test]
    fn classifies_protocol_lines() {
        assert_eq!(classify("running 3 tests"), Line::Running(3));
        assert_eq!(classify("running 1 test"), Line::Running(1));
        assert_eq!(
            classify("test a::b ... ok"),
            Line::Result("a::b", Outcome::Ok)
        );
        assert_eq!(
            classify("test a::b ... FAILED  "),
            Line::Result("a::b", Outcome::Failed)
        );
        assert_eq!(classify("test a::b ... "), Line::Started("a::b"));
        assert_eq!(classify("test a::b ..."), Line::Started("a::b"));
        assert_eq!(
            classify("test a::b ... [INFO] hello"),
            Line::Started("a::b")
        );
        assert_eq!(classify("test a::b ... okay"), Line::Started("a::b"));
        assert_eq!(
            classify("test result: FAILED. 2 passed; 1 failed"),
            Line::Summary(Summary {
                ok: false,
                passed: 2,
                failed: 1
            })
        );
        assert_eq!(classify("testing the waters"), Line::Other);
        assert_eq!(classify("test  ... ok"), Line::Other);
        assert_eq!(classify("running late"), Line::Other);
    }

    #[test]
    fn parses_libtest_summaries() {
        let line = "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(
            parse_summary(line),
            Some(Summary {
                ok: true,
                passed: 12,
                failed: 0
            })
        );
        assert_eq!(parse_summary("test result: ok. x passed; 0 failed"), None);
        assert_eq!(parse_summary("test foo ... ok"), None);
    }

    #[test]
    fn strips_escapes_and_carriage_returns() {
        assert_eq!(clean_line(b"\x1b[32mok\x1b[0m\r"), "ok");
        assert_eq!(
            clean_line(b"\x1b[2J\x1b[1;1H\x1b[?25lrunning 2 tests"),
            "running 2 tests"
        );
        assert_eq!(clean_line(b"\x1b]0;title\x07a\x1b(Bb\tc"), "ab\tc");
        assert_eq!(clean_line(b"bad \xff byte"), "bad \u{fffd} byte");
    }

    #[test]
    fn normal_run() {
        let text = "\x1b[2Jlinmem booting\r\nrunning 2 tests\r\ntest k::a ... ok\r\ntest k::b ... ok\r\n\
                    test result: ok. 2 passed; 0 failed\r\n";
        let t = transcript(text);
        assert_eq!(t.announced(), Some(2));
        assert_eq!(paths(t.results(), Outcome::Ok), ["k::a", "k::b"]);
        assert_eq!(t.unfinished_test(), None);
        assert_eq!(
            t.summary(),
            Some(Summary {
                ok: true,
                passed: 2,
                failed: 0
            })
        );
        assert_eq!(judge_boot(&t, &SUCCESS), BootVerdict::default());

        let run = play(&[(text, SUCCESS, None)], false);
        assert_eq!((run.nr_passed(), run.nr_failed(), run.boots()), (2, 0, 1));
        assert!(!run.failed_overall());
    }

    #[test]
    fn output_split_into_arbitrary_chunks() {
        let text = "running 1 test\ntest k::größe ... \n[INFO] log\ntest k::größe ... ok\n";
        let mut t = BootTranscript::default();
        let mut results = Vec::new();
        // One byte at a time, splitting the multi-byte UTF-8 characters too.
        for byte in text.as_bytes() {
            for event in t.feed(std::slice::from_ref(byte)) {
                if let Event::Result(r) = event {
                    results.push(r.path);
                }
            }
        }
        assert_eq!(results, ["k::größe"]);
    }

    #[test]
    fn logs_inside_a_test_count_once() {
        let text = "running 2 tests\n\
                    test k::a ... \n[INFO] zone Normal: 1024 pages\n[WARN] odd\ntest k::a ... ok\n\
                    test k::b ... [INFO] glued to the start line\ntest k::b ... ok\n\
                    test result: ok. 2 passed; 0 failed\n";
        let run = play(&[(text, SUCCESS, None)], false);
        assert_eq!(paths(run.results(), Outcome::Ok), ["k::a", "k::b"]);
        assert!(run.problems().is_empty());
    }

    #[test]
    fn failure_details_are_the_indented_lines_after_failed() {
        let text = "running 2 tests\ntest k::a ... FAILED\n    left: 1\n\tright: 2\nnot indented\n  indented again\n\
                    test k::b ... ok\ntest result: FAILED. 1 passed; 1 failed\n";
        let mut t = BootTranscript::default();
        let details: Vec<String> = t
            .feed(text.as_bytes())
            .into_iter()
            .filter_map(|e| match e {
                Event::Detail(line) => Some(line),
                _ => None,
            })
            .collect();
        assert_eq!(details, ["    left: 1", "\tright: 2"]);
        assert_eq!(judge_boot(&t, &FAILURE), BootVerdict::default());
    }

    #[test]
    fn panic_then_resume() {
        let first = "running 4 tests\ntest k::a ... ok\ntest k::b ... \npanicked at src/b.rs:3:5:\nboom\n\
                     test k::b ... FAILED\n";
        let second = "running 2 tests\ntest k::c ... ok\ntest k::d ... ok\ntest result: ok. 2 passed; 0 failed\n";
        let run = play(
            &[(first, RESTART, Some("k::b")), (second, SUCCESS, None)],
            false,
        );
        assert_eq!(paths(run.results(), Outcome::Ok), ["k::a", "k::c", "k::d"]);
        assert_eq!(paths(run.results(), Outcome::Failed), ["k::b"]);
        assert!(run.problems().is_empty(), "{:?}", run.problems());
        assert_eq!(run.boots(), 2);
        // The last boot exited "success", but the run as a whole failed.
        assert!(run.failed_overall());
    }

    #[test]
    fn should_panic_test_passes_and_resumes() {
        let first = "running 2 tests\ntest k::p ... \npanicked: expected\ntest k::p ... ok\n";
        let second = "running 1 test\ntest k::q ... ok\ntest result: ok. 1 passed; 0 failed\n";
        let run = play(
            &[(first, RESTART, Some("k::p")), (second, SUCCESS, None)],
            false,
        );
        assert_eq!((run.nr_passed(), run.nr_failed()), (2, 0));
        assert!(!run.failed_overall());
    }

    #[test]
    fn no_extra_boot_after_the_last_test_panics() {
        let only = "running 2 tests\ntest k::a ... ok\ntest k::fault ... \npage fault\ntest k::fault ... ok\n";
        let run = play(&[(only, RESTART, None)], false);
        assert_eq!((run.nr_passed(), run.nr_failed(), run.boots()), (2, 0, 1));

        let hung_last = "running 1 test\ntest k::spin ... ";
        let run = play(
            &[(hung_last, BootEnd::Silent(Duration::from_secs(5)), None)],
            false,
        );
        assert_eq!((run.nr_passed(), run.nr_failed(), run.boots()), (0, 1, 1));
    }

    #[test]
    fn restart_without_a_result_blames_the_running_test() {
        let first = "running 2 tests\ntest k::a ... \npanicked somewhere\n";
        let second = "running 1 test\ntest k::b ... ok\ntest result: ok. 1 passed; 0 failed\n";
        let run = play(
            &[(first, RESTART, Some("k::a")), (second, SUCCESS, None)],
            false,
        );
        assert_eq!(paths(run.results(), Outcome::Failed), ["k::a"]);
        assert!(
            run.results()[0]
                .note
                .as_deref()
                .unwrap()
                .contains("restart")
        );
    }

    #[test]
    fn timeout_mid_test_fails_it_and_resumes_after_it() {
        let hung = "running 3 tests\ntest k::a ... ok\ntest k::b ... ";
        let silent = BootEnd::Silent(Duration::from_secs(120));
        let rest = "running 1 test\ntest k::c ... ok\ntest result: ok. 1 passed; 0 failed\n";
        let run = play(
            &[(hung, silent, Some("k::b")), (rest, SUCCESS, None)],
            false,
        );
        assert_eq!(paths(run.results(), Outcome::Ok), ["k::a", "k::c"]);
        let failed = &run.results()[1];
        assert_eq!(failed.path, "k::b");
        assert_eq!(
            failed.note.as_deref(),
            Some("timeout: no serial output for 120s")
        );
        assert!(run.problems().is_empty(), "{:?}", run.problems());
    }

    #[test]
    fn timeout_before_any_test_is_a_boot_failure() {
        let too_long = BootEnd::TooLong(Duration::from_secs(1200));
        let run = play(
            &[(
                "linmem booting\nrunning 2 tests\ntest k::a ... ok\n",
                too_long,
                None,
            )],
            false,
        );
        assert_eq!(run.problems().len(), 1);
        assert_eq!(run.problems()[0].kind, ProblemKind::Boot);
        assert!(run.problems()[0].reason.contains("1200s"));
        assert_eq!((run.nr_passed(), run.nr_failed()), (1, 1));
    }

    #[test]
    fn triple_fault_mid_test() {
        let first = "running 2 tests\ntest k::overflow ... ";
        let second = "running 1 test\ntest k::after ... ok\ntest result: ok. 1 passed; 0 failed\n";
        let run = play(
            &[(first, RESET, Some("k::overflow")), (second, SUCCESS, None)],
            false,
        );
        assert_eq!(
            run.results()[0].note.as_deref(),
            Some("triple fault or reset")
        );
        assert_eq!((run.nr_passed(), run.nr_failed()), (1, 1));
    }

    #[test]
    fn triple_fault_during_boot() {
        let run = play(&[("linmem booting\n", RESET, None)], false);
        assert_eq!(
            run.problems(),
            [Problem {
                kind: ProblemKind::Boot,
                reason: "triple fault or reset".into()
            }]
        );
    }

    #[test]
    fn boot_panic_is_one_failure() {
        let run = play(
            &[(
                "linmem booting\npanicked at src/mm/memblock.rs:1:1\n",
                FAILURE,
                None,
            )],
            false,
        );
        assert_eq!(run.nr_failed(), 1);
        assert_eq!(run.problems()[0].kind, ProblemKind::Boot);
    }

    #[test]
    fn zero_tests_is_a_failure_unless_allowed() {
        let text = "running 0 tests\ntest result: FAILED. 0 passed; 0 failed\n";
        let run = play(&[(text, FAILURE, None)], false);
        assert_eq!(
            run.problems(),
            [Problem {
                kind: ProblemKind::Harness,
                reason: "no tests ran".into()
            }]
        );

        // With a filter that matches nothing in this kernel (or for the
        // no-tests kernel) the same transcript is fine.
        let run = play(&[(text, FAILURE, None)], true);
        assert!(run.problems().is_empty());
        assert_eq!(run.announced(), Some(0));
        assert!(run.failed_overall());
    }

    #[test]
    fn filter_run_counts_only_what_ran() {
        let text = "running 1 test\ntest kernel::mm::buddy::split ... ok\ntest result: ok. 1 passed; 0 failed\n";
        let run = play(&[(text, SUCCESS, None)], true);
        assert_eq!((run.nr_passed(), run.nr_failed()), (1, 0));
    }

    #[test]
    fn exit_status_must_agree_with_results() {
        let failed = "running 1 test\ntest k::a ... FAILED\n";
        let verdict = judge_boot(&transcript(failed), &SUCCESS);
        assert_eq!(verdict.problem.unwrap().kind, ProblemKind::Harness);

        let passed = "running 1 test\ntest k::a ... ok\n";
        let verdict = judge_boot(&transcript(passed), &FAILURE);
        assert!(
            verdict
                .problem
                .unwrap()
                .reason
                .contains("all 1 test(s) it reported passed")
        );
    }

    #[test]
    fn summary_must_match_the_boots_results() {
        let text = "running 2 tests\ntest k::a ... ok\ntest k::b ... FAILED\ntest result: FAILED. 2 passed; 0 failed\n";
        let verdict = judge_boot(&transcript(text), &FAILURE);
        assert_eq!(
            verdict.problem.unwrap().reason,
            "the summary says 2 passed, 0 failed, but this boot reported 1 passed, 1 failed"
        );
    }

    #[test]
    fn announced_count_must_match_reported() {
        let text = "running 3 tests\ntest k::a ... ok\ntest result: ok. 1 passed; 0 failed\n";
        let run = play(&[(text, SUCCESS, None)], false);
        assert_eq!(
            run.problems()[0].reason,
            "the kernel announced 3 test(s) but reported 1"
        );
    }

    #[test]
    fn duplicate_results_count_once() {
        let text = "running 1 test\ntest k::a ... ok\ntest k::a ... ok\ntest result: ok. 1 passed; 0 failed\n";
        let run = play(&[(text, SUCCESS, None)], false);
        assert_eq!(run.nr_passed(), 1);
    }

    #[test]
    fn a_harness_that_does_not_advance_is_stopped() {
        let boot = "running 2 tests\ntest k::a ... FAILED\n";
        let run = play(
            &[(boot, RESTART, Some("k::a")), (boot, RESTART, None)],
            false,
        );
        assert!(run.problems()[0].reason.contains("not advancing"));
    }

    #[test]
    fn qemu_failing_to_start_the_guest() {
        let run = play(&[("", BootEnd::Exited(GuestExit::Other(1)), None)], false);
        assert!(
            run.problems()[0]
                .reason
                .contains("QEMU stopped unexpectedly")
        );
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let t = transcript(&text);
        let tail: Vec<&str> = t.tail().collect();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail[0], "line 60");
        assert_eq!(tail[TAIL_LINES - 1], "line 99");
    }
}
