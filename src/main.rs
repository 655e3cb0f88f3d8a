//! The kernel image `cargo xtask run` boots.
//!
//! Everything up to `kernel_init` is the library's [`kernel::init::start_kernel`];
//! this image then runs a short self-check of what the boot built — one
//! allocation per zone and order class, written and read back where it has
//! an address, everything merged back afterwards — and powers QEMU off with
//! success or failure.
#![no_std]
#![no_main]

use kernel::arch::x86::qemu::{QemuExitCode, exit_qemu};
use kernel::mm::direct_map::page_address;
use kernel::mm::gfp::GfpFlags;
use kernel::mm::init::node;
use kernel::mm::mmzone::ZoneType;

#[unsafe(no_mangle)]
fn kernel_init() -> ! {
    match self_check() {
        Ok(()) => {
            log::info!("self-check: ok, powering off");
            exit_qemu(QemuExitCode::Success)
        }
        Err(problem) => {
            log::error!("self-check FAILED: {problem}");
            exit_qemu(QemuExitCode::Failed)
        }
    }
}

/// Allocates an order-0 and an order-3 block in each GFP class, fills the
/// low-memory ones through the direct map and reads them back, frees
/// everything, and checks that every zone's free lists are exactly as
/// before and still consistent.
fn self_check() -> Result<(), &'static str> {
    let node = node();
    let buddyinfo = || ZoneType::ALL.map(|zone| node.zone(zone).lock().buddyinfo());
    let before = buddyinfo();
    for gfp in [GfpFlags::GFP_DMA, GfpFlags::GFP_KERNEL, GfpFlags::GFP_HIGHUSER] {
        for order in [0, 3] {
            let page = node.alloc_pages(gfp, order).ok_or("an allocation failed on a fresh system")?;
            if let Some(vaddr) = page_address(page) {
                fill_and_verify(vaddr, 4096 << order)?;
            }
            node.__free_pages(page, order);
        }
    }
    if buddyinfo() != before {
        return Err("the free lists differ after freeing everything");
    }
    for zone in ZoneType::ALL {
        node.zone(zone).lock().check_free_lists().map_err(|_| "inconsistent free lists")?;
    }
    Ok(())
}

/// Writes a pattern over `len` bytes at `vaddr` and reads it back.
fn fill_and_verify(vaddr: usize, len: usize) -> Result<(), &'static str> {
    let words = vaddr as *mut u32;
    for index in 0..len / 4 {
        // SAFETY: [vaddr, vaddr + len) is a block this function's caller
        // just allocated and that the direct map maps.
        unsafe { words.add(index).write_volatile(index as u32 ^ 0xa5a5_a5a5) };
    }
    // SAFETY: as above.
    let intact = (0..len / 4).all(|index| unsafe { words.add(index).read_volatile() } == index as u32 ^ 0xa5a5_a5a5);
    if intact { Ok(()) } else { Err("memory read back differs from what was written") }
}
