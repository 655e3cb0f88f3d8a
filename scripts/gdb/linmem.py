# linmem386's gdb commands, in the spirit of Linux's scripts/gdb (lx-*).
#
# Loaded by `cargo xtask gdb` (or by hand: `source scripts/gdb/linmem.py`).
# Each command reads the kernel's own data structures through the DWARF
# types the Rust compiler emitted, so what it prints is the running
# kernel's state, in the format of the matching /proc file or monitor
# command:
#
#   lm-buddyinfo        free blocks per zone and order (/proc/buddyinfo)
#   lm-zoneinfo         each zone's span, sizes and watermarks
#   lm-page PFN         one struct page: flags decoded, count, mapcount, private
#   lm-pte VADDR        walk swapper_pg_dir: PDE, PTE, flags, physical address
#   lm-pkmap            the pkmap slots in use: count and page, last_pkmap_nr
#   lm-kmap-atomic      each CPU's kmap_atomic windows that map a page
#   lm-memblock         memblock's memory and reserved regions
#   lm-slabinfo         the slab caches' geometry (name, objsize, num, order)
#
# and pretty printers for `Page` (flags decoded) and `GfpFlags` (names).
#
# Rust's wrappers (spin::Once, spin::Mutex, SpinLockIrq, UnsafeCell,
# MaybeUninit, ...) are peeled generically by `peel`, so the commands name
# only the kernel's own fields.

import gdb

PAGE_SHIFT = 12
PAGE_OFFSET = 0xC0000000
MAX_ORDER = 11
NR_CPUS = 4
KM_TYPE_NR = 13
FIXADDR_TOP = 0xFFFFF000
FIX_KMAP_BEGIN = 2          # fixmap order: hole, APIC, kmap windows, ACPI
LAST_PKMAP = 1024
ZONE_NAMES = ["DMA", "Normal", "HighMem"]
PAGE_FLAG_BITS = {7: "PG_slab", 10: "PG_reserved", 19: "PG_buddy"}
GFP_BITS = {0x01: "__GFP_DMA", 0x02: "__GFP_HIGHMEM", 0x10: "__GFP_WAIT", 0x20: "__GFP_HIGH",
            0x40: "__GFP_IO", 0x80: "__GFP_FS", 0x100: "__GFP_COLD", 0x200: "__GFP_NOWARN",
            0x400: "__GFP_REPEAT", 0x800: "__GFP_NOFAIL", 0x1000: "__GFP_NORETRY",
            0x8000: "__GFP_ZERO", 0x80000: "__GFP_RECLAIMABLE", 0x100000: "__GFP_MOVABLE"}
PTE_BITS = [(0x001, "_PAGE_PRESENT"), (0x002, "_PAGE_RW"), (0x004, "_PAGE_USER"), (0x008, "_PAGE_PWT"),
            (0x010, "_PAGE_PCD"), (0x020, "_PAGE_ACCESSED"), (0x040, "_PAGE_DIRTY"), (0x080, "_PAGE_PSE"),
            (0x100, "_PAGE_GLOBAL")]

WRAPPERS = ("spin::once::Once", "spin::mutex::Mutex", "spin::mutex::spin::SpinMutex", "core::cell::UnsafeCell",
            "core::mem::maybe_uninit::MaybeUninit", "core::mem::manually_drop::ManuallyDrop",
            "core::mem::maybe_dangling::MaybeDangling", "kernel::spinlock::SpinLockIrq", "kernel::spinlock::SpinLock",
            "core::sync::atomic::Atomic", "core::sync::atomic::private::Align", "core::cell::Cell",
            "kernel::mm::zone_lock::ZoneLock")


def peel(value):
    """Strip Rust's wrapper types down to the kernel's own value."""
    while True:
        name = str(value.type.strip_typedefs())
        if not name.startswith(WRAPPERS):
            return value
        fields = [f.name for f in value.type.strip_typedefs().fields()]
        for candidate in ("data", "value", "__0", "0", "inner", "lock", "v"):
            if candidate in fields:
                value = value[candidate]
                break
        else:
            return value


def peel_all(value):
    """Descend through single-field structs (bitflags' newtypes) to the integer."""
    value = peel(value)
    while value.type.strip_typedefs().code == gdb.TYPE_CODE_STRUCT and len(value.type.strip_typedefs().fields()) == 1:
        value = peel(value[value.type.strip_typedefs().fields()[0].name])
    return value


def global_value(path):
    symbol = gdb.lookup_global_symbol(path) or gdb.lookup_static_symbol(path)
    if symbol is None:
        raise gdb.GdbError("no symbol %s in this kernel" % path)
    return symbol.value()


def as_int(value):
    return int(peel_all(value))


def rust_str(value):
    """A &str: (data_ptr, length)."""
    value = peel(value)
    length = int(value["length"])
    if length == 0:
        return ""
    data = gdb.selected_inferior().read_memory(int(value["data_ptr"]), length)
    return bytes(data).decode(errors="replace")


def slice_items(value):
    """A &[T]: its data pointer and length."""
    value = peel(value)
    return value["data_ptr"], int(value["length"])


def read_u32(vaddr):
    return int.from_bytes(bytes(gdb.selected_inferior().read_memory(vaddr, 4)), "little")


def node():
    return peel(global_value("kernel::mm::mmzone::CONTIG_PAGE_DATA"))


def zones():
    pgdat = node()
    array = pgdat["node_zones"]
    for i in range(3):
        yield peel(array[i])


def nr_free(zone):
    area = zone["free_area"]
    return [int(peel(area[o])["nr_free"]) for o in range(MAX_ORDER)]


def decode(bits, table):
    names = [name for mask, name in table if bits & mask]
    return " | ".join(names) if names else "0"


class Buddyinfo(gdb.Command):
    """Free blocks of each order in each populated zone, as /proc/buddyinfo."""

    def __init__(self):
        super().__init__("lm-buddyinfo", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        for zone in zones():
            if int(zone["present_pages"]) == 0:
                continue
            counts = "".join("%6d " % n for n in nr_free(zone))
            gdb.write("Node 0, zone %8s %s\n" % (rust_str(zone["name"]), counts))


class Zoneinfo(gdb.Command):
    """Each zone: start pfn, spanned, present, managed and free pages, watermarks."""

    def __init__(self):
        super().__init__("lm-zoneinfo", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        for zone in zones():
            gdb.write("Node 0, zone %8s\n" % rust_str(zone["name"]))
            for name in ("free_pages", "pages_min", "pages_low", "pages_high", "spanned_pages",
                         "present_pages", "managed_pages", "zone_start_pfn"):
                gdb.write("  %-14s %d\n" % (name, int(zone[name])))


def page_of(pfn):
    data, length = slice_items(node()["node_mem_map"])
    if not 0 <= pfn < length:
        raise gdb.GdbError("pfn %#x is outside mem_map (0..%#x)" % (pfn, length))
    return data[pfn]


def describe_page(page):
    flags = as_int(page["flags"])
    names = [name for bit, name in sorted(PAGE_FLAG_BITS.items()) if flags & (1 << bit)]
    zone = ZONE_NAMES[(flags >> 30) & 3] if (flags >> 30) & 3 < 3 else "?"
    return "flags %#010x (%s) zone %s _count %d _mapcount %d private %#x" % (
        flags, " | ".join(names) or "none", zone, as_int(page["_count"]), as_int(page["_mapcount"]),
        as_int(page["private"]))


class PageCommand(gdb.Command):
    """lm-page PFN: the page descriptor of frame PFN."""

    def __init__(self):
        super().__init__("lm-page", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: lm-page PFN")
        pfn = int(gdb.parse_and_eval(arg))
        gdb.write("pfn %#x: %s\n" % (pfn, describe_page(page_of(pfn))))


def swapper_pg_dir():
    return int(global_value("kernel::arch::x86::paging::swapper_pg_dir").address)


def walk(vaddr):
    """(pde, pte or None, physical address or None) of vaddr in swapper_pg_dir."""
    pde = read_u32(swapper_pg_dir() + (vaddr >> 22) * 4)
    if not pde & 1:
        return pde, None, None
    if pde & 0x80:
        return pde, None, (pde & 0xFFC00000) | (vaddr & 0x3FFFFF)
    table = (pde & 0xFFFFF000) + PAGE_OFFSET
    pte = read_u32(table + ((vaddr >> 12) & 0x3FF) * 4)
    if not pte & 1:
        return pde, pte, None
    return pde, pte, (pte & 0xFFFFF000) | (vaddr & 0xFFF)


class Pte(gdb.Command):
    """lm-pte VADDR: walk swapper_pg_dir for VADDR (PDE, PTE, flags, physical address)."""

    def __init__(self):
        super().__init__("lm-pte", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: lm-pte VADDR")
        vaddr = int(gdb.parse_and_eval(arg)) & 0xFFFFFFFF
        pde, pte, paddr = walk(vaddr)
        gdb.write("%#010x: PDE #%d = %#010x (%s)\n" % (vaddr, vaddr >> 22, pde, decode(pde, PTE_BITS)))
        if pde & 1 and pde & 0x80:
            gdb.write("  4 MiB page: phys %#x\n" % paddr)
        elif pte is not None:
            gdb.write("  PTE #%d = %#010x (%s)\n" % ((vaddr >> 12) & 0x3FF, pte, decode(pte, PTE_BITS)))
            gdb.write("  4 KiB page: phys %#x\n" % paddr if paddr is not None else "  not present\n")
        else:
            gdb.write("  not present\n")


def pkmap_base():
    fixaddr_start = FIXADDR_TOP - (FIX_KMAP_BEGIN + KM_TYPE_NR * NR_CPUS + 4) * 4096
    return (fixaddr_start - 4096 * (LAST_PKMAP + 1)) & ~0x3FFFFF


class Pkmap(gdb.Command):
    """The pkmap slots in use: count (1 = mapped but unused), page frame, and last_pkmap_nr."""

    def __init__(self):
        super().__init__("lm-pkmap", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        pkmap = peel(global_value("kernel::mm::highmem::kernel_side::KMAP_LOCK"))
        counts = pkmap["pkmap_count"]
        base = pkmap_base()
        used = 0
        for nr in range(LAST_PKMAP):
            count = as_int(counts[nr])
            if count == 0:
                continue
            used += 1
            _, _, paddr = walk(base + nr * 4096)
            frame = "pfn %#x" % (paddr >> 12) if paddr is not None else "unmapped"
            gdb.write("slot %4d at %#010x: count %d, %s\n" % (nr, base + nr * 4096, count, frame))
        gdb.write("%d slot(s) in use, last_pkmap_nr %d\n" % (used, as_int(pkmap["last_pkmap_nr"])))


class KmapAtomic(gdb.Command):
    """Each CPU's kmap_atomic windows (km_type 0..12) that map a page now."""

    def __init__(self):
        super().__init__("lm-kmap-atomic", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        mapped = 0
        for cpu in range(NR_CPUS):
            for km_type in range(KM_TYPE_NR):
                idx = FIX_KMAP_BEGIN + km_type + KM_TYPE_NR * cpu
                vaddr = FIXADDR_TOP - (idx << PAGE_SHIFT)
                _, pte, paddr = walk(vaddr)
                if paddr is not None:
                    mapped += 1
                    gdb.write("CPU%d km_type %2d at %#010x: pfn %#x\n" % (cpu, km_type, vaddr, paddr >> 12))
        gdb.write("%d window(s) mapped\n" % mapped)


class MemblockCommand(gdb.Command):
    """memblock's memory and reserved regions (memblock_dump)."""

    def __init__(self):
        super().__init__("lm-memblock", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        memblock = peel(global_value("kernel::mm::memblock::MEMBLOCK"))
        for kind in ("memory", "reserved"):
            regions = peel(memblock[kind])
            cnt = int(regions["cnt"])
            gdb.write(" %s.cnt  = %#x\n" % (kind, cnt))
            array = regions["regions"]
            for i in range(cnt):
                region = peel(array[i])
                base, size = int(region["base"]), int(region["size"])
                gdb.write(" %s[%#x]\t[%#018x-%#018x], %#x bytes\n" % (kind, i, base, base + size - 1, size))


class Slabinfo(gdb.Command):
    """The slab caches on the chain: name, objsize, objects per slab, pages per slab."""

    def __init__(self):
        super().__init__("lm-slabinfo", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        slab = peel(global_value("kernel::mm::kmalloc::kernel::SLAB"))
        caches = [peel(slab["cache_cache"])]
        chain = peel(slab["chain"])
        for i in range(1, 64):
            entry = chain[i]
            try:
                target = entry["Some"]["__0"]
            except gdb.error:
                continue
            caches.append(peel(target.dereference()))
        for cache in caches:
            gdb.write("%-17s objsize %6d num %4d pages %3d\n" % (
                rust_str(cache["name"]), int(cache["objsize"]), int(cache["num"]), 1 << int(cache["gfporder"])))


class PagePrinter:
    def __init__(self, value):
        self.value = value

    def to_string(self):
        return "Page { %s }" % describe_page(self.value)


class GfpPrinter:
    def __init__(self, value):
        self.value = value

    def to_string(self):
        bits = int(peel_all(self.value))
        names = [name for mask, name in sorted(GFP_BITS.items()) if bits & mask]
        return "GfpFlags(%#x: %s)" % (bits, " | ".join(names) or "0")


def lookup_printer(value):
    name = str(value.type.strip_typedefs())
    if name == "kernel::mm::page::Page":
        return PagePrinter(value)
    if name == "kernel::mm::gfp::GfpFlags":
        return GfpPrinter(value)
    return None


Buddyinfo()
Zoneinfo()
PageCommand()
Pte()
Pkmap()
KmapAtomic()
MemblockCommand()
Slabinfo()
gdb.pretty_printers.append(lookup_printer)
gdb.write("linmem386: lm-buddyinfo lm-zoneinfo lm-page lm-pte lm-pkmap lm-kmap-atomic lm-memblock lm-slabinfo loaded\n")
