//! Every public item has an `# Examples` section in its docs.
//!
//! Stable rustdoc has no lint for this (`missing_doc_code_examples` is
//! unstable and skips methods), so this test reads `src/` itself. The crate
//! warns on `unreachable_pub` (src/lib.rs; CI denies warnings), so a plain `pub`
//! in `src/` *is* public API: every `pub fn`, `pub struct`, `pub enum`,
//! `pub trait`, `pub type`, `pub const`, `pub static` and `pub mod` — methods
//! in inherent impls included, fields and variants not — must carry a doc
//! block with an `# Examples` heading, and each public module's `//!` docs
//! too. Items under `#[doc(hidden)]` or `#[cfg(loom)]` are not on docs.rs and
//! are skipped. The test names every item that lacks one, with its file and
//! line, and checks itself first on planted items.

use std::path::{Path, PathBuf};

/// A public item without examples: `file:line: pub fn name`.
fn missing_examples(file: &str, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        let Some(kind) = public_item(code) else { continue };
        // The attribute and doc lines directly above the item.
        let mut docs = String::new();
        let mut hidden = false;
        let mut j = i;
        while j > 0 {
            let above = lines[j - 1].trim_start();
            if above.starts_with("///") {
                docs.push_str(above);
                docs.push('\n');
            } else if above.starts_with("#[") || above.starts_with("#![") {
                // Hidden, not built, or a document of `docs/` included as a
                // module's docs (`src/guide.rs`: no API to show).
                if ["doc(hidden)", "cfg(loom)", "cfg(doctest)", "include_str!"]
                    .iter()
                    .any(|a| above.contains(a))
                {
                    hidden = true;
                }
            } else if !above.starts_with("//") {
                // A plain comment may sit between docs and item; anything
                // else ends the block.
                break;
            }
            j -= 1;
        }
        if hidden || in_hidden_block(&lines, i) {
            continue;
        }
        if kind == "mod" && code.ends_with(';') {
            // `pub mod m;`: its docs are `m`'s own `//!` (`module_docs_have_examples`).
            continue;
        }
        if kind == "mod" {
            // An inline `pub mod m { //! … }`: its docs are inside.
            if lines[i + 1..]
                .iter()
                .take_while(|l| l.trim_start().starts_with("//!"))
                .any(|l| l.contains("# Examples"))
            {
                continue;
            }
        }
        if !docs.contains("# Examples") {
            out.push(format!(
                "{file}:{}: {}",
                i + 1,
                code.split(['(', '<', '{', '=', ';']).next().unwrap().trim()
            ));
        }
    }
    out
}

/// The kind of the public item this line declares, if it declares one.
fn public_item(code: &str) -> Option<&'static str> {
    let rest = code.strip_prefix("pub ")?;
    let mut rest = rest;
    for qualifier in ["const ", "async ", "unsafe ", "extern \"C\" "] {
        if let Some(r) = rest.strip_prefix(qualifier) {
            // `pub const fn` is a fn; `pub const X` is a const.
            if qualifier == "const " && !r.starts_with("fn ") && !r.starts_with("unsafe ") {
                return Some("const");
            }
            rest = r;
        }
    }
    ["fn", "struct", "enum", "trait", "type", "static", "mod"]
        .into_iter()
        .find(|k| rest.strip_prefix(k).is_some_and(|r| r.starts_with(' ')))
}

/// Whether line `i` lies inside a block (an impl or module) opened under
/// `#[doc(hidden)]` or `#[cfg(loom)]`: found by walking back over the
/// braces that enclose it.
fn in_hidden_block(lines: &[&str], i: usize) -> bool {
    let mut depth = 0i32;
    for j in (0..i).rev() {
        let l = lines[j];
        let code = l.split("//").next().unwrap();
        depth += code.matches('}').count() as i32;
        depth -= code.matches('{').count() as i32;
        if depth < 0 {
            // `lines[j]` opens a block that encloses the item.
            let mut k = j;
            while k > 0 && lines[k - 1].trim_start().starts_with("#") {
                let attr = lines[k - 1];
                if attr.contains("doc(hidden)") || attr.contains("cfg(loom)") {
                    return true;
                }
                k -= 1;
            }
            depth = 0;
        }
    }
    false
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_checker_finds_planted_items_and_skips_the_rest() {
    let planted = "\
/// Documented, no examples.
pub fn bare() {}

/// With.
///
/// # Examples
///
/// ```
/// ```
pub fn good() {}

/// No examples.
#[inline]
pub const fn constant_fn() {}

pub struct Undocumented;

#[doc(hidden)]
pub fn hidden() {}

#[cfg(loom)]
pub mod internals {
    pub fn inside() {}
}

pub(crate) fn internal() {}

impl X {
    /// A method.
    pub fn method(&self) {}
}
";
    let found = missing_examples("planted.rs", planted);
    assert_eq!(
        found,
        [
            "planted.rs:2: pub fn bare",
            "planted.rs:14: pub const fn constant_fn",
            "planted.rs:16: pub struct Undocumented",
            "planted.rs:30: pub fn method",
        ]
    );
}

#[test]
fn every_public_item_has_an_examples_section() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut missing = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.strip_prefix(root).unwrap().display().to_string();
        missing.extend(missing_examples(&name, &text));
    }
    assert!(
        missing.is_empty(),
        "{} public items have no `# Examples` section in their docs; add a doc test to each:\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

#[test]
fn module_docs_have_examples() {
    // The public modules whose docs live in their own file.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let mut checked = 0;
    for line in lib.lines() {
        let Some(name) = line.trim().strip_prefix("pub mod ").and_then(|r| r.strip_suffix(';')) else {
            continue;
        };
        let file = root.join(format!("src/{name}/mod.rs"));
        let file = if file.exists() { file } else { root.join(format!("src/{name}.rs")) };
        let text = std::fs::read_to_string(&file).unwrap();
        let docs: String = text.lines().filter(|l| l.starts_with("//!")).collect::<Vec<_>>().join("\n");
        assert!(
            docs.contains("# Examples"),
            "the docs of `knotwork::{name}` ({}) have no `# Examples`",
            file.display()
        );
        checked += 1;
    }
    assert!(checked > 0, "found no `pub mod` in src/lib.rs; the checker is out of date");
    let crate_docs: String = lib.lines().filter(|l| l.starts_with("//!")).collect::<Vec<_>>().join("\n");
    assert!(crate_docs.contains("```"), "the crate root's docs have no example");
}
