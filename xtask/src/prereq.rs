//! Checking (and on Debian, installing) the host tools a command needs.
//!
//! A missing tool should never surface as a puzzling failure halfway through
//! a build ("grub-mkrescue: not found", or worse, an ISO that does not boot
//! because GRUB's BIOS modules are missing). So each command first checks
//! exactly what it will use:
//!
//! | tool               | used by                 | Debian package    |
//! |--------------------|-------------------------|-------------------|
//! | rust-src component | every kernel build      | (rustup)          |
//! | grub-mkrescue      | iso, run, test, gdb     | grub-common       |
//! | /usr/lib/grub/i386-pc | the same (GRUB for BIOS PCs) | grub-pc-bin |
//! | xorriso            | the same (writes the ISO) | xorriso         |
//! | mformat            | the same (grub-mkrescue calls it) | mtools  |
//! | qemu-system-i386   | run, test, gdb          | qemu-system-x86   |
//! | gdb                | gdb, test               | gdb               |
//!
//! Missing packages are installed with apt-get when we may (running as root,
//! or sudo works without a password); otherwise we print the command to run.

use std::env;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::Error;

/// What a command needs besides the Rust toolchain.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    /// grub-mkrescue and friends, to build an ISO.
    pub iso: bool,
    pub qemu: bool,
    pub gdb: bool,
}

/// One host tool and how to tell whether it is there.
struct Tool {
    /// What we call it in messages.
    name: &'static str,
    check: Check,
    /// The Debian package that provides it.
    package: &'static str,
}

enum Check {
    /// An executable with this name somewhere on `$PATH`.
    OnPath(&'static str),
    /// A directory that must exist.
    Directory(&'static str),
}

const ISO_TOOLS: &[Tool] = &[
    Tool {
        name: "grub-mkrescue",
        check: Check::OnPath("grub-mkrescue"),
        package: "grub-common",
    },
    Tool {
        name: "GRUB's BIOS modules (/usr/lib/grub/i386-pc)",
        check: Check::Directory("/usr/lib/grub/i386-pc"),
        package: "grub-pc-bin",
    },
    Tool {
        name: "xorriso",
        check: Check::OnPath("xorriso"),
        package: "xorriso",
    },
    Tool {
        name: "mformat",
        check: Check::OnPath("mformat"),
        package: "mtools",
    },
];
const QEMU: Tool = Tool {
    name: "qemu-system-i386",
    check: Check::OnPath("qemu-system-i386"),
    package: "qemu-system-x86",
};
const GDB: Tool = Tool {
    name: "gdb",
    check: Check::OnPath("gdb"),
    package: "gdb",
};

/// Makes sure everything in `needs` (and the rust-src component) is present,
/// installing what it can. Fails with a message that says what is missing
/// and how to get it.
pub fn ensure(needs: Needs) -> Result<(), Error> {
    ensure_rust_src()?;

    let mut tools: Vec<&Tool> = Vec::new();
    if needs.iso {
        tools.extend(ISO_TOOLS);
    }
    if needs.qemu {
        tools.push(&QEMU);
    }
    if needs.gdb {
        tools.push(&GDB);
    }
    let missing: Vec<&Tool> = tools.into_iter().filter(|t| !is_present(t)).collect();
    if missing.is_empty() {
        return Ok(());
    }

    let packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
    let names: Vec<&str> = missing.iter().map(|t| t.name).collect();
    println!("missing host tools: {}", names.join(", "));
    install_packages(&packages)?;

    let still_missing: Vec<String> = missing
        .iter()
        .filter(|t| !is_present(t))
        .map(|t| format!("{} (package {})", t.name, t.package))
        .collect();
    if still_missing.is_empty() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "still missing after installing packages: {} (if a package is installed but \
             its files are gone, `apt-get install --reinstall {}` restores them)",
            still_missing.join(", "),
            packages.join(" ")
        )))
    }
}

fn is_present(tool: &Tool) -> bool {
    match tool.check {
        Check::OnPath(program) => find_on_path(program),
        Check::Directory(dir) => Path::new(dir).is_dir(),
    }
}

/// Is there an executable file called `program` in a `$PATH` directory?
fn find_on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = env::var_os("PATH") else {
        return false;
    };
    env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Installs Debian packages with apt-get, as root directly or through a
/// password-less sudo; without either, prints the command for the user.
fn install_packages(packages: &[&str]) -> Result<(), Error> {
    let install = format!("apt-get install -y {}", packages.join(" "));
    if !find_on_path("apt-get") {
        return Err(Error::new(format!(
            "this is not a Debian-like system (no apt-get): please install the equivalents of \
             these Debian packages: {}",
            packages.join(" ")
        )));
    }
    let prefix: &[&str] = if is_root() {
        &["env", "DEBIAN_FRONTEND=noninteractive"]
    } else if find_on_path("sudo") && quiet_success(Command::new("sudo").args(["-n", "true"])) {
        &["sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive"]
    } else {
        return Err(Error::new(format!(
            "please install the missing packages and run this again:\n    sudo apt-get update && sudo {install}"
        )));
    };
    for apt_args in [
        vec!["apt-get", "update"],
        [&["apt-get", "install", "-y"][..], packages].concat(),
    ] {
        let argv: Vec<&str> = prefix.iter().copied().chain(apt_args).collect();
        println!("running: {}", argv.join(" "));
        let status = Command::new(argv[0])
            .args(&argv[1..])
            .status()
            .map_err(|e| Error::new(format!("could not run {}: {e}", argv[0])))?;
        if !status.success() {
            return Err(Error::new(format!(
                "`{}` failed ({status})",
                argv.join(" ")
            )));
        }
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn quiet_success(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `-Zbuild-std` compiles `core` from source, which lives in rustup's
/// `rust-src` component. rust-toolchain.toml asks rustup for it, but a
/// toolchain installed earlier may lack it, and the resulting cargo error
/// does not say what to do.
fn ensure_rust_src() -> Result<(), Error> {
    let listed = Command::new("rustup")
        .args(["component", "list", "--installed", "--toolchain", "nightly"])
        .stderr(Stdio::null())
        .output();
    let output = match listed {
        Ok(output) if output.status.success() => output,
        Ok(_) => {
            return Err(Error::new(
                "rustup has no nightly toolchain; install it with `rustup toolchain install nightly --component rust-src`",
            ));
        }
        Err(_) => {
            println!("note: rustup not found; assuming the toolchain has the rust-src component");
            return Ok(());
        }
    };
    if String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|line| line.trim().starts_with("rust-src"))
    {
        return Ok(());
    }
    println!("running: rustup component add rust-src --toolchain nightly");
    let status = Command::new("rustup")
        .args(["component", "add", "rust-src", "--toolchain", "nightly"])
        .status()
        .map_err(|e| Error::new(format!("could not run rustup: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::new(
            "`rustup component add rust-src --toolchain nightly` failed; the kernel cannot be built without it",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path() {
        assert!(find_on_path("sh"));
        assert!(!find_on_path("surely-no-such-program-here"));
    }
}
