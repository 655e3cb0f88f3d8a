//! `cargo xtask snapshot`: pictures of memory, drawn from a running kernel.
//!
//! The kernel boots with its monitor, optionally runs a workload (`stress
//! 2`), and answers the monitor's `snapshot` command with a dump of its
//! state (`src/monitor.rs`: the e820 map, each zone's span and counts,
//! every pageblock's migrate type and free pages, each zone's free lists,
//! the kernel's virtual regions). This file parses the dump and writes
//! three SVG files:
//!
//! * `physical.svg`: the physical address space to scale — the e820
//!   entries, the zones, and every pageblock as a square coloured by its
//!   migrate type, paler the more of it is free;
//! * `virtual.svg`: the 4 GiB virtual space of the 3G/1G split to scale,
//!   and a zoom on its top 128 MiB (vmalloc's end, pkmap, fixmap);
//! * `buddy.svg`: each zone's free lists, a bar per order.
//!
//! Every number comes from the dump; nothing here knows the machine.
//! Elements carry `data-*` attributes (a zone's pfns, a region's
//! addresses) so that tests can check the pictures against the dump.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::cargo::{Profile, Workspace};
use crate::qemu::{self, Machine, Serial};

/// What `cargo xtask snapshot` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotOptions {
    pub machine: Machine,
    /// Where the SVG files go (default `target/snapshot`).
    pub out: Option<PathBuf>,
    /// Run `stress 2` before the dump, so the pictures show a used system.
    pub workload: bool,
}

/// One e820 entry: `[start, end)` and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct E820 {
    pub start: u64,
    pub end: u64,
    pub kind: String,
}

/// One zone: `[start_pfn, end_pfn)`, its counts and free lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub start_pfn: u64,
    pub end_pfn: u64,
    pub present: u64,
    pub managed: u64,
    pub free: u64,
    /// Free blocks per order.
    pub buddy: Vec<u64>,
}

/// One pageblock: its first pfn, migrate type letter, free and total pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pageblock {
    pub zone: String,
    pub pfn: u64,
    pub kind: char,
    pub free: u64,
    pub pages: u64,
}

/// One virtual region: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub start: u64,
    pub end: u64,
}

/// The parsed dump.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub e820: Vec<E820>,
    pub zones: Vec<Zone>,
    pub pageblocks: Vec<Pageblock>,
    pub regions: Vec<Region>,
}

fn hex(word: Option<&str>, line: &str) -> Result<u64, Error> {
    word.and_then(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).ok())
        .ok_or_else(|| Error::new(format!("snapshot: bad number in `{line}`")))
}

/// Parses the lines between `snapshot begin` and `snapshot end` of a
/// monitor transcript.
pub fn parse(transcript: &str) -> Result<Snapshot, Error> {
    let mut lines = transcript.lines().map(str::trim_end).skip_while(|l| *l != "snapshot begin").skip(1);
    let mut snapshot = Snapshot::default();
    let mut ended = false;
    for line in lines.by_ref() {
        if line == "snapshot end" {
            ended = true;
            break;
        }
        let mut words = line.split_ascii_whitespace();
        match words.next() {
            Some("e820") => {
                let (start, end) = (hex(words.next(), line)?, hex(words.next(), line)?);
                snapshot.e820.push(E820 { start, end, kind: words.collect::<Vec<_>>().join(" ") });
            }
            Some("zone") => {
                let name = words.next().unwrap_or_default().to_string();
                let mut n = || hex(words.next(), line);
                let (start_pfn, end_pfn, present, managed, free) = (n()?, n()?, n()?, n()?, n()?);
                snapshot.zones.push(Zone { name, start_pfn, end_pfn, present, managed, free, buddy: Vec::new() });
            }
            Some("buddy") => {
                let name = words.next().unwrap_or_default();
                let counts = words.map(|w| hex(Some(w), line)).collect::<Result<Vec<_>, _>>()?;
                let zone = snapshot.zones.iter_mut().find(|z| z.name == name);
                zone.ok_or_else(|| Error::new(format!("snapshot: free lists of unknown zone `{line}`")))?.buddy = counts;
            }
            Some("pageblock") => {
                let zone = words.next().unwrap_or_default().to_string();
                let pfn = hex(words.next(), line)?;
                let kind = words.next().and_then(|w| w.chars().next()).unwrap_or('?');
                let (free, pages) = (hex(words.next(), line)?, hex(words.next(), line)?);
                snapshot.pageblocks.push(Pageblock { zone, pfn, kind, free, pages });
            }
            Some("vm") => {
                let name = words.next().unwrap_or_default().to_string();
                let (start, end) = (hex(words.next(), line)?, hex(words.next(), line)?);
                snapshot.regions.push(Region { name, start, end });
            }
            _ => return Err(Error::new(format!("snapshot: unexpected line `{line}`"))),
        }
    }
    if !ended || snapshot.zones.is_empty() {
        return Err(Error::new("the kernel's answer has no complete snapshot (snapshot begin .. snapshot end)"));
    }
    Ok(snapshot)
}

/// Escapes text for XML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A size in the largest unit that keeps it whole-ish (KiB, MiB, GiB).
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 => format!("{} MiB", (b + (1 << 19)) >> 20),
        b => format!("{} KiB", b >> 10),
    }
}

fn svg_open(width: u32, height: u32, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n<title>{}</title>\n<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n<text x=\"16\" y=\"24\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
        esc(title),
        esc(title)
    )
}

const MIGRATE_COLOURS: [(char, &str, &str); 4] = [
    ('U', "#d62728", "unmovable"),
    ('R', "#ff7f0e", "reclaimable"),
    ('M', "#2ca02c", "movable"),
    ('V', "#9467bd", "reserve"),
];

fn e820_colour(kind: &str) -> &'static str {
    match kind {
        "usable" => "#8fd18f",
        "reserved" => "#b0b0b0",
        k if k.starts_with("ACPI") => "#7fb3e6",
        _ => "#e6c27f",
    }
}

const ZONE_COLOURS: [&str; 3] = ["#c6dbef", "#fdd0a2", "#d9d9d9"];

/// The physical address space: e820, zones, pageblocks.
pub fn physical_svg(s: &Snapshot) -> String {
    const WIDTH: u32 = 1200;
    const LEFT: f64 = 16.0;
    const BAR: f64 = 1168.0;
    let top = s.e820.iter().map(|e| e.end).filter(|&end| end <= 1 << 32).max().unwrap_or(1).max(1);
    let ram_top = s.zones.iter().map(|z| z.end_pfn << 12).max().unwrap_or(1);
    let x = |addr: u64| LEFT + BAR * addr as f64 / top as f64;
    let per_row = 128u64;
    let rows = (s.pageblocks.len() as u64).div_ceil(per_row);
    let height = 290 + rows as u32 * 10 + 60;
    let mut out = svg_open(WIDTH, height, &format!("Physical memory: {} of RAM, e820 up to {}", size(ram_top), size(top)));
    let _ = writeln!(out, "<text x=\"16\" y=\"52\">e820 map (BIOS-e820), to scale</text>");
    for e in &s.e820 {
        let (x0, x1) = (x(e.start), x(e.end.min(top)));
        let _ = writeln!(
            out,
            "<rect class=\"e820\" data-start=\"{:#x}\" data-end=\"{:#x}\" data-kind=\"{}\" x=\"{x0:.2}\" y=\"60\" width=\"{:.2}\" height=\"24\" fill=\"{}\" stroke=\"#555\" stroke-width=\"0.5\"><title>[{:#x}-{:#x}) {}</title></rect>",
            e.start,
            e.end,
            esc(&e.kind),
            (x1 - x0).max(0.5),
            e820_colour(&e.kind),
            e.start,
            e.end,
            esc(&e.kind)
        );
    }
    let _ = writeln!(out, "<text x=\"16\" y=\"110\">zones</text>");
    for (i, z) in s.zones.iter().enumerate() {
        let (x0, x1) = (x(z.start_pfn << 12), x(z.end_pfn << 12));
        let _ = writeln!(
            out,
            "<rect class=\"zone\" data-zone=\"{}\" data-start-pfn=\"{:#x}\" data-end-pfn=\"{:#x}\" x=\"{x0:.2}\" y=\"118\" width=\"{:.2}\" height=\"30\" fill=\"{}\" stroke=\"#333\"/>",
            esc(&z.name),
            z.start_pfn,
            z.end_pfn,
            (x1 - x0).max(0.5),
            ZONE_COLOURS[i % 3]
        );
        if x1 - x0 > 160.0 {
            let _ = writeln!(
                out,
                "<text x=\"{:.2}\" y=\"138\">{} {}–{}</text>",
                x0 + 4.0,
                esc(&z.name),
                size(z.start_pfn << 12),
                size(z.end_pfn << 12)
            );
        }
        let _ = writeln!(
            out,
            "<rect x=\"16\" y=\"{:.0}\" width=\"10\" height=\"10\" fill=\"{}\" stroke=\"#333\"/><text x=\"32\" y=\"{:.0}\">{}: [{} - {}), pfn {:#x}-{:#x}, {} pages present, {} managed, {} free</text>",
            158.0 + i as f64 * 16.0,
            ZONE_COLOURS[i % 3],
            167.0 + i as f64 * 16.0,
            esc(&z.name),
            size(z.start_pfn << 12),
            size(z.end_pfn << 12),
            z.start_pfn,
            z.end_pfn,
            z.present,
            z.managed,
            z.free
        );
    }
    let grid_top = 230.0;
    let _ = writeln!(
        out,
        "<text x=\"16\" y=\"{:.0}\">every pageblock (4 MiB), {per_row} per row, coloured by migrate type; paler = more of it free</text>",
        grid_top - 8.0
    );
    for (i, b) in s.pageblocks.iter().enumerate() {
        let (row, col) = (i as u64 / per_row, i as u64 % per_row);
        let colour = MIGRATE_COLOURS.iter().find(|(k, ..)| *k == b.kind).map_or("#000", |c| c.1);
        let used = 1.0 - b.free as f64 / b.pages.max(1) as f64;
        let _ = writeln!(
            out,
            "<rect class=\"pageblock\" data-pfn=\"{:#x}\" data-zone=\"{}\" x=\"{:.1}\" y=\"{:.1}\" width=\"8\" height=\"8\" fill=\"{colour}\" fill-opacity=\"{:.2}\" stroke=\"{colour}\" stroke-width=\"0.5\"><title>pfn {:#x} ({}): {} of {} pages free</title></rect>",
            b.pfn,
            esc(&b.zone),
            LEFT + col as f64 * 9.0,
            grid_top + row as f64 * 10.0,
            0.15 + 0.85 * used,
            b.pfn,
            esc(&b.zone),
            b.free,
            b.pages
        );
    }
    let legend_y = grid_top + rows as f64 * 10.0 + 24.0;
    for (i, (_, colour, name)) in MIGRATE_COLOURS.iter().enumerate() {
        let lx = LEFT + i as f64 * 140.0;
        let _ = writeln!(out, "<rect x=\"{lx:.0}\" y=\"{:.0}\" width=\"12\" height=\"12\" fill=\"{colour}\"/>", legend_y - 10.0);
        let _ = writeln!(out, "<text x=\"{:.0}\" y=\"{legend_y:.0}\">{name}</text>", lx + 16.0);
    }
    out.push_str("</svg>\n");
    out
}

/// The 4 GiB virtual space, and a zoom on its top 128 MiB.
pub fn virtual_svg(s: &Snapshot) -> String {
    const HEIGHT: u32 = 900;
    const TOP: f64 = 60.0;
    const BAR: f64 = 660.0;
    let mut out = svg_open(900, HEIGHT, "Virtual memory: the 3G/1G split, to scale");
    let colour = |name: &str| match name {
        "user" => "#e5f5e0",
        "lowmem" => "#c6dbef",
        "vmalloc" => "#fdd0a2",
        "pkmap" => "#bcbddc",
        "fixmap" => "#fcbba1",
        _ => "#f0f0f0",
    };
    // The whole space: address 0 at the bottom, 4 GiB at the top.
    let y_full = |addr: u64| TOP + BAR - BAR * addr as f64 / (1u64 << 32) as f64;
    let zoom_start = (1u64 << 32) - (128 << 20);
    let y_zoom = |addr: u64| TOP + BAR - BAR * (addr.max(zoom_start) - zoom_start) as f64 / (128u64 << 20) as f64;
    let _ = writeln!(out, "<text x=\"40\" y=\"50\">0 - 4 GiB</text><text x=\"480\" y=\"50\">top 128 MiB ({zoom_start:#x} - 4 GiB), zoomed</text>");
    for r in &s.regions {
        let (y0, y1) = (y_full(r.end), y_full(r.start));
        let label = format!("{} {:#x}-{:#x} ({})", r.name, r.start, r.end, size(r.end - r.start));
        let _ = writeln!(
            out,
            "<rect class=\"region\" data-name=\"{}\" data-start=\"{:#x}\" data-end=\"{:#x}\" x=\"40\" y=\"{y0:.2}\" width=\"120\" height=\"{:.2}\" fill=\"{}\" stroke=\"#333\" stroke-width=\"0.5\"><title>{}</title></rect>",
            esc(&r.name),
            r.start,
            r.end,
            (y1 - y0).max(0.3),
            colour(&r.name),
            esc(&label)
        );
        if y1 - y0 > 14.0 {
            let _ = writeln!(out, "<text x=\"170\" y=\"{:.1}\">{}</text>", (y0 + y1) / 2.0 + 4.0, esc(&label));
        }
        if r.end > zoom_start {
            let (z0, z1) = (y_zoom(r.end), y_zoom(r.start));
            let _ = writeln!(
                out,
                "<rect class=\"zoomed\" data-name=\"{}\" x=\"480\" y=\"{z0:.2}\" width=\"120\" height=\"{:.2}\" fill=\"{}\" stroke=\"#333\" stroke-width=\"0.5\"><title>{}</title></rect>",
                esc(&r.name),
                (z1 - z0).max(0.3),
                colour(&r.name),
                esc(&label)
            );
            if z1 - z0 > 14.0 {
                let _ = writeln!(out, "<text x=\"610\" y=\"{:.1}\">{}</text>", (z0 + z1) / 2.0 + 4.0, esc(&label));
            }
        }
    }
    let _ = writeln!(out, "<text x=\"40\" y=\"{:.0}\">0x00000000</text>", TOP + BAR + 16.0);
    for (i, r) in s.regions.iter().enumerate() {
        let _ = writeln!(
            out,
            "<text x=\"40\" y=\"{:.0}\" font-family=\"monospace\">{:<8} {:#010x} - {:#011x}  {}</text>",
            TOP + BAR + 40.0 + i as f64 * 15.0,
            esc(&r.name),
            r.start,
            r.end,
            size(r.end - r.start)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Each zone's free lists: a bar per order, as long as the blocks of that
/// order hold pages (log scale), labelled with the block count.
pub fn buddy_svg(s: &Snapshot) -> String {
    const ROW: f64 = 22.0;
    let height = 60 + s.zones.len() as u32 * (12 * ROW as u32 + 30);
    let mut out = svg_open(900, height, "Free lists (buddyinfo): blocks per order, bar = pages held (log scale)");
    let max_pages = s.zones.iter().flat_map(|z| z.buddy.iter().enumerate().map(|(o, &n)| n << o)).max().unwrap_or(1).max(1);
    let scale = |pages: u64| if pages == 0 { 0.0 } else { 600.0 * ((pages as f64).ln() + 1.0) / ((max_pages as f64).ln() + 1.0) };
    let mut y = 56.0;
    for (i, z) in s.zones.iter().enumerate() {
        let _ = writeln!(out, "<text class=\"zone-title\" data-zone=\"{}\" x=\"16\" y=\"{y:.0}\" font-weight=\"bold\">{} ({} pages free)</text>", esc(&z.name), esc(&z.name), z.free);
        y += 8.0;
        for (order, &blocks) in z.buddy.iter().enumerate() {
            let pages = blocks << order;
            let _ = writeln!(out, "<text x=\"16\" y=\"{:.0}\">order {order:>2}</text>", y + 14.0);
            let _ = writeln!(
                out,
                "<rect class=\"order\" data-zone=\"{}\" data-order=\"{order}\" data-blocks=\"{blocks}\" x=\"90\" y=\"{y:.0}\" width=\"{:.1}\" height=\"{:.0}\" fill=\"{}\" stroke=\"#333\" stroke-width=\"0.5\"/>",
                esc(&z.name),
                scale(pages),
                ROW - 4.0,
                ZONE_COLOURS[i % 3]
            );
            let _ = writeln!(out, "<text x=\"{:.1}\" y=\"{:.0}\">{blocks} x {} = {pages} pages</text>", 96.0 + scale(pages), y + 14.0, 1u64 << order);
            y += ROW;
        }
        y += 30.0;
    }
    out.push_str("</svg>\n");
    out
}

/// Checks that `svg` is well-formed XML as far as these pictures go: every
/// tag is closed in order, attributes are quoted, no stray `<` or `&`.
pub fn check_well_formed(svg: &str) -> Result<(), String> {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        if text.contains('<') || text.split('&').skip(1).any(|t| !["amp;", "lt;", "gt;", "quot;"].iter().any(|e| t.starts_with(e))) {
            return Err(format!("stray markup in text {text:?}"));
        }
        let close = rest[open..].find('>').ok_or("a tag never ends")? + open;
        let tag = &rest[open + 1..close];
        if tag.matches('"').count() % 2 != 0 {
            return Err(format!("unbalanced quotes in <{tag}>"));
        }
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(top) if top == name.trim() => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        } else if !tag.ends_with('/') && !tag.starts_with('?') && !tag.starts_with('!') {
            stack.push(tag.split_ascii_whitespace().next().unwrap_or(""));
        }
        rest = &rest[close + 1..];
    }
    if stack.is_empty() { Ok(()) } else { Err(format!("unclosed {stack:?}")) }
}

/// Boots, dumps, draws; returns the three files written.
pub fn snapshot(ws: &Workspace, machine: &Machine, workload: bool, out: &Path) -> Result<(Snapshot, Vec<PathBuf>), Error> {
    let iso = crate::make_kernel_iso(ws, Profile::Debug, "monitor")?;
    let script = if workload { "stress 2\nsnapshot\n" } else { "snapshot\n" };
    let lines = crate::monitor_script::script_lines(script.as_bytes())?;
    let (exit, transcript) = crate::monitor_script::converse(qemu::command(&iso, machine, Serial::Stdio), lines, false)?;
    if exit != qemu::GuestExit::Success {
        return Err(Error::new(format!("the snapshot boot ended with {exit}")));
    }
    let snapshot = parse(&transcript)?;
    std::fs::create_dir_all(out).map_err(|e| Error::new(format!("cannot create {}: {e}", out.display())))?;
    let mut files = Vec::new();
    for (name, svg) in [("physical.svg", physical_svg(&snapshot)), ("virtual.svg", virtual_svg(&snapshot)), ("buddy.svg", buddy_svg(&snapshot))] {
        check_well_formed(&svg).map_err(|e| Error::new(format!("{name} is not well-formed: {e}")))?;
        let path = out.join(name);
        std::fs::write(&path, svg).map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
        files.push(path);
    }
    Ok((snapshot, files))
}

pub fn run(ws: &Workspace, options: &SnapshotOptions) -> Result<std::process::ExitCode, Error> {
    let out = options.out.clone().unwrap_or_else(|| ws.target_dir.join("snapshot"));
    let (_, files) = snapshot(ws, &options.machine, options.workload, &out)?;
    for file in &files {
        println!("wrote {}", file.display());
    }
    println!("(open them in a browser; `chromium --headless --screenshot=x.png --window-size=1200,900 FILE` makes a PNG)");
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = include_str!("../testdata/snapshot-2G.txt");

    #[test]
    fn a_recorded_dump_parses() {
        let s = parse(DUMP).unwrap();
        let zones: Vec<(&str, u64, u64)> = s.zones.iter().map(|z| (z.name.as_str(), z.start_pfn, z.end_pfn)).collect();
        assert_eq!(zones, [("DMA", 0, 0x1000), ("Normal", 0x1000, 0x38000), ("HighMem", 0x38000, 0x7ffe0)]);
        assert!(s.zones.iter().all(|z| z.buddy.len() == 11));
        assert_eq!(s.pageblocks.len(), (0x7ffe0usize).div_ceil(0x400));
        assert_eq!(s.e820.iter().find(|e| e.kind == "usable" && e.start == 0x100000).map(|e| e.end), Some(0x7ffe0000));
        assert_eq!(s.regions.first().map(|r| (r.name.as_str(), r.end)), Some(("user", 0xc000_0000)));
    }

    #[test]
    fn the_pictures_are_well_formed_and_carry_the_zone_boundaries() {
        let s = parse(DUMP).unwrap();
        let physical = physical_svg(&s);
        for svg in [&physical, &virtual_svg(&s), &buddy_svg(&s)] {
            check_well_formed(svg).unwrap();
        }
        assert!(physical.contains("data-zone=\"Normal\" data-start-pfn=\"0x1000\" data-end-pfn=\"0x38000\""));
        assert!(physical.contains("Normal 16 MiB–896 MiB"));
        assert_eq!(physical.matches("class=\"pageblock\"").count(), s.pageblocks.len());
        assert!(virtual_svg(&s).contains("data-name=\"pkmap\" data-start=\"0xff800000\" data-end=\"0xffc00000\""));
        assert_eq!(buddy_svg(&s).matches("class=\"order\"").count(), 33);
    }

    #[test]
    fn the_checker_rejects_broken_markup() {
        assert!(check_well_formed("<svg><rect/></svg>").is_ok());
        assert!(check_well_formed("<svg><g></svg>").is_err());
        assert!(check_well_formed("<svg>a & b</svg>").is_err());
        assert!(check_well_formed("<svg><rect x=\"1/></svg>").is_err());
        assert!(parse("no snapshot here").is_err());
    }
}
