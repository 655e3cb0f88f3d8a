//! The host stand-in for the hardware interface that `mm` code uses, so the
//! allocator algorithms build and run in host unit tests.  There is one CPU
//! and nothing to mask: interrupts are "off" only as a recorded state.

pub mod irqflags {
    //! Interrupt state on the host: a per-thread flag, so nesting of
    //! save/restore can still be checked by tests. Inlined, as the
    //! kernel's `pushf; cli` is: the host benchmark should time the
    //! allocator, not calls into this stand-in.
    use std::cell::Cell;

    thread_local!(static ENABLED: Cell<bool> = const { Cell::new(true) });

    /// Saved interrupt state from [`local_irq_save`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[must_use = "give the saved state back to local_irq_restore()"]
    pub struct IrqFlags(bool);

    #[inline]
    pub fn irqs_enabled() -> bool {
        ENABLED.with(Cell::get)
    }
    #[inline]
    pub fn local_irq_disable() {
        ENABLED.with(|e| e.set(false));
    }
    #[inline]
    pub fn local_irq_enable() {
        ENABLED.with(|e| e.set(true));
    }
    #[inline]
    pub fn local_irq_save() -> IrqFlags {
        let flags = IrqFlags(irqs_enabled());
        local_irq_disable();
        flags
    }
    #[inline]
    pub fn local_irq_restore(flags: IrqFlags) {
        ENABLED.with(|e| e.set(flags.0));
    }
}

pub mod smp {
    /// The host runs the algorithms as "CPU 0".
    #[inline]
    pub fn smp_processor_id() -> usize {
        0
    }

    /// One CPU.
    pub fn num_online_cpus() -> usize {
        1
    }

    /// Is `cpu` online? Only CPU 0 is.
    pub fn cpu_online(cpu: usize) -> bool {
        cpu == 0
    }

    /// Why `on_each_cpu_with` could refuse (never, on the host).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum SmpCallError {}

    /// Run `func` on "every CPU": here, once, with interrupts off.
    pub fn on_each_cpu_with(func: &(dyn Fn() + Sync)) -> Result<(), SmpCallError> {
        let flags = super::irqflags::local_irq_save();
        func();
        super::irqflags::local_irq_restore(flags);
        Ok(())
    }
}

pub mod traps {
    /// No call trace on the host: reports end with their message.
    pub fn dump_stack() {}
}

pub mod highpage {
    //! Page contents on the host: the unit tests' page frames are
    //! descriptors only, with no memory behind them, so there is nothing to
    //! fill. (The kernel's version writes the frame; its tests check that.)

    /// Zero-fill frame `pfn`: nothing to do on the host (see above).
    pub fn clear_highpage(_pfn: usize) {}
}
