//! # Slab debugging: poison, red zones and the checks on free
//!
//! What Linux 2.6.11 compiles into `mm/slab.c` with `CONFIG_DEBUG_SLAB`
//! (here: [`DEBUG_SLAB`], on in debug builds — every test kernel and host
//! test — and off in the release build the benchmark uses, as a
//! production kernel would have it):
//!
//! * **Poisoning** (`SLAB_POISON`): a free object is filled with
//!   `POISON_FREE` (`0x6b`), its last byte `POISON_END` (`0xa5`); when it is
//!   handed out again every byte is checked ("Slab corruption" if someone
//!   wrote to it after freeing it) and it is filled with `POISON_INUSE`
//!   (`0x5a`), so a caller reading memory it never initialised sees an
//!   obvious pattern.
//! * **Red zones** (`SLAB_RED_ZONE`): a word before and after each object,
//!   `RED_INACTIVE` while it is free and `RED_ACTIVE` while allocated. On
//!   free, both must read `RED_ACTIVE`: "inactive" means a double free,
//!   anything else a write outside the object.
//! * **The free checks** (`kfree_debugcheck`, `cache_free_debugcheck`): the
//!   pointer must be in a slab page of *this* cache, at an object boundary,
//!   and not already free — in its slab's chain (allocated objects carry
//!   `BUFCTL_FREE` in their bufctl) or in this CPU's array.
//!
//! Each failure is reported with the cache's name and the object's
//! address, counted in the cache's `errors`, and the object is **left
//! alone**: the free is refused (Linux would `BUG()`), so a double free
//! cannot put an object on a free list twice and nothing else is damaged.
//! A poisoned object found written after free is reported and handed out
//! re-poisoned, as Linux does: the damage already happened and the object
//! itself is still sound. Two checks stay on without `DEBUG_SLAB`, because
//! they cost almost nothing and stop the worst corruption: the pointer must
//! be in a slab page, and that page must belong to the cache named.

use super::slab::{BUFCTL_FREE, KmemCache, SlabAllocator, SlabError, SlabFlags, SlabMemory, BYTES_PER_WORD};
use crate::arch::current::irqflags::{local_irq_restore, local_irq_save};
use crate::arch::current::smp::smp_processor_id;

/// Whether the `CONFIG_DEBUG_SLAB` checks and statistics are compiled in.
pub const DEBUG_SLAB: bool = cfg!(debug_assertions);

/// Byte of a freed object (Linux `POISON_FREE`).
pub const POISON_FREE: u8 = 0x6b;
/// Byte of a freshly allocated, poisoned object (Linux `POISON_INUSE`).
pub const POISON_INUSE: u8 = 0x5a;
/// Last byte of a poisoned object (Linux `POISON_END`).
pub const POISON_END: u8 = 0xa5;
/// Red zone word of a free object (Linux `RED_INACTIVE`).
pub const RED_INACTIVE: usize = 0x5A2C_F071;
/// Red zone word of an allocated object (Linux `RED_ACTIVE`).
pub const RED_ACTIVE: usize = 0x170F_C2A5;

/// Report a misuse of a cache (Linux `slab_error`: "slab error in
/// function(): cache `name': message").
pub fn slab_error(cachep: &KmemCache, function: &str, msg: &str) {
    log::error!("slab error in {function}(): cache `{}': {msg}", cachep.name());
}

/// Address of the red zone word before the object at `objp` (Linux
/// `dbg_redzone1`): the object's first word.
pub fn dbg_redzone1(cachep: &KmemCache, objp: usize) -> usize {
    objp + cachep.obj_dbghead() - BYTES_PER_WORD
}

/// Address of the red zone word after the object (Linux `dbg_redzone2`):
/// the last word of the object's slot.
pub fn dbg_redzone2(cachep: &KmemCache, objp: usize) -> usize {
    objp + cachep.objsize() - BYTES_PER_WORD
}

/// Bytes covered by poisoning: the caller's part of the object.
fn poison_len(cachep: &KmemCache) -> usize {
    cachep.obj_size()
}

/// Fill the caller's part of the object with `val`, last byte
/// `POISON_END` (Linux `poison_obj`).
pub fn poison_obj(mem: &SlabMemory, cachep: &KmemCache, objp: usize, val: u8) {
    let start = objp + cachep.obj_dbghead();
    let len = poison_len(cachep);
    mem.fill(start, len, val);
    mem.write_u8(start + len - 1, POISON_END);
}

/// Check a free object's poison (Linux `check_poison_obj`); on a mismatch
/// print "Slab corruption" with the cache, the object, the first bad offset
/// and the 16 bytes around it, and return false.
pub fn check_poison_obj(mem: &SlabMemory, cachep: &KmemCache, objp: usize) -> bool {
    let start = objp + cachep.obj_dbghead();
    let len = poison_len(cachep);
    let expected = |i: usize| if i == len - 1 { POISON_END } else { POISON_FREE };
    let Some(offset) = mem.find_mismatch(start, len, expected) else { return true };
    log::error!(
        "Slab corruption: cache `{}', start={start:#x}, len={len}: byte {offset:#x} written after free",
        cachep.name()
    );
    let line = offset / 16 * 16;
    let mut hex = crate::fixed_text::FixedText::<80>::new();
    for i in line..(line + 16).min(len) {
        let _ = core::fmt::Write::write_fmt(&mut hex, format_args!(" {:02x}", mem.read_u8(start + i)));
    }
    log::error!("{line:03x}:{}", hex.as_str());
    cachep.count_error();
    false
}

/// Debug set-up of an object of a new slab (the `DEBUG` part of Linux
/// `cache_init_objs`): red zones inactive, the constructor (unless the
/// object is poisoned, which would undo it), a check that the constructor
/// stayed inside the object, then the poison.
pub(super) fn init_obj(mem: &SlabMemory, cachep: &KmemCache, objp: usize) {
    let red_zone = cachep.flags().contains(SlabFlags::SLAB_RED_ZONE);
    if red_zone {
        mem.write_word(dbg_redzone1(cachep, objp), RED_INACTIVE);
        mem.write_word(dbg_redzone2(cachep, objp), RED_INACTIVE);
    }
    if let Some(ctor) = cachep.ctor() {
        if !cachep.flags().contains(SlabFlags::SLAB_POISON) {
            ctor(mem, objp + cachep.obj_dbghead());
        }
    }
    if red_zone {
        if mem.read_word(dbg_redzone1(cachep, objp)) != RED_INACTIVE {
            slab_error(cachep, "cache_init_objs", "constructor overwrote the start of an object");
        }
        if mem.read_word(dbg_redzone2(cachep, objp)) != RED_INACTIVE {
            slab_error(cachep, "cache_init_objs", "constructor overwrote the end of an object");
        }
    }
    if cachep.flags().contains(SlabFlags::SLAB_POISON) {
        poison_obj(mem, cachep, objp, POISON_FREE);
    }
}

/// The last look at an object of a slab being destroyed (the `DEBUG` part
/// of Linux `slab_destroy`).
pub(super) fn check_destroyed_obj(mem: &SlabMemory, cachep: &KmemCache, objp: usize) {
    if cachep.flags().contains(SlabFlags::SLAB_POISON) {
        check_poison_obj(mem, cachep, objp);
    }
    if cachep.flags().contains(SlabFlags::SLAB_RED_ZONE) {
        if mem.read_word(dbg_redzone1(cachep, objp)) != RED_INACTIVE {
            slab_error(cachep, "slab_destroy", "start of a freed object was overwritten");
        }
        if mem.read_word(dbg_redzone2(cachep, objp)) != RED_INACTIVE {
            slab_error(cachep, "slab_destroy", "end of a freed object was overwritten");
        }
    }
}

/// Refuse a free: report it with the cache and the address, count it.
fn refuse(cachep: &KmemCache, objp: usize, msg: &str, err: SlabError) -> Result<usize, SlabError> {
    slab_error(cachep, "kmem_cache_free", msg);
    log::error!("slab: object {objp:#x} of cache `{}' left as it was", cachep.name());
    cachep.count_error();
    Err(err)
}

/// The checks before an object is freed (Linux `kfree_debugcheck` +
/// `cache_free_debugcheck`); returns the object's real start (before its
/// red zone), which is what the arrays and slabs hold. See the module doc
/// for which checks run without `DEBUG_SLAB`.
pub(super) fn cache_free_check(slab: &'static SlabAllocator, cachep: &'static KmemCache, objp: usize) -> Result<usize, SlabError> {
    let mem = &slab.mem;
    let Some(page) = mem.virt_to_page(objp).filter(|p| p.is_slab()) else {
        return refuse(cachep, objp, "kfree_debugcheck: bad ptr (not in a slab page)", SlabError::NotSlabMemory);
    };
    let owner = page.page_get_cache_and_slab().0 as usize;
    if owner != cachep.id() {
        let other = slab.caches().find(|c| c.id() == owner).map_or("?", |c| c.name());
        log::error!("slab: mismatch in kmem_cache_free: expected cache `{}', got `{other}'", cachep.name());
        return refuse(cachep, objp, "object belongs to another cache", SlabError::WrongCache);
    }
    if !DEBUG_SLAB {
        return Ok(objp);
    }
    let real = objp.wrapping_sub(cachep.obj_dbghead());
    let slabp = cachep.slab_of(mem, objp).expect("the page is this cache's slab page");
    let s_mem = slabp.s_mem(mem);
    let offset = real.wrapping_sub(s_mem);
    if real < s_mem || offset % cachep.objsize() != 0 || offset / cachep.objsize() >= cachep.num() {
        return refuse(cachep, objp, "kmem_cache_free: bad ptr (not the start of an object)", SlabError::NotObjectBoundary);
    }
    let objnr = offset / cachep.objsize();
    let check_double_free = !slab.switched_off(|s| &s.no_double_free_check);
    if check_double_free && slabp.bufctl(mem, objnr) != BUFCTL_FREE {
        return refuse(cachep, objp, "double free (the object is free in its slab)", SlabError::DoubleFree);
    }
    let irqs = local_irq_save();
    let in_array = cachep.cpu_array(smp_processor_id()).is_some_and(|ac| ac.contains(mem, real));
    local_irq_restore(irqs);
    if check_double_free && in_array {
        return refuse(cachep, objp, "double free (the object is in this CPU's array)", SlabError::DoubleFree);
    }
    if cachep.flags().contains(SlabFlags::SLAB_RED_ZONE) {
        let (rz1, rz2) = (mem.read_word(dbg_redzone1(cachep, real)), mem.read_word(dbg_redzone2(cachep, real)));
        if check_double_free && rz1 == RED_INACTIVE && rz2 == RED_INACTIVE {
            return refuse(cachep, objp, "double free detected (red zones inactive)", SlabError::DoubleFree);
        }
        if rz1 != RED_ACTIVE || rz2 != RED_ACTIVE {
            log::error!("slab: {objp:#x}: redzone 1: {rz1:#x}, redzone 2: {rz2:#x}");
            return refuse(cachep, objp, "memory outside object was overwritten", SlabError::RedZoneOverwritten);
        }
        mem.write_word(dbg_redzone1(cachep, real), RED_INACTIVE);
        mem.write_word(dbg_redzone2(cachep, real), RED_INACTIVE);
    }
    if cachep.flags().contains(SlabFlags::SLAB_POISON) {
        poison_obj(mem, cachep, real, POISON_FREE);
    }
    Ok(real)
}

impl SlabAllocator {
    /// The checks after an object left the array (Linux
    /// `cache_alloc_debugcheck_after`): its poison must be intact (then it
    /// is filled with `POISON_INUSE`), its red zones inactive (then made
    /// active); with poisoning the constructor runs again. Returns the
    /// caller's pointer, past the red zone.
    pub(super) fn cache_alloc_debugcheck_after(&'static self, cachep: &'static KmemCache, objp: usize) -> usize {
        let mem = &self.mem;
        if cachep.flags().contains(SlabFlags::SLAB_POISON) {
            check_poison_obj(mem, cachep, objp);
            poison_obj(mem, cachep, objp, POISON_INUSE);
        }
        if cachep.flags().contains(SlabFlags::SLAB_RED_ZONE) {
            let (rz1, rz2) = (mem.read_word(dbg_redzone1(cachep, objp)), mem.read_word(dbg_redzone2(cachep, objp)));
            if rz1 != RED_INACTIVE || rz2 != RED_INACTIVE {
                slab_error(cachep, "cache_alloc_debugcheck_after", "double free, or memory outside object was overwritten");
                log::error!("slab: {objp:#x}: redzone 1: {rz1:#x}, redzone 2: {rz2:#x}");
                cachep.count_error();
            }
            mem.write_word(dbg_redzone1(cachep, objp), RED_ACTIVE);
            mem.write_word(dbg_redzone2(cachep, objp), RED_ACTIVE);
        }
        let user = objp + cachep.obj_dbghead();
        if let Some(ctor) = cachep.ctor().filter(|_| cachep.flags().contains(SlabFlags::SLAB_POISON)) {
            ctor(mem, user);
        }
        user
    }
}
