//! Per-CPU variables (Linux `DEFINE_PER_CPU`, `per_cpu`, `this_cpu_ptr`).
//!
//! Linux gives every CPU its own copy of a per-CPU variable and finds it
//! through a segment register; we keep the copies in an array indexed by
//! [`smp_processor_id`].  Only code that runs with preemption and
//! interrupts in check may use "this CPU's" copy, exactly as in Linux —
//! the type does not enforce that, the callers document it.

use crate::arch::current::smp::smp_processor_id;
use crate::mm::layout::NR_CPUS;

/// One `T` per possible CPU.
#[derive(Debug)]
pub struct PerCpu<T> {
    slots: [T; NR_CPUS],
}

impl<T> PerCpu<T> {
    /// Per-CPU storage built from one value per CPU.
    pub const fn new(slots: [T; NR_CPUS]) -> Self {
        Self { slots }
    }

    /// The copy of CPU `cpu` (Linux `per_cpu(var, cpu)`).
    pub fn cpu(&self, cpu: usize) -> &T {
        &self.slots[cpu]
    }

    /// The copy of the CPU running this code (Linux `this_cpu_ptr`).
    pub fn this_cpu(&self) -> &T {
        &self.slots[smp_processor_id()]
    }

    /// All copies, CPU 0 first (Linux `for_each_possible_cpu`).
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn this_cpu_is_the_slot_of_smp_processor_id() {
        let counters = PerCpu::new([const { AtomicUsize::new(0) }; NR_CPUS]);
        counters.this_cpu().fetch_add(5, Ordering::Relaxed);
        assert_eq!(counters.cpu(smp_processor_id()).load(Ordering::Relaxed), 5);
        assert_eq!(counters.iter().map(|c| c.load(Ordering::Relaxed)).sum::<usize>(), 5);
    }
}
