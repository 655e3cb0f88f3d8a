//! Everything that touches the CPU or devices.
//!
//! The memory-management algorithms in `mm/` are ordinary safe Rust over
//! page descriptors and page frame numbers; whatever needs inline assembly,
//! port I/O, control registers or raw page-table memory lives below this
//! module, in small files with a `// SAFETY:` note on every `unsafe` block.
//! Only one architecture exists (32-bit x86 without PAE), but keeping it
//! behind `arch::x86` shows where the line between policy and hardware runs,
//! as Linux's `arch/x86/` does.

pub mod x86;
