//! Marsaglia's xorshift generators: tiny, deterministic pseudo-random
//! numbers for randomized tests and benchmark workloads (no dependency, no
//! heap, the same sequence on the host and in the kernel).

/// 64-bit xorshift (shifts 13, 7, 17).
pub struct XorShift64(pub u64);

impl XorShift64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..bound`.
    pub fn below_u64(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: usize) -> usize {
        self.below_u64(bound as u64) as usize
    }
}

/// 32-bit xorshift (shifts 13, 17, 5).
pub struct XorShift32(pub u32);

impl XorShift32 {
    pub fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: usize) -> usize {
        self.next_u32() as usize % bound
    }
}
