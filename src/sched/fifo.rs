//! A bounded first-in first-out queue in a fixed array: the run queue and
//! every wait queue are one of these.
//!
//! Linux threads both kinds of queue through `list_head`s embedded in the
//! tasks (`task->run_list`) and in on-stack `wait_queue_t`s.  This kernel
//! has no heap and keeps its portable code free of raw pointers, and it
//! has a fixed number of task slots (`NR_TASKS`), so a queue can simply
//! hold task *numbers* in a ring of `NR_TASKS` entries: a task is at most
//! once in a given queue, so the ring never overflows.  Removing from the
//! middle (a waiter that gives up) shifts the entries behind it: O(n) with
//! n <= `NR_TASKS`, which is small.
//!
//! Pure data structure: no locking (the owner holds a `SpinLockIrq`), and
//! it builds and is unit-tested on the host.

/// Up to `N` values of `T`, oldest first.
#[derive(Clone, Copy, Debug)]
pub struct Fifo<T: Copy, const N: usize> {
    slots: [T; N],
    /// Index of the oldest entry.
    head: usize,
    len: usize,
}

impl<T: Copy + PartialEq, const N: usize> Fifo<T, N> {
    /// An empty queue; `filler` only initialises the unused slots.
    pub const fn new(filler: T) -> Self {
        Self { slots: [filler; N], head: 0, len: 0 }
    }

    pub const fn len(&self) -> usize {
        self.len
    }

    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `value`; gives it back if the queue is full.
    pub fn push_back(&mut self, value: T) -> Result<(), T> {
        if self.len == N {
            return Err(value);
        }
        self.slots[(self.head + self.len) % N] = value;
        self.len += 1;
        Ok(())
    }

    /// Takes the oldest entry.
    pub fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let value = self.slots[self.head];
        self.head = (self.head + 1) % N;
        self.len -= 1;
        Some(value)
    }

    /// The entries, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        (0..self.len).map(|i| self.slots[(self.head + i) % N])
    }

    /// Whether some entry satisfies `pred`.
    pub fn any(&self, pred: impl FnMut(T) -> bool) -> bool {
        self.iter().any(pred)
    }

    /// Keeps the entries for which `keep` returns true, in order; `keep`
    /// sees every entry once, oldest first.
    pub fn retain(&mut self, mut keep: impl FnMut(T) -> bool) {
        let len = self.len;
        let mut kept = 0;
        for i in 0..len {
            let value = self.slots[(self.head + i) % N];
            if keep(value) {
                self.slots[(self.head + kept) % N] = value;
                kept += 1;
            }
        }
        self.len = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents<const N: usize>(fifo: &Fifo<u8, N>) -> [Option<u8>; 4] {
        let mut out = [None; 4];
        for (slot, value) in out.iter_mut().zip(fifo.iter()) {
            *slot = Some(value);
        }
        out
    }

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn first_in_first_out_across_the_wrap() {
        let mut fifo = Fifo::<u8, 3>::new(0);
        assert_eq!(fifo.pop_front(), None);
        for round in 0..5u8 {
            fifo.push_back(round).unwrap();
            fifo.push_back(round + 10).unwrap();
            assert_eq!(fifo.pop_front(), Some(round));
            assert_eq!(fifo.pop_front(), Some(round + 10));
        }
        assert!(fifo.is_empty());
    }

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn a_full_queue_refuses_and_keeps_its_entries() {
        let mut fifo = Fifo::<u8, 2>::new(0);
        fifo.push_back(1).unwrap();
        fifo.push_back(2).unwrap();
        assert_eq!(fifo.push_back(3), Err(3));
        assert_eq!(contents(&fifo), [Some(1), Some(2), None, None]);
    }

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn retain_removes_from_the_middle_in_order() {
        let mut fifo = Fifo::<u8, 4>::new(0);
        // Start the ring off index 0 so the kept entries wrap.
        fifo.push_back(9).unwrap();
        fifo.push_back(9).unwrap();
        fifo.pop_front();
        fifo.pop_front();
        for value in 1..=4 {
            fifo.push_back(value).unwrap();
        }
        let mut seen = 0;
        fifo.retain(|value| {
            seen += 1;
            value % 2 == 0
        });
        assert_eq!(seen, 4);
        assert_eq!(contents(&fifo), [Some(2), Some(4), None, None]);
        assert!(fifo.any(|v| v == 4) && !fifo.any(|v| v == 3));
        fifo.push_back(5).unwrap();
        assert_eq!(contents(&fifo), [Some(2), Some(4), Some(5), None]);
    }
}
