//! The layering of the code, checked: every reference from one module to another
//! (`use crate::…`, `crate::x::…` and `super::…` paths in code, comments and unit tests left
//! out) must be an arrow that `docs/architecture.md` allows, and the allowed arrows must
//! not form a cycle. The lists are the fenced `layers` blocks of that document, one per
//! crate:
//!
//! ```text
//! component = module module… -> component component…
//! component ~> component…       (an arrow that exists today and is to go: a known debt)
//! ```
//!
//! A module belongs to the component that lists the longest prefix of its path (`crate`
//! is the crate root). The check fails on an arrow the document does not list, on a listed
//! arrow the code no longer has (so the document stays true), on a cycle among the allowed
//! arrows, and on a debt arrow that is also allowed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One crate's layering as the document states it.
#[derive(Debug, Default)]
struct Layers {
    /// Module path -> component.
    modules: BTreeMap<String, String>,
    /// Component -> components it may use.
    allowed: BTreeMap<String, BTreeSet<String>>,
    /// Component -> components it uses today against the layering.
    debt: BTreeMap<String, BTreeSet<String>>,
}

impl Layers {
    fn component_of(&self, path: &[String]) -> Option<&String> {
        (0..=path.len()).rev().find_map(|n| {
            let prefix = if n == 0 {
                "crate".to_string()
            } else {
                path[..n].join("::")
            };
            self.modules.get(&prefix)
        })
    }
}

/// The `layers <dir>` block of `docs/architecture.md`.
fn layers(dir: &str) -> Layers {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let fence = format!("```layers {dir}\n");
    let start = doc
        .find(&fence)
        .unwrap_or_else(|| panic!("docs/architecture.md has no `layers {dir}` block"))
        + fence.len();
    let block = &doc[start..start + doc[start..].find("```").unwrap()];
    let mut layers = Layers::default();
    for line in block.lines() {
        let line = line.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        let names =
            |s: &str| -> BTreeSet<String> { s.split_whitespace().map(str::to_string).collect() };
        if let Some((component, targets)) = line.split_once("~>") {
            layers
                .debt
                .entry(component.trim().to_string())
                .or_default()
                .extend(names(targets));
        } else {
            let (head, targets) = line.split_once("->").unwrap_or((line, ""));
            let (component, modules) = head
                .split_once('=')
                .unwrap_or_else(|| panic!("`{line}`: expected `component = modules -> …`"));
            let component = component.trim().to_string();
            for module in names(modules) {
                assert!(
                    layers
                        .modules
                        .insert(module.clone(), component.clone())
                        .is_none(),
                    "module {module} is listed twice"
                );
            }
            layers
                .allowed
                .entry(component)
                .or_default()
                .extend(names(targets));
        }
    }
    layers
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir` with its module path (`[]` for the crate root).
fn modules(dir: &Path) -> Vec<(Vec<String>, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().map_or(true, |e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(dir).unwrap();
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            // A binary's `main.rs` is a crate of its own, which uses the library by name.
            if parts == ["main"] || parts.first().is_some_and(|p| p == "bin") {
                continue;
            }
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            out.push((parts, path));
        }
    }
    out.sort();
    out
}

/// The source with comments, string literals and `#[cfg(test)]` items blanked out.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let end = src[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            i = end;
        } else if b[i] == b'"' && (i == 0 || b[i - 1] != b'\'') {
            // A string (raw strings in this code base hold SQL and JSON, no quotes inside
            // that matter for paths).
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.extend_from_slice(b"\"\"");
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let mut code = String::from_utf8(out).unwrap();
    // `#[cfg(test)]` followed by an item: blank that item up to its closing brace or `;`.
    while let Some(at) = code.find("#[cfg(test)]") {
        let rest = &code[at..];
        let end = match (rest.find('{'), rest.find(';')) {
            (Some(open), semi) if semi.map_or(true, |s| open < s) => {
                let mut depth = 0;
                let mut end = rest.len();
                for (k, c) in rest[open..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = open + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (_, Some(semi)) => semi + 1,
            _ => rest.len(),
        };
        code.replace_range(at..at + end, "");
    }
    code
}

/// The paths a `use` tree names: `a::{b, c::d}` -> `a::b`, `a::c::d`.
fn expand_tree(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.to_string()];
    };
    let prefix = tree[..open].trim_end_matches("::").trim();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (k, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand_tree)
        .map(|p| match (prefix.is_empty(), p.as_str()) {
            (_, "self") => prefix.to_string(),
            (true, _) => p,
            (false, _) => format!("{prefix}::{p}"),
        })
        .collect()
}

/// The module paths `code` (of module `module`) refers to, each as its segments.
fn references(module: &[String], code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    for anchor in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(found) = code[from..].find(anchor) {
            let at = from + found;
            from = at + anchor.len();
            if at > 0 && (ident(bytes[at - 1]) || bytes[at - 1] == b':') {
                continue;
            }
            // The path (or use tree) that follows.
            let rest = &code[at..];
            let mut end = 0;
            let mut depth = 0;
            for (k, c) in rest.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth > 0 => depth -= 1,
                    c if depth > 0 && (c.is_whitespace() || c == ',') => {}
                    c if c.is_ascii_alphanumeric() || c == '_' || c == ':' => {}
                    _ => {
                        end = k;
                        break;
                    }
                }
                end = k + c.len_utf8();
                if depth == 0 && c == '}' {
                    break;
                }
            }
            for path in expand_tree(&rest[..end]) {
                let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
                // Resolve to an absolute path.
                let mut base: Vec<String> = match segments.first() {
                    Some(&"crate") => Vec::new(),
                    Some(&"self") | Some(&"super") => module.to_vec(),
                    _ => continue,
                };
                while let Some(&s) = segments.first() {
                    match s {
                        "crate" | "self" => {}
                        // `super` is the parent of the module the file is.
                        "super" => {
                            base.pop();
                        }
                        _ => break,
                    }
                    segments.remove(0);
                }
                base.extend(segments.iter().map(|s| s.to_string()));
                out.push(base);
            }
        }
    }
    out
}

/// Component -> components it uses, from the code of `dir`.
fn arrows(dir: &str, layers: &Layers) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in modules(&root().join(dir)) {
        let from = layers
            .component_of(&module)
            .unwrap_or_else(|| panic!("{}: no component lists its module", file.display()))
            .clone();
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        for path in references(&module, &code) {
            let to = layers
                .component_of(&path)
                .unwrap_or_else(|| {
                    panic!("{}: `{}` has no component", file.display(), path.join("::"))
                })
                .clone();
            if to != from {
                out.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    out
}

/// A cycle among `graph`'s arrows, if any.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let from = path.iter().position(|n| n == node).unwrap();
                let mut found = path[from..].to_vec();
                found.push(node.to_string());
                return Some(found);
            }
            _ => {}
        }
        state.insert(node.to_string(), 1);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut state, &mut Vec::new()))
}

fn check(dir: &str) {
    let layers = layers(dir);
    let components: BTreeSet<&String> = layers.modules.values().collect();
    for (from, targets) in layers.allowed.iter().chain(&layers.debt) {
        for name in std::iter::once(from).chain(targets) {
            assert!(components.contains(name), "{dir}: `{name}` is no component");
        }
    }
    if let Some(c) = cycle(&layers.allowed) {
        panic!("{dir}: the allowed arrows have a cycle: {}", c.join(" -> "));
    }
    for (from, targets) in &layers.debt {
        let both: Vec<_> = targets
            .intersection(layers.allowed.get(from).unwrap_or(&BTreeSet::new()))
            .cloned()
            .collect();
        assert!(
            both.is_empty(),
            "{dir}: {from} -> {both:?} is both allowed and debt"
        );
    }
    let found = arrows(dir, &layers);
    let mut problems = Vec::new();
    for (from, targets) in &found {
        for to in targets {
            let listed = [&layers.allowed, &layers.debt]
                .iter()
                .any(|m| m.get(from).is_some_and(|t| t.contains(to)));
            if !listed {
                problems.push(format!("{from} -> {to} is used but not allowed"));
            }
        }
    }
    for (from, targets) in layers.allowed.iter().chain(&layers.debt) {
        for to in targets {
            if !found.get(from).is_some_and(|t| t.contains(to)) {
                problems.push(format!(
                    "{from} -> {to} is listed but the code has no such arrow"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{dir}: the code and the `layers {dir}` block of docs/architecture.md disagree:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_core_uses_only_the_arrows_docs_architecture_allows() {
    check("src");
}

#[test]
fn the_reference_backend_uses_only_the_arrows_docs_architecture_allows() {
    check("server/src");
}

#[test]
fn use_trees_and_relative_paths_resolve_to_modules() {
    let refs = references(
        &["store".into(), "db".into()],
        "use crate::{error::{Error, Result}, model::RecordKind};\nuse super::sealed::X;\nfn f() { crate::sync::outbox::record(); }",
    );
    let refs: Vec<String> = refs.iter().map(|r| r.join("::")).collect();
    assert!(refs.contains(&"error::Error".to_string()), "{refs:?}");
    assert!(refs.contains(&"model::RecordKind".to_string()), "{refs:?}");
    assert!(refs.contains(&"store::sealed::X".to_string()), "{refs:?}");
    assert!(
        refs.contains(&"sync::outbox::record".to_string()),
        "{refs:?}"
    );
    let in_mod_rs = references(&["sync".into()], "use super::store::Store;");
    assert_eq!(
        in_mod_rs,
        vec![vec!["store".to_string(), "Store".to_string()]]
    );
    let code = code_only("// crate::a::b\nlet s = \"crate::c\";\n#[cfg(test)]\nmod tests { use crate::d; }\nuse crate::e;");
    let refs = references(&[], &code);
    assert_eq!(refs, vec![vec!["e".to_string()]]);
}

#[test]
fn a_cycle_among_allowed_arrows_is_found() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"])]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into_iter().map(str::to_string).collect()))
            .collect();
    assert_eq!(cycle(&graph).map(|c| c.len()), Some(4));
    let mut acyclic = graph.clone();
    acyclic.get_mut("c").unwrap().clear();
    assert_eq!(cycle(&acyclic), None);
}
