//! The kernel image `cargo xtask run` boots.
//!
//! Everything up to `kernel_init` is the library's [`kernel::init::start_kernel`];
//! this image then runs a short self-check of what the boot built and
//! powers QEMU off with success or failure.  `kernel_init` runs in a kernel
//! thread, with the timer ticking.  The self-check
//! * allocates one block per zone and order class, writes and reads every
//!   page back through `kmap`, and checks everything merged back afterwards;
//! * starts a thread bound to each CPU `smp_init` brought up, which reports
//!   the CPU it runs on;
//! * measures the tick, runs a second thread that sleeps until the timer
//!   interrupt wakes it, sleeps 20 ms on a kernel timer, and prints the
//!   interrupt and softirq counts and the pending timers.
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::arch::x86::irq::{IrqReturn, TIMER_IRQ, free_irq, request_irq, show_interrupts};
use kernel::arch::x86::qemu::{QemuExitCode, exit_qemu};
use kernel::arch::x86::time::measure_tick_rate_millihz;
use kernel::mm::highmem::{kmap, kunmap};
use kernel::mm::gfp::GfpFlags;
use kernel::mm::init::node;
use kernel::mm::mmzone::ZoneType;
use kernel::arch::x86::smp::{num_online_cpus, online_cpus, smp_processor_id};
use kernel::sched::{WaitQueueHead, kthread_create_on_cpu, kthread_join, kthread_run, nr_context_switches};

static TICKED: WaitQueueHead = WaitQueueHead::new();
static TICK_SEEN: AtomicBool = AtomicBool::new(false);

/// A timer hook that wakes the sleeping thread once.
fn wake_on_tick(_irq: u32) -> IrqReturn {
    if TICKED.waitqueue_active() && !TICK_SEEN.swap(true, Ordering::SeqCst) {
        TICKED.wake_up();
    }
    IrqReturn::Handled
}

#[unsafe(no_mangle)]
fn kernel_init() -> ! {
    if let Err(problem) = memory_self_check() {
        log::error!("self-check FAILED: {problem}");
        exit_qemu(QemuExitCode::Failed);
    }
    log::info!("self-check: every zone allocates, maps and merges back");
    every_cpu_self_check();
    timer_and_threads_self_check();
    slab_self_check();
    if kernel::init::kernel_params().monitor {
        log::info!("self-check: ok");
        kernel::monitor::monitor_main()
    }
    log::info!("self-check: ok, powering off");
    exit_qemu(QemuExitCode::Success)
}

/// Starts a thread bound to each online CPU; each reports the CPU it runs
/// on (through `%fs`) and that CPU's APIC id (through CPUID).
fn every_cpu_self_check() {
    let mut handles = [const { None }; kernel::mm::layout::NR_CPUS];
    for cpu in online_cpus() {
        let handle = kthread_create_on_cpu(
            &|| {
                let apicid = kernel::arch::x86::cpu::cpuid(1, 0).ebx >> 24;
                log::info!("self-check: thread on CPU{} (APIC id {apicid:#x}) reports smp_processor_id() = {}", smp_processor_id(), smp_processor_id());
                smp_processor_id() as i32
            },
            cpu,
            "cpu-check",
        )
        .expect("a thread for each CPU");
        kernel::sched::wake_up_process(handle.task());
        handles[cpu] = Some(handle);
    }
    for (cpu, handle) in handles.into_iter().enumerate() {
        if let Some(handle) = handle {
            let reported = kthread_join(handle);
            if reported != cpu as i32 {
                log::error!("self-check FAILED: the thread bound to CPU{cpu} ran on CPU{reported}");
                exit_qemu(QemuExitCode::Failed);
            }
        }
    }
    log::info!("self-check: {} CPU(s) online, each ran its own thread", num_online_cpus());
}

/// Measures the tick, then lets a thread sleep until the timer interrupt
/// wakes it.
fn timer_and_threads_self_check() {
    let millihz = measure_tick_rate_millihz(200);
    log::info!("self-check: timer at {}.{:03} Hz against the TSC (HZ={})", millihz / 1000, millihz % 1000, kernel::time::hz());
    let hook = request_irq(TIMER_IRQ, wake_on_tick, "self-check").expect("a slot on IRQ 0");
    let sleeper = kthread_run(
        &|| {
            TICKED.wait_event(|| TICK_SEEN.load(Ordering::SeqCst));
            0
        },
        "self-check",
    )
    .expect("a kernel thread");
    let code = kthread_join(sleeper);
    free_irq(hook);
    log::info!("self-check: a kernel thread slept until the timer interrupt woke it (exit code {code}); {} context switches", nr_context_switches());
    let start = kernel::time::jiffies();
    kernel::timer::msleep(20);
    log::info!("self-check: msleep(20) slept {} ticks at HZ={}", kernel::time::jiffies() - start, kernel::time::hz());
    show_interrupts();
    kernel::softirq::show_softirqs();
    kernel::timer::show_timer_list();
}

/// Uses the kernel heap (`Box` and `Vec` over the slab allocator) and
/// prints `/proc/slabinfo`.
fn slab_self_check() {
    let squares: alloc::vec::Vec<u32> = (0..1000u32).map(|i| i * i).collect();
    let boxed = alloc::boxed::Box::new([7u8; 100]);
    let ok = squares.iter().enumerate().all(|(i, &sq)| sq == (i * i) as u32) && boxed.iter().all(|&b| b == 7);
    log::info!("self-check: Box and Vec on the slab heap: {}", if ok { "ok" } else { "WRONG CONTENTS" });
    kernel::mm::kmalloc::slab().show_slabinfo();
}

/// Allocates an order-0 and an order-3 block in each GFP class, fills every
/// page through `kmap` (the direct map or a pkmap slot) and reads it back, frees
/// everything, and checks that every zone's free lists are exactly as
/// before and still consistent.
fn memory_self_check() -> Result<(), &'static str> {
    let node = node();
    // Freed single pages wait on the per-CPU lists; drain them so the free
    // lists can be compared.
    let buddyinfo = || {
        node.drain_all_pages();
        ZoneType::ALL.map(|zone| node.zone(zone).lock().buddyinfo())
    };
    let before = buddyinfo();
    for gfp in [GfpFlags::GFP_DMA, GfpFlags::GFP_KERNEL, GfpFlags::GFP_HIGHUSER] {
        for order in [0, 3] {
            let page = node.alloc_pages(gfp, order).ok_or("an allocation failed on a fresh system")?;
            // kmap gives even a high page an address (one page at a time).
            for index in 0..1 << order {
                let page = node.pfn_to_page(node.page_to_pfn(page).unwrap() + index).unwrap();
                let vaddr = kmap(page);
                let result = fill_and_verify(vaddr, 4096);
                kunmap(page);
                result?;
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
