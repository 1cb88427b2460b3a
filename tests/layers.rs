//! The layers point down: no module of `src/` names a module above its own.
//!
//! knotwork's modules form one stack (docs/architecture.md, "Layers"); a
//! module may use its own layer and any layer below it, never one above.
//! This test reads every file under `src/`, finds each path that leaves its
//! top-level module — `crate::x…` and `$crate::x…` (in a `use`, inline, or
//! in a macro; `use crate::{…}` groups included), `super::…` chains that
//! climb out of it (nested groups such as `super::{super::x}`, a leading
//! `self::`, and inline `mod m { … }` blocks counted), and the crate-root
//! re-exports (`crate::TaskError` is `error`'s) — and fails on any that
//! reaches a higher layer, naming the file, the line and both layers. It
//! also refuses what would hide a path from it: a `use` that aliases the
//! crate root or a module (`crate as`, `self as`), `#[path]`,
//! `#[macro_use]` and `extern crate`. Comments and string literals (raw and
//! byte ones too) are skipped: a doc link may point anywhere. The checker
//! checks itself first, on planted imports and on look-alikes it must not
//! flag.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The layers, bottom first. `lib.rs` (the crate root) sits above them all.
/// A module not listed here fails the test: every new module takes a place.
const LAYERS: &[&[&str]] = &[
    &["sync", "error", "failure"],
    &["hooks"],
    &["task"],
    &["context"],
    &["event_loop"],
    &["pool"],
    &["scope"],
    &["trace"],
    // The documents of `docs/`, rendered with the API docs: no code.
    &["guide"],
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
            && (i == 0 || !is_ident(b[i - 1]) || (b[i - 1] == b'b' && (i < 2 || !is_ident(b[i - 2]))))
            && (b.get(i + 1) == Some(&b'#') || b.get(i + 1) == Some(&b'"'))
        {
            // A raw string: r"…", r#"…"#, r##"…"## (or a byte one: br"…").
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
        if start > 0 && is_ident(b[start - 1]) {
            continue; // `my_crate::`; `$crate::` counts, like `crate::`
        }
        let line = code[..start].matches('\n').count() + 1;
        if b.get(at) == Some(&b'{') {
            // A group: the first segment of each top-level item.
            for k in group_items(code, at).0 {
                let e = k + b[k..].iter().take_while(|&&c| is_ident(c)).count();
                if e > k {
                    found.push((line, code[k..e].to_owned()));
                }
            }
        } else {
            let e = at + b[at..].iter().take_while(|&&c| is_ident(c)).count();
            found.push((line, code[at..e].to_owned()));
        }
    }
    found
}

/// Every `super::` chain in `code`: its byte offset, its line, how many
/// levels it climbs (a leading `self::` is skipped; a group such as
/// `super::{super::x, y}` counts its deepest item), and the segment that
/// follows the last `super::` on the deepest path (empty if none).
fn supers(code: &str) -> Vec<(usize, usize, usize, String)> {
    let b = code.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(off) = code[at..].find("super::") {
        let start = at + off;
        let before = &code[..start];
        let follows_self =
            before.ends_with("self::") && !before[..before.len() - 6].ends_with(|c: char| is_ident(c as u8));
        if start > 0 && !follows_self && (is_ident(b[start - 1]) || b[start - 1] == b':') {
            at = start + 1;
            continue;
        }
        let (n, next, end) = climb(code, start);
        at = end.max(start + 1);
        found.push((start, before.matches('\n').count() + 1, n, next));
    }
    found
}

/// From a `super::` at `start`: how far the path climbs, the segment after
/// the climb on its deepest branch, and where the scan stopped.
fn climb(code: &str, start: usize) -> (usize, String, usize) {
    let b = code.as_bytes();
    let mut n = 0;
    let mut j = start;
    while code[j..].starts_with("super::") {
        n += 1;
        j += "super::".len();
    }
    if b.get(j) != Some(&b'{') {
        let e = j + b[j..].iter().take_while(|&&c| is_ident(c)).count();
        return (n, code[j..e].to_owned(), e);
    }
    // A group: each top-level item may climb further.
    let (mut best, mut best_next) = (n, String::new());
    let (items, close) = group_items(code, j);
    for k in items {
        if code[k..].starts_with("super::") {
            let (m, next, _) = climb(code, k);
            if n + m > best {
                best = n + m;
                best_next = next;
            }
        } else if best == n && best_next.is_empty() {
            let e = k + b[k..].iter().take_while(|&&c| is_ident(c)).count();
            best_next = code[k..e].to_owned();
        }
    }
    (best, best_next, close)
}

/// The items of the `{ … }` group opening at `open`: where each top-level
/// item starts, and where the group closes.
fn group_items(code: &str, open: usize) -> (Vec<usize>, usize) {
    let b = code.as_bytes();
    let mut items = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    let mut k = open;
    while k < b.len() {
        match b[k] {
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
            c if item_start && !c.is_ascii_whitespace() => {
                item_start = false;
                items.push(k);
            }
            _ => {}
        }
        k += 1;
    }
    (items, k)
}

/// The byte ranges of the inline modules (`mod name { … }`) in `code`:
/// each adds one level that `super::` may climb.
fn inline_modules(code: &str) -> Vec<(usize, usize)> {
    let b = code.as_bytes();
    let mut ranges = Vec::new();
    let mut at = 0;
    while let Some(off) = code[at..].find("mod ") {
        let start = at + off;
        at = start + 4;
        if start > 0 && is_ident(b[start - 1]) {
            continue;
        }
        let name_end = at + b[at..].iter().take_while(|&&c| is_ident(c)).count();
        let rest = code[name_end..].trim_start();
        if name_end == at || !rest.starts_with('{') {
            continue; // `mod name;`: a file of its own, checked on its own
        }
        let open = name_end + (code[name_end..].len() - rest.len());
        let mut depth = 0;
        let mut k = open;
        while k < b.len() {
            match b[k] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            k += 1;
        }
        ranges.push((open, k));
    }
    ranges
}

/// Constructs that would let a path hide its layer from this check.
const FORBIDDEN: &[(&str, &str)] = &[
    ("#[path", "`#[path]` puts a file in another module than its directory says"),
    ("#[macro_use]", "`#[macro_use]` imports macros without a path"),
    ("extern crate", "`extern crate` can alias the crate root"),
];

/// `use` declarations that alias the crate root or a module (`use crate as
/// kw;`, `use crate::{self as c}`): a later `kw::scope::…` would hide the
/// layer it reaches.
fn aliasing_uses(code: &str) -> Vec<usize> {
    let b = code.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(off) = code[at..].find("use ") {
        let start = at + off;
        at = start + 4;
        if start > 0 && is_ident(b[start - 1]) {
            continue;
        }
        let end = code[start..].find(';').map_or(code.len(), |e| start + e);
        let decl = &code[start..end];
        if decl.contains("crate as ") || decl.contains("self as ") {
            found.push(code[..start].matches('\n').count() + 1);
        }
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
    let inline = inline_modules(&code);
    for (at, line, n, next) in supers(&code) {
        let depth = depth + inline.iter().filter(|(s, e)| *s < at && at < *e).count();
        if n <= depth {
            continue; // stays inside this top-level module
        }
        match layer_of(&next) {
            // Climbed to the crate root and back down into a module: that
            // module's layer decides, as for `crate::`.
            Some(layer) if n == depth + 1 && layer <= own => {}
            Some(layer) if n == depth + 1 => out.push(format!(
                "line {line}: `super::` ×{n} reaches `{next}` (layer {layer}) from `{module}` (layer {own}); \
                 layers only point down"
            )),
            _ => out.push(format!(
                "line {line}: `super::` ×{n} climbs out of `{module}` to `{next}`; name the layer with `crate::`"
            )),
        }
    }
    for line in aliasing_uses(&code) {
        out.push(format!(
            "line {line}: a `use` that aliases the crate root or a module (`crate as`, `self as`) \
             hides the layer later paths reach; import the items instead"
        ));
    }
    for (needle, why) in FORBIDDEN {
        if let Some(at) = code.find(needle) {
            let line = code[..at].matches('\n').count() + 1;
            out.push(format!("line {line}: `{}` is not allowed under src/: {why}", needle.trim()));
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
        ("task", 1, "macro_rules! m { () => { $crate::scope::scope(|_| ()) } }"),
        ("task", 1, "use crate as kw; fn f() { kw::scope::x(); }"),
        ("task", 1, "use crate::{self as c};"),
        ("task", 1, "use super::{super::scope::Scope};"),
        ("task", 1, "use self::super::super::scope::Scope;"),
        ("task", 1, "const B: &[u8] = br\"\\\";\nuse crate::scope::Scope;"),
        ("task", 1, "#[path = \"../scope/x.rs\"] mod x;"),
        ("task", 1, "mod inner { use super::super::super::scope::Scope; }"),
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
        ("task", 1, "#[cfg(test)] mod tests { use super::super::raw::Header; }"),
        ("task", 1, "use super::super::task::raw::Header; use super::super::sync::Arc;"),
        ("task", 1, "use super::{raw::Header, state::State};"),
        ("task", 1, "const B: &[u8] = br\"\\\"; // crate::scope"),
        ("pool", 1, "fn is(&self) -> *const Self { self as *const Self }"),
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
