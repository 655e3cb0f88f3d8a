//! Spin locks: [`SpinLockIrq`], which keeps interrupt handlers out (Linux
//! `spin_lock_irqsave` / `spin_unlock_irqrestore`), and [`SpinLock`], which
//! only keeps preemption out (Linux `spin_lock` / `spin_unlock`).
//!
//! A plain spin lock is not enough for data that interrupt handlers touch
//! too.  Suppose a thread holds a zone's lock and the timer interrupt
//! arrives on the same CPU; if its handler allocates a page it spins on the
//! zone lock — held by the very thread it interrupted, which cannot run
//! again until the handler returns.  The CPU spins forever.  Linux's answer
//! is to disable interrupts on the local CPU *before* taking such a lock and
//! to restore the previous state after releasing it; that is all
//! [`SpinLockIrq::lock`] does, around a `spin::Mutex`.
//!
//! The guard releases in the right order by construction: its fields drop
//! in declaration order, so the mutex is unlocked first and the interrupt
//! state restored second, as in `spin_unlock_irqrestore`.  Because the
//! saved state travels inside the guard, nested locks restore exactly what
//! each caller had (the inner unlock leaves interrupts off, the outer one
//! turns them back on).
//!
//! Linux's `spin_lock_irqsave` also disables preemption.  With interrupts
//! off nothing can preempt the holder, so we leave the preemption count
//! alone; `might_sleep()` still reports a sleep under such a lock, because
//! it also checks `irqs_disabled()`.
//!
//! Portable: the interrupt state comes from `crate::arch::current`, so code
//! that uses these locks (the zone allocator) still builds and runs in host
//! unit tests.

use crate::arch::current::irqflags::{IrqFlags, local_irq_restore, local_irq_save};
use core::ops::{Deref, DerefMut};

/// A spin lock taken with local interrupts disabled (Linux `spinlock_t`
/// used with `spin_lock_irqsave`).
pub struct SpinLockIrq<T> {
    lock: spin::Mutex<T>,
}

/// Proof that a [`SpinLockIrq`] is held; dropping it unlocks and then
/// restores the interrupt state saved by [`SpinLockIrq::lock`].
pub struct SpinLockIrqGuard<'a, T> {
    // Field order matters: `guard` drops (unlocks) before `_irqs` restores.
    guard: spin::MutexGuard<'a, T>,
    _irqs: IrqRestore,
}

/// Restores a saved interrupt state when dropped.
struct IrqRestore(IrqFlags);

impl Drop for IrqRestore {
    fn drop(&mut self) {
        local_irq_restore(self.0);
    }
}

impl<T> SpinLockIrq<T> {
    /// An unlocked lock around `value` (Linux `DEFINE_SPINLOCK`).
    pub const fn new(value: T) -> Self {
        Self { lock: spin::Mutex::new(value) }
    }

    /// Disables local interrupts, then spins until the lock is ours (Linux
    /// `spin_lock_irqsave`).  The guard gives both back in reverse order.
    #[doc(alias = "spin_lock_irqsave")]
    pub fn lock(&self) -> SpinLockIrqGuard<'_, T> {
        let irqs = IrqRestore(local_irq_save());
        SpinLockIrqGuard { guard: self.lock.lock(), _irqs: irqs }
    }

    /// Like [`SpinLockIrq::lock`], but gives up at once if the lock is
    /// taken (Linux `spin_trylock_irqsave`): for the panic path, which must
    /// not wait for a holder that will never run again.
    pub fn try_lock(&self) -> Option<SpinLockIrqGuard<'_, T>> {
        let irqs = IrqRestore(local_irq_save());
        let guard = self.lock.try_lock()?;
        Some(SpinLockIrqGuard { guard, _irqs: irqs })
    }
}

impl<T> crate::percpu::PerCpu<SpinLockIrq<T>> {
    /// Disables local interrupts, then locks the copy of the CPU running
    /// this code: one interrupt save for both steps, and the CPU is read
    /// only once interrupts are off, so nothing can move the caller (or
    /// run this CPU's interrupt handlers on the copy) in between. This is
    /// the per-CPU page lists' way in (Linux 2.6: `local_irq_save` and then
    /// `this_cpu_ptr`; 5.19 adds a spin lock per list, taken the same way,
    /// `pcp_spin_lock_irqsave`). Going through [`SpinLockIrq::lock`] after
    /// an outer `local_irq_save` would save the interrupt state twice.
    #[doc(alias = "pcp_spin_lock_irqsave")]
    #[inline]
    pub fn lock_this_cpu(&self) -> SpinLockIrqGuard<'_, T> {
        let irqs = IrqRestore(local_irq_save());
        SpinLockIrqGuard { guard: self.this_cpu().lock.lock(), _irqs: irqs }
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for SpinLockIrq<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.lock.fmt(f)
    }
}

impl<T> Deref for SpinLockIrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for SpinLockIrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// A spin lock that leaves interrupts on and disables preemption (Linux
/// `spinlock_t` with plain `spin_lock`): for data interrupt handlers never
/// touch, held where the holder must be able to answer other CPUs'
/// interrupts — e.g. `kmap_lock`, held across a TLB shootdown that waits
/// for every CPU to take an IPI. Preemption is off while it is held, so the
/// holder cannot be switched out on its CPU and leave others spinning.
pub struct SpinLock<T> {
    lock: spin::Mutex<T>,
}

/// Proof that a [`SpinLock`] is held; dropping it unlocks, then enables
/// preemption again (Linux `spin_unlock`).
pub struct SpinLockGuard<'a, T> {
    // Field order matters: `guard` drops (unlocks) before `_preempt` re-enables.
    guard: spin::MutexGuard<'a, T>,
    _preempt: PreemptRestore,
}

/// Ends a preemption-disabled section when dropped.
struct PreemptRestore;

impl Drop for PreemptRestore {
    fn drop(&mut self) {
        crate::preempt::preempt_enable();
    }
}

impl<T> SpinLock<T> {
    /// An unlocked lock around `value` (Linux `DEFINE_SPINLOCK`).
    pub const fn new(value: T) -> Self {
        Self { lock: spin::Mutex::new(value) }
    }

    /// Disables preemption, then spins until the lock is ours (Linux
    /// `spin_lock`).
    #[doc(alias = "spin_lock")]
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        crate::preempt::preempt_disable();
        SpinLockGuard { _preempt: PreemptRestore, guard: self.lock.lock() }
    }
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::current::irqflags::{irqs_enabled, local_irq_disable, local_irq_enable};

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn lock_disables_interrupts_and_unlock_restores_them() {
        let flags = local_irq_save();
        local_irq_enable();
        let lock = SpinLockIrq::new(1);
        {
            let mut value = lock.lock();
            assert!(!irqs_enabled(), "interrupts are off while the lock is held");
            *value += 1;
        }
        assert!(irqs_enabled(), "unlocking restored the enabled state");
        assert_eq!(*lock.lock(), 2);

        local_irq_disable();
        drop(lock.lock());
        assert!(!irqs_enabled(), "a lock taken with interrupts off leaves them off");
        local_irq_restore(flags);
    }

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn nested_locks_restore_in_reverse_order() {
        let flags = local_irq_save();
        local_irq_enable();
        let outer = SpinLockIrq::new(());
        let inner = SpinLockIrq::new(());
        let outer_guard = outer.lock();
        let inner_guard = inner.lock();
        drop(inner_guard);
        assert!(!irqs_enabled(), "the outer lock is still held: interrupts stay off");
        drop(outer_guard);
        assert!(irqs_enabled());
        local_irq_restore(flags);
    }

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn a_plain_spin_lock_disables_preemption_and_leaves_interrupts_alone() {
        let flags = local_irq_save();
        local_irq_enable();
        let lock = SpinLock::new(5);
        let before = crate::preempt::preempt_count();
        {
            let mut value = lock.lock();
            assert!(irqs_enabled(), "interrupts stay on");
            assert_eq!(crate::preempt::preempt_count().0, before.0 + 1, "one level of preemption off");
            *value += 1;
        }
        assert_eq!(crate::preempt::preempt_count(), before);
        assert_eq!(*lock.lock(), 6);
        local_irq_restore(flags);
    }
}
