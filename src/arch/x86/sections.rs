//! Where the linker put the kernel image (Linux: `asm/sections.h`).
//!
//! `linker.ld` defines symbols at the section boundaries; only their
//! addresses matter, so each is declared as a zero-sized extern static and
//! read with `&raw const`.

use core::ops::Range;

unsafe extern "C" {
    static _text: [u8; 0];
    static _etext: [u8; 0];
    static __start_rodata: [u8; 0];
    static __end_rodata: [u8; 0];
    static _sdata: [u8; 0];
    static _edata: [u8; 0];
    static __init_begin: [u8; 0];
    static __init_end: [u8; 0];
    static __bss_start: [u8; 0];
    static __bss_stop: [u8; 0];
    static _end: [u8; 0];
}

macro_rules! section_range {
    ($(#[$doc:meta])* $name:ident, $start:ident, $end:ident) => {
        $(#[$doc])*
        pub fn $name() -> Range<usize> {
            // Only the addresses of the linker symbols are taken; no memory
            // is read through them.
            (&raw const $start as usize)..(&raw const $end as usize)
        }
    };
}

section_range!(/// The whole image, `_text` .. `_end` (virtual).
    kernel_image, _text, _end);
section_range!(/// Code, `_text` .. `_etext`.
    text, _text, _etext);
section_range!(/// Read-only data.
    rodata, __start_rodata, __end_rodata);
section_range!(/// Initialised read-write data, `_sdata` .. `_edata`.
    rwdata, _sdata, _edata);
section_range!(/// Everything between code and init: what Linux's mem_init prints as `.data` (`_etext` .. `_edata`).
    data_after_text, _etext, _edata);
section_range!(/// Boot-only code and data (`__init_begin` .. `__init_end`).
    init, __init_begin, __init_end);
section_range!(/// Zero-initialised data.
    bss, __bss_start, __bss_stop);
