//! High memory: permanent kernel mappings (`kmap`/`kunmap`) over the pkmap
//! page table, and the `page_address` table that remembers them.
//!
//! Frames above `max_low_pfn` (896 MiB) are outside the direct map, so the
//! kernel cannot touch them until it maps them somewhere.  `kmap(page)`
//! gives a high page a kernel address that stays valid until `kunmap` —
//! the "permanent" mapping of seed 003 — in the pkmap window: 4 MiB of
//! address space at `PKMAP_BASE`, covered by one page table
//! (`pkmap_page_table`), so at most `LAST_PKMAP` = 1024 high pages are
//! mapped at once.  Linux's `mm/highmem.c` keeps, per slot of the window,
//! a counter `pkmap_count[nr]` whose values mean:
//!
//! | value | meaning |
//! |-------|---------|
//! | 0     | free: the PTE is empty and the TLB holds no entry for the slot |
//! | 1     | not used by anyone, but the PTE still maps the old page and a TLB may still hold it: the slot may not be reused before a TLB flush |
//! | n > 1 | mapped and in use by n - 1 `kmap` callers |
//!
//! Unmapping is lazy: `kunmap` only counts down to 1.  Only when the search
//! for a free slot wraps around (`last_pkmap_nr` back to 0) does
//! `flush_all_zero_pkmaps` clear every slot at 1 and flush the TLB — one
//! flush for up to 1024 unmaps, instead of one per `kunmap`.  When no slot
//! is free at all, `kmap` sleeps on `pkmap_map_wait` until a `kunmap` makes
//! one reusable.
//!
//! A page's pkmap address is found through `page_address()`; Linux 2.6 on
//! i386 has no `virtual` field in `struct page`, so high pages' addresses
//! live in a small hash table (`page_address_htable`) whose entries come
//! from a fixed pool of `LAST_PKMAP` (there can never be more mapped
//! pages than slots).
//!
//! This file holds the bookkeeping as plain safe Rust over an abstract
//! page table ([`PkmapPageTable`]), so every rule above is unit-tested on
//! the host; the kernel side plugs in the real PTEs, the `kmap_lock` and
//! the wait queue.

use super::layout::{LAST_PKMAP, PKMAP_BASE, pkmap_addr, pkmap_nr};
use super::PAGE_SIZE;
use core::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
#[cfg(target_os = "none")]
pub use kernel_side::*;

/// `LAST_PKMAP - 1`: slot numbers wrap with this mask.
pub const LAST_PKMAP_MASK: usize = LAST_PKMAP - 1;
/// log2 of the number of buckets of the page-address hash table.
pub const PA_HASH_ORDER: u32 = 7;

/// The pkmap page table as the bookkeeping sees it: set, clear, flush.
///
/// `Pkmap`'s methods take this and [`PageAddressTable`] as generic
/// parameters, not trait objects: the host tests pass fakes, the kernel its
/// real tables, and each build's calls are direct (and mostly inlined)
/// where a `dyn` call would be an indirect jump on every `kmap` (Linux
/// calls `set_pte_at` and `page_address` directly).
pub trait PkmapPageTable {
    /// Maps slot `nr` to page frame `pfn` (Linux `set_pte_at(... mk_pte(page, kmap_prot))`).
    fn set(&mut self, nr: usize, pfn: usize);
    /// Clears slot `nr`, returning the frame it mapped (`None` if the PTE
    /// was already empty, which the caller reports as a bug).
    fn clear(&mut self, nr: usize) -> Option<usize>;
    /// Flushes the TLB for the whole window (Linux `flush_tlb_kernel_range`).
    fn flush_tlb_kernel_range(&mut self);
}

/// Where the bookkeeping records which page a slot maps (Linux
/// `page_address` / `set_page_address`), as `Pkmap`'s methods use it under
/// `kmap_lock`. The table itself implements it (the host tests); the
/// kernel's implementation takes the table's own interrupts-off lock only
/// where readers elsewhere need it (`forget_slots`), and never across a
/// TLB shootdown.
pub trait PageAddressTable {
    /// The pkmap address of `pfn`, if it has one.
    fn get(&self, pfn: usize) -> Option<usize>;
    /// Records the address of `pfn`, which has none (Linux
    /// `set_page_address` with an address only adds an entry); the caller
    /// looked under `kmap_lock`, which every writer holds.
    fn insert_new(&mut self, pfn: usize, vaddr: usize);
    /// Forgets every address that lies in one of the `freed` slots: what a
    /// flush of the window does for the slots it frees.
    fn forget_slots(&mut self, freed: &SlotSet);
}

/// A set of pkmap slots, one bit each: the slots a flush frees.
pub struct SlotSet([u32; LAST_PKMAP / 32]);

impl SlotSet {
    /// No slot.
    pub const fn new() -> Self {
        SlotSet([0; LAST_PKMAP / 32])
    }
    /// Adds slot `nr`.
    pub fn insert(&mut self, nr: usize) {
        self.0[nr / 32] |= 1 << (nr % 32);
    }
    /// Whether slot `nr` is in the set.
    pub fn contains(&self, nr: usize) -> bool {
        self.0[nr / 32] & (1 << (nr % 32)) != 0
    }
}

impl Default for SlotSet {
    fn default() -> Self {
        Self::new()
    }
}

impl PageAddressTable for PageAddressHtable {
    fn get(&self, pfn: usize) -> Option<usize> {
        PageAddressHtable::get(self, pfn)
    }
    fn forget_slots(&mut self, freed: &SlotSet) {
        PageAddressHtable::forget_slots(self, freed)
    }
    fn insert_new(&mut self, pfn: usize, vaddr: usize) {
        PageAddressHtable::insert_new(self, pfn, vaddr)
    }
}

/// Test-only switch: [`PageAddressHtable::insert_new`] makes the new entry
/// the chain's head *before* filling it in, so the test that readers on
/// other CPUs never see half an entry can be shown to fail.
#[cfg(test)]
pub static PUBLISH_BEFORE_FILL: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// One entry of the page-address pool (Linux `struct page_address_map`).
#[derive(Debug)]
struct PageAddressMap {
    pfn: AtomicUsize,
    vaddr: AtomicUsize,
    /// Next entry in the same bucket or in the free pool, or [`NIL`].
    next: AtomicU16,
}

/// End of a bucket's chain or of the free pool (Linux's list heads point
/// back to themselves; a pool index that cannot exist does the same job
/// in two bytes, and a chain walk compares it without unpacking an
/// `Option`).
const NIL: u16 = u16::MAX;
const _: () = assert!(LAST_PKMAP < NIL as usize);

/// Page frame -> pkmap address, for mapped high pages (Linux
/// `page_address_htable` with its `page_address_pool`).
///
/// 128 buckets for up to 1024 entries, as 2.6.11 (`PA_HASH_ORDER` 7): a
/// full window makes chains about eight long, so every `kmap` of a new
/// page walks one. The walks compare PFNs in place, the cost Linux's
/// `list_for_each_entry` has.
///
/// Every word is an atomic (chain links published with release stores and
/// read with acquire loads, see [`PageAddressHtable::insert_new`]): the
/// table takes no lock itself, its users serialise the writers (in the
/// kernel: `kmap_lock`, which every writer holds, plus the table's own
/// interrupts-off lock against `page_address()` in interrupt handlers; see
/// `kernel_side`). That lets code holding `kmap_lock` read it without the
/// second lock — no writer can run — which Linux's `kmap_high` does not
/// exploit: its `page_address()` takes the table lock every time.
#[derive(Debug)]
pub struct PageAddressHtable {
    buckets: [AtomicU16; 1 << PA_HASH_ORDER],
    pool: [PageAddressMap; LAST_PKMAP],
    free: AtomicU16,
}

impl PageAddressHtable {
    /// An empty table with every pool entry on the free list (Linux
    /// `page_address_init`).
    pub const fn new() -> Self {
        let mut pool = [const { PageAddressMap { pfn: AtomicUsize::new(0), vaddr: AtomicUsize::new(0), next: AtomicU16::new(NIL) } }; LAST_PKMAP];
        let mut index = 0;
        while index + 1 < LAST_PKMAP {
            pool[index] = PageAddressMap { pfn: AtomicUsize::new(0), vaddr: AtomicUsize::new(0), next: AtomicU16::new(index as u16 + 1) };
            index += 1;
        }
        Self { buckets: [const { AtomicU16::new(NIL) }; 1 << PA_HASH_ORDER], pool, free: AtomicU16::new(0) }
    }

    /// Bucket of a frame (Linux hashes the `struct page` pointer with
    /// `hash_ptr`; a multiplicative hash of the PFN spreads just as well).
    fn bucket(pfn: usize) -> usize {
        ((pfn as u32).wrapping_mul(0x9e37_0001) >> (32 - PA_HASH_ORDER)) as usize
    }

    fn head(&self, bucket: usize) -> u16 {
        self.buckets[bucket].load(Ordering::Acquire)
    }

    fn next(&self, index: u16) -> u16 {
        self.pool[index as usize].next.load(Ordering::Acquire)
    }

    fn set_next(&self, index: u16, next: u16) {
        self.pool[index as usize].next.store(next, Ordering::Relaxed);
    }

    /// Makes `prev`'s successor `next`, or the head of `bucket` if `prev`
    /// is `NIL`.
    fn link(&self, bucket: usize, prev: u16, next: u16) {
        match prev {
            NIL => self.buckets[bucket].store(next, Ordering::Relaxed),
            prev => self.set_next(prev, next),
        }
    }

    /// The pool index holding `pfn` and the one before it in its chain
    /// (`NIL` if it is the first); `None` if `pfn` has no entry.
    fn find(&self, bucket: usize, pfn: usize) -> Option<(u16, u16)> {
        let mut prev = NIL;
        let mut index = self.head(bucket);
        while index != NIL {
            let entry = &self.pool[index as usize];
            if entry.pfn.load(Ordering::Relaxed) == pfn {
                return Some((prev, index));
            }
            prev = index;
            index = entry.next.load(Ordering::Acquire);
        }
        None
    }

    /// The pkmap address of `pfn`, if it has one (the high-memory half of
    /// Linux `page_address`).
    pub fn get(&self, pfn: usize) -> Option<usize> {
        let (_, index) = self.find(Self::bucket(pfn), pfn)?;
        Some(self.pool[index as usize].vaddr.load(Ordering::Relaxed))
    }

    /// Records the address of `pfn`, which has none yet, without walking
    /// its chain (Linux `set_page_address` with an address). A debug build
    /// checks the promise (`CONFIG_DEBUG_HIGHMEM`).
    ///
    /// Safe against readers that walk the chain meanwhile, so the kernel
    /// calls it without the table lock: the new entry is filled in first
    /// and only then made the head of its chain (a release store, paired
    /// with the acquire loads of the walk), so a walk sees the chain either
    /// without it or with all of it. The entry comes from the free pool,
    /// which no walk can reach: entries get there by being unlinked, which
    /// takes the lock, so a walk that could still stand on one has ended.
    /// (Removing is not safe this way and keeps the lock.)
    #[doc(alias = "set_page_address")]
    pub fn insert_new(&self, pfn: usize, vaddr: usize) {
        let bucket = Self::bucket(pfn);
        debug_assert!(self.find(bucket, pfn).is_none(), "insert_new: pfn {pfn:#x} already has an address");
        let index = self.free.load(Ordering::Relaxed);
        if index == NIL {
            // Cannot happen while callers keep at most one entry per pkmap
            // slot (the pool has one per slot); reported and ignored.
            log::error!("set_page_address: page_address_pool exhausted (pfn {pfn:#x})");
            return;
        }
        self.free.store(self.next(index), Ordering::Relaxed);
        let entry = &self.pool[index as usize];
        let old_head = self.head(bucket);
        #[cfg(test)]
        if PUBLISH_BEFORE_FILL.load(Ordering::Relaxed) {
            // The order this function exists to avoid, with a pause that
            // stands for a CPU delayed between the stores (an interrupt, a
            // cache miss): a walk on another CPU meanwhile reaches an entry
            // whose PFN, address and link are still the previous user's.
            self.buckets[bucket].store(index, Ordering::Release);
            // (Not `spin_loop`: QEMU leaves the translated code on `pause`.)
            (0..5_000).for_each(|i| { core::hint::black_box(i); });
        }
        entry.pfn.store(pfn, Ordering::Relaxed);
        entry.vaddr.store(vaddr, Ordering::Relaxed);
        entry.next.store(old_head, Ordering::Relaxed);
        self.buckets[bucket].store(index, Ordering::Release);
    }

    /// Gives pool entry `index`, already unlinked, back to the free pool.
    fn release(&self, index: u16) {
        self.set_next(index, self.free.load(Ordering::Relaxed));
        self.free.store(index, Ordering::Relaxed);
    }

    /// Forgets every address in one of the `freed` slots, in one sweep of
    /// the table. Linux's flush calls `set_page_address(page, NULL)` for
    /// each freed slot, and each call walks that page's chain; a flush
    /// frees most of the window, so one pass over every chain (128 heads
    /// and at most 1024 entries) does the same work once instead of
    /// walking half a chain 1024 times. Writers must be serialised.
    #[doc(alias = "set_page_address")]
    pub fn forget_slots(&self, freed: &SlotSet) {
        for bucket in 0..self.buckets.len() {
            let mut prev = NIL;
            let mut index = self.head(bucket);
            while index != NIL {
                let next = self.next(index);
                if freed.contains(pkmap_nr(self.pool[index as usize].vaddr.load(Ordering::Relaxed))) {
                    self.link(bucket, prev, next);
                    self.release(index);
                } else {
                    prev = index;
                }
                index = next;
            }
        }
    }

    /// Number of recorded addresses.
    pub fn len(&self) -> usize {
        let mut len = 0;
        for bucket in 0..self.buckets.len() {
            let mut index = self.head(bucket);
            while index != NIL {
                len += 1;
                index = self.next(index);
            }
        }
        len
    }

    /// Whether no address is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for PageAddressHtable {
    fn default() -> Self {
        Self::new()
    }
}

/// Why `kunmap_high` refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KunmapError {
    /// The page has no pkmap address: it was never kmapped (Linux: BUG on
    /// `!vaddr`).
    NotMapped,
    /// The slot's count is already 1: more kunmaps than kmaps (Linux: BUG
    /// on the count reaching 0 without a flush).
    Unbalanced,
}

/// What `kunmap_high_locked` did: whether waiters may now find a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KunmapResult {
    /// The slot dropped to 1 (unused): a sleeping `kmap` may reuse it after
    /// the next flush, so waiters should be woken.
    pub slot_now_unused: bool,
}

/// The pkmap counters and search cursor, protected in the kernel by
/// `kmap_lock` (Linux's globals `pkmap_count[]` and `last_pkmap_nr`).
pub struct Pkmap {
    /// Per-slot counter with the meanings in the module doc.
    pkmap_count: [u32; LAST_PKMAP],
    /// Where the search for a free slot continues.
    last_pkmap_nr: usize,
    /// How many times the TLB was flushed for the window (for tests and
    /// statistics).
    flushes: usize,
}

impl Pkmap {
    pub const fn new() -> Self {
        Self { pkmap_count: [0; LAST_PKMAP], last_pkmap_nr: 0, flushes: 0 }
    }

    /// The counter of slot `nr`.
    pub fn count(&self, nr: usize) -> u32 {
        self.pkmap_count[nr]
    }

    /// Number of whole-window TLB flushes so far.
    pub fn flushes(&self) -> usize {
        self.flushes
    }

    /// Frees every slot whose count is 1: clear its PTE, forget the page's
    /// address, and flush the TLB once at the end if anything was cleared
    /// (Linux `flush_all_zero_pkmaps`).  After this no TLB can hold a stale
    /// translation for a slot that counts as free.
    pub fn flush_all_zero_pkmaps(&mut self, ptes: &mut impl PkmapPageTable, htable: &mut impl PageAddressTable) {
        let mut freed = SlotSet::new();
        let mut need_flush = false;
        for (nr, count) in self.pkmap_count.iter_mut().enumerate() {
            if *count != 1 {
                continue;
            }
            *count = 0;
            if ptes.clear(nr).is_none() {
                log::error!("flush_all_zero_pkmaps: slot {nr} counted 1 but its PTE is empty");
            }
            freed.insert(nr);
            need_flush = true;
        }
        if need_flush {
            htable.forget_slots(&freed);
            ptes.flush_tlb_kernel_range();
            self.flushes += 1;
        }
    }

    /// Looks for a free slot, starting after `last_pkmap_nr`, and maps `pfn`
    /// there (Linux `map_new_virtual` without the sleeping).  Passing slot 0
    /// means the search wrapped: unused slots are flushed first, which is
    /// how lazily unmapped slots become free.  Returns the new address, or
    /// `None` when a whole round found every slot busy — the caller must
    /// sleep until a `kunmap` and try again.
    pub fn map_new_virtual(&mut self, pfn: usize, ptes: &mut impl PkmapPageTable, htable: &mut impl PageAddressTable) -> Option<usize> {
        let mut remaining = LAST_PKMAP;
        loop {
            self.last_pkmap_nr = (self.last_pkmap_nr + 1) & LAST_PKMAP_MASK;
            if self.last_pkmap_nr == 0 {
                self.flush_all_zero_pkmaps(ptes, htable);
                remaining = LAST_PKMAP;
            }
            if self.pkmap_count[self.last_pkmap_nr] == 0 {
                break;
            }
            remaining -= 1;
            if remaining == 0 {
                return None;
            }
        }
        let nr = self.last_pkmap_nr;
        ptes.set(nr, pfn);
        self.pkmap_count[nr] = 1;
        let vaddr = pkmap_addr(nr);
        // kmap_high_locked looked the page up under kmap_lock: it has no
        // address, and no other writer can give it one meanwhile.
        htable.insert_new(pfn, vaddr);
        Some(vaddr)
    }

    /// The locked part of `kmap_high`: reuse the page's mapping if it has
    /// one, otherwise make one, then count one more user.  `None` means no
    /// slot is free (sleep and retry).
    pub fn kmap_high_locked(&mut self, pfn: usize, ptes: &mut impl PkmapPageTable, htable: &mut impl PageAddressTable) -> Option<usize> {
        let vaddr = match htable.get(pfn) {
            Some(vaddr) => vaddr,
            None => self.map_new_virtual(pfn, ptes, htable)?,
        };
        let nr = pkmap_nr(vaddr);
        self.pkmap_count[nr] += 1;
        debug_assert!(self.pkmap_count[nr] >= 2, "a kmapped slot counts at least 2");
        Some(vaddr)
    }

    /// The locked part of `kunmap_high`: one user fewer.  A count that
    /// would drop to 0 (Linux BUGs: "a count must never go down to zero
    /// without a TLB flush") is refused and left unchanged.
    pub fn kunmap_high_locked(&mut self, pfn: usize, htable: &impl PageAddressTable) -> Result<KunmapResult, KunmapError> {
        let vaddr = htable.get(pfn).ok_or(KunmapError::NotMapped)?;
        let nr = pkmap_nr(vaddr);
        match self.pkmap_count[nr] {
            0 | 1 => Err(KunmapError::Unbalanced),
            count => {
                self.pkmap_count[nr] = count - 1;
                Ok(KunmapResult { slot_now_unused: count - 1 == 1 })
            }
        }
    }
}

impl Default for Pkmap {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `vaddr` lies in the pkmap window.
pub fn is_pkmap_address(vaddr: usize) -> bool {
    (PKMAP_BASE..PKMAP_BASE + LAST_PKMAP * PAGE_SIZE).contains(&vaddr)
}

/// The kernel's half: the real pkmap PTEs, `kmap_lock`, `pkmap_map_wait`.
#[cfg(target_os = "none")]
mod kernel_side {
    use super::*;
    use crate::arch::x86::paging::{Entry, PAGE_KERNEL, pkmap_pte, set_pkmap_pte};
    use crate::mm::direct_map::{page_to_pfn, pfn_to_page, virt_to_page};
    use crate::mm::layout::__va;
    use crate::mm::page::Page;
    use crate::mm::PAGE_SHIFT;
    use crate::preempt::{in_interrupt, might_sleep};
    use crate::sched::{TASK_UNINTERRUPTIBLE, WaitQueueEntry, WaitQueueHead, current, schedule, set_current_state};
    use crate::spinlock::{SpinLock, SpinLockIrq};
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// `kmap_lock`: the pkmap counters and cursor. Taken with plain
    /// `spin_lock`, as in Linux — kmap never runs in interrupt context —
    /// and that matters with several CPUs: `flush_all_zero_pkmaps` holds it
    /// across a TLB shootdown that waits for every other CPU to take an
    /// IPI, and a CPU spinning for `kmap_lock` with interrupts *on* still
    /// takes it.
    static KMAP_LOCK: SpinLock<Pkmap> = SpinLock::new(Pkmap::new());
    /// `page_address_htable`. Its writers hold `kmap_lock` and
    /// [`PAGE_ADDRESS_LOCK`]; readers hold one of the two.
    static PAGE_ADDRESS_HTABLE: PageAddressHtable = PageAddressHtable::new();
    /// The table's lock (Linux `page_address_slot.lock`), for the readers
    /// that do not hold `kmap_lock`: `page_address()` may run anywhere,
    /// interrupts included, so the lock keeps interrupts off — and it is
    /// never held across the shootdown. Taken by the writers around each
    /// update.
    static PAGE_ADDRESS_LOCK: SpinLockIrq<()> = SpinLockIrq::new(());

    /// [`PageAddressTable`] over the global table for code holding
    /// `kmap_lock` (only `Pkmap`'s methods, called under it, get one).
    /// Lookups take no other lock: every writer holds `kmap_lock`, so none
    /// can run meanwhile. This spares `kmap` and `kunmap` an interrupts-off
    /// section each (Linux takes the table lock in `page_address` there
    /// too), which under QEMU's TCG is the dearest part of a `kmap` hit:
    /// turning interrupts back on ends the translated block.
    struct LockedHtable;

    impl PageAddressTable for LockedHtable {
        fn get(&self, pfn: usize) -> Option<usize> {
            PAGE_ADDRESS_HTABLE.get(pfn)
        }
        /// One lock and one sweep for a whole flush, where Linux takes the
        /// lock per slot in `set_page_address`. Released before the
        /// shootdown that follows, which must not run with interrupts off.
        fn forget_slots(&mut self, freed: &SlotSet) {
            let _readers_out = PAGE_ADDRESS_LOCK.lock();
            PAGE_ADDRESS_HTABLE.forget_slots(freed)
        }
        /// Without the table lock: an insertion is safe against readers
        /// (see [`PageAddressHtable::insert_new`]), and kmap_lock keeps
        /// other writers out.
        fn insert_new(&mut self, pfn: usize, vaddr: usize) {
            PAGE_ADDRESS_HTABLE.insert_new(pfn, vaddr)
        }
    }
    /// Where `kmap` sleeps when every slot is busy (Linux `pkmap_map_wait`).
    pub static PKMAP_MAP_WAIT: WaitQueueHead = WaitQueueHead::new();

    /// How often `kmap` had to sleep for a slot.
    static KMAP_SLEEPS: AtomicUsize = AtomicUsize::new(0);
    /// Misuses reported by `kunmap` (Linux would BUG): from interrupt
    /// context, unbalanced, or of a page that was never kmapped.
    static KUNMAP_BUGS: AtomicUsize = AtomicUsize::new(0);

    /// The pkmap page table as `swapper_pg_dir` holds it.
    struct PkmapPtes;

    impl PkmapPageTable for PkmapPtes {
        fn set(&mut self, nr: usize, pfn: usize) {
            set_pkmap_pte(nr, Entry::new((pfn as u64) << PAGE_SHIFT, PAGE_KERNEL));
        }
        fn clear(&mut self, nr: usize) -> Option<usize> {
            let entry = pkmap_pte(nr);
            set_pkmap_pte(nr, Entry::NONE);
            entry.is_present().then(|| (entry.paddr() >> PAGE_SHIFT) as usize)
        }
        fn flush_tlb_kernel_range(&mut self) {
            // Every CPU: another one may still cache a slot being freed
            // (2.6.11's i386 `flush_tlb_kernel_range` is `flush_tlb_all`;
            // we flush the window, see `arch/x86/tlb.rs`).
            crate::arch::x86::tlb::flush_tlb_kernel_range(PKMAP_BASE, PKMAP_BASE + LAST_PKMAP * PAGE_SIZE);
        }
    }

    /// The kernel address of any page, if it has one (Linux
    /// `page_address`): low pages through the direct map, high pages
    /// through the table of current kmaps (`None` if not kmapped).
    pub fn page_address(page: &Page) -> Option<usize> {
        let pfn = page_to_pfn(page);
        if !page.is_highmem() {
            return Some(__va((pfn as u64) << PAGE_SHIFT));
        }
        let _writers_out = PAGE_ADDRESS_LOCK.lock();
        PAGE_ADDRESS_HTABLE.get(pfn)
    }

    /// Maps `page` for as long as the caller needs (Linux `kmap`): low pages
    /// already have their direct-map address; high pages get a pkmap slot
    /// and may have to sleep for one, so this must not be called where
    /// sleeping is forbidden (interrupt handlers, atomic sections).
    pub fn kmap(page: &Page) -> usize {
        might_sleep();
        if !page.is_highmem() {
            return page_address(page).expect("low pages are direct-mapped");
        }
        kmap_high(page)
    }

    /// Gives `page` a pkmap address (Linux `kmap_high` -> `map_new_virtual`).
    ///
    /// Under `kmap_lock`: reuse the page's slot if it has one, otherwise find
    /// a free slot (flushing lazily unmapped ones on wrap-around).  When no
    /// slot is free, sleep on `pkmap_map_wait` and start over — the page
    /// may even have been mapped by someone else meanwhile, which the next
    /// round finds through `page_address`.  The wait-queue entry is added
    /// *before* `kmap_lock` is released, so a `kunmap` that frees a slot in
    /// between sees a waiter and wakes it: no wake-up is lost.
    pub fn kmap_high(page: &Page) -> usize {
        let pfn = page_to_pfn(page);
        loop {
            let wait;
            {
                let mut pkmap = KMAP_LOCK.lock();
                if let Some(vaddr) = pkmap.kmap_high_locked(pfn, &mut PkmapPtes, &mut LockedHtable) {
                    return vaddr;
                }
                // Only the slow path needs a wait-queue entry (Linux declares
                // it inside map_new_virtual's "no free slot" branch too).
                wait = WaitQueueEntry::declare_waitqueue(current());
                PKMAP_MAP_WAIT.add_wait_queue(&wait);
                set_current_state(TASK_UNINTERRUPTIBLE);
            }
            KMAP_SLEEPS.fetch_add(1, Ordering::Relaxed);
            schedule();
            PKMAP_MAP_WAIT.remove_wait_queue(&wait);
        }
    }

    /// Ends a `kmap` (Linux `kunmap`).  Forbidden in interrupt context
    /// (kunmap may wake sleepers; Linux BUGs): reported and ignored.
    pub fn kunmap(page: &Page) {
        if in_interrupt() {
            report_kunmap_bug(page, "kunmap() called from interrupt context");
            return;
        }
        if page.is_highmem() {
            kunmap_high(page);
        }
    }

    /// One user fewer for the page's slot (Linux `kunmap_high`, seed 000).
    /// When the slot becomes unused and someone sleeps in `kmap_high`, they
    /// are woken — after `kmap_lock` is dropped, like Linux, so they do not
    /// wake just to spin on it.  An unbalanced `kunmap`, or one of a page
    /// that was never kmapped, is reported and changes nothing.
    pub fn kunmap_high(page: &Page) {
        let pfn = page_to_pfn(page);
        let need_wakeup = {
            let mut pkmap = KMAP_LOCK.lock();
            match pkmap.kunmap_high_locked(pfn, &LockedHtable) {
                Ok(result) => result.slot_now_unused && PKMAP_MAP_WAIT.waitqueue_active(),
                Err(KunmapError::NotMapped) => {
                    drop(pkmap);
                    return report_kunmap_bug(page, "kunmap() of a page that is not kmapped");
                }
                Err(KunmapError::Unbalanced) => {
                    drop(pkmap);
                    return report_kunmap_bug(page, "unbalanced kunmap(): more kunmaps than kmaps");
                }
            }
        };
        if need_wakeup {
            PKMAP_MAP_WAIT.wake_up();
        }
    }

    fn report_kunmap_bug(page: &Page, what: &str) {
        KUNMAP_BUGS.fetch_add(1, Ordering::Relaxed);
        log::error!("BUG: {what} (pfn {:#x}); ignored", page_to_pfn(page));
        crate::arch::x86::traps::dump_stack();
    }

    /// The page behind a `kmap` address (Linux `kmap_to_page`): pkmap
    /// addresses through their PTE, others through the direct map.
    pub fn kmap_to_page(vaddr: usize) -> Option<&'static Page> {
        if !is_pkmap_address(vaddr) {
            return virt_to_page(vaddr);
        }
        let entry = pkmap_pte(pkmap_nr(vaddr));
        entry.is_present().then(|| pfn_to_page((entry.paddr() >> PAGE_SHIFT) as usize)).flatten()
    }

    /// A snapshot of the pkmap state, for tests and reports.
    pub struct PkmapStats {
        /// Slots per count value: [free, unused (count 1), in use (count > 1)].
        pub slots: [usize; 3],
        /// Pages that have a recorded pkmap address.
        pub mapped_pages: usize,
        /// Whole-window TLB flushes so far.
        pub flushes: usize,
        /// Times `kmap` slept for a slot.
        pub sleeps: usize,
        /// Reported `kunmap` misuses.
        pub kunmap_bugs: usize,
    }

    /// Reads [`PkmapStats`].
    pub fn pkmap_stats() -> PkmapStats {
        let pkmap = KMAP_LOCK.lock();
        let mut slots = [0; 3];
        for nr in 0..LAST_PKMAP {
            slots[(pkmap.count(nr) as usize).min(2)] += 1;
        }
        PkmapStats {
            slots,
            // Under kmap_lock: no writer runs.
            mapped_pages: PAGE_ADDRESS_HTABLE.len(),
            flushes: pkmap.flushes(),
            sleeps: KMAP_SLEEPS.load(Ordering::Relaxed),
            kunmap_bugs: KUNMAP_BUGS.load(Ordering::Relaxed),
        }
    }

    /// The count of the slot `vaddr` belongs to.
    pub fn pkmap_count_of(vaddr: usize) -> u32 {
        KMAP_LOCK.lock().count(pkmap_nr(vaddr))
    }

    /// Runs `flush_all_zero_pkmaps` now (tests; kmap does it on wrap-around).
    pub fn flush_all_zero_pkmaps() {
        KMAP_LOCK.lock().flush_all_zero_pkmaps(&mut PkmapPtes, &mut LockedHtable);
    }
}

/// The in-kernel tests: real PTEs, threads, the timer interrupt.
#[cfg(all(test, target_os = "none"))]
mod kernel_tests;

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::*;

    /// A pkmap page table in an array, remembering flushes and which slots
    /// a TLB could still hold since the last flush.
    struct FakePtes {
        ptes: [Option<usize>; LAST_PKMAP],
        /// Slots cleared since the last flush: a TLB may still map them.
        stale: [bool; LAST_PKMAP],
        flushes: usize,
    }

    impl FakePtes {
        fn new() -> Self {
            Self { ptes: [None; LAST_PKMAP], stale: [false; LAST_PKMAP], flushes: 0 }
        }
    }

    impl PkmapPageTable for FakePtes {
        fn set(&mut self, nr: usize, pfn: usize) {
            assert!(!self.stale[nr], "slot {nr} reused before the TLB was flushed");
            assert!(self.ptes[nr].is_none(), "slot {nr} overwritten while mapped");
            self.ptes[nr] = Some(pfn);
        }
        fn clear(&mut self, nr: usize) -> Option<usize> {
            self.stale[nr] = true;
            self.ptes[nr].take()
        }
        fn flush_tlb_kernel_range(&mut self) {
            self.stale = [false; LAST_PKMAP];
            self.flushes += 1;
        }
    }

    fn setup() -> (Pkmap, FakePtes, PageAddressHtable) {
        (Pkmap::new(), FakePtes::new(), PageAddressHtable::new())
    }

    #[test]
    fn htable_records_and_forgets_addresses() {
        let table = PageAddressHtable::new();
        for nr in 0..LAST_PKMAP {
            table.insert_new(0x40000 + nr * 7, pkmap_addr(nr));
        }
        assert_eq!(table.len(), LAST_PKMAP);
        assert_eq!(table.get(0x40000 + 5 * 7), Some(pkmap_addr(5)));
        assert_eq!(table.get(0x40000 + 5 * 7 + 1), None, "a frame never recorded");
        let mut every_slot = SlotSet::new();
        (0..LAST_PKMAP).for_each(|nr| every_slot.insert(nr));
        table.forget_slots(&every_slot);
        assert!(table.is_empty());
        assert_eq!(table.get(0x40000), None);
    }

    /// The flush's sweep forgets exactly the entries in freed slots, from
    /// the heads, middles and ends of the chains, and gives their pool
    /// entries back (the pool fills up again afterwards).
    #[test]
    fn forget_slots_forgets_exactly_the_freed_slots() {
        let table = PageAddressHtable::new();
        let pfn_of = |nr: usize| 0x40000 + nr * 7;
        for nr in 0..LAST_PKMAP {
            table.insert_new(pfn_of(nr), pkmap_addr(nr));
        }
        let mut freed = SlotSet::new();
        for nr in (0..LAST_PKMAP).filter(|nr| nr % 3 != 0) {
            freed.insert(nr);
        }
        table.forget_slots(&freed);
        for nr in 0..LAST_PKMAP {
            let expected = (nr % 3 == 0).then(|| pkmap_addr(nr));
            assert_eq!(table.get(pfn_of(nr)), expected, "slot {nr}");
        }
        assert_eq!(table.len(), LAST_PKMAP.div_ceil(3));
        for nr in (0..LAST_PKMAP).filter(|nr| nr % 3 != 0) {
            table.insert_new(0x80000 + nr, pkmap_addr(nr));
        }
        assert_eq!(table.len(), LAST_PKMAP, "every forgotten entry went back to the pool");
    }

    #[test]
    fn repeated_kmap_of_a_page_reuses_its_slot_with_counts() {
        let (mut pkmap, mut ptes, mut table) = setup();
        let a = pkmap.kmap_high_locked(0x50000, &mut ptes, &mut table).unwrap();
        let b = pkmap.kmap_high_locked(0x50000, &mut ptes, &mut table).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, pkmap_addr(1), "the search starts after last_pkmap_nr = 0");
        assert_eq!(pkmap.count(1), 3, "mapped + two users");
        assert_eq!(pkmap.kunmap_high_locked(0x50000, &table), Ok(KunmapResult { slot_now_unused: false }));
        assert_eq!(pkmap.kunmap_high_locked(0x50000, &table), Ok(KunmapResult { slot_now_unused: true }));
        assert_eq!(pkmap.count(1), 1, "unused but still mapped until a flush");
        assert_eq!(table.get(0x50000), Some(a), "a lazily unmapped page keeps its address");
        assert_eq!(pkmap.kunmap_high_locked(0x50000, &table), Err(KunmapError::Unbalanced));
        assert_eq!(pkmap.count(1), 1, "an unbalanced kunmap changes nothing");
        assert_eq!(pkmap.kunmap_high_locked(0x60000, &table), Err(KunmapError::NotMapped));
        // kmap again: the old mapping is still there and is reused.
        assert_eq!(pkmap.kmap_high_locked(0x50000, &mut ptes, &mut table), Some(a));
        assert_eq!(pkmap.count(1), 2);
    }

    #[test]
    fn the_window_fills_and_wraps_with_one_flush() {
        let (mut pkmap, mut ptes, mut table) = setup();
        // Slots 1..1023 on the first round, then slot 0 after the wrap.
        let addrs: Vec<usize> = (0..LAST_PKMAP).map(|i| pkmap.kmap_high_locked(0x80000 + i, &mut ptes, &mut table).unwrap()).collect();
        assert_eq!(addrs[0], pkmap_addr(1));
        assert_eq!(addrs[LAST_PKMAP - 1], pkmap_addr(0));
        assert_eq!(ptes.flushes, 0, "nothing to flush: no slot was at 1");
        assert_eq!(pkmap.kmap_high_locked(0x90000, &mut ptes, &mut table), None, "window full: the caller must sleep");
        // One kunmap makes a slot reusable — after a flush.
        pkmap.kunmap_high_locked(0x80000 + 10, &table).unwrap();
        let vaddr = pkmap.kmap_high_locked(0x90000, &mut ptes, &mut table).unwrap();
        assert_eq!(vaddr, addrs[10], "the freed slot is the only one");
        assert_eq!(ptes.flushes, 1, "reusing it needed exactly one flush");
        assert_eq!(table.get(0x80000 + 10), None, "the old page lost its address");
        assert_eq!(table.len(), LAST_PKMAP);
    }

    #[test]
    fn flush_frees_only_unused_slots() {
        let (mut pkmap, mut ptes, mut table) = setup();
        for pfn in 0..8 {
            pkmap.kmap_high_locked(0x70000 + pfn, &mut ptes, &mut table).unwrap();
        }
        for pfn in 0..4 {
            pkmap.kunmap_high_locked(0x70000 + pfn, &table).unwrap();
        }
        pkmap.flush_all_zero_pkmaps(&mut ptes, &mut table);
        assert_eq!(ptes.flushes, 1);
        assert_eq!((1..=4).map(|nr| pkmap.count(nr)).collect::<Vec<_>>(), [0, 0, 0, 0]);
        assert_eq!((5..=8).map(|nr| pkmap.count(nr)).collect::<Vec<_>>(), [2, 2, 2, 2]);
        assert_eq!(table.len(), 4);
        pkmap.flush_all_zero_pkmaps(&mut ptes, &mut table);
        assert_eq!(ptes.flushes, 1, "no slot at 1: no flush");
    }

    /// Random kmap/kunmap of a few thousand pages; the fake page table
    /// panics if a slot is reused without a flush.  At the end every count
    /// is 0 or 1 and the table holds exactly the pages whose slots are 1.
    #[test]
    fn random_kmap_kunmap_keeps_counts_consistent() {
        let (mut pkmap, mut ptes, mut table) = setup();
        let mut held: Vec<usize> = Vec::new();
        let mut rng = crate::xorshift::XorShift64(0x1234_5678_9abc_def0);
        for _ in 0..100_000 {
            let state = rng.next_u64();
            let pfn = 0x40000 + (state % 3000) as usize;
            if state % 3 != 0 || held.is_empty() {
                if let Some(vaddr) = pkmap.kmap_high_locked(pfn, &mut ptes, &mut table) {
                    assert_eq!(ptes.ptes[pkmap_nr(vaddr)], Some(pfn));
                    held.push(pfn);
                }
            } else {
                let victim = held.swap_remove((state >> 20) as usize % held.len());
                pkmap.kunmap_high_locked(victim, &table).unwrap();
            }
        }
        for pfn in held.drain(..) {
            pkmap.kunmap_high_locked(pfn, &table).unwrap();
        }
        let unused = (0..LAST_PKMAP).filter(|&nr| pkmap.count(nr) == 1).count();
        assert!((0..LAST_PKMAP).all(|nr| pkmap.count(nr) <= 1));
        assert_eq!(table.len(), unused);
        pkmap.flush_all_zero_pkmaps(&mut ptes, &mut table);
        assert!(table.is_empty() && ptes.ptes.iter().all(Option::is_none));
    }
}
