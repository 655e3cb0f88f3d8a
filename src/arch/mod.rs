//! Everything that touches the CPU or devices.
//!
//! The memory-management algorithms in `mm/` are ordinary safe Rust over
//! page descriptors and page frame numbers; whatever needs inline assembly,
//! port I/O, control registers or raw page-table memory lives below this
//! module, in small files with a `// SAFETY:` note on every `unsafe` block.
//! Only one architecture exists (32-bit x86 without PAE), but keeping it
//! behind `arch::x86` shows where the line between policy and hardware runs,
//! as Linux's `arch/x86/` does.
//!
//! [`current`] is what portable code uses — the few CPU services the `mm`
//! algorithms need (`irqflags`, `smp`, `highpage`), like Linux's
//! `#include <asm/...>`:
//! the real x86 code in the kernel, a stand-in (`host.rs`) when the
//! algorithms run as host unit tests.

#[cfg(target_os = "none")]
pub mod x86;

#[cfg(not(target_os = "none"))]
pub mod host;

pub mod slab_memory;

/// The architecture this build runs on (see the module doc).
#[cfg(target_os = "none")]
pub use x86 as current;
/// The architecture this build runs on (see the module doc).
#[cfg(not(target_os = "none"))]
pub use host as current;
