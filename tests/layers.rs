//! The layers point down: no module of `src/` names a module above its own.
//!
//! knotwork's modules form one stack (docs/architecture.md, "Layers"); a
//! module may use its own layer and any layer below it, never one above.
//! This test reads every file under `src/`, finds each path that leaves its
//! top-level module — `crate::x…` (in a `use` or inline, `use crate::{…}`
//! groups included), `super::…` chains that climb out of it, and the
//! crate-root re-exports (`crate::TaskError` is `error`'s) — and fails on
//! any that reaches a higher layer, naming the file, the line and both
//! layers. Comments and string literals are skipped (a doc link may point
//! anywhere). The checker checks itself first, on planted imports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The layers, bottom first. `lib.rs` (the crate root) sits above them all.
/// A module not listed here fails the test: every new module takes a place.
const LAYERS: &[&[&str]] = &[
    &["sync", "error"],
    &["hooks"],
    &["task"],
    &["context"],
    &["event_loop"],
    &["pool"],
    &["scope"],
    &["trace"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Blanks out comments, string and char literals (keeping line breaks), so
/// that only code is searched.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, c: u8| out.push(if c == b'\n' { '\n' } else { ' ' });
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if b[i] == b'r'
            && (i == 0 || !is_ident(b[i - 1]))
            && (b.get(i + 1) == Some(&b'#') || b.get(i + 1) == Some(&b'"'))
        {
            // A raw string: r"…", r#"…"#, r##"…"##.
            let mut j = i + 1;
            while b.get(j) == Some(&b'#') {
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(b[i] as char);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            let mut end = j + 1;
            while end < b.len()
                && !(b[end] == b'"'
                    && b[end + 1..].iter().take(hashes).filter(|&&c| c == b'#').count() == hashes)
            {
                end += 1;
            }
            let end = (end + 1 + hashes).min(b.len());
            for &c in &b[i..end] {
                blank(&mut out, c);
            }
            i = end;
        } else if b[i] == b'"' {
            blank(&mut out, b[i]);
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            i += 1;
            out.push(' ');
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            out.push_str("   ");
            i += 3;
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            // '\n', '\'', '\u{…}'
            let mut j = i + 2;
            while j < b.len() && b[j] != b'\'' {
                j += 1;
            }
            for _ in i..=j.min(b.len() - 1) {
                out.push(' ');
            }
            i = j + 1;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The first path segment of every `crate::…` in `code`, with its line:
/// `crate::a::b` gives `a`; `crate::{a::b, c}` gives `a` and `c`.
fn crate_paths(code: &str) -> Vec<(usize, String)> {
    let b = code.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(off) = code[at..].find("crate::") {
        let start = at + off;
        at = start + "crate::".len();
        if start > 0 && (is_ident(b[start - 1]) || b[start - 1] == b'$') {
            continue; // `$crate::`, `my_crate::`
        }
        let line = code[..start].matches('\n').count() + 1;
        if b.get(at) == Some(&b'{') {
            // A group: the first segment of each top-level item.
            let mut depth = 0;
            let mut item_start = true;
            let mut j = at;
            while j < b.len() {
                match b[j] {
                    b'{' => {
                        depth += 1;
                        item_start = depth == 1;
                    }
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b',' if depth == 1 => item_start = true,
                    c if item_start && is_ident(c) => {
                        let e = j + b[j..].iter().take_while(|&&c| is_ident(c)).count();
                        found.push((line, code[j..e].to_owned()));
                        item_start = false;
                        j = e;
                        continue;
                    }
                    _ => {}
                }
                j += 1;
            }
        } else {
            let e = at + b[at..].iter().take_while(|&&c| is_ident(c)).count();
            found.push((line, code[at..e].to_owned()));
        }
    }
    found
}

/// How many `super::` a path starting at `code[i..]` climbs.
fn supers(code: &str) -> Vec<(usize, usize)> {
    let b = code.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(off) = code[at..].find("super::") {
        let start = at + off;
        if start > 0 && (is_ident(b[start - 1]) || b[start - 1] == b':') {
            at = start + 1;
            continue;
        }
        let mut n = 0;
        let mut j = start;
        while code[j..].starts_with("super::") {
            n += 1;
            j += "super::".len();
        }
        at = j;
        found.push((code[..start].matches('\n').count() + 1, n));
    }
    found
}

/// The crate-root re-exports: `pub use scope::{Scope, …}` maps `Scope` to
/// `scope`, `pub mod trace` maps `trace` to itself.
fn root_names(lib: &str) -> HashMap<String, String> {
    let code = code_only(lib);
    let mut names = HashMap::new();
    for stmt in code.split(';') {
        let stmt = stmt.trim();
        let Some(rest) = stmt.strip_prefix("pub use ") else { continue };
        let rest = rest.trim_start_matches("crate::");
        let (module, items) = rest.split_once("::").unwrap_or((rest, ""));
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = item.rsplit(" as ").next().unwrap_or("").trim();
            let name = name.rsplit("::").next().unwrap_or("").trim();
            if !name.is_empty() {
                names.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    names
}

/// Every upward reference in one file: `module` is the file's top-level
/// module and `depth` how deep the file is below `src/` (0 for
/// `src/pool.rs` or `src/pool/mod.rs`, 1 for `src/pool/job.rs`, …).
fn violations(module: &str, depth: usize, src: &str, root: &HashMap<String, String>) -> Vec<String> {
    let own = layer_of(module).unwrap_or_else(|| panic!("module `{module}` has no layer: add it to LAYERS"));
    let code = code_only(src);
    let mut out = Vec::new();
    for (line, first) in crate_paths(&code) {
        let target = if layer_of(&first).is_some() {
            first.clone()
        } else if let Some(m) = root.get(&first) {
            m.clone()
        } else if first == "self" || first.is_empty() {
            continue;
        } else {
            out.push(format!("line {line}: `crate::{first}` is neither a module nor a root re-export"));
            continue;
        };
        let Some(layer) = layer_of(&target) else {
            out.push(format!("line {line}: `crate::{first}` resolves to `{target}`, which has no layer"));
            continue;
        };
        if layer > own {
            out.push(format!(
                "line {line}: `crate::{first}` reaches `{target}` (layer {layer}) from `{module}` (layer {own}); \
                 layers only point down: move the item down, or invert the call (a hook, a trait, a fn pointer)"
            ));
        }
    }
    for (line, n) in supers(&code) {
        if n > depth {
            out.push(format!(
                "line {line}: `super::` ×{n} climbs out of `{module}`; name the layer with `crate::`"
            ));
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_checker_finds_planted_upward_imports() {
    let root = root_names("pub use scope::{Scope, Task};\npub use error::{TaskError};\npub mod trace;");
    let planted = [
        ("pool", 1, "use crate::scope::core::ScopeCore;"),
        ("task", 1, "use crate::{sync::Arc, event_loop::core};"),
        ("context", 1, "fn f() { crate::trace::record(|| ()); }"),
        ("hooks", 0, "use crate::Scope;"),
        ("sync", 1, "use super::super::pool::Pool;"),
    ];
    for (module, depth, src) in planted {
        assert!(!violations(module, depth, src, &root).is_empty(), "missed the planted import in {src:?}");
    }
    let fine = [
        (
            "scope",
            1,
            "use crate::pool::job::JobRef; use crate::{sync::Arc, task::TaskRef}; use crate::TaskError;",
        ),
        (
            "task",
            1,
            "// use crate::scope::Scope;\n/// [`Scope`](crate::Scope)\nconst S: &str = \"crate::trace\";",
        ),
        ("trace", 1, "use super::recording::Trace; use crate::hooks::Event;"),
        ("event_loop", 0, "macro_rules! m { () => { $crate::sync::Arc::new(()) } }"),
    ];
    for (module, depth, src) in fine {
        let v = violations(module, depth, src, &root);
        assert!(v.is_empty(), "flagged a downward import in {src:?}: {v:?}");
    }
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let root = root_names(&std::fs::read_to_string(src.join("lib.rs")).expect("read lib.rs"));
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut report = Vec::new();
    let mut checked = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src/");
        let parts: Vec<&str> = rel.iter().map(|p| p.to_str().expect("utf-8 path")).collect();
        if parts == ["lib.rs"] {
            continue; // the root sits above every layer
        }
        let module = parts[0].trim_end_matches(".rs");
        let depth = parts.len() - 1 - usize::from(parts.last() == Some(&"mod.rs"));
        let text = std::fs::read_to_string(file).expect("read a source file");
        checked += 1;
        for v in violations(module, depth, &text, &root) {
            report.push(format!("src/{}: {v}", rel.display()));
        }
    }
    assert!(checked > 20, "found only {checked} source files under {}", src.display());
    assert!(report.is_empty(), "upward imports:\n{}", report.join("\n"));
}
