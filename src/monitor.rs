//! The kernel monitor: a prompt on the serial console for poking at the
//! memory manager by typing (in the spirit of JOS's kernel monitor, xv6's
//! `vmprint` and Linux's `/proc` files).
//!
//! `cargo xtask run` on a terminal boots with `monitor` on the command line
//! and the kernel's last step is [`monitor_main`]: read a line, run the
//! command, print the answer — in Linux's `/proc` formats where Linux has
//! one — and prompt again (`lm> `). Typing is echoed, backspace erases,
//! Ctrl-U clears the line. `cargo xtask run --monitor < script` feeds a
//! script the same way, one line per prompt, and ends it with `poweroff`.
//!
//! Bad input — an unknown command, a missing or malformed number, an order
//! too big, a pfn outside RAM, an unknown handle, `kunmap` of a page that is
//! not kmapped, `peek` of an unmapped address — gets one `error: ...` line
//! and the prompt again: nothing typed here can make the kernel panic.
//!
//! Allocations made with `alloc` are kept in a small table and named by a
//! handle (`#1`, `#2`...) for `free`, so that the free lists can be watched
//! splitting (`alloc 3`, then `buddyinfo`) and merging back (`free #1`).

use crate::arch::x86::paging::{kernel_pde, lookup_address};
use crate::arch::x86::serial::serial_read_wait;
use crate::mm::gfp::GfpFlags;
use crate::mm::highmem::{kmap, kunmap, page_address, pkmap_count_of, pkmap_stats};
use crate::mm::init::node;
use crate::mm::layout::{LAST_PKMAP, pkmap_addr};
use crate::mm::mmzone::ZoneType;
use crate::mm::{MAX_ORDER, PAGE_SHIFT, PAGE_SIZE};
use crate::println;

/// Longest command line.
const LINE_MAX: usize = 128;
/// Allocations `alloc` can hold at once.
const MAX_HANDLES: usize = 32;
/// Most bytes `peek` shows.
const PEEK_MAX: usize = 256;

/// What `alloc` handed out: (pfn, order), by handle - 1.
type Handles = [Option<(usize, usize)>; MAX_HANDLES];

/// One line of help per command (also the list `help` prints).
const COMMANDS: &[(&str, &str)] = &[
    ("help", "this list"),
    ("meminfo", "memory totals, as /proc/meminfo"),
    ("buddyinfo", "free blocks per order and zone, as /proc/buddyinfo"),
    ("zoneinfo [zone]", "watermarks, sizes and per-CPU lists, as /proc/zoneinfo (DMA, Normal or HighMem)"),
    ("pagetypeinfo", "free blocks per migrate type, as /proc/pagetypeinfo"),
    ("vmstat", "event counters, as /proc/vmstat"),
    ("slabinfo", "the slab caches, as /proc/slabinfo (version 2.1)"),
    ("kmalloc <size>", "kmalloc bytes (GFP_KERNEL); prints the address and the cache"),
    ("kfree <vaddr>", "kfree what kmalloc handed out"),
    ("e820", "the firmware memory map"),
    ("memblock", "memblock's memory and reserved regions"),
    ("alloc <order> [gfp]", "allocate 2^order pages (GFP_KERNEL, GFP_ATOMIC, GFP_HIGHUSER, GFP_DMA); prints a handle"),
    ("free <#handle>", "free what alloc handed out"),
    ("page <pfn>", "the page descriptor: flags, count, zone, buddy order, pageblock type"),
    ("kmap <pfn>", "map a page with kmap (a pkmap slot for a high page)"),
    ("kunmap <pfn>", "end a kmap"),
    ("pkmap", "the pkmap slots in use, their counts and pages"),
    ("kmap_atomic <pfn> [KM_USER0|KM_USER1]", "map a page in this CPU's window, show the address and first bytes, unmap"),
    ("vmalloc <size>", "vmalloc an area (K/M suffixes); prints its address"),
    ("vfree <vaddr>", "free a vmalloc area"),
    ("vmallocinfo", "the vmalloc areas, as /proc/vmallocinfo"),
    ("layout", "the kernel's virtual memory layout, drawn to scale"),
    ("pt <vaddr>", "walk swapper_pg_dir for an address: PDE, PTE, physical address"),
    ("peek <vaddr> [len]", "hex dump of mapped kernel memory (at most 256 bytes)"),
    ("cpus", "the CPUs online, their APIC ids, ticks and current threads"),
    ("threads", "every kernel thread: pid, state, CPU, name"),
    ("frag [zone]", "one character per pageblock: . wholly free, U/R/M/V unmovable/reclaimable/movable/reserve in use"),
    ("stress <seconds>", "random allocations and frees for a while, then the counts (every page must come back)"),
    ("snapshot", "a machine-readable dump of e820, zones, pageblocks, free lists and the layout (cargo xtask snapshot draws it)"),
    ("poweroff", "leave QEMU"),
    ("reboot", "restart the machine (the boot starts again; the monitor returns)"),
];

/// The monitor's loop (see the module doc). Never returns.
pub fn monitor_main() -> ! {
    println!("linmem386 monitor: type 'help' for the commands.");
    let mut handles: Handles = [None; MAX_HANDLES];
    let mut line = [0u8; LINE_MAX];
    loop {
        crate::print!("lm> ");
        let len = read_line(&mut line);
        let text = core::str::from_utf8(&line[..len]).unwrap_or("");
        if let Err(why) = run_command(text.trim(), &mut handles) {
            println!("error: {why}");
        }
    }
}

/// Reads one line with echo and simple editing; returns its length.
fn read_line(line: &mut [u8; LINE_MAX]) -> usize {
    let mut len = 0;
    let mut byte = [0u8; 1];
    loop {
        serial_read_wait(&mut byte);
        match byte[0] {
            b'\r' | b'\n' => {
                println!();
                return len;
            }
            0x08 | 0x7f if len > 0 => {
                len -= 1;
                crate::print!("\x08 \x08");
            }
            0x15 => {
                (0..len).for_each(|_| crate::print!("\x08 \x08"));
                len = 0;
            }
            c @ 0x20..=0x7e if len < LINE_MAX => {
                line[len] = c;
                len += 1;
                crate::print!("{}", c as char);
            }
            _ => {}
        }
    }
}

/// A number in decimal or `0x` hex, with an optional K/M/G suffix.
fn number(word: Option<&str>, what: &str) -> Result<usize, Error> {
    let word = word.ok_or(Error::Missing(what.into()))?;
    crate::cmdline::memparse(word)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(Error::Malformed(word.into(), what.into()))
}

/// Why a command failed: printed as one `error:` line.
enum Error {
    Unknown(Word),
    Missing(Word),
    Malformed(Word, Word),
    Other(crate::fixed_text::FixedText<96>),
}

/// A short copy of a word of the command line, for messages.
type Word = crate::fixed_text::FixedText<64>;

impl From<&str> for Word {
    fn from(text: &str) -> Word {
        let mut word = Word::new();
        let _ = core::fmt::Write::write_str(&mut word, text.get(..text.len().min(64)).unwrap_or("?"));
        word
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Unknown(word) => write!(f, "unknown command '{}' (try 'help')", word.as_str()),
            Error::Missing(what) => write!(f, "missing {}", what.as_str()),
            Error::Malformed(word, what) => write!(f, "'{}' is not {}", word.as_str(), what.as_str()),
            Error::Other(text) => write!(f, "{}", text.as_str()),
        }
    }
}

macro_rules! fail {
    ($($arg:tt)*) => {{
        let mut text = crate::fixed_text::FixedText::<96>::new();
        let _ = core::fmt::Write::write_fmt(&mut text, format_args!($($arg)*));
        return Err(Error::Other(text));
    }};
}

/// Runs one command line.
fn run_command(line: &str, handles: &mut Handles) -> Result<(), Error> {
    let mut words = line.split_ascii_whitespace();
    let Some(command) = words.next() else { return Ok(()) };
    let node = node();
    match command {
        "help" => COMMANDS.iter().for_each(|(usage, what)| println!("  {usage:<22} {what}")),
        "meminfo" => meminfo(),
        "buddyinfo" => ZoneType::ALL.iter().for_each(|&zone| {
            let zone = node.zone(zone).lock();
            if zone.is_populated() {
                println!("{}", zone.buddyinfo_line());
            }
        }),
        "zoneinfo" => match words.next() {
            None => node.show_zoneinfo(),
            Some(name) => node.show_zoneinfo_of(zone_by_name(name)?),
        },
        "frag" => match words.next() {
            None => ZoneType::ALL.into_iter().for_each(frag),
            Some(name) => frag(zone_by_name(name)?),
        },
        "stress" => stress(number(words.next(), "a number of seconds")?)?,
        "pagetypeinfo" => node.show_pagetypeinfo(),
        "vmstat" => node.show_vmstat(),
        "slabinfo" => crate::mm::kmalloc::slab().show_slabinfo(),
        "kmalloc" => {
            let size: usize = number(words.next(), "a size in bytes")?;
            let slab = crate::mm::kmalloc::slab();
            match slab.kmalloc(size, crate::mm::gfp::GfpFlags::GFP_KERNEL) {
                Some(objp) => {
                    let cache = slab.virt_to_cache(objp).map_or("?", |c| c.name());
                    println!("{objp:#010x}: {size} bytes from {cache}");
                }
                None => fail!("kmalloc({size}) failed (see the warning above)"),
            }
        }
        "kfree" => {
            let objp: usize = number(words.next(), "a kmalloc address")?;
            let slab = crate::mm::kmalloc::slab();
            let cache = slab.virt_to_cache(objp).map_or("?", |c| c.name());
            match slab.kfree(objp) {
                Ok(()) => println!("{objp:#010x}: freed to {cache}"),
                Err(why) => fail!("kfree({objp:#x}) refused: {why:?}"),
            }
        }
        "e820" => crate::arch::x86::setup::boot_data().e820().iter().for_each(|e| {
            println!("BIOS-e820: [mem {:#018x}-{:#018x}] {}", e.addr, (e.addr + e.size).saturating_sub(1), e.kind.name())
        }),
        "memblock" => crate::mm::memblock::MEMBLOCK.lock().dump(),
        "alloc" => alloc(words.next(), words.next(), handles)?,
        "free" => free(words.next(), handles)?,
        "page" => show_page(page_of(words.next())?.1),
        "kmap" => {
            let (pfn, page) = page_of(words.next())?;
            println!("pfn {pfn:#x} mapped at {:#010x}", kmap(page));
        }
        "kunmap" => {
            let (pfn, page) = page_of(words.next())?;
            // A high page is kmapped while its slot counts a user (count > 1;
            // count 1 is a slot left mapped lazily after the last kunmap).
            if page.is_highmem() && !page_address(page).is_some_and(|vaddr| pkmap_count_of(vaddr) > 1) {
                fail!("pfn {pfn:#x} is not kmapped");
            }
            kunmap(page);
            println!("pfn {pfn:#x} kunmapped");
        }
        "pkmap" => pkmap(),
        "kmap_atomic" => {
            use crate::mm::kmap_atomic::{km_type, kmap_atomic, kunmap_atomic};
            let (pfn, page) = page_of(words.next())?;
            let km = match words.next() {
                None | Some("KM_USER0") => km_type::KM_USER0,
                Some("KM_USER1") => km_type::KM_USER1,
                Some(other) => return Err(Error::Malformed(other.into(), "KM_USER0 or KM_USER1 (the types for thread context)".into())),
            };
            let window = kmap_atomic(page, km);
            let mut bytes = [0u8; 16];
            let copied = crate::arch::x86::paging::copy_from_kernel(window, &mut bytes);
            kunmap_atomic(window, km);
            if page.is_highmem() {
                println!("pfn {pfn:#x} in {km:?}'s window of CPU{} at {window:#010x}: {:02x?}", crate::arch::x86::smp::smp_processor_id(), bytes);
            } else {
                println!("pfn {pfn:#x} is a low page: its direct-map address {window:#010x}, no window needed: {:02x?}", bytes);
            }
            if copied.is_err() {
                fail!("the window was not mapped");
            }
        }
        "vmalloc" => {
            let size = number(words.next(), "a size")?;
            match crate::mm::vmalloc::vmalloc(size) {
                Some(vaddr) => println!("vmalloc({size}) = {vaddr:#010x}"),
                None => fail!("vmalloc({size}) failed"),
            }
        }
        "vfree" => {
            let vaddr = number(words.next(), "a virtual address")?;
            if crate::mm::vmalloc::find_vm_area(vaddr).is_none_or(|area| area.addr != vaddr) {
                fail!("{vaddr:#010x} does not start a vmalloc area");
            }
            crate::mm::vmalloc::vfree(vaddr);
            println!("vfree({vaddr:#010x}) done");
        }
        "vmallocinfo" => crate::mm::vmalloc::for_each_vm_area(|area| {
            println!("{:#010x}-{:#010x} {:8} vmalloc pages={}", area.addr, area.addr + area.size, area.size, area.nr_pages)
        }),
        "layout" => layout(),
        "pt" => page_table_walk(number(words.next(), "a virtual address")?),
        "peek" => {
            let vaddr = number(words.next(), "a virtual address")?;
            let len = match words.next() {
                Some(word) => number(Some(word), "a length")?,
                None => 64,
            };
            peek(vaddr, len.min(PEEK_MAX))?;
        }
        "snapshot" => snapshot(),
        "cpus" => cpus(),
        "threads" => threads(),
        "reboot" => {
            println!("Restarting system.");
            crate::arch::x86::smp::smp_send_stop();
            crate::arch::x86::reboot::machine_restart()
        }
        "poweroff" => {
            println!("Power down.");
            crate::arch::x86::qemu::exit_qemu(crate::arch::x86::qemu::QemuExitCode::Success)
        }
        other => return Err(Error::Unknown(other.into())),
    }
    Ok(())
}

/// `/proc/meminfo`'s first lines (kB).
fn meminfo() {
    let node = node();
    let kb = |pages: usize| pages << (PAGE_SHIFT - 10);
    let free = |zones: &[ZoneType]| zones.iter().map(|&z| node.zone(z).lock().free_pages()).sum::<usize>();
    let total = node.totalram_pages();
    let high = node.totalhigh_pages();
    let pcp: usize = ZoneType::ALL.iter().map(|&z| node.nr_pcp_pages(z)).sum();
    println!("MemTotal:     {:>8} kB", kb(total));
    println!("MemFree:      {:>8} kB", kb(free(&ZoneType::ALL)));
    println!("HighTotal:    {:>8} kB", kb(high));
    println!("HighFree:     {:>8} kB", kb(free(&[ZoneType::HighMem])));
    println!("LowTotal:     {:>8} kB", kb(total - high));
    println!("LowFree:      {:>8} kB", kb(free(&[ZoneType::Dma, ZoneType::Normal])));
    println!("PerCPULists:  {:>8} kB", kb(pcp));
    let slab = crate::mm::kmalloc::slab();
    println!("Slab:         {:>8} kB", kb(slab.nr_slab_pages()));
    println!("SReclaimable: {:>8} kB", kb(slab.nr_slab_reclaimable()));
    println!("SUnreclaim:   {:>8} kB", kb(slab.nr_slab_pages() - slab.nr_slab_reclaimable()));
}

fn zone_by_name(name: &str) -> Result<ZoneType, Error> {
    ZoneType::ALL
        .into_iter()
        .find(|zone| zone.name().eq_ignore_ascii_case(name))
        .ok_or(Error::Malformed(name.into(), "a zone (DMA, Normal, HighMem)".into()))
}

/// A picture of `zone_type`'s pageblocks, 64 to a line (see `help`).
fn frag(zone_type: ZoneType) {
    use crate::mm::migratetype::{PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER};
    let node = node();
    let (start, end) = {
        let zone = node.zone(zone_type).lock();
        if !zone.is_populated() {
            return;
        }
        (zone.zone_start_pfn(), zone.zone_end_pfn())
    };
    let map = node.node_mem_map();
    println!("{} pageblocks of {} (4 MiB each):", (end - start).div_ceil(PAGEBLOCK_NR_PAGES), zone_type.name());
    let mut line = crate::fixed_text::FixedText::<80>::new();
    let mut block = start - start % PAGEBLOCK_NR_PAGES;
    let mut row_start = block;
    while block < end {
        let head = node.pfn_to_page(block.max(start));
        let free = head.is_some_and(|page| page.is_buddy() && page.page_order() >= PAGEBLOCK_ORDER);
        let letter = if free { '.' } else { migratetype_letter(crate::mm::migratetype::get_pageblock_migratetype(&map, block.max(start))) };
        let _ = core::fmt::Write::write_char(&mut line, letter);
        block += PAGEBLOCK_NR_PAGES;
        if line.as_str().len() == 64 || block >= end {
            println!("  pfn {row_start:#08x} {}", line.as_str());
            line = crate::fixed_text::FixedText::new();
            row_start = block;
        }
    }
}

/// The letter `frag` and `snapshot` show for a pageblock's migrate type.
fn migratetype_letter(migratetype: crate::mm::migratetype::MigrateType) -> char {
    use crate::mm::migratetype::MigrateType;
    match migratetype {
        MigrateType::Unmovable => 'U',
        MigrateType::Reclaimable => 'R',
        MigrateType::Movable => 'M',
        MigrateType::Reserve => 'V',
    }
}

/// The dump `cargo xtask snapshot` draws its pictures from (one fact per
/// line, numbers in hex, between `snapshot begin` and `snapshot end`):
/// the e820 map, each zone's span and counts, every pageblock's migrate
/// type and free pages, each zone's free blocks per order, and the kernel's
/// virtual regions.
fn snapshot() {
    use crate::mm::layout::{FIXADDR_START, FIXADDR_TOP, PAGE_OFFSET, PKMAP_BASE, VMALLOC_END};
    use crate::mm::migratetype::{PAGEBLOCK_NR_PAGES, get_pageblock_migratetype};
    let node = node();
    println!("snapshot begin");
    for e in crate::arch::x86::setup::boot_data().e820().iter() {
        println!("e820 {:#x} {:#x} {}", e.addr, e.addr + e.size, e.kind.name());
    }
    let map = node.node_mem_map();
    for zone_type in ZoneType::ALL {
        let zone = node.zone(zone_type).lock();
        if !zone.is_populated() {
            continue;
        }
        let (start, end) = (zone.zone_start_pfn(), zone.zone_end_pfn());
        println!(
            "zone {} {start:#x} {end:#x} {:#x} {:#x} {:#x}",
            zone_type.name(),
            zone.present_pages(),
            zone.managed_pages(),
            zone.free_pages()
        );
        let counts = zone.buddyinfo();
        let mut line = crate::fixed_text::FixedText::<160>::new();
        for n in counts {
            let _ = core::fmt::Write::write_fmt(&mut line, format_args!(" {n:#x}"));
        }
        println!("buddy {}{}", zone_type.name(), line.as_str());
        let mut block = start - start % PAGEBLOCK_NR_PAGES;
        while block < end {
            let (from, to) = (block.max(start), (block + PAGEBLOCK_NR_PAGES).min(end));
            // Free pages of the block: the free buddy blocks whose head lies in it.
            let mut free = 0;
            let mut pfn = from;
            while pfn < to {
                match node.pfn_to_page(pfn) {
                    Some(page) if page.is_buddy() => {
                        free += (1usize << page.page_order()).min(to - pfn);
                        pfn += 1 << page.page_order();
                    }
                    _ => pfn += 1,
                }
            }
            let kind = migratetype_letter(get_pageblock_migratetype(&map, from));
            println!("pageblock {} {from:#x} {kind} {free:#x} {:#x}", zone_type.name(), to - from);
            block += PAGEBLOCK_NR_PAGES;
        }
    }
    let high_memory = crate::mm::init::high_memory();
    let pkmap_end = PKMAP_BASE + LAST_PKMAP * PAGE_SIZE;
    let regions: [(&str, u64, u64); 8] = [
        ("user", 0, PAGE_OFFSET as u64),
        ("lowmem", PAGE_OFFSET as u64, high_memory as u64),
        ("gap", high_memory as u64, crate::mm::init::VMALLOC_START() as u64),
        ("vmalloc", crate::mm::init::VMALLOC_START() as u64, VMALLOC_END as u64),
        ("guard", VMALLOC_END as u64, PKMAP_BASE as u64),
        ("pkmap", PKMAP_BASE as u64, pkmap_end as u64),
        ("guard", pkmap_end as u64, FIXADDR_START as u64),
        ("fixmap", FIXADDR_START as u64, FIXADDR_TOP as u64 + PAGE_SIZE as u64),
    ];
    for (name, start, end) in regions {
        println!("vm {name} {start:#x} {end:#x}");
    }
    println!("snapshot end");
}

/// Random order-0..4 allocations in every GFP class for `seconds`, freed
/// in random order; then the counts, and whether every page came back.
fn stress(seconds: usize) -> Result<(), Error> {
    if !(1..=60).contains(&seconds) {
        fail!("a stress of {seconds} s: give 1 to 60 seconds");
    }
    const GFP: [GfpFlags; 4] = [GfpFlags::GFP_KERNEL, GfpFlags::GFP_HIGHUSER, GfpFlags::GFP_DMA, GfpFlags::GFP_ATOMIC];
    let node = node();
    let snapshot = || {
        node.drain_all_pages();
        ZoneType::ALL.map(|zone| node.zone(zone).lock().buddyinfo())
    };
    let before = snapshot();
    let mut random = crate::xorshift::XorShift64(crate::arch::x86::cpu::rdtsc() | 1);
    let mut held: [Option<(&'static crate::mm::page::Page, usize)>; 64] = [None; 64];
    let (mut allocs, mut failures) = (0usize, 0usize);
    let end = crate::time::jiffies() + seconds as u64 * crate::time::hz() as u64;
    while crate::time::jiffies() < end {
        let slot = random.below(held.len());
        match held[slot].take() {
            Some((page, order)) => node.__free_pages(page, order),
            None => {
                let order = random.below(5);
                match node.alloc_pages(GFP[random.below(GFP.len())] | GfpFlags::__GFP_NOWARN, order) {
                    Some(page) => {
                        held[slot] = Some((page, order));
                        allocs += 1;
                    }
                    None => failures += 1,
                }
            }
        }
        crate::sched::cond_resched();
    }
    held.into_iter().flatten().for_each(|(page, order)| node.__free_pages(page, order));
    let same = snapshot() == before;
    println!("stress: {allocs} allocations ({failures} failed) in {seconds} s; every page back: {}", if same { "yes" } else { "NO" });
    if !same {
        fail!("the free lists differ from before the stress");
    }
    Ok(())
}

fn gfp_by_name(name: &str) -> Option<GfpFlags> {
    Some(match name {
        "GFP_KERNEL" => GfpFlags::GFP_KERNEL,
        "GFP_ATOMIC" => GfpFlags::GFP_ATOMIC,
        "GFP_HIGHUSER" => GfpFlags::GFP_HIGHUSER,
        "GFP_DMA" => GfpFlags::GFP_DMA,
        _ => return None,
    })
}

fn alloc(order: Option<&str>, gfp: Option<&str>, handles: &mut Handles) -> Result<(), Error> {
    let order = number(order, "an order")?;
    if order >= MAX_ORDER {
        fail!("order {order} is not below MAX_ORDER ({MAX_ORDER})");
    }
    let gfp = match gfp {
        None => GfpFlags::GFP_KERNEL,
        Some(name) => gfp_by_name(name).ok_or(Error::Malformed(name.into(), "GFP_KERNEL, GFP_ATOMIC, GFP_HIGHUSER or GFP_DMA".into()))?,
    };
    let Some(slot) = handles.iter().position(Option::is_none) else {
        fail!("all {MAX_HANDLES} handles are in use: free one first");
    };
    let node = node();
    let Some(page) = node.alloc_pages(gfp | GfpFlags::__GFP_NOWARN, order) else {
        fail!("the allocation of order {order} failed");
    };
    let pfn = node.page_to_pfn(page).expect("a page of the node");
    handles[slot] = Some((pfn, order));
    println!("#{}: pfn {pfn:#x}, order {order}, zone {}", slot + 1, page.page_zonenum().name());
    Ok(())
}

fn free(handle: Option<&str>, handles: &mut Handles) -> Result<(), Error> {
    let word = handle.ok_or(Error::Missing("a handle (#N)".into()))?;
    let index = word.trim_start_matches('#').parse::<usize>().ok().filter(|&n| (1..=MAX_HANDLES).contains(&n));
    let Some((pfn, order)) = index.and_then(|n| handles[n - 1].take()) else {
        fail!("no allocation has handle {word}");
    };
    let node = node();
    node.__free_pages(node.pfn_to_page(pfn).expect("a page alloc handed out"), order);
    println!("{word}: pfn {pfn:#x}, order {order} freed");
    Ok(())
}

/// The page of a pfn argument, refused outside RAM.
fn page_of(word: Option<&str>) -> Result<(usize, &'static crate::mm::page::Page), Error> {
    let pfn = number(word, "a pfn")?;
    let node = node();
    let ram = ZoneType::ALL.iter().any(|&z| {
        let zone = node.zone(z).lock();
        zone.is_populated() && zone.zone_spans_pfn(pfn)
    });
    match node.pfn_to_page(pfn) {
        Some(page) if ram => Ok((pfn, page)),
        _ => fail!("pfn {pfn:#x} is not in any zone's RAM"),
    }
}

fn show_page(page: &crate::mm::page::Page) {
    let node = node();
    let pfn = node.page_to_pfn(page).expect("a page of the node");
    let map = node.node_mem_map();
    println!("pfn {pfn:#x} (phys {:#x}): zone {}", (pfn as u64) << PAGE_SHIFT, page.page_zonenum().name());
    println!("  flags {:#x} {:?}", page.raw_flags(), page.flags());
    println!("  _count {}, _mapcount {}, private {:#x}", page.page_count(), page.page_mapcount(), page.page_private());
    if page.is_buddy() {
        println!("  free in the buddy allocator: a block of order {}", page.page_order());
    }
    println!("  pageblock migratetype {:?}", crate::mm::migratetype::get_pageblock_migratetype(&map, pfn));
}

fn pkmap() {
    let stats = pkmap_stats();
    println!("pkmap: {} free, {} unused but mapped (count 1), {} in use; {} flushes, {} sleeps",
        stats.slots[0], stats.slots[1], stats.slots[2], stats.flushes, stats.sleeps);
    for nr in 0..LAST_PKMAP {
        let vaddr = pkmap_addr(nr);
        let count = pkmap_count_of(vaddr);
        if count > 1 {
            let pfn = crate::mm::highmem::kmap_to_page(vaddr).and_then(|page| node().page_to_pfn(page));
            println!("  slot {nr:4} at {vaddr:#010x}: count {count} (users {}), pfn {:#x}", count - 1, pfn.unwrap_or(0));
        }
    }
}

/// The kernel's gigabyte drawn to scale, one line per 32 MiB, then Linux's
/// `virtual kernel memory layout` block with the exact bounds.
fn layout() {
    use crate::mm::layout::{FIXADDR_START, PAGE_OFFSET, PKMAP_BASE, VMALLOC_END};
    const STEP: usize = 32 << 20;
    let high_memory = crate::mm::init::high_memory();
    let vmalloc_start = crate::mm::init::VMALLOC_START();
    let region = |vaddr: usize| match vaddr {
        v if v < high_memory => "lowmem: the direct map of the first 896 MiB at most",
        v if v < vmalloc_start => "gap (VMALLOC_OFFSET)",
        v if v < VMALLOC_END => "vmalloc (and the thread stacks at its top)",
        v if v < PKMAP_BASE => "guard",
        v if v < FIXADDR_START => "pkmap: kmap's 1024 slots",
        _ => "fixmap: APIC, kmap_atomic windows, ACPI",
    };
    let mut vaddr = PAGE_OFFSET;
    let mut previous = "";
    while vaddr >= PAGE_OFFSET {
        // The last rows are small regions: name each that starts in the row.
        let row_end = vaddr.saturating_add(STEP - 1);
        let mut names = crate::fixed_text::FixedText::<120>::new();
        for probe in [vaddr, high_memory, vmalloc_start, VMALLOC_END, PKMAP_BASE, FIXADDR_START] {
            if (vaddr..=row_end).contains(&probe) && region(probe) != previous {
                let separator = if names.as_str().is_empty() { "" } else { " / " };
                let _ = core::fmt::write(&mut names, format_args!("{separator}{}", region(probe)));
                previous = region(probe);
            }
        }
        println!("{vaddr:#010x} |{:^24}| {}", if names.as_str().is_empty() { "" } else { "------------------------" }, names.as_str());
        match vaddr.checked_add(STEP) {
            Some(next) => vaddr = next,
            None => break,
        }
    }
    println!("0xffffffff +------------------------+");
    crate::mm::init::print_virtual_layout();
}

fn page_table_walk(vaddr: usize) {
    let pde = kernel_pde(vaddr);
    println!("{vaddr:#010x}: PDE #{} = {:#010x} {:?}", vaddr >> 22, pde.0, pde.flags());
    match lookup_address(vaddr) {
        None => println!("  not mapped"),
        Some(t) if t.large => println!("  4 MiB page: phys {:#x}", t.paddr),
        Some(t) => println!("  PTE #{} {:?}: 4 KiB page, phys {:#x}", (vaddr >> 12) & 1023, t.flags, t.paddr),
    }
}

fn peek(vaddr: usize, len: usize) -> Result<(), Error> {
    let mut bytes = [0u8; PEEK_MAX];
    if let Err(unmapped) = crate::arch::x86::paging::copy_from_kernel(vaddr, &mut bytes[..len]) {
        fail!("{unmapped:#010x} is not mapped");
    }
    for (row, chunk) in bytes[..len].chunks(16).enumerate() {
        let mut line = crate::fixed_text::FixedText::<80>::new();
        for byte in chunk {
            let _ = core::fmt::write(&mut line, format_args!(" {byte:02x}"));
        }
        println!("{:08x}:{}", vaddr + row * 16, line.as_str());
    }
    Ok(())
}

fn cpus() {
    for cpu in crate::arch::x86::smp::online_cpus() {
        let current = crate::sched::current_on(cpu);
        println!("CPU{cpu}: APIC id {:#x}, {} local timer ticks, running {} (pid {})",
            crate::arch::x86::smp::cpu_physical_id(cpu), crate::arch::x86::apic::apic_timer_irqs(cpu), current.comm(), current.pid());
    }
}

fn threads() {
    println!("  PID CPU STATE           NAME");
    for index in 0..crate::sched::NR_TASKS {
        let task = crate::sched::task::task(index);
        if task.in_use() {
            let state = match task.state() {
                crate::sched::TASK_RUNNING => "running",
                crate::sched::TASK_UNINTERRUPTIBLE => "sleeping",
                crate::sched::TASK_DEAD => "dead",
            };
            println!("{:5} {:3} {state:15} {}", task.pid(), task.task_cpu(), task.comm());
        }
    }
}
