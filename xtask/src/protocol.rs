//! Reading the kernel test harness's serial output: KTAP version 1.
//!
//! A test kernel cannot return a `Vec` of results to us: all it has is a
//! serial port (COM1, which QEMU connects to our pipe) and the `isa-debug-exit`
//! device (whose value becomes QEMU's exit status). The harness therefore
//! *prints* its results in KTAP v1, the format of Linux's own in-kernel tests
//! (`Documentation/dev-tools/ktap.rst`), and xtask reads them back. This
//! module is that reader and a strict KTAP checker at the same time: a boot
//! whose output after `KTAP version 1` is not valid KTAP is a harness
//! failure. It is pure: bytes and exit reasons in, results out, so every
//! corner of the protocol is unit-tested with sample transcripts at the
//! bottom of this file, and with a transcript recorded from a real boot
//! (`xtask/testdata/`).
//!
//! # The protocol
//!
//! ```text
//! linmem386 booting ...                        <- the boot log: before the document, ignored
//! KTAP version 1                               <- the document starts
//! 1..4                                         <- the plan: this boot runs 4 tests
//! # running kernel::mm::a                      <- a test starts (our diagnostic)
//! ok 1 kernel::mm::a                           <- ... and passes
//! # running kernel::mm::b
//! # Zone ranges: ...                           <- whatever the kernel printed meanwhile
//! ok 2 kernel::mm::b
//! # running kernel::mm::c
//! # assertion failed: nr_free == 3 at ...      <- why it failed: before the result, as KUnit does
//! not ok 3 kernel::mm::c
//! # running kernel::mm::d
//! ok 4 kernel::mm::d # SKIP no high memory     <- skipped, with the reason
//! # Totals: pass:2 fail:1 skip:1 total:4       <- end of a complete run, then exit 33/35
//! ```
//!
//! KTAP's rules that we check: the version line, then the plan; results
//! numbered 1, 2, 3... and no more than the plan; after the version line
//! every line is a result, a diagnostic (`# ...`) or the plan. Our own rules
//! on top: a result names the test its `# running` line started, and the
//! `# Totals` line agrees with the results.
//!
//! A *start* without a result matters when a boot dies: that test is the one
//! to blame.
//!
//! A test that panics cannot unwind (the kernel is `panic = "abort"`), so the
//! harness prints that test's result and exits with status 37, "restart me
//! after this test". xtask boots the same kernel again with
//! `test_resume=<path>` on its command line (the new boot is a new KTAP
//! document, numbered from 1) and keeps adding up results until a boot
//! finishes with 33 (all ok) or 35 (something failed). [`ConfigRun`] does
//! that bookkeeping; [`judge_boot`] decides what one boot's ending means.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::time::Duration;

use crate::qemu::GuestExit;

/// How many lines of serial output we keep per boot to show when it fails.
pub const TAIL_LINES: usize = 40;

/// How many diagnostic lines of one test we keep to show if it fails.
const DETAIL_LINES: usize = 30;

/// Upper bound on boots of one configuration. Every restart must move past at
/// least one test, so a harness that keeps restarting is stuck in a loop.
const MAX_BOOTS_PER_CONFIG: usize = 500;

/// The first line of a KTAP v1 document.
pub const KTAP_VERSION_LINE: &str = "KTAP version 1";

/// The diagnostic that says a test starts (ours; KTAP has none).
const RUNNING: &str = "running ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    /// `ok N name # SKIP reason`: the test could not mean anything here.
    Skipped,
}

/// One test's result as xtask records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// The test's full path as the kernel printed it, e.g. `kernel::mm::buddy::tests::split`.
    pub path: String,
    pub outcome: Outcome,
    /// The reason of a skip, or why xtask marked the test FAILED itself
    /// (timeout, reset...) when the kernel never printed a result for it.
    pub note: Option<String>,
    /// A failed test's diagnostic lines (the panic message and what the
    /// harness printed with it); empty otherwise.
    pub details: Vec<String>,
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
    /// The harness said something inconsistent, e.g. "success" after a
    /// failure, output that is not KTAP, or a compiled test never reported.
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

/// The harness's closing `# Totals: pass:P fail:F skip:S total:T` line
/// (KUnit prints the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub total: usize,
}

/// What one line of serial output is, as far as KTAP is concerned.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// `KTAP version 1`
    Version,
    /// `1..N`
    Plan(usize),
    /// `ok N name`, `not ok N name`, `ok N name # SKIP reason`
    Result {
        number: usize,
        path: &'a str,
        outcome: Outcome,
        /// The text after `# ` behind the name (for a skip: `SKIP reason`).
        directive: Option<&'a str>,
    },
    /// `# running <path>`
    Started(&'a str),
    /// `# Totals: ...`
    Totals(Totals),
    /// Any other `# ...` line: what the kernel printed.
    Diagnostic(&'a str),
    /// Anything else: the boot log before the document, or a violation.
    Other,
}

/// Classifies one line that has already been through [`clean_line`].
pub fn classify(line: &str) -> Line<'_> {
    let line = line.trim_end();
    if line == KTAP_VERSION_LINE {
        return Line::Version;
    }
    if let Some(count) = line.strip_prefix("1..").and_then(|n| n.parse().ok()) {
        return Line::Plan(count);
    }
    if let Some(text) = line.strip_prefix('#') {
        let text = text.strip_prefix(' ').unwrap_or(text);
        if let Some(totals) = parse_totals(text) {
            return Line::Totals(totals);
        }
        return match text.strip_prefix(RUNNING) {
            Some(path) if is_test_path(path) => Line::Started(path),
            _ => Line::Diagnostic(text),
        };
    }
    parse_result(line).unwrap_or(Line::Other)
}

/// A test path: not empty, no white space, no `#`.
fn is_test_path(path: &str) -> bool {
    !path.is_empty() && !path.contains(|c: char| c.is_whitespace() || c == '#')
}

/// `ok 3 name`, `not ok 3 - name # directive`.
fn parse_result(line: &str) -> Option<Line<'_>> {
    let (ok, rest) = match line.strip_prefix("ok ") {
        Some(rest) => (true, rest),
        None => (false, line.strip_prefix("not ok ")?),
    };
    let (number, rest) = rest.split_once(' ')?;
    let number = number.parse().ok()?;
    let (description, directive) = match rest.split_once(" # ") {
        Some((description, directive)) => (description, Some(directive.trim())),
        None => (rest, None),
    };
    // KTAP allows a `- ` between the number and the description.
    let path = description.strip_prefix("- ").unwrap_or(description).trim();
    if !is_test_path(path) {
        return None;
    }
    let skipped = directive.is_some_and(|d| d.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("skip")));
    let outcome = match (ok, skipped) {
        (_, true) => Outcome::Skipped,
        (true, false) => Outcome::Ok,
        (false, false) => Outcome::Failed,
    };
    Some(Line::Result { number, path, outcome, directive })
}

/// The reason of a `SKIP reason` directive.
fn skip_reason(directive: &str) -> String {
    directive[4..].trim().to_string()
}

/// `Totals: pass:2 fail:1 skip:1 total:4`
fn parse_totals(text: &str) -> Option<Totals> {
    let mut fields = text.strip_prefix("Totals: ")?.split_whitespace();
    let mut field = |name: &str| -> Option<usize> { fields.next()?.strip_prefix(name)?.strip_prefix(':')?.parse().ok() };
    Some(Totals { pass: field("pass")?, fail: field("fail")?, skip: field("skip")?, total: field("total")? })
}

/// Parses libtest's summary line, `test result: ok. 12 passed; 0 failed; 1 ignored; ...`,
/// into (passed, failed, ignored): how the host unit tests report.
pub fn parse_libtest_summary(line: &str) -> Option<(usize, usize, usize)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let rest = rest.strip_prefix("ok.").or_else(|| rest.strip_prefix("FAILED."))?;
    let mut counts = rest.split(';').map(str::trim);
    let passed = counts.next()?.strip_suffix(" passed")?.parse().ok()?;
    let failed = counts.next()?.strip_suffix(" failed")?.parse().ok()?;
    let ignored = counts.next().and_then(|c| c.strip_suffix(" ignored")?.parse().ok()).unwrap_or(0);
    Some((passed, failed, ignored))
}

/// A libtest line `test some::path ... FAILED`: the failing test's path.
pub fn parse_libtest_failure(line: &str) -> Option<&str> {
    let (path, verdict) = line.trim().strip_prefix("test ")?.split_once(" ... ")?;
    (verdict.trim_end() == "FAILED").then_some(path)
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
    /// A test finished.
    Result(TestResult),
    /// After a failed result: one of the diagnostic lines the test printed
    /// (KTAP puts them before the result; we show them after it).
    Detail(String),
}

/// Where a boot's output stands in its KTAP document.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Document {
    /// Boot log, before `KTAP version 1`.
    #[default]
    NotStarted,
    /// The version line was seen; the plan must come next.
    AwaitingPlan,
    /// In the results.
    Results,
}

/// Everything one boot printed, digested as it streams in.
#[derive(Debug, Default)]
pub struct BootTranscript {
    /// Bytes after the last newline: a line still being written.
    partial: Vec<u8>,
    document: Document,
    /// The plan, `1..N`.
    plan: Option<usize>,
    results: Vec<TestResult>,
    /// The last test that started and has no result yet.
    started: Option<String>,
    /// The diagnostics printed since that start (the latest [`DETAIL_LINES`]).
    diagnostics: VecDeque<String>,
    totals: Option<Totals>,
    /// Where the output broke the KTAP rules (line number: what).
    violations: Vec<String>,
    lines: usize,
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

    /// The boot is over: treats an unterminated last line as complete.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        if !self.partial.is_empty() {
            let line = clean_line(&std::mem::take(&mut self.partial));
            self.take_line(line, &mut events);
        }
        events
    }

    fn violation(&mut self, what: String) {
        self.violations.push(format!("line {}: {what}", self.lines));
    }

    fn take_line(&mut self, line: String, events: &mut Vec<Event>) {
        self.lines += 1;
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.clone());
        events.push(Event::Line(line.clone()));

        let kind = classify(&line);
        match (self.document, &kind) {
            (Document::NotStarted, Line::Version) => self.document = Document::AwaitingPlan,
            // The boot log before the document may say anything.
            (Document::NotStarted, _) => {}
            (Document::AwaitingPlan, &Line::Plan(count)) => {
                self.plan = Some(count);
                self.document = Document::Results;
            }
            (Document::AwaitingPlan, _) => {
                self.violation(format!("`{line}` where the plan `1..N` must follow `{KTAP_VERSION_LINE}`"));
            }
            (Document::Results, Line::Started(path)) => {
                if let Some(previous) = self.started.replace(path.to_string()) {
                    self.violation(format!("{path} started before {previous} reported a result"));
                }
                self.diagnostics.clear();
            }
            (Document::Results, &Line::Result { number, path, outcome, directive }) => {
                self.take_result(number, path, outcome, directive, events);
            }
            (Document::Results, Line::Diagnostic(text)) => {
                if self.diagnostics.len() == DETAIL_LINES {
                    self.diagnostics.pop_front();
                }
                self.diagnostics.push_back(text.to_string());
            }
            (Document::Results, Line::Totals(totals)) => {
                self.totals = Some(*totals);
                self.check_totals(*totals);
            }
            (Document::Results, Line::Version) => self.violation("a second `KTAP version 1` in one boot".to_string()),
            (Document::Results, Line::Plan(_)) => self.violation("a second plan".to_string()),
            (Document::Results, Line::Other) => {
                self.violation(format!("`{line}` is neither a result nor a `#` diagnostic"));
            }
        }
    }

    fn take_result(
        &mut self,
        number: usize,
        path: &str,
        outcome: Outcome,
        directive: Option<&str>,
        events: &mut Vec<Event>,
    ) {
        let expected_number = self.results.len() + 1;
        if number != expected_number {
            self.violation(format!("result number {number}, expected {expected_number}"));
        }
        if self.plan.is_some_and(|plan| number > plan) {
            self.violation(format!("result {number} is beyond the plan 1..{}", self.plan.unwrap_or(0)));
        }
        match self.started.take() {
            Some(started) if started != path => {
                self.violation(format!("the result names {path}, but {started} was running"));
            }
            None => self.violation(format!("a result for {path}, which never started")),
            Some(_) => {}
        }
        let note = match outcome {
            Outcome::Skipped => directive.map(skip_reason),
            _ => None,
        };
        let details = if outcome == Outcome::Failed { self.diagnostics.iter().cloned().collect() } else { Vec::new() };
        let result = TestResult { path: path.to_string(), outcome, note, details };
        self.results.push(result.clone());
        events.push(Event::Result(result));
        if outcome == Outcome::Failed {
            events.extend(self.diagnostics.drain(..).map(Event::Detail));
        }
        self.diagnostics.clear();
    }

    /// `# Totals` must count exactly this boot's results.
    fn check_totals(&mut self, totals: Totals) {
        let count = |outcome| self.results.iter().filter(|r| r.outcome == outcome).count();
        let reported = Totals {
            pass: count(Outcome::Ok),
            fail: count(Outcome::Failed),
            skip: count(Outcome::Skipped),
            total: self.plan.unwrap_or(0),
        };
        if totals != reported {
            self.violation(format!(
                "the totals say pass:{} fail:{} skip:{} total:{}, but this boot reported pass:{} fail:{} skip:{} \
                 of a plan of {}",
                totals.pass, totals.fail, totals.skip, totals.total, reported.pass, reported.fail, reported.skip,
                reported.total
            ));
        }
    }

    /// The plan of this boot, if the harness got that far.
    pub fn plan(&self) -> Option<usize> {
        self.plan
    }

    pub fn results(&self) -> &[TestResult] {
        &self.results
    }

    /// The test that started and never reported a result (call after [`finish`](Self::finish)).
    pub fn unfinished_test(&self) -> Option<&str> {
        self.started.as_deref()
    }

    pub fn totals(&self) -> Option<Totals> {
        self.totals
    }

    /// Where the output broke KTAP's rules or ours, one entry per line.
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// The last [`TAIL_LINES`] lines, oldest first.
    pub fn tail(&self) -> impl Iterator<Item = &str> {
        self.tail.iter().map(String::as_str)
    }

    fn nr_with(&self, outcome: Outcome) -> usize {
        self.results.iter().filter(|r| r.outcome == outcome).count()
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
    /// Failures of the boot or the harness rather than of one test.
    pub problems: Vec<Problem>,
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
///   a complete run without its `# Totals` line.
/// * Reset (triple fault) and timeouts: the started-but-unfinished test is
///   FAILED and the run resumes after it; with no test running, the boot
///   itself failed and there is nothing to resume.
///
/// Output that breaks KTAP's rules is a harness failure too, whatever the
/// ending.
///
/// There is no point resuming when the boot already accounted for every test
/// it planned (the panicking test was the last one), so then we don't.
pub fn judge_boot(transcript: &BootTranscript, end: &BootEnd) -> BootVerdict {
    let unfinished = transcript.unfinished_test();
    let blame = |path: &str, note: String| TestResult {
        path: path.to_string(),
        outcome: Outcome::Failed,
        note: Some(note),
        details: Vec::new(),
    };
    let problem = |kind, reason: String| Some(Problem { kind, reason });
    let mut verdict = BootVerdict::default();
    let mut found = None;

    match end {
        BootEnd::Exited(GuestExit::RestartNeeded) => {
            if let Some(path) = unfinished {
                let note = "the kernel asked for a restart before reporting this test's result";
                verdict.interrupted = Some(blame(path, note.to_string()));
                verdict.resume_after = Some(path.to_string());
            } else if let Some(last) = transcript.results().last() {
                verdict.resume_after = Some(last.path.clone());
            } else {
                found = problem(
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
            found = check_complete_run(transcript, *exit);
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
                found = problem(ProblemKind::Boot, reason);
            }
        }
        BootEnd::Exited(exit @ (GuestExit::Other(_) | GuestExit::Signal(_))) => {
            let during = unfinished
                .map(|p| format!(" while {p} was running"))
                .unwrap_or_default();
            found = problem(
                ProblemKind::Boot,
                format!("QEMU stopped unexpectedly ({exit}){during}"),
            );
        }
    }
    verdict.problems.extend(found);
    if !transcript.violations().is_empty() {
        let shown: Vec<&str> = transcript.violations().iter().take(5).map(String::as_str).collect();
        let more = transcript.violations().len() - shown.len();
        let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
        verdict.problems.push(Problem {
            kind: ProblemKind::Harness,
            reason: format!("the serial output is not valid KTAP v1: {}{more}", shown.join("; ")),
        });
    }
    // No need to boot again if the test that ended the boot was the last one
    // this boot planned: every test has its result.
    let reported = transcript.results().len() + usize::from(verdict.interrupted.is_some());
    if transcript.plan() == Some(reported) {
        verdict.resume_after = None;
    }
    verdict
}

/// The consistency checks for a boot that ended with 33 or 35: the exit
/// status must agree with the results the boot printed, and a run that
/// reached its end must have said so with `# Totals` (whose counts the
/// transcript has already checked).
fn check_complete_run(transcript: &BootTranscript, exit: GuestExit) -> Option<Problem> {
    let nr_results = transcript.results().len();
    let nr_failed = transcript.nr_with(Outcome::Failed);
    let running = transcript.unfinished_test().is_some();
    let harness = |reason: String| Some(Problem { kind: ProblemKind::Harness, reason });

    if exit == GuestExit::Success && nr_failed > 0 {
        harness(format!("the kernel exited with success although {nr_failed} test(s) failed"))
    } else if exit == GuestExit::Failure && nr_results == 0 && !running {
        // Plan `1..0` + failure is how the harness says "nothing to run";
        // ConfigRun::finish decides whether that is allowed. Anything else
        // is a kernel that died before its first test (a boot panic).
        (transcript.plan() != Some(0)).then(|| Problem {
            kind: ProblemKind::Boot,
            reason: "the kernel failed before reporting any test result".to_string(),
        })
    } else if exit == GuestExit::Failure && nr_failed == 0 && !running {
        harness(format!("the kernel exited with failure although none of the {nr_results} test(s) it reported failed"))
    } else if !running && transcript.totals().is_none() {
        harness(format!("the kernel exited ({exit}) without its `# Totals` line"))
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
    /// The plan of the first boot: the number of tests the configuration has.
    planned: Option<usize>,
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
            self.planned = transcript.plan();
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
        step.problems.extend(verdict.problems);

        if let Some(path) = verdict.resume_after {
            if self.resumed_after.contains(&path) {
                step.problems.push(Problem {
                    kind: ProblemKind::Harness,
                    reason: format!("asked to resume after {path} twice: the harness is not advancing"),
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

    /// Checks that need all boots, against `expected`: the tests compiled
    /// into the kernel that this configuration selects (from the source, see
    /// [`crate::test_list`], not from what the kernel says). A test compiled
    /// in but never reported has vanished; one reported but not compiled in
    /// is a harness that makes up names; the first boot's plan must count
    /// them too. An empty `expected` is allowed only for a kernel that is
    /// supposed to have no tests (`zero_tests_ok`).
    pub fn finish(&mut self, expected: &BTreeSet<String>, zero_tests_ok: bool) -> Vec<Problem> {
        let mut found = Vec::new();
        let harness = |reason| Problem { kind: ProblemKind::Harness, reason };
        if self.results.is_empty() && self.problems.is_empty() && !zero_tests_ok {
            found.push(harness("no tests ran".to_string()));
        }
        if let Some(planned) = self.planned
            && self.problems.is_empty()
            && planned != expected.len()
        {
            found.push(harness(format!(
                "the kernel planned {planned} test(s), but {} are compiled in for this configuration",
                expected.len()
            )));
        }
        let reported: BTreeSet<&str> = self.results.iter().map(|r| r.path.as_str()).collect();
        let vanished: Vec<&str> =
            expected.iter().map(String::as_str).filter(|path| !reported.contains(path)).collect();
        let unknown: Vec<&str> =
            reported.iter().copied().filter(|path| !expected.contains(*path)).collect();
        // A boot that died already explains missing results.
        if !vanished.is_empty() && self.problems.is_empty() {
            found.push(harness(format!(
                "{} test(s) compiled in but never reported: {}",
                vanished.len(),
                summarise(&vanished)
            )));
        }
        if !unknown.is_empty() {
            found.push(harness(format!(
                "{} reported test(s) are not in the source: {}",
                unknown.len(),
                summarise(&unknown)
            )));
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

    pub fn planned(&self) -> Option<usize> {
        self.planned
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
        self.saw_failure_exit || self.nr_with(Outcome::Failed) > 0
    }

    pub fn nr_passed(&self) -> usize {
        self.nr_with(Outcome::Ok)
    }

    pub fn nr_skipped(&self) -> usize {
        self.nr_with(Outcome::Skipped)
    }

    /// Failed tests plus boot/harness problems.
    pub fn nr_failed(&self) -> usize {
        self.nr_with(Outcome::Failed) + self.problems.len()
    }

    fn nr_with(&self, outcome: Outcome) -> usize {
        self.results.iter().filter(|r| r.outcome == outcome).count()
    }
}

/// The first few paths of a list, for a one-line message.
fn summarise(paths: &[&str]) -> String {
    const SHOWN: usize = 5;
    let mut text = paths.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
    if paths.len() > SHOWN {
        text += &format!(" and {} more", paths.len() - SHOWN);
    }
    text
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
        results.iter().filter(|r| r.outcome == outcome).map(|r| r.path.as_str()).collect()
    }

    fn set(paths: &[&str]) -> BTreeSet<String> {
        paths.iter().map(|p| p.to_string()).collect()
    }

    /// Plays one configuration: each boot is (serial output, ending). Checks
    /// that xtask resumes after the right test between boots; `expected` are
    /// the compiled-in tests.
    fn play(boots: &[(&str, BootEnd, Option<&str>)], expected: &[&str], zero_tests_ok: bool) -> ConfigRun {
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
            assert_eq!(step.resume_after.as_deref(), *expected_resume, "after boot {text:?}");
        }
        run.finish(&set(expected), zero_tests_ok);
        run
    }

    const SUCCESS: BootEnd = BootEnd::Exited(GuestExit::Success);
    const FAILURE: BootEnd = BootEnd::Exited(GuestExit::Failure);
    const RESTART: BootEnd = BootEnd::Exited(GuestExit::RestartNeeded);
    const RESET: BootEnd = BootEnd::Exited(GuestExit::Reset);

    /// `ok`/`not ok` lines with their `# running` lines, numbered from 1.
    fn ktap(results: &[(&str, &str)]) -> String {
        let mut text = format!("{KTAP_VERSION_LINE}\n1..{}\n", results.len());
        for (number, (path, verdict)) in results.iter().enumerate() {
            text += &format!("# running {path}\n{verdict} {} {path}\n", number + 1);
        }
        text
    }

    #[test]
    fn classifies_ktap_lines() {
        assert_eq!(classify("KTAP version 1"), Line::Version);
        assert_eq!(classify("1..3"), Line::Plan(3));
        assert_eq!(classify("1..0"), Line::Plan(0));
        assert_eq!(
            classify("ok 1 a::b"),
            Line::Result { number: 1, path: "a::b", outcome: Outcome::Ok, directive: None }
        );
        assert_eq!(
            classify("not ok 12 - a::b  "),
            Line::Result { number: 12, path: "a::b", outcome: Outcome::Failed, directive: None }
        );
        assert_eq!(
            classify("ok 3 a::b # SKIP no high memory at this size"),
            Line::Result {
                number: 3,
                path: "a::b",
                outcome: Outcome::Skipped,
                directive: Some("SKIP no high memory at this size")
            }
        );
        assert_eq!(classify("# running a::b"), Line::Started("a::b"));
        assert_eq!(classify("# running late today"), Line::Diagnostic("running late today"));
        assert_eq!(
            classify("# Totals: pass:2 fail:1 skip:1 total:4"),
            Line::Totals(Totals { pass: 2, fail: 1, skip: 1, total: 4 })
        );
        assert_eq!(classify("# Zone ranges:"), Line::Diagnostic("Zone ranges:"));
        assert_eq!(classify("#"), Line::Diagnostic(""));
        assert_eq!(classify("ok x a::b"), Line::Other);
        assert_eq!(classify("ok 1"), Line::Other);
        assert_eq!(classify("okay 1 a"), Line::Other);
        assert_eq!(classify("KTAP version 2"), Line::Other);
        assert_eq!(classify("Memory: 123k/456k available"), Line::Other);
    }

    #[test]
    fn parses_libtest_lines() {
        let line = "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(parse_libtest_summary(line), Some((12, 0, 1)));
        assert_eq!(parse_libtest_summary("test result: FAILED. 3 passed; 2 failed"), Some((3, 2, 0)));
        assert_eq!(parse_libtest_summary("test result: ok. x passed; 0 failed"), None);
        assert_eq!(parse_libtest_failure("test mm::a ... FAILED"), Some("mm::a"));
        assert_eq!(parse_libtest_failure("test mm::a ... ok"), None);
    }

    #[test]
    fn strips_escapes_and_carriage_returns() {
        assert_eq!(clean_line(b"\x1b[32mok\x1b[0m\r"), "ok");
        assert_eq!(clean_line(b"\x1b[2J\x1b[1;1H\x1b[?25lKTAP version 1"), "KTAP version 1");
        assert_eq!(clean_line(b"\x1b]0;title\x07a\x1b(Bb\tc"), "ab\tc");
        assert_eq!(clean_line(b"bad \xff byte"), "bad \u{fffd} byte");
    }

    #[test]
    fn normal_run() {
        let text = format!(
            "\x1b[2Jlinmem booting\r\nMemory: 1k\r\n{}# Totals: pass:2 fail:0 skip:0 total:2\r\n",
            ktap(&[("k::a", "ok"), ("k::b", "ok")])
        );
        let t = transcript(&text);
        assert_eq!(t.plan(), Some(2));
        assert_eq!(paths(t.results(), Outcome::Ok), ["k::a", "k::b"]);
        assert_eq!(t.unfinished_test(), None);
        assert_eq!(t.totals(), Some(Totals { pass: 2, fail: 0, skip: 0, total: 2 }));
        assert!(t.violations().is_empty(), "{:?}", t.violations());
        assert_eq!(judge_boot(&t, &SUCCESS), BootVerdict::default());

        let run = play(&[(&text, SUCCESS, None)], &["k::a", "k::b"], false);
        assert_eq!((run.nr_passed(), run.nr_failed(), run.boots()), (2, 0, 1));
        assert!(!run.failed_overall());
    }

    #[test]
    fn skipped_tests_carry_their_reason() {
        let text = "KTAP version 1\n1..2\n# running k::high\nok 1 k::high # SKIP no high memory at this size\n\
                    # running k::low\nok 2 k::low\n# Totals: pass:1 fail:0 skip:1 total:2\n";
        let run = play(&[(text, SUCCESS, None)], &["k::high", "k::low"], false);
        assert_eq!((run.nr_passed(), run.nr_skipped(), run.nr_failed()), (1, 1, 0));
        assert_eq!(run.results()[0].note.as_deref(), Some("no high memory at this size"));
        assert!(!run.failed_overall());
    }

    #[test]
    fn output_split_into_arbitrary_chunks() {
        let text = "KTAP version 1\n1..1\n# running k::größe\n# log\nok 1 k::größe\n";
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
        assert!(t.violations().is_empty());
    }

    #[test]
    fn failure_details_are_the_diagnostics_before_not_ok() {
        let text = "KTAP version 1\n1..2\n# running k::a\n# left: 1\n# right: 2\nnot ok 1 k::a\n\
                    # running k::b\n# fine\nok 2 k::b\n# Totals: pass:1 fail:1 skip:0 total:2\n";
        let mut t = BootTranscript::default();
        let events = t.feed(text.as_bytes());
        let details: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                Event::Detail(line) => Some(line.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(details, ["left: 1", "right: 2"]);
        let result_at = events.iter().position(|e| matches!(e, Event::Result(r) if r.path == "k::a")).unwrap();
        let detail_at = events.iter().position(|e| matches!(e, Event::Detail(_))).unwrap();
        assert!(result_at < detail_at, "details are shown after the FAILED line");
        assert_eq!(judge_boot(&t, &FAILURE), BootVerdict::default());
    }

    #[test]
    fn output_that_is_not_ktap_is_a_harness_failure() {
        let cases = [
            ("KTAP version 1\nok 1 k::a\n", "where the plan"),
            ("KTAP version 1\n1..2\n# running k::a\nok 2 k::a\n", "result number 2, expected 1"),
            ("KTAP version 1\n1..1\n# running k::a\nok 1 k::a\n# running k::b\nok 2 k::b\n", "beyond the plan"),
            ("KTAP version 1\n1..1\n# running k::a\nstray kernel output\nok 1 k::a\n", "neither a result"),
            ("KTAP version 1\n1..1\n# running k::a\nok 1 k::b\n", "k::a was running"),
            ("KTAP version 1\n1..1\nok 1 k::a\n", "never started"),
            ("KTAP version 1\n1..1\n# running k::a\nok 1 k::a\n# Totals: pass:0 fail:1 skip:0 total:1\n", "totals say"),
            ("KTAP version 1\n1..1\nKTAP version 1\n", "second `KTAP version 1`"),
        ];
        for (text, expected) in cases {
            let t = transcript(text);
            assert!(
                t.violations().iter().any(|v| v.contains(expected)),
                "{text:?}: {:?} should mention {expected:?}",
                t.violations()
            );
            let verdict = judge_boot(&t, &SUCCESS);
            assert!(
                verdict.problems.iter().any(|p| p.kind == ProblemKind::Harness && p.reason.contains("not valid KTAP")),
                "{text:?}: {:?}",
                verdict.problems
            );
        }
    }

    #[test]
    fn a_complete_run_ends_with_totals() {
        let text = ktap(&[("k::a", "ok")]);
        let verdict = judge_boot(&transcript(&text), &SUCCESS);
        assert!(verdict.problems[0].reason.contains("without its `# Totals` line"), "{:?}", verdict.problems);
    }

    #[test]
    fn panic_then_resume() {
        let first = "KTAP version 1\n1..4\n# running k::a\nok 1 k::a\n# running k::b\n# panicked at src/b.rs:3:5:\n\
                     # boom\nnot ok 2 k::b\n";
        let second = format!("{}# Totals: pass:2 fail:0 skip:0 total:2\n", ktap(&[("k::c", "ok"), ("k::d", "ok")]));
        let run = play(
            &[(first, RESTART, Some("k::b")), (&second, SUCCESS, None)],
            &["k::a", "k::b", "k::c", "k::d"],
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
        let first = "KTAP version 1\n1..2\n# running k::p\n# panicked: expected\nok 1 k::p\n";
        let second = format!("{}# Totals: pass:1 fail:0 skip:0 total:1\n", ktap(&[("k::q", "ok")]));
        let run = play(&[(first, RESTART, Some("k::p")), (&second, SUCCESS, None)], &["k::p", "k::q"], false);
        assert_eq!((run.nr_passed(), run.nr_failed()), (2, 0));
        assert!(!run.failed_overall());
    }

    #[test]
    fn no_extra_boot_after_the_last_test_panics() {
        let only = "KTAP version 1\n1..2\n# running k::a\nok 1 k::a\n# running k::fault\n# page fault\nok 2 k::fault\n";
        let run = play(&[(only, RESTART, None)], &["k::a", "k::fault"], false);
        assert_eq!((run.nr_passed(), run.nr_failed(), run.boots()), (2, 0, 1));

        let hung_last = "KTAP version 1\n1..1\n# running k::spin\n";
        let run = play(&[(hung_last, BootEnd::Silent(Duration::from_secs(5)), None)], &["k::spin"], false);
        assert_eq!((run.nr_passed(), run.nr_failed(), run.boots()), (0, 1, 1));
    }

    #[test]
    fn restart_without_a_result_blames_the_running_test() {
        let first = "KTAP version 1\n1..2\n# running k::a\n# panicked somewhere\n";
        let second = format!("{}# Totals: pass:1 fail:0 skip:0 total:1\n", ktap(&[("k::b", "ok")]));
        let run = play(&[(first, RESTART, Some("k::a")), (&second, SUCCESS, None)], &["k::a", "k::b"], false);
        assert_eq!(paths(run.results(), Outcome::Failed), ["k::a"]);
        assert!(run.results()[0].note.as_deref().unwrap().contains("restart"));
    }

    #[test]
    fn timeout_mid_test_fails_it_and_resumes_after_it() {
        let hung = "KTAP version 1\n1..3\n# running k::a\nok 1 k::a\n# running k::b\n";
        let silent = BootEnd::Silent(Duration::from_secs(120));
        let rest = format!("{}# Totals: pass:1 fail:0 skip:0 total:1\n", ktap(&[("k::c", "ok")]));
        let run = play(&[(hung, silent, Some("k::b")), (&rest, SUCCESS, None)], &["k::a", "k::b", "k::c"], false);
        assert_eq!(paths(run.results(), Outcome::Ok), ["k::a", "k::c"]);
        let failed = &run.results()[1];
        assert_eq!(failed.path, "k::b");
        assert_eq!(failed.note.as_deref(), Some("timeout: no serial output for 120s"));
        assert!(run.problems().is_empty(), "{:?}", run.problems());
    }

    #[test]
    fn timeout_between_tests_is_a_boot_failure() {
        let too_long = BootEnd::TooLong(Duration::from_secs(1200));
        let text = "linmem booting\nKTAP version 1\n1..2\n# running k::a\nok 1 k::a\n";
        let run = play(&[(text, too_long, None)], &["k::a", "k::b"], false);
        assert_eq!(run.problems().len(), 1, "{:?}", run.problems());
        assert_eq!(run.problems()[0].kind, ProblemKind::Boot);
        assert!(run.problems()[0].reason.contains("1200s"));
        assert_eq!((run.nr_passed(), run.nr_failed()), (1, 1));
    }

    #[test]
    fn triple_fault_mid_test() {
        let first = "KTAP version 1\n1..2\n# running k::overflow\n";
        let second = format!("{}# Totals: pass:1 fail:0 skip:0 total:1\n", ktap(&[("k::after", "ok")]));
        let run =
            play(&[(first, RESET, Some("k::overflow")), (&second, SUCCESS, None)], &["k::overflow", "k::after"], false);
        assert_eq!(run.results()[0].note.as_deref(), Some("triple fault or reset"));
        assert_eq!((run.nr_passed(), run.nr_failed()), (1, 1));
    }

    #[test]
    fn triple_fault_during_boot() {
        let run = play(&[("linmem booting\n", RESET, None)], &["k::a"], false);
        assert_eq!(run.problems(), [Problem { kind: ProblemKind::Boot, reason: "triple fault or reset".into() }]);
    }

    #[test]
    fn boot_panic_is_one_failure() {
        let run = play(&[("linmem booting\npanicked at src/mm/memblock.rs:1:1\n", FAILURE, None)], &["k::a"], false);
        assert_eq!(run.nr_failed(), 1);
        assert_eq!(run.problems()[0].kind, ProblemKind::Boot);
    }

    #[test]
    fn zero_tests_is_a_failure_unless_allowed() {
        let text = "KTAP version 1\n1..0\n# Totals: pass:0 fail:0 skip:0 total:0\n# error: no tests were run\n";
        let run = play(&[(text, FAILURE, None)], &[], false);
        assert_eq!(run.problems(), [Problem { kind: ProblemKind::Harness, reason: "no tests ran".into() }]);

        // For the no-tests kernel the same transcript is what must happen.
        let run = play(&[(text, FAILURE, None)], &[], true);
        assert!(run.problems().is_empty(), "{:?}", run.problems());
        assert_eq!(run.planned(), Some(0));
        assert!(run.failed_overall());
    }

    #[test]
    fn a_test_compiled_in_but_never_reported_has_vanished() {
        let text = format!("{}# Totals: pass:1 fail:0 skip:0 total:1\n", ktap(&[("k::a", "ok")]));
        let run = play(&[(&text, SUCCESS, None)], &["k::a", "k::b"], false);
        let reasons: Vec<&str> = run.problems().iter().map(|p| p.reason.as_str()).collect();
        assert!(reasons.iter().any(|r| r.contains("planned 1 test(s), but 2 are compiled in")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("1 test(s) compiled in but never reported: k::b")), "{reasons:?}");
        assert!(run.nr_failed() >= 2);
    }

    #[test]
    fn a_test_the_source_does_not_have_is_reported() {
        let text = format!("{}# Totals: pass:2 fail:0 skip:0 total:2\n", ktap(&[("k::a", "ok"), ("k::ghost", "ok")]));
        let run = play(&[(&text, SUCCESS, None)], &["k::a", "k::b"], false);
        let reasons: Vec<&str> = run.problems().iter().map(|p| p.reason.as_str()).collect();
        assert!(reasons.iter().any(|r| r.contains("not in the source: k::ghost")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("never reported: k::b")), "{reasons:?}");
    }

    #[test]
    fn exit_status_must_agree_with_results() {
        let failed = format!("{}# Totals: pass:0 fail:1 skip:0 total:1\n", ktap(&[("k::a", "not ok")]));
        let verdict = judge_boot(&transcript(&failed), &SUCCESS);
        assert_eq!(verdict.problems[0].kind, ProblemKind::Harness);

        let passed = format!("{}# Totals: pass:1 fail:0 skip:0 total:1\n", ktap(&[("k::a", "ok")]));
        let verdict = judge_boot(&transcript(&passed), &FAILURE);
        assert!(verdict.problems[0].reason.contains("none of the 1 test(s) it reported failed"));
    }

    #[test]
    fn duplicate_results_count_once() {
        let mut run = ConfigRun::default();
        let result = TestResult { path: "k::a".into(), outcome: Outcome::Ok, note: None, details: Vec::new() };
        assert!(run.record(result.clone()));
        assert!(!run.record(result));
        assert_eq!(run.nr_passed(), 1);
    }

    #[test]
    fn a_harness_that_does_not_advance_is_stopped() {
        let boot = "KTAP version 1\n1..2\n# running k::a\nnot ok 1 k::a\n";
        let run = play(&[(boot, RESTART, Some("k::a")), (boot, RESTART, None)], &["k::a", "k::b"], false);
        assert!(run.problems()[0].reason.contains("not advancing"));
    }

    #[test]
    fn qemu_failing_to_start_the_guest() {
        let run = play(&[("", BootEnd::Exited(GuestExit::Other(1)), None)], &["k::a"], false);
        assert!(run.problems()[0].reason.contains("QEMU stopped unexpectedly"));
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

    /// The serial output of a real run (`lib@128M`, recorded with
    /// `cargo xtask test --mem 128M --verbose` and kept in `xtask/testdata/`):
    /// two boots, because a should-panic test ends the first. Each boot's
    /// output after `KTAP version 1` is valid KTAP v1: the plan, results
    /// numbered 1.. as planned, every other line a `#` diagnostic, skips with
    /// reasons; the second boot plans exactly the tests the first left and
    /// closes with totals that agree.
    #[test]
    fn a_real_run_is_valid_ktap() {
        let first = transcript(include_str!("../testdata/ktap-lib-128M-boot1.log"));
        let second = transcript(include_str!("../testdata/ktap-lib-128M-boot2.log"));
        for t in [&first, &second] {
            assert!(t.violations().is_empty(), "{:?}", t.violations());
            for skipped in t.results().iter().filter(|r| r.outcome == Outcome::Skipped) {
                assert!(skipped.note.as_deref().is_some_and(|n| !n.is_empty()), "{} skips with a reason", skipped.path);
            }
        }
        let planned = first.plan().expect("a plan");
        assert!(planned > 50, "the library kernel has many tests, found {planned}");
        assert!(first.results().len() < planned, "the first boot ends at a should-panic test");
        assert_eq!(first.unfinished_test(), None, "the panicking test reported its result");
        assert_eq!(second.plan(), Some(planned - first.results().len()));
        assert_eq!(second.results().len(), second.plan().unwrap());
        let totals = second.totals().expect("the second boot completes the run");
        assert_eq!((totals.fail, totals.total), (0, second.results().len()));
        let skipped = first.results().iter().chain(second.results()).filter(|r| r.outcome == Outcome::Skipped).count();
        assert!(skipped > 0, "at 128 MiB the high-memory tests skip");

        let mut run = ConfigRun::default();
        for (t, end) in [(&first, RESTART), (&second, SUCCESS)] {
            for result in t.results() {
                assert!(run.record(result.clone()), "{} reported once", result.path);
            }
            run.end_boot(t, end);
        }
        let expected: BTreeSet<String> = run.results().iter().map(|r| r.path.clone()).collect();
        assert!(run.finish(&expected, false).is_empty());
        assert_eq!(run.nr_passed() + run.nr_skipped(), planned);
        assert!(!run.failed_overall());
    }
}
