//! A fixed-capacity list of registered objects — what Linux keeps in
//! `shrinker_list` and in notifier chains such as `oom_notify_list` — with
//! no heap: `N` slots of `&'static T`.  An object is identified by its
//! address, so the same object cannot be registered twice.

/// Why an object could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterError {
    /// Every slot is taken.
    Full,
    /// This very object is registered already.
    AlreadyRegistered,
}

/// Up to `N` registered `&'static T`.
pub struct Registry<T: ?Sized + 'static, const N: usize> {
    slots: [Option<&'static T>; N],
}

impl<T: ?Sized + 'static, const N: usize> Registry<T, N> {
    pub const fn new() -> Self {
        Self { slots: [None; N] }
    }

    fn same(a: &T, b: &T) -> bool {
        core::ptr::addr_eq(a as *const T, b as *const T)
    }

    /// Adds `item` in the first free slot.
    pub fn register(&mut self, item: &'static T) -> Result<(), RegisterError> {
        if self.slots.iter().flatten().any(|&registered| Self::same(registered, item)) {
            return Err(RegisterError::AlreadyRegistered);
        }
        let slot = self.slots.iter_mut().find(|slot| slot.is_none()).ok_or(RegisterError::Full)?;
        *slot = Some(item);
        Ok(())
    }

    /// Removes `item`; returns whether it was registered.
    pub fn unregister(&mut self, item: &'static T) -> bool {
        match self.slots.iter_mut().find(|slot| slot.is_some_and(|registered| Self::same(registered, item))) {
            Some(slot) => {
                *slot = None;
                true
            }
            None => false,
        }
    }

    /// A copy of the slots, to call the objects without holding the lock
    /// that protects the registry.
    pub fn snapshot(&self) -> [Option<&'static T>; N] {
        self.slots
    }
}

impl<T: ?Sized + 'static, const N: usize> Default for Registry<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ?Sized + 'static, const N: usize> core::fmt::Debug for Registry<T, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let registered = self.slots.iter().flatten().count();
        f.debug_struct("Registry").field("registered", &registered).field("capacity", &N).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    trait Named {
        fn name(&self) -> &'static str;
    }
    struct Thing(&'static str);
    impl Named for Thing {
        fn name(&self) -> &'static str {
            self.0
        }
    }
    static A: Thing = Thing("a");
    static B: Thing = Thing("b");
    static C: Thing = Thing("c");

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn registers_by_identity_up_to_capacity() {
        let mut registry: Registry<dyn Named, 2> = Registry::new();
        assert_eq!(registry.register(&A), Ok(()));
        assert_eq!(registry.register(&A), Err(RegisterError::AlreadyRegistered));
        assert_eq!(registry.register(&B), Ok(()));
        assert_eq!(registry.register(&C), Err(RegisterError::Full));
        assert!(registry.unregister(&A));
        assert!(!registry.unregister(&A), "already gone");
        assert_eq!(registry.register(&C), Ok(()), "the freed slot is reused");
        let names: [Option<&str>; 2] = registry.snapshot().map(|slot| slot.map(|t| t.name()));
        assert_eq!(names, [Some("c"), Some("b")]);
    }
}
