//! The core's modules depend one way: no module of `src/` imports its caller, directly or through
//! others (the predictor reads models through `onnx.rs`, fixtures are checked through a
//! prediction function, passes and fusions share `graph_edit.rs`). Doc links and tests do not
//! count.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `a::b` for `src/a/b.rs` and `src/a/b/mod.rs`; `a` for `src/a.rs`.
fn module_name(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each module's imports of other modules of the crate, by name.
fn dependencies(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = vec![];
    rust_files(root, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_name(root, f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let name = module_name(root, file);
        if name == "lib" || name == "test_graph" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut deps = BTreeSet::new();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let path: Vec<&str> = line[at + 7..]
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .next()
                    .unwrap_or("")
                    .split("::")
                    .collect();
                // The deepest module the path names: `crate::ops::fake_quantize::X` -> ops::fake_quantize.
                let mut target = String::new();
                for depth in (1..=path.len()).rev() {
                    let candidate = path[..depth].join("::");
                    if modules.contains(&candidate) {
                        target = candidate;
                        break;
                    }
                }
                if !target.is_empty() && target != name {
                    deps.insert(target);
                }
            }
            if let Some(rest) = line.split("super::").nth(1) {
                let parent = name.rsplit_once("::").map_or("", |(p, _)| p);
                let child = rest
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("");
                let candidate = if parent.is_empty() {
                    child.to_string()
                } else {
                    format!("{parent}::{child}")
                };
                if modules.contains(&candidate) && candidate != name {
                    deps.insert(candidate);
                }
            }
        }
        graph.insert(name, deps);
    }
    graph
}

/// A cycle through `start`, as the modules on it, if there is one.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn no_module_of_the_core_imports_its_caller() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = dependencies(&root);
    assert!(
        graph.len() > 20,
        "only {} modules found: the scan lost them",
        graph.len()
    );
    assert!(
        graph["predictor::from_onnx"].contains("onnx") && graph["ops::quantized_dense"].contains("ops::fake_quantize"),
        "the scan misses imports: {graph:?}"
    );
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_from(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}
