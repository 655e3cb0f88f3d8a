//! The tests compiled into each test kernel, read from the source.
//!
//! `cargo xtask test` must know how many tests every configuration has to
//! report without asking the kernel: a kernel that silently loses a test (a
//! filter gone wrong, a test list cut short, a module no longer compiled)
//! would otherwise report fewer tests and still look green. So xtask reads
//! the crate the way the compiler does, and lists
//!
//! * every `fn` with `#[test_case]`, or `#[cfg_attr(PRED, test_case)]` with
//!   `PRED` true for the kernel,
//! * every `should_panic_test!(name, ...)` invocation,
//!
//! in every module the kernel build compiles: from the crate root it
//! follows `mod name;` to `name.rs` or `name/mod.rs` (and `#[path]`) and
//! `mod name { ... }` inline, leaving out items whose `#[cfg(...)]` is false
//! for a test build of the kernel target (`test`, `target_os = "none"`,
//! `target_pointer_width = "32"`, `debug_assertions`). A test's path is the
//! one `core::any::type_name` gives its function and `module_path!` its
//! should-panic static: `kernel::mm::init::tests::name`.
//!
//! This is a small lexer (comments, strings, raw strings, char literals and
//! lifetimes) and an item scanner, not a Rust parser: it understands what
//! this repository writes, and fails loudly (an unknown `cfg` predicate, a
//! missing module file) rather than guess.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::Error;

/// The tests of one crate root (`src/lib.rs` as `kernel`, or
/// `tests/<name>.rs` as `<name>`), by full path.
pub fn compiled_tests(root_file: &Path, crate_name: &str) -> Result<BTreeSet<String>, Error> {
    let mut tests = BTreeSet::new();
    let dir = root_file.parent().unwrap_or(Path::new(".")).to_path_buf();
    scan_file(root_file, &dir, crate_name, &mut tests)?;
    Ok(tests)
}

/// Scans one source file whose module is `module` and whose child modules'
/// files live in `child_dir`.
fn scan_file(file: &Path, child_dir: &Path, module: &str, tests: &mut BTreeSet<String>) -> Result<(), Error> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::new(format!("reading {} for its test list: {e}", file.display())))?;
    let tokens = lex(&text).map_err(|e| Error::new(format!("{}: {e}", file.display())))?;
    let context = Context { file, child_dir };
    scan_items(&tokens, &context, module, tests)
}

struct Context<'a> {
    file: &'a Path,
    /// Where `mod name;` finds `name.rs` / `name/mod.rs`.
    child_dir: &'a Path,
}

/// Walks a sequence of items (a file or the body of an inline `mod`).
fn scan_items(tokens: &[Token], context: &Context, module: &str, tests: &mut BTreeSet<String>) -> Result<(), Error> {
    let mut attributes: Vec<&[Token]> = Vec::new();
    let mut i = 0;
    let fail = |what: String| Error::new(format!("{}: {what}", context.file.display()));
    while i < tokens.len() {
        match &tokens[i] {
            // `#![...]`: an inner attribute of the file or module.
            Token::Punct('#') if tokens.get(i + 1) == Some(&Token::Punct('!')) => {
                i = skip_group(tokens, i + 2).map_err(fail)?;
            }
            // `#[...]`: an attribute of the next item.
            Token::Punct('#') => {
                let end = skip_group(tokens, i + 1).map_err(fail)?;
                attributes.push(&tokens[i + 2..end - 1]);
                i = end;
            }
            Token::Ident(word) if word == "mod" => {
                let Some(Token::Ident(name)) = tokens.get(i + 1) else {
                    return Err(fail("`mod` without a name".to_string()));
                };
                let enabled = cfg_enabled(&attributes).map_err(fail)?;
                let child = format!("{module}::{name}");
                match tokens.get(i + 2) {
                    Some(Token::Punct(';')) => {
                        if enabled {
                            let (file, dir) = module_file(context, name, &attributes).map_err(fail)?;
                            scan_file(&file, &dir, &child, tests)?;
                        }
                        i += 3;
                    }
                    Some(Token::Open('{')) => {
                        let end = skip_group(tokens, i + 2).map_err(fail)?;
                        if enabled {
                            let dir = context.child_dir.join(name.as_str());
                            let inner = Context { file: context.file, child_dir: &dir };
                            scan_items(&tokens[i + 3..end - 1], &inner, &child, tests)?;
                        }
                        i = end;
                    }
                    _ => return Err(fail(format!("`mod {name}` is neither `mod {name};` nor `mod {name} {{`"))),
                }
                attributes.clear();
            }
            // Qualifiers and paths in front of an item keep its attributes:
            // `pub(crate) unsafe fn`, `const fn`, `crate::should_panic_test!`.
            Token::Ident(word) if word == "pub" => {
                i += 1;
                if tokens.get(i) == Some(&Token::Open('(')) {
                    i = skip_group(tokens, i).map_err(fail)?;
                }
            }
            Token::Ident(word) if matches!(word.as_str(), "unsafe" | "async" | "default") => i += 1,
            Token::Ident(word) if word == "extern" && matches!(tokens.get(i + 1), Some(Token::Str(_))) => i += 2,
            Token::Ident(word)
                if word == "const" && matches!(tokens.get(i + 1), Some(Token::Ident(next)) if next == "fn" || next == "unsafe") =>
            {
                i += 1
            }
            Token::Ident(_)
                if tokens.get(i + 1) == Some(&Token::Punct(':')) && tokens.get(i + 2) == Some(&Token::Punct(':')) =>
            {
                i += 3
            }
            Token::Ident(word) if word == "fn" || word == "static" => {
                let name_at = if tokens.get(i + 1) == Some(&Token::Ident("mut".to_string())) { i + 2 } else { i + 1 };
                if let Some(Token::Ident(name)) = tokens.get(name_at)
                    && cfg_enabled(&attributes).map_err(fail)?
                    && is_test_case(&attributes).map_err(fail)?
                {
                    tests.insert(format!("{module}::{name}"));
                }
                attributes.clear();
                i = skip_item(tokens, i).map_err(fail)?;
            }
            // `should_panic_test!(name, ...)`
            Token::Ident(word)
                if word == "should_panic_test" && tokens.get(i + 1) == Some(&Token::Punct('!')) =>
            {
                if let (Some(Token::Open('(')), Some(Token::Ident(name))) = (tokens.get(i + 2), tokens.get(i + 3))
                    && cfg_enabled(&attributes).map_err(fail)?
                {
                    tests.insert(format!("{module}::{name}"));
                }
                attributes.clear();
                i = skip_item(tokens, i).map_err(fail)?;
            }
            // Any other item: skip to its end, bodies and all.
            _ => {
                attributes.clear();
                i = skip_item(tokens, i).map_err(fail)?;
            }
        }
    }
    Ok(())
}

/// The file of `mod name;` declared in `context` (with `#[path = "..."]` if
/// given), and the directory of its own children.
fn module_file(context: &Context, name: &str, attributes: &[&[Token]]) -> Result<(PathBuf, PathBuf), String> {
    for attribute in attributes {
        if let [Token::Ident(word), Token::Punct('='), Token::Str(path)] = attribute
            && word == "path"
        {
            let file = context.child_dir.join(path);
            let dir = file.with_extension("");
            return Ok((file, dir));
        }
    }
    let flat = context.child_dir.join(format!("{name}.rs"));
    if flat.is_file() {
        return Ok((flat, context.child_dir.join(name)));
    }
    let nested = context.child_dir.join(name).join("mod.rs");
    if nested.is_file() {
        return Ok((nested, context.child_dir.join(name)));
    }
    Err(format!("`mod {name};` but neither {} nor {} exists", flat.display(), nested.display()))
}

/// Are all `#[cfg(...)]` attributes of an item true?
fn cfg_enabled(attributes: &[&[Token]]) -> Result<bool, String> {
    for attribute in attributes {
        if let [Token::Ident(word), Token::Open('('), predicate @ .., Token::Close(')')] = attribute
            && word == "cfg"
        {
            let (value, rest) = eval_cfg(predicate)?;
            if !rest.is_empty() {
                return Err(format!("cannot read the cfg predicate {predicate:?}"));
            }
            if !value {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Is one of the attributes `test_case`, or `cfg_attr(PRED, test_case)` with
/// a true predicate?
fn is_test_case(attributes: &[&[Token]]) -> Result<bool, String> {
    for attribute in attributes {
        match attribute {
            [Token::Ident(word)] if word == "test_case" => return Ok(true),
            [Token::Ident(word), Token::Open('('), inner @ .., Token::Close(')')] if word == "cfg_attr" => {
                let (value, rest) = eval_cfg(inner)?;
                if let [Token::Punct(','), Token::Ident(attr)] = rest
                    && attr == "test_case"
                {
                    return Ok(value);
                }
            }
            _ => {}
        }
    }
    Ok(false)
}

/// Evaluates one cfg predicate at the start of `tokens` for a test build of
/// the kernel target; returns its value and the tokens after it.
fn eval_cfg(tokens: &[Token]) -> Result<(bool, &[Token]), String> {
    match tokens {
        [Token::Ident(op), Token::Open('('), rest @ ..] if matches!(op.as_str(), "all" | "any" | "not") => {
            let mut values = Vec::new();
            let mut rest = rest;
            loop {
                if let [Token::Close(')'), after @ ..] = rest {
                    rest = after;
                    break;
                }
                let (value, after) = eval_cfg(rest)?;
                values.push(value);
                rest = match after {
                    [Token::Punct(','), after @ ..] => after,
                    _ => after,
                };
            }
            let value = match op.as_str() {
                "all" => values.iter().all(|&v| v),
                "any" => values.iter().any(|&v| v),
                _ => match values.as_slice() {
                    [value] => !value,
                    _ => return Err("not(...) takes one predicate".to_string()),
                },
            };
            Ok((value, rest))
        }
        [Token::Ident(key), Token::Punct('='), Token::Str(value), rest @ ..] => {
            let enabled = match key.as_str() {
                "target_os" => value == "none",
                "target_pointer_width" => value == "32",
                "target_arch" => value == "x86",
                "feature" => false,
                _ => return Err(format!("unknown cfg key `{key}`")),
            };
            Ok((enabled, rest))
        }
        [Token::Ident(flag), rest @ ..] => match flag.as_str() {
            "test" | "debug_assertions" => Ok((true, rest)),
            _ => Err(format!("unknown cfg flag `{flag}`")),
        },
        _ => Err(format!("cannot read the cfg predicate {tokens:?}")),
    }
}

/// From the first token of an item, the index after it: its `;`, or its
/// last `{ ... }` at the top level (a `fn`, `impl`, `struct { }`...).
fn skip_item(tokens: &[Token], start: usize) -> Result<usize, String> {
    let mut i = start;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Punct(';') => return Ok(i + 1),
            Token::Open('{') => {
                let end = skip_group(tokens, i)?;
                // `struct S { .. }`, `fn f() { .. }`: the item ends with its
                // braces, unless a `;` follows (`static X: T = T { .. };`).
                return Ok(if tokens.get(end) == Some(&Token::Punct(';')) { end + 1 } else { end });
            }
            Token::Open(_) => i = skip_group(tokens, i)?,
            _ => i += 1,
        }
    }
    Ok(i)
}

/// From an opening bracket at `start`, the index after its closing one.
fn skip_group(tokens: &[Token], start: usize) -> Result<usize, String> {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(start) {
        match token {
            Token::Open(_) => depth += 1,
            Token::Close(_) => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ if depth == 0 => return Err(format!("expected a bracket, found {token:?}")),
            _ => {}
        }
    }
    Err("unbalanced brackets".to_string())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// A string literal's contents (escapes left as written).
    Str(String),
    /// Numbers, chars, lifetimes: nothing the scanner looks at.
    Other,
    Open(char),
    Close(char),
    Punct(char),
}

/// Splits Rust source into tokens, dropping comments and white space.
fn lex(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            loop {
                if i >= chars.len() {
                    return Err("unterminated block comment".to_string());
                }
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' || ((c == 'b' || c == 'c') && at(i + 1) == '"') {
            let open = if c == '"' { i } else { i + 1 };
            let (contents, end) = string_literal(&chars, open)?;
            tokens.push(Token::Str(contents));
            i = end;
        } else if (c == 'r' && matches!(at(i + 1), '"' | '#'))
            || ((c == 'b' || c == 'c') && at(i + 1) == 'r' && matches!(at(i + 2), '"' | '#'))
        {
            let mut j = if c == 'r' { i + 1 } else { i + 2 };
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) != '"' {
                // `r#ident`: a raw identifier.
                let start = j;
                while at(j).is_alphanumeric() || at(j) == '_' {
                    j += 1;
                }
                tokens.push(Token::Ident(chars[start..j].iter().collect()));
                i = j;
                continue;
            }
            let start = j + 1;
            let closing: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            let mut k = start;
            while k < chars.len() && !chars[k..].starts_with(&closing) {
                k += 1;
            }
            if k >= chars.len() {
                return Err("unterminated raw string".to_string());
            }
            tokens.push(Token::Str(chars[start..k].iter().collect()));
            i = k + closing.len();
        } else if c == '\'' || (c == 'b' && at(i + 1) == '\'') {
            let q = if c == '\'' { i } else { i + 1 };
            // 'x', '\n', '\u{..}' are characters; 'a (no closing quote
            // right after) is a lifetime or label.
            if at(q + 1) == '\\' {
                let mut k = q + 3;
                while k < chars.len() && chars[k] != '\'' {
                    k += 1;
                }
                i = k + 1;
            } else if at(q + 2) == '\'' {
                i = q + 3;
            } else {
                i = q + 1;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
            }
            tokens.push(Token::Other);
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            while at(i).is_alphanumeric() || at(i) == '_' || (at(i) == '.' && at(i + 1).is_ascii_digit()) {
                i += 1;
            }
            tokens.push(Token::Other);
        } else {
            tokens.push(match c {
                '(' | '[' | '{' => Token::Open(c),
                ')' | ']' | '}' => Token::Close(c),
                _ => Token::Punct(c),
            });
            i += 1;
        }
    }
    Ok(tokens)
}

/// The contents of the string literal whose opening quote is at `open`, and
/// the index after its closing quote.
fn string_literal(chars: &[char], open: usize) -> Result<(String, usize), String> {
    let mut contents = String::new();
    let mut k = open + 1;
    while k < chars.len() {
        match chars[k] {
            '\\' => {
                contents.push('\\');
                if let Some(&next) = chars.get(k + 1) {
                    contents.push(next);
                }
                k += 2;
            }
            '"' => return Ok((contents, k + 1)),
            other => {
                contents.push(other);
                k += 1;
            }
        }
    }
    Err("unterminated string".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (path, contents) under a fresh directory and lists the
    /// tests of `lib.rs` there.
    fn scan(files: &[(&str, &str)]) -> Result<Vec<String>, Error> {
        let dir = std::env::temp_dir().join(format!("xtask-test-list-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, contents) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        let result = compiled_tests(&dir.join("lib.rs"), "kernel").map(|set| set.into_iter().collect());
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    #[test]
    fn finds_test_cases_in_files_and_inline_modules() {
        let lib = r##"
            //! Docs mentioning #[test_case] fn not_a_test() {}
            #![cfg_attr(target_os = "none", no_std)]
            pub mod mm;
            #[cfg(not(target_os = "none"))]
            mod host_only;
            #[test_case]
            fn root_test() { let s = "} fn fake() {"; let c = '}'; let l: &'static str = r#"{"#; }
        "##;
        let mm = r#"
            mod buddy;
            /* a block /* nested */ comment with #[test_case] fn no() {} */
            #[cfg(all(test, target_os = "none"))]
            mod kernel_tests {
                use super::*;
                #[test_case]
                fn splits() {}
                fn helper() {}
                crate::should_panic_test!(faults, "page fault", || { let x = '{'; });
                impl Foo { fn method() {} }
            }
            #[cfg(all(test, not(target_os = "none")))]
            mod tests {
                #[test]
                fn host() {}
                #[test_case]
                fn never_in_the_kernel() {}
            }
            #[cfg(test)]
            mod both {
                #[cfg_attr(target_os = "none", test_case)]
                #[cfg_attr(not(target_os = "none"), test)]
                fn everywhere() {}
                #[cfg_attr(not(target_os = "none"), test)]
                fn host_too() {}
            }
        "#;
        let buddy = "#[test_case]\npub(crate) fn merges() {}\nstatic X: [u8; 2] = [0, 1];\nconst Q: char = '\\'';\n\
                     #[test_case] fn after_static() {}\npub mod inner { #[test_case] pub fn deep() {} }";
        let tests = scan(&[("lib.rs", lib), ("mm/mod.rs", mm), ("mm/buddy.rs", buddy), ("host_only.rs", "#[test_case] fn no() {}")])
            .unwrap();
        assert_eq!(
            tests,
            [
                "kernel::mm::both::everywhere",
                "kernel::mm::buddy::after_static",
                "kernel::mm::buddy::inner::deep",
                "kernel::mm::buddy::merges",
                "kernel::mm::kernel_tests::faults",
                "kernel::mm::kernel_tests::splits",
                "kernel::root_test",
            ]
        );
    }

    #[test]
    fn module_files_follow_the_2018_layout() {
        // `mm.rs` + `mm/highmem.rs` + `mm/highmem/kernel_tests.rs`.
        let files = [
            ("lib.rs", "mod mm;"),
            ("mm.rs", "mod highmem;"),
            ("mm/highmem.rs", "#[cfg(all(test, target_os = \"none\"))]\nmod kernel_tests;"),
            ("mm/highmem/kernel_tests.rs", "#[test_case]\nfn kmaps() {}"),
        ];
        assert_eq!(scan(&files).unwrap(), ["kernel::mm::highmem::kernel_tests::kmaps"]);
    }

    #[test]
    fn problems_are_errors_not_guesses() {
        let missing = scan(&[("lib.rs", "mod gone;")]).unwrap_err().to_string();
        assert!(missing.contains("`mod gone;` but neither"), "{missing}");
        let unknown = scan(&[("lib.rs", "#[cfg(miri)]\n#[test_case] fn t() {}")]).unwrap_err().to_string();
        assert!(unknown.contains("unknown cfg flag `miri`"), "{unknown}");
        let unbalanced = scan(&[("lib.rs", "fn f() { ")]).unwrap_err().to_string();
        assert!(unbalanced.contains("unbalanced"), "{unbalanced}");
    }

    /// The real crate: the list contains tests from every kind of place.
    #[test]
    fn lists_this_repositorys_kernel_tests() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src/lib.rs");
        let tests = compiled_tests(&root, "kernel").unwrap();
        for path in [
            "kernel::cmdline::tests::good_input",
            "kernel::mm::highmem::kernel_tests::kmap_of_a_high_page_is_a_pkmap_address",
        ] {
            assert!(tests.contains(path), "{path} in {tests:?}");
        }
        assert!(!tests.iter().any(|t| t.contains("::tests::") && t.starts_with("kernel::mm::memblock")), "host-only tests");
    }
}
