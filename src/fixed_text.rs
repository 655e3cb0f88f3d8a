//! A fixed-capacity text buffer: `format!` for a kernel without a heap.
//!
//! Messages that are built in pieces (a panic message the harness keeps, a
//! line of a table with one column per CPU) are written into one of these
//! with `write!`, then printed whole. Text beyond the capacity is dropped,
//! whole characters at a time.

use core::fmt::{self, Write};

/// A string of at most `N` bytes that silently truncates.
pub struct FixedText<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Default for FixedText<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FixedText<N> {
    pub const fn new() -> Self {
        Self { bytes: [0; N], len: 0 }
    }
    pub fn as_str(&self) -> &str {
        // Truncation in write_str keeps whole characters, so this is valid.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("<invalid utf-8>")
    }
}

impl<const N: usize> Write for FixedText<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut buf = [0; 4];
            let encoded = c.encode_utf8(&mut buf).as_bytes();
            if self.len + encoded.len() > N {
                break;
            }
            self.bytes[self.len..self.len + encoded.len()].copy_from_slice(encoded);
            self.len += encoded.len();
        }
        Ok(())
    }
}

