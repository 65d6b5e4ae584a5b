//! The lab's architecture, checked on its code: the modules of lab/src stand in layers (docs/architecture.md,
//! "Layers"), data flows down, and nothing imports in a circle.
//!
//! The imports are read from the source as the compiler would resolve them: every `crate::a::b` path and every
//! `super::` path outside `#[cfg(test)]`, including the items of grouped `use crate::{…}` lines, resolved to
//! the longest module of lab/src it names. A module that imports a module of a higher layer is an upward import;
//! the architecture allows at most two (a writer's shared word may sit in a command's module), and no circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first, as docs/architecture.md names them. A module is in the layer of the first pattern
/// that matches its path (`a::b`); `*` matches one whole segment, a trailing `::**` any depth below.
const LAYERS: &[(&str, &[&str])] = &[
    ("records", &["crate", "records", "records::**"]),
    (
        "instruments",
        &[
            "format",
            "noise",
            "env",
            "limits",
            "kernel",
            "kernel_memory",
            "http",
            "binaries",
            "progress",
            "cost",
            "calibration",
            "model",
            "stopped",
        ],
    ),
    (
        "measuring",
        &[
            "session",
            "plan",
            "process",
            "client",
            "fit",
            "*::plan",
            "run",
            "run::**",
            "verify",
            "merge",
            "bench::floor",
            "bench::nginx",
            "bench::reach",
            "bench::sweep",
            "bench::throughput",
            "bench::tools",
            "capacity::search",
            "slowloris::attack",
            "slowloris::probe",
            "soak::measure",
            "primitives::connections",
        ],
    ),
    ("findings", &["analysis", "predict", "findings", "findings::**", "companion", "chain"]),
    ("writers", &["export", "export::**", "*::markdown", "*::svg", "*::html", "bench::targets"]),
    ("commands", &["matrix", "bench", "capacity", "slowloris", "soak", "primitives", "compare", "main"]),
];

fn matches(pattern: &str, module: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix("::**") {
        return module == prefix || module.starts_with(&format!("{prefix}::"));
    }
    let p: Vec<&str> = pattern.split("::").collect();
    let m: Vec<&str> = module.split("::").collect();
    p.len() == m.len() && p.iter().zip(&m).all(|(p, m)| *p == "*" || p == m)
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, patterns)| patterns.iter().any(|p| matches(p, module)))
}

/// Every module of a crate of the workspace (`lab`, `clients`) by its path (`bench::reach`), with its source up to
/// its unit tests.
fn modules_of(krate: &str) -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(krate).join("src");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.starts_with(root.join("bin")) {
                // (src/bin/*: each binary is a crate of its own, a root nothing imports)
                files.push(path);
            }
        }
    }
    files
        .into_iter()
        .map(|path: PathBuf| {
            let relative = path.strip_prefix(&root).unwrap().with_extension("");
            let mut segments: Vec<String> =
                relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            if matches!(segments.last().map(String::as_str), Some("mod" | "lib")) {
                segments.pop();
            }
            let name = if segments.is_empty() { "crate".to_string() } else { segments.join("::") };
            let source = std::fs::read_to_string(&path).unwrap();
            let code = source.split("#[cfg(test)]").next().unwrap().to_string();
            (name, code)
        })
        .collect()
}

/// The paths a module's code names through `crate::` and `super::`, comments left out.
fn paths(code: &str, module: &str) -> Vec<String> {
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
    let mut found = Vec::new();
    let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).map(|l| format!("{l}\n")).collect();
    for (anchor, base) in [("crate::", ""), ("super::", parent)] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(anchor) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + anchor.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `$crate::` or another word ending in `crate`
            }
            let join = |p: &str| if base.is_empty() { p.to_string() } else { format!("{base}::{p}") };
            if let Some(group) = rest.strip_prefix('{') {
                // A grouped `use crate::{a::b, c}`: each item at the top level of the braces.
                let end = group.find("};").unwrap_or(group.len());
                let mut depth = 0;
                let mut item = String::new();
                for c in group[..end].chars().chain([',']) {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            let path: String = item
                                .trim()
                                .chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                                .collect();
                            if !path.is_empty() {
                                found.push(join(path.trim_end_matches(':')));
                            }
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
            } else {
                let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
                found.push(join(path.trim_end_matches(':')));
            }
        }
    }
    found
}

fn modules() -> BTreeMap<String, String> {
    modules_of("lab")
}

/// Module → the other modules of the crate it imports.
fn imports_of(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules_of(krate);
    let resolve = |path: &str| -> Option<String> {
        let segments: Vec<&str> = path.split("::").collect();
        (1..=segments.len()).rev().map(|n| segments[..n].join("::")).find(|m| modules.contains_key(m))
    };
    modules
        .iter()
        .map(|(name, code)| {
            let targets = paths(code, name)
                .iter()
                .filter_map(|p| resolve(p))
                .filter(|t| t != name && !t.starts_with(&format!("{name}::")) && t != "crate")
                .collect();
            (name.clone(), targets)
        })
        .collect()
}

fn imports() -> BTreeMap<String, BTreeSet<String>> {
    imports_of("lab")
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: Vec<String> = modules().into_keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(unplaced.is_empty(), "modules in no layer (add them to LAYERS and docs/architecture.md): {unplaced:?}");
}

#[test]
fn the_reader_sees_the_imports() {
    // The reader itself, against what a module of today's lab plainly imports: if it missed these, an empty
    // result below would mean nothing.
    let imports = imports();
    let matrix = &imports["matrix"];
    assert!(matrix.contains("session"), "matrix imports session: {matrix:?}");
    assert!(imports.values().map(BTreeSet::len).sum::<usize>() > 100, "too few imports read: {imports:?}");
}

#[test]
fn no_import_circle() {
    for krate in ["lab", "clients"] {
        let circles = circles(&imports_of(krate));
        assert!(circles.is_empty(), "import circles in {krate}/src: {circles:?}");
    }
}

/// Tarjan's strongly connected components: a component of more than one module is a circle.
fn circles(imports: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        circles: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        for w in s.graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let low = s.low[v].min(s.low[w.as_str()]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w.as_str()) {
                let low = s.low[v].min(s.index[w.as_str()]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let at = s.stack.iter().position(|m| *m == v).unwrap();
            let component = s.stack.split_off(at);
            if component.len() > 1 {
                s.circles.push(component);
            }
        }
    }
    let mut s = State { graph: imports, index: BTreeMap::new(), low: BTreeMap::new(), stack: vec![], circles: vec![] };
    for m in imports.keys() {
        if !s.index.contains_key(m.as_str()) {
            visit(&mut s, m);
        }
    }
    s.circles.into_iter().map(|c| c.into_iter().map(String::from).collect()).collect()
}

#[test]
fn at_most_two_imports_run_up_the_layers() {
    let upward: Vec<String> = imports()
        .iter()
        .flat_map(|(from, targets)| {
            targets.iter().filter_map(move |to| {
                let (a, b) = (layer_of(from)?, layer_of(to)?);
                (b > a).then(|| format!("{from} ({}) → {to} ({})", LAYERS[a].0, LAYERS[b].0))
            })
        })
        .collect();
    eprintln!("{} upward import(s){}{}", upward.len(), if upward.is_empty() { "" } else { ": " }, upward.join("; "));
    assert!(upward.len() <= 2, "{} imports run up the layers (at most 2):\n{}", upward.len(), upward.join("\n"));
}
