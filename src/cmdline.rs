//! The kernel command line: `key=value` words from the boot loader.
//!
//! GRUB passes the text after the kernel's path in `grub.cfg`; Linux splits
//! it in `parse_args()` and hands each word to the `early_param`/`__setup`
//! handler registered for its key.  We know all our keys in advance, so one
//! function fills a small typed [`KernelParams`].
//!
//! Bad input never stops the boot: an unknown word or a malformed value is
//! passed to the caller's `warn` callback (the kernel logs it, like Linux's
//! "Unknown kernel command line parameters" and "Malformed early option"
//! messages) and the setting keeps its default.
//!
//! | word | meaning |
//! |------|---------|
//! | `loglevel=N` | console log level 0..=8: messages with a level below N are printed (Linux semantics; 8 also shows debug) |
//! | `mem=SIZE` | use no RAM at or above physical address SIZE (K/M/G suffixes, Linux `memparse`) |
//! | `nopse` | build the direct map with 4 KiB pages even if the CPU has 4 MiB pages |
//! | `hz=N` | timer interrupts per second, 19..=1000 (default 100; Linux fixes it at build time with `CONFIG_HZ`) |
//! | `initial_jiffies=N` | start the tick counter at N (decimal or 0x hex; default five minutes before the 32-bit `jiffies` wraps, Linux `INITIAL_JIFFIES`) |
//! | `monitor` | after the boot, open the kernel monitor on the serial console (`src/monitor.rs`) |
//! | `nosmp` | bring up the boot CPU only (Linux `nosmp`, the same as `maxcpus=0`) |
//! | `maxcpus=N` | bring up at most N CPUs, the boot CPU included (Linux `maxcpus=`; `0` means the boot CPU only) |
//! | `test=FILTER` | run only the in-kernel tests whose path contains FILTER |
//! | `test_resume=PATH` | skip the tests up to and including PATH (xtask uses it after a test ended a boot) |
//! | `test_only=P1,P2` | run only the in-kernel tests whose path starts with one of the comma-separated prefixes (xtask's configurations that check one thing, e.g. `nosmp`) |
//! | `test_exclude=P1,P2` | leave out the in-kernel tests whose path starts with one of the comma-separated prefixes (xtask runs the tests that do not depend on the RAM size at one size only) |
//!
//! Simplification: no quoting — values cannot contain spaces.

/// The typed settings read from the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelParams<'a> {
    /// Console log level (Linux `console_loglevel`); `None` keeps the default.
    pub loglevel: Option<u8>,
    /// Highest physical address + 1 the kernel may use (`mem=`).
    pub mem: Option<u64>,
    /// Force 4 KiB pages for the direct map (`nopse`).
    pub nopse: bool,
    /// Tick rate (`hz=`); `None` keeps `time::DEFAULT_HZ`.
    pub hz: Option<u32>,
    /// Where the 32-bit `jiffies` starts (`initial_jiffies=`); `None` keeps
    /// `time::INITIAL_JIFFIES`.
    pub initial_jiffies: Option<u32>,
    /// Open the kernel monitor after the boot (`monitor`).
    pub monitor: bool,
    /// At most this many CPUs are brought up (`maxcpus=`; `nosmp` is 1,
    /// like Linux's `maxcpus=0`); `None`: every CPU the firmware lists.
    pub maxcpus: Option<usize>,
    /// Substring filter for the in-kernel tests (`test=`).
    pub test_filter: Option<&'a str>,
    /// Resume the tests after this one (`test_resume=`).
    pub test_resume: Option<&'a str>,
    /// Comma-separated path prefixes of tests to leave out (`test_exclude=`).
    pub test_exclude: Option<&'a str>,
    /// Comma-separated path prefixes: only tests under them run (`test_only=`).
    pub test_only: Option<&'a str>,
}

/// Why a word of the command line was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamWarning<'a> {
    /// A key (or bare word) this kernel does not know.
    Unknown(&'a str),
    /// A known key with a value that does not parse or is out of range.
    Malformed { key: &'a str, value: &'a str, expected: &'static str },
}

impl core::fmt::Display for ParamWarning<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParamWarning::Unknown(word) => write!(f, "Unknown kernel command line parameter \"{word}\", ignored"),
            ParamWarning::Malformed { key, value, expected } => {
                write!(f, "Malformed early option '{key}': \"{value}\" is not {expected}, ignored")
            }
        }
    }
}

/// The highest console log level accepted (Linux allows up to 15, but
/// everything above 8 behaves like 8).
pub const MAX_LOGLEVEL: u8 = 8;

/// The tick rates `hz=` accepts: the PIT's 16-bit divisor cannot go below
/// 19 Hz, and above 1000 Hz an emulated CPU spends its time in the tick.
pub const HZ_RANGE: core::ops::RangeInclusive<u32> = 19..=1000;

/// Splits `cmdline` into words and fills [`KernelParams`] (Linux
/// `parse_args` + the handlers of each key).  Every rejected word is
/// reported through `warn`; the rest of the line is still parsed.
pub fn parse_args<'a>(cmdline: &'a str, mut warn: impl FnMut(ParamWarning<'a>)) -> KernelParams<'a> {
    let mut params = KernelParams::default();
    for word in cmdline.split_ascii_whitespace() {
        let (key, value) = match word.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (word, None),
        };
        let malformed = |expected| ParamWarning::Malformed { key, value: value.unwrap_or(""), expected };
        match (key, value) {
            ("loglevel", Some(value)) => match value.parse::<u8>() {
                Ok(level) if level <= MAX_LOGLEVEL => params.loglevel = Some(level),
                _ => warn(malformed("a log level from 0 to 8")),
            },
            ("mem", Some(value)) => match memparse(value) {
                Some(bytes) if bytes > 0 => params.mem = Some(bytes),
                _ => warn(malformed("a size such as 512M or 1G")),
            },
            ("nopse", None) => params.nopse = true,
            ("hz", Some(value)) => match value.parse::<u32>() {
                Ok(hz) if HZ_RANGE.contains(&hz) => params.hz = Some(hz),
                _ => warn(malformed("a tick rate from 19 to 1000")),
            },
            ("initial_jiffies", Some(value)) => match memparse(value).and_then(|n| u32::try_from(n).ok()) {
                Some(start) => params.initial_jiffies = Some(start),
                None => warn(malformed("a tick count below 2^32")),
            },
            ("nosmp", None) => params.maxcpus = Some(1),
            ("monitor", None) => params.monitor = true,
            // Linux counts the boot CPU in maxcpus= and treats 0 as nosmp.
            ("maxcpus", Some(value)) => match value.parse::<usize>() {
                Ok(n) => params.maxcpus = Some(n.max(1)),
                Err(_) => warn(malformed("a number of CPUs")),
            },
            ("test", Some(filter)) if !filter.is_empty() => params.test_filter = Some(filter),
            ("test_resume", Some(path)) if !path.is_empty() => params.test_resume = Some(path),
            ("test_exclude", Some(prefixes)) if !prefixes.split(',').any(str::is_empty) => {
                params.test_exclude = Some(prefixes)
            }
            ("test_only", Some(prefixes)) if !prefixes.split(',').any(str::is_empty) => params.test_only = Some(prefixes),
            ("test_exclude" | "test_only", Some(_)) => warn(malformed("a comma-separated list of test path prefixes")),
            ("loglevel" | "mem" | "hz" | "initial_jiffies" | "maxcpus" | "test" | "test_resume" | "test_exclude" | "test_only", _) => warn(malformed("given (key=value expected)")),
            ("nopse", Some(_)) => warn(malformed("expected (nopse takes no value)")),
            ("nosmp", Some(_)) => warn(malformed("expected (nosmp takes no value)")),
            ("monitor", Some(_)) => warn(malformed("expected (monitor takes no value)")),
            _ => warn(ParamWarning::Unknown(word)),
        }
    }
    params
}

/// Parses a size with an optional K, M or G suffix (either case), in decimal
/// or with a `0x` prefix in hex (Linux `memparse`).  `None` for anything
/// else, including overflow.
pub fn memparse(text: &str) -> Option<u64> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 10),
        b'm' | b'M' => (&text[..text.len() - 1], 20),
        b'g' | b'G' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let number = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<u64>().ok()?,
    };
    number.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects up to 8 warnings without a heap (these tests also run in
    /// the kernel).
    struct Warnings<'a> {
        list: [Option<ParamWarning<'a>>; 8],
        count: usize,
    }

    fn parse(cmdline: &str) -> (KernelParams<'_>, Warnings<'_>) {
        let mut warnings = Warnings { list: [None; 8], count: 0 };
        let params = parse_args(cmdline, |w| {
            warnings.list[warnings.count] = Some(w);
            warnings.count += 1;
        });
        (params, warnings)
    }

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn good_input() {
        let (params, warnings) = parse("  loglevel=7 mem=512M nopse hz=250 initial_jiffies=0xfffffe00 test=mm::buddy test_resume=a::b test_exclude=k::x,k::y test_only=k::z  ");
        assert_eq!(warnings.count, 0);
        assert_eq!(
            params,
            KernelParams {
                loglevel: Some(7),
                mem: Some(512 << 20),
                nopse: true,
                hz: Some(250),
                initial_jiffies: Some(0xffff_fe00),
                maxcpus: None,
                monitor: false,
                test_filter: Some("mm::buddy"),
                test_resume: Some("a::b"),
                test_exclude: Some("k::x,k::y"),
                test_only: Some("k::z"),
            }
        );
        assert_eq!(parse("").0, KernelParams::default());
    }

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn bad_input_is_reported_and_ignored() {
        let (params, warnings) = parse("loglevel=9 mem=lots bogus=1 nopse=yes loglevel mem=0 quiet loglevel=3");
        assert_eq!(params.loglevel, Some(3), "the valid loglevel later on the line still applies");
        assert_eq!(params.mem, None);
        assert!(!params.nopse);
        assert_eq!(warnings.count, 7);
        assert_eq!(warnings.list[0], Some(ParamWarning::Malformed { key: "loglevel", value: "9", expected: "a log level from 0 to 8" }));
        assert_eq!(warnings.list[2], Some(ParamWarning::Unknown("bogus=1")));
        assert_eq!(warnings.list[6], Some(ParamWarning::Unknown("quiet")));
        let (params, warnings) = parse("initial_jiffies=0x100000000 initial_jiffies=soon");
        assert_eq!(params.initial_jiffies, None);
        assert_eq!(warnings.count, 2);
        assert_eq!(
            warnings.list[0],
            Some(ParamWarning::Malformed { key: "initial_jiffies", value: "0x100000000", expected: "a tick count below 2^32" })
        );
        let (params, warnings) = parse("test_exclude=a,,b test_exclude=, test_exclude");
        assert_eq!(params.test_exclude, None, "an empty prefix would exclude every test");
        assert_eq!(warnings.count, 3);
        let expected = "a comma-separated list of test path prefixes";
        assert_eq!(warnings.list[0], Some(ParamWarning::Malformed { key: "test_exclude", value: "a,,b", expected }));
    }

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn hz_outside_the_pit_range_is_rejected() {
        let (params, warnings) = parse("hz=18 hz=1001 hz=fast hz hz=19 hz=1000");
        assert_eq!(params.hz, Some(1000), "the last valid value applies");
        assert_eq!(warnings.count, 4);
        let expected = "a tick rate from 19 to 1000";
        assert_eq!(warnings.list[0], Some(ParamWarning::Malformed { key: "hz", value: "18", expected }));
        assert_eq!(warnings.list[1], Some(ParamWarning::Malformed { key: "hz", value: "1001", expected }));
        assert_eq!(warnings.list[2], Some(ParamWarning::Malformed { key: "hz", value: "fast", expected }));
        assert_eq!(
            warnings.list[3],
            Some(ParamWarning::Malformed { key: "hz", value: "", expected: "given (key=value expected)" })
        );
    }

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn nosmp_and_maxcpus_limit_the_cpus() {
        assert_eq!(parse("nosmp").0.maxcpus, Some(1));
        assert_eq!(parse("maxcpus=2").0.maxcpus, Some(2));
        assert_eq!(parse("maxcpus=0").0.maxcpus, Some(1), "Linux: maxcpus=0 is nosmp");
        let (params, warnings) = parse("maxcpus=two maxcpus=-1 maxcpus nosmp=1");
        assert_eq!(params.maxcpus, None);
        assert_eq!(warnings.count, 4);
        assert_eq!(warnings.list[0], Some(ParamWarning::Malformed { key: "maxcpus", value: "two", expected: "a number of CPUs" }));
        assert_eq!(warnings.list[2], Some(ParamWarning::Malformed { key: "maxcpus", value: "", expected: "given (key=value expected)" }));
        assert_eq!(warnings.list[3], Some(ParamWarning::Malformed { key: "nosmp", value: "1", expected: "expected (nosmp takes no value)" }));
    }

    #[cfg_attr(target_os = "none", test_case)]
    #[cfg_attr(not(target_os = "none"), test)]
    fn memparse_suffixes() {
        assert_eq!(memparse("4096"), Some(4096));
        assert_eq!(memparse("64k"), Some(64 << 10));
        assert_eq!(memparse("896M"), Some(896 << 20));
        assert_eq!(memparse("4G"), Some(4 << 30));
        assert_eq!(memparse("0x1000"), Some(0x1000));
        assert_eq!(memparse("0x10M"), Some(16 << 20));
        assert_eq!(memparse("M"), None);
        assert_eq!(memparse("-1"), None);
        assert_eq!(memparse("99999999999999999999G"), None);
        assert_eq!(memparse("20000000000G"), None, "overflow is rejected");
    }
}
