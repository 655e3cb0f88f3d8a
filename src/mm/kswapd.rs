//! # kswapd: reclaim in the background
//!
//! Direct reclaim makes the allocating thread pay for the memory it needs.
//! To keep that rare, Linux runs one `kswapd` kernel thread per node that
//! reclaims *before* memory runs out: an allocation that finds a zone
//! below `pages_low` wakes it (seed 000's second step, `wakeup_kswapd`),
//! and it frees pages until every zone is back above `pages_high`
//! (`balance_pgdat`, in `vmscan.rs`), then sleeps on `kswapd_wait` again.
//! The gap between `pages_low` and `pages_high` is what lets it work in
//! batches instead of waking for every page.
//!
//! kswapd runs with `PF_MEMALLOC` (its own allocations may dig into the
//! reserves and never recurse into reclaim) and `PF_KSWAPD`, both in
//! `current->flags`, which the scheduler keeps per task: a thread that runs
//! while kswapd sleeps does not inherit them. It and direct reclaimers may
//! shrink the same caches at the same time; the caches' own locks make that
//! safe, and each reclaimer counts only the pages its own calls freed (what
//! Linux's per-task `reclaim_state` is for).
//!
//! ## Linux source
//! `mm/vmscan.c` (2.6.11: `kswapd`, `kswapd_init`, `wakeup_kswapd`,
//! `balance_pgdat`, `pgdat->kswapd_wait`, `kswapd_max_order`).

use super::init::node;
use super::mmzone::{PgData, ZoneType};
use super::vmscan::TaskFlags;
use crate::sched::{KthreadHandle, WaitQueueHead};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Where kswapd sleeps (Linux `pgdat->kswapd_wait`).
static KSWAPD_WAIT: WaitQueueHead = WaitQueueHead::new();
/// Set by a wake-up, cleared by kswapd when it starts a balancing run.
static KSWAPD_WORK: AtomicBool = AtomicBool::new(false);
/// The largest order a waker asked for since the last run (Linux
/// `pgdat->kswapd_max_order`).
static KSWAPD_MAX_ORDER: AtomicUsize = AtomicUsize::new(0);
/// Balancing runs kswapd has finished.
static KSWAPD_RUNS: AtomicUsize = AtomicUsize::new(0);

/// The waker [`PgData::wakeup_kswapd`] calls once it has decided that
/// `zone_type` is short (the tail of Linux's `wakeup_kswapd`): note the
/// order, and wake kswapd if it sleeps. Safe in interrupt context.
fn kswapd_wakeup(_pgdat: &PgData, _zone_type: ZoneType, order: usize) {
    KSWAPD_MAX_ORDER.fetch_max(order, Ordering::Relaxed);
    KSWAPD_WORK.store(true, Ordering::Release);
    if KSWAPD_WAIT.waitqueue_active() {
        KSWAPD_WAIT.wake_up();
    }
}

/// The body of `kswapd0` (Linux `kswapd`).
fn kswapd() -> i32 {
    let pgdat = node();
    pgdat.set_current_flags(pgdat.current_flags() | TaskFlags::PF_MEMALLOC | TaskFlags::PF_KSWAPD);
    loop {
        KSWAPD_WAIT.wait_event(|| KSWAPD_WORK.load(Ordering::Acquire));
        KSWAPD_WORK.store(false, Ordering::Relaxed);
        let order = KSWAPD_MAX_ORDER.swap(0, Ordering::Relaxed);
        let freed = pgdat.balance_pgdat(order);
        log::debug!("kswapd0: balanced for order {order}, {freed} pages freed");
        KSWAPD_RUNS.fetch_add(1, Ordering::Release);
    }
}

/// Starts `kswapd0` and registers its waker (Linux `kswapd_init`, a
/// `module_init`).
pub fn kswapd_init() -> KthreadHandle {
    let handle = crate::sched::kthread_run(&kswapd, "kswapd0").expect("a task slot at boot");
    node().set_kswapd_hook(Some(kswapd_wakeup));
    handle
}

/// Balancing runs kswapd has finished so far.
pub fn kswapd_runs() -> usize {
    KSWAPD_RUNS.load(Ordering::Acquire)
}

/// Is kswapd asleep with nothing to do?
pub fn kswapd_idle() -> bool {
    !KSWAPD_WORK.load(Ordering::Acquire) && KSWAPD_WAIT.waitqueue_active()
}
