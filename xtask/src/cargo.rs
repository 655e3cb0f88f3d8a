//! Driving cargo: building the kernel, its test kernels, and the host tests.
//!
//! The kernel is built for `i686-kernel.json`, a target rustup ships no
//! standard library for, so cargo compiles `core`, `compiler_builtins` and
//! `alloc` from the `rust-src` component itself (`-Zbuild-std`, nightly only).
//! `compiler-builtins-mem` supplies `memcpy`/`memset`, which a bare-metal
//! program has no libc to take from.
//!
//! To learn *where* cargo put what it built (test kernels have a hash in
//! their file names), we ask for `--message-format=json-render-diagnostics`:
//! one JSON object per line on stdout (we keep the `compiler-artifact`
//! ones), while cargo still renders warnings and errors on stderr the usual
//! way, so a build failure looks exactly like a plain `cargo build`.

use std::env;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Error;
use crate::json;
use crate::protocol;

/// The flags that build for the kernel's bare-metal target.
const KERNEL_TARGET_ARGS: [&str; 5] = [
    "--target",
    "i686-kernel.json",
    "-Zjson-target-spec",
    "-Zbuild-std=core,compiler_builtins,alloc",
    "-Zbuild-std-features=compiler-builtins-mem",
];

/// Debug or release build of the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

/// Where the project lives and where its build output goes.
pub struct Workspace {
    /// The repository root: the parent of `xtask/`.
    pub root: PathBuf,
    /// Cargo's target directory (`$CARGO_TARGET_DIR` or `<root>/target`).
    pub target_dir: PathBuf,
    /// `$CARGO_TARGET_DIR` made absolute, to pass on to child cargos.
    target_dir_override: Option<PathBuf>,
}

impl Workspace {
    pub fn locate() -> Workspace {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives in a subdirectory of the workspace")
            .to_path_buf();
        // A relative CARGO_TARGET_DIR is relative to where the user ran
        // cargo, but our child cargos run in the root: resolve it once here.
        let target_dir_override = env::var_os("CARGO_TARGET_DIR")
            .filter(|dir| !dir.is_empty())
            .map(|dir| env::current_dir().unwrap_or_default().join(dir));
        let target_dir = target_dir_override
            .clone()
            .unwrap_or_else(|| root.join("target"));
        Workspace {
            root,
            target_dir,
            target_dir_override,
        }
    }

    /// Where ISOs and their staging directories go.
    pub fn iso_dir(&self) -> PathBuf {
        self.target_dir.join("iso")
    }

    /// A cargo command running in the workspace root. `$CARGO` is the cargo
    /// that started xtask, so child builds use the same toolchain.
    fn cargo(&self) -> Command {
        let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&self.root);
        if let Some(dir) = &self.target_dir_override {
            cmd.env("CARGO_TARGET_DIR", dir);
        }
        cmd
    }
}

/// A test kernel: the library's unit tests (`lib`) or one `tests/<name>.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestKernel {
    pub name: String,
    pub elf: PathBuf,
}

/// Builds the kernel ELF (`target/i686-kernel/<profile>/kernel`) and returns its path.
pub fn build_kernel(ws: &Workspace, profile: Profile) -> Result<PathBuf, Error> {
    let mut cmd = ws.cargo();
    cmd.args(["build", "--package", "kernel", "--bin", "kernel"])
        .args(KERNEL_TARGET_ARGS);
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    let artifacts = run_json_build(cmd, "the kernel")?;
    artifacts
        .into_iter()
        .find(|a| a.name == "kernel" && a.kinds.iter().any(|k| k == "bin"))
        .and_then(|a| a.executable)
        .ok_or_else(|| {
            Error::new("cargo built no `kernel` executable (is [[bin]] kernel in Cargo.toml?)")
        })
}

/// Builds the test kernels without running them (cargo cannot run them:
/// they need QEMU) and returns them, `lib` first.
pub fn build_test_kernels(ws: &Workspace, profile: Profile) -> Result<Vec<TestKernel>, Error> {
    let mut cmd = ws.cargo();
    cmd.args(["test", "--package", "kernel"])
        .args(KERNEL_TARGET_ARGS)
        .arg("--no-run");
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    let artifacts = run_json_build(cmd, "the test kernels")?;
    Ok(test_kernels(artifacts))
}

/// Builds the benchmark kernel (`tests/bench.rs`) with optimisations and
/// returns its path.
pub fn build_bench_kernel(ws: &Workspace) -> Result<PathBuf, Error> {
    let mut cmd = ws.cargo();
    cmd.args([
        "test",
        "--package",
        "kernel",
        "--test",
        "bench",
        "--no-run",
        "--release",
    ])
    .args(KERNEL_TARGET_ARGS);
    run_json_build(cmd, "the benchmark kernel")?
        .into_iter()
        .find(|a| a.name == "bench")
        .and_then(|a| a.executable)
        .ok_or_else(|| {
            Error::new("cargo built no `bench` kernel (is [[test]] bench in Cargo.toml?)")
        })
}

/// Runs the host benchmark (`xtask/hostbench/`, optimised) with its output on
/// this terminal.
pub fn run_host_bench(ws: &Workspace) -> Result<(), Error> {
    let status = ws
        .cargo()
        .args(["run", "--quiet", "--release", "--package", "hostbench"])
        .status()
        .map_err(|e| Error::new(format!("could not run cargo: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::new(
            "the host benchmark failed (cargo's messages are above)",
        ))
    }
}

/// Picks the test kernels out of what cargo built: artifacts compiled in
/// test mode that are executables. The library's is called `lib`; an
/// integration test's is called after its file.
fn test_kernels(artifacts: Vec<Artifact>) -> Vec<TestKernel> {
    let mut kernels: Vec<TestKernel> = artifacts
        .into_iter()
        .filter(|a| a.test)
        .filter_map(|a| {
            let elf = a.executable?;
            let name = if a.kinds.iter().any(|k| k == "lib") {
                "lib".to_string()
            } else {
                a.name
            };
            Some(TestKernel { name, elf })
        })
        .collect();
    kernels.sort_by(|a, b| (a.name != "lib", &a.name).cmp(&(b.name != "lib", &b.name)));
    kernels.dedup_by(|a, b| a.name == b.name);
    kernels
}

/// Totals of one `cargo test` run on the host.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HostTests {
    pub passed: usize,
    pub failed: usize,
    /// `#[ignore]`d tests: reported as skipped.
    pub ignored: usize,
    /// Names of the failed tests, from libtest's `test <name> ... FAILED` lines.
    pub failed_tests: Vec<String>,
    /// Did cargo itself succeed (it fails on a build error, too)?
    pub success: bool,
}

/// Runs `cargo test <cargo_args> [-- <filter>]` on the host, echoing its
/// output line by line and adding up libtest's `test result:` lines.
pub fn run_host_tests(
    ws: &Workspace,
    cargo_args: &[&str],
    filter: Option<&str>,
) -> Result<HostTests, Error> {
    let mut cmd = ws.cargo();
    cmd.arg("test").args(cargo_args).arg("--");
    cmd.args(filter);
    if std::io::stdout().is_terminal() {
        // libtest colours only a terminal; it is talking to our pipe.
        cmd.arg("--color=always");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| Error::new(format!("could not run cargo: {e}")))?;
    let mut totals = HostTests::default();
    for line in BufReader::new(child.stdout.take().expect("stdout is piped")).lines() {
        let line = line.map_err(|e| Error::new(format!("reading cargo test output: {e}")))?;
        println!("{line}");
        let line = protocol::strip_ansi(&line);
        if let Some((passed, failed, ignored)) = protocol::parse_libtest_summary(&line) {
            totals.passed += passed;
            totals.failed += failed;
            totals.ignored += ignored;
        } else if let Some(name) = protocol::parse_libtest_failure(&line) {
            totals.failed_tests.push(name.to_string());
        }
    }
    totals.success = child
        .wait()
        .map_err(|e| Error::new(format!("waiting for cargo: {e}")))?
        .success();
    Ok(totals)
}

/// The parts of a cargo `compiler-artifact` message that xtask uses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Artifact {
    /// The target's name: the crate name, or the integration test's file name.
    name: String,
    /// `lib`, `bin`, `test`, ...
    kinds: Vec<String>,
    /// Built as a test harness (`profile.test`)?
    test: bool,
    /// The runnable file, for binaries and tests.
    executable: Option<PathBuf>,
}

/// Reads one line of cargo's JSON output; `None` for anything that is not a
/// `compiler-artifact` message (or not JSON at all: a build script may print).
fn parse_artifact(line: &str) -> Option<Artifact> {
    let message = json::parse(line).ok()?;
    if message.get("reason")?.as_str()? != "compiler-artifact" {
        return None;
    }
    let target = message.get("target")?;
    Some(Artifact {
        name: target.get("name")?.as_str()?.to_string(),
        kinds: target
            .get("kind")?
            .as_array()?
            .iter()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect(),
        test: message.get("profile")?.get("test")?.as_bool()?,
        executable: message
            .get("executable")
            .and_then(|e| e.as_str())
            .map(PathBuf::from),
    })
}

/// Runs a cargo build with JSON output on stdout and human diagnostics on
/// stderr, and returns the artifacts it reported.
fn run_json_build(mut cmd: Command, what: &str) -> Result<Vec<Artifact>, Error> {
    cmd.arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::new(format!("could not run cargo: {e}")))?;
    let mut artifacts = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("stdout is piped")).lines() {
        let line = line.map_err(|e| Error::new(format!("reading cargo output: {e}")))?;
        artifacts.extend(parse_artifact(&line));
    }
    let status = child
        .wait()
        .map_err(|e| Error::new(format!("waiting for cargo: {e}")))?;
    if !status.success() {
        return Err(Error::new(format!(
            "building {what} failed (cargo's messages are above)"
        )));
    }
    Ok(artifacts)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Abridged from real cargo output.
    const LIB_TEST: &str = r#"{"reason":"compiler-artifact","package_id":"path+file:///w#kernel@0.1.0","manifest_path":"/w/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"kernel","src_path":"/w/src/lib.rs","edition":"2024","doctest":true,"test":true},"profile":{"opt_level":"1","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":true},"features":[],"filenames":["/w/target/i686-kernel/debug/deps/kernel-0a1b"],"executable":"/w/target/i686-kernel/debug/deps/kernel-0a1b","fresh":false}"#;
    const LIB_NORMAL: &str = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"crate_types":["lib"],"name":"kernel"},"profile":{"test":false},"filenames":["/w/target/i686-kernel/debug/deps/libkernel-1c.rlib"],"executable":null,"fresh":true}"#;
    const INTEGRATION: &str = r#"{"reason":"compiler-artifact","target":{"kind":["test"],"crate_types":["bin"],"name":"page_fault"},"profile":{"test":true},"executable":"/w/target/i686-kernel/debug/deps/page_fault-9f","fresh":false}"#;
    const BIN: &str = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"crate_types":["bin"],"name":"kernel"},"profile":{"test":false},"executable":"/w/target/i686-kernel/debug/kernel","fresh":false}"#;
    const FINISHED: &str = r#"{"reason":"build-finished","success":true}"#;

    #[test]
    fn reads_artifacts() {
        assert_eq!(
            parse_artifact(LIB_TEST),
            Some(Artifact {
                name: "kernel".into(),
                kinds: vec!["lib".into()],
                test: true,
                executable: Some(PathBuf::from(
                    "/w/target/i686-kernel/debug/deps/kernel-0a1b"
                )),
            })
        );
        assert_eq!(parse_artifact(LIB_NORMAL).unwrap().executable, None);
        assert_eq!(parse_artifact(FINISHED), None);
        assert_eq!(parse_artifact("warning: build script says hi"), None);
    }

    #[test]
    fn picks_test_kernels() {
        let artifacts = [INTEGRATION, BIN, LIB_NORMAL, LIB_TEST]
            .iter()
            .filter_map(|l| parse_artifact(l))
            .collect();
        assert_eq!(
            test_kernels(artifacts),
            [
                TestKernel {
                    name: "lib".into(),
                    elf: "/w/target/i686-kernel/debug/deps/kernel-0a1b".into()
                },
                TestKernel {
                    name: "page_fault".into(),
                    elf: "/w/target/i686-kernel/debug/deps/page_fault-9f".into()
                },
            ]
        );
    }
}
