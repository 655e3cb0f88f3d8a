//! # Intrusive lists of page frames (`page->lru`)
//!
//! The buddy allocator keeps each free block on a list: `zone->free_area[order]
//! .free_list`. Linux threads these lists *through the page descriptors
//! themselves*: every `struct page` carries a `struct list_head lru`, and
//! putting a block on a list costs no memory beyond the descriptor that already
//! exists. That is essential for a memory allocator, which cannot allocate
//! memory to remember what is free.
//!
//! We keep the idea and change the links: instead of pointers, `lru.next` and
//! `lru.prev` hold PFNs. A PFN names a descriptor just as well (it is its index
//! in `mem_map`), fits in 32 bits, and lets the list code stay safe Rust: to
//! follow a link we look the PFN up in a [`MemMap`], which is a bounds-checked
//! slice access rather than a raw pointer dereference.
//!
//! ## Linux source
//! `include/linux/list.h` (`list_add`, `list_add_tail`, `list_del`,
//! `list_empty`, `list_for_each_entry`) as used on `page->lru`.
//!
//! ## What we changed and why
//! * Linux lists are circular with a dummy head node; ours are linear with the
//!   head kept in [`PageList`] (`head`, `tail`, `len`). "No neighbour" is
//!   [`LIST_NONE`]. The length is kept because the free lists need it anyway
//!   (`nr_free`) and it lets the invariant checker detect a cycle.
//! * The list stores PFNs only, so every operation takes the [`MemMap`] the
//!   PFNs index into.
//! * Hot/cold: [`PageList::add`] puts a page at the head (the next one to be
//!   taken: cache-hot), [`PageList::add_tail`] at the tail (cache-cold), as
//!   `list_add` / `list_add_tail` do for the per-CPU lists in seed 001.
//!
//! Callers must hold the lock that protects the list (`zone->lock` for the
//! free lists); the atomics in [`ListHead`] only make the descriptor `Sync`.

use core::sync::atomic::{AtomicU32, Ordering};

use super::page::{MemMap, Page};

/// Link value meaning "no neighbour" (end of list, or not on any list).
pub const LIST_NONE: u32 = u32::MAX;

/// The two links embedded in every page descriptor (Linux `struct list_head`
/// in `page->lru`). Each holds a PFN, or [`LIST_NONE`].
#[derive(Debug)]
pub struct ListHead {
    next: AtomicU32,
    prev: AtomicU32,
}

impl ListHead {
    /// Links of a page that is on no list.
    pub const fn new() -> Self {
        ListHead {
            next: AtomicU32::new(LIST_NONE),
            prev: AtomicU32::new(LIST_NONE),
        }
    }

    /// Put the links in the "on no list" state whatever they held before
    /// (Linux `INIT_LIST_HEAD(&page->lru)` in `memmap_init_zone`).
    #[doc(alias = "INIT_LIST_HEAD")]
    pub(super) fn init(&self) {
        self.set_next(None);
        self.set_prev(None);
    }

    /// The two words as they are, for an owner that uses them for something
    /// else than a list (the slab allocator: `PG_slab` pages are on no list).
    pub(super) fn raw(&self) -> (u32, u32) {
        (self.next.load(Ordering::Relaxed), self.prev.load(Ordering::Relaxed))
    }

    /// Store two words that are not list links (see [`ListHead::raw`]).
    pub(super) fn set_raw(&self, next: u32, prev: u32) {
        self.next.store(next, Ordering::Relaxed);
        self.prev.store(prev, Ordering::Relaxed);
    }

    #[inline]
    fn next(&self) -> Option<usize> {
        decode(self.next.load(Ordering::Relaxed))
    }

    #[inline]
    fn prev(&self) -> Option<usize> {
        decode(self.prev.load(Ordering::Relaxed))
    }

    #[inline]
    fn set_next(&self, pfn: Option<usize>) {
        self.next.store(encode(pfn), Ordering::Relaxed);
    }

    #[inline]
    fn set_prev(&self, pfn: Option<usize>) {
        self.prev.store(encode(pfn), Ordering::Relaxed);
    }
}

impl Default for ListHead {
    fn default() -> Self {
        ListHead::new()
    }
}

#[inline]
fn decode(link: u32) -> Option<usize> {
    (link != LIST_NONE).then_some(link as usize)
}

#[inline]
fn encode(pfn: Option<usize>) -> u32 {
    // PFNs on i386 are below 2^20; `free_area_init_node` refuses maps whose
    // PFNs would not fit, so the conversion cannot truncate.
    pfn.map_or(LIST_NONE, |pfn| pfn as u32)
}

/// The descriptor of a PFN that is on (or being put on) a list. The list only
/// ever holds PFNs of the map its owner passes in (the buddy allocator puts a
/// zone's own frames on the zone's lists), so a miss here means the
/// allocator's own bookkeeping is broken, not that a caller passed bad input.
#[inline]
fn page<'a>(map: &MemMap<'a>, pfn: usize) -> &'a Page {
    match map.pfn_to_page(pfn) {
        Some(page) => page,
        None => panic!(
            "page list: pfn {pfn:#x} outside mem_map {:#x}..{:#x}",
            map.start_pfn(),
            map.end_pfn()
        ),
    }
}

/// A doubly linked list of page frames threaded through their `lru` links
/// (the list half of Linux's `struct free_area`, or of a per-CPU page list).
///
/// The ends are stored as encoded PFNs ([`LIST_NONE`] for "none"), like the
/// links themselves: a zone has `MAX_ORDER x MIGRATE_TYPES` free lists and
/// every CPU a few more, so a list head is kept at 12 bytes.
#[derive(Debug)]
pub struct PageList {
    head: u32,
    tail: u32,
    len: u32,
}

impl Default for PageList {
    fn default() -> Self {
        PageList::new()
    }
}

impl PageList {
    /// An empty list (Linux `INIT_LIST_HEAD`).
    pub const fn new() -> Self {
        PageList {
            head: LIST_NONE,
            tail: LIST_NONE,
            len: 0,
        }
    }

    /// Is the list empty? (Linux `list_empty`)
    #[doc(alias = "list_empty")]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of pages on the list.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// The PFN at the head (the one [`PageList::pop_front`] would take).
    #[inline]
    pub fn front(&self) -> Option<usize> {
        decode(self.head)
    }

    /// The PFN at the tail (the one [`PageList::pop_back`] would take).
    #[inline]
    pub fn back(&self) -> Option<usize> {
        decode(self.tail)
    }

    /// Put `pfn` at the head of the list: it will be taken first
    /// (Linux `list_add(&page->lru, list)`). The page must be on no list.
    #[doc(alias = "list_add")]
    #[inline]
    pub fn add(&mut self, pfn: usize, map: &MemMap<'_>) {
        let links = &page(map, pfn).lru;
        links.set_prev(None);
        links.set_next(self.front());
        match self.front() {
            Some(old_head) => page(map, old_head).lru.set_prev(Some(pfn)),
            None => self.tail = encode(Some(pfn)),
        }
        self.head = encode(Some(pfn));
        self.len += 1;
    }

    /// Put `pfn` at the tail of the list: it will be taken last
    /// (Linux `list_add_tail(&page->lru, list)`). The page must be on no list.
    #[doc(alias = "list_add_tail")]
    #[inline]
    pub fn add_tail(&mut self, pfn: usize, map: &MemMap<'_>) {
        let links = &page(map, pfn).lru;
        links.set_next(None);
        links.set_prev(self.back());
        match self.back() {
            Some(old_tail) => page(map, old_tail).lru.set_next(Some(pfn)),
            None => self.head = encode(Some(pfn)),
        }
        self.tail = encode(Some(pfn));
        self.len += 1;
    }

    /// Unlink `pfn`, which must be on this list (Linux `list_del`). Its links
    /// are reset to "on no list".
    #[doc(alias = "list_del")]
    #[inline]
    pub fn del(&mut self, pfn: usize, map: &MemMap<'_>) {
        let links = &page(map, pfn).lru;
        let (prev, next) = (links.prev(), links.next());
        debug_assert!(
            (prev.is_some() || self.front() == Some(pfn))
                && (next.is_some() || self.back() == Some(pfn)),
            "list_del: pfn {pfn:#x} is not on this list"
        );
        match prev {
            Some(prev) => page(map, prev).lru.set_next(next),
            None => self.head = encode(next),
        }
        match next {
            Some(next) => page(map, next).lru.set_prev(prev),
            None => self.tail = encode(prev),
        }
        links.set_prev(None);
        links.set_next(None);
        self.len -= 1;
    }

    /// Unlink and return the head (the most recently [`add`](PageList::add)ed
    /// page: cache-hot).
    #[inline]
    pub fn pop_front(&mut self, map: &MemMap<'_>) -> Option<usize> {
        // `del` of the head, knowing it has no predecessor: one descriptor
        // fewer to look up on the allocators' hottest path.
        let pfn = self.front()?;
        let links = &page(map, pfn).lru;
        let next = links.next();
        match next {
            Some(next) => page(map, next).lru.set_prev(None),
            None => self.tail = LIST_NONE,
        }
        self.head = encode(next);
        links.init();
        self.len -= 1;
        Some(pfn)
    }

    /// Unlink and return the tail (the page that has waited longest:
    /// cache-cold).
    #[inline]
    pub fn pop_back(&mut self, map: &MemMap<'_>) -> Option<usize> {
        // `del` of the tail, which has no successor (see `pop_front`).
        let pfn = self.back()?;
        let links = &page(map, pfn).lru;
        let prev = links.prev();
        match prev {
            Some(prev) => page(map, prev).lru.set_next(None),
            None => self.head = LIST_NONE,
        }
        self.tail = encode(prev);
        links.init();
        self.len -= 1;
        Some(pfn)
    }

    /// Walk the PFNs from head to tail (Linux `list_for_each_entry`).
    ///
    /// The walk stops after [`PageList::len`] steps even if the links are
    /// corrupt and form a cycle, so an invariant checker can use it safely.
    #[doc(alias = "list_for_each_entry")]
    pub fn iter<'m>(&self, map: &MemMap<'m>) -> Iter<'m> {
        Iter {
            map: *map,
            next: self.front(),
            remaining: self.len(),
        }
    }
}

/// Iterator over a [`PageList`]'s PFNs, head to tail. Besides each PFN it can
/// report the back link it found, so a checker can verify `next->prev == self`.
pub struct Iter<'m> {
    map: MemMap<'m>,
    next: Option<usize>,
    remaining: usize,
}

impl Iter<'_> {
    /// The link after the last PFN yielded: `None` if the list ended where its
    /// length said it would.
    pub fn dangling(&self) -> Option<usize> {
        self.next
    }
}

impl Iterator for Iter<'_> {
    /// `(pfn, prev)`: the PFN and the `lru.prev` link stored in its descriptor.
    type Item = (usize, Option<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let pfn = self.next?;
        let links = &self.map.pfn_to_page(pfn)?.lru;
        self.remaining -= 1;
        self.next = links.next();
        Some((pfn, links.prev()))
    }
}

#[cfg(all(test, not(target_os = "none")))]
mod tests {
    use super::*;

    fn pages(n: usize) -> Vec<Page> {
        (0..n).map(|_| Page::new()).collect()
    }

    fn pfns(list: &PageList, map: &MemMap<'_>) -> Vec<usize> {
        list.iter(map).map(|(pfn, _)| pfn).collect()
    }

    #[test]
    fn add_is_lifo_add_tail_is_fifo() {
        let pages = pages(8);
        let map = MemMap::new(10, &pages);
        let mut list = PageList::new();
        assert!(list.is_empty());
        list.add(11, &map);
        list.add(12, &map);
        list.add_tail(13, &map);
        list.add(14, &map);
        assert_eq!(pfns(&list, &map), [14, 12, 11, 13]);
        assert_eq!(list.len(), 4);
        assert_eq!(list.front(), Some(14));
        assert_eq!(list.pop_front(&map), Some(14));
        assert_eq!(list.pop_back(&map), Some(13));
        assert_eq!(pfns(&list, &map), [12, 11]);
    }

    #[test]
    fn back_links_mirror_forward_links() {
        let pages = pages(8);
        let map = MemMap::new(0, &pages);
        let mut list = PageList::new();
        for pfn in [3, 1, 4, 7, 5] {
            list.add_tail(pfn, &map);
        }
        let walked: Vec<_> = list.iter(&map).collect();
        assert_eq!(
            walked,
            [
                (3, None),
                (1, Some(3)),
                (4, Some(1)),
                (7, Some(4)),
                (5, Some(7))
            ]
        );
    }

    #[test]
    fn del_from_head_middle_and_tail() {
        let pages = pages(8);
        let map = MemMap::new(0, &pages);
        let mut list = PageList::new();
        for pfn in 0..5 {
            list.add_tail(pfn, &map);
        }
        list.del(2, &map);
        assert_eq!(pfns(&list, &map), [0, 1, 3, 4]);
        list.del(0, &map);
        assert_eq!(pfns(&list, &map), [1, 3, 4]);
        list.del(4, &map);
        assert_eq!(pfns(&list, &map), [1, 3]);
        assert_eq!(list.len(), 2);
        // A deleted page is on no list and can be added again.
        assert_eq!(pages[2].lru.next(), None);
        assert_eq!(pages[2].lru.prev(), None);
        list.add(2, &map);
        assert_eq!(pfns(&list, &map), [2, 1, 3]);
        while list.pop_back(&map).is_some() {}
        assert!(list.is_empty());
        assert_eq!(list.front(), None);
        assert_eq!(list.pop_front(&map), None);
    }

    #[test]
    fn iteration_is_bounded_by_len_even_on_a_cycle() {
        let pages = pages(4);
        let map = MemMap::new(0, &pages);
        let mut list = PageList::new();
        list.add_tail(0, &map);
        list.add_tail(1, &map);
        // Corrupt the tail so it points back to the head.
        pages[1].lru.set_next(Some(0));
        let mut iter = list.iter(&map);
        assert_eq!(iter.by_ref().count(), 2);
        assert_eq!(iter.dangling(), Some(0));
    }
}
