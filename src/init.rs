//! `start_kernel`: the boot sequence, as a table of contents.
//!
//! Linux's `init/main.c:start_kernel()` is a long list of named steps;
//! ours is the same list cut down to what a physical-memory manager needs.
//! Read it top to bottom, then follow each call into its file.
//!
//! At the end control passes to `kernel_init`, which each kernel image
//! defines for itself: the normal kernel (`src/main.rs`) runs its boot
//! self-check, a test kernel runs its tests.

use crate::arch::x86::boot::{self, BootHandoff};
use crate::arch::x86::{serial, setup};
use crate::cmdline::KernelParams;

unsafe extern "Rust" {
    /// The image-specific last step of the boot (see the module doc).
    fn kernel_init() -> !;
}

/// Version banner printed first, like Linux's `linux_banner`.
const BANNER: &str = concat!(
    env!("CARGO_PKG_NAME"), " version ", env!("CARGO_PKG_VERSION"),
    " (i386, 3G/1G split, PAE off): ", env!("CARGO_PKG_DESCRIPTION")
);

/// The boot sequence.  Called once, on the boot stack, by the entry code.
pub fn start_kernel(handoff: BootHandoff) -> ! {
    serial::serial_init();
    crate::printk::printk_init();
    log::info!("{BANNER}");
    let boot_info = boot::boot_info_bytes(&handoff).unwrap_or_else(|why| {
        panic!("{why} (EAX={:#010x}, EBX={:#010x})", handoff.magic, handoff.boot_info_paddr)
    });
    setup::setup_arch(boot_info);
    crate::mm::init::mm_init();
    // SAFETY: every kernel image links exactly one `kernel_init` (see
    // src/main.rs, the test kernels in tests/, and the library's own test
    // kernel in lib.rs).
    unsafe { kernel_init() }
}

/// The parsed kernel command line.
pub fn kernel_params() -> &'static KernelParams<'static> {
    &setup::boot_data().params
}
